//! xargs mode where parx deliberately goes further than GNU xargs: no
//! command left running when xargs stops or is interrupted, output that
//! can be grouped or ordered, fewer commands. (Behaviour shared with xargs
//! is compared case by case in xargs_diff and xargs_conformance.)

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use crate::util::{sleepers, wait_for, Env};

#[test]
fn a_command_exiting_255_stops_and_terminates_the_others() {
    let env = Env::new();
    // About 30 s: a wrong implementation fails the test instead of hanging it.
    let marker = format!("30.{}", std::process::id());
    let started = env.path("started");
    // Input 1 leaves a sleeper (with a grandchild) running; input 2 waits
    // for it, then exits 255; input 3 must never run.
    let script = format!(
        "case $1 in 1) sleep {marker} & echo up >> {s}; wait;; \
         2) while [ ! -s {s} ]; do sleep 0.01; done; exit 255;; \
         *) echo ran-$1;; esac",
        s = started.display()
    );
    let sent = Instant::now();
    let out = env
        .parx(["--xargs", "-P2", "-n1", "sh", "-c", &script, "sh"])
        .stdin("1\n2\n3\n")
        .output();
    assert!(
        sent.elapsed() < Duration::from_secs(10),
        "took {:?}",
        sent.elapsed()
    );
    assert_eq!(out.status.code(), Some(124), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr, "parx: sh: exited with status 255; aborting\n");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("ran-3"));
    assert_eq!(
        sleepers(&marker),
        Vec::<u32>::new(),
        "the other command was left running"
    );
}

#[test]
fn sigterm_leaves_no_command_behind() {
    let env = Env::new();
    let marker = format!("31.{}", std::process::id());
    let script = format!("sleep {marker} & sleep {marker}; :");
    let mut run = env
        .parx(["--xargs", "-P3", "-n1", "sh", "-c", &script, "sh"])
        .stdin("1\n2\n3\n4\n5\n")
        .spawn_guarded();
    wait_for("3 commands to start", || sleepers(&marker).len() == 6);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &run.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = run.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
    assert_eq!(sleepers(&marker), Vec::<u32>::new(), "orphans left");
}

#[test]
fn keep_order_untangles_parallel_output() {
    let env = Env::new();
    // Later inputs finish first; -k prints in input order anyway, and each
    // command's two lines stay together.
    let out = env
        .parx([
            "--xargs",
            "-k",
            "-P4",
            "-n1",
            "sh",
            "-c",
            "sleep 0.$((4 - $1)); echo $1-a; echo $1-b",
            "sh",
        ])
        .stdin("1 2 3 4")
        .output();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1-a\n1-b\n2-a\n2-b\n3-a\n3-b\n4-a\n4-b\n"
    );
}

#[test]
fn group_keeps_each_commands_output_whole() {
    let env = Env::new();
    let out = env
        .parx([
            "--xargs",
            "--group",
            "-P3",
            "-n1",
            "sh",
            "-c",
            "for i in 1 2 3 4 5; do echo $1; sleep 0.01; done",
            "sh",
        ])
        .stdin("a b c")
        .output();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 15);
    for block in lines.chunks(5) {
        assert!(block.iter().all(|l| *l == block[0]), "interleaved: {text}");
    }
}

#[test]
fn packs_to_the_system_limit_not_128_kib() {
    let env = Env::new();
    let words: String = (0..100_000).map(|i| format!("{i}\n")).collect();
    let out = env
        .parx(["--xargs", "echo"])
        .stdin(words.as_bytes())
        .output();
    assert!(out.status.success());
    // GNU xargs needs five commands here (128 KiB each); parx needs one.
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1);
    assert_eq!(text.split_whitespace().count(), 100_000);
}

#[test]
fn commands_get_no_parallel_variables_but_the_slot_variable() {
    let env = Env::new();
    let out = env
        .parx([
            "--xargs",
            "--process-slot-var=SLOT",
            "-n1",
            "sh",
            "-c",
            "echo ${PARX_SEQ-none} ${PARALLEL_SEQ-none} $SLOT",
            "sh",
        ])
        .stdin("x y")
        .output();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "none none 0\nnone none 0\n"
    );
}

#[test]
fn xargs_must_come_first() {
    let env = Env::new();
    let out = env.parx(["-j2", "--xargs", "echo"]).stdin("a").output();
    assert_eq!(out.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must come first"));
}
