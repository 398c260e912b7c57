//! Job control: --timeout, --termseq, --retries, --halt, --delay,
//! --joblog, --resume and --resume-failed.

use std::time::{Duration, Instant};

use crate::util::{sleepers, Env};

#[test]
fn timeout_kills_the_whole_job_and_counts_it_failed() {
    let env = Env::new();
    let marker = format!("3001.{}", std::process::id());
    let job = format!("sleep {marker} & sleep {marker} & wait; : {{}}");
    let started = Instant::now();
    let out = env
        .parx(["--timeout", "0.3", "--joblog", "log", &job, ":::", "a"])
        .expect_code(1);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        sleepers(&marker).is_empty(),
        "grandchildren survived the timeout"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("parx: job 1 timed out after"), "{err}");
    let rows = env.job_log("log");
    assert_eq!((rows[0][6].as_str(), rows[0][7].as_str()), ("-1", "15"));
}

#[test]
fn a_fast_job_is_not_touched_by_the_timeout() {
    let env = Env::new();
    env.parx(["--timeout", "10", "true", ":::", "a", "b"])
        .expect_code(0);
}

#[test]
fn timeout_as_a_percentage_of_the_median() {
    let env = Env::new();
    // Three quick successes set the median; the slow fourth job is killed
    // at 300% of it, long before its 5 seconds.
    let started = Instant::now();
    let out = env
        .parx([
            "-j1",
            "-k",
            "--timeout",
            "300%",
            "sleep {}; echo {}",
            ":::",
            "0.05",
            "0.05",
            "0.05",
            "5",
        ])
        .expect_code(1);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0.05\n0.05\n0.05\n");
}

#[test]
fn termseq_chooses_the_signals() {
    let env = Env::new();
    let job = "trap 'echo caught INT; exit 0' INT; sleep 5 & wait; : {}";
    let out = env
        .parx([
            "--timeout",
            "0.2",
            "--termseq",
            "INT,1000,KILL,25",
            job,
            ":::",
            "a",
        ])
        .expect_code(1);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "caught INT\n");
    let out = env
        .parx(["--termseq", "TERM,soon", "true"])
        .expect_code(255);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--termseq"));
}

#[test]
fn retries_run_a_failing_job_again_and_print_the_last_attempt() {
    let env = Env::new();
    // Fails on the first two attempts, succeeds on the third.
    let job = "echo x >> tries.{}; n=$(wc -l < tries.{}); echo attempt $n; [ $n -ge 3 ]";
    let out = env.parx(["--retries", "3", job, ":::", "a"]).expect_code(0);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "attempt 3\n");
    // Never succeeds: three attempts in all, then it counts as failed.
    let out = env
        .parx(["--retries", "3", "echo x >> tries.{}; false", ":::", "b"])
        .expect_code(1);
    assert!(out.stdout.is_empty());
    assert_eq!(env.sorted_lines("tries.b").len(), 3);
}

#[test]
fn halt_now_on_the_first_failure_stops_everything() {
    let env = Env::new();
    let marker = format!("3002.{}", std::process::id());
    let job = format!("if [ {{}} = bad ]; then exit 3; fi; sleep {marker}");
    let started = Instant::now();
    let out = env
        .parx([
            "-j3",
            "--joblog",
            "log",
            "--halt",
            "now,fail=1",
            &job,
            ":::",
            "a",
            "b",
            "bad",
            "c",
            "d",
        ])
        .expect_code(3);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(
        sleepers(&marker).is_empty(),
        "running jobs survived --halt now"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("parx: halting: this job failed:"), "{err}");
    // Only the failing job is logged: the ones --halt killed are left for
    // --resume, as GNU parallel leaves them.
    let log = env.job_log("log");
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0][6], "3");
}

#[test]
fn halt_soon_lets_running_jobs_finish_and_starts_no_more() {
    let env = Env::new();
    let job = "echo {} >> started; if [ {} = bad ]; then exit 4; fi; sleep 0.3; echo done {}";
    let out = env
        .parx([
            "-j2",
            "--halt",
            "soon,fail=1",
            job,
            ":::",
            "ok",
            "bad",
            "c",
            "d",
            "e",
        ])
        .expect_code(4);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "done ok\n");
    assert_eq!(env.sorted_lines("started"), ["bad", "ok"]);
}

#[test]
fn halt_on_success_and_on_done() {
    let env = Env::new();
    env.parx([
        "-j1",
        "--halt",
        "now,success=1",
        "exit {}",
        ":::",
        "3",
        "0",
        "1",
    ])
    .expect_code(0);
    // done=2: two jobs finished (one failed), the third never starts.
    let out = env
        .parx([
            "-j1",
            "--halt",
            "soon,done=2",
            "echo {}; exit {}",
            ":::",
            "3",
            "0",
            "1",
        ])
        .expect_code(1);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "3\n0\n");
}

#[test]
fn delay_spaces_out_job_starts_in_input_order() {
    let env = Env::new();
    env.parx([
        "-j4", "--delay", "0.2", "--joblog", "log", "true", ":::", "a", "b", "c", "d",
    ])
    .expect_code(0);
    let mut rows = env.job_log("log");
    rows.sort_by_key(|r| r[0].parse::<u64>().unwrap());
    let starts: Vec<f64> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    assert_eq!(starts.len(), 4);
    for pair in starts.windows(2) {
        // Start times are logged to the millisecond.
        assert!(pair[1] - pair[0] >= 0.199, "{starts:?}");
    }
}

/// A retry under --delay takes the next turn at once: it does not wait
/// for the next input line (a slot waiting for input holds no turn).
#[test]
fn a_delayed_retry_does_not_wait_for_more_input() {
    let env = Env::new();
    let script = format!(
        "(printf 'slowfail\\nquick\\n'; sleep 2; echo late) | {} -j2 --delay 0.1 --retries 2 \
         --joblog log 'if [ {{}} = slowfail ]; then sleep 0.3; false; fi'",
        crate::util::parx_bin().display()
    );
    let out = env.command("sh").args(["-c", &script]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let rows = env.job_log("log");
    let start = |value: &str| -> f64 {
        let row = rows
            .iter()
            .find(|r| r[8].contains(&format!("[ {value} ")))
            .expect(value);
        row[2].parse().unwrap()
    };
    // The log keeps the last attempt: slowfail's second, which must come
    // long before the input's last line.
    assert!(start("slowfail") + 1.0 < start("late"), "{rows:?}");
}

/// A run starts only the slot threads its jobs use: one job under -j8
/// runs beside one slot thread, not eight.
#[test]
fn one_job_starts_one_slot_thread() {
    let env = Env::new();
    let out = env
        .parx(["-j8", "cat /proc/$PPID/task/*/comm; : {}", ":::", "x"])
        .expect_code(0);
    let threads = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        threads
            .lines()
            .filter(|t| t.starts_with("parx-slot"))
            .count(),
        1,
        "{threads}"
    );
}

#[test]
fn joblog_records_every_job_in_gnu_parallels_format() {
    let env = Env::new();
    env.parx([
        "-k",
        "--joblog",
        "log",
        "printf %s {}; exit {}",
        ":::",
        "0",
        "12",
    ])
    .expect_code(1);
    let mut rows = env.job_log("log");
    rows.sort();
    assert_eq!(rows.len(), 2);
    for (row, (seq, receive, exitval, command)) in rows.iter().zip([
        ("1", "1", "0", "printf %s 0; exit 0"),
        ("2", "2", "12", "printf %s 12; exit 12"),
    ]) {
        assert_eq!(row[0], seq);
        assert_eq!(row[1], ":");
        assert!(
            row[2]
                .split_once('.')
                .is_some_and(|(s, ms)| s.len() >= 10 && ms.len() == 3),
            "{row:?}"
        );
        assert_eq!(
            row[3].len(),
            10,
            "runtime is right-aligned to ten columns: {row:?}"
        );
        assert_eq!(
            (
                row[4].as_str(),
                row[5].as_str(),
                row[6].as_str(),
                row[7].as_str()
            ),
            ("0", receive, exitval, "0")
        );
        assert_eq!(row[8], command);
    }
    // A new run starts the log anew; +FILE appends.
    env.parx(["--joblog", "log", "true", ":::", "x"])
        .expect_code(0);
    assert_eq!(env.job_log("log").len(), 1);
    env.parx(["--joblog", "+log", "true", ":::", "x"])
        .expect_code(0);
    assert_eq!(env.job_log("log").len(), 2);
}

#[test]
fn resume_runs_only_the_jobs_not_in_the_log() {
    let env = Env::new();
    let run = |flags: &[&str], code: i32| {
        env.parx(["-j1", "--joblog", "log"])
            .arg_last(flags)
            .arg_last([
                "echo {} >> ran; [ {} != 3 ]",
                ":::",
                "1",
                "2",
                "3",
                "4",
                "5",
            ])
            .expect_code(code);
        let ran = env.sorted_lines("ran");
        std::fs::remove_file(env.path("ran")).unwrap();
        ran
    };
    // The first run stops after job 3 fails.
    assert_eq!(run(&["--halt", "soon,fail=1"], 1), ["1", "2", "3"]);
    // --resume: 4 and 5 only.
    assert_eq!(run(&["--resume"], 0), ["4", "5"]);
    // --resume-failed: job 3 again (it still fails), nothing else.
    assert_eq!(run(&["--resume-failed"], 1), ["3"]);
    // The log kept every run's lines.
    assert_eq!(env.job_log("log").len(), 6);
}

#[test]
fn resume_needs_a_job_log() {
    let env = Env::new();
    let out = env.parx(["--resume", "true"]).expect_code(255);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--joblog"));
}

#[test]
fn load_and_memfree_hold_jobs_back_until_there_is_room() {
    let env = Env::new();
    // Generous limits: jobs run as usual.
    env.parx([
        "--load",
        "100000",
        "--memfree",
        "1K",
        "true",
        ":::",
        "a",
        "b",
    ])
    .expect_code(0);
    // Limits that can never be met: no job starts, and parx still stops
    // cleanly on SIGTERM while it waits.
    for limit in [["--load", "0"], ["--memfree", "1000000T"]] {
        let mut run = env
            .parx(limit)
            .arg_last(["touch", "ran", ":::", "a"])
            .spawn_guarded();
        // The gate is looked at every 100 ms; give it several looks.
        std::thread::sleep(Duration::from_millis(500));
        assert!(!env.path("ran").exists(), "{limit:?}: a job started");
        crate::util::send_signal(run.id(), libc::SIGTERM);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            run.wait().unwrap().signal(),
            Some(libc::SIGTERM),
            "{limit:?}"
        );
    }
    let out = env.parx(["--memfree", "lots", "true"]).expect_code(255);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--memfree"));
}

#[test]
fn results_saves_each_job_under_its_inputs() {
    let env = Env::new();
    let out = env
        .parx([
            "--results",
            "res",
            "echo out {1} {2}; echo err >&2",
            ":::",
            "a",
            "b/c",
            "..",
            ":::",
            "1",
            "",
        ])
        .expect_code(0);
    assert!(out.stdout.is_empty(), "--results prints nothing");
    let read = |p: &str| std::fs::read_to_string(env.path("res").join(p)).unwrap();
    // GNU parallel's layout: DIR/1/<value>/2/<value>/{seq,stdout,stderr}.
    assert_eq!(read("1/a/2/1/seq"), "1");
    assert_eq!(read("1/a/2/1/stdout"), "out a 1\n");
    assert_eq!(read("1/a/2/1/stderr"), "err\n");
    // An empty value adds no directory; a / in a value becomes \_.
    assert_eq!(read("1/b\\_c/2/stdout"), "out b/c \n");
    assert_eq!(read("1/b\\_c/2/seq"), "4");
    // .. stays inside the results directory.
    assert_eq!(read("1/\\.\\./2/1/stdout"), "out .. 1\n");
}

/// Start times and runtimes differ between runs: blanked out.
fn without_times(text: &str) -> String {
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        // CSV/TSV records start "Seq,Host,Starttime,JobRuntime,".
        let mut fields: Vec<&str> = line.splitn(5, [',', '\t']).collect();
        let is_record = fields.len() == 5
            && fields[0].parse::<u64>().is_ok()
            && fields[2].contains('.')
            && fields[3].contains('.');
        if is_record {
            let sep = &line[fields[0].len()..=fields[0].len()];
            fields[2] = "T";
            fields[3] = "R";
            out.push_str(&fields.join(sep));
        } else if let Some(at) = line.find("\"Starttime\": ") {
            // JSON: "Starttime": N, "JobRuntime": N,
            let rest = &line[at..];
            let end = rest.find("\"Send\"").unwrap();
            out.push_str(&line[..at]);
            out.push_str("TIMES, ");
            out.push_str(&rest[end..]);
        } else {
            out.push_str(line);
        }
    }
    out
}

/// `--results FILE.csv|.tsv|.json`, compared with GNU parallel's files for
/// the same hostile values (quotes, separators, tabs, newlines, control
/// bytes, backslashes), exit statuses, a job killed by a signal, stderr
/// and empty output.
#[test]
fn results_tables_match_gnu_parallel() {
    let env = Env::new();
    // (Not a newline: GNU parallel splits a ::: argument there.)
    let values = [
        "plain",
        "comma,and \"quote\"",
        "tab\there",
        "back\\slash \u{1}ctl",
        "",
    ];
    let script = "printf '%s|\\n' \"$1\"; printf 'e%s' \"$1\" >&2; \
                  case $1 in plain) exit 3;; '') kill -USR1 $$;; esac";
    env.write("job.sh", script);
    for ext in ["csv", "tsv", "json"] {
        let file = format!("out.{ext}");
        let mut args = vec!["-j1", "--results", &file, "sh job.sh {1} {2}", ":::"];
        args.extend(values);
        args.extend([":::", "x", "y z"]);
        let parx = env.parx(&args).output();
        let parx_out = std::fs::read_to_string(env.path(&file)).unwrap();
        let gnu = env
            .command("parallel")
            .arg("--will-cite")
            .args(&args)
            .output()
            .expect("GNU parallel runs (the test suite installs it)");
        let gnu_out = std::fs::read_to_string(env.path(&file)).unwrap();
        assert_eq!(parx.status.code(), gnu.status.code(), "{ext}");
        assert!(parx.stdout.is_empty() && gnu.stdout.is_empty());
        assert_eq!(without_times(&parx_out), without_times(&gnu_out), "{ext}");
        assert!(parx_out.contains("\"Signal\": 10") || !ext.contains("json"));
    }
    // -.csv: the table on stdout, nothing else there.
    let out = env
        .parx(["--results", "-.csv", "echo", ":::", "a"])
        .expect_code(0);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        without_times(&text),
        "Seq,Host,Starttime,JobRuntime,Send,Receive,Exitval,Signal,Command,V1,Stdout,Stderr\n\
         1,:,T,R,0,2,0,0,\"echo a\",a,\"a\n\",\n"
    );
    // -k: records in input order, whatever order the jobs end in (job 1
    // waits for job 3 to finish first).
    let out = env
        .parx([
            "-k",
            "-j3",
            "--results",
            "-.tsv",
            "if [ {} = 1 ]; then while [ ! -e done3 ]; do sleep 0.01; done; fi; \
             if [ {} = 3 ]; then touch done3; fi; echo {}",
            ":::",
            "1",
            "2",
            "3",
        ])
        .expect_code(0);
    let text = String::from_utf8(out.stdout).unwrap();
    // Each record's output is "N\n", so a record's first field starts a line.
    let seqs: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\t:\t"))
        .map(|l| &l[..1])
        .collect();
    assert_eq!(seqs, ["1", "2", "3"], "{text}");
    // --resume adds to the table of the run it resumes (one header).
    let run = |extra: &[&str]| {
        env.parx(["-j1", "--joblog", "rlog", "--results", "r.csv"])
            .arg_last(extra)
            .arg_last(["echo {}; [ {} != b ] || [ -e ok ]", ":::", "a", "b", "c"])
            .output()
    };
    let out = run(&["--halt", "now,fail=1"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    env.write("ok", "");
    let out = run(&["--resume-failed"]);
    assert!(out.status.success(), "{out:?}");
    let table = std::fs::read_to_string(env.path("r.csv")).unwrap();
    // (Each record's Stdout holds a newline: its second line starts `"`.)
    let seqs: Vec<&str> = table
        .lines()
        .filter(|l| !l.starts_with('"'))
        .map(|l| &l[..l.find(',').unwrap()])
        .collect();
    // Header, job 1, job 2 failed, then job 2 again and job 3.
    assert_eq!(seqs, ["Seq", "1", "2", "2", "3"], "{table}");
    let out = env
        .parx(["--results", "no/such/dir/x.json", "true", ":::", "a"])
        .expect_code(255);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "parx: --results: cannot create no/such/dir/x.json: No such file or directory\n"
    );
}

/// Regression (new-user review, issue 5): a job ends when its process
/// exits, as in GNU parallel; a background child still holding its output
/// kept the job, Ctrl-C and --halt waiting, and made --timeout spin.
#[test]
fn a_background_child_does_not_keep_the_job_running() {
    let env = Env::new();
    let marker = format!("3003.{}", std::process::id());
    let started = Instant::now();
    let out = env
        .parx([
            format!("sleep {marker} & echo hi {{}}").as_str(),
            ":::",
            "a",
        ])
        .expect_code(0);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi a\n");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // With a timeout too (it used to busy-loop until the child ended).
    let started = Instant::now();
    env.parx([
        "--timeout",
        "1",
        format!("sleep {marker} & echo hi {{}}").as_str(),
        ":::",
        "b",
    ])
    .expect_code(0);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // And --halt now strikes when the failing job's process exits.
    let started = Instant::now();
    env.parx([
        "-j2",
        "--halt",
        "now,fail=1",
        format!("sleep {marker} & sleep {{}}; exit 3").as_str(),
        ":::",
        "0.2",
        "30",
    ])
    .expect_code(3);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // The background sleepers were left running (as GNU parallel leaves them).
    for pid in sleepers(&marker) {
        let _ = std::process::Command::new("kill")
            .arg(pid.to_string())
            .status();
    }
}

#[test]
fn out_of_processes_means_wait_and_retry_not_fail() {
    // RLIMIT_NPROC does not bind root: run parx as nobody, with room for
    // its own threads and a few jobs only. The other jobs' spawns fail with
    // EAGAIN until running ones end; parx must wait for them, not fail them.
    assert_eq!(
        crate::util::euid(),
        "0",
        "this test drops to user nobody: run it as root (as .ci/run does in CI)"
    );
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let parx = env.path("parx");
    std::fs::copy(crate::util::parx_bin(), &parx).unwrap();
    let mut args: Vec<String> = [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "prlimit",
        "--nproc=12",
        "--",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(parx.display().to_string());
    args.extend(["-j6", "sleep", ":::"].iter().map(|s| s.to_string()));
    args.extend(std::iter::repeat("0.1".to_string()).take(12));
    let out = std::process::Command::new("setpriv")
        .args(&args)
        .current_dir(env.dir.path())
        .output()
        .expect("setpriv and prlimit (util-linux) run");
    assert!(out.status.success(), "{out:?}");
    // Every job ran. (A slot thread that could not start is reported and
    // parx goes on with fewer slots: that is the limit biting, not a job.)
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .lines()
            .all(|l| l.starts_with("parx: warning: running ")),
        "{stderr}"
    );
}

/// A job log as GNU parallel (and parx) write it, from (seq, exitval,
/// signal, command) rows.
fn job_log(rows: &[(u64, i32, i32, &str)]) -> String {
    let mut log =
        String::from("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n");
    for (seq, exitval, signal, command) in rows {
        log.push_str(&format!(
            "{seq}\t:\t1795571416.986\t     0.003\t0\t0\t{exitval}\t{signal}\t{command}\n"
        ));
    }
    log
}

#[test]
fn retry_failed_reruns_the_logged_failures_with_their_commands() {
    let env = Env::new();
    // b and d fail the first time (no file "fixed" yet).
    let job = "echo {}; [ {} = a ] || [ {} = c ] || [ -e fixed ]";
    env.parx(["-j1", "--joblog", "log", job, ":::", "a", "b", "c", "d"])
        .expect_code(2);
    // The command and inputs given now are not used: the logged ones are,
    // each job under its logged number.
    let out = env
        .parx([
            "-j1",
            "--joblog",
            "log",
            "--retry-failed",
            "echo",
            "NOT",
            ":::",
            "x",
        ])
        .expect_code(2);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "b\nd\n");
    env.write("fixed", "");
    let out = env
        .parx([
            "-j1",
            "--joblog",
            "log",
            "--retry-failed",
            "--tagstring",
            "{#}",
        ])
        .expect_code(0);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2\tb\n4\td\n");
    let rows = env.job_log("log");
    let seqs: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(seqs, ["1", "2", "3", "4", "2", "4", "2", "4"]);
    assert_eq!(rows[7][8], "echo d; [ d = a ] || [ d = c ] || [ -e fixed ]");
    // Nothing failed any more: nothing runs, and the log stays as it is.
    let out = env
        .parx(["--joblog", "log", "--retry-failed", "echo", "x"])
        .expect_code(0);
    assert!(out.stdout.is_empty());
    assert_eq!(env.job_log("log").len(), 8);
}

#[test]
fn retry_failed_needs_a_job_log_and_a_missing_one_is_a_first_run() {
    let env = Env::new();
    // GNU parallel ignores --retry-failed without --joblog and runs every
    // job; parx refuses, as it does --resume.
    let out = env
        .parx(["--retry-failed", "echo", ":::", "a"])
        .expect_code(255);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--joblog"));
    assert!(out.stdout.is_empty());
    // No log yet: the command line runs as given (as in GNU parallel), so
    // the same line can be run again until everything succeeded.
    let out = env
        .parx([
            "-k",
            "--joblog",
            "log",
            "--retry-failed",
            "echo",
            ":::",
            "a",
            "b",
        ])
        .expect_code(0);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\nb\n");
    assert_eq!(env.job_log("log").len(), 2);
    // A log with no job in it: nothing to run (GNU parallel runs the
    // inputs as commands there).
    env.write("empty", job_log(&[]));
    let out = env
        .parx(["--joblog", "empty", "--retry-failed", "echo", ":::", "a"])
        .expect_code(0);
    assert!(out.stdout.is_empty());
}

#[test]
fn retry_failed_reads_gnu_parallels_logs_strictly() {
    let env = Env::new();
    // Seq 2 failed, then succeeded on a retry; 3 failed twice (the last
    // command counts); 5 was killed; 4 is not in the log (never ran): it
    // has no command to run.
    env.write(
        "log",
        job_log(&[
            (1, 0, 0, "echo one"),
            (2, 1, 0, "echo two"),
            (3, 1, 0, "echo three-old"),
            (2, 0, 0, "echo two"),
            (3, 2, 0, "echo three"),
            (5, -1, 15, "echo five"),
        ]),
    );
    let out = env
        .parx(["-k", "--joblog", "log", "--retry-failed"])
        .expect_code(0);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "three\nfive\n");
    // A line that is not a job: an error, nothing runs (as GNU parallel).
    let mut bad = job_log(&[(1, 1, 0, "echo one")]);
    bad.push_str("garbage here\n");
    env.write("bad", bad);
    let out = env
        .parx(["--joblog", "bad", "--retry-failed"])
        .expect_code(255);
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 3") && err.contains("garbage here"),
        "{err}"
    );
    // --pipe's blocks are not in the log.
    let out = env
        .parx(["--joblog", "log", "--retry-failed", "--pipe", "cat"])
        .expect_code(255);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--retry-failed"));
}

#[test]
fn retry_failed_gets_a_command_with_a_newline_back_exactly() {
    let env = Env::new();
    // A value with a newline (and a backslash): the log holds the newline
    // as a NUL byte, as GNU parallel writes it, so nothing is lost.
    env.parx(["-0", "--joblog", "log", "printf '[%s]' {}; exit 1"])
        .stdin("a\nb\\n\0")
        .expect_code(1);
    let log = std::fs::read(env.path("log")).unwrap();
    assert!(
        log.windows(3).any(|w| w == b"a\0b"),
        "{}",
        String::from_utf8_lossy(&log)
    );
    assert_eq!(
        log.iter().filter(|&&b| b == b'\n').count(),
        2,
        "one line per job"
    );
    let out = env
        .parx(["--joblog", "log", "--retry-failed"])
        .expect_code(1);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[a\nb\\n]");
}

#[test]
fn retry_failed_keep_order_does_not_wait_for_jobs_that_do_not_run() {
    let env = Env::new();
    // Only 2 and 4 run again. 4 waits for a file this test makes once
    // job 2's output has been printed: -k must not hold 2 back for job 1,
    // 3 or 4.
    env.write(
        "log",
        job_log(&[
            (1, 0, 0, "echo one"),
            (2, 1, 0, "echo two"),
            (3, 0, 0, "echo three"),
            // (Bounded, so that a failing test leaves no job behind.)
            (
                4,
                1,
                0,
                "n=0; until [ -e go ] || [ $n = 3000 ]; do sleep 0.01; n=$((n+1)); done; echo four",
            ),
        ]),
    );
    let mut run = env
        .parx(["-k", "-j2", "--joblog", "log", "--retry-failed"])
        .spawn_guarded();
    let mut stdout = std::io::BufReader::new(run.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut stdout, &mut line);
        let _ = tx.send(line);
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut rest);
        let _ = tx.send(rest);
    });
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("job 2's output came while job 4 still ran");
    assert_eq!(first, "two\n");
    env.write("go", "");
    assert_eq!(rx.recv_timeout(Duration::from_secs(20)).unwrap(), "four\n");
    assert_eq!(run.wait_with_output().status.code(), Some(0));
}

#[test]
fn halt_percentages_are_of_all_the_jobs() {
    let env = Env::new();
    // Ten jobs from stdin (all read first): 25% is 2.5 jobs, so the third
    // failure halts; the status is the percentage failed, 30.
    let input: String = (1..=10).map(|i| format!("{i}\n")).collect();
    let out = env
        .parx(["-j1", "--halt", "now,fail=25%", "echo {}; exit 1"])
        .stdin(&input)
        .expect_code(30);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n2\n3\n");
    // Not reached: the status is still a percentage (of the jobs started).
    let out = env
        .parx([
            "-j1",
            "--halt",
            "soon,fail=50%",
            "echo {}; exit {}",
            ":::",
            "1",
            "0",
            "0",
            "0",
        ])
        .expect_code(25);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n0\n0\n0\n");
    // GNU parallel's floating point: 7% of 100 jobs is 7.000000000000001,
    // so the eighth failure halts.
    let ten: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    let out = env
        .parx(["-j1", "--halt", "soon,fail=7%", "echo {#}; exit 1", ":::"])
        .arg_last(&ten)
        .arg_last([":::"])
        .arg_last(&ten)
        .expect_code(8);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 8);
    // success=N% halts with 0.
    env.parx([
        "-j1",
        "--halt",
        "now,success=50%",
        "exit {}",
        ":::",
        "0",
        "1",
        "0",
        "1",
    ])
    .expect_code(0);
    // --pipe cannot count its blocks ahead (GNU parallel refuses it too).
    let out = env
        .parx(["--pipe", "--halt", "now,fail=10%", "cat"])
        .stdin("a\n")
        .expect_code(255);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--total-jobs"));
    for bad in ["now,fail=2.5%", "now,fail=0%", "30"] {
        let out = env.parx(["--halt", bad, "true"]).expect_code(255);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--halt"),
            "{bad}"
        );
    }
}

#[test]
fn halt_percentage_with_total_jobs_reads_no_input_ahead() {
    let env = Env::new();
    // With --total-jobs the first job runs while stdin is still open.
    let mut run = env
        .command(crate::util::parx_bin())
        .args(["--total-jobs", "4", "--halt", "now,fail=50%", "echo", "got"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = run.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"a\n").unwrap();
    let mut stdout = std::io::BufReader::new(run.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut stdout, &mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(20));
    drop(stdin);
    let status = run.wait().unwrap();
    assert_eq!(line.as_deref(), Ok("got a\n"));
    assert_eq!(status.code(), Some(0));
}

/// `--memfree` inside a memory cgroup of 600 MiB: job 1 holds 100 MiB
/// until job 2 is in the log; job 2 (started 0.3 s later, so the youngest)
/// holds 360 MiB, leaving under half of the 300 MiB asked for. Job 2 is
/// terminated, run again by `--retries` once memory allows, terminated
/// again, and logged as killed by SIGTERM; job 1 is left alone and
/// succeeds. Without cgroup awareness parx would see the machine's memory
/// and kill nothing (job 2 would sleep for 20 s).
#[test]
fn memfree_terminates_the_youngest_job_when_memory_runs_short() {
    let env = Env::new();
    let Some(cgroup) = crate::util::MemoryCgroup::new("parx-memfree", 600 << 20) else {
        return;
    };
    // dd holds its buffer while nothing reads the pipe.
    env.write(
        "hold.sh",
        "dd if=/dev/zero bs=$1M count=1 2>/dev/null | \
         if [ $1 = 100 ]; then until grep -q '^2	' log; do sleep 0.02; done; else sleep 20; fi\n",
    );
    let started = Instant::now();
    let out = cgroup
        .command(
            &env,
            crate::util::parx_bin(),
            &[
                "-j2",
                "--delay",
                "0.3",
                "--memfree",
                "300M",
                "--retries",
                "2",
                "--joblog",
                "log",
                "sh hold.sh {}",
                ":::",
                "100",
                "360",
            ],
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "job 2 was not stopped"
    );
    assert_eq!(
        stderr
            .matches("terminating job 2, the last started")
            .count(),
        2,
        "{stderr}"
    );
    assert!(!stderr.contains("terminating job 1"), "{stderr}");
    let mut rows = env.job_log("log");
    rows.sort();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (&rows[0][0][..], &rows[0][6][..], &rows[0][7][..]),
        ("1", "0", "0")
    );
    assert_eq!(
        (&rows[1][0][..], &rows[1][6][..], &rows[1][7][..]),
        ("2", "0", "15")
    );
    // The jobs really held that memory, and the cgroup never ran out.
    if let Some(peak) = cgroup.peak() {
        assert!(peak > 400 << 20, "peak {peak}");
    }
}

#[test]
fn job_log_on_stdout_follows_each_jobs_output_and_devices_work() {
    let env = Env::new();
    let out = env
        .parx(["-j1", "--joblog", "-", "echo", ":::", "a", "b"])
        .expect_code(0);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(lines[0].starts_with("Seq\tHost"), "{text}");
    assert_eq!(lines[1], "a");
    assert!(lines[2].starts_with("1\t:\t") && lines[2].ends_with("\techo a"));
    assert_eq!(lines[3], "b");
    assert!(lines[4].starts_with("2\t:\t") && lines[4].ends_with("\techo b"));
    // A device is written to as it is (it cannot be truncated).
    let out = env
        .parx(["--joblog", "/dev/null", "echo", ":::", "a"])
        .expect_code(0);
    assert_eq!(out.stdout, b"a\n");
}

#[test]
fn the_halt_message_comes_after_the_jobs_output() {
    let env = Env::new();
    // stdout and stderr into one pipe, to see their order.
    let out = env
        .command("sh")
        .args(["-c", "\"$0\" \"$@\" 2>&1"])
        .arg(crate::util::parx_bin())
        .args([
            "-j1",
            "--halt",
            "now,fail=1",
            "echo out {}; exit {}",
            ":::",
            "0",
            "2",
            "0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "out 0\nout 2\nparx: halting: this job failed: echo out 2; exit 2\n"
    );
}
