//! The scripts in examples/ run against the built binary and print exactly
//! what the README and their comments say they print; the Rust examples
//! (the library's two faces) run on a small directory of files.

use std::path::Path;
use std::process::Command;

use crate::util::parx_bin;

/// Runs `examples/<name>` with bash and `PARX` pointing at the built binary;
/// returns its stdout after checking that it succeeded.
#[track_caller]
fn run_example(name: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let mut cmd = Command::new("bash");
    cmd.arg(&script);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PARX_") {
            cmd.env_remove(k);
        }
    }
    // cargo runs tests under its own jobserver; parx would join it.
    for k in ["CARGO_MAKEFLAGS", "MAKEFLAGS", "MFLAGS"] {
        cmd.env_remove(k);
    }
    let out = cmd.env("PARX", parx_bin()).output().expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} failed: {}\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[track_caller]
fn assert_lines(actual: &str, expected: &[&str]) {
    let actual: Vec<&str> = actual.lines().collect();
    assert_eq!(actual, expected, "\n--- got\n{}\n", actual.join("\n"));
}

#[test]
fn compress_and_verify() {
    assert_lines(
        &run_example("compress-and-verify.sh"),
        &[
            "log-1.txt\tok",
            "log-2.txt\tok",
            "log-3.txt\tok",
            "log-4.txt\tok",
            "log-5.txt\tok",
            "notes (final).txt\tok",
            "failed jobs after damaging log-3.txt.gz: 1",
        ],
    );
}

#[test]
fn checksums() {
    assert_lines(
        &run_example("checksums.sh"),
        &[
            "3435484375 9 data/$(touch PWNED).txt",
            "3363322131 8 data/cafM-i.txt",
            "125740437 6 data/it's.txt",
            "3650393976 6 data/plain.txt",
            "371912155 10 data/with space.txt",
            "cksum 'data/$(touch PWNED).txt' 'data/cafM-i.txt' 'data/it'\"'\"'s.txt' \
             data/plain.txt 'data/with space.txt'",
            "no file name ran as code",
        ],
    );
}

#[test]
fn combine_inputs() {
    assert_lines(
        &run_example("combine-inputs.sh"),
        &[
            "# cartesian product",
            "a-1",
            "a-2",
            "a-3",
            "b-1",
            "b-2",
            "b-3",
            "# --link pairs the sources; the shorter one wraps around",
            "a-1",
            "b-2",
            "c-1",
            "d-2",
            "# :::+ links one source to the one before it",
            "x=1",
            "y=2",
            "z=3",
            "# {#} is the job number, {.} the input without its extension",
            "1: photo.jpg to photo.png",
            "2: old scan.jpg to old scan.png",
            "# --dry-run prints the commands, shell-quoted, and runs nothing",
            "convert photo.jpg photo.png",
            "convert 'old scan.jpg' 'old scan'.png",
            "convert 'it'\"'\"'s.jpg' 'it'\"'\"'s'.png",
        ],
    );
}

#[test]
fn word_count() {
    assert_lines(
        &run_example("word-count.sh"),
        &[
            "chapter-01.txt: 5",
            "chapter-02.txt: 10",
            "chapter-03.txt: 15",
            "chapter-30.txt: 150",
            "total: 2325",
        ],
    );
}

#[test]
fn makefile_shares_makes_job_slots() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let out = Command::new("make")
        .args(["-s", "-j4", "-f"])
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples")
                .join("Makefile"),
        )
        .arg(format!("PARX={}", parx_bin().display()))
        .arg(format!("DIR={}", work.display()))
        .current_dir(dir.path())
        .env_remove("CARGO_MAKEFLAGS")
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .output()
        .expect("make runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_lines(&String::from_utf8_lossy(&out.stdout), &["     20 ok"]);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("parx:"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Rust example `name`, built (or found up to date) by cargo in the target
/// directory this test binary runs from: a plain `cargo test --test tests`
/// would otherwise run a stale one.
fn rust_example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary is in <target>/<profile>/deps");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["build", "--quiet", "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if let Some(target) = profile_dir.parent() {
        cargo.arg("--target-dir").arg(target);
    }
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        cargo.arg("--release");
    }
    assert!(cargo.status().expect("cargo runs").success());
    profile_dir.join("examples").join(name)
}

/// Runs Rust example `name` on `dir`; returns its exit code and stdout.
fn run_rust_example(name: &str, dir: &Path) -> (i32, String) {
    let out = Command::new(rust_example(name))
        .arg(dir)
        .output()
        .expect("the example runs");
    let code = out.status.code().expect("exited");
    (code, String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Three files with 1, 2 and 3 lines, names that need quoting included.
fn three_files() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("a.txt", "one\n"),
        ("it's.txt", "one\ntwo\n"),
        ("with space.txt", "one\ntwo\nthree\n"),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

#[test]
fn count_lines_maps_a_closure_over_files() {
    let dir = three_files();
    let (code, stdout) = run_rust_example("count_lines", dir.path());
    assert_eq!(code, 0, "{stdout}");
    let mut lines: Vec<String> = stdout
        .lines()
        .map(|l| {
            // "       2 /tmp/…/it's.txt": keep the count and the file name.
            let (count, path) = l.trim_start().split_once(' ').unwrap();
            let name = Path::new(path)
                .file_name()
                .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned());
            format!("{count} {name}")
        })
        .collect();
    let total = lines.pop().unwrap();
    lines.sort();
    assert_eq!(lines, ["1 a.txt", "2 it's.txt", "3 with space.txt"]);
    assert_eq!(total, "6 total");
}

#[test]
fn run_commands_uses_both_runner_faces() {
    let dir = three_files();
    let (code, stdout) = run_rust_example("run_commands", dir.path());
    assert_eq!(code, 0, "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..4],
        [
            "# cksum, in input order",
            "815791956 4 a.txt",
            "3865817952 8 it's.txt",
            "3358846701 14 with space.txt",
        ]
    );
    assert_eq!(lines[4], "# gzip -9, by name (jobs finish in any order)");
    for (line, name) in lines[5..]
        .iter()
        .zip(["a.txt", "it's.txt", "with space.txt"])
    {
        assert!(line.starts_with(&format!("{name}: ")), "{line}");
        assert!(line.ends_with(" bytes"), "{line}");
    }
    assert_eq!(lines.len(), 8, "{stdout}");
}
