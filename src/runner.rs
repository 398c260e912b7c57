//! The library face of parx's job runner: run a command for every item of
//! any iterator, a few at a time, and get each job's exit status, output and
//! timing as it finishes, the in-process form of `parx CMD ::: ITEMS`.
//!
//! A [`Runner`] is built from a command template (`"gzip -9 {}"`, filled
//! and quoted as the binary fills it) or from a closure that builds a
//! [`Command`] per item. Jobs go through the binary's own machinery: the
//! [`Pool`] schedules them (lazily, in bounded memory, in order
//! or as they finish) and [`exec`] runs each one in a process
//! group of its own, drains its stdout and stderr together (a job's output
//! stays in memory up to 1 MiB, then spills to an unlinked temporary file)
//! and enforces the timeout with the termination sequence on the whole
//! group.
//!
//! This is a thin layer rather than a second runner: the binary's
//! `execute()` also writes output, keeps the job log and applies `--halt`,
//! `--retries`, make's jobserver and remote hosts, none of which a library
//! caller wants, so both share the pool and `exec::run_job` underneath and
//! this module only renders commands and hands the results back. It prints
//! nothing and installs no signal handler.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::exec::{
    self, CommandLine, Dialect, ExecSettings, JobSpec, JobStdin, OutputMode, Scratch, Status,
};
use crate::output::Terminal;
use crate::signal::{default_termseq, Control, StopCause};
use crate::template::{Fill, Template, TemplateError, TemplateOptions};
use crate::{Pool, Results};

/// What a runner runs for one item.
enum Prepared {
    /// A filled template.
    Line(CommandLine),
    /// A command the caller's closure built.
    Command(Command),
}

type Prepare<T> = dyn Fn(&T, Fill<'_>) -> Prepared + Send + Sync;

/// Runs a command for every item of an iterator, on a number of job slots,
/// and yields each job's [`JobResult`] as it finishes (or in input order).
///
/// From a template, as on parx's command line: `{}` is the item, shell-quoted
/// (`{.}`, `{/}`, `{//}`, `{/.}`, `{#}` and `{%}` work too); without `{}` the
/// item is appended. A plain template runs without a shell, others with `sh`.
///
/// ```
/// let mut lines: Vec<String> = parx::Runner::new("echo item {}")?
///     .slots(4)
///     .run(["a", "b b", "$(id)"])
///     .map(|job| {
///         assert!(job.is_success());
///         String::from_utf8(job.stdout.into_bytes().unwrap()).unwrap()
///     })
///     .collect();
/// lines.sort();
/// assert_eq!(lines, ["item $(id)\n", "item a\n", "item b b\n"]);
/// # Ok::<(), parx::template::TemplateError>(())
/// ```
///
/// Or from a closure that builds each job's [`Command`] (its stdin becomes
/// `/dev/null`, its stdout and stderr are captured, and it gets a process
/// group of its own; anything else set on it is kept):
///
/// ```
/// use std::process::Command;
/// use std::time::Duration;
///
/// let results: Vec<parx::JobResult<u64>> = parx::Runner::from_fn(|ms: &u64| {
///     let mut cmd = Command::new("sleep");
///     cmd.arg(format!("{}", *ms as f64 / 1000.0));
///     cmd
/// })
/// .slots(3)
/// .ordered(true)
/// .timeout(Duration::from_millis(500))
/// .run([50, 2_000, 10])
/// .collect();
/// assert_eq!(results.iter().map(|r| r.input).collect::<Vec<_>>(), [50, 2_000, 10]);
/// assert!(results[0].is_success() && results[2].is_success());
/// assert!(results[1].timed_out);
/// assert_eq!(results[1].status, parx::Status::Signaled(libc::SIGTERM));
/// ```
pub struct Runner<T> {
    prepare: Arc<Prepare<T>>,
    slots: usize,
    ordered: bool,
    timeout: Option<Duration>,
    tmpdir: PathBuf,
    shell: OsString,
}

impl<T> Runner<T>
where
    T: AsRef<OsStr> + 'static,
{
    /// A runner for a command template, parsed once: parx's own syntax,
    /// where the words of `template` are split at blanks and `{}` stands for
    /// the item, quoted so that it always reaches the command as one
    /// argument (an item such as `$(rm -rf ~)` is data, never code). Jobs
    /// also see their number and slot as `PARX_SEQ` and `PARX_SLOT`.
    ///
    /// # Errors
    ///
    /// A replacement string parx does not support (`{= … =}`, `{-1}`).
    pub fn new(template: impl AsRef<OsStr>) -> Result<Self, TemplateError> {
        let words = [template.as_ref().to_os_string()];
        let template = Template::parse(&words, &TemplateOptions::default())?;
        let prepare = move |item: &T, fill: Fill<'_>| {
            let fill = Fill {
                args: crate::input::Args::One(item.as_ref().as_bytes()),
                ..fill
            };
            Prepared::Line(match template.direct() {
                Some(plan) => CommandLine::Direct(plan.render(&fill)),
                None => {
                    let mut line = Vec::new();
                    template.render_line(&fill, true, &mut line);
                    CommandLine::Shell(line)
                }
            })
        };
        Ok(Self::with(Arc::new(prepare)))
    }
}

impl<T: 'static> Runner<T> {
    /// A runner whose jobs are the commands `build` makes, one per item.
    /// Whatever stdin, stdout, stderr or process group it sets is replaced
    /// (stdin `/dev/null`, output captured, a group of its own); arguments,
    /// environment and working directory are kept.
    pub fn from_fn<F>(build: F) -> Self
    where
        F: Fn(&T) -> Command + Send + Sync + 'static,
    {
        Self::with(Arc::new(move |item: &T, _: Fill<'_>| {
            Prepared::Command(build(item))
        }))
    }

    fn with(prepare: Arc<Prepare<T>>) -> Self {
        Self {
            prepare,
            slots: std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            ordered: false,
            timeout: None,
            tmpdir: std::env::temp_dir(),
            shell: OsString::from("sh"),
        }
    }

    /// Runs up to `slots` jobs at a time (at least one). Default: one per CPU.
    #[must_use]
    pub fn slots(mut self, slots: usize) -> Self {
        self.slots = slots.max(1);
        self
    }

    /// Yields results in input order (`true`) or as jobs finish (`false`,
    /// the default). In order, jobs still run on every slot; finished ones
    /// wait (a bounded number of them) for the slow job before them.
    #[must_use]
    pub fn ordered(mut self, ordered: bool) -> Self {
        self.ordered = ordered;
        self
    }

    /// Stops a job still running after `timeout`: its process group gets
    /// SIGTERM, again after 200 and 100 ms, and SIGKILL 50 ms later if it
    /// is still there (parx's default `--termseq`); its result has
    /// `timed_out` set.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Where output larger than 1 MiB spills. Default: [`std::env::temp_dir`].
    #[must_use]
    pub fn tmpdir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.tmpdir = dir.into();
        self
    }

    /// The shell for templates that need one (pipes, redirections, `$` …).
    /// Default: `sh`.
    #[must_use]
    pub fn shell(mut self, shell: impl Into<OsString>) -> Self {
        self.shell = shell.into();
        self
    }

    /// Starts running a job per item and returns their results, which come
    /// as jobs finish (or in input order with [`ordered`](Self::ordered)).
    ///
    /// Items are taken from `items` only as slots free up, so an endless
    /// iterator works. Dropping the results early (or a panic that unwinds
    /// through them) terminates the running jobs' process groups and waits
    /// for them: no job outlives its results. A panic in the closure given
    /// to [`from_fn`](Self::from_fn) is raised again by the results'
    /// `next()` after the running jobs are stopped.
    ///
    /// Jobs run in process groups of their own, so a terminal's Ctrl-C
    /// does not reach them. A program that should stop its jobs on Ctrl-C
    /// handles SIGINT and calls [`Stopper::stop`] (see
    /// [`JobResults::stopper`]), or drops the results.
    pub fn run<I>(&self, items: I) -> JobResults<T>
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
        T: Send + 'static,
    {
        let control = Control::new(self.slots, default_termseq());
        let shared = Arc::new(Shared {
            prepare: Arc::clone(&self.prepare),
            settings: ExecSettings {
                shell: vec![self.shell.clone()],
                stdin: JobStdin::Null,
                dialect: Dialect::Parallel,
                own_group: true,
                mode: OutputMode::Group,
                tmpdir: self.tmpdir.clone(),
                termseq: default_termseq(),
            },
            timeout: self.timeout,
            control: Arc::clone(&control),
            terminal: null_terminal(),
            free_slots: Mutex::new((0..self.slots).rev().collect()),
            running: Running::default(),
        });
        let work = {
            let shared = Arc::clone(&shared);
            move |(index, item): (u64, T)| shared.run_one(index, item)
        };
        // Once stopped, the input ends too (an endless iterator included).
        let items = items
            .into_iter()
            .take_while(move |_| !control.is_stopping());
        let results = Pool::new(self.slots)
            .ordered(self.ordered)
            .map((0u64..).zip(items), work);
        JobResults {
            results: Some(results),
            shared,
        }
    }
}

impl<T> std::fmt::Debug for Runner<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("slots", &self.slots)
            .field("ordered", &self.ordered)
            .field("timeout", &self.timeout)
            .field("tmpdir", &self.tmpdir)
            .field("shell", &self.shell)
            .finish_non_exhaustive()
    }
}

/// parx's messages about a job (it could not be waited for) have no place
/// in a library; spawn failures land in the job's own stderr instead.
/// Without /dev/null, the process's own stdout and stderr.
fn null_terminal() -> Option<Terminal> {
    let open = || std::fs::OpenOptions::new().write(true).open("/dev/null");
    match (open(), open()) {
        (Ok(out), Ok(err)) => Some(Terminal::from_files(out, err)),
        _ => Terminal::open().ok(),
    }
}

/// What the pool's workers share for one run.
struct Shared<T> {
    prepare: Arc<Prepare<T>>,
    settings: ExecSettings,
    timeout: Option<Duration>,
    /// The running jobs' process groups, for stopping them.
    control: Arc<Control>,
    terminal: Option<Terminal>,
    /// Slot numbers not in use (the pool's workers do not say theirs).
    free_slots: Mutex<Vec<usize>>,
    running: Running,
}

impl<T> Shared<T> {
    /// Runs the job for one item; `None` once the run is stopping.
    fn run_one(&self, index: u64, input: T) -> Option<JobResult<T>> {
        let terminal = self.terminal.as_ref()?;
        let _running = self.running.enter();
        if self.control.is_stopping() {
            return None;
        }
        let slot = lock(&self.free_slots)
            .pop()
            .expect("the pool runs no more jobs than there are slots");
        let _slot = SlotGuard {
            free: &self.free_slots,
            slot,
        };
        let seq = index + 1;
        let fill = Fill {
            seq,
            slot: slot + 1,
            args: crate::input::Args::NONE,
        };
        thread_local! {
            static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
        }
        let spec = JobSpec {
            seq,
            slot,
            tag: None,
            timeout: self.timeout,
            input: None,
            fifo: None,
            announce: None,
            hold_stdin: false,
        };
        let outcome = match (self.prepare)(&input, fill) {
            Prepared::Line(line) => SCRATCH.with(|s| {
                exec::run_job(
                    &spec,
                    line,
                    &self.settings,
                    &self.control,
                    terminal,
                    &mut s.borrow_mut(),
                )
            }),
            Prepared::Command(mut cmd) => {
                cmd.stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .process_group(0);
                SCRATCH.with(|s| {
                    exec::run_command(
                        cmd,
                        &spec,
                        &self.settings,
                        &self.control,
                        terminal,
                        &mut s.borrow_mut(),
                    )
                })
            }
        };
        let captured = outcome.captured.unwrap_or_default();
        Some(JobResult {
            input,
            index: usize::try_from(index).unwrap_or(usize::MAX),
            status: outcome.status,
            timed_out: outcome.timed_out,
            stdout: Output::from_spool(captured.out),
            stderr: Output::from_spool(captured.err),
            output_error: captured.lost,
            started: outcome.started,
            runtime: outcome.runtime,
        })
    }
}

/// Gives a slot number back when its job is done (or panicked).
struct SlotGuard<'a> {
    free: &'a Mutex<Vec<usize>>,
    slot: usize,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        lock(self.free).push(self.slot);
    }
}

/// Counts the jobs being run, so dropping the results can wait for them.
#[derive(Default)]
struct Running {
    count: Mutex<usize>,
    changed: Condvar,
}

impl Running {
    fn enter(&self) -> RunningGuard<'_> {
        *lock(&self.count) += 1;
        RunningGuard(self)
    }

    fn wait_idle(&self) {
        let mut count = lock(&self.count);
        while *count > 0 {
            count = self
                .changed
                .wait(count)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

struct RunningGuard<'a>(&'a Running);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        *lock(&self.0.count) -= 1;
        self.0.changed.notify_all();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Counters and free lists stay consistent even if a holder panicked.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One finished job.
#[derive(Debug)]
pub struct JobResult<T> {
    /// The item the job ran for.
    pub input: T,
    /// The item's position in the input, from 0 (the job number `{#}` and
    /// `$PARX_SEQ` is one more).
    pub index: usize,
    /// How it ended: its exit code, the signal that killed it, or
    /// [`Status::NotStarted`] (126 or 127, as a shell) when it could not
    /// start, with the reason in `stderr`.
    pub status: Status,
    /// The timeout stopped it.
    pub timed_out: bool,
    /// What it wrote to stdout.
    pub stdout: Output,
    /// What it wrote to stderr.
    pub stderr: Output,
    /// Output was lost: spilling it to a temporary file failed (the reason;
    /// what was captured before that is kept).
    pub output_error: Option<String>,
    /// When it started.
    pub started: SystemTime,
    /// How long it ran.
    pub runtime: Duration,
}

impl<T> JobResult<T> {
    /// Exited with code 0, within its timeout and with all of its output.
    pub fn is_success(&self) -> bool {
        self.status.is_success() && !self.timed_out && self.output_error.is_none()
    }
}

/// A job's captured stdout or stderr.
#[derive(Debug)]
pub enum Output {
    /// All of it, in memory (a job's stdout and stderr share 1 MiB).
    Memory(Vec<u8>),
    /// All of it, in a temporary file positioned at its start. The file was
    /// unlinked when created, so it has no path and nothing is left on disk
    /// once it is closed, even if the program dies.
    Spilled(File),
}

impl Output {
    fn from_spool(spool: crate::output::Spool) -> Self {
        let (memory, file) = spool.into_parts();
        let Some(mut file) = file else {
            return Output::Memory(memory);
        };
        let rewound = file
            .write_all(&memory)
            .and_then(|()| file.seek(SeekFrom::Start(0)));
        match rewound {
            Ok(_) => Output::Spilled(file),
            // Unreachable in practice: the spool wrote to this file a moment ago.
            Err(_) => Output::Memory(memory),
        }
    }

    /// The bytes, when they are in memory.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Output::Memory(bytes) => Some(bytes),
            Output::Spilled(_) => None,
        }
    }

    /// True when the output was larger than memory allows and is in a file.
    pub fn is_spilled(&self) -> bool {
        matches!(self, Output::Spilled(_))
    }

    /// All the bytes, read back from the file if the output spilled.
    ///
    /// # Errors
    ///
    /// Reading the spilled file failed.
    pub fn into_bytes(self) -> io::Result<Vec<u8>> {
        match self {
            Output::Memory(bytes) => Ok(bytes),
            Output::Spilled(mut file) => {
                let mut bytes = Vec::new();
                file.read_to_end(&mut bytes)?;
                Ok(bytes)
            }
        }
    }
}

/// The results of [`Runner::run`], an iterator of [`JobResult`]s.
///
/// Dropping it before the end terminates the jobs still running (each
/// process group gets SIGTERM, then SIGKILL if it lingers) and waits for
/// them, so no job outlives it.
pub struct JobResults<T> {
    results: Option<Results<Option<JobResult<T>>>>,
    shared: Arc<Shared<T>>,
}

impl<T> JobResults<T> {
    /// A handle that stops the run from anywhere (a signal handler, another
    /// thread): no new job starts, running ones are terminated, and the
    /// results end after those already finished.
    ///
    /// ```
    /// let results = parx::Runner::new("sleep")?.slots(2).run(["10", "10", "10"]);
    /// let stopper = results.stopper();
    /// std::thread::spawn(move || {
    ///     std::thread::sleep(std::time::Duration::from_millis(100));
    ///     stopper.stop();
    /// });
    /// let started = std::time::Instant::now();
    /// for job in results {
    ///     assert_eq!(job.status, parx::Status::Signaled(libc::SIGTERM));
    /// }
    /// assert!(started.elapsed().as_secs() < 5);
    /// # Ok::<(), parx::template::TemplateError>(())
    /// ```
    pub fn stopper(&self) -> Stopper {
        Stopper(Arc::clone(&self.shared.control))
    }
}

impl<T> Iterator for JobResults<T> {
    type Item = JobResult<T>;

    fn next(&mut self) -> Option<JobResult<T>> {
        loop {
            let Some(next) = self.results.as_mut()?.next() else {
                // Every worker is done: nothing is left to stop.
                self.results = None;
                return None;
            };
            match next {
                Ok(Some(result)) => return Some(result),
                // Skipped: the run is stopping.
                Ok(None) => {}
                Err(panicked) => {
                    self.stop_and_wait();
                    panic!("parx::Runner: the command builder {panicked}");
                }
            }
        }
    }
}

impl<T> JobResults<T> {
    fn stop_and_wait(&mut self) {
        // `Halt { now }` is the cause that terminates running jobs without
        // standing for a signal parx received.
        self.shared.control.stop(StopCause::Halt { now: true });
        // The receiver goes first: a worker blocked handing over a result
        // then gets an error instead of waiting forever.
        drop(self.results.take());
        self.shared.running.wait_idle();
    }
}

impl<T> Drop for JobResults<T> {
    fn drop(&mut self) {
        if self.results.is_some() {
            self.stop_and_wait();
        }
    }
}

impl<T> std::fmt::Debug for JobResults<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobResults").finish_non_exhaustive()
    }
}

/// Stops a run: see [`JobResults::stopper`].
#[derive(Clone)]
pub struct Stopper(Arc<Control>);

impl Stopper {
    /// Starts no new job and terminates the running ones.
    pub fn stop(&self) {
        self.0.stop(StopCause::Halt { now: true });
    }
}

impl std::fmt::Debug for Stopper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stopper").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Whether process `pid` is gone (or a zombie) within a second: a
    /// signal sent to it takes effect once it is next scheduled.
    fn is_gone(pid: u32) -> bool {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            let gone = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                Err(_) => true,
                Ok(stat) => stat
                    .rsplit_once(") ")
                    .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
            };
            if gone || Instant::now() > deadline {
                return gone;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A job that leaves a grandchild in its process group, records the
    /// grandchild's pid in `dir/NAME.pid`, and waits for it.
    fn lingering(dir: &std::path::Path) -> Runner<String> {
        let dir = dir.to_path_buf();
        Runner::from_fn(move |name: &String| {
            let mut cmd = Command::new("sh");
            cmd.arg("-c")
                .arg("if [ \"$1\" = fast ]; then exit 0; fi; sleep 30 & echo $! > \"$2\"; wait")
                .arg("sh")
                .arg(name)
                .arg(dir.join(format!("{name}.pid")));
            cmd
        })
    }

    fn pids(dir: &std::path::Path, names: &[&str]) -> Vec<u32> {
        let deadline = Instant::now() + Duration::from_secs(5);
        names
            .iter()
            .map(|name| loop {
                let text = std::fs::read_to_string(dir.join(format!("{name}.pid")));
                if let Some(pid) = text.ok().and_then(|t| t.trim().parse().ok()) {
                    return pid;
                }
                assert!(Instant::now() < deadline, "{name} never started");
                std::thread::sleep(Duration::from_millis(10));
            })
            .collect()
    }

    #[test]
    fn dropping_the_results_early_leaves_no_process_behind() {
        let dir = tempfile::tempdir().unwrap();
        let runner = lingering(dir.path()).slots(3);
        let items = ["slow1", "fast", "slow2"].map(String::from);
        let mut results = runner.run(items);
        let first = results.next().unwrap();
        assert_eq!(first.input, "fast");
        let grandchildren = pids(dir.path(), &["slow1", "slow2"]);
        let dropped = Instant::now();
        drop(results);
        assert!(
            dropped.elapsed() < Duration::from_secs(3),
            "{:?}",
            dropped.elapsed()
        );
        for pid in grandchildren {
            assert!(is_gone(pid), "grandchild {pid} outlived the results");
        }
    }

    #[test]
    fn a_panic_while_iterating_stops_the_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let runner = lingering(dir.path()).slots(2);
        let path = dir.path().to_path_buf();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let mut results = runner.run(["fast", "slow"].map(String::from));
            let job = results.next().unwrap();
            let _ = pids(&path, &["slow"]);
            // Unwinding drops `results` while "slow" runs.
            panic!("the consumer fails on {}", job.input);
        }));
        assert!(caught.is_err());
        let pid = pids(dir.path(), &["slow"])[0];
        assert!(is_gone(pid), "grandchild {pid} outlived the panic");
    }

    #[test]
    fn a_panicking_builder_is_raised_in_the_caller() {
        let runner = Runner::from_fn(|n: &u32| {
            assert!(*n != 2, "no command for two");
            Command::new("true")
        })
        .slots(1)
        .ordered(true);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            runner.run(1..=3).count()
        }));
        let message = caught.unwrap_err();
        let message = message.downcast_ref::<String>().unwrap();
        assert!(message.contains("no command for two"), "{message}");
    }

    #[test]
    fn large_output_spills_to_a_file_and_reads_back_whole() {
        let results: Vec<_> = Runner::new("head -c {} /dev/zero")
            .unwrap()
            .ordered(true)
            .run(["10", "3000000"])
            .collect();
        assert_eq!(results[0].stdout.as_bytes(), Some(&[0u8; 10][..]));
        assert!(results[1].stdout.is_spilled());
        let big = results
            .into_iter()
            .nth(1)
            .unwrap()
            .stdout
            .into_bytes()
            .unwrap();
        assert_eq!(big.len(), 3_000_000);
    }

    #[test]
    fn a_missing_program_is_a_result_not_an_error() {
        let job = Runner::new("parx-no-such-program {}")
            .unwrap()
            .run(["x"])
            .next()
            .unwrap();
        assert_eq!(job.status, Status::NotStarted(127));
        assert!(!job.is_success());
        let stderr = String::from_utf8(job.stderr.into_bytes().unwrap()).unwrap();
        assert!(stderr.contains("parx-no-such-program"), "{stderr}");
    }

    #[test]
    fn jobs_see_their_number_and_slot_and_stderr_is_separate() {
        let mut results: Vec<_> = Runner::new("echo {#} {%} {}; echo err >&2")
            .unwrap()
            .slots(1)
            .run(["a", "b"])
            .map(|job| {
                (
                    job.index,
                    job.stdout.into_bytes().unwrap(),
                    job.stderr.into_bytes().unwrap(),
                )
            })
            .collect();
        results.sort();
        assert_eq!(
            results,
            [
                (0, b"1 1 a\n".to_vec(), b"err\n".to_vec()),
                (1, b"2 1 b\n".to_vec(), b"err\n".to_vec())
            ]
        );
    }

    #[test]
    fn slots_bound_the_jobs_running_at_once() {
        let started = Instant::now();
        let n = Runner::new("sleep")
            .unwrap()
            .slots(4)
            .run(["0.3"; 8])
            .filter(JobResult::is_success)
            .count();
        assert_eq!(n, 8);
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(600) && elapsed < Duration::from_millis(1500),
            "{elapsed:?}"
        );
    }
}
