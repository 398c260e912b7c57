//! Stopping: SIGINT, SIGTERM and SIGHUP leave no job or descendant behind.

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use crate::util::{sleepers, wait_for, Env};

/// Starts 3 jobs that each leave two background sleepers in their process
/// group, waits until all have started, sends `signal`, and checks parx
/// dies of it promptly with nothing left running.
fn signal_leaves_nothing(signal: i32) {
    let env = Env::new();
    let marker = format!("{}.{}", 4000 + signal, std::process::id());
    let log = env.path("started");
    let job = format!(
        "sleep {marker} & sleep {marker} & echo up >> {}; wait; : {{}}",
        log.display()
    );
    let mut run = env
        .parx(["-j3", &job, ":::", "1", "2", "3", "4", "5"])
        .spawn_guarded();
    wait_for("3 jobs to start", || {
        std::fs::read_to_string(&log)
            .map(|s| s.lines().count())
            .unwrap_or(0)
            == 3
            && sleepers(&marker).len() == 6
    });
    let sent = Instant::now();
    unsafe_kill(run.id(), signal);
    let status = run.wait().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "took {:?}",
        sent.elapsed()
    );
    assert_eq!(status.signal(), Some(signal), "{status:?}");
    // Every process got the signal; on a loaded machine one may still be on
    // its way out when parx exits.
    wait_for("no orphan left", || sleepers(&marker).is_empty());
    // No job beyond the first three was started.
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 3);
}

fn unsafe_kill(pid: u32, signal: i32) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sigint_terminates_every_job_and_descendant() {
    signal_leaves_nothing(libc::SIGINT);
}

#[test]
fn sigterm_terminates_every_job_and_descendant() {
    signal_leaves_nothing(libc::SIGTERM);
}

#[test]
fn a_job_ignoring_term_is_killed_by_the_sequence() {
    let env = Env::new();
    let log = env.path("started");
    let marker = format!("4099.{}", std::process::id());
    let job = format!(
        "trap '' TERM; echo up >> {}; sleep {marker}; :",
        log.display()
    );
    let mut run = env.parx([job.as_str(), ":::", "1"]).spawn_guarded();
    wait_for("the job to start", || {
        log.exists() && !sleepers(&marker).is_empty()
    });
    unsafe_kill(run.id(), libc::SIGTERM);
    let status = run.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    // sleep inherits the ignored TERM; only the sequence's final KILL ends it.
    wait_for("the sleeper to be gone", || sleepers(&marker).is_empty());
}

#[test]
fn sighup_lets_running_jobs_finish_and_starts_no_more() {
    let env = Env::new();
    let log = env.path("started");
    let gate = env.path("gate");
    // Each job waits for the gate file, so they are all running when HUP comes.
    let job = format!(
        "echo {{}} >> {}; while [ ! -e {} ]; do sleep 0.01; done; echo done {{}}",
        log.display(),
        gate.display()
    );
    let run = env
        .parx(["-j2", "-k", &job, ":::", "a", "b", "c", "d"])
        .spawn_guarded();
    wait_for("2 jobs to start", || {
        std::fs::read_to_string(&log)
            .map(|s| s.lines().count())
            .unwrap_or(0)
            == 2
    });
    unsafe_kill(run.id(), libc::SIGHUP);
    // parx takes SIGHUP on its signal thread at once; nothing outside can
    // see that it did, so allow a generous margin before the jobs may end.
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&gate, "").unwrap();
    let out = run.wait_with_output();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "done a\ndone b\n");
    let mut started: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    started.sort();
    assert_eq!(started, ["a", "b"], "no job started after SIGHUP");
}

/// The state letter of process `pid` (R, S, T, Z ...).
fn state(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit(')')
        .next()
        .and_then(|s| s.trim_start().chars().next())
        .unwrap_or('?')
}

#[test]
fn ctrl_z_stops_the_jobs_with_parx_and_fg_resumes_them() {
    let env = Env::new();
    let marker = format!("4111.{}", std::process::id());
    let pidfile = env.path("pid");
    let job = format!("echo $$ > {}; sleep {marker}; : {{}}", pidfile.display());
    let mut run = env.parx([job.as_str(), ":::", "a"]).spawn_guarded();
    wait_for("the job to start", || !sleepers(&marker).is_empty());
    let sleeper = sleepers(&marker)[0];
    unsafe_kill(run.id(), libc::SIGTSTP);
    wait_for("parx to stop", || state(run.id()) == 'T');
    wait_for("the job to stop", || state(sleeper) == 'T');
    unsafe_kill(run.id(), libc::SIGCONT);
    wait_for("the job to run again", || state(sleeper) != 'T');
    wait_for("parx to run again", || state(run.id()) != 'T');
    unsafe_kill(run.id(), libc::SIGTERM);
    assert_eq!(run.wait().unwrap().signal(), Some(libc::SIGTERM));
    assert!(sleepers(&marker).is_empty());
}

#[test]
fn ctrl_c_after_sighup_still_terminates_the_jobs() {
    let env = Env::new();
    let marker = format!("4112.{}", std::process::id());
    let job = format!("sleep {marker}; : {{}}");
    let mut run = env.parx([job.as_str(), ":::", "a"]).spawn_guarded();
    wait_for("the job to start", || !sleepers(&marker).is_empty());
    unsafe_kill(run.id(), libc::SIGHUP);
    unsafe_kill(run.id(), libc::SIGINT);
    let pid = run.id();
    wait_for("parx to exit", || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists() || state(pid) == 'Z'
    });
    assert_eq!(run.wait().unwrap().signal(), Some(libc::SIGINT));
    assert!(sleepers(&marker).is_empty());
}
