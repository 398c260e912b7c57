//! The job pool: a bounded queue of jobs fed by one producer and `-j`
//! worker threads, one per slot, that take the next job as soon as theirs
//! has finished.
//!
//! Jobs go through a crossbeam-deque `Injector`. With a single producer and
//! jobs that never spawn sub-jobs, stealing from the global injector one job
//! at a time is the whole of work stealing that is useful: it keeps jobs
//! starting in input order (as GNU parallel does) while any idle slot takes
//! the next one at once. The queue is bounded so that parx never reads its
//! input further ahead than the slots can use.
//!
//! Also here: the policies a worker applies around each job (`--delay`,
//! `--timeout N%`, `--halt`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Steal};

use crate::batch::Job;
use crate::exec::{Outcome, Status};
use crate::output::Terminal;
use crate::signal::{Control, StopCause};
use crate::units::{Halt, HaltLimit, HaltOn, HaltWhen, Timeout};

/// How often a waiting producer or worker re-checks whether parx is stopping.
const STOP_POLL: Duration = Duration::from_millis(50);

#[derive(Debug, Default)]
struct State {
    queued: usize,
    closed: bool,
    /// The pool's threads that take jobs ([`Taker`]), how many of them are
    /// running one, and how many have not taken their first yet.
    takers: usize,
    busy: usize,
    fresh: usize,
    /// Bumped to wake the pool: a taker left, or a job waits while no taker
    /// is free and the pool said it could start another (`hungry`).
    events: u64,
    hungry: bool,
}

impl State {
    /// More jobs are waiting or running than there are threads to take
    /// them, and every thread took a job already (so that the first jobs
    /// get the slots in order).
    fn wants_taker(&self) -> bool {
        self.fresh == 0 && self.queued + self.busy > self.takers
    }
}

/// A bounded multi-consumer queue of jobs (or any other work items).
pub struct Queue<T = Job> {
    injector: Injector<T>,
    state: Mutex<State>,
    work: Condvar,
    space: Condvar,
    /// The pool waits here for [`State::events`].
    pool: Condvar,
    capacity: usize,
    /// `--delay`: jobs leave the queue no faster than this.
    pacer: Option<Pacer>,
}

impl<T> Queue<T> {
    /// A queue holding at most `capacity` jobs not yet started. With
    /// `capacity` 0, [`Queue::push`] also waits until its job has been
    /// taken: the producer then holds no second job meanwhile (`--pipe`,
    /// where each job is a block of up to `--block` bytes).
    pub fn new(capacity: usize) -> Self {
        Self {
            injector: Injector::new(),
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            space: Condvar::new(),
            pool: Condvar::new(),
            capacity,
            pacer: None,
        }
    }

    /// `--delay`: the jobs' first attempts start at least `delay` apart, in
    /// the order they are taken (which is input order): each job gets its
    /// turn as it leaves the queue, and a taker returns it at that turn.
    #[must_use]
    pub fn paced(mut self, delay: Duration) -> Self {
        self.pacer = Some(Pacer::new(delay));
        self
    }

    /// The pace of `--delay`, for the attempts after a job's first.
    pub fn pacer(&self) -> Option<&Pacer> {
        self.pacer.as_ref()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a job, waiting while the queue is full. Returns false (dropping
    /// the job) once parx is stopping.
    pub fn push(&self, job: T, control: &Control) -> bool {
        let mut state = self.lock();
        while state.queued >= self.capacity.max(1) {
            if control.is_stopping() {
                return false;
            }
            state = self.wait_for_space(state);
        }
        if control.is_stopping() {
            return false;
        }
        self.injector.push(job);
        state.queued += 1;
        let grow = state.hungry && state.wants_taker();
        if grow {
            state.events += 1;
        }
        drop(state);
        self.work.notify_one();
        if grow {
            self.pool.notify_all();
        }
        if self.capacity == 0 {
            // Hand to hand: back once a taker has it (or parx stops).
            let mut state = self.lock();
            while state.queued > 0 && !control.is_stopping() {
                state = self.wait_for_space(state);
            }
        }
        true
    }

    fn wait_for_space<'a>(&self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.space
            .wait_timeout(state, STOP_POLL)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
    }

    /// No more jobs will come.
    pub fn close(&self) {
        self.lock().closed = true;
        self.work.notify_all();
    }

    /// A guard that closes the queue when dropped, also while its thread
    /// unwinds from a panic (the slots would wait for jobs forever), and
    /// then sets `failed`.
    pub fn closer<'a>(&'a self, failed: &'a AtomicBool) -> Closer<'a, T> {
        Closer {
            queue: self,
            failed,
        }
    }

    /// True once the queue is closed and every job in it was taken.
    pub fn is_done(&self) -> bool {
        let state = self.lock();
        state.closed && state.queued == 0
    }

    /// The next job, or `None` when the queue is closed and empty, or parx
    /// is stopping.
    pub fn take(&self, control: &Control) -> Option<T> {
        self.take_unless(control, || false)
    }

    /// As [`Queue::take`], but also gives up (`None`) once `leave()` is true.
    pub fn take_unless(&self, control: &Control, leave: impl Fn() -> bool) -> Option<T> {
        self.take_counted(control, &leave, None)
    }

    /// Takes a job; `taker`: a [`Taker`]'s, which runs it from now on.
    fn take_counted(
        &self,
        control: &Control,
        leave: &dyn Fn() -> bool,
        taker: Option<&mut Taker<'_, T>>,
    ) -> Option<T> {
        loop {
            if control.is_stopping() || leave() {
                return None;
            }
            // The steal happens under the lock, so that `--delay` turns,
            // given out here too, follow the order jobs leave the queue.
            let mut state = self.lock();
            match self.injector.steal() {
                Steal::Success(job) => {
                    state.queued -= 1;
                    // A taker's first job lets the pool start another.
                    let mut grow = false;
                    if let Some(taker) = taker {
                        taker.busy = true;
                        taker.turn = self.pacer.as_ref().map(Pacer::reserve);
                        state.busy += 1;
                        if std::mem::take(&mut taker.fresh) {
                            state.fresh -= 1;
                            grow = state.hungry && state.wants_taker();
                            state.events += u64::from(grow);
                        }
                    }
                    drop(state);
                    self.space.notify_one();
                    if grow {
                        self.pool.notify_all();
                    }
                    return Some(job);
                }
                Steal::Retry => continue,
                Steal::Empty if state.queued == 0 => {
                    if state.closed {
                        return None;
                    }
                    drop(
                        self.work
                            .wait_timeout(state, STOP_POLL)
                            .unwrap_or_else(std::sync::PoisonError::into_inner),
                    );
                }
                Steal::Empty => {
                    // A job is being pushed right now; it is visible in a moment.
                    drop(state);
                    std::thread::yield_now();
                }
            }
        }
    }
}

impl<T> Queue<T> {
    /// Counts one more thread of the pool, which takes jobs through the
    /// returned handle until it drops it.
    fn taker(&self) -> Taker<'_, T> {
        let mut state = self.lock();
        state.takers += 1;
        state.fresh += 1;
        Taker {
            queue: self,
            busy: false,
            fresh: true,
            turn: None,
        }
    }

    /// The pool's wake-up count, for [`Queue::wait_for_pool_event`].
    fn pool_events(&self) -> u64 {
        self.lock().events
    }

    /// Whether jobs wait with no free taker for them.
    fn wants_taker(&self) -> bool {
        self.lock().wants_taker()
    }

    /// The pool sleeps until the count moves on from `seen` (or `timeout`);
    /// `hungry`: it could start another taker, so a job that waits with no
    /// free taker wakes it.
    fn wait_for_pool_event(&self, seen: u64, hungry: bool, timeout: Duration) {
        let mut state = self.lock();
        state.hungry = hungry;
        if state.events == seen && !(hungry && state.wants_taker()) {
            drop(
                self.pool
                    .wait_timeout(state, timeout)
                    .unwrap_or_else(PoisonError::into_inner),
            );
        }
    }
}

/// One of the pool's threads, as the queue counts them: the pool starts
/// another only while jobs wait that no taker is free for.
struct Taker<'q, T> {
    queue: &'q Queue<T>,
    /// Running a job taken here (until the next `take`).
    busy: bool,
    /// Not one job taken yet.
    fresh: bool,
    /// `--delay`: when the job just taken may start.
    turn: Option<Instant>,
}

impl<T> Taker<'_, T> {
    /// The next job, the previous one being done; `None` as
    /// [`Queue::take_unless`]. With `--delay`, returns at the job's turn.
    fn take(&mut self, control: &Control, leave: &dyn Fn() -> bool) -> Option<T> {
        if std::mem::take(&mut self.busy) {
            self.queue.lock().busy -= 1;
        }
        let queue = self.queue;
        let job = queue.take_counted(control, leave, Some(self))?;
        match (&queue.pacer, self.turn.take()) {
            // (Parx stopping meanwhile drops the job.)
            (Some(pacer), Some(at)) => pacer.wait_until(at, control).then_some(job),
            _ => Some(job),
        }
    }
}

impl<T> Drop for Taker<'_, T> {
    fn drop(&mut self) {
        let mut state = self.queue.lock();
        state.takers -= 1;
        state.busy -= usize::from(self.busy);
        state.fresh -= usize::from(self.fresh);
        state.events += 1;
        drop(state);
        self.queue.pool.notify_all();
    }
}

/// See [`Queue::closer`].
pub struct Closer<'a, T> {
    queue: &'a Queue<T>,
    failed: &'a AtomicBool,
}

impl<T> Drop for Closer<'_, T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.failed.store(true, Ordering::Release);
        }
        self.queue.close();
    }
}

/// Runs `work(slot, job)` on one thread per slot until the queue is used up
/// or parx stops. Slots are numbered from 0; there are `slots` of them at
/// first, then as many as `control.slot_limit()` says (SIGUSR1 and SIGUSR2
/// change it while jobs run): a slot taken away ends after its running job,
/// a slot added starts taking jobs at once. If the system refuses some of
/// the threads, the pool runs with those it got (after a warning); with none
/// it returns the error.
///
/// One pool per queue: the queue keeps the pool's count of threads.
pub fn run_pool<T, F>(
    slots: usize,
    queue: &Queue<T>,
    control: &Control,
    work: F,
) -> std::io::Result<()>
where
    T: Send,
    F: Fn(usize, T) + Sync,
{
    run_pool_open(slots, queue, control, |_| true, work)
}

/// [`run_pool`], where a slot below the limit also takes jobs only while
/// `is_open(slot)` (`--slf`: a slot whose host was taken away is closed,
/// and opens again when a host added later gets it). A closed slot's
/// thread ends after its running job; the pool looks at closed slots
/// again every 50 ms.
pub fn run_pool_open<T, F, O>(
    slots: usize,
    queue: &Queue<T>,
    control: &Control,
    is_open: O,
    work: F,
) -> std::io::Result<()>
where
    T: Send,
    F: Fn(usize, T) + Sync,
    O: Fn(usize) -> bool + Sync,
{
    // Which slots have a thread, and whether the queue has run dry.
    #[derive(Default)]
    struct Threads {
        live: Vec<bool>,
        dry: bool,
    }
    let threads = Mutex::new(Threads::default());
    let lock = || threads.lock().unwrap_or_else(PoisonError::into_inner);
    std::thread::scope(|scope| {
        let mut limit = control.slot_limit();
        let mut wanted = slots.max(1);
        // The most threads the system gave us, once it refused one.
        let mut cap = usize::MAX;
        loop {
            let seen = queue.pool_events();
            let mut state = lock();
            let mut running = state.live.iter().filter(|&&live| live).count();
            // A slot could get a thread, but no job waits for one.
            let mut hungry = false;
            if state.dry || control.is_stopping() {
                if running == 0 {
                    return Ok(());
                }
            } else {
                // Slot threads start one at a time, the lowest free slot
                // first: one waits for the first job, and another starts
                // only while jobs wait that no thread is free for. A short
                // run starts only the threads it uses, and the first jobs
                // get slots 1, 2, 3 ... in order (as in GNU parallel).
                for slot in 0..wanted.min(cap) {
                    if state.live.get(slot).copied().unwrap_or(false) || !is_open(slot) {
                        continue;
                    }
                    if running > 0 && !queue.wants_taker() {
                        hungry = true;
                        break;
                    }
                    let taker = queue.taker();
                    let (threads, work, is_open) = (&threads, &work, &is_open);
                    let started = std::thread::Builder::new()
                        .name(format!("parx-slot-{}", slot + 1))
                        .stack_size(256 * 1024)
                        .spawn_scoped(scope, move || {
                            let mut taker = taker;
                            let retired = || slot >= control.slot_limit() || !is_open(slot);
                            let mut dry = false;
                            while !retired() {
                                match taker.take(control, &retired) {
                                    Some(job) => work(slot, job),
                                    None => {
                                        dry = !retired() && !control.is_stopping();
                                        break;
                                    }
                                }
                            }
                            let mut state = threads.lock().unwrap_or_else(PoisonError::into_inner);
                            state.live[slot] = false;
                            state.dry |= dry;
                            drop(state);
                            // (Wakes the pool.)
                            drop(taker);
                        });
                    match started {
                        Ok(_) => {
                            if state.live.len() <= slot {
                                state.live.resize(slot + 1, false);
                            }
                            state.live[slot] = true;
                            running += 1;
                        }
                        Err(err) if running == 0 && slot == 0 => return Err(err),
                        Err(err) => {
                            eprintln!(
                                "parx: warning: running {slot} job slots, not {wanted}: {err}"
                            );
                            cap = slot.max(1);
                            break;
                        }
                    }
                }
            }
            drop(state);
            // Wake for a thread that ended, a job that waits, or look again
            // for a new limit.
            queue.wait_for_pool_event(seen, hungry, STOP_POLL);
            if control.slot_limit() != limit {
                limit = control.slot_limit();
                wanted = limit;
            }
        }
    })
}

/// `--load` and `--memfree`: job starts wait while the machine is busy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gate {
    /// Start only while fewer processes than this are runnable.
    pub load: Option<f64>,
    /// Start only while at least this many bytes are available.
    pub memfree: Option<u64>,
}

impl Gate {
    /// How often a closed gate is looked at again.
    const RECHECK: Duration = Duration::from_millis(100);

    /// Waits until a job may start: `Some(waited)`, whether the gate was
    /// closed at first; `None` if parx is stopping meanwhile. A reading the
    /// system cannot give (no /proc) never holds jobs back.
    pub fn wait_open(&self, control: &Control) -> Option<bool> {
        if self.load.is_none() && self.memfree.is_none() {
            return Some(false);
        }
        let mut waited = false;
        loop {
            if control.is_stopping() {
                return None;
            }
            // (map_or rather than is_none_or: the crate supports Rust 1.80.)
            let load_ok = self.load.map_or(true, |max| {
                crate::sys::runnable_processes().map_or(true, |n| (n as f64) < max)
            });
            let memory_ok = self.memfree.map_or(true, |min| {
                crate::memory::available().map_or(true, |free| free >= min)
            });
            if load_ok && memory_ok {
                return Some(waited);
            }
            waited = true;
            std::thread::sleep(Self::RECHECK);
        }
    }
}

impl Gate {
    /// `--memfree`'s other half, run on a thread of its own while jobs run:
    /// whenever the memory available falls under half of SIZE, the job that
    /// started last gets the `--termseq` sequence (it counts as failed, so
    /// `--retries` runs it again once memory allows, as in GNU parallel),
    /// then memory is looked at again. Returns when `done` says so (or its
    /// sender is gone).
    pub fn evict_while_short(
        &self,
        control: &Control,
        terminal: &Terminal,
        done: &std::sync::mpsc::Receiver<()>,
    ) {
        let Some(min) = self.memfree else { return };
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = done.recv_timeout(Self::RECHECK)
        {
            let Some(free) = crate::memory::available() else {
                continue;
            };
            if free >= min / 2 {
                continue;
            }
            control.terminate_youngest(|seq| {
                terminal.message(&format!(
                    "parx: only {:.0} MiB of memory available, under half of --memfree ({:.0} MiB): \
                     terminating job {seq}, the last started\n",
                    mib(free),
                    mib(min)
                ));
            });
        }
    }
}

/// `--delay`: spaces job starts out across all slots.
pub struct Pacer {
    delay: Duration,
    /// When the last job started.
    last: Mutex<Option<Instant>>,
}

impl Pacer {
    fn new(delay: Duration) -> Self {
        Self {
            delay,
            last: Mutex::new(None),
        }
    }

    /// The next turn: `delay` after the last one given out, or now.
    fn reserve(&self) -> Instant {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let at = last.map_or(now, |l| (l + self.delay).max(now));
        *last = Some(at);
        at
    }

    /// Waits for the next turn; false if parx is stopping meanwhile.
    pub fn wait_turn(&self, control: &Control) -> bool {
        self.wait_until(self.reserve(), control)
    }

    /// Waits until `at`; false if parx is stopping meanwhile.
    fn wait_until(&self, at: Instant, control: &Control) -> bool {
        loop {
            if control.is_stopping() {
                return false;
            }
            let now = Instant::now();
            if now >= at {
                return true;
            }
            std::thread::sleep((at - now).min(STOP_POLL));
        }
    }
}

/// Runtimes of recent successful jobs, for `--timeout N%`.
#[derive(Default)]
pub struct Runtimes {
    recent: Mutex<VecDeque<Duration>>,
}

impl Runtimes {
    /// Enough history for a median without holding every runtime of a run.
    const KEPT: usize = 1000;

    /// Notes a successful job's runtime.
    pub fn record(&self, runtime: Duration) {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        if recent.len() == Self::KEPT {
            recent.pop_front();
        }
        recent.push_back(runtime);
    }

    /// The timeout for the next job: fixed, or a percentage of the median
    /// of recent successful runtimes once three jobs have succeeded.
    pub fn timeout(&self, timeout: Timeout) -> Option<Duration> {
        match timeout {
            Timeout::Fixed(d) => Some(d),
            Timeout::PercentOfMedian(pct) => {
                let mut sorted: Vec<Duration> = self
                    .recent
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                    .copied()
                    .collect();
                if sorted.len() < 3 {
                    return None;
                }
                sorted.sort_unstable();
                Some(sorted[sorted.len() / 2].mul_f64(pct / 100.0))
            }
        }
    }
}

/// `--halt`: counts finished jobs and stops parx when the rule is met.
/// Checked by the worker as its job ends, before it takes another, so no
/// job starts after the one that triggered the halt.
///
/// A percentage is of all the jobs, as in GNU parallel: the rule strikes
/// once the jobs counted reach `total × N / 100` (computed in floating
/// point, as there), so the total must be known before the first job ends
/// (`--total-jobs`, or every job made first).
pub struct HaltCheck {
    rule: Option<Halt>,
    /// Failed, succeeded, finished.
    counts: Mutex<[u64; 3]>,
    /// The number of jobs, for a percentage.
    total: OnceLock<u64>,
    /// Attempts started (each `--retries` attempt counts, as in GNU
    /// parallel), for the status of a percentage rule that never struck.
    started: AtomicU64,
}

impl HaltCheck {
    /// Applies `rule` (none: never halt).
    pub fn new(rule: Option<Halt>) -> Self {
        Self {
            rule,
            counts: Mutex::new([0; 3]),
            total: OnceLock::new(),
            started: AtomicU64::new(0),
        }
    }

    /// Whether the rule is a percentage and the total is not known yet.
    pub fn needs_total(&self) -> bool {
        matches!(
            self.rule,
            Some(Halt {
                limit: HaltLimit::Percent(_),
                ..
            })
        ) && self.total.get().is_none()
    }

    /// Sets the number of jobs a percentage is of (the first call wins).
    pub fn set_total(&self, jobs: u64) {
        let _ = self.total.set(jobs);
    }

    /// Notes that a job (or another attempt of one) starts.
    pub fn job_started(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    /// `failed` as a percentage of `of`, rounded up: GNU parallel's exit
    /// status for percentage rules.
    fn percent_failed(failed: u64, of: u64) -> i32 {
        let pct = (failed as f64 / of.max(1) as f64 * 100.0).ceil();
        // (at most 100 unless --total-jobs undercounts; exit_for clamps)
        pct.min(f64::from(i32::MAX)) as i32
    }

    /// Counts `outcome`; if that meets the rule, stops parx and returns the
    /// exit status GNU parallel gives in that case: 0 for `success`; for
    /// `fail` and `done`, the job's own status with a count of 1, the
    /// number of failed jobs so far (at most 101) with a larger count, and
    /// the percentage of all the jobs that failed so far (rounded up) with
    /// a percentage. With it comes the message to print once the job's
    /// output is out (GNU parallel's order).
    pub fn check(
        &self,
        outcome: &Outcome,
        command: &[u8],
        control: &Arc<Control>,
    ) -> Option<(i32, String)> {
        let rule = self.rule?;
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let failed = outcome.is_failure();
        counts[usize::from(!failed)] += 1;
        counts[2] += 1;
        let (hit, count, what) = match rule.on {
            HaltOn::Fail => (failed, counts[0], "failed"),
            HaltOn::Success => (!failed, counts[1], "succeeded"),
            HaltOn::Done => (true, counts[2], "finished"),
        };
        let reached = match rule.limit {
            HaltLimit::Jobs(n) => count >= n,
            // (f64 as GNU parallel's Perl: 7% of 100 jobs is 7.000000000000001.)
            HaltLimit::Percent(pct) => self
                .total
                .get()
                .is_some_and(|&total| count as f64 >= total as f64 * (pct as f64 / 100.0)),
        };
        if !hit || !reached || control.is_stopping() {
            return None;
        }
        let message = format!(
            "parx: halting: this job {what}: {}\n",
            String::from_utf8_lossy(command)
        );
        control.stop(StopCause::Halt {
            now: rule.when == HaltWhen::Now,
        });
        let status = match (rule.on, rule.limit) {
            (HaltOn::Success, _) => 0,
            (_, HaltLimit::Jobs(1)) => match outcome.status {
                Status::Exited(code) | Status::NotStarted(code) => code,
                Status::Signaled(sig) => 128 + sig,
            },
            (_, HaltLimit::Jobs(_)) => i32::try_from(counts[0].min(101)).unwrap_or(101),
            (_, HaltLimit::Percent(_)) => {
                Self::percent_failed(counts[0], self.total.get().copied().unwrap_or(0))
            }
        };
        Some((status, message))
    }

    /// The exit status when a percentage rule never struck: as GNU
    /// parallel, the percentage of the jobs started that failed (rounded
    /// up), not their number. `None` for other rules.
    pub fn status_if_not_struck(&self) -> Option<i32> {
        let Some(Halt {
            limit: HaltLimit::Percent(_),
            ..
        }) = self.rule
        else {
            return None;
        };
        let failed = self.counts.lock().unwrap_or_else(PoisonError::into_inner)[0];
        Some(Self::percent_failed(
            failed,
            self.started.load(Ordering::Relaxed),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_producer_that_panics_still_closes_the_queue() {
        let queue: Queue<u32> = Queue::new(1);
        let failed = AtomicBool::new(false);
        std::thread::scope(|s| {
            let producer = s.spawn(|| {
                let _closer = queue.closer(&failed);
                panic!("a producer's bug");
            });
            assert!(producer.join().is_err());
        });
        assert!(queue.is_done(), "the slots would wait forever");
        assert!(failed.load(Ordering::Acquire));
        // Without a panic it closes the queue and fails nothing.
        let queue: Queue<u32> = Queue::new(1);
        let failed = AtomicBool::new(false);
        drop(queue.closer(&failed));
        assert!(queue.is_done());
        assert!(!failed.load(Ordering::Acquire));
    }
    use crate::signal::{default_termseq, StopCause};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn with_no_room_a_push_returns_once_its_job_is_taken() {
        let queue: Queue<u32> = Queue::new(0);
        let control = Control::new(1, default_termseq());
        let returned = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(queue.push(7, &control));
                returned.store(true, Ordering::Release);
            });
            // (Bounded by the test harness's own timeout.)
            while queue.lock().queued == 0 {
                std::thread::yield_now();
            }
            // Queued and not taken: the push cannot have returned.
            assert!(!returned.load(Ordering::Acquire));
            assert_eq!(queue.take(&control), Some(7));
        });
        assert!(returned.load(Ordering::Acquire));
    }

    #[test]
    fn every_job_runs_once() {
        let queue = Queue::new(4);
        let control = Control::new(3, default_termseq());
        let seen = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            s.spawn(|| {
                for seq in 1..=500 {
                    assert!(queue.push(
                        Job {
                            seq,
                            args: crate::input::Values::new(),
                            input: None,
                        },
                        &control
                    ));
                }
                queue.close();
            });
            run_pool(3, &queue, &control, |_, job| {
                seen.lock().unwrap().push(job.seq)
            })
            .unwrap();
        });
        let mut seen = seen.into_inner().unwrap();
        seen.sort_unstable();
        assert_eq!(seen, (1..=500).collect::<Vec<_>>());
    }

    #[test]
    fn halt_percentages_follow_gnu_parallels_arithmetic() {
        use crate::units::{HaltLimit, HaltOn, HaltWhen};
        let rule = |on, limit| {
            Some(Halt {
                when: HaltWhen::Soon,
                on,
                limit,
            })
        };
        let fail = Outcome::not_run(Status::Exited(3));
        let ok = Outcome::not_run(Status::Exited(0));
        // 7% of 100 jobs is 7.000000000000001: the 8th failure strikes,
        // and the status is the percentage failed.
        let control = Control::new(1, default_termseq());
        let halt = HaltCheck::new(rule(HaltOn::Fail, HaltLimit::Percent(7)));
        assert!(halt.needs_total());
        halt.set_total(100);
        assert!(!halt.needs_total());
        for _ in 0..7 {
            assert_eq!(halt.check(&fail, b"x", &control).map(|(s, _)| s), None);
        }
        assert_eq!(halt.check(&fail, b"x", &control).map(|(s, _)| s), Some(8));
        assert!(control.is_stopping());
        // Never struck: the percentage of the jobs started that failed.
        let control = Control::new(1, default_termseq());
        let halt = HaltCheck::new(rule(HaltOn::Fail, HaltLimit::Percent(50)));
        halt.set_total(3);
        for outcome in [&fail, &ok, &ok] {
            halt.job_started();
            assert_eq!(halt.check(outcome, b"x", &control).map(|(s, _)| s), None);
        }
        assert_eq!(halt.status_if_not_struck(), Some(34));
        // Counts: fail=2 gives the failures so far, done=1 the job's status.
        let control = Control::new(1, default_termseq());
        let halt = HaltCheck::new(rule(HaltOn::Fail, HaltLimit::Jobs(2)));
        assert_eq!(halt.check(&fail, b"x", &control).map(|(s, _)| s), None);
        assert_eq!(halt.check(&fail, b"x", &control).map(|(s, _)| s), Some(2));
        assert_eq!(halt.status_if_not_struck(), None);
        let control = Control::new(1, default_termseq());
        let halt = HaltCheck::new(rule(HaltOn::Done, HaltLimit::Jobs(1)));
        let killed = Outcome::not_run(Status::Signaled(9));
        assert_eq!(
            halt.check(&killed, b"x", &control).map(|(s, _)| s),
            Some(137)
        );
    }

    #[test]
    fn stopping_ends_the_pool_and_refuses_jobs() {
        let queue = Queue::new(2);
        let control: Arc<Control> = Control::new(2, default_termseq());
        let ran = AtomicUsize::new(0);
        control.stop(StopCause::Hangup);
        assert!(!queue.push(
            Job {
                seq: 1,
                args: crate::input::Values::new(),
                input: None,
            },
            &control
        ));
        run_pool(2, &queue, &control, |_, _| {
            ran.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(ran.load(Ordering::Relaxed), 0);
    }
}
