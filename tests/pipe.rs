//! `--pipe`: what golden outputs cannot show (GNU parallel's blocks are
//! compared in golden.rs): every byte of a large stream arrives, in order,
//! in bounded memory; a job that leaves its block unread fails it.

use crate::util::{measure, parx_bin, Env};

/// parx left none of its temporary files (`--cat`, `--fifo`) behind.
fn assert_no_temporary_files(env: &Env) {
    let left: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("parx"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A shell pipeline's stdout, failing the test if it fails.
fn sh(env: &Env, script: &str) -> String {
    let out = std::process::Command::new("sh")
        .args(["-c", script])
        .current_dir(env.dir.path())
        .env_remove("MAKEFLAGS")
        .env_remove("CARGO_MAKEFLAGS")
        .output()
        .unwrap();
    assert!(out.status.success(), "{script}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_gibibyte_arrives_whole_and_in_order() {
    let env = Env::new();
    let source = "yes 'abcdefghij 0123456789 the quick brown fox' | head -c 1073741824";
    let parx = parx_bin().display();
    let through = sh(
        &env,
        &format!("{source} | {parx} -k --pipe --block 4M cat | cksum"),
    );
    let direct = sh(&env, &format!("{source} | cksum"));
    assert_eq!(through, direct);
    assert!(direct.ends_with(" 1073741824\n"), "{direct}");
    // Unordered, the blocks' byte counts still add up.
    let counts = sh(&env, &format!("{source} | {parx} --pipe --block 3M wc -c"));
    let total: u64 = counts
        .lines()
        .map(|l| l.trim().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 1 << 30);
    assert_eq!(
        counts.lines().count(),
        342,
        "1 GiB in blocks of about 3 MiB"
    );
}

#[test]
fn memory_stays_near_slots_times_the_block() {
    let env = Env::new();
    let line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\n";
    let data: Vec<u8> = line.iter().copied().cycle().take(256 << 20).collect();
    env.write("big", &data);
    drop(data);
    // A slow reader: the input waits for the jobs, it does not pile up.
    let m = measure(env.parx([
        "-j2",
        "-a",
        "big",
        "--pipe",
        "--block",
        "1M",
        "sleep 0.001; wc -c",
    ]));
    assert!(m.status.success(), "{:?}", m.status);
    // One count ("1048530\n") per block of about 1 MiB.
    assert!(
        (256 * 8..258 * 8).contains(&m.stdout_bytes),
        "{}",
        m.stdout_bytes
    );
    // Two running blocks, one queued, one being read: (slots + 2) × block.
    let limit_kib = 2 * 1024 + 16 * 1024;
    assert!(
        m.peak_rss_kib <= limit_kib,
        "peak RSS {} KiB > {limit_kib} KiB",
        m.peak_rss_kib
    );
}

#[test]
fn binary_records_pass_byte_exact() {
    let env = Env::new();
    let data: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let out = env
        .parx(["-k", "--pipe", "--block", "1000", "--recend", "\\0", "cat"])
        .stdin(&data)
        .output();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, data);
}

#[test]
fn a_job_that_leaves_its_block_unread_fails_it() {
    let env = Env::new();
    let data = "x\n".repeat(4 << 20); // 8 MiB: more than a pipe holds
    let out = env
        .parx(["-k", "--pipe", "--block", "4M", "true"])
        .stdin(data.as_bytes())
        .output();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.matches("ended without reading all of its block")
            .count(),
        2,
        "{err}"
    );
    // Reading the whole block and using part of it is fine (head reads
    // all four bytes, prints one line).
    let out = env
        .parx(["--pipe", "--block", "1k", "head", "-1"])
        .stdin("a\nb\n")
        .output();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"a\n");
}

#[test]
fn a_block_left_in_the_pipe_counts_as_unread_and_is_logged_as_sigpipe() {
    let env = Env::new();
    // dd takes one byte and exits: the other three were written into the
    // pipe (it holds them easily) but never read. Also when the job does
    // not exit at once.
    for job in ["dd bs=1 count=1 status=none", "sleep 0.2"] {
        let out = env
            .parx(["--joblog", "log", "--pipe", "--block", "1k", job])
            .stdin("a\nb\n")
            .output();
        assert_eq!(out.status.code(), Some(1), "{job}: {out:?}");
        let log = env.job_log("log");
        assert_eq!(log.len(), 1);
        // Send, Exitval, Signal: as GNU parallel logs a job its writer
        // could not finish.
        let row = &log[0];
        assert_eq!(
            [&row[4], &row[6], &row[7]],
            ["4", "0", "13"],
            "{job}: {log:?}"
        );
    }
    // --resume-failed runs them again; a job reading everything succeeds.
    let out = env
        .parx([
            "--joblog",
            "log",
            "--resume-failed",
            "--pipe",
            "--block",
            "1k",
            "cat",
        ])
        .stdin("a\nb\n")
        .output();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"a\nb\n");
    assert_eq!(env.job_log("log")[1][4..8], ["4", "4", "0", "0"][..]);
}

#[test]
fn options_that_need_pipe_or_cannot_go_with_it() {
    let env = Env::new();
    for args in [
        vec!["--block", "1M", "cat"],
        vec!["--pipe", "cat", ":::", "a"],
        vec!["--pipe", "-X", "cat"],
        vec!["--pipe", "--header", "(", "cat"],
        vec!["--regexp", "cat"],
        vec!["--pipe", "--regexp", "--recend", "a(?=b)", "cat"],
        vec!["--pipe", "--regexp", "--recstart", "(a)\\1", "cat"],
        vec!["--pipe", "--block", "0", "cat"],
        // No command to pipe into (GNU parallel refuses it too).
        vec!["--pipe"],
    ] {
        let out = env.parx(&args).stdin("a\n").output();
        assert_eq!(out.status.code(), Some(255), "{args:?}: {out:?}");
        assert!(!out.stderr.is_empty());
    }
}

/// `parx --pipe ... < FILE`: the blocks are ranges of the file, spliced to
/// the jobs, never held in parx's memory; the same blocks as through a pipe.
#[test]
fn a_regular_file_on_stdin_is_cut_in_place() {
    let env = Env::new();
    let line = b"0123456789abcdefghijklmnopqrstuvwxyz, a line of 50 bytes\n";
    let data: Vec<u8> = line.iter().copied().cycle().take(256 << 20).collect();
    env.write("big", &data);
    drop(data);
    // Read into memory, 64 MiB blocks would take (2 slots + 2) × 64 MiB.
    let m = measure(
        env.parx(["-j2", "--pipe", "--block", "64M", "wc", "-c"])
            .stdin_file(std::fs::File::open(env.path("big")).unwrap()),
    );
    assert!(m.status.success(), "{:?}", m.status);
    // Four counts of nearly 64 MiB ("671088xx\n"; cut at line ends) and
    // one of what is left.
    assert!((37..=45).contains(&m.stdout_bytes), "{}", m.stdout_bytes);
    assert!(
        m.peak_rss_kib <= 32 * 1024,
        "peak RSS {} KiB: the blocks were read into memory",
        m.peak_rss_kib
    );
    // Block by block, what a pipe of the same bytes gives.
    let parx = parx_bin().display();
    let from_file = sh(&env, &format!("{parx} -k --pipe --block 3M cksum < big"));
    let from_pipe = sh(
        &env,
        &format!("cat big | {parx} -k --pipe --block 3M cksum"),
    );
    assert_eq!(from_file, from_pipe);
    assert_eq!(from_file.lines().count(), 86, "256 MiB in blocks of 3 MiB");
}

/// Cut in place, stdin is taken from where its offset is, and left at its
/// end, as reading it would: what the shell reads before and after parx
/// is what it would be with a pipe.
#[test]
fn stdin_is_taken_from_its_offset_and_left_at_its_end() {
    let env = Env::new();
    env.write("lines", "first\n1\n22\n333\n4444\n55555\n");
    let parx = parx_bin().display();
    let out = sh(
        &env,
        &format!(
            "{{ read -r first; echo \"read $first\"; {parx} -k --pipe --block 6 'cat; echo ---'; cat; echo end; }} < lines"
        ),
    );
    assert_eq!(
        out,
        "read first\n1\n22\n---\n333\n---\n4444\n---\n55555\n---\nend\n"
    );
}

/// From a pipe, parx asks for a 1 MiB pipe: the writer can run ahead, and
/// both sides switch a third as often. The writer (perl, which GNU
/// parallel needs anyway) watches its stdout's size (F_GETPIPE_SZ, 1032).
#[test]
fn a_pipe_on_stdin_is_grown() {
    let env = Env::new();
    let parx = parx_bin().display();
    let out = sh(
        &env,
        &format!(
            "perl -e '$| = 1; print \"a\\n\"; for (1 .. 2000) {{ $s = fcntl(STDOUT, 1032, 0); last if $s >= 1048576; select(undef, undef, undef, 0.01) }} open(F, \">\", \"size\"); print F $s + 0' | {parx} --pipe cat"
        ),
    );
    assert_eq!(out, "a\n");
    let size = std::fs::read_to_string(env.path("size")).unwrap();
    assert_eq!(size, "1048576", "the size of parx's stdin pipe");
}

#[test]
fn pipe_part_gives_every_byte_of_the_file_once() {
    let env = Env::new();
    let line = b"a line of some length, 0123456789\n";
    let data = line.repeat(2_000_000); // 68 MB, whole records
    env.write("big", &data);
    let out = env
        .parx(["-k", "-a", "big", "--pipe-part", "--block", "3M", "cat"])
        .output();
    assert!(out.status.success(), "{out:?}");
    assert!(
        out.stdout == data,
        "the parts put together differ from the file"
    );
    // Parts end at record ends.
    let counts = env
        .parx(["-a", "big", "--pipe-part", "--block", "3M", "wc", "-c"])
        .stdout();
    for count in counts.lines() {
        let n: usize = count.trim().parse().unwrap();
        assert_eq!(n % line.len(), 0, "a part of {n} bytes splits a record");
    }
}

#[test]
fn pipe_part_needs_a_regular_file() {
    let env = Env::new();
    let out = env
        .parx(["-a", "/dev/stdin", "--pipe-part", "cat"])
        .stdin("a\n")
        .output();
    assert_eq!(out.status.code(), Some(255), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("regular file"));
    let out = env.parx(["--pipe-part", "cat"]).stdin("a\n").output();
    assert_eq!(out.status.code(), Some(255), "{out:?}");
}

#[test]
fn round_robin_feeds_at_most_one_job_per_slot() {
    let env = Env::new();
    let input: String = (1..=100_000).map(|i| format!("{i}\n")).collect();
    let out = env
        .parx([
            "-j3",
            "--pipe",
            "--round-robin",
            "--block",
            "10k",
            "wc",
            "-l",
        ])
        .stdin(input.as_bytes())
        .stdout();
    let counts: Vec<u64> = out.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert!(!counts.is_empty() && counts.len() <= 3, "{counts:?}");
    assert_eq!(counts.iter().sum::<u64>(), 100_000);
    // Each job gets the header once, then its blocks.
    let out = env
        .parx([
            "-j2",
            "--pipe",
            "--round-robin",
            "--block",
            "1k",
            "--header",
            "1",
            "grep",
            "-c",
            "^head$",
        ])
        .stdin(format!("head\n{input}"))
        .stdout();
    assert!(out.lines().all(|l| l == "1"), "{out}");
}

#[test]
fn fifo_blocks_arrive_whole_and_the_pipes_are_removed() {
    let env = Env::new();
    let input: String = (1..=100_000).map(|i| format!("{i}\n")).collect();
    let out = env
        .parx(["-k", "--pipe", "--fifo", "--block", "100k", "cat {}"])
        .stdin(input.as_bytes())
        .stdout();
    assert!(
        out == input,
        "the blocks put together differ from the input"
    );
    assert_no_temporary_files(&env);
    // A job that never opens its pipe does not hang parx; its block fails.
    let out = env
        .parx(["--pipe", "--fifo", "-N", "1", "true"])
        .stdin("a\n")
        .output();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn cat_files_are_removed_after_their_jobs() {
    let env = Env::new();
    let out = env
        .parx(["-k", "--pipe", "--cat", "-N", "2", "wc", "-l"])
        .stdin("a\nb\nc\n")
        .output();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .step_by(2)
            .collect::<Vec<_>>(),
        ["2", "1"]
    );
    assert_no_temporary_files(&env);
}

/// The blocks GNU parallel and parx cut from `input` with `args`, as one
/// line per block (its size and checksum), in order.
fn blocks_of_both(env: &Env, args: &[&str], input: &str) -> (String, String) {
    let run = |program: &std::path::Path| {
        let mut cmd = env.command(program);
        if program.ends_with("parallel") {
            cmd.arg("--will-cite");
        }
        cmd.args(args)
            .arg("-k")
            .arg("cksum")
            .env("PARALLEL_SHELL", "sh")
            .env("HOME", env.dir.path())
            .stdin(std::fs::File::open(env.path(input)).unwrap());
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{program:?} {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let gnu = run(std::path::Path::new("parallel"));
    let ours = run(parx_bin());
    (gnu, ours)
}

/// `--regexp` and `--header REGEX` over inputs large enough for many
/// blocks, record boundaries at block edges, and several of GNU's 128 KiB
/// reads per `--pipe-part` split point: the same blocks as GNU parallel.
#[test]
fn regexp_blocks_match_gnu_parallel_on_large_inputs() {
    let env = Env::new();
    let fasta: String = (0..20_000)
        .map(|i| format!(">r{i}\n{}\n", "ACGT".repeat(i % 13 + 1)))
        .collect();
    env.write("fasta", format!("# a comment\n# another\n{fasta}"));
    let numbers: String = (1..=150_000).map(|i| format!("{i}\n")).collect();
    env.write("numbers", numbers);
    // (GNU's -N with --regexp is slow: a small block keeps it short.)
    let cases: &[(&str, &[&str])] = &[
        (
            "fasta",
            &["--pipe", "--regexp", "--recstart", "^>", "--block", "50k"],
        ),
        (
            "fasta",
            &[
                "--pipe",
                "--regexp",
                "--recstart",
                ">",
                "--recend",
                "\\n",
                "-N",
                "50",
                "--block",
                "20k",
            ],
        ),
        (
            "numbers",
            &[
                "--pipe",
                "--regexp",
                "--recend",
                "7\\n",
                "--recstart",
                "1",
                "--block",
                "20k",
            ],
        ),
        (
            "fasta",
            &[
                "--pipe",
                "--header",
                "(#.*\\n)*",
                "--regexp",
                "--recstart",
                "^>",
                "--block",
                "30k",
            ],
        ),
        (
            "fasta",
            &[
                "--pipe",
                "--header",
                "(#.*\\n)*",
                "--recstart",
                ">",
                "-N",
                "1000",
            ],
        ),
        (
            "numbers",
            &[
                "--pipe-part",
                "--regexp",
                "--recend",
                "\\n",
                "--block",
                "100k",
            ],
        ),
        (
            "fasta",
            &[
                "--pipe-part",
                "--regexp",
                "--recend",
                "T\\n",
                "--recstart",
                ">r[0-9]*5\\n",
                "--block",
                "60k",
            ],
        ),
        (
            "fasta",
            &[
                "--pipe-part",
                "--header",
                "(#.*\\n)+",
                "--regexp",
                "--recstart",
                ">",
                "--block",
                "-5",
                "-j2",
            ],
        ),
    ];
    for (input, args) in cases {
        let mut args = args.to_vec();
        if args[0] == "--pipe-part" {
            args.extend(["-a", input]);
        }
        let (gnu, ours) = blocks_of_both(&env, &args, input);
        assert!(
            gnu.lines().count() > 3,
            "{args:?}: too few blocks to tell: {gnu}"
        );
        assert_eq!(ours, gnu, "{args:?} on {input}");
    }
}
