//! Stopping: Ctrl-C, SIGTERM, SIGHUP and a closed stdout, and the registry of
//! running jobs' process groups that makes stopping leave nothing behind.
//!
//! Every job runs in its own process group, so a terminal's Ctrl-C reaches
//! only parx; parx then sends each running group the termination sequence
//! (default `TERM,200,TERM,100,TERM,50,KILL,25`: a signal, then milliseconds
//! to wait). A second Ctrl-C kills at once. SIGHUP starts nothing new and
//! lets running jobs finish (a later Ctrl-C or SIGTERM still terminates
//! them). SIGTSTP (Ctrl-Z) and SIGCONT are passed on to the jobs. SIGUSR1
//! and SIGUSR2 add or take away a job slot, as in GNU xargs (GNU parallel
//! uses them to list running jobs and toggle `--progress`). Groups are
//! signalled only while their leader is unreaped (see `exec`), so a recycled
//! process group id is never hit.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
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

/// Walks a termination sequence: each step sends its signal, then says how
/// long to wait before the next. One walker serves `--timeout` (one job,
/// from its event loop), `--memfree` (the youngest job) and stopping (every
/// job), so the three cannot drift apart.
#[derive(Debug, Clone, Copy)]
pub struct TermWalk<'a> {
    steps: &'a [TermStep],
    next: usize,
}

impl<'a> TermWalk<'a> {
    /// A walk through `steps` from the first.
    pub fn new(steps: &'a [TermStep]) -> Self {
        Self { steps, next: 0 }
    }

    /// Sends the next step's signal with `send` and returns the time to
    /// wait for the job(s) to end; `None` once the sequence is used up.
    pub fn step(&mut self, send: impl FnOnce(i32)) -> Option<Duration> {
        let step = self.steps.get(self.next)?;
        self.next += 1;
        send(step.signal);
        Some(step.wait)
    }
}

/// A running job, as the registry knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Running {
    /// Its process group (= leader pid).
    pgid: u32,
    /// Its job number.
    seq: u64,
    /// When it started, counted in job starts: the largest is the youngest.
    start: u64,
}

/// The running job of each slot.
#[derive(Debug, Default)]
struct Registry {
    slots: Vec<Option<Running>>,
    starts: u64,
    /// A stop has started terminating the running jobs: every job still
    /// registered from then on was (or is about to be) signalled by it.
    terminating: bool,
    /// Jobs being spawned, not registered yet (their process may already
    /// run and use memory).
    starting: usize,
}

/// Which running jobs a termination sequence is for.
#[derive(Debug, Clone, Copy)]
enum Target {
    All,
    One { slot: usize, job: Running },
}

/// Shared stop state and the running jobs of one run.
pub struct Control {
    stopping: AtomicBool,
    cause: Mutex<Option<StopCause>>,
    groups: Mutex<Registry>,
    changed: Condvar,
    kill_now: AtomicBool,
    termseq: Vec<TermStep>,
    /// How many slots may run jobs: `-j`, changed by SIGUSR1 and SIGUSR2.
    slot_limit: AtomicUsize,
    /// Whether SIGUSR1 and SIGUSR2 change the number of slots (not with
    /// `--round-robin`, whose jobs are one per slot for the whole run).
    pub resizable: AtomicBool,
    /// SIGHUP ends the run like SIGTERM (xargs mode), rather than letting
    /// running jobs finish.
    pub hangup_terminates: AtomicBool,
    /// Report slot changes on stderr (xargs is silent about them).
    pub announce_resize: AtomicBool,
}

impl Control {
    /// A control for `slots` job slots.
    pub fn new(slots: usize, termseq: Vec<TermStep>) -> Arc<Self> {
        Arc::new(Self {
            stopping: AtomicBool::new(false),
            cause: Mutex::new(None),
            groups: Mutex::new(Registry {
                slots: vec![None; slots],
                starts: 0,
                terminating: false,
                starting: 0,
            }),
            changed: Condvar::new(),
            kill_now: AtomicBool::new(false),
            termseq,
            slot_limit: AtomicUsize::new(slots.max(1)),
            resizable: AtomicBool::new(true),
            hangup_terminates: AtomicBool::new(false),
            announce_resize: AtomicBool::new(true),
        })
    }

    /// Sets the number of slots, for a control made before the number was
    /// known (`-S` learns it while connecting).
    pub fn set_slot_limit(&self, slots: usize) {
        self.slot_limit.store(slots.max(1), Ordering::Release);
    }

    /// The number of slots that may run jobs now.
    pub fn slot_limit(&self) -> usize {
        self.slot_limit.load(Ordering::Acquire)
    }

    /// SIGUSR1 (`grow`) or SIGUSR2: one slot more or one fewer, never fewer
    /// than one nor more than `max`. Returns the new number when it changed.
    /// A slot taken away finishes its running job first.
    pub fn resize(&self, grow: bool, max: usize) -> Option<usize> {
        if !self.resizable.load(Ordering::Acquire) {
            return None;
        }
        let changed = self
            .slot_limit
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| match grow {
                true if n < max => Some(n + 1),
                false if n > 1 => Some(n - 1),
                _ => None,
            });
        changed.ok().map(|old| if grow { old + 1 } else { old - 1 })
    }

    /// True once no new job may start.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// The first reason parx stopped, if it did.
    pub fn cause(&self) -> Option<StopCause> {
        *lock(&self.cause)
    }

    /// Records that slot `slot` runs job `seq` in process group `pgid`. If
    /// parx is already stopping, the job is terminated at once (it raced
    /// with the stop).
    pub fn register(&self, slot: usize, pgid: u32, seq: u64) {
        {
            let mut registry = lock(&self.groups);
            registry.starting = registry.starting.saturating_sub(1);
            registry.starts += 1;
            let start = registry.starts;
            if registry.slots.len() <= slot {
                registry.slots.resize(slot + 1, None);
            }
            registry.slots[slot] = Some(Running { pgid, seq, start });
        }
        if self.cause().is_some_and(StopCause::terminates_jobs) {
            lock(&self.groups).terminating = true;
            let signal = if self.kill_now.load(Ordering::Acquire) {
                libc::SIGKILL
            } else {
                libc::SIGTERM
            };
            sys::kill_group(pgid, signal);
        }
        self.changed.notify_all();
    }

    /// How many jobs are running.
    pub fn running(&self) -> usize {
        lock(&self.groups).slots.iter().flatten().count()
    }

    /// A job is about to be spawned (then [`Control::register`]ed, or
    /// [`Control::not_started`]).
    pub fn starting(&self) {
        lock(&self.groups).starting += 1;
    }

    /// The job announced by [`Control::starting`] could not be spawned.
    pub fn not_started(&self) {
        let mut registry = lock(&self.groups);
        registry.starting = registry.starting.saturating_sub(1);
        drop(registry);
        self.changed.notify_all();
    }

    /// Forgets slot `slot`'s job; call after it exited and before reaping it.
    /// True when a stop (a signal to parx, `--halt now`, an output failure)
    /// had begun terminating jobs while this one was registered: it may
    /// have been killed by the stop rather than ended by itself.
    pub fn unregister(&self, slot: usize) -> bool {
        let terminating = {
            let mut registry = lock(&self.groups);
            if let Some(entry) = registry.slots.get_mut(slot) {
                *entry = None;
            }
            registry.terminating
        };
        self.changed.notify_all();
        terminating
    }

    /// Sends `signal` to every running job's process group.
    pub fn signal_all(&self, signal: i32) {
        self.signal(Target::All, signal);
    }

    fn signal(&self, target: Target, signal: i32) {
        let registry = lock(&self.groups);
        match target {
            Target::All => {
                for job in registry.slots.iter().flatten() {
                    sys::kill_group(job.pgid, signal);
                }
            }
            Target::One { slot, job } => {
                // Only while that very job still runs there.
                if registry.slots.get(slot) == Some(&Some(job)) {
                    sys::kill_group(job.pgid, signal);
                }
            }
        }
    }

    fn is_over(&self, registry: &Registry, target: Target) -> bool {
        match target {
            Target::All => registry.slots.iter().all(Option::is_none),
            Target::One { slot, job } => registry.slots.get(slot) != Some(&Some(job)),
        }
    }

    /// `--memfree`: runs the termination sequence on the job that started
    /// last, and returns once it ended (or the sequence is used up).
    /// `chosen` learns the job's number first. False when no job runs.
    pub fn terminate_youngest(&self, chosen: impl FnOnce(u64)) -> bool {
        let (slot, job) = {
            // A job being spawned may be the youngest (and the one using
            // the memory): wait (a moment at most) until it is registered.
            let mut registry = lock(&self.groups);
            let until = Instant::now() + Duration::from_secs(1);
            while registry.starting > 0 && Instant::now() < until {
                registry = self
                    .changed
                    .wait_timeout(registry, Duration::from_millis(10))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            registry
                .slots
                .iter()
                .enumerate()
                .filter_map(|(slot, job)| Some((slot, (*job)?)))
                .max_by_key(|(_, job)| job.start)
        }
        .unzip();
        let (Some(slot), Some(job)) = (slot, job) else {
            return false;
        };
        chosen(job.seq);
        self.run_termseq(Target::One { slot, job });
        // The job's leader has ended; the memory comes back only once the
        // rest of its group (a pipeline's other commands) is gone too, so
        // wait for that (up to a second) before memory is looked at again.
        let gone_by = Instant::now() + Duration::from_secs(1);
        while sys::group_exists(job.pgid) && Instant::now() < gone_by {
            std::thread::sleep(Duration::from_millis(10));
        }
        true
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
        lock(&self.groups).terminating = true;
        self.signal_all(libc::SIGKILL);
        self.changed.notify_all();
    }

    fn terminate(&self) {
        lock(&self.groups).terminating = true;
        self.run_termseq(Target::All);
    }

    fn run_termseq(&self, target: Target) {
        let mut walk = TermWalk::new(&self.termseq);
        loop {
            if self.kill_now.load(Ordering::Acquire) {
                return;
            }
            let Some(wait) = walk.step(|signal| self.signal(target, signal)) else {
                return;
            };
            let deadline = Instant::now() + wait;
            let mut registry = lock(&self.groups);
            loop {
                if self.is_over(&registry, target) {
                    return;
                }
                let now = Instant::now();
                if now >= deadline || self.kill_now.load(Ordering::Acquire) {
                    break;
                }
                registry = self
                    .changed
                    .wait_timeout(registry, deadline - now)
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
            libc::SIGCONT | libc::SIGUSR1 | libc::SIGUSR2 => {}
            libc::SIGTSTP => {
                let _ = signal_hook::low_level::emulate_default_handler(signal);
            }
            _ => sys::die_of_signal(signal),
        }
        return;
    };
    match signal {
        libc::SIGHUP if !control.hangup_terminates.load(Ordering::Acquire) => {
            let first = control.cause().is_none();
            control.stop(StopCause::Hangup);
            // As GNU parallel says it: the run will end short of its jobs.
            if first && control.announce_resize.load(Ordering::Acquire) {
                let running = control.running();
                let plural = if running == 1 { "" } else { "s" };
                eprintln!(
                    "parx: SIGHUP: starting no new jobs; waiting for {running} running job{plural} to finish"
                );
            }
        }
        // Ctrl-Z reaches only parx's process group: stop the jobs too, then
        // parx itself; on `fg` (SIGCONT) wake them again.
        libc::SIGTSTP => {
            control.signal_all(libc::SIGTSTP);
            let _ = signal_hook::low_level::emulate_default_handler(libc::SIGTSTP);
        }
        libc::SIGCONT => control.signal_all(libc::SIGCONT),
        libc::SIGUSR1 | libc::SIGUSR2 => resize(&control, signal == libc::SIGUSR1),
        _ if control.cause().is_some_and(StopCause::terminates_jobs) => control.kill_all_now(),
        _ => control.stop(StopCause::Signal(signal)),
    }
}

/// SIGUSR1 and SIGUSR2: one job slot more or fewer, as GNU xargs does.
fn resize(control: &Control, grow: bool) {
    let name = if grow { "SIGUSR1" } else { "SIGUSR2" };
    // One more slot must fit the process and open-file limits (raised
    // as far as the hard limit allows).
    // (Only growing needs it: fitting may raise the open-file limit.)
    let max = if grow {
        sys::max_slots().min(sys::fit_slots_to_open_files(control.slot_limit() + 1))
    } else {
        usize::MAX
    };
    let announce = control.announce_resize.load(Ordering::Acquire);
    match control.resize(grow, max) {
        Some(slots) => {
            if announce {
                let plural = if slots == 1 { "" } else { "s" };
                eprintln!("parx: {name}: running up to {slots} job{plural} at once now");
            }
        }
        None if !announce => {}
        None if !control.resizable.load(Ordering::Acquire) => {
            eprintln!("parx: {name} ignored: --round-robin keeps one job per slot");
        }
        None if grow => eprintln!(
            "parx: {name} ignored: {} job slots is the most the open-file and process limits allow",
            control.slot_limit()
        ),
        None => eprintln!("parx: {name} ignored: one job slot is the least"),
    }
}

/// Set when SIGUSR1 belongs to someone else: the `jobserver` crate wakes
/// its helper thread with `pthread_kill(SIGUSR1)`, which a handler here
/// could not tell from a user's `kill -USR1` (without siginfo's si_code,
/// which signal-hook gives only with a C helper built in). Under make the
/// number of jobs follows make's tokens anyway; SIGUSR2 still takes a slot
/// away.
static SIGUSR1_TAKEN: AtomicBool = AtomicBool::new(false);

/// Leaves SIGUSR1 to make's jobserver client; call before [`install`].
pub fn leave_sigusr1() {
    SIGUSR1_TAKEN.store(true, Ordering::Release);
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
            libc::SIGUSR1,
            libc::SIGUSR2,
        ];
        let handled: Vec<i32> = wanted
            .into_iter()
            .filter(|&s| !sys::is_ignored(s))
            .filter(|&s| s != libc::SIGUSR1 || !SIGUSR1_TAKEN.load(Ordering::Acquire))
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
