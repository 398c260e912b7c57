//! xargs mode where parx deliberately goes further than GNU xargs: no
//! command left running when xargs stops or is interrupted, output that
//! can be grouped or ordered, fewer commands. (Behaviour shared with xargs
//! is compared case by case in xargs_diff and xargs_conformance.)

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use crate::util::{send_signal, sleepers, wait_for, Env};

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
    send_signal(run.id(), libc::SIGTERM);
    let status = run.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
    wait_for("no orphan left", || sleepers(&marker).is_empty());
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

/// Runs `command` with `sh` on a pseudo-terminal (script, from bsdutils),
/// typing `typed` into it; returns what the terminal showed.
fn under_terminal(env: &Env, command: &str, typed: &str) -> String {
    use std::io::Write;
    let mut script = std::process::Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .current_dir(env.dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (bsdutils) runs parx on a pseudo-terminal");
    let mut stdin = script.stdin.take().unwrap();
    stdin.write_all(typed.as_bytes()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while script.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = script.kill();
            panic!("{command} hung on the terminal");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(stdin);
    let out = script.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).replace('\r', "")
}

#[test]
fn prompt_runs_only_what_the_terminal_says_yes_to() {
    let env = Env::new();
    env.write("list", "a\nb\nc\n");
    let command = format!(
        "{} --xargs -a list -p -n1 sh -c 'echo ran $0'",
        crate::util::parx_bin().display()
    );
    let shown = under_terminal(&env, &command, "y\nn\nY\n");
    assert!(shown.contains("sh -c 'echo ran $0' a?..."), "{shown}");
    assert!(
        shown.contains("ran a\n") && shown.contains("ran c\n"),
        "{shown}"
    );
    assert!(!shown.contains("ran b"), "{shown}");
}

#[test]
fn open_tty_gives_commands_the_terminal_and_nothing_else_does() {
    let env = Env::new();
    env.write("list", "x\n");
    let parx = crate::util::parx_bin().display().to_string();
    let with = under_terminal(
        &env,
        &format!("{parx} --xargs -o -a list sh -c 'test -t 0 && echo tty'"),
        "",
    );
    assert!(with.contains("tty"), "{with}");
    let without = under_terminal(
        &env,
        &format!("{parx} --xargs -a list sh -c 'test -t 0 || echo no-tty'"),
        "",
    );
    assert!(without.contains("no-tty"), "{without}");
}

#[test]
fn trace_in_a_utf8_locale_matches_gnu_xargs() {
    // é prints; U+2028 (a line separator) and U+FFFF (a noncharacter) do not.
    let input = "é \u{2028} \u{ffff} plain\n";
    let run = |program: &std::path::Path, first: &[&str]| {
        let out = std::process::Command::new(program)
            .args(first)
            .args(["-t", "true"])
            .env("LC_ALL", "C.UTF-8")
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(input.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        out.stderr
    };
    let gnu = run(std::path::Path::new("/usr/bin/xargs"), &[]);
    let parx = run(crate::util::parx_bin(), &["--xargs"]);
    assert_eq!(
        String::from_utf8_lossy(&parx),
        String::from_utf8_lossy(&gnu)
    );
}

#[test]
fn sighup_ends_the_run_like_xargs_and_leaves_nothing() {
    let env = Env::new();
    let marker = format!("32.{}", std::process::id());
    let script = format!("sleep {marker}; :");
    let mut run = env
        .parx(["--xargs", "-P2", "-n1", "sh", "-c", &script, "sh"])
        .stdin("1\n2\n3\n")
        .spawn_guarded();
    wait_for("2 commands to start", || sleepers(&marker).len() == 2);
    send_signal(run.id(), libc::SIGHUP);
    let status = run.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGHUP), "{status:?}");
    wait_for("no orphan left", || sleepers(&marker).is_empty());
}

#[test]
fn an_ignored_sigint_stays_ignored() {
    // A script's background job, or nohup: the shell started parx with the
    // signal ignored, and parx (xargs mode or not) must not undo that.
    let env = Env::new();
    let parx = crate::util::parx_bin().display().to_string();
    for command in [
        "--xargs -n1 sh -c 'kill -INT $PPID; echo $0'",
        "-j1 'kill -INT $PPID; echo {}'",
    ] {
        let script = format!("trap '' INT; printf '1\\n2\\n3\\n' | {parx} {command} & wait");
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .current_dir(env.dir.path())
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "1\n2\n3\n",
            "{command}: {out:?}"
        );
    }
}

#[test]
fn commands_can_use_the_terminal_from_an_interactive_shell() {
    // In the terminal's foreground, xargs' commands stay in its process
    // group; in one of their own, reading the terminal would stop them.
    let env = Env::new();
    let command = format!(
        "echo x | {} --xargs sh -c 'read answer </dev/tty; echo got $answer'",
        crate::util::parx_bin().display()
    );
    let shown = under_terminal(&env, &command, "yes\n");
    assert!(shown.contains("got yes"), "{shown}");
}

#[test]
fn a_failed_write_of_collected_output_is_an_error() {
    let env = Env::new();
    for args in [
        vec!["--xargs", "--group", "echo"],
        vec!["--xargs", "--help"],
    ] {
        let out = env
            .parx(&args)
            .stdin("a\n")
            .run_with_stdout(std::fs::File::create("/dev/full").unwrap());
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("No space left on device") && !err.contains("os error"),
            "{err}"
        );
    }
}

/// As GNU xargs: SIGUSR1 runs one more command at once, SIGUSR2 one fewer
/// (never fewer than one), and xargs says nothing about it.
#[test]
fn sigusr1_and_sigusr2_change_p_silently() {
    let env = Env::new();
    let log = env.path("log");
    let script = format!(
        "echo start $1 >> {log}; while [ ! -e {dir}/gate.$1 ]; do sleep 0.01; done",
        log = log.display(),
        dir = env.path("").display()
    );
    let started = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let run = env
        .parx(["--xargs", "-P1", "-n1", "sh", "-c", &script, "sh"])
        .stdin("a\nb\nc\n")
        .spawn_guarded();
    wait_for("a to start", || started() == 1);
    send_signal(run.id(), libc::SIGUSR1);
    // a still runs: b can only start alongside it.
    wait_for("b to start", || started() == 2);
    send_signal(run.id(), libc::SIGUSR2);
    send_signal(run.id(), libc::SIGUSR2);
    for job in ["a", "b", "c"] {
        std::fs::write(env.path(&format!("gate.{job}")), "").unwrap();
    }
    let out = run.wait_with_output();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    assert_eq!(started(), 3);
}

#[test]
fn show_limits_uses_no_more_than_its_maximum() {
    let env = Env::new();
    for args in [
        &["--xargs", "--show-limits"][..],
        &["--xargs", "-s", "1000", "--show-limits"],
    ] {
        let out = env.parx(args).stdin("").expect_code(0);
        let err = String::from_utf8_lossy(&out.stderr);
        let number = |label: &str| -> usize {
            let line = err.lines().find(|l| l.starts_with(label)).expect(label);
            line.rsplit(' ').next().unwrap().parse().unwrap()
        };
        let most = number("Maximum length of command we could actually use:");
        let using = number("Size of command buffer we are actually using:");
        assert!(using <= most, "{err}");
    }
}
