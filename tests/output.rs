//! Output modes: grouped, keep-order, line-buffered, ungrouped, tags, and
//! bounded memory with spilling.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Read;
use std::time::{Duration, Instant};

use crate::util::{child_bin, measure, sorted_lines, Env};

fn child() -> &'static OsStr {
    child_bin().as_os_str()
}

#[test]
fn keep_order_with_jobs_finishing_in_reverse() {
    let env = Env::new();
    let started = Instant::now();
    let out = env
        .parx(["-k", "-j4"])
        .arg_last([
            child(),
            OsStr::new("sleep"),
            OsStr::new("{}"),
            OsStr::new("{}"),
            OsStr::new(":::"),
        ])
        .arg_last(["400", "300", "200", "100", "0"])
        .expect_code(0);
    assert_eq!(out.stdout, b"400\x00300\x00200\x00100\x000\x00");
    // Later jobs ran while the first was still sleeping: well under the
    // 1 s a stalled pool would need (safety margin for a loaded machine).
    assert!(
        started.elapsed() < Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn grouped_output_keeps_each_job_whole() {
    let env = Env::new();
    let out = env
        .parx(["-j4"])
        .arg_last([
            child(),
            OsStr::new("lines"),
            OsStr::new("2000"),
            OsStr::new("{}"),
            OsStr::new(":::"),
        ])
        .arg_last(["a", "b", "c", "d", "e", "f"])
        .stdout();
    // Each job's 2,000 lines form one block.
    let tags: Vec<&str> = out.lines().map(|l| l.split(' ').next().unwrap()).collect();
    let mut blocks = tags.clone();
    blocks.dedup();
    assert_eq!(blocks.len(), 6, "output of jobs interleaved");
    assert_eq!(tags.len(), 12_000);
}

#[test]
fn stdout_then_stderr_per_job() {
    let env = Env::new();
    let out = env
        .parx(["-k", "echo out{}; echo err{} >&2", ":::", "1", "2"])
        .expect_code(0);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out1\nout2\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err1\nerr2\n");
}

#[test]
fn line_buffer_never_splits_or_mixes_lines() {
    let env = Env::new();
    let names: Vec<String> = (1..=8).map(|i| format!("job{i}")).collect();
    let out = env
        .parx(["--line-buffer", "-j8"])
        .arg_last([
            child(),
            OsStr::new("lines"),
            OsStr::new("10000"),
            OsStr::new("{}"),
            OsStr::new(":::"),
        ])
        .arg_last(&names)
        .stdout();
    let mut next: HashMap<&str, u64> = HashMap::new();
    for line in out.lines() {
        let (name, n) = line
            .split_once(' ')
            .unwrap_or_else(|| panic!("mixed line {line:?}"));
        let n: u64 = n.parse().unwrap_or_else(|_| panic!("mixed line {line:?}"));
        let expected = next.entry(name).or_insert(0);
        assert_eq!(n, *expected, "line {line:?} out of order within its job");
        *expected += 1;
    }
    assert_eq!(next.len(), 8);
    assert!(next.values().all(|&n| n == 10_000));
}

#[test]
fn line_buffer_passes_lines_on_before_the_job_ends() {
    let env = Env::new();
    // The first line must appear while the job is still running.
    let mut child = env
        .parx([
            "--line-buffer",
            "echo first; sleep 5; echo second",
            ":::",
            "x",
        ])
        .spawn();
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    let started = Instant::now();
    stdout.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"first\n");
    assert!(started.elapsed() < Duration::from_secs(4));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn tags_prefix_every_line() {
    let env = Env::new();
    let out = env
        .parx(["-k", "--tag", "printf 'l1\\nl2\\n'; :", ":::", "a", "b c"])
        .stdout();
    assert_eq!(out, "a\tl1\na\tl2\nb c\tl1\nb c\tl2\n");
    let out = env
        .parx(["-k", "--tagstring", "<{}-{#}>", "echo", "x", ":::", "a"])
        .stdout();
    assert_eq!(out, "<a-1>\tx a\n");
    let out = env
        .parx(["--line-buffer", "--tag", "echo", ":::", "a"])
        .stdout();
    assert_eq!(out, "a\ta\n");
}

#[test]
fn ungroup_writes_straight_through() {
    let env = Env::new();
    let out = env.parx(["-u", "-k", "echo", ":::", "a", "b"]).stdout();
    assert_eq!(sorted_lines(&out), ["a", "b"]);
}

#[test]
fn memory_stays_bounded_with_a_gib_of_output() {
    let env = Env::new();
    let quarter = (256u64 << 20).to_string();
    for mode in ["--group", "-k"] {
        let m = measure(
            env.parx(["-j4", mode])
                .arg_last([
                    child(),
                    OsStr::new("bytes"),
                    OsStr::new("{}"),
                    OsStr::new(":::"),
                ])
                .arg_last([&quarter, &quarter, &quarter, &quarter]),
        );
        let (peak_kib, bytes, status) = (m.peak_rss_kib, m.stdout_bytes, m.status);
        assert!(status.success(), "{mode}: {status:?}");
        assert_eq!(bytes, 1 << 30, "{mode}: every byte arrives");
        assert!(peak_kib < 64 * 1024, "{mode}: peak RSS {peak_kib} KiB");
    }
}

#[test]
fn a_full_disk_is_reported_and_fails_the_job() {
    let env = Env::new();
    let small = env.path("small");
    std::fs::create_dir(&small).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&small)
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        mounted,
        "this test needs to mount a small tmpfs (run as root)"
    );
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(small.clone());
    // 4 MiB of output cannot be held in 1 MiB of memory plus a 256 KiB disk.
    let out = env
        .parx(["--tmpdir"])
        .arg_last([
            small.as_os_str(),
            child(),
            OsStr::new("bytes"),
            OsStr::new("{}"),
            OsStr::new(":::"),
        ])
        .arg_last(["4194304", "10"])
        .expect_code(1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&small.display().to_string()) && err.contains("No space left"),
        "{err}"
    );
    // The small job's output is intact; the big one's is not passed off as whole.
    assert_eq!(out.stdout.len(), 10, "{} bytes", out.stdout.len());
}

#[test]
fn closed_stdout_stops_parx_quietly() {
    let env = Env::new();
    let input: String = (0..100_000).map(|i| format!("{i}\n")).collect();
    let mut run = env.parx(["-j2", "echo"]).stdin(&input).spawn();
    let mut stdout = run.stdout.take().unwrap();
    let mut first = [0u8; 2];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let started = Instant::now();
    let status = run.wait().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "{status:?}");
    let mut err = String::new();
    run.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(err, "", "no error flood");
}
