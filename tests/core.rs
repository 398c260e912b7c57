//! Core behaviour: inputs, templates, execution paths and exit statuses.

use std::ffi::OsStr;

use crate::util::{child_bin, measure, sorted_lines, Env};

/// Splits the NUL-terminated words the test child prints.
fn words(out: &[u8]) -> Vec<Vec<u8>> {
    let mut w: Vec<Vec<u8>> = out.split(|&b| b == 0).map(<[u8]>::to_vec).collect();
    assert_eq!(w.pop(), Some(Vec::new()), "output ends with NUL: {out:?}");
    w
}

fn child() -> &'static OsStr {
    child_bin().as_os_str()
}

#[test]
fn runs_each_argument_as_a_job() {
    let env = Env::new();
    let out = env.parx(["echo", ":::", "a", "b", "c"]).stdout();
    assert_eq!(sorted_lines(&out), ["a", "b", "c"]);
}

#[test]
fn stdin_records_pass_byte_exact() {
    let env = Env::new();
    let input = b"a\r\n b  c \n\xff\xfe\x80\n\n\tlast".to_vec();
    let out = env
        .parx([child(), OsStr::new("argv"), OsStr::new("{}")])
        .arg_first(["-k", "-j3"])
        .stdin(&input)
        .expect_code(0);
    let expected: Vec<Vec<u8>> = vec![
        b"a\r".to_vec(),
        b" b  c ".to_vec(),
        b"\xff\xfe\x80".to_vec(),
        b"".to_vec(),
        b"\tlast".to_vec(),
    ];
    assert_eq!(words(&out.stdout), expected);
}

#[test]
fn invalid_utf8_survives_the_shell_path_too() {
    let env = Env::new();
    // A redirection forces sh -c; the value must reach the child unchanged.
    let out = env
        .parx([
            child(),
            OsStr::new("argv"),
            OsStr::new("{}"),
            OsStr::new("</dev/null"),
        ])
        .stdin(b"\xff\xfeA\xc3\n")
        .expect_code(0);
    assert_eq!(words(&out.stdout), [b"\xff\xfeA\xc3".to_vec()]);
}

#[test]
fn null_and_custom_delimiters() {
    let env = Env::new();
    let out = env
        .parx(["-k", "-0"])
        .arg_last([child(), OsStr::new("argv")])
        .stdin(b"one\ntwo\0x y\0")
        .expect_code(0);
    assert_eq!(words(&out.stdout), [b"one\ntwo".to_vec(), b"x y".to_vec()]);
    let out = env
        .parx(["-k", "-d", "\\t"])
        .arg_last([child(), OsStr::new("argv")])
        .stdin(b"a\tb\n\t")
        .expect_code(0);
    assert_eq!(words(&out.stdout), [b"a".to_vec(), b"b\n".to_vec()]);
}

#[test]
fn a_hundred_kib_line_arrives_whole_in_both_paths() {
    let env = Env::new();
    let line: Vec<u8> = (0..100 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    let mut input = line.clone();
    input.push(b'\n');
    let direct = env
        .parx([child(), OsStr::new("argv")])
        .stdin(&input)
        .expect_code(0);
    assert_eq!(words(&direct.stdout), std::slice::from_ref(&line));
    let shell = env
        .parx([
            child(),
            OsStr::new("argv"),
            OsStr::new("{}"),
            OsStr::new("</dev/null"),
        ])
        .stdin(&input)
        .expect_code(0);
    assert_eq!(words(&shell.stdout), [line]);
}

#[test]
fn a_hundred_thousand_inputs_all_arrive_once() {
    let env = Env::new();
    let input: String = (1..=100_000).map(|i| format!("{i}\n")).collect();
    let out = env
        .parx(["-k", "-j2", "-X"])
        .arg_last([child(), OsStr::new("argv")])
        .stdin(&input)
        .expect_code(0);
    let got: Vec<u64> = words(&out.stdout)
        .iter()
        .map(|w| std::str::from_utf8(w).unwrap().parse().unwrap())
        .collect();
    assert_eq!(got, (1..=100_000).collect::<Vec<_>>());
}

#[test]
fn packing_uses_the_system_limit_not_128_kib() {
    let env = Env::new();
    // 200,000 arguments of 10 bytes: about 2.2 MB of argv. xargs' 128 KiB
    // default would need at least 17 commands; ARG_MAX (2 MiB here) allows 2.
    let input: String = (0..200_000).map(|i| format!("{i:09}\n")).collect();
    let out = env
        .parx(["-j1", "-X"])
        .arg_last([child(), OsStr::new("argv")])
        .stdin(&input)
        .expect_code(0);
    assert_eq!(words(&out.stdout).len(), 200_000);
    let jobs = env
        .parx(["-j1", "-X", "--dry-run"])
        .arg_last([child(), OsStr::new("argv")])
        .stdin(&input)
        .expect_code(0);
    let commands = jobs.stdout.iter().filter(|&&b| b == b'\n').count();
    assert!(commands <= 3, "{commands} commands for 200,000 arguments");
}

#[test]
fn empty_input_runs_nothing() {
    let env = Env::new();
    let out = env.parx(["echo", "ran"]).stdin(b"").expect_code(0);
    assert!(out.stdout.is_empty());
    let out = env.parx(["echo", "ran", ":::"]).expect_code(0);
    assert!(out.stdout.is_empty());
}

#[test]
fn empty_lines_are_real_inputs() {
    let env = Env::new();
    let out = env.parx(["-k", "echo", "[{}]"]).stdin(b"\n\nx\n").stdout();
    assert_eq!(out, "[]\n[]\n[x]\n");
}

#[test]
fn jobs_get_their_sequence_and_slot() {
    let env = Env::new();
    let out = env
        .parx(["-k", "-j1"])
        .arg_last([child(), OsStr::new("env"), OsStr::new("PARX_SEQ")])
        .arg_last([":::", "a", "b", "c"])
        .stdout();
    assert_eq!(out, "1\n2\n3\n");
    let out = env
        .parx(["-j1", "-k", "echo", "{#}-{%}", ":::", "a", "b"])
        .stdout();
    assert_eq!(out, "1-1\n2-1\n");
    let out = env
        .parx(["-j1"])
        .arg_last([
            child(),
            OsStr::new("env"),
            OsStr::new("PARX_SLOT"),
            OsStr::new(":::"),
            OsStr::new("a"),
        ])
        .stdout();
    assert_eq!(out, "1\n");
}

#[test]
fn parx_adds_no_file_descriptors_to_jobs() {
    let env = Env::new();
    // Whatever the test runner itself passes down (cargo's jobserver pipe)
    // reaches the child either way; parx's own pipes and files must not.
    let direct = std::process::Command::new(child())
        .arg("fds")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let expected = String::from_utf8(direct.stdout).unwrap();
    assert!(expected.starts_with("0 1 2"), "{expected}");
    for mode in ["--group", "-k", "--line-buffer", "-u"] {
        let out = env
            .parx(["-j2", mode])
            .arg_last([
                child(),
                OsStr::new("fds"),
                OsStr::new(":::"),
                OsStr::new("1"),
                OsStr::new("2"),
            ])
            .stdout();
        assert_eq!(out, format!("{expected}{expected}"), "{mode}");
    }
}

#[test]
fn stdin_goes_to_jobs_unless_it_is_the_input() {
    let env = Env::new();
    // stdin is the input source: jobs read /dev/null.
    let out = env
        .parx(["readlink /proc/self/fd/0; : {}"])
        .stdin(b"x\n")
        .stdout();
    assert_eq!(out, "/dev/null\n");
    // Arguments are the input: jobs inherit parx's stdin.
    let out = env
        .parx(["-j1", "cat; echo {}", ":::", "a"])
        .stdin(b"from stdin\n")
        .stdout();
    assert_eq!(out, "from stdin\na\n");
}

#[test]
fn plain_templates_run_without_a_shell() {
    let env = Env::new();
    // With a shell that does not exist, only the direct path can work.
    let out = env
        .parx([
            child(),
            OsStr::new("argv"),
            OsStr::new("x{}y"),
            OsStr::new("'a b'"),
            OsStr::new(":::"),
            OsStr::new("1"),
        ])
        .env("PARX_SHELL", "/nonexistent/sh")
        .expect_code(0);
    assert_eq!(words(&out.stdout), [b"x1y".to_vec(), b"a b".to_vec()]);
    // Shell syntax needs the shell: a missing one is a usage error, up front.
    let out = env
        .parx(["echo", "{}", "|", "cat", ":::", "1", "2"])
        .env("PARX_SHELL", "/nonexistent/sh")
        .expect_code(255);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the shell '/nonexistent/sh'"), "{err}");
}

#[test]
fn shell_syntax_in_the_template_works() {
    let env = Env::new();
    let out = env
        .parx(["-k", "echo {} | tr a-z A-Z", ":::", "ab", "cd"])
        .stdout();
    assert_eq!(out, "AB\nCD\n");
    env.parx(["echo", "{}", ">", "{}.txt", ":::", "f1", "f2"])
        .expect_code(0);
    assert_eq!(std::fs::read_to_string(env.path("f2.txt")).unwrap(), "f2\n");
    let out = env.parx(["-k", "echo x; echo", ":::", "a"]).stdout();
    assert_eq!(out, "x\na\n");
}

#[test]
fn no_command_runs_the_inputs() {
    let env = Env::new();
    let out = env
        .parx(["-k", ":::", "echo a", "echo b | tr b B"])
        .stdout();
    assert_eq!(out, "a\nB\n");
}

#[test]
fn quote_option_keeps_words_literal() {
    let env = Env::new();
    // -q: the line is sh -c 'echo "$1"' x 'a b', so the inner shell prints $1.
    let out = env
        .parx(["-q", "sh", "-c", "echo \"$1\"", "x", "{}", ":::", "a b"])
        .stdout();
    assert_eq!(out, "a b\n");
    // Without -q the outer shell expands "$1" itself (to nothing).
    let out = env
        .parx(["sh", "-c", "echo \"$1\"", "x", "{}", ":::", "a b"])
        .stdout();
    assert_eq!(out, "\n");
}

#[test]
fn positional_and_multiple_args() {
    let env = Env::new();
    let out = env
        .parx(["-k", "echo", "{2}{1}", ":::", "a", "b", ":::", "1"])
        .stdout();
    assert_eq!(out, "1a\n1b\n");
    let out = env
        .parx(["-k", "-N2", "echo", "{2}-{1}", ":::", "a", "b", "c"])
        .stdout();
    assert_eq!(out, "b-a\n-c\n");
    let out = env
        .parx(["-k", "-n2", "echo", ":::", "a", "b", "c"])
        .stdout();
    assert_eq!(out, "a b\nc\n");
    let out = env
        .parx(["-k", "-N0", "echo", "hi", ":::", "a", "b"])
        .stdout();
    assert_eq!(out, "hi\nhi\n");
}

#[test]
fn exit_status_counts_failed_jobs() {
    let env = Env::new();
    env.parx([
        child(),
        OsStr::new("exit"),
        OsStr::new(":::"),
        OsStr::new("0"),
        OsStr::new("3"),
        OsStr::new("4"),
        OsStr::new("0"),
    ])
    .expect_code(2);
    let many: Vec<String> = (0..150).map(|_| "1".to_string()).collect();
    env.parx(["-j4"])
        .arg_last([child(), OsStr::new("exit")])
        .arg_last(["{}", ":::"])
        .arg_last(&many)
        .expect_code(101);
    let hundred: Vec<String> = (0..100).map(|_| "1".to_string()).collect();
    env.parx(["-j4"])
        .arg_last([child(), OsStr::new("exit")])
        .arg_last(["{}", ":::"])
        .arg_last(&hundred)
        .expect_code(100);
    // A job killed by a signal counts as failed.
    env.parx(["kill -9 $$", ":::", "x"]).expect_code(1);
}

#[test]
fn an_executable_without_a_shebang_line_runs_under_sh() {
    // As execvp runs it (GNU xargs), and as GNU parallel's shell does.
    let env = Env::new();
    let script = env.write("plain-script", "echo script \"$1\" \"$#\"\n");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let out = env
        .parx(["-k", script.to_str().expect("utf-8"), ":::", "a b", "c"])
        .expect_code(0);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "script a b 1\nscript c 1\n"
    );
    // Found through PATH, and in xargs mode.
    let path = format!(
        "{}:{}",
        env.path("").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = env
        .parx(["--xargs", "-n1", "plain-script"])
        .env("PATH", &path)
        .stdin("x y\n")
        .expect_code(0);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "script x 1\nscript y 1\n"
    );
}

#[test]
fn a_missing_command_fails_that_job_only() {
    let env = Env::new();
    let out = env
        .parx(["-k", "{}", ":::", "true", "no-such-command-parx", "true"])
        .expect_code(1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-command-parx"), "{err}");
    let out = env
        .parx(["no-such-command-parx", ":::", "a", "b"])
        .expect_code(2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.matches("parx: no-such-command-parx: command not found")
            .count(),
        2,
        "{err}"
    );
    // A path is not looked up: the shell's words for it.
    let out = env.parx(["./no-such-file-parx", ":::", "a"]).expect_code(1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("parx: ./no-such-file-parx: No such file or directory"),
        "{err}"
    );
    let script = env.write("not-executable", "#!/bin/sh\necho hi\n");
    let out = env
        .parx([script.as_os_str(), OsStr::new(":::"), OsStr::new("a")])
        .expect_code(1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("permission denied"));
}

#[test]
fn own_errors_exit_255_with_one_clear_line() {
    let env = Env::new();
    let out = env.parx(["--no-such-option", "echo"]).expect_code(255);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-option"));
    let out = env.parx(["-a", "missing-file", "echo"]).expect_code(255);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("parx: cannot read input missing-file"),
        "{err}"
    );
    let out = env.parx(["-j", "lots", "echo"]).expect_code(255);
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'lots' for -j"));
    let out = env.parx(["-d", "ab", "echo"]).expect_code(255);
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid delimiter"));
    let out = env.parx(["echo", ":::+", "a"]).expect_code(255);
    assert!(String::from_utf8_lossy(&out.stderr).contains("':::+' links"));
    env.parx(["--help"]).expect_code(0);
    env.parx(["--version"]).expect_code(0);
}

#[test]
fn dry_run_prints_quoted_commands_and_runs_nothing() {
    let env = Env::new();
    let out = env
        .parx([
            "--dry-run",
            "-k",
            "touch",
            "{}",
            ":::",
            "b c",
            "d'e",
            "$x",
            "",
        ])
        .stdout();
    assert_eq!(
        out,
        "touch 'b c'\ntouch 'd'\"'\"'e'\ntouch '$x'\ntouch ''\n"
    );
    assert!(!env.path("b c").exists());
}

#[test]
fn verbose_prints_commands_to_stderr_and_v_to_stdout() {
    let env = Env::new();
    for flag in ["-t", "--verbose"] {
        let out = env.parx([flag, "echo", ":::", "a b"]).expect_code(0);
        assert_eq!(String::from_utf8_lossy(&out.stderr), "echo 'a b'\n");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "a b\n");
    }
    let out = env.parx(["-v", "echo", ":::", "a b"]).expect_code(0);
    assert_eq!(out.stderr, b"");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "echo 'a b'\na b\n");
}

#[test]
fn link_and_plus_link() {
    let env = Env::new();
    let out = env
        .parx([
            "-k", "--link", "echo", ":::", "a", "b", "c", ":::", "1", "2",
        ])
        .stdout();
    assert_eq!(out, "a 1\nb 2\nc 1\n");
    let out = env
        .parx(["-k", "echo", ":::", "a", "b", "c", ":::+", "1", "2"])
        .stdout();
    assert_eq!(out, "a 1\nb 2\n");
}

#[test]
fn arg_files_and_four_colons() {
    let env = Env::new();
    env.write("f1", "x\ny\n");
    env.write("f2", "1\n2\n");
    let out = env.parx(["-k", "-a", "f1", "echo", ":::", "p"]).stdout();
    assert_eq!(out, "x p\ny p\n");
    let out = env.parx(["-k", "echo", "::::", "f1", "f2"]).stdout();
    assert_eq!(out, "x 1\nx 2\ny 1\ny 2\n");
    let out = env
        .parx(["-k", "echo", "::::", "-", ":::", "q"])
        .stdin(b"s\n")
        .stdout();
    assert_eq!(out, "s q\n");
}

#[test]
fn memory_does_not_grow_with_the_number_of_inputs() {
    let env = Env::new();
    let rss = |lines: usize| {
        let input: String = (0..lines)
            .map(|i| format!("input line number {i}\n"))
            .collect();
        let m = measure(
            env.parx(["--dry-run", "-k", "echo", "{}", "{#}"])
                .stdin(input),
        );
        assert!(m.status.success() && m.stdout_bytes > 0);
        m.peak_rss_kib
    };
    let small = rss(1_000);

    let large = rss(1_000_000);
    // Same RSS within 20% (plus 1 MiB for allocator noise).
    assert!(
        large * 10 <= small * 12 + 10 * 1024,
        "{small} KiB for 1,000 lines, {large} KiB for 1,000,000"
    );
}

#[test]
fn a_terminal_on_stdin_is_not_handed_to_jobs() {
    // Jobs run in process groups of their own; one reading the terminal
    // would be stopped by SIGTTIN and hang parx (regression, issue 3).
    let env = Env::new();
    let command = format!(
        "{} 'head -1; echo got {{}}' ::: a",
        crate::util::parx_bin().display()
    );
    let mut script = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(env.dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (bsdutils) runs parx on a pseudo-terminal");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while script.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = script.kill();
            panic!("parx hung: its job was stopped reading the terminal");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let out = script.wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("got a"),
        "{out:?}"
    );
}

#[test]
fn gnu_features_parx_lacks_are_named_not_guessed() {
    let env = Env::new();
    for option in [
        "--plus",
        "--ctag",
        "--csv",
        "--tee",
        "-s",
        "-L",
        "--citation",
    ] {
        let out = env.parx([option, "x", "echo"]).expect_code(255);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "parx: {option} (a GNU parallel option) is not supported yet"
            )),
            "{err}"
        );
    }
    // --header naming columns cannot pack inputs yet.
    let out = env
        .parx(["--header", ":", "-X", "echo", ":::", "a"])
        .expect_code(255);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--header with -X is not supported yet"),
        "{err}"
    );
    let out = env.parx(["echo", "{=uc=}", ":::", "a"]).expect_code(255);
    assert!(String::from_utf8_lossy(&out.stderr).contains("perl expression"));
    // Across words, as GNU parallel reads the line; `{=}` alone is text.
    let out = env
        .parx(["echo", "{=", "s/a/b/", "=}", ":::", "a"])
        .expect_code(255);
    assert!(String::from_utf8_lossy(&out.stderr).contains("'{= s/a/b/ =}'"));
    assert_eq!(env.parx(["echo", "{=}", ":::", "a"]).stdout(), "{=} a\n");
    let out = env.parx(["echo", "{-1}", ":::", "a"]).expect_code(255);
    assert!(String::from_utf8_lossy(&out.stderr).contains("{-N}"));
    // A literal "{-" elsewhere is just text.
    assert_eq!(env.parx(["echo", "{-x}", ":::", "a"]).stdout(), "{-x} a\n");
    // GNU parallel's variable names are set too.
    let out = env
        .parx([
            "-j1",
            "echo $PARALLEL_SEQ $PARALLEL_JOBSLOT; : {}",
            ":::",
            "a",
        ])
        .stdout();
    assert_eq!(out, "1 1\n");
}

/// `--shuf` (GNU parallel's): every input is read, then the jobs run in a
/// random order; {#} numbers them in that order, so -k prints them in it.
#[test]
fn shuf_runs_every_job_once_in_a_random_order() {
    let env = Env::new();
    let values: Vec<String> = (1..=30).map(|i| i.to_string()).collect();
    let run = |extra: &[&str]| -> Vec<(u64, String)> {
        let out = env
            .parx(["--shuf", "-j2"])
            .arg_last(extra)
            .arg_last(["echo {#} {}", ":::"])
            .arg_last(&values)
            .stdout();
        out.lines()
            .map(|l| {
                let (seq, value) = l.split_once(' ').unwrap();
                (seq.parse().unwrap(), value.to_owned())
            })
            .collect()
    };
    let first = run(&["-k"]);
    // -k: in {#} order, which is the shuffled order.
    let seqs: Vec<u64> = first.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=30).collect::<Vec<_>>());
    let mut got: Vec<String> = first.iter().map(|(_, v)| v.clone()).collect();
    let order = got.clone();
    got.sort_by_key(|v| v.parse::<u32>().unwrap());
    assert_eq!(got, values, "every input once");
    // 30! orders: the same one twice (or the input order) means no shuffle.
    let second: Vec<String> = run(&["-k"]).into_iter().map(|(_, v)| v).collect();
    assert_ne!(order, second);
    assert_ne!(order, values);
    // Without -k too, and with several sources: every combination once.
    let out = env
        .parx([
            "--shuf", "echo", "{1}{2}", ":::", "a", "b", "c", ":::", "1", "2",
        ])
        .stdout();
    assert_eq!(sorted_lines(&out), ["a1", "a2", "b1", "b2", "c1", "c2"]);
}

#[test]
fn shuf_reads_stdin_whole_and_groups_after_shuffling() {
    let env = Env::new();
    let input: String = (1..=20).map(|i| format!("{i}\n")).collect();
    // -n 2 groups the shuffled inputs: ten jobs, every input once.
    let out = env
        .parx(["--shuf", "-k", "-n", "2", "echo"])
        .stdin(&input)
        .stdout();
    assert_eq!(out.lines().count(), 10);
    let mut values: Vec<u32> = out.split_whitespace().map(|v| v.parse().unwrap()).collect();
    values.sort_unstable();
    assert_eq!(values, (1..=20).collect::<Vec<_>>());
    // --dry-run prints the shuffled commands.
    let out = env
        .parx(["--shuf", "--dry-run", "echo", ":::", "a", "b", "c"])
        .stdout();
    assert_eq!(sorted_lines(&out), ["echo a", "echo b", "echo c"]);
}

#[test]
fn shuf_cannot_shuffle_a_pipe() {
    let env = Env::new();
    // GNU parallel refuses --pipe with --shuf too (exit 255).
    let out = env
        .parx(["--shuf", "--pipe", "cat"])
        .stdin("a\n")
        .expect_code(255);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--shuf"));
    // --pipe-part's parts stay in order, as in GNU parallel.
    env.write(
        "lines",
        (1..=20).map(|i| format!("{i}\n")).collect::<String>(),
    );
    let out = env
        .parx([
            "--shuf",
            "-k",
            "-a",
            "lines",
            "--pipe-part",
            "--block",
            "10",
            "head -1",
        ])
        .stdout();
    assert_eq!(out, "1\n7\n12\n16\n20\n");
}

#[test]
fn nice_runs_the_jobs_at_a_higher_niceness() {
    let env = Env::new();
    let own = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Field 19 of /proc/PID/stat is the niceness (after the parenthesised name).
    let niceness = |stat: &str| -> i32 {
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        after.split(' ').nth(16).unwrap().parse().unwrap()
    };
    let base = niceness(&own);
    let out = env
        .parx(["--nice", "5", "cat /proc/self/stat; : {}", ":::", "a"])
        .expect_code(0);
    let job = niceness(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(job, (base + 5).min(19));
    let out = env
        .parx(["cat /proc/self/stat; : {}", ":::", "a"])
        .expect_code(0);
    assert_eq!(niceness(&String::from_utf8_lossy(&out.stdout)), base);
}

#[test]
fn parallel_env_gives_default_options_and_jobs_see_parallel_pid() {
    let env = Env::new();
    let run = |parallel: &str| {
        let mut cmd = env.command(crate::util::parx_bin());
        cmd.env("PARALLEL", parallel)
            .args(["echo {} $PARALLEL_PID", ":::", "a", "b", "c"]);
        cmd.output().unwrap()
    };
    let out = run("-k -j2");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    // In input order (-k from $PARALLEL), each with parx's pid.
    let pid = lines[0].split(' ').nth(1).unwrap();
    assert!(pid.parse::<u32>().is_ok(), "{text}");
    assert_eq!(
        lines,
        [format!("a {pid}"), format!("b {pid}"), format!("c {pid}")]
    );
    let out = run("--no-such-option");
    assert_eq!(out.status.code(), Some(255));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("$PARALLEL come first: --no-such-option"),
        "{err}"
    );
}

#[test]
fn a_replacement_string_may_be_any_bytes() {
    use std::os::unix::ffi::OsStrExt;
    let env = Env::new();
    let replace = std::ffi::OsStr::from_bytes(b"\xff");
    let word = std::ffi::OsStr::from_bytes(b"a\xffb");
    let out = env
        .parx([
            std::ffi::OsStr::new("-I"),
            replace,
            std::ffi::OsStr::new("echo"),
            word,
            std::ffi::OsStr::new(":::"),
            std::ffi::OsStr::new("X"),
        ])
        .expect_code(0);
    assert_eq!(out.stdout, b"aXb\n");
}

#[test]
fn colsep_refuses_what_counts_values_per_input() {
    let env = Env::new();
    for option in ["-X", "-m", "--link", "--shuf", "--pipe"] {
        let out = env
            .parx(["--colsep", ",", option, "echo", ":::", "a,b"])
            .expect_code(255);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("--colsep with") && err.contains("not supported yet"),
            "{option}: {err}"
        );
    }
    let out = env
        .parx(["--colsep", "(", "echo", ":::", "a"])
        .expect_code(255);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--colsep: regex parse error"));
}

#[test]
fn cpu_counts_are_those_gnu_parallel_prints() {
    let env = Env::new();
    for option in [
        "--number-of-cores",
        "--number-of-cpus",
        "--number-of-threads",
        "--number-of-sockets",
    ] {
        let parx = env.parx([option]).expect_code(0);
        let gnu = env
            .command("parallel")
            .args(["--will-cite", option])
            .output()
            .expect("GNU parallel runs (the test suite installs it)");
        assert_eq!(parx.stdout, gnu.stdout, "{option}");
    }
}

#[test]
fn a_repeated_option_takes_the_last_value_as_in_gnu_parallel() {
    let env = Env::new();
    // $PARALLEL's -j1 is overridden by the command line's -j3: three slots
    // ({%} in --dry-run is the slot the job would get).
    let mut cmd = env.command(crate::util::parx_bin());
    cmd.env("PARALLEL", "-j1 --dry-run").args([
        "-j3",
        "--dry-run",
        "-k",
        "-k",
        "echo {%}",
        ":::",
        "a",
        "b",
        "c",
    ]);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"echo 1\necho 2\necho 3\n");
    // Options that collect values still collect them all.
    env.write("x", "x\n");
    env.write("y", "y\n");
    let out = env.parx(["-a", "x", "-a", "y", "echo"]).expect_code(0);
    assert_eq!(out.stdout, b"x y\n");
}

#[test]
fn usage_errors_and_write_failures_say_parx_and_never_panic() {
    let env = Env::new();
    // clap's own messages start "parx:" like every other.
    let out = env.parx(["--keep-ordr", "echo"]).expect_code(255);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("parx: unexpected argument '--keep-ordr'"),
        "{err}"
    );
    assert!(err.contains("--keep-order"), "{err}");
    // (Not clap's tip to pass it after `--`: it would become the command.)
    assert!(!err.contains("-- --keep-ordr"), "{err}");
    assert!(!err.contains("\n\n\n"), "{err}");
    // A full disk under --completions and --help: a message, not a panic.
    for args in [&["--completions", "bash"][..], &["--help"][..]] {
        let full = std::fs::File::options()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = env.parx(args).run_with_stdout(full);
        assert_eq!(out.status.code(), Some(255), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err, "parx: cannot write output: No space left on device\n");
    }
    // --timeout 0 is no timeout, as in GNU parallel.
    let out = env
        .parx(["--timeout", "0", "sleep 0.1; echo ok {}", ":::", "a"])
        .expect_code(0);
    assert_eq!(out.stdout, b"ok a\n");
}

/// GNU parallel's idiom for shell functions: `export -f f; parallel f ::: a`.
/// The command goes through bash (the default shell, sh, would not know
/// the function), alone or in a pipeline; an explicit --shell is kept.
#[test]
fn an_exported_bash_function_runs_through_bash() {
    let env = Env::new();
    let function = "() {  echo \"f:$1\"\n}";
    let run = |args: &[&str]| env.parx(args).env("BASH_FUNC_parxfn%%", function);
    let out = run(&["-k", "parxfn", ":::", "a", "b c"]).expect_code(0);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "f:a\nf:b c\n");
    let out = run(&["parxfn {} | tr a-z A-Z", ":::", "d"]).expect_code(0);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "F:D\n");
    let out = run(&["--shell", "sh", "parxfn", ":::", "e"]).expect_code(1);
    assert!(out.stdout.is_empty());
}

/// Without -S, as GNU parallel: --env does nothing, the file options are
/// ignored with a warning; --workdir (which GNU parallel applies to local
/// jobs) is refused rather than ignored.
#[test]
fn remote_options_without_a_host() {
    let env = Env::new();
    let out = env
        .parx(["--env", "HOME", "echo", ":::", "a"])
        .expect_code(0);
    assert_eq!(out.stdout, b"a\n");
    assert!(out.stderr.is_empty(), "{out:?}");
    let out = env
        .parx([
            "--transfer",
            "--cleanup",
            "--return",
            "{}.out",
            "echo",
            ":::",
            "a",
        ])
        .expect_code(0);
    assert_eq!(out.stdout, b"a\n");
    let err = String::from_utf8_lossy(&out.stderr);
    for option in ["--transfer", "--cleanup", "--return"] {
        assert!(
            err.contains(&format!(
                "parx: warning: {option} ignored: there is no -S host"
            )),
            "{err}"
        );
    }
    let out = env
        .parx(["--workdir", "/tmp", "echo", ":::", "a"])
        .expect_code(255);
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--workdir needs -S"));
}
