//! Faults injected into real runs (issue 9): jobs killed by signals, jobs
//! that close their output early, a read-only temporary directory while
//! output spills, few open files. parx reports each clearly, never hangs,
//! and loses no other job.

use std::ffi::OsStr;
use std::process::Output;

use crate::util::{child_bin, parx_bin, Env};

/// Runs parx under `prlimit LIMIT` with `args`, feeding it `stdin`.
fn parx_limited(env: &Env, limit: &str, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut cmd = env.command("prlimit");
    cmd.arg(limit).arg(parx_bin()).args(args);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut run = cmd.spawn().expect("prlimit (util-linux) runs");
    let mut pipe = run.stdin.take().unwrap();
    let data = stdin.to_owned();
    std::thread::spawn(move || pipe.write_all(data.as_bytes()));
    run.wait_with_output().unwrap()
}

// Issue 9: with -j16 under `ulimit -n 64` nine jobs in ten failed with
// "Too many open files"; parx now runs fewer at once and says so.
#[test]
fn few_open_files_mean_fewer_slots_not_failed_jobs() {
    let env = Env::new();
    let input: String = (1..=300).map(|i| format!("{i}\n")).collect();
    for mode in ["--group", "-k", "-u", "--line-buffer"] {
        let out = parx_limited(&env, "--nofile=64", &["-j16", mode, "echo"], &input);
        assert!(out.status.success(), "{mode}: {out:?}");
        let mut got: Vec<u32> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        got.sort_unstable();
        assert_eq!(got, (1..=300).collect::<Vec<_>>(), "{mode}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("parx: warning: only enough file handles to run ")
                && err.lines().count() == 1,
            "{mode}: {err}"
        );
    }
    // Spilled output held back by -k, --pipe blocks and --cat files too.
    let job = format!("{} bytes 1200000", child_bin().display());
    let out = parx_limited(&env, "--nofile=64", &["-j16", "-k", &job], &input[..100]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout.len(), input[..100].lines().count() * 1_200_000);
    for cat in [&["--pipe"][..], &["--pipe", "--cat"]] {
        let mut args = vec!["-j16", "--block", "1k"];
        args.extend(cat);
        args.extend(["wc", "-l"]);
        if cat.len() == 2 {
            args.push("{}");
        }
        let out = parx_limited(&env, "--nofile=64", &args, &input);
        assert!(out.status.success(), "{cat:?}: {out:?}");
        let lines: u64 = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.split_whitespace().next().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(lines, 300, "{cat:?}");
    }
    // xargs mode caps -P the same way.
    let out = parx_limited(
        &env,
        "--nofile=64",
        &["--xargs", "-P16", "-n7", "--", "sh", "-c", "echo $#", "sh"],
        &input,
    );
    assert!(out.status.success(), "{out:?}");
    let args: u64 = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse::<u64>().unwrap())
        .sum();
    assert_eq!(args, 300);
}

/// The signals a job commonly dies of.
const SIGNALS: [(&str, i32); 9] = [
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ABRT", libc::SIGABRT),
    ("KILL", libc::SIGKILL),
    ("SEGV", libc::SIGSEGV),
    ("PIPE", libc::SIGPIPE),
    ("TERM", libc::SIGTERM),
    ("USR1", libc::SIGUSR1),
];

#[test]
fn jobs_killed_by_each_signal_are_counted_and_logged() {
    // The test child resets the signal's action first: a job inherits
    // SIGINT and SIGQUIT ignored when the tests run in a script's `&`.
    let env = Env::new();
    let numbers: Vec<String> = SIGNALS.iter().map(|(_, n)| n.to_string()).collect();
    let child = child_bin().to_str().unwrap();
    let template = format!("{child} signal {{1}} {{2}}");
    let mut args = vec!["-j4", "--joblog", "log", &template, ":::"];
    args.extend(numbers.iter().map(String::as_str));
    args.extend([":::", "a", "b"]);
    let out = env.parx(&args).expect_code(18);
    assert_eq!(out.stdout, b"");
    let mut rows = env.job_log("log");
    let log = format!("{rows:?}");
    rows.sort_by_key(|r| r[0].parse::<u32>().unwrap());
    assert_eq!(rows.len(), 18, "{log}");
    let each_twice = SIGNALS.iter().flat_map(|s| [(s, "a"), (s, "b")]);
    for (row, ((name, number), second)) in rows.iter().zip(each_twice) {
        assert_eq!(row[8], format!("{child} signal {number} {second}"), "{log}");
        // Exitval 0 and the signal, as GNU parallel logs a signal death.
        assert_eq!(
            (row[6].as_str(), row[7].as_str()),
            ("0", number.to_string().as_str()),
            "{name}: {log}"
        );
    }
    // The shell path: sh kills itself.
    let out = env
        .parx([
            "--joblog",
            "shell-log",
            "kill -{} $$",
            ":::",
            "TERM",
            "USR1",
        ])
        .expect_code(2);
    assert_eq!(out.stdout, b"");
    let mut signals: Vec<String> = env
        .job_log("shell-log")
        .into_iter()
        .map(|r| r[7].clone())
        .collect();
    signals.sort_unstable();
    assert_eq!(signals, ["10", "15"]);
    // xargs mode stops at the first command killed by a signal, as GNU
    // xargs, with its words and its 125.
    for (_, number) in SIGNALS {
        let out = env
            .parx(["--xargs", child, "signal"])
            .stdin(format!("{number}\n"))
            .expect_code(125);
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("parx: {child}: terminated by signal {number}\n")
        );
    }
}

#[test]
fn jobs_that_close_their_stdout_early_still_end_as_they_end() {
    // A job that closes stdout then goes on (writing to stderr, exiting
    // with its own status) must be waited for, not taken as done at EOF.
    let env = Env::new();
    for mode in ["--group", "-k", "-u", "--line-buffer"] {
        let out = env
            .parx([
                "-j3",
                "--joblog",
                "log",
                mode,
                "echo out{}; exec >&-; echo err{} >&2; exit {}",
                ":::",
                "0",
                "3",
                "4",
                "0",
            ])
            .expect_code(2);
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(
            crate::util::sorted_lines(&stdout),
            ["out0", "out0", "out3", "out4"],
            "{mode}"
        );
        assert_eq!(
            crate::util::sorted_lines(&stderr),
            ["err0", "err0", "err3", "err4"],
            "{mode}"
        );
        let mut exits: Vec<String> = env
            .job_log("log")
            .into_iter()
            .map(|r| r[6].clone())
            .collect();
        exits.sort_unstable();
        assert_eq!(exits, ["0", "0", "3", "4"], "{mode}");
    }
}

/// A tmpfs mounted at `dir` with `options`, unmounted when dropped.
struct Mount(std::path::PathBuf);

impl Mount {
    fn tmpfs(dir: std::path::PathBuf, options: &str) -> Self {
        std::fs::create_dir(&dir).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(mounted, "this test needs to mount a tmpfs (run as root)");
        Mount(dir)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_read_only_tmpdir_fails_the_spilling_jobs_only() {
    let env = Env::new();
    // A read-only file system: root may write anywhere else.
    let ro = Mount::tmpfs(env.path("ro"), "ro,size=1m");
    let started = std::time::Instant::now();
    for mode in ["--group", "-k"] {
        // Jobs over 1 MiB of output spill to $TMPDIR; the others must not
        // suffer from it.
        let out = env
            .parx(["-j2", mode])
            .arg_last([
                child_bin().as_os_str(),
                OsStr::new("bytes"),
                OsStr::new("{}"),
            ])
            .arg_last([":::", "2000000", "10", "3000000", "5"])
            .env("TMPDIR", &ro.0)
            .expect_code(2);
        assert_eq!(out.stdout, b"x".repeat(15), "{mode}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.matches("Read-only file system").count(),
            2,
            "{mode}: {err}"
        );
        assert!(err.contains(&ro.0.display().to_string()), "{err}");
    }
    // --pipe --cat and --fifo need the directory for every job: parx
    // stops with a clear message, and runs nothing.
    let input: String = (1..=1000).map(|i| format!("{i}\n")).collect();
    for how in ["--cat", "--fifo"] {
        let out = env
            .parx(["--pipe", how, "--block", "1k", "wc", "-l", "{}"])
            .stdin(&input)
            .env("TMPDIR", &ro.0)
            .output();
        assert!(!out.status.success(), "{how}: {out:?}");
        assert_eq!(out.stdout, b"", "{how}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with(&format!("parx: {how}: cannot "))
                && err.contains("Read-only file system"),
            "{how}: {err}"
        );
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn stdout_closed_before_parx_starts_stops_it_quietly() {
    let env = Env::new();
    let input: String = (1..=2000).map(|i| format!("{i}\n")).collect();
    for mode in ["--group", "-k", "-u", "--line-buffer"] {
        let mut run = env.parx(["-j2", mode, "echo"]).stdin(&input).spawn();
        drop(run.stdout.take());
        let started = std::time::Instant::now();
        let out = run.wait_with_output().unwrap();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{mode}: {:?}",
            started.elapsed()
        );
        assert!(!out.status.success(), "{mode}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{mode}");
    }
}

#[test]
#[ignore = "long (three minutes): cargo test --test tests -- --ignored"]
fn four_gib_from_one_job_in_little_memory() {
    let env = Env::new();
    let four_gib = (4u64 << 30).to_string();
    for mode in ["--group", "-k", "--line-buffer", "-u"] {
        let m = crate::util::measure(
            env.parx(["-j2", mode])
                .arg_last([
                    child_bin().as_os_str(),
                    OsStr::new("bytes"),
                    OsStr::new(&four_gib),
                ])
                .arg_last([":::", "1"]),
        );
        assert!(m.status.success(), "{mode}: {:?}", m.status);
        assert_eq!(m.stdout_bytes, 4 << 30, "{mode}: every byte arrives");
        assert!(
            m.peak_rss_kib < 64 * 1024,
            "{mode}: peak RSS {} KiB",
            m.peak_rss_kib
        );
        eprintln!("4 GiB, {mode}: peak RSS {} KiB", m.peak_rss_kib);
    }
}
