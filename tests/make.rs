//! parx under a real `make -j`: it takes make's jobserver tokens, so a whole
//! build never runs more jobs than make allows.

use std::process::{Command, Stdio};

use crate::util::{parx_bin, Env};

/// Each job logs `start NS` and `end NS` around a short sleep.
const JOB: &str =
    "echo start $$(date +%s%N) >> $(LOG); sleep 0.3; echo end $$(date +%s%N) >> $(LOG); : {}";

/// Runs `make -jN` on a Makefile with two recipes of six parx jobs each;
/// `plus` puts make's `+` before the recipes (which hands them the
/// jobserver). Returns the most jobs that ran at once, and make's stderr.
fn run_make(jobs: usize, plus: bool, parx_args: &str) -> (usize, String) {
    let env = Env::new();
    let prefix = if plus { "+" } else { "" };
    let makefile = format!(
        "all: a b\na:\n\t{prefix}$(PARX) {parx_args} '{JOB}' ::: 1 2 3 4 5 6\nb:\n\t{prefix}$(PARX) {parx_args} '{JOB}' ::: 7 8 9 10 11 12\n"
    );
    env.write("Makefile", makefile);
    let log = env.path("log");
    let out = Command::new("make")
        .arg(format!("-j{jobs}"))
        .arg(format!("PARX={}", parx_bin().display()))
        .arg(format!("LOG={}", log.display()))
        .current_dir(env.dir.path())
        // The test runner's own jobserver (cargo's) must not leak in.
        .env_remove("CARGO_MAKEFLAGS")
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .stdin(Stdio::null())
        .output()
        .expect("make runs (the test suite installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut events: Vec<(u128, i32)> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|line| {
            let (kind, ns) = line.split_once(' ').unwrap();
            (ns.parse().unwrap(), if kind == "start" { 1 } else { -1 })
        })
        .collect();
    assert_eq!(events.len(), 24, "every job ran once");
    // Ends sort before starts at the same instant.
    events.sort();
    let mut running = 0;
    let mut most = 0;
    for (_, delta) in events {
        running += delta;
        most = most.max(running);
    }
    (
        usize::try_from(most).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn make_j3_never_runs_more_than_3_jobs() {
    let (most, stderr) = run_make(3, true, "");
    assert_eq!(most, 3, "{stderr}");
    assert!(!stderr.contains("parx:"), "{stderr}");
}

#[test]
fn an_explicit_j_is_a_cap_under_make() {
    // Each parx may run one job: two recipes, two jobs at a time.
    let (most, stderr) = run_make(3, true, "-j1");
    assert_eq!(most, 2, "{stderr}");
}

#[test]
fn a_recipe_without_plus_falls_back_with_one_warning() {
    // make names the jobserver but closes its fds for such a recipe.
    let (_, stderr) = run_make(3, false, "-j1");
    assert_eq!(
        stderr
            .matches("parx: warning: make's jobserver is not usable here")
            .count(),
        2,
        "{stderr}"
    );
}
