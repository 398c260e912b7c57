//! `-S`: jobs on "remote" hosts, two aliases of a throwaway sshd on
//! 127.0.0.1 (util::sshd), over parx's ControlMaster connections.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::ExitStatusExt;

use crate::util::sshd::Sshd;
use crate::util::{wait_for, Env};

fn parx_remote(env: &Env, sshd: &Sshd, logins: &str) -> crate::util::Run {
    env.parx(["--ssh", &sshd.ssh_command(), "-S", logins])
}

#[test]
fn hostile_values_reach_remote_jobs_as_literal_text() {
    let sshd = Sshd::start(&["h1"]);
    let env = Env::new();
    let corpus: Vec<Vec<u8>> = crate::injection::corpus()
        .into_iter()
        .filter(|v| !v.contains(&0))
        .collect();
    let mut args: Vec<OsString> = vec!["-k".into(), "printf '%s\\0' {}".into(), ":::".into()];
    args.extend(corpus.iter().cloned().map(OsString::from_vec));
    let out = parx_remote(&env, &sshd, "2/h1").arg_last(&args).output();
    assert!(out.status.success(), "{out:?}");
    let got: Vec<&[u8]> = out.stdout.split(|&b| b == 0).collect();
    let expected: Vec<&[u8]> = corpus.iter().map(Vec::as_slice).collect();
    assert_eq!(
        &got[..got.len() - 1],
        &expected[..],
        "values changed on the way"
    );
    // Nothing ran as code, on either side.
    let remote = sshd.run("h1", "ls -a");
    assert!(!String::from_utf8_lossy(&remote.stdout).contains("CANARY"));
    assert!(!env.path("CANARY").exists());
}

#[test]
fn two_hosts_share_the_work_and_the_log_names_them() {
    let sshd = Sshd::start(&["h1", "h2"]);
    let env = Env::new();
    let log = env.path("log");
    let out = parx_remote(&env, &sshd, "1/h1,1/h2")
        .arg_last([
            "--joblog",
            log.to_str().unwrap(),
            "-k",
            "sleep 0.2; echo {} $PARX_SEQ",
            ":::",
            "a",
            "b",
            "c",
            "d",
        ])
        .output();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a 1\nb 2\nc 3\nd 4\n");
    let log = std::fs::read_to_string(&log).unwrap();
    let hosts: std::collections::BTreeSet<&str> = log
        .lines()
        .skip(1)
        .map(|l| l.split('\t').nth(1).unwrap())
        .collect();
    assert_eq!(hosts.into_iter().collect::<Vec<_>>(), ["h1", "h2"], "{log}");
}

#[test]
fn exit_statuses_come_back_and_this_machine_can_join() {
    let sshd = Sshd::start(&["h1"]);
    let env = Env::new();
    let out = parx_remote(&env, &sshd, "1/h1,1/:")
        .arg_last(["exit {}", ":::", "0", "3", "0", "4"])
        .output();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn interrupting_parx_leaves_no_remote_process() {
    let sshd = Sshd::start(&["h1"]);
    let env = Env::new();
    let mut run = parx_remote(&env, &sshd, "2/h1")
        .arg_last(["sleep 34 & sleep 34; echo never", ":::", "1", "2", "3"])
        .spawn_guarded();
    wait_for("remote jobs to start", || {
        sshd.processes_of_user()
            .iter()
            .filter(|(_, cmd)| cmd.starts_with("sleep 34"))
            .count()
            == 4
    });
    crate::util::send_signal(run.id(), libc::SIGINT);
    let status = run.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
    wait_for("no remote process left", || {
        sshd.processes_of_user().is_empty()
    });
}

#[test]
fn a_timeout_ends_the_remote_job_too() {
    let sshd = Sshd::start(&["h1"]);
    let env = Env::new();
    let out = parx_remote(&env, &sshd, "1/h1")
        .arg_last(["--timeout", "1", "sleep 35 && echo never", ":::", "a"])
        .output();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("never"));
    wait_for("no remote process left", || {
        sshd.processes_of_user().is_empty()
    });
}

#[test]
fn a_host_that_cannot_be_reached_is_named() {
    let sshd = Sshd::start(&["h1"]);
    let env = Env::new();
    let out = parx_remote(&env, &sshd, "no-such-host.invalid")
        .arg_last(["echo", ":::", "a"])
        .output();
    assert_eq!(out.status.code(), Some(255), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot connect to no-such-host.invalid"),
        "{err}"
    );
}

#[test]
fn files_go_there_and_back_and_are_cleaned_up() {
    let sshd = Sshd::start(&["h1"]);
    let env = Env::new();
    env.write("a.txt", "hello\n");
    std::fs::create_dir(env.path("sub")).unwrap();
    env.write("sub/b c.txt", "world\n");
    std::fs::create_dir_all(env.path("deep/er")).unwrap();
    env.write("deep/er/d.txt", "deeper\n");
    env.write("base.cfg", "base\n");
    // A file left on the host beforehand, beside one of the transfers.
    sshd.run("h1", "mkdir -p sub && echo mine > sub/keep");
    let out = parx_remote(&env, &sshd, "1/h1")
        .arg_last([
            "--basefile",
            "base.cfg",
            "--trc",
            "{}.out",
            "cat base.cfg {} > {}.out",
            ":::",
            "a.txt",
            "sub/b c.txt",
            "deep/er/d.txt",
        ])
        .output();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        std::fs::read_to_string(env.path("a.txt.out")).unwrap(),
        "base\nhello\n"
    );
    assert_eq!(
        std::fs::read_to_string(env.path("sub/b c.txt.out")).unwrap(),
        "base\nworld\n"
    );
    assert_eq!(
        std::fs::read_to_string(env.path("deep/er/d.txt.out")).unwrap(),
        "base\ndeeper\n"
    );
    // --cleanup removed what was sent and returned, the directories that
    // left empty, and (after the last job) the base file; what was there
    // before stays.
    let left = sshd.run("h1", "find . ! -path './.*' | sort");
    assert_eq!(
        String::from_utf8_lossy(&left.stdout),
        ".\n./sub\n./sub/keep\n"
    );
}

#[test]
fn a_per_job_workdir_and_environment() {
    let sshd = Sshd::start(&["h1"]);
    let env = Env::new();
    env.write("in.txt", "12345\n");
    let out = parx_remote(&env, &sshd, "1/h1")
        .env("PARX_TEST_GREETING", "hi there")
        .arg_last([
            "--workdir",
            "...",
            "--env",
            "PARX_TEST_GREETING",
            "--transfer",
            "--return",
            "{}.n",
            "wc -c < {} > {}.n; echo \"$PARX_TEST_GREETING\"; pwd",
            ":::",
            "in.txt",
        ])
        .output();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("hi there\n"), "{stdout}");
    assert!(stdout.contains("/.parx-tmp/"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(env.path("in.txt.n"))
            .unwrap()
            .trim(),
        "6"
    );
    // The per-job directory is gone afterwards.
    let left = sshd.run("h1", "ls -A .parx-tmp");
    assert_eq!(String::from_utf8_lossy(&left.stdout), "");
}

#[test]
fn an_unreachable_host_among_others_is_left_out_with_a_warning() {
    let sshd = Sshd::start(&["h1"]);
    let env = Env::new();
    let out = parx_remote(&env, &sshd, "1/h1,1/no-such-host.invalid")
        .arg_last(["-k", "echo", ":::", "a", "b"])
        .output();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\nb\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: cannot connect to no-such-host.invalid"),
        "{err}"
    );
}

/// Live ssh master connections to `host` started with the client config
/// `config`.
fn masters(config: &std::path::Path, host: &str) -> Vec<u32> {
    let wanted = config.to_string_lossy().into_owned();
    crate::util::command_lines()
        .into_iter()
        .filter(|(_, cmdline)| {
            let text = String::from_utf8_lossy(cmdline).replace('\0', " ");
            text.contains(&wanted)
                && text.contains("ControlMaster=yes")
                && text.trim_end().ends_with(&format!(" {host}"))
        })
        .map(|(pid, _)| pid)
        .collect()
}

/// SIGTERM while parx is still connecting (to a host that accepts the TCP
/// connection and never answers): parx ends at once, and the connection it
/// had already made to the first host is closed rather than left running.
#[test]
fn a_signal_while_connecting_leaves_no_connection_behind() {
    let sshd = Sshd::start(&["h1"]);
    let env = Env::new();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    silent.set_nonblocking(true).unwrap();
    let port = silent.local_addr().unwrap().port();
    let config = env.write(
        "ssh_config",
        format!(
            "{}Host silent\n  HostName 127.0.0.1\n  Port {port}\n",
            std::fs::read_to_string(sshd.config_path()).unwrap()
        ),
    );
    let ssh = format!("ssh -F {}", config.display());
    let mut run = env
        .parx(["--ssh", &ssh, "-S", "h1,silent", "echo", ":::", "a"])
        .spawn_guarded();
    let mut held = Vec::new();
    wait_for("parx to reach the silent host", || match silent.accept() {
        Ok((conn, _)) => {
            held.push(conn);
            true
        }
        Err(_) => false,
    });
    assert_eq!(masters(&config, "h1").len(), 1, "h1's connection is up");
    let sent = std::time::Instant::now();
    crate::util::send_signal(run.id(), libc::SIGTERM);
    let status = run.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
    assert!(sent.elapsed() < std::time::Duration::from_secs(5));
    wait_for("h1's connection to close", || {
        masters(&config, "h1").is_empty() && masters(&config, "silent").is_empty()
    });
}

/// A host that goes away mid-run (its sshd and every session on it
/// killed): it is reported once, the jobs that were running there count
/// as failed and, with --retries, run again on the other host, and every
/// later job goes there too. Every job ends up done exactly once.
#[test]
fn a_host_that_drops_out_hands_its_jobs_to_the_others() {
    let stays = Sshd::start(&["h1"]);
    let goes = Sshd::start(&["h2"]);
    let env = Env::new();
    let config = env.write(
        "ssh_config",
        std::fs::read_to_string(stays.config_path()).unwrap()
            + &std::fs::read_to_string(goes.config_path()).unwrap(),
    );
    let ssh = format!("ssh -F {}", config.display());
    let inputs: Vec<String> = (1..=12).map(|i| i.to_string()).collect();
    let mut args = vec![
        "--ssh".to_string(),
        ssh,
        "-S".into(),
        "2/h1,2/h2".into(),
        "--retries".into(),
        "3".into(),
        "--joblog".into(),
        "log".into(),
        "--tag".into(),
        "sleep 0.4; echo done {}".into(),
        ":::".into(),
    ];
    args.extend(inputs.iter().cloned());
    let run = env.parx(&args).spawn_guarded();
    // Once h2 has jobs running, it goes away.
    wait_for("jobs running on h2", || {
        goes.processes_of_user()
            .iter()
            .any(|(_, cmd)| cmd.starts_with("sleep 0.4"))
    });
    goes.crash();
    let out = run.wait_with_output();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr.matches("lost the connection to h2").count(),
        1,
        "{stderr}"
    );
    let mut done: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap_or("").to_owned())
        .collect();
    done.sort_by_key(|l| l.trim_start_matches("done ").parse::<u32>().unwrap_or(0));
    let expected: Vec<String> = inputs.iter().map(|i| format!("done {i}")).collect();
    assert_eq!(done, expected, "each job's output once");
    // The log has one line per job, each a success.
    let rows = env.job_log("log");
    assert_eq!(rows.len(), 12, "{rows:?}");
    assert!(rows.iter().all(|r| r[6] == "0"), "{rows:?}");
}

/// `--workdir .`: the local directory, relative to the home directory
/// when below it (as GNU parallel), so the remote job runs in the same
/// place below its own home.
#[test]
fn workdir_dot_is_this_directory_below_home() {
    let sshd = Sshd::start(&["h1"]);
    let env = Env::new();
    let name = env
        .dir
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let home = env.dir.path().parent().unwrap();
    let out = parx_remote(&env, &sshd, "1/h1")
        .env("HOME", home)
        .arg_last(["--workdir", ".", "pwd; : {}", ":::", "a"])
        .output();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        sshd.home().join(&name).display().to_string()
    );
}

/// `--pipe -S`: each block goes to its remote job through ssh's stdin,
/// byte for byte (all 256 byte values, no final newline), and the job log
/// has what a local `--pipe` run logs, but the host.
#[test]
fn pipe_blocks_reach_remote_jobs_byte_exact() {
    let sshd = Sshd::start(&["h1", "h2"]);
    let env = Env::new();
    // 2.5 MB of pseudo-random bytes, cut into ~13 blocks of 200 KB.
    let mut state = crate::util::test_seed() | 1;
    let data: Vec<u8> = (0..2_500_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    assert!((0..=255u8).all(|b| data.contains(&b)));
    let pipe = ["--pipe", "--block", "200k", "--recend", "", "-k"];
    let out = parx_remote(&env, &sshd, "2/h1,2/h2")
        .arg_last(pipe)
        .arg_last(["--joblog", "remote.log", "cat"])
        .stdin(&data)
        .output();
    assert!(
        out.status.success(),
        "{:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout == data, "the blocks came back changed");
    // Per block: its size and checksum, from remote and local jobs alike.
    let sums = |run: crate::util::Run, log: &str| {
        let out = run
            .arg_last(pipe)
            .arg_last(["--joblog", log, "wc -c; cksum"])
            .stdin(&data)
            .output();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let remote = sums(parx_remote(&env, &sshd, "2/h1,2/h2"), "remote-sums.log");
    let local = sums(env.parx(["-j", "4"]), "local-sums.log");
    assert_eq!(remote, local);
    assert_eq!(remote.lines().count(), 2 * 13, "{remote}");
    // The logs agree in everything but the host and the times.
    let columns = |log: &str| {
        let mut rows: Vec<Vec<String>> = env
            .job_log(log)
            .into_iter()
            .map(|r| [0, 4, 5, 6, 7, 8].iter().map(|&i| r[i].clone()).collect())
            .collect();
        rows.sort_by_key(|r| r[0].parse::<u64>().unwrap());
        rows
    };
    assert_eq!(columns("remote-sums.log"), columns("local-sums.log"));
    // --pipe-part: the parts go from the file through ssh just as well.
    env.write("data", &data);
    let out = parx_remote(&env, &sshd, "2/h1,2/h2")
        .arg_last(["--pipe-part", "-a", "data", "--block", "300k"])
        .arg_last(["--recend", "", "-k", "cat"])
        .output();
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout == data, "the parts came back changed");
    let hosts: std::collections::BTreeSet<String> = env
        .job_log("remote.log")
        .into_iter()
        .map(|r| r[1].clone())
        .collect();
    assert_eq!(hosts.into_iter().collect::<Vec<_>>(), ["h1", "h2"]);
}

/// Block feeding that has no length up front (`--round-robin`) or that
/// names a local file (`--cat`, `--fifo`) is refused with -S, before any
/// connection is made.
#[test]
fn pipe_modes_that_cannot_work_remotely_are_refused() {
    let env = Env::new();
    for mode in ["--round-robin", "--cat", "--fifo"] {
        let out = env
            .parx(["-S", "no-such-host.invalid", "--pipe", mode, "cat"])
            .output();
        assert_eq!(out.status.code(), Some(255), "{mode}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("cannot be used with -S"), "{mode}: {err}");
    }
}

/// A remote `--pipe` job that reads only the start of its block, or none
/// of it, succeeds and holds nothing up, and gets a pipe as stdin as a
/// local one does; the copy of its block on the host is gone once it ends.
#[test]
fn a_remote_pipe_job_need_not_read_its_whole_block() {
    let sshd = Sshd::start(&["h1"]);
    let env = Env::new();
    // Block copies on the host: the test user's uid may be an old one's,
    // so only files that were not there before count.
    let blocks = || {
        let out = sshd.run(
            "h1",
            "find /tmp -maxdepth 1 -name 'parx-block.*' -user \"$(id -u)\"",
        );
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect::<std::collections::BTreeSet<String>>()
    };
    let before = blocks();
    let input: String = (1..=200_000).map(|i| format!("{i}\n")).collect();
    let out = parx_remote(&env, &sshd, "2/h1")
        .arg_last([
            "--pipe",
            "--block",
            "300k",
            "-k",
            // What the job's stdin is, then the first line of its block
            // (job 2 reads none of it).
            "readlink /proc/$$/fd/0 | cut -d: -f1; if [ {#} = 2 ]; then echo none; else head -n 1; fi",
        ])
        .stdin(&input)
        .output();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.len() >= 8, "{stdout}");
    assert!(lines.iter().step_by(2).all(|&l| l == "pipe"), "{stdout}");
    let firsts: Vec<&str> = lines.iter().skip(1).step_by(2).copied().collect();
    assert_eq!(firsts[..2], ["1", "none"], "{stdout}");
    assert!(
        firsts[2..].iter().all(|l| l.parse::<u32>().is_ok()),
        "{stdout}"
    );
    // No job left running, and no copy of a block left in the host's /tmp.
    wait_for("no remote process left", || {
        sshd.processes_of_user().is_empty()
    });
    let left: Vec<String> = blocks().difference(&before).cloned().collect();
    assert!(left.is_empty(), "{left:?}");
}

/// `--pipe -S` with Ctrl-C or --timeout: remote jobs that never read their
/// block are still terminated when the channel closes.
#[test]
fn remote_pipe_jobs_end_with_parx() {
    let sshd = Sshd::start(&["h1"]);
    let env = Env::new();
    let input: String = (1..=100_000).map(|i| format!("{i}\n")).collect();
    let out = parx_remote(&env, &sshd, "2/h1")
        .arg_last(["--pipe", "--block", "200k", "--timeout", "1", "sleep 37"])
        .stdin(&input)
        .output();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    wait_for("no remote process left after --timeout", || {
        sshd.processes_of_user().is_empty()
    });
    let mut run = parx_remote(&env, &sshd, "2/h1")
        .arg_last(["--pipe", "--block", "200k", "sleep 38"])
        .stdin(&input)
        .spawn_guarded();
    wait_for("remote jobs to start", || {
        sshd.processes_of_user()
            .iter()
            .filter(|(_, cmd)| cmd.starts_with("sleep 38"))
            .count()
            == 2
    });
    crate::util::send_signal(run.id(), libc::SIGINT);
    let status = run.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
    wait_for("no remote process left after Ctrl-C", || {
        sshd.processes_of_user().is_empty()
    });
}

/// A remote job that ends by a signal (or an exit) shows in the job log
/// and the exit status as GNU parallel -S shows it (Exitval 128 + the
/// signal, Signal 0: the remote shell's view), with no shell message
/// added to its stderr. GNU parallel runs against the same sshd.
#[test]
fn remote_signal_deaths_are_logged_as_gnu_parallel_logs_them() {
    let sshd = Sshd::start(&["h1"]);
    let env = Env::new();
    let jobs = ["kill -9 $$", "kill -TERM $$", "exit 3", "echo fine"];
    let run = |program: &str, log: &str| {
        let mut cmd = env.command(program);
        if program == "parallel" {
            cmd.arg("--will-cite");
        } else {
            cmd = env.command(crate::util::parx_bin());
        }
        cmd.args(["--ssh", &sshd.ssh_command(), "-S", "1/h1", "-k"])
            .args(["--joblog", log, ":::"])
            .args(jobs)
            .stdin(std::process::Stdio::null());
        let out = cmd.output().unwrap();
        let mut rows: Vec<Vec<String>> = env
            .job_log(log)
            .into_iter()
            .map(|r| [0, 1, 6, 7, 8].iter().map(|&i| r[i].clone()).collect())
            .collect();
        rows.sort_by_key(|r| r[0].parse::<u64>().unwrap());
        (out.status.code(), out.stdout, out.stderr, rows)
    };
    let parx = run("parx", "parx.log");
    let gnu = run("parallel", "gnu.log");
    assert_eq!(parx, gnu, "parx, then GNU parallel");
    assert_eq!(parx.3[0][2..4], ["137", "0"]);
    assert_eq!(parx.3[1][2..4], ["143", "0"]);
    assert_eq!(String::from_utf8_lossy(&parx.2), "");
}

/// Lets remote job `n` (blocked in `cat gate/n`, a named pipe in the test
/// user's home) go on: opens the pipe for writing, from a thread since that
/// waits for the job to open it, and closes it.
fn release(sshd: &Sshd, n: u32) -> std::thread::JoinHandle<()> {
    let fifo = sshd.home().join(format!("gate/{n}"));
    std::thread::spawn(move || drop(std::fs::OpenOptions::new().write(true).open(fifo)))
}

/// Whether remote job `n` is waiting in `cat gate/n`.
fn waiting(sshd: &Sshd, n: u32) -> bool {
    let wanted = format!("cat gate/{n}");
    sshd.processes_of_user()
        .iter()
        .any(|(_, cmd)| *cmd == wanted)
}

/// `--slf FILE` is read again when it changes, as GNU parallel does: a
/// host added starts taking jobs at once, a host taken away finishes its
/// running job and takes no new one.
#[test]
fn slf_is_read_again_when_it_changes() {
    let sshd = Sshd::start(&["h1", "h2"]);
    let env = Env::new();
    let jobs = 6;
    let fifos: Vec<String> = (1..=jobs).map(|n| format!("gate/{n}")).collect();
    let made = sshd.run("h1", &format!("mkdir gate && mkfifo {}", fifos.join(" ")));
    assert!(made.status.success(), "{made:?}");
    let slf = env.write("hosts", "# the hosts\n1/h1\n");
    let inputs: Vec<String> = (1..=jobs).map(|n| n.to_string()).collect();
    let run = env
        .parx(["--ssh", &sshd.ssh_command(), "--slf"])
        .arg_last([slf.to_str().unwrap(), "--joblog", "log", "-k"])
        .arg_last(["cat gate/{}; echo {} $PARX_SLOT", ":::"])
        .arg_last(&inputs)
        .spawn_guarded();
    wait_for("job 1 on h1", || waiting(&sshd, 1));
    // h1 goes, h2 comes with two slots: jobs 2 and 3 start there while
    // job 1 still runs on h1.
    std::fs::write(&slf, "2/h2\n").unwrap();
    wait_for("jobs 2 and 3 on h2", || {
        waiting(&sshd, 2) && waiting(&sshd, 3)
    });
    assert!(waiting(&sshd, 1), "job 1 goes on");
    // Job 1 ends while h2's slots are busy: its slot, now without a host,
    // must stay idle (it would take job 4 at once).
    release(&sshd, 1).join().unwrap();
    wait_for("job 1 in the log", || {
        std::fs::read_to_string(env.path("log")).is_ok_and(|l| l.contains("\n1\th1\t"))
    });
    let releases: Vec<_> = (2..=jobs).map(|n| release(&sshd, n)).collect();
    let out = run.wait_with_output();
    for r in releases {
        r.join().unwrap();
    }
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), jobs as usize, "{stdout}");
    // Job 1 ran in slot 1; h2 got two free slots (slot 1 was busy).
    assert_eq!(lines[0], "1 1", "{stdout}");
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.ends_with(" 2") || l.ends_with(" 3")),
        "{stdout}"
    );
    let hosts: Vec<(String, String)> = env
        .job_log("log")
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_iter()
        .collect();
    let expected: Vec<(String, String)> = (1..=jobs)
        .map(|n| (n.to_string(), if n == 1 { "h1" } else { "h2" }.to_string()))
        .collect();
    assert_eq!(hosts, expected);
}
