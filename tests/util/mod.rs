//! The test harness: a temporary directory per test, a wrapper around the
//! parx binary, a deterministic child program, a throwaway sshd
//! ([`sshd`]) and a throwaway Slurm cluster ([`slurm`]).

#![allow(dead_code)]

pub mod slurm;
pub mod sshd;

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// Path of the built parx binary.
pub fn parx_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_parx"))
}

/// A test child program, compiled once per test run from tests/child.rs:
/// prints its argv (NUL-terminated) to stdout, and follows a few
/// instructions from its environment. It is an external program, so
/// templates that use it run on parx's direct (no shell) path.
pub fn child_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let target = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("parx-testchild");
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join("child.rs");
        let fresh = std::fs::metadata(&target)
            .and_then(|t| Ok(t.modified()? >= std::fs::metadata(&source)?.modified()?))
            .unwrap_or(false);
        if !fresh {
            let tmp = target.with_extension(format!("tmp{}", std::process::id()));
            let status = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
                .args(["-O", "--edition", "2021", "-o"])
                .arg(&tmp)
                .arg(&source)
                .status()
                .expect("rustc runs");
            assert!(status.success(), "compiling the test child failed");
            std::fs::rename(&tmp, &target).unwrap();
        }
        target
    })
}

/// One test's scratch directory and command builder.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    /// The lines of file `name` in this directory, sorted (none if it
    /// does not exist).
    pub fn sorted_lines(&self, name: &str) -> Vec<String> {
        sorted_lines(&std::fs::read_to_string(self.path(name)).unwrap_or_default())
    }

    /// The rows of the job log `name` (its header checked and left out),
    /// split into their nine columns.
    #[track_caller]
    pub fn job_log(&self, name: &str) -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(self.path(name)).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand")
        );
        lines
            .map(|l| l.splitn(9, '\t').map(str::to_owned).collect())
            .collect()
    }

    /// A parx command running in this directory, with no PARX_* settings
    /// leaking in from the outer environment.
    pub fn parx<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let cmd = self.command(parx_bin());
        let args = args
            .into_iter()
            .map(|a| a.as_ref().to_os_string())
            .collect();
        Run {
            cmd,
            args,
            stdin: None,
            stdin_file: None,
        }
    }

    /// A command for `program` running in this directory, cleaned of outer
    /// settings the way [`Env::parx`] is (for tests that run another
    /// program in parx's place, such as GNU xargs).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(self.dir.path());
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("PARX_") {
                cmd.env_remove(k);
            }
        }
        // cargo runs tests under its own jobserver; parx would join it.
        for k in ["CARGO_MAKEFLAGS", "MAKEFLAGS", "MFLAGS"] {
            cmd.env_remove(k);
        }
        // GNU parallel's default options, which parx reads too.
        cmd.env_remove("PARALLEL");
        cmd.env("TMPDIR", self.dir.path());
        cmd
    }
}

pub struct Run {
    pub cmd: Command,
    args: Vec<OsString>,
    stdin: Option<Vec<u8>>,
    /// Stdin is this file itself (seekable), not a pipe.
    stdin_file: Option<std::fs::File>,
}

impl Run {
    /// Puts `args` before the arguments given so far.
    pub fn arg_first<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut all: Vec<OsString> = args
            .into_iter()
            .map(|a| a.as_ref().to_os_string())
            .collect();
        all.append(&mut self.args);
        self.args = all;
        self
    }

    /// Adds `args` after the arguments given so far.
    pub fn arg_last<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Starts parx like [`Run::spawn`], killed if the test fails first.
    pub fn spawn_guarded(self) -> Running {
        Running(Some(self.spawn()))
    }

    /// As [`Run::spawn_guarded`], with parx's stderr going to the file
    /// `path`, which the test can read while parx runs.
    pub fn spawn_logging_stderr(mut self, path: &Path) -> Running {
        self.cmd.args(&self.args);
        self.cmd
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(path).unwrap())
            .stdin(Stdio::null());
        Running(Some(self.cmd.spawn().expect("parx starts")))
    }

    /// Starts parx with piped stdout/stderr and the given stdin.
    pub fn spawn(mut self) -> std::process::Child {
        self.cmd.args(&self.args);
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        self.cmd.stdin(if let Some(file) = self.stdin_file.take() {
            Stdio::from(file)
        } else if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = self.cmd.spawn().expect("parx starts");
        if let Some(data) = self.stdin.take() {
            let mut pipe = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                let _ = pipe.write_all(&data);
            });
        }
        child
    }

    pub fn stdin(mut self, data: impl AsRef<[u8]>) -> Self {
        self.stdin = Some(data.as_ref().to_vec());
        self
    }

    /// Stdin is `file` itself, as with `parx < FILE` (a pipe otherwise).
    pub fn stdin_file(mut self, file: std::fs::File) -> Self {
        self.stdin_file = Some(file);
        self
    }

    pub fn env(mut self, k: &str, v: impl AsRef<OsStr>) -> Self {
        self.cmd.env(k, v);
        self
    }

    /// Runs with stdout going to `out` (a file, /dev/full); collects stderr.
    pub fn run_with_stdout(mut self, out: std::fs::File) -> Output {
        self.cmd.args(&self.args);
        self.cmd.stdout(out).stderr(Stdio::piped());
        self.cmd.stdin(Stdio::piped());
        let mut child = self.cmd.spawn().expect("parx starts");
        let mut pipe = child.stdin.take().unwrap();
        let data = self.stdin.take().unwrap_or_default();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
        child.wait_with_output().unwrap()
    }

    pub fn output(self) -> Output {
        self.spawn().wait_with_output().unwrap()
    }

    /// Runs and checks the exit status; returns stdout.
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Output {
        let out = self.output();
        assert_eq!(
            out.status.code(),
            Some(code),
            "exit status\n--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    #[track_caller]
    pub fn stdout(self) -> String {
        String::from_utf8(self.expect_code(0).stdout).unwrap()
    }
}

/// Lines of `text`, sorted (for output whose order is free).
pub fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// What a measured run of parx gave: its peak RSS, the bytes it wrote to
/// stdout, and its exit status.
pub struct Measured {
    pub peak_rss_kib: u64,
    pub stdout_bytes: u64,
    pub status: std::process::ExitStatus,
}

/// Runs parx under GNU time and returns its peak RSS. Measured from a
/// small parent on purpose: Linux carries the RSS high-water mark of the
/// process that spawns a child into the child's accounting, so neither
/// sampling /proc (a short run ends first) nor wait4 from this large test
/// process gives parx's own peak.
pub fn measure(run: Run) -> Measured {
    let mut run = run;
    let program = run.cmd.get_program().to_os_string();
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped.arg("-f").arg("parx-peak-rss-kib=%M").arg(program);
    wrapped.current_dir(run.cmd.get_current_dir().expect("Env sets a directory"));
    for (k, v) in run.cmd.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    run.cmd = wrapped;
    let mut child = run.spawn();
    let mut stdout = child.stdout.take().unwrap();
    let counter = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => return total,
                Ok(n) => total += n as u64,
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let peak = stderr
        .lines()
        .find_map(|l| l.strip_prefix("parx-peak-rss-kib="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| {
            panic!("no measurement from /usr/bin/time (install the time package): {stderr}")
        });
    Measured {
        peak_rss_kib: peak,
        stdout_bytes: counter.join().unwrap(),
        status: out.status,
    }
}

/// A running parx that is killed if the test panics before reaping it, so a
/// failing test cannot leave processes behind.
pub struct Running(Option<std::process::Child>);

impl Running {
    /// Waits for parx and collects its output.
    pub fn wait_with_output(mut self) -> Output {
        self.0
            .take()
            .expect("not yet reaped")
            .wait_with_output()
            .unwrap()
    }
}

impl Drop for Running {
    /// A test that failed while parx ran: SIGTERM first, so parx stops its
    /// jobs (SIGKILL would leave them running, loading the machine for the
    /// tests after), then SIGKILL if it has not exited within seconds.
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            if let Ok(None) = child.try_wait() {
                send_signal(child.id(), libc::SIGTERM);
                let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
                while std::time::Instant::now() < until {
                    if let Ok(Some(_)) = child.try_wait() {
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl std::ops::Deref for Running {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        self.0.as_ref().expect("not yet reaped")
    }
}

impl std::ops::DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.0.as_mut().expect("not yet reaped")
    }
}

/// Waits (polling, with a generous safety timeout) until `cond` holds.
#[track_caller]
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends `signal` to process `pid`, which must exist (with kill(1): the
/// tests have no unsafe code).
#[track_caller]
pub fn send_signal(pid: u32, signal: i32) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Whether a live (not zombie) process has this pid.
pub fn is_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z'))
    })
}

/// The tests' effective uid, as /proc/self/status gives it ("?" if not).
pub fn euid() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .unwrap_or("?")
        .to_owned()
}

/// Live (not zombie) processes with their command lines (arguments
/// NUL-terminated, as /proc gives them).
pub fn command_lines() -> Vec<(u32, Vec<u8>)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            is_alive(pid).then_some((pid, cmdline))
        })
        .collect()
}

/// Pids of live (not zombie) `sleep SECONDS` processes: tests give their
/// sleepers a unique duration to find them.
pub fn sleepers(seconds: &str) -> Vec<u32> {
    let wanted = format!("sleep\0{seconds}\0");
    command_lines()
        .into_iter()
        .filter(|(_, cmdline)| cmdline == wanted.as_bytes())
        .map(|(pid, _)| pid)
        .collect()
}

/// A memory cgroup of the tests' own (cgroup v1's `memory` hierarchy, or
/// v2 where the memory controller can be enabled), removed when dropped.
pub struct MemoryCgroup {
    pub dir: PathBuf,
    v2: bool,
}

impl MemoryCgroup {
    /// A new cgroup under the test process's own, limited to `bytes`; `None`
    /// (after saying why on stderr) where this machine gives no memory
    /// cgroup to write to (not root, no controller).
    pub fn new(name: &str, bytes: u64) -> Option<Self> {
        let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let found = own.lines().find_map(|line| {
            let mut f = line.splitn(3, ':');
            let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
            if controllers.split(',').any(|c| c == "memory") {
                Some((PathBuf::from("/sys/fs/cgroup/memory"), path, false))
            } else if controllers.is_empty()
                && Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
            {
                Some((PathBuf::from("/sys/fs/cgroup"), path, true))
            } else {
                None
            }
        });
        let Some((root, path, v2)) = found else {
            eprintln!("skipped: no memory cgroup in /proc/self/cgroup");
            return None;
        };
        let dir = root
            .join(path.trim_start_matches('/'))
            .join(format!("{name}.{}", std::process::id()));
        let limit_file = if v2 {
            "memory.max"
        } else {
            "memory.limit_in_bytes"
        };
        let made = std::fs::create_dir(&dir)
            .and_then(|()| std::fs::write(dir.join(limit_file), bytes.to_string()));
        if let Err(err) = made {
            eprintln!(
                "skipped: cannot make a memory cgroup at {}: {err}",
                dir.display()
            );
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        Some(Self { dir, v2 })
    }

    /// The most memory charged to the cgroup so far (v1), if known.
    pub fn peak(&self) -> Option<u64> {
        let name = if self.v2 {
            "memory.peak"
        } else {
            "memory.max_usage_in_bytes"
        };
        std::fs::read_to_string(self.dir.join(name))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// A command that runs `program` with `args` inside this cgroup.
    pub fn command(&self, env: &Env, program: &Path, args: &[&str]) -> Command {
        let mut cmd = env.command("sh");
        cmd.arg("-c")
            .arg("echo $$ > \"$0/cgroup.procs\" && exec \"$@\"")
            .arg(&self.dir)
            .arg(program)
            .args(args);
        cmd
    }
}

impl Drop for MemoryCgroup {
    fn drop(&mut self) {
        // Empty once its processes ended; a test that failed early may
        // leave some running for a moment.
        for _ in 0..100 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A seed for a test's random choices: `PARX_TEST_SEED` if set (to replay a
/// failure), the clock otherwise. Tests put it in every failure message.
pub fn test_seed() -> u64 {
    std::env::var("PARX_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
}

/// The fields of /proc/PID/stat after the command name: state, ppid,
/// pgrp, session, ... (`None` once the process is gone).
pub fn proc_stat(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// Pids of every process on the machine, with their stat fields (see
/// [`proc_stat`]).
pub fn processes() -> Vec<(u32, Vec<String>)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, proc_stat(pid)?)))
        .collect()
}

/// SIGKILLs every live process of session `sid` until none is left (a
/// process may still be on its way from fork to exec when first seen).
pub fn kill_session(sid: u32) {
    let sid = sid.to_string();
    wait_for("the session's processes to die", || {
        let live: Vec<String> = processes()
            .into_iter()
            .filter(|(_, f)| f.get(3) == Some(&sid) && f.first().is_some_and(|s| s != "Z"))
            .map(|(pid, _)| pid.to_string())
            .collect();
        if live.is_empty() {
            return true;
        }
        let _ = Command::new("kill").arg("-9").args(&live).status();
        false
    });
}
