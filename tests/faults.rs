//! Faults injected into real runs (issue 9): jobs killed by signals, jobs
//! that close their output early, a read-only temporary directory while
//! output spills, few open files. parx reports each clearly, never hangs,
//! and loses no other job.

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
