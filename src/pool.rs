//! The library face of parx's pool: map a closure over any iterator on a
//! pool of threads and get the results as they finish, the in-process
//! form of `parx CMD ::: ITEMS`.
//!
//! Both sides are lazy: items are taken from the input only as workers
//! free up, and results wait in a bounded channel until the caller takes
//! them, so an endless iterator runs in bounded memory. A panic in the
//! closure becomes an error result for that item; the pool keeps going.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::schedule::{run_pool, Queue};
use crate::signal::{default_termseq, Control, StopCause};

/// The closure panicked on one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panicked {
    /// The item's position in the input, from 0.
    pub index: u64,
    /// The panic message.
    pub message: String,
}

impl std::fmt::Display for Panicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "item {} panicked: {}", self.index, self.message)
    }
}

impl std::error::Error for Panicked {}

/// How to run a map: threads, result order, items per task.
///
/// ```
/// let squares: Vec<u64> = parx::Pool::new(4)
///     .ordered(true)
///     .chunk(16)
///     .map(1..=100u64, |n| n * n)
///     .map(Result::unwrap)
///     .collect();
/// assert_eq!(squares[9], 100);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Pool {
    threads: usize,
    ordered: bool,
    chunk: usize,
}

impl Pool {
    /// A pool of `threads` workers (at least one), unordered, one item per task.
    pub fn new(threads: usize) -> Self {
        Self {
            threads: threads.max(1),
            ordered: false,
            chunk: 1,
        }
    }

    /// Yield results in input order (`true`) or as they finish (`false`).
    /// Ordered results let workers run at most a bounded window ahead of
    /// the oldest unfinished item, so memory stays bounded.
    #[must_use]
    pub fn ordered(mut self, ordered: bool) -> Self {
        self.ordered = ordered;
        self
    }

    /// Hand workers `items` items at a time (at least one): less
    /// coordination for cheap closures.
    #[must_use]
    pub fn chunk(mut self, items: usize) -> Self {
        self.chunk = items.max(1);
        self
    }

    /// Maps `f` over `items` on the pool. Dropping the returned iterator
    /// stops the pool after the items already in progress.
    pub fn map<I, T, R, F>(&self, items: I, f: F) -> Results<R>
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
        T: Send + 'static,
        R: Send + 'static,
        F: Fn(T) -> R + Send + Sync + 'static,
    {
        let Pool {
            threads,
            ordered,
            chunk,
        } = *self;
        let control = Control::new(threads, default_termseq());
        let window = Arc::new(Window::default());
        let (tx, rx) = sync_channel::<(u64, Result<R, Panicked>)>(threads * chunk);
        let mut items = items.into_iter();
        let driver = {
            let control = Arc::clone(&control);
            let window = Arc::clone(&window);
            // How far ahead of the oldest result not yet taken workers may
            // run when results must come out in order.
            let ahead = ordered.then_some((4 * threads * chunk) as u64);
            move || {
                let queue: Queue<(u64, Vec<T>)> = Queue::new(threads);
                std::thread::scope(|scope| {
                    scope.spawn(|| {
                        let mut next = 0u64;
                        loop {
                            if let Some(ahead) = ahead {
                                if !window.wait_for_room(next, ahead, &control) {
                                    break;
                                }
                            }
                            let batch: Vec<T> = items.by_ref().take(chunk).collect();
                            if batch.is_empty() {
                                break;
                            }
                            let len = batch.len() as u64;
                            if !queue.push((next, batch), &control) {
                                break;
                            }
                            next += len;
                        }
                        queue.close();
                    });
                    let work = |_slot: usize, (first, batch): (u64, Vec<T>)| {
                        for (index, item) in (first..).zip(batch) {
                            if control.is_stopping() {
                                return;
                            }
                            let result =
                                catch_unwind(AssertUnwindSafe(|| f(item))).map_err(|payload| {
                                    Panicked {
                                        index,
                                        message: panic_message(payload.as_ref()),
                                    }
                                });
                            if tx.send((index, result)).is_err() {
                                // The caller dropped the results.
                                control.stop(StopCause::Hangup);
                                return;
                            }
                        }
                    };
                    if run_pool(threads, &queue, &control, work).is_err() {
                        control.stop(StopCause::OwnError);
                    }
                });
            }
        };
        // If even one thread cannot start, the results simply end.
        let started = std::thread::Builder::new()
            .name("parx-pool".into())
            .spawn(driver)
            .is_ok();
        Results {
            rx: started.then_some(rx),
            control,
            window,
            ordered: ordered.then(BTreeMap::new),
            next: 0,
        }
    }
}

/// Maps `f` over `items` on `threads` threads and yields each result as it
/// finishes: the seed of parx, `concurrently(fn, iterable, threads)`.
///
/// Reading many files at once (the same shape fetches URLs with an HTTP
/// client):
///
/// ```
/// let dir = std::env::temp_dir().join(format!("parx-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let paths: Vec<_> = (0..20)
///     .map(|i| {
///         let p = dir.join(format!("{i}.txt"));
///         std::fs::write(&p, "x".repeat(i)).unwrap();
///         p
///     })
///     .collect();
/// let total: u64 = parx::concurrently(paths, 8, |p| std::fs::metadata(p).map(|m| m.len()))
///     .map(|r| r.expect("no panic").expect("readable"))
///     .sum();
/// assert_eq!(total, (0..20).sum::<u64>());
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn concurrently<I, T, R, F>(items: I, threads: usize, f: F) -> Results<R>
where
    I: IntoIterator<Item = T>,
    I::IntoIter: Send + 'static,
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> R + Send + Sync + 'static,
{
    Pool::new(threads).map(items, f)
}

/// Like [`concurrently`], with results in input order.
///
/// ```
/// let doubled: Vec<i32> = parx::concurrently_ordered(vec![3, 1, 2], 3, |n| n * 2)
///     .collect::<Result<_, _>>()
///     .unwrap();
/// assert_eq!(doubled, [6, 2, 4]);
/// ```
pub fn concurrently_ordered<I, T, R, F>(items: I, threads: usize, f: F) -> Results<R>
where
    I: IntoIterator<Item = T>,
    I::IntoIter: Send + 'static,
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> R + Send + Sync + 'static,
{
    Pool::new(threads).ordered(true).map(items, f)
}

/// The results of a map, as an iterator: `Ok(value)`, or `Err(Panicked)`
/// for an item whose closure panicked.
pub struct Results<R> {
    rx: Option<Receiver<(u64, Result<R, Panicked>)>>,
    control: Arc<Control>,
    window: Arc<Window>,
    /// Ordered: results that came early, by index.
    ordered: Option<BTreeMap<u64, Result<R, Panicked>>>,
    next: u64,
}

impl<R> Results<R> {
    /// Each result with the position of its item in the input (from 0):
    /// for unordered maps, which item a result belongs to.
    ///
    /// ```
    /// let mut squares: Vec<(usize, u64)> = parx::concurrently(vec![3u64, 1, 2], 3, |n| n * n)
    ///     .indexed()
    ///     .map(|(i, r)| (i, r.unwrap()))
    ///     .collect();
    /// squares.sort();
    /// assert_eq!(squares, [(0, 9), (1, 1), (2, 4)]);
    /// ```
    pub fn indexed(self) -> Indexed<R> {
        Indexed(self)
    }

    fn next_with_index(&mut self) -> Option<(u64, Result<R, Panicked>)> {
        let rx = self.rx.as_ref()?;
        let Some(early) = self.ordered.as_mut() else {
            return rx.recv().ok();
        };
        loop {
            if let Some(result) = early.remove(&self.next) {
                let index = self.next;
                self.next += 1;
                self.window.advance(self.next);
                return Some((index, result));
            }
            match rx.recv() {
                Ok((index, result)) => {
                    early.insert(index, result);
                }
                // Workers are done: whatever is left comes out in order.
                Err(_) => {
                    let (&index, _) = early.iter().next()?;
                    self.next = index;
                }
            }
        }
    }
}

impl<R> Iterator for Results<R> {
    type Item = Result<R, Panicked>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_with_index().map(|(_, result)| result)
    }
}

/// [`Results`] with each item's input position: see [`Results::indexed`].
pub struct Indexed<R>(Results<R>);

impl<R> Iterator for Indexed<R> {
    type Item = (usize, Result<R, Panicked>);

    fn next(&mut self) -> Option<Self::Item> {
        self.0
            .next_with_index()
            .map(|(index, result)| (usize::try_from(index).unwrap_or(usize::MAX), result))
    }
}

impl<R> Drop for Results<R> {
    fn drop(&mut self) {
        self.control.stop(StopCause::Hangup);
        self.window.advance(u64::MAX);
    }
}

/// For ordered maps: how many results the caller has taken, so the feeder
/// can stay a bounded distance ahead.
#[derive(Default)]
struct Window {
    taken: Mutex<u64>,
    moved: Condvar,
}

impl Window {
    fn advance(&self, taken: u64) {
        *self.taken.lock().unwrap_or_else(PoisonError::into_inner) = taken;
        self.moved.notify_all();
    }

    /// Waits until item `next` is less than `ahead` past the last result
    /// taken; false if the pool is stopping.
    fn wait_for_room(&self, next: u64, ahead: u64, control: &Control) -> bool {
        let mut taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        while next >= taken.saturating_add(ahead) {
            if control.is_stopping() {
                return false;
            }
            taken = self
                .moved
                .wait_timeout(taken, Duration::from_millis(50))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        !control.is_stopping()
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn every_item_once_unordered() {
        let mut got: Vec<u64> = concurrently(0..1000u64, 4, |n| n + 1)
            .map(Result::unwrap)
            .collect();
        got.sort_unstable();
        assert_eq!(got, (1..=1000).collect::<Vec<_>>());
    }

    #[test]
    fn ordered_results_follow_the_input_whatever_the_finishing_order() {
        let got: Vec<u64> = Pool::new(4)
            .ordered(true)
            .chunk(3)
            .map(0..200u64, |n| {
                std::thread::sleep(Duration::from_micros((200 - n) * 20));
                n
            })
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, (0..200).collect::<Vec<_>>());
    }

    #[test]
    fn a_panic_is_an_error_for_that_item_only() {
        let results: Vec<Result<u32, Panicked>> = concurrently_ordered(0..5u32, 2, |n| {
            assert!(n != 3, "three is right out");
            n
        })
        .collect();
        assert_eq!(results.len(), 5);
        let err = results[3].clone().unwrap_err();
        assert_eq!(err.index, 3);
        assert!(err.message.contains("three is right out"));
        assert_eq!(results[4], Ok(4));
    }

    #[test]
    fn an_endless_input_is_read_only_as_far_as_needed() {
        let pulled = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&pulled);
        let endless = (0u64..).inspect(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        let first: Vec<u64> = concurrently_ordered(endless, 4, |n| n * 2)
            .take(10)
            .map(Result::unwrap)
            .collect();
        assert_eq!(first, (0..10).map(|n| n * 2).collect::<Vec<_>>());
        // Dropping the results stopped the pool; it read a bounded window.
        std::thread::sleep(Duration::from_millis(100));
        let read = pulled.load(Ordering::Relaxed);
        assert!(read < 200, "read {read} items for 10 results");
    }

    #[test]
    fn threads_really_run_at_once() {
        let started = std::time::Instant::now();
        let n = concurrently(0..8, 8, |_| std::thread::sleep(Duration::from_millis(200))).count();
        assert_eq!(n, 8);
        assert!(
            started.elapsed() < Duration::from_millis(1200),
            "{:?}",
            started.elapsed()
        );
    }
}
