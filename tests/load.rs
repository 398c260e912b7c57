//! Many jobs in one run (issue 9): no descriptor leaks into jobs, no
//! zombies piling up, and parx's own descriptors and memory flat from the
//! start of a run to its end. A million jobs in the ignored (long) tests.

use std::io::{BufRead, BufReader};
use std::time::Instant;

use crate::util::{child_bin, processes, Env};

/// parx's resident memory (KiB) and open descriptors now.
fn footprint(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    (rss, fds)
}

/// Children of `pid` that have ended and not been reaped.
fn zombies_of(pid: u32) -> usize {
    let ppid = pid.to_string();
    processes()
        .iter()
        .filter(|(_, f)| f.first().is_some_and(|s| s == "Z") && f.get(1) == Some(&ppid))
        .count()
}

/// Runs `jobs` jobs of `parx-testchild fds` on 4 slots, checking every
/// job's descriptors and sampling parx as its output comes in. Returns
/// parx's (RSS KiB, fds) near 10% and near 90% of the jobs (the fewest
/// descriptors of 50 samples each: running jobs hold pipes for a moment),
/// and the most unreaped children seen.
fn run_many(jobs: usize) -> ((u64, usize), (u64, usize), usize) {
    let env = Env::new();
    // Whatever the test runner passes down reaches the jobs either way;
    // parx's own pipes and files must not.
    let direct = std::process::Command::new(child_bin())
        .arg("fds")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let expected = String::from_utf8(direct.stdout).unwrap();
    let input: String = (1..=jobs).map(|i| format!("{i}\n")).collect();
    let mut run = env
        .parx(["-j4"])
        .arg_last([child_bin().as_os_str()])
        .arg_last(["fds"])
        .stdin(input)
        .spawn_guarded();
    let pid = run.id();
    let stdout = BufReader::new(run.stdout.take().unwrap());
    let (mut early, mut late, mut most_zombies) = ((0, usize::MAX), (0, usize::MAX), 0);
    let mut seen = 0;
    let sample = |at: &mut (u64, usize)| {
        let (rss, fds) = footprint(pid);
        *at = (rss, at.1.min(fds));
    };
    for line in stdout.lines() {
        let line = line.unwrap();
        assert_eq!(format!("{line}\n"), expected, "job {seen}: descriptors");
        seen += 1;
        if seen % 500 == 0 {
            most_zombies = most_zombies.max(zombies_of(pid));
        }
        if (jobs / 10..jobs / 10 + 50).contains(&seen) {
            sample(&mut early);
        }
        if (jobs * 9 / 10..jobs * 9 / 10 + 50).contains(&seen) {
            sample(&mut late);
        }
    }
    let out = run.wait_with_output();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(seen, jobs);
    (early, late, most_zombies)
}

fn check_flat(jobs: usize) {
    let started = Instant::now();
    let ((rss0, fds0), (rss1, fds1), zombies) = run_many(jobs);
    // A leak of one per job would be thousands; allow what four running
    // jobs may hold at a sample (pipes, pidfds).
    assert!(
        fds1 <= fds0 + 4 * 5,
        "parx's descriptors: {fds0} at 10% of the jobs, {fds1} at 90%"
    );
    // Same RSS within 10% plus 1 MiB of allocator noise.
    assert!(
        rss1 * 10 <= rss0 * 11 + 10 * 1024,
        "RSS {rss0} KiB at 10%, {rss1} KiB at 90%"
    );
    // A job just ended is a zombie until its slot reaps it: never more
    // than the four slots.
    assert!(zombies <= 4, "{zombies} unreaped jobs at once");
    eprintln!(
        "{jobs} jobs in {:?}: RSS {rss0} -> {rss1} KiB, fds {fds0} -> {fds1}, \
         at most {zombies} unreaped",
        started.elapsed()
    );
}

#[test]
fn ten_thousand_jobs_leak_nothing() {
    check_flat(10_000);
}

#[test]
#[ignore = "long (about ten minutes): cargo test --test tests -- --ignored"]
fn a_million_jobs_leak_nothing() {
    check_flat(1_000_000);
}

#[test]
#[ignore = "long: cargo test --test tests -- --ignored"]
fn a_million_inputs_packed_with_x() {
    let env = Env::new();
    let input: String = (1..=1_000_000).map(|i| format!("{i}\n")).collect();
    let m = crate::util::measure(env.parx(["-X", "-j2", "echo"]).stdin(&input));
    assert!(m.status.success());
    assert_eq!(m.stdout_bytes, input.len() as u64);
    assert!(
        m.peak_rss_kib < 64 * 1024,
        "peak RSS {} KiB",
        m.peak_rss_kib
    );
    eprintln!("1,000,000 inputs with -X: peak RSS {} KiB", m.peak_rss_kib);
}
