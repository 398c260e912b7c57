//! The library's pool against the two ways a Rust program would otherwise
//! spread an I/O-bound loop over threads: a plain `std::thread::scope` loop
//! and rayon's `par_bridge`, on the same workloads with 16 threads.
//!
//!   cargo bench --bench library          (about 20 seconds)
//!
//! Under `cargo test` (no `--bench` argument) it runs each contender once on
//! a few items, as a smoke test. Results: BENCHMARKS.md, "Library".

use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rayon::iter::{ParallelBridge, ParallelIterator};

const THREADS: usize = 16;

/// One item's work.
#[derive(Clone, Copy)]
enum Work {
    /// Sleep 1 ms: waiting on something outside the process (a network
    /// reply, a disk that is not cached).
    Sleep,
    /// Open and read one of the files (all in the page cache): short system
    /// calls, some CPU.
    Read,
}

fn work(kind: Work, files: &[PathBuf], item: usize) -> usize {
    match kind {
        Work::Sleep => {
            std::thread::sleep(Duration::from_millis(1));
            item
        }
        Work::Read => {
            let mut buf = Vec::new();
            std::fs::File::open(&files[item % files.len()])
                .and_then(|mut f| f.read_to_end(&mut buf))
                .expect("the bench files are readable")
        }
    }
}

/// `parx::concurrently`: results come back as they finish.
fn parx_concurrently(kind: Work, files: &[PathBuf], items: usize) -> usize {
    let files = files.to_vec();
    parx::concurrently(0..items, THREADS, move |i| work(kind, &files, i))
        .map(|r| r.expect("no panic"))
        .sum()
}

/// The same with 16 items per task: less coordination per item.
fn parx_pool_chunked(kind: Work, files: &[PathBuf], items: usize) -> usize {
    let files = files.to_vec();
    parx::Pool::new(THREADS)
        .chunk(16)
        .map(0..items, move |i| work(kind, &files, i))
        .map(|r| r.expect("no panic"))
        .sum()
}

/// The loop most people write: split the items into one contiguous chunk
/// per thread.
fn thread_scope_chunks(kind: Work, files: &[PathBuf], items: usize) -> usize {
    let all: Vec<usize> = (0..items).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = all
            .chunks(items.div_ceil(THREADS))
            .map(|chunk| {
                s.spawn(move || chunk.iter().map(|&i| work(kind, files, i)).sum::<usize>())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .sum()
    })
}

/// The same with a shared counter: each thread takes the next item.
fn thread_scope_counter(kind: Work, files: &[PathBuf], items: usize) -> usize {
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    let mut sum = 0;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= items {
                            return sum;
                        }
                        sum += work(kind, files, i);
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .sum()
    })
}

/// rayon's `par_bridge` over the same iterator, on a pool of 16 threads.
fn rayon_par_bridge(
    pool: &rayon::ThreadPool,
    kind: Work,
    files: &[PathBuf],
    items: usize,
) -> usize {
    pool.install(|| (0..items).par_bridge().map(|i| work(kind, files, i)).sum())
}

fn make_files(dir: &Path) -> Vec<PathBuf> {
    (0..64)
        .map(|i| {
            let path = dir.join(format!("{i}.dat"));
            std::fs::write(&path, vec![b'x'; 16 * 1024]).expect("the temp dir is writable");
            path
        })
        .collect()
}

/// The median and the fastest sample.
fn median_and_min(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort_unstable();
    (samples[samples.len() / 2], samples[0])
}

/// The 1-minute load average: the numbers mean little when it is far above
/// the number of CPUs (other processes took turns with the threads).
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".to_string())
}

fn main() {
    let measuring = std::env::args().any(|a| a == "--bench");
    let (items, rounds) = if measuring { (2_000, 9) } else { (32, 1) };
    let dir = tempfile::tempdir().expect("a temp dir");
    let files = make_files(dir.path());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(THREADS)
        .build()
        .expect("rayon's pool starts");
    type Contender<'a> = (&'a str, Box<dyn Fn(Work) -> usize + 'a>);
    let contenders: Vec<Contender<'_>> = vec![
        (
            "thread::scope, chunks",
            Box::new(|k| thread_scope_chunks(k, &files, items)),
        ),
        (
            "thread::scope, shared counter",
            Box::new(|k| thread_scope_counter(k, &files, items)),
        ),
        (
            "parx::concurrently",
            Box::new(|k| parx_concurrently(k, &files, items)),
        ),
        (
            "parx::Pool, chunk(16)",
            Box::new(|k| parx_pool_chunked(k, &files, items)),
        ),
        (
            "rayon par_bridge",
            Box::new(|k| rayon_par_bridge(&pool, k, &files, items)),
        ),
    ];
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get);
    println!(
        "{items} items, {THREADS} threads, {cpus} CPUs, {rounds} rounds after a warm-up, load {} at the start",
        load()
    );
    println!();
    for (kind, name) in [
        (Work::Sleep, "sleep 1 ms"),
        (Work::Read, "read a cached 16 KiB file"),
    ] {
        let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); contenders.len()];
        // Rounds take the contenders in turn, so load from elsewhere hits
        // them alike; round 0 warms up.
        for round in 0..=rounds {
            for (i, (_, run)) in contenders.iter().enumerate() {
                let started = Instant::now();
                black_box(run(kind));
                if round > 0 {
                    samples[i].push(started.elapsed());
                }
            }
        }
        if !measuring {
            continue;
        }
        let stats: Vec<(Duration, Duration)> = samples.into_iter().map(median_and_min).collect();
        let (baseline, _) = stats[0];
        println!("{name}:");
        println!("| contender | median | fastest | median vs thread::scope, chunks |");
        println!("|---|---:|---:|---:|");
        for ((label, _), (median, min)) in contenders.iter().zip(&stats) {
            println!(
                "| {label} | {:.1} ms | {:.1} ms | {:.2} |",
                median.as_secs_f64() * 1000.0,
                min.as_secs_f64() * 1000.0,
                median.as_secs_f64() / baseline.as_secs_f64()
            );
        }
        println!();
    }
    println!("load {} at the end", load());
}
