//! Running one job: spawn the process in its own process group, collect its
//! output, wait for it, and report how it ended.
//!
//! Spawning goes through `std::process::Command` without `pre_exec`, which
//! keeps std's posix_spawn fast path. The job's stdout and stderr are pipes
//! drained with poll(2) by the slot's own thread (no thread per job); the
//! exit is awaited without reaping first, so the process group can be
//! signalled safely until parx forgets it.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use crate::output::{Captured, LineError, LineSplitter, Terminal, WriteError, JOB_MEMORY_BYTES};
use crate::signal::{Control, StopCause};
use crate::sys;

/// What to execute for one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// Run this argv directly (the template was plain).
    Direct(Vec<OsString>),
    /// Run this line with the shell.
    Shell(Vec<u8>),
}

/// Where jobs' output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// Whole jobs, in completion order.
    Group,
    /// Whole jobs, in input order.
    KeepOrder,
    /// Complete lines as they come.
    LineBuffer,
    /// Straight to parx's stdout and stderr.
    Ungroup,
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Exited with this code.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
    /// Could not be started; the code a shell would give (126 or 127).
    NotStarted(i32),
}

impl Status {
    /// True for exit code 0.
    pub fn is_success(self) -> bool {
        self == Status::Exited(0)
    }
}

/// What the job runner needs besides the job.
#[derive(Debug, Clone)]
pub struct ExecSettings {
    /// Shell program and its leading arguments (`-c LINE` is added).
    pub shell: Vec<OsString>,
    /// Give jobs /dev/null as stdin (stdin is an input source).
    pub stdin_null: bool,
    /// Output handling.
    pub mode: OutputMode,
    /// Where output spills.
    pub tmpdir: PathBuf,
}

/// A finished job.
#[derive(Debug)]
pub struct Outcome {
    /// How it ended.
    pub status: Status,
    /// Its output, for grouped modes.
    pub captured: Option<Captured>,
}

/// Per-slot scratch space, reused from job to job.
pub struct Scratch {
    buf: Vec<u8>,
}

impl Default for Scratch {
    fn default() -> Self {
        Self {
            buf: vec![0; 64 * 1024],
        }
    }
}

fn build_command(line: &CommandLine, settings: &ExecSettings) -> Command {
    let mut cmd = match line {
        CommandLine::Direct(argv) => {
            let mut c = Command::new(&argv[0]);
            c.args(&argv[1..]);
            c
        }
        CommandLine::Shell(text) => {
            let mut c = Command::new(&settings.shell[0]);
            c.args(&settings.shell[1..])
                .arg("-c")
                .arg(OsStr::from_bytes(text));
            c
        }
    };
    cmd.process_group(0);
    cmd.stdin(if settings.stdin_null {
        Stdio::null()
    } else {
        Stdio::inherit()
    });
    if settings.mode == OutputMode::Ungroup {
        cmd.stdout(Stdio::inherit()).stderr(Stdio::inherit());
    } else {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    cmd
}

/// The message and shell-style status for a command that could not start.
fn spawn_failure(line: &CommandLine, settings: &ExecSettings, err: &io::Error) -> (String, i32) {
    let name = match line {
        CommandLine::Direct(argv) => argv[0].to_string_lossy().into_owned(),
        CommandLine::Shell(_) => settings.shell[0].to_string_lossy().into_owned(),
    };
    match err.kind() {
        io::ErrorKind::NotFound => (format!("parx: {name}: command not found\n"), 127),
        io::ErrorKind::PermissionDenied => (format!("parx: {name}: cannot execute: permission denied\n"), 126),
        io::ErrorKind::InvalidInput => (
            format!("parx: cannot run {name}: an argument holds a NUL byte, which a command line cannot carry\n"),
            126,
        ),
        _ => (format!("parx: cannot run {name}: {err}\n"), 126),
    }
}

/// Runs one job to completion in slot `slot` (0-based).
#[allow(clippy::too_many_arguments)]
pub fn run_job(
    line: &CommandLine,
    seq: u64,
    slot: usize,
    tag: Option<Vec<u8>>,
    settings: &ExecSettings,
    control: &Arc<Control>,
    terminal: &Terminal,
    scratch: &mut Scratch,
) -> Outcome {
    let mut cmd = build_command(line, settings);
    let mut seq_text = itoa_buf(seq);
    cmd.env("PARX_SEQ", OsStr::from_bytes(&seq_text));
    seq_text = itoa_buf(slot as u64 + 1);
    cmd.env("PARX_SLOT", OsStr::from_bytes(&seq_text));

    let mut captured = Captured {
        tag,
        ..Captured::default()
    };
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(err) => {
            let (message, code) = spawn_failure(line, settings, &err);
            match settings.mode {
                OutputMode::Group | OutputMode::KeepOrder => {
                    // Part of the job's own stderr, so it lands in order.
                    let _ =
                        captured
                            .err
                            .append(message.as_bytes(), JOB_MEMORY_BYTES, &settings.tmpdir);
                }
                OutputMode::LineBuffer | OutputMode::Ungroup => terminal.message(&message),
            }
            return Outcome {
                status: Status::NotStarted(code),
                captured: Some(captured),
            };
        }
    };
    let pid = child.id();
    control.register(slot, pid);

    if settings.mode != OutputMode::Ungroup {
        drain(
            &mut child,
            &mut captured,
            settings,
            control,
            terminal,
            scratch,
        );
    }

    // Wait without reaping, forget the group, then reap: a signal sent by
    // the termination sequence can never reach a recycled process group.
    let waited = sys::wait_exit_keep_zombie(pid);
    control.unregister(slot);
    let status = match (waited, child.wait()) {
        (_, Ok(status)) => match (status.code(), status.signal()) {
            (Some(code), _) => Status::Exited(code),
            (None, Some(sig)) => Status::Signaled(sig),
            (None, None) => Status::Exited(255),
        },
        (_, Err(err)) => {
            terminal.message(&format!("parx: cannot wait for job {seq}: {err}\n"));
            Status::Exited(255)
        }
    };
    Outcome {
        status,
        captured: Some(captured),
    }
}

fn itoa_buf(n: u64) -> Vec<u8> {
    n.to_string().into_bytes()
}

/// Reads the job's stdout and stderr until both close.
fn drain(
    child: &mut Child,
    captured: &mut Captured,
    settings: &ExecSettings,
    control: &Arc<Control>,
    terminal: &Terminal,
    scratch: &mut Scratch,
) {
    let mut out = child.stdout.take().expect("stdout is piped");
    let mut err = child.stderr.take().expect("stderr is piped");
    let mut open = [true, true];
    let mut splitters = [LineSplitter::default(), LineSplitter::default()];
    // After the first failure the rest of the output is read and dropped,
    // so the job never blocks on a full pipe.
    let mut failed = false;
    let tag = captured.tag.clone();

    while open[0] || open[1] {
        let fds = [open[0].then(|| out.as_fd()), open[1].then(|| err.as_fd())];
        let Ok(ready) = sys::poll_readable(fds) else {
            break;
        };
        for stream in 0..2 {
            if !ready[stream] {
                continue;
            }
            let reader: &mut dyn Read = if stream == 0 { &mut out } else { &mut err };
            let n = match reader.read(&mut scratch.buf) {
                Ok(0) | Err(_) => {
                    open[stream] = false;
                    continue;
                }
                Ok(n) => n,
            };
            if failed {
                continue;
            }
            let data = &scratch.buf[..n];
            let result = match settings.mode {
                OutputMode::LineBuffer => splitters[stream].feed(
                    data,
                    terminal,
                    stream == 1,
                    tag.as_deref(),
                    &settings.tmpdir,
                ),
                _ => {
                    let other = if stream == 0 {
                        captured.err.memory_len()
                    } else {
                        captured.out.memory_len()
                    };
                    let budget = JOB_MEMORY_BYTES.saturating_sub(other);
                    let spool = if stream == 0 {
                        &mut captured.out
                    } else {
                        &mut captured.err
                    };
                    spool
                        .append(data, budget, &settings.tmpdir)
                        .map_err(LineError::Spill)
                }
            };
            if let Err(e) = result {
                failed = true;
                report(e, captured, control, terminal);
            }
        }
    }
    if settings.mode == OutputMode::LineBuffer && !failed {
        for (stream, splitter) in splitters.iter_mut().enumerate() {
            if let Err(e) = splitter.finish(terminal, stream == 1, tag.as_deref()) {
                report(e, captured, control, terminal);
                break;
            }
        }
    }
}

fn report(error: LineError, captured: &mut Captured, control: &Arc<Control>, terminal: &Terminal) {
    match error {
        LineError::Write(WriteError::Stdout(e)) => stop_on_output_error(&e, control, terminal),
        LineError::Write(WriteError::Stderr(_)) => {}
        LineError::Spill(e) => {
            captured.lost = Some(e.to_string());
        }
    }
}

/// A write to parx's stdout failed: a closed pipe is a quiet stop, anything
/// else is reported once.
pub fn stop_on_output_error(err: &io::Error, control: &Arc<Control>, terminal: &Terminal) {
    if err.kind() == io::ErrorKind::BrokenPipe {
        control.stop(StopCause::BrokenPipe);
    } else {
        if !control.is_stopping() {
            terminal.message(&format!("parx: cannot write output: {err}\n"));
        }
        control.stop(StopCause::OwnError);
    }
}
