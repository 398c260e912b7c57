//! parx runs a command for every input, in parallel, with GNU parallel's
//! syntax.
//!
//! The pipeline, one module per stage:
//!
//! * [`cli`] parses the command line; [`config`] validates it.
//! * [`input`] reads byte-exact records and combines input sources;
//!   [`batch`] groups them into jobs (`-n`, `-X`, `-m`).
//! * [`template`] fills the command template for each job: a shell line with
//!   every value quoted, or an argv run without a shell when the template is
//!   plain.
//! * [`schedule`] hands jobs to one worker thread per slot; [`exec`] runs one
//!   job in its own process group and collects its output ([`runner`] is
//!   the library's way in to both).
//! * [`output`] writes output grouped, in order (`-k`) or by line, with
//!   bounded memory, and [`joblog`] records each job; [`signal`] stops
//!   cleanly; [`exit`] maps the result to the exit status.
//! * [`xargs`] is the drop-in GNU xargs mode, on the same execution.
//! * [`units`] parses durations, signal sequences and `--halt` rules;
//!   [`make`] is the GNU make jobserver client.
//! * The program itself (`app`) ties these together; it, [`cli`],
//!   [`config`], [`xargs`], [`remote`], [`slurm`], [`make`] and
//!   [`progress`] come with the `cli` feature (on by default).
//!
//! # As a library
//!
//! The same machinery has two library faces:
//!
//! * [`Runner`] ([`runner`]) runs a command for every item of any iterator
//!   on N job slots, from a template filled and quoted as the binary does
//!   or from a closure that builds a [`std::process::Command`] per item,
//!   and yields each job's [`JobResult`] (its [`Status`], captured
//!   [`Output`], start time and runtime) as it finishes or in input order.
//!   Jobs run in process groups of their own, and dropping the results
//!   terminates the ones still running.
//! * [`concurrently`] ([`pool`]) maps a closure over any iterator on a pool
//!   of threads and yields results as they finish; [`Pool`] sets the
//!   threads, the order and the items per task.
//!
//! ```
//! // Commands: `{}` is each item, quoted; results in input order.
//! let out: Vec<Vec<u8>> = parx::Runner::new("printf '%s;' {}")?
//!     .slots(2)
//!     .ordered(true)
//!     .run(["a b", "it's"])
//!     .map(|job| job.stdout.into_bytes().expect("in memory"))
//!     .collect();
//! assert_eq!(out, [b"a b;".to_vec(), b"it's;".to_vec()]);
//!
//! // Closures: a thread pool over any iterator.
//! let total: u64 = parx::concurrently(1..=10u64, 4, |n| n * n)
//!     .map(|r| r.expect("no panic"))
//!     .sum();
//! assert_eq!(total, 385);
//! # Ok::<(), parx::template::TemplateError>(())
//! ```

#[cfg(feature = "cli")]
mod app;
pub mod batch;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
pub mod config;
pub mod exec;
pub mod exit;
pub mod input;
pub mod joblog;
#[cfg(feature = "cli")]
pub mod make;
mod memory;
pub mod output;
pub mod pipe;
pub mod pool;
#[cfg(feature = "cli")]
pub mod progress;
#[cfg(feature = "cli")]
pub mod remote;
pub mod results;
pub mod runner;
pub mod schedule;
pub mod signal;
#[cfg(feature = "cli")]
pub mod slurm;
mod spawn;
mod sys;
pub mod template;
#[cfg(feature = "cli")]
pub mod xargs;

#[cfg(feature = "cli")]
pub use app::{main_with_args, run};
pub use exec::Status;
pub use pool::{concurrently, concurrently_ordered, Indexed, Panicked, Pool, Results};
pub use runner::{JobResult, JobResults, Output, Runner, Stopper};
pub mod units;

/// The name parx's messages start with: `parx`, or `xargs` when run under
/// that name.
pub(crate) fn program() -> &'static str {
    PROGRAM.get().copied().unwrap_or("parx")
}

static PROGRAM: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// Names the program for messages (once; later calls change nothing).
#[cfg(feature = "cli")]
pub(crate) fn set_program(name: &'static str) {
    let _ = PROGRAM.set(name);
}

/// An I/O error as C programs print it: "No space left on device", without
/// Rust's "(os error 28)".
pub(crate) fn describe(err: &std::io::Error) -> String {
    err.raw_os_error()
        .map_or_else(|| err.to_string(), sys::strerror)
}
