//! parx killed with SIGKILL at a random moment, then run again with
//! `--resume` until done: the job log is never torn, and every job ends up
//! logged as succeeded exactly once, none skipped (issue 9).
//! `PARX_TEST_SEED=N` replays the random moments of a failed run.
//!
//! A job that was running when parx died may have done its work without
//! being logged; `--resume` runs it again (GNU parallel's semantics: it
//! reruns the jobs not in the log). So "exactly once" is about the log;
//! the jobs' own marker file must hold every job at least once.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{kill_session, test_seed, Env};

const JOBS: u64 = 200;

/// The command line of one parx run over the jobs, in a session of its own
/// (`setsid`: the jobs run in process groups of their own, so the session is
/// how the test finds the ones parx leaves behind).
fn parx_run(env: &Env, options: &[&str], resume: bool) -> Command {
    let mut cmd = env.command("setsid");
    cmd.arg(crate::util::parx_bin())
        .args(options)
        .args(["--joblog", "log"])
        .args(resume.then_some("--resume"))
        .args(["echo {} >> marker", ":::"])
        .args((1..=JOBS).map(|i| i.to_string()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Checks that every line of the log is whole and returns, per sequence
/// number, the (exitval, signal) of each of its lines.
fn read_log(env: &Env, why: &str) -> BTreeMap<u64, Vec<(String, String)>> {
    let text = std::fs::read(env.path("log")).unwrap_or_default();
    let text = String::from_utf8(text).expect("the log is text");
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{why}: a torn last line: {text:?}"
    );
    let mut jobs: BTreeMap<u64, Vec<(String, String)>> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 9, "{why}: line {}: {line:?}", i + 1);
        if fields[0] == "Seq" {
            assert_eq!(i, 0, "{why}: a header after line 1");
            continue;
        }
        let seq: u64 = fields[0]
            .parse()
            .unwrap_or_else(|_| panic!("{why}: line {}: {line:?}", i + 1));
        assert_eq!(
            fields[8],
            format!("echo {seq} >> marker"),
            "{why}: {line:?}"
        );
        for f in &fields[2..8] {
            assert!(
                f.trim_start().parse::<f64>().is_ok(),
                "{why}: line {}: {line:?}",
                i + 1
            );
        }
        jobs.entry(seq)
            .or_default()
            .push((fields[6].to_owned(), fields[7].to_owned()));
    }
    jobs
}

/// One trial: one to three runs killed at a random moment in
/// `[0, window)`, then a `--resume` run left to finish. Returns the number
/// of kills and of jobs that ran more than once (done, but not yet logged
/// when parx died).
fn trial(rng: &mut fastrand::Rng, window: Duration, why: &str) -> (u32, usize) {
    let env = Env::new();
    let slots = ["-j1", "-j4", "-j16"][rng.usize(..3)];
    let output = ["--group", "-k", "-u"][rng.usize(..3)];
    let options = [slots, output];
    let kills = rng.u32(1..=3);
    let why = format!("{why}, {options:?}, {kills} kills");
    for round in 0..kills {
        let delay = window.mul_f64(rng.f64());
        let mut parx = parx_run(&env, &options, round > 0).spawn().unwrap();
        let sid = parx.id();
        std::thread::sleep(delay); // the deliberate random moment, not a wait
        let _ = parx.kill();
        let _ = parx.wait();
        kill_session(sid);
        let why = format!("{why}, round {round} killed after {delay:?}");
        for (seq, lines) in read_log(&env, &why) {
            assert_eq!(lines.len(), 1, "{why}: job {seq} logged twice");
        }
    }
    let out = parx_run(&env, &options, true).output().unwrap();
    assert!(out.status.success(), "{why}: the last run: {out:?}");
    let jobs = read_log(&env, &why);
    assert_eq!(
        jobs.keys().copied().collect::<Vec<_>>(),
        (1..=JOBS).collect::<Vec<_>>(),
        "{why}: every job logged"
    );
    for (seq, lines) in &jobs {
        assert_eq!(
            lines,
            &[("0".to_owned(), "0".to_owned())],
            "{why}: job {seq} logged as succeeded exactly once"
        );
    }
    let marker = std::fs::read_to_string(env.path("marker")).unwrap();
    let mut ran: Vec<u64> = marker
        .lines()
        .map(|l| l.parse().unwrap_or_else(|_| panic!("{why}: {l:?}")))
        .collect();
    ran.sort_unstable();
    let runs = ran.len();
    ran.dedup();
    assert_eq!(ran, (1..=JOBS).collect::<Vec<_>>(), "{why}: every job ran");
    (kills, runs - ran.len())
}

#[test]
fn kill_9_then_resume_logs_every_job_exactly_once() {
    trials(20);
}

#[test]
#[ignore = "long: cargo test --test tests -- --ignored"]
fn kill_9_then_resume_fifty_times() {
    trials(50);
}

/// Runs `trials` trials, each in a directory of its own.
fn trials(trials: u32) {
    // The random moments fall within the time a whole run takes here.
    let env = Env::new();
    let started = Instant::now();
    let out = parx_run(&env, &["-j4"], false).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let window = started.elapsed();
    let seed = test_seed();
    let mut rng = fastrand::Rng::with_seed(seed);
    let (mut kills, mut reruns) = (0, 0);
    for t in 0..trials {
        let (k, r) = trial(
            &mut rng,
            window,
            &format!("PARX_TEST_SEED={seed}, trial {t}, window {window:?}"),
        );
        kills += k;
        reruns += r;
    }
    // For RELIABILITY.md (shown with --nocapture).
    eprintln!(
        "kill -9: {trials} trials of {JOBS} jobs, {kills} kills, 0 jobs lost or \
         logged twice, {reruns} ran again after being killed unlogged"
    );
}
