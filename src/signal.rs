//! Stopping: Ctrl-C, SIGTERM, SIGHUP and a closed stdout, and the registry of
//! running jobs' process groups that makes stopping leave nothing behind.
//!
//! Every job runs in its own process group, so a terminal's Ctrl-C reaches
//! only parx; parx then sends each running group the termination sequence
//! (default `TERM,200,TERM,100,TERM,50,KILL,25`: a signal, then milliseconds
//! to wait). A second Ctrl-C kills at once. SIGHUP starts nothing new and
//! lets running jobs finish (a later Ctrl-C or SIGTERM still terminates
//! them). SIGTSTP (Ctrl-Z) and SIGCONT are passed on to the jobs. Groups are
//! signalled only while their leader is unreaped (see `exec`), so a recycled
//! process group id is never hit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::sys;

/// Why parx stopped starting jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// SIGINT or SIGTERM: running jobs were terminated.
    Signal(i32),
    /// SIGHUP: running jobs were allowed to finish.
    Hangup,
    /// parx's stdout was closed by its reader.
    BrokenPipe,
    /// parx itself failed (writing its stdout, starting job slots): 255.
    OwnError,
    /// `--halt`: `now` terminates running jobs, `soon` lets them finish.
    Halt {
        /// `now` rather than `soon`.
        now: bool,
    },
}

impl StopCause {
    /// Whether running jobs are terminated (rather than allowed to finish).
    pub fn terminates_jobs(self) -> bool {
        !matches!(self, StopCause::Hangup | StopCause::Halt { now: false })
    }
}

/// One step of a termination sequence: send `signal`, then wait up to `wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermStep {
    /// The signal to send.
    pub signal: i32,
    /// How long to wait for the jobs to end before the next step.
    pub wait: Duration,
}

/// GNU parallel's default `--termseq`.
pub fn default_termseq() -> Vec<TermStep> {
    [
        (libc::SIGTERM, 200),
        (libc::SIGTERM, 100),
        (libc::SIGTERM, 50),
        (libc::SIGKILL, 25),
    ]
    .into_iter()
    .map(|(signal, ms)| TermStep {
        signal,
        wait: Duration::from_millis(ms),
    })
    .collect()
}

/// Shared stop state and the running jobs of one run.
pub struct Control {
    stopping: AtomicBool,
    cause: Mutex<Option<StopCause>>,
    /// Process group (= leader pid) of the job running in each slot.
    groups: Mutex<Vec<Option<u32>>>,
    changed: Condvar,
    kill_now: AtomicBool,
    termseq: Vec<TermStep>,
    /// SIGHUP ends the run like SIGTERM (xargs mode), rather than letting
    /// running jobs finish.
    pub hangup_terminates: AtomicBool,
}

impl Control {
    /// A control for `slots` job slots.
    pub fn new(slots: usize, termseq: Vec<TermStep>) -> Arc<Self> {
        Arc::new(Self {
            stopping: AtomicBool::new(false),
            cause: Mutex::new(None),
            groups: Mutex::new(vec![None; slots]),
            changed: Condvar::new(),
            kill_now: AtomicBool::new(false),
            termseq,
            hangup_terminates: AtomicBool::new(false),
        })
    }

    /// True once no new job may start.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// The first reason parx stopped, if it did.
    pub fn cause(&self) -> Option<StopCause> {
        *lock(&self.cause)
    }

    /// Records that slot `slot` runs process group `pgid`. If parx is already
    /// stopping, the job is terminated at once (it raced with the stop).
    pub fn register(&self, slot: usize, pgid: u32) {
        lock(&self.groups)[slot] = Some(pgid);
        if self.cause().is_some_and(StopCause::terminates_jobs) {
            let signal = if self.kill_now.load(Ordering::Acquire) {
                libc::SIGKILL
            } else {
                libc::SIGTERM
            };
            sys::kill_group(pgid, signal);
        }
    }

    /// Forgets slot `slot`'s job; call after it exited and before reaping it.
    pub fn unregister(&self, slot: usize) {
        lock(&self.groups)[slot] = None;
        self.changed.notify_all();
    }

    /// Sends `signal` to every running job's process group.
    pub fn signal_all(&self, signal: i32) {
        for pgid in lock(&self.groups).iter().flatten() {
            sys::kill_group(*pgid, signal);
        }
    }

    /// Stops starting jobs. For a signal or an output failure, also runs the
    /// termination sequence on a helper thread.
    pub fn stop(self: &Arc<Self>, cause: StopCause) {
        {
            let mut c = lock(&self.cause);
            match *c {
                // A soft stop (SIGHUP, --halt soon) may still be escalated
                // by Ctrl-C or SIGTERM; anything else keeps the first cause.
                Some(old) if old.terminates_jobs() || !cause.terminates_jobs() => return,
                _ => *c = Some(cause),
            }
        }
        self.stopping.store(true, Ordering::Release);
        self.changed.notify_all();
        if cause.terminates_jobs() {
            let this = Arc::clone(self);
            std::thread::spawn(move || this.terminate());
        }
    }

    /// A second interrupt: kill every running job now.
    pub fn kill_all_now(&self) {
        self.kill_now.store(true, Ordering::Release);
        self.signal_all(libc::SIGKILL);
        self.changed.notify_all();
    }

    fn terminate(&self) {
        for step in &self.termseq {
            if self.kill_now.load(Ordering::Acquire) {
                return;
            }
            self.signal_all(step.signal);
            let deadline = Instant::now() + step.wait;
            let mut groups = lock(&self.groups);
            loop {
                if groups.iter().all(Option::is_none) {
                    return;
                }
                let now = Instant::now();
                if now >= deadline || self.kill_now.load(Ordering::Acquire) {
                    break;
                }
                groups = self
                    .changed
                    .wait_timeout(groups, deadline - now)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0;
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The data guarded here stays consistent even if a holder panicked.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The run that signals are delivered to.
fn current() -> &'static Mutex<Option<Arc<Control>>> {
    static CURRENT: OnceLock<Mutex<Option<Arc<Control>>>> = OnceLock::new();
    CURRENT.get_or_init(|| Mutex::new(None))
}

fn on_signal(signal: i32) {
    let Some(control) = lock(current()).clone() else {
        // No run in progress: behave as if parx had no handler.
        match signal {
            libc::SIGCONT => {}
            libc::SIGTSTP => {
                let _ = signal_hook::low_level::emulate_default_handler(signal);
            }
            _ => sys::die_of_signal(signal),
        }
        return;
    };
    match signal {
        libc::SIGHUP if !control.hangup_terminates.load(Ordering::Acquire) => {
            control.stop(StopCause::Hangup);
        }
        // Ctrl-Z reaches only parx's process group: stop the jobs too, then
        // parx itself; on `fg` (SIGCONT) wake them again.
        libc::SIGTSTP => {
            control.signal_all(libc::SIGTSTP);
            let _ = signal_hook::low_level::emulate_default_handler(libc::SIGTSTP);
        }
        libc::SIGCONT => control.signal_all(libc::SIGCONT),
        _ if control.cause().is_some_and(StopCause::terminates_jobs) => control.kill_all_now(),
        _ => control.stop(StopCause::Signal(signal)),
    }
}

/// Routes SIGINT, SIGTERM and SIGHUP to `control` for the rest of the run.
/// The handlers are installed once per process; later runs reuse them.
pub fn install(control: &Arc<Control>) {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    *lock(current()) = Some(Arc::clone(control));
    INSTALLED.get_or_init(|| {
        // SIGTERM and SIGHUP come through signal-hook's self-pipe on a thread
        // of their own: ctrlc cannot tell them apart from SIGINT, and
        // blocking them instead would leak the mask into every job. A signal
        // parx was started with ignored (nohup, a script's `&`) stays ignored.
        let wanted = [
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGTSTP,
            libc::SIGCONT,
        ];
        let handled: Vec<i32> = wanted
            .into_iter()
            .filter(|&s| !sys::is_ignored(s))
            .collect();
        match signal_hook::iterator::Signals::new(handled) {
            Ok(mut signals) => {
                std::thread::Builder::new()
                    .name("parx-signals".into())
                    .spawn(move || {
                        for signal in signals.forever() {
                            on_signal(signal);
                        }
                    })
                    .expect("cannot start the signal thread");
            }
            Err(err) => eprintln!("parx: cannot handle SIGTERM and SIGHUP: {err}"),
        }
        // If this fails (an embedding program has its own handler), Ctrl-C
        // keeps that program's behaviour.
        if !sys::is_ignored(libc::SIGINT) {
            let _ = ctrlc::set_handler(|| on_signal(libc::SIGINT));
        }
    });
}

/// Ends signal routing to this run.
pub fn uninstall() {
    *lock(current()) = None;
}
