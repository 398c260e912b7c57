//! Stopping: SIGINT, SIGTERM and SIGHUP leave no job or descendant behind.

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use crate::util::{send_signal, sleepers, wait_for, Env};

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
    send_signal(run.id(), signal);
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

#[test]
fn sigint_terminates_every_job_and_descendant() {
    signal_leaves_nothing(libc::SIGINT);
}

#[test]
fn sigterm_terminates_every_job_and_descendant() {
    signal_leaves_nothing(libc::SIGTERM);
}

/// Jobs killed because parx was interrupted are not in the job log (as GNU
/// parallel), so `--resume` runs them again; a job that finished before is
/// logged and skipped. Their partial output is dropped.
fn interrupted_jobs_are_left_for_resume(signal: i32) {
    let env = Env::new();
    let marker = format!("{}.{}", 4200 + signal, std::process::id());
    let job = format!("echo {{}} >> started; echo out {{}}; [ {{}} = quick ] || sleep {marker}");
    let mut run = env
        .parx([
            "-j3", "--joblog", "log", &job, ":::", "quick", "slow1", "slow2",
        ])
        .spawn_guarded();
    wait_for("the quick job to be logged and the others to run", || {
        std::fs::read_to_string(env.path("log")).is_ok_and(|l| l.lines().count() == 2)
            && sleepers(&marker).len() == 2
    });
    send_signal(run.id(), signal);
    let status = run.wait().unwrap();
    assert_eq!(status.signal(), Some(signal), "{status:?}");
    let logged: Vec<String> = env
        .job_log("log")
        .iter()
        .map(|row| row[8].clone())
        .collect();
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert!(logged[0].contains("quick"), "{logged:?}");
    let out = env
        .parx([
            "-j3",
            "--resume",
            "--joblog",
            "log",
            "echo {} >> ran",
            ":::",
            "quick",
            "slow1",
            "slow2",
        ])
        .expect_code(0);
    assert!(out.stdout.is_empty());
    assert_eq!(env.sorted_lines("ran"), ["slow1", "slow2"]);
    assert_eq!(env.job_log("log").len(), 3);
}

#[test]
fn jobs_killed_by_sigint_are_run_again_by_resume() {
    interrupted_jobs_are_left_for_resume(libc::SIGINT);
}

#[test]
fn jobs_killed_by_sigterm_are_run_again_by_resume() {
    interrupted_jobs_are_left_for_resume(libc::SIGTERM);
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
    send_signal(run.id(), libc::SIGTERM);
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
    let stderr = env.path("stderr");
    let run = env
        .parx(["-j2", "-k", &job, ":::", "a", "b", "c", "d"])
        .spawn_logging_stderr(&stderr);
    wait_for("2 jobs to start", || {
        std::fs::read_to_string(&log)
            .map(|s| s.lines().count())
            .unwrap_or(0)
            == 2
    });
    send_signal(run.id(), libc::SIGHUP);
    // parx says when it took the signal, as GNU parallel does.
    wait_for("parx to take SIGHUP", || {
        std::fs::read_to_string(&stderr).is_ok_and(|e| {
            e == "parx: SIGHUP: starting no new jobs; waiting for 2 running jobs to finish\n"
        })
    });
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
    send_signal(run.id(), libc::SIGTSTP);
    wait_for("parx to stop", || state(run.id()) == 'T');
    wait_for("the job to stop", || state(sleeper) == 'T');
    send_signal(run.id(), libc::SIGCONT);
    wait_for("the job to run again", || state(sleeper) != 'T');
    wait_for("parx to run again", || state(run.id()) != 'T');
    send_signal(run.id(), libc::SIGTERM);
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
    send_signal(run.id(), libc::SIGHUP);
    send_signal(run.id(), libc::SIGINT);
    let pid = run.id();
    wait_for("parx to exit", || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists() || state(pid) == 'Z'
    });
    assert_eq!(run.wait().unwrap().signal(), Some(libc::SIGINT));
    assert!(sleepers(&marker).is_empty());
}

/// Jobs that each log "start JOB SLOT", wait for their own gate file, then
/// log "end JOB".
fn gated_job(env: &Env) -> String {
    format!(
        "echo start {{}} {{%}} >> {log}; while [ ! -e {dir}/gate.{{}} ]; do sleep 0.01; done; echo end {{}} >> {log}",
        log = env.path("log").display(),
        dir = env.path("").display()
    )
}

fn log_lines(env: &Env) -> Vec<String> {
    std::fs::read_to_string(env.path("log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn open_gates(env: &Env, jobs: &[&str]) {
    for job in jobs {
        std::fs::write(env.path(&format!("gate.{job}")), "").unwrap();
    }
}

/// (Not a signal: uses the gated jobs.) The first -j jobs get slots 1, 2,
/// 3 in job order, as in GNU parallel: a slot thread starts once the one
/// before took its first job.
#[test]
fn the_first_jobs_take_slots_in_order() {
    let env = Env::new();
    let run = env
        .parx(["-j3", &gated_job(&env), ":::", "a", "b", "c", "d"])
        .spawn_guarded();
    wait_for("3 jobs to start", || log_lines(&env).len() == 3);
    let mut started = log_lines(&env);
    started.sort();
    assert_eq!(started, ["start a 1", "start b 2", "start c 3"]);
    open_gates(&env, &["a", "b", "c", "d"]);
    let out = run.wait_with_output();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn sigusr1_adds_a_job_slot() {
    let env = Env::new();
    let run = env
        .parx(["-j1", &gated_job(&env), ":::", "a", "b", "c"])
        .spawn_guarded();
    wait_for("job a to start", || log_lines(&env).len() == 1);
    send_signal(run.id(), libc::SIGUSR1);
    // a still holds the first slot: b can only start in a second one.
    wait_for("job b to start", || log_lines(&env).len() == 2);
    assert_eq!(log_lines(&env), ["start a 1", "start b 2"]);
    open_gates(&env, &["a", "b", "c"]);
    let out = run.wait_with_output();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "parx: SIGUSR1: running up to 2 jobs at once now\n"
    );
}

#[test]
fn sigusr2_takes_a_slot_away_after_its_job() {
    let env = Env::new();
    let stderr = env.path("stderr");
    let mut run = env
        .parx(["-j2", &gated_job(&env), ":::", "a", "b", "c", "d"])
        .spawn_logging_stderr(&stderr);
    wait_for("jobs a and b to start", || log_lines(&env).len() == 2);
    send_signal(run.id(), libc::SIGUSR2);
    wait_for("parx to take SIGUSR2", || {
        std::fs::read_to_string(&stderr).is_ok_and(|e| e.contains("up to 1 job at once"))
    });
    // The running jobs are not touched; once they end, c and d run one at
    // a time in the slot that is left.
    open_gates(&env, &["a", "b", "c", "d"]);
    assert!(run.wait().unwrap().success());
    let log = log_lines(&env);
    let later: Vec<&str> = log
        .iter()
        .map(String::as_str)
        .filter(|l| l.contains(" c") || l.contains(" d"))
        .collect();
    assert!(
        later == ["start c 1", "end c", "start d 1", "end d"]
            || later == ["start d 1", "end d", "start c 1", "end c"],
        "{log:?}"
    );
    assert_eq!(log.iter().filter(|l| l.starts_with("end")).count(), 4);
    // Never fewer than one slot.
    let env = Env::new();
    let stderr = env.path("stderr");
    let mut run = env
        .parx(["-j1", &gated_job(&env), ":::", "a"])
        .spawn_logging_stderr(&stderr);
    wait_for("job a to start", || log_lines(&env).len() == 1);
    send_signal(run.id(), libc::SIGUSR2);
    wait_for("parx to take SIGUSR2", || {
        std::fs::read_to_string(&stderr).is_ok_and(|e| !e.is_empty())
    });
    open_gates(&env, &["a"]);
    assert!(run.wait().unwrap().success());
    assert_eq!(
        std::fs::read_to_string(&stderr).unwrap(),
        "parx: SIGUSR2 ignored: one job slot is the least\n"
    );
}
