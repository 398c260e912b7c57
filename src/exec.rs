//! Running one job: spawn the process in its own process group, collect its
//! output, wait for it, and report how it ended.
//!
//! A command line is spawned with posix_spawn from parx's own buffers
//! (parx's `spawn` module: a packed command is not copied an argument at a
//! time); a library user's `std::process::Command` is spawned by std. The
//! job's stdout and stderr are pipes drained with poll(2) by the slot's own
//! thread (no thread per job); the exit is awaited without reaping first,
//! so the process group can be signalled safely until parx forgets it.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::output::{Captured, LineError, LineSplitter, Terminal, WriteError, JOB_MEMORY_BYTES};
use crate::pipe::{Block, Body};
use crate::signal::{Control, StopCause, TermStep, TermWalk};
use crate::{spawn, sys};

/// An argument vector in one buffer: the arguments' bytes back to back
/// and where each ends (a packed command holds hundreds of thousands of
/// arguments). The same store as a job's values.
pub use crate::input::Values as Argv;

/// What to execute for one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// Run this argv directly (the template was plain).
    Direct(Argv),
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

/// What a job reads as its stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStdin {
    /// parx's own stdin.
    Inherit,
    /// /dev/null (parx's stdin is the input, or a terminal jobs must not get).
    Null,
    /// The controlling terminal, opened afresh (xargs' `-o`). The job then
    /// stays in parx's process group, or the terminal would stop it.
    Terminal,
}

/// Which tool parx is being: the environment jobs get and how parx words
/// its messages about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialect {
    /// Main mode: `PARX_SEQ`, `PARX_SLOT` and GNU parallel's names for them.
    Parallel,
    /// xargs mode: no variables but `--process-slot-var` (counted from 0),
    /// and errors worded as xargs words them, after `prefix: `.
    Xargs {
        /// `parx` or `xargs`, as parx was invoked.
        prefix: &'static str,
        /// `--process-slot-var NAME`.
        slot_var: Option<OsString>,
    },
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
    /// What jobs read.
    pub stdin: JobStdin,
    /// Main mode's or xargs mode's environment and messages.
    pub dialect: Dialect,
    /// Run each job in a process group of its own, so stopping it reaches
    /// its whole tree. Off only for xargs mode in a terminal's foreground,
    /// where commands (an editor, a password prompt) need the terminal.
    pub own_group: bool,
    /// Output handling.
    pub mode: OutputMode,
    /// Where output spills.
    pub tmpdir: PathBuf,
    /// How to stop a job that timed out.
    pub termseq: Vec<TermStep>,
}

/// A finished job.
#[derive(Debug)]
pub struct Outcome {
    /// How it ended.
    pub status: Status,
    /// Its output, for grouped modes.
    pub captured: Option<Captured>,
    /// `--timeout` stopped it.
    pub timed_out: bool,
    /// When it started.
    pub started: SystemTime,
    /// How long it ran.
    pub runtime: Duration,
    /// Bytes it wrote to stdout (0 with `-u`, where parx does not see them).
    pub stdout_bytes: u64,
    /// `--pipe`: bytes of its block written to its stdin (the job log's
    /// `Send` column).
    pub input_sent: u64,
    /// `--pipe`: bytes of its block it never took (it ended or closed its
    /// stdin first).
    pub input_unread: u64,
    /// It did not succeed and parx was stopping its jobs meanwhile (a signal
    /// to parx, `--halt now`): it was most likely killed by the stop, so it
    /// is neither logged nor printed, and `--resume` runs it again (as GNU
    /// parallel).
    pub stopped: bool,
}

impl Outcome {
    /// A job that did not run (declined, or its files could not be sent).
    pub fn not_run(status: Status) -> Self {
        Outcome {
            status,
            captured: Some(Captured::default()),
            timed_out: false,
            started: SystemTime::now(),
            runtime: Duration::ZERO,
            stdout_bytes: 0,
            input_sent: 0,
            input_unread: 0,
            stopped: false,
        }
    }

    /// Failed: a non-zero exit, a signal, no start, a timeout, lost output,
    /// or a `--pipe` block not taken whole.
    pub fn is_failure(&self) -> bool {
        !self.status.is_success()
            || self.timed_out
            || self.input_unread > 0
            || self.captured.as_ref().is_some_and(|c| c.lost.is_some())
    }
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

/// A started job: its pid and the ends of its pipes that parx keeps.
struct Started {
    pid: u32,
    /// The writing end of the job's stdin, when parx made that a pipe.
    stdin: Option<OwnedFd>,
    /// The reading ends of its stdout and stderr (none with `-u`).
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
}

impl Started {
    /// A child std started (the library's own `Command`s). It is waited
    /// for by pid from here on, as parx's own.
    fn from_child(mut child: Child) -> Self {
        Self {
            pid: child.id(),
            stdin: child.stdin.take().map(OwnedFd::from),
            stdout: child.stdout.take().map(OwnedFd::from),
            stderr: child.stderr.take().map(OwnedFd::from),
        }
    }
}

/// Where a job's stdin comes from, beside what [`ExecSettings`] says.
#[derive(Clone, Copy)]
enum StdinFrom<'a> {
    /// As the settings say.
    Settings,
    /// This pipe's reading end (`--pipe`'s [`BlockPipe`]).
    Pipe(BorrowedFd<'a>),
    /// A new pipe whose writing end parx keeps (`-S`'s held stdin, or a
    /// `--pipe` block when parx could not make a [`BlockPipe`]).
    NewPipe,
}

/// Lays `line` out to be started (a packed argv in its own buffers, not
/// copied).
fn prepare(line: CommandLine, settings: &ExecSettings) -> io::Result<spawn::Program> {
    match line {
        CommandLine::Direct(argv) => spawn::Program::from_values(argv),
        CommandLine::Shell(text) => spawn::Program::from_words(
            settings
                .shell
                .iter()
                .map(|word| word.as_bytes())
                .chain([b"-c".as_slice(), &text]),
        ),
    }
}

/// Starts `program` as `settings` say, with `env` added to the environment:
/// spawned from parx's own buffers ([`crate::spawn`]), so a packed command
/// is never copied an argument at a time.
fn start_program(
    program: &spawn::Program,
    settings: &ExecSettings,
    stdin: StdinFrom<'_>,
    env: &[(&OsStr, &OsStr)],
) -> io::Result<Started> {
    let mut kept_stdin = None;
    // Opened here so a failure is reported as this job's (see run_job).
    let opened = match (stdin, settings.stdin) {
        (StdinFrom::NewPipe, _) => {
            let (read, write) = sys::pipe()?;
            kept_stdin = Some(write);
            Some(read)
        }
        (StdinFrom::Pipe(_), _) | (StdinFrom::Settings, JobStdin::Inherit) => None,
        (StdinFrom::Settings, JobStdin::Null) => Some(std::fs::File::open("/dev/null")?.into()),
        (StdinFrom::Settings, JobStdin::Terminal) => Some(
            std::fs::File::open("/dev/tty")
                .or_else(|_| std::fs::File::open("/dev/null"))?
                .into(),
        ),
    };
    let stdin_fd = match stdin {
        StdinFrom::Pipe(fd) => Some(fd),
        _ => opened.as_ref().map(AsFd::as_fd),
    };
    let (stdout, stderr) = if settings.mode == OutputMode::Ungroup {
        (None, None)
    } else {
        (Some(sys::pipe()?), Some(sys::pipe()?))
    };
    let stdio = [
        stdin_fd,
        stdout.as_ref().map(|(_, w)| w.as_fd()),
        stderr.as_ref().map(|(_, w)| w.as_fd()),
    ];
    let own_group = settings.own_group && settings.stdin != JobStdin::Terminal;
    let pid = spawn::spawn(&spawn::Request {
        program,
        env,
        stdio,
        own_group,
    })?;
    // (The child's ends close here, so the pipes end with the job.)
    Ok(Started {
        pid,
        stdin: kept_stdin,
        stdout: stdout.map(|(read, _)| read),
        stderr: stderr.map(|(read, _)| read),
    })
}

/// The program `line` starts: its first word, or the shell.
fn program_of<'s>(line: &CommandLine, settings: &'s ExecSettings) -> Cow<'s, [u8]> {
    match line {
        CommandLine::Direct(argv) => Cow::Owned(argv.get(0).unwrap_or_default().to_vec()),
        CommandLine::Shell(_) => Cow::Borrowed(settings.shell[0].as_bytes()),
    }
}

/// The message and shell-style status for `program`, which could not start.
fn spawn_failure(program: &[u8], settings: &ExecSettings, err: &io::Error) -> (String, i32) {
    let name = String::from_utf8_lossy(program);
    if let Dialect::Xargs { prefix, .. } = &settings.dialect {
        // As xargs words it: "xargs: NAME: No such file or directory".
        let why = crate::describe(err);
        let code = if err.kind() == io::ErrorKind::NotFound {
            127
        } else {
            126
        };
        return (format!("{prefix}: {name}: {why}\n"), code);
    }
    match err.kind() {
        // (A path is not looked up in PATH: bash's words for each.)
        io::ErrorKind::NotFound if name.contains('/') => {
            (format!("parx: {name}: No such file or directory\n"), 127)
        }
        io::ErrorKind::NotFound => (format!("parx: {name}: command not found\n"), 127),
        io::ErrorKind::PermissionDenied if std::path::Path::new(OsStr::from_bytes(program)).is_dir() => {
            (format!("parx: {name}: cannot execute: is a directory\n"), 126)
        }
        io::ErrorKind::PermissionDenied => (format!("parx: {name}: cannot execute: permission denied\n"), 126),
        io::ErrorKind::InvalidInput => (
            format!("parx: cannot run {name}: an argument holds a NUL byte, which a command line cannot carry\n"),
            126,
        ),
        _ => (format!("parx: cannot run {name}: {}\n", crate::describe(err)), 126),
    }
}

/// Starts a job with `start`; while the system is out of processes
/// (EAGAIN: the process limit, or memory for a fork), waits and tries
/// again, as running jobs end and free their processes, rather than failing
/// the job. Gives up after a minute, or when parx is stopping. The caller
/// registers the child with `control` ([`Control::starting`] covers the
/// time between).
fn spawn_when_possible(
    start: &mut dyn FnMut() -> io::Result<Started>,
    control: &Control,
) -> io::Result<Started> {
    let mut wait = Duration::from_millis(5);
    let mut waited = Duration::ZERO;
    control.starting();
    loop {
        match start() {
            Err(err)
                if err.raw_os_error() == Some(libc::EAGAIN)
                    && waited < Duration::from_secs(60)
                    && !control.is_stopping() =>
            {
                std::thread::sleep(wait);
                waited += wait;
                wait = (wait * 2).min(Duration::from_millis(500));
            }
            result => {
                if result.is_err() {
                    control.not_started();
                }
                return result;
            }
        }
    }
}

/// One job to run (what it executes is passed beside it, to be dropped
/// once it has started).
#[derive(Debug)]
pub struct JobSpec<'a> {
    /// Sequence number, from 1.
    pub seq: u64,
    /// Slot, from 0.
    pub slot: usize,
    /// `--tag` prefix.
    pub tag: Option<Vec<u8>>,
    /// `--timeout` for this job.
    pub timeout: Option<Duration>,
    /// `--pipe`: the block to write to the job's stdin, instead of the
    /// stdin [`ExecSettings`] chooses.
    pub input: Option<&'a Block>,
    /// `--fifo`: write the block to this named pipe (the job opens it)
    /// instead of the job's stdin.
    pub fifo: Option<&'a std::path::Path>,
    /// `-v`: the command line, written (with a newline) as the first line
    /// of the job's stdout.
    pub announce: Option<&'a [u8]>,
    /// Give the job a pipe as stdin that parx holds open until the job has
    /// ended, writing nothing (or, with `input`, nothing after the block):
    /// `-S`, where the remote side watches it.
    pub hold_stdin: bool,
}

/// Runs one job, `line`, to completion.
///
/// `line` is dropped as soon as the job has started: a packed (`-X`)
/// command holds up to ARG_MAX of arguments, which each running slot would
/// otherwise keep for the whole run of its job.
pub fn run_job(
    job: &JobSpec<'_>,
    line: CommandLine,
    settings: &ExecSettings,
    control: &Arc<Control>,
    terminal: &Terminal,
    scratch: &mut Scratch,
) -> Outcome {
    // A --pipe block goes through a BlockPipe, or (without one) a plain
    // pipe, as a held stdin does.
    let block_on_stdin = job.input.is_some() && job.fifo.is_none();
    let (block_pipe, mut block_read) = match block_on_stdin {
        true => BlockPipe::new().ok().unzip(),
        false => (None, None),
    };
    let stdin = match block_on_stdin || job.hold_stdin {
        true => StdinFrom::NewPipe,
        false => StdinFrom::Settings,
    };
    let (seq, slot);
    let env: Vec<(&OsStr, &OsStr)> = match &settings.dialect {
        Dialect::Parallel => {
            seq = OsString::from(job.seq.to_string());
            slot = OsString::from((job.slot + 1).to_string());
            // GNU parallel's names too, so scripts written for it keep working.
            vec![
                (OsStr::new("PARX_SEQ"), &seq),
                (OsStr::new("PARALLEL_SEQ"), &seq),
                (OsStr::new("PARX_SLOT"), &slot),
                (OsStr::new("PARALLEL_JOBSLOT"), &slot),
            ]
        }
        Dialect::Xargs { slot_var, .. } => match slot_var {
            Some(name) => {
                slot = OsString::from(job.slot.to_string());
                vec![(name.as_os_str(), slot.as_os_str())]
            }
            None => Vec::new(),
        },
    };
    let name = program_of(&line, settings);
    let mut line = Some(line);
    let mut prepared = None;
    let mut start = || {
        let stdin = match &block_read {
            Some(read) => StdinFrom::Pipe(read.as_fd()),
            None => stdin,
        };
        if prepared.is_none() {
            let line = line
                .take()
                .ok_or_else(|| io::Error::other("started already"))?;
            prepared = Some(prepare(line, settings)?);
        }
        let program = prepared.as_ref().expect("prepared above");
        let started = start_program(program, settings, stdin, &env);
        if started.is_ok() {
            // The job has its copies (and `tap` counts what the job leaves).
            block_read = None;
            prepared = None;
        }
        started
    };
    let context = (settings, control, terminal);
    spawn_and_run(&mut start, job, &name, block_pipe, context, scratch)
}

/// Runs one job from a `Command` already built, as [`run_job`] does from the
/// spawn on: the library's `Runner::from_fn`, whose closure builds the
/// command, uses it. `cmd` must pipe stdout and stderr unless the mode is
/// `Ungroup`, and should put the job in a process group of its own
/// (`process_group(0)`) so stopping it reaches its whole tree.
pub fn run_command(
    cmd: Command,
    job: &JobSpec<'_>,
    settings: &ExecSettings,
    control: &Arc<Control>,
    terminal: &Terminal,
    scratch: &mut Scratch,
) -> Outcome {
    let program = cmd.get_program().as_bytes().to_vec();
    // (Dropped once spawned: it holds a copy of every argument.)
    let mut cmd = Some(cmd);
    let mut start = || {
        let started = cmd.as_mut().map_or_else(
            || Err(io::Error::other("spawned already")),
            |c| c.spawn().map(Started::from_child),
        );
        if started.is_ok() {
            cmd = None;
        }
        started
    };
    spawn_and_run(
        &mut start,
        job,
        &program,
        None,
        (settings, control, terminal),
        scratch,
    )
}

/// `--pipe`: a job's stdin pipe made by parx rather than by `Command`
/// (`Stdio::piped()` gives no access to the reading end), so that parx keeps
/// a reading end of its own, `tap`. Writes then never fail with EPIPE, and
/// when the job ends, what it left in the pipe is counted as unread: a job
/// that did not take its whole block fails however big the block and
/// however fast the job, instead of only when a write happened to come
/// after its exit.
struct BlockPipe {
    write: OwnedFd,
    tap: OwnedFd,
}

impl BlockPipe {
    /// The pipe, and the reading end to give the job.
    fn new() -> io::Result<(Self, OwnedFd)> {
        let (read, write) = sys::pipe()?;
        let tap = read.try_clone()?;
        Ok((Self { write, tap }, read))
    }
}

fn spawn_and_run(
    start: &mut dyn FnMut() -> io::Result<Started>,
    job: &JobSpec<'_>,
    program: &[u8],
    block_pipe: Option<BlockPipe>,
    (settings, control, terminal): (&ExecSettings, &Arc<Control>, &Terminal),
    scratch: &mut Scratch,
) -> Outcome {
    let started = SystemTime::now();
    let clock = Instant::now();
    let mut captured = Captured {
        tag: job.tag.clone(),
        ..Captured::default()
    };
    let mut announced = 0;
    if let Some(text) = job.announce {
        let mut line = text.to_vec();
        line.push(b'\n');
        announced = line.len() as u64;
        match settings.mode {
            OutputMode::Group | OutputMode::KeepOrder => {
                // Part of the job's output, so it lands with it (tagged too).
                let _ = captured
                    .out
                    .append(&line, JOB_MEMORY_BYTES, &settings.tmpdir);
            }
            OutputMode::LineBuffer | OutputMode::Ungroup => {
                let mut whole = job.tag.clone().unwrap_or_default();
                whole.extend_from_slice(&line);
                let written =
                    terminal.with_streams(|s| std::io::Write::write_all(&mut s.out, &whole));
                if let Err(err) = written {
                    stop_on_output_error(&err, control, terminal);
                }
            }
        }
    }
    let child = match spawn_when_possible(start, control) {
        Ok(child) => child,
        Err(err) => {
            let (message, code) = spawn_failure(program, settings, &err);
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
                timed_out: false,
                started,
                runtime: clock.elapsed(),
                stdout_bytes: 0,
                input_sent: 0,
                input_unread: 0,
                stopped: false,
            };
        }
    };
    let pid = child.pid;
    control.register(job.slot, pid, job.seq);

    let mut watch = Watch {
        pid,
        pidfd: sys::pidfd_open(pid),
        exited: false,
        deadline: job.timeout.map(|t| clock + t),
        walk: TermWalk::new(&settings.termseq),
        timed_out: false,
    };
    let (write_end, tap) = block_pipe.map(|p| (p.write, p.tap)).unzip();
    // The job's stdin when parx made it a pipe: fed the block, or else
    // (`-S`) held open, unwritten, until the job has been reaped.
    let mut stdin = write_end.or(child.stdin);
    let pipes = Pipes {
        out: child.stdout.map(std::fs::File::from),
        err: child.stderr.map(std::fs::File::from),
        feed: job.input.and_then(|block| {
            // (--fifo: the block goes through the named pipe; a held
            // stdin stays held.)
            let pipe = if job.fifo.is_none() {
                stdin.take()
            } else {
                None
            };
            Feed::start(pipe, block, job.fifo)
        }),
        hold: job.hold_stdin,
    };
    let (read_bytes, (input_sent, mut input_unread)) = drain(
        pipes,
        &mut captured,
        &mut watch,
        settings,
        control,
        terminal,
        scratch,
    );
    let stdout_bytes = announced + read_bytes;

    // Wait without reaping, forget the group, then reap: a signal sent by
    // the termination sequence can never reach a recycled process group.
    let waited = sys::wait_exit_keep_zombie(pid);
    let during_stop = control.unregister(job.slot);
    if let Some(tap) = tap {
        // Written, but left in the pipe when the job ended.
        input_unread += sys::bytes_in_pipe(tap.as_fd());
    }
    if input_unread > 0 && !during_stop {
        let total = job
            .input
            .map_or(0, |b| b.header.len() as u64 + b.body.len());
        terminal.message(&format!(
            "parx: job {} ended without reading all of its block ({input_unread} of {total} bytes left)\n",
            job.seq
        ));
    }
    let status = match (waited, sys::reap(pid)) {
        (_, Ok(status)) => match (status.code(), status.signal()) {
            (Some(code), _) => Status::Exited(code),
            (None, Some(sig)) => Status::Signaled(sig),
            (None, None) => Status::Exited(255),
        },
        (_, Err(err)) => {
            terminal.message(&format!("parx: cannot wait for job {}: {err}\n", job.seq));
            Status::Exited(255)
        }
    };
    drop(stdin);
    Outcome {
        status,
        captured: Some(captured),
        timed_out: watch.timed_out,
        started,
        runtime: clock.elapsed(),
        stdout_bytes,
        input_sent,
        input_unread,
        stopped: during_stop && status != Status::Exited(0),
    }
}

/// Writes a `--pipe` block to a job's stdin from the event loop, as the
/// pipe takes it, so a job that writes much output while it reads never
/// deadlocks against parx.
struct Feed<'a> {
    /// The job's stdin, or (`--fifo`) the named pipe once the job opened it.
    pipe: Option<std::fs::File>,
    /// `--fifo`: the named pipe to open when the job starts reading it.
    fifo: Option<&'a std::path::Path>,
    header: &'a [u8],
    body: FeedBody<'a>,
    /// Bytes written so far.
    written: u64,
    /// The pipe's capacity, as far as parx knows it.
    capacity: u64,
    /// Refilling waits (this long, then looks again) while the pipe is
    /// more than half full; see [`Feed::write_some`].
    pause: Option<Duration>,
}

/// What is left of the block after the header.
enum FeedBody<'a> {
    Bytes(&'a [u8]),
    /// `--round-robin`: blocks taken one after another from a shared stream.
    Stream {
        blocks: &'a crate::pipe::BlockStream,
        current: Vec<u8>,
        at: usize,
    },
    /// `--pipe-part`: spliced from the file inside the kernel.
    Range {
        file: &'a std::fs::File,
        offset: u64,
        left: u64,
    },
}

impl<'a> Feed<'a> {
    /// Bigger pipes mean fewer wake-ups per block (Linux lets any process
    /// ask for up to 1 MiB).
    const PIPE_BYTES: u64 = 1 << 20;
    /// Linux's own pipe capacity.
    const DEFAULT_PIPE_BYTES: u64 = 64 * 1024;
    /// The first wait for a half-full pipe to drain (about what a fast
    /// reader needs for half a MiB), doubled while it stays half full.
    const FIRST_PAUSE: Duration = Duration::from_micros(50);
    /// After this, fill the pipe and wait for its own "writable" instead: a
    /// reader that stopped reading costs no wake-ups.
    const LONGEST_PAUSE: Duration = Duration::from_millis(5);

    /// `write_end`: the writing end of the job's stdin.
    fn start(
        write_end: Option<OwnedFd>,
        block: &'a Block,
        fifo: Option<&'a std::path::Path>,
    ) -> Option<Self> {
        let (pipe, capacity) = match fifo {
            Some(_) => (None, Self::DEFAULT_PIPE_BYTES),
            None => {
                let pipe = std::fs::File::from(write_end?);
                sys::set_nonblocking(pipe.as_fd()).ok()?;
                let capacity = Self::grow(&pipe, block);
                (Some(pipe), capacity)
            }
        };
        let body = match &block.body {
            Body::Bytes(bytes) => FeedBody::Bytes(bytes),
            Body::Stream(blocks) => FeedBody::Stream {
                blocks,
                current: Vec::new(),
                at: 0,
            },
            Body::Range { file, start, len } => FeedBody::Range {
                file,
                offset: *start,
                left: *len,
            },
        };
        Some(Self {
            pipe,
            fifo,
            header: &block.header,
            body,
            written: 0,
            capacity,
            pause: None,
        })
    }

    /// A pipe big enough for the block (up to [`Feed::PIPE_BYTES`]); its
    /// capacity then.
    fn grow(pipe: &std::fs::File, block: &Block) -> u64 {
        let total = block.header.len() as u64 + block.body.len();
        if total <= Self::DEFAULT_PIPE_BYTES {
            return Self::DEFAULT_PIPE_BYTES;
        }
        sys::grow_pipe(pipe.as_fd(), total.min(Self::PIPE_BYTES) as usize)
            .unwrap_or(Self::DEFAULT_PIPE_BYTES)
    }

    /// Bytes not written yet.
    fn left(&self) -> u64 {
        self.header.len() as u64
            + match &self.body {
                FeedBody::Bytes(b) => b.len() as u64,
                FeedBody::Stream { current, at, .. } => (current.len() - at) as u64,
                FeedBody::Range { left, .. } => *left,
            }
    }

    /// Waiting for the next `--round-robin` block, for a `--fifo` to be
    /// opened, or for a half-full pipe to drain (the pipe is not watched
    /// meanwhile; the loop looks again after [`Feed::retry_in`]).
    fn waiting(&self) -> bool {
        self.pipe.is_none()
            || self.pause.is_some()
            || matches!(&self.body, FeedBody::Stream { current, at, .. } if *at == current.len())
    }

    /// How long the loop may wait before calling [`Feed::write_some`] again
    /// while [`Feed::waiting`].
    fn retry_in(&self) -> Duration {
        self.pause.unwrap_or(STREAM_POLL)
    }

    /// Writes what the pipe takes; true when done: all written, or the
    /// job closed its stdin (EPIPE: its exit status tells how it went).
    /// With `--round-robin`, false also when no block is there yet.
    fn write_some(&mut self) -> bool {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        if self.pipe.is_none() {
            // --fifo: opening for writing succeeds once the job opened it for
            // reading (ENXIO until then).
            let path = self.fifo.expect("a feed without a pipe has a fifo");
            match std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path)
            {
                Ok(file) => self.pipe = Some(file),
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => return false,
                Err(_) => return true,
            }
        }
        let Some(pipe) = self.pipe.as_mut() else {
            return true;
        };
        // A pipe is "writable" as soon as its reader took one page, and a
        // reader such as wc takes 16 KiB at a time: topping the pipe up
        // after each read costs parx a wake-up and a write per 16 KiB, and
        // doubles the CPU time of --pipe-part (measured). So refill only
        // once the pipe is half empty; until then look again after a pause
        // that doubles, and after the longest one leave it to the pipe's
        // own wake-up: the pipe is filled up then, so it wakes parx only
        // once the job reads again (no cost while a job does not read).
        let slow = self.pause.is_some_and(|p| p >= Self::LONGEST_PAUSE);
        if !slow
            && self.capacity > Self::DEFAULT_PIPE_BYTES
            && sys::bytes_in_pipe(pipe.as_fd()) > self.capacity / 2
        {
            self.pause = Some(self.pause.map_or(Self::FIRST_PAUSE, |p| p * 2));
            return false;
        }
        self.pause = None;
        loop {
            let step = if !self.header.is_empty() {
                pipe.write(self.header).inspect(|&n| {
                    self.header = &self.header[n..];
                })
            } else {
                match &mut self.body {
                    FeedBody::Bytes([]) => return true,
                    FeedBody::Bytes(b) => pipe.write(b).inspect(|&n| *b = &b[n..]),
                    FeedBody::Stream {
                        blocks,
                        current,
                        at,
                    } => {
                        if *at == current.len() {
                            match blocks.try_next() {
                                crate::pipe::Next::Block(next) => {
                                    *current = next;
                                    *at = 0;
                                    continue;
                                }
                                crate::pipe::Next::Wait => return false,
                                crate::pipe::Next::End => return true,
                            }
                        }
                        pipe.write(&current[*at..]).inspect(|&n| *at += n)
                    }
                    FeedBody::Range { left: 0, .. } => return true,
                    FeedBody::Range { file, offset, left } => {
                        let want = (*left).min(Self::PIPE_BYTES) as usize;
                        match sys::splice_to_pipe(file.as_fd(), offset, pipe.as_fd(), want) {
                            // The file is shorter than when it was split.
                            Ok(0) => return true,
                            Ok(n) => {
                                *left -= n as u64;
                                Ok(n)
                            }
                            Err(e) => Err(e),
                        }
                    }
                }
            };
            match step {
                Ok(n) => self.written += n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(_) => return true,
            }
        }
    }
}

/// Watches a running job's exit and its `--timeout`.
struct Watch<'a> {
    pid: u32,
    pidfd: Option<OwnedFd>,
    exited: bool,
    /// When the next termination step is due (first: the timeout).
    deadline: Option<Instant>,
    walk: TermWalk<'a>,
    timed_out: bool,
}

/// How often a `--round-robin` job with nothing to write looks for the
/// next block.
const STREAM_POLL: Duration = Duration::from_millis(2);

/// Without a pidfd, how often to check whether a job exited.
const EXIT_POLL: Duration = Duration::from_millis(20);

impl Watch<'_> {
    /// How long the event loop may sleep.
    fn wait_for(&self) -> Option<Duration> {
        if self.exited {
            return Some(Duration::ZERO);
        }
        let until = self
            .deadline
            .map(|d| d.saturating_duration_since(Instant::now()));
        if self.pidfd.is_none() {
            return Some(until.map_or(EXIT_POLL, |u| u.min(EXIT_POLL)));
        }
        until
    }

    /// Notes an exit and runs the termination sequence when a deadline passes.
    fn tick(&mut self, pidfd_ready: bool) {
        if pidfd_ready || (self.pidfd.is_none() && sys::has_exited(self.pid)) {
            self.exited = true;
            // A deadline means nothing once the job has ended.
            self.deadline = None;
        }
        let Some(deadline) = self.deadline else {
            return;
        };
        if self.exited || Instant::now() < deadline {
            return;
        }
        self.timed_out = true;
        let pid = self.pid;
        self.deadline = self
            .walk
            .step(|signal| sys::kill_group(pid, signal))
            .map(|wait| Instant::now() + wait);
    }

    /// True while the loop must keep running for the exit or the deadline.
    fn pending(&self) -> bool {
        !self.exited && self.deadline.is_some()
    }
}

/// Reads the job's stdout and stderr while enforcing its timeout, until its
/// process has exited and what it wrote is read, or both pipes close.
///
/// As in GNU parallel, a job ends when its process exits: a background
/// child it left behind that still holds the pipes (`sleep 60 &`, a
/// `setsid` daemon) does not keep the job, Ctrl-C or `--halt` waiting.
/// What such a child writes later is not collected (its writes fail with
/// EPIPE), so a job that leaves a process behind should redirect its output.
/// Returns the number of bytes the job wrote to stdout.
/// A running job's pipes: its stdout and stderr (none with `-u`), and its
/// stdin when parx feeds it a `--pipe` block.
struct Pipes<'a> {
    out: Option<std::fs::File>,
    err: Option<std::fs::File>,
    feed: Option<Feed<'a>>,
    /// Keep the job's stdin open once the block is written, until the job
    /// has ended (`-S`: the end of the ssh channel's input means parx went
    /// away).
    hold: bool,
}

fn drain(
    pipes: Pipes<'_>,
    captured: &mut Captured,
    watch: &mut Watch<'_>,
    settings: &ExecSettings,
    control: &Arc<Control>,
    terminal: &Terminal,
    scratch: &mut Scratch,
) -> (u64, (u64, u64)) {
    let Pipes {
        mut out,
        mut err,
        mut feed,
        hold,
    } = pipes;
    // The job's stdin, held open after its block (`hold`).
    let mut held = None;
    let mut splitters = [LineSplitter::default(), LineSplitter::default()];
    // After the first failure the rest of the output is read and dropped,
    // so the job never blocks on a full pipe.
    let mut failed = false;
    let mut stdout_bytes = 0u64;
    let tag = captured.tag.clone();

    // After the exit, a bounded number of reads takes what is already in the
    // pipes; a child that keeps writing cannot hold the job open.
    let mut reads_after_exit = 0;
    let mut unread = 0u64;
    let mut sent = 0u64;
    while out.is_some() || err.is_some() || watch.pending() || feed.is_some() {
        let pidfd = if watch.exited {
            None
        } else {
            watch.pidfd.as_ref().map(AsFd::as_fd)
        };
        let fds = [
            out.as_ref().map(AsFd::as_fd),
            err.as_ref().map(AsFd::as_fd),
            pidfd,
            feed.as_ref()
                .filter(|f| !f.waiting())
                .and_then(|f| f.pipe.as_ref())
                .map(AsFd::as_fd),
        ];
        let mut timeout = watch.wait_for();
        if let Some(retry) = feed.as_ref().filter(|f| f.waiting()).map(Feed::retry_in) {
            timeout = Some(timeout.map_or(retry, |t| t.min(retry)));
        }
        let Ok(ready) = sys::poll_ready(fds, timeout) else {
            break;
        };
        if ready[3] || feed.as_ref().is_some_and(Feed::waiting) {
            if let Some(f) = feed.as_mut() {
                if f.write_some() {
                    (sent, unread) = (f.written, f.left());
                    if hold {
                        held = f.pipe.take();
                    }
                    feed = None; // all written (closing stdin ends it), or refused
                }
            }
        }
        if watch.exited {
            reads_after_exit += 1;
            if !(ready[0] || ready[1]) || reads_after_exit > 1024 {
                break;
            }
        }
        for stream in 0..2 {
            if !ready[stream] {
                continue;
            }
            let reader: &mut dyn Read = match (stream, out.as_mut(), err.as_mut()) {
                (0, Some(o), _) => o,
                (1, _, Some(e)) => e,
                _ => continue,
            };
            let n = match reader.read(&mut scratch.buf) {
                Ok(0) | Err(_) => {
                    if stream == 0 {
                        out = None;
                    } else {
                        err = None;
                    }
                    continue;
                }
                Ok(n) => n,
            };
            if stream == 0 {
                stdout_bytes += n as u64;
            }
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
        watch.tick(ready[2]);
        if watch.exited {
            if let Some(f) = feed.take() {
                (sent, unread) = (f.written, f.left()); // a job that ended reads no more
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
    drop(held);
    (stdout_bytes, (sent, unread))
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
            terminal.message(&format!(
                "{}: cannot write output: {}\n",
                crate::program(),
                crate::describe(err)
            ));
        }
        control.stop(StopCause::OwnError);
    }
}
