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
//!   job in its own process group and collects its output.
//! * [`output`] writes output grouped, in order (`-k`) or by line, with
//!   bounded memory; [`signal`] stops cleanly; [`exit`] maps the result to
//!   the exit status.

pub mod batch;
pub mod cli;
pub mod config;
pub mod exec;
pub mod exit;
pub mod input;
pub mod output;
pub mod schedule;
pub mod signal;
mod sys;
pub mod template;

use std::ffi::OsString;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use clap::Parser;

use crate::batch::{Batcher, Job};
use crate::config::{Config, Tag};
use crate::exec::{CommandLine, Outcome, OutputMode, Scratch};
use crate::exit::{Exit, Tally, OWN_ERROR};
use crate::output::{Captured, Reorder, Terminal, WriteError};
use crate::schedule::Queue;
use crate::signal::Control;
use crate::template::Fill;

/// Runs parx with `args` (the program name first) and returns the process
/// exit status. Dies of a signal instead when parx was interrupted or its
/// output was closed, as the shell expects.
pub fn main_with_args<I>(args: I) -> i32
where
    I: IntoIterator<Item = OsString>,
{
    match run(args) {
        Exit::Code(code) => code,
        Exit::Signal(signal) => {
            sys::die_of_signal(signal);
            128 + signal
        }
    }
}

/// Runs parx with `args` and returns how it should exit.
pub fn run<I>(args: I) -> Exit
where
    I: IntoIterator<Item = OsString>,
{
    let args: Vec<OsString> = args.into_iter().collect();
    let options = args
        .iter()
        .skip(1)
        .take_while(|a| a.as_encoded_bytes().starts_with(b"-"));
    if options.into_iter().any(|a| a == "--xargs") {
        eprintln!(
            "parx: --xargs (parx's drop-in xargs mode) is not available yet; \
             GNU parallel's --xargs is -m in parx"
        );
        return Exit::Code(OWN_ERROR);
    }
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return Exit::Code(if err.use_stderr() { OWN_ERROR } else { 0 });
        }
    };
    let config = match Config::from_cli(cli) {
        Ok(c) => c,
        Err(err) => {
            eprintln!("parx: {err}\nTry 'parx --help' for more information.");
            return Exit::Code(OWN_ERROR);
        }
    };
    let inputs = match input::Inputs::open(&config.sources, config.link, config.delimiter) {
        Ok(i) => i,
        Err(err) => {
            eprintln!("parx: {err}");
            return Exit::Code(OWN_ERROR);
        }
    };
    let shell_words = config.exec.shell.len() + 1;
    let batcher = Batcher::new(
        inputs,
        config.packing,
        config.template.clone(),
        shell_words,
        config.slots,
    );
    if config.dry_run {
        return dry_run(&config, batcher);
    }
    execute(Arc::new(config), batcher)
}

fn fill_line(config: &Config, fill: &Fill<'_>) -> Vec<u8> {
    let mut line = Vec::new();
    config.template.render_line(fill, true, &mut line);
    line
}

fn tag_for(config: &Config, fill: &Fill<'_>) -> Option<Vec<u8>> {
    let mut tag = match config.tag.as_ref()? {
        Tag::Args => fill.args.join(&b' '),
        Tag::Template(t) => {
            let mut text = Vec::new();
            t.render_line(fill, false, &mut text);
            text
        }
    };
    tag.push(b'\t');
    Some(tag)
}

/// `--dry-run`: print each command line, in input order, run nothing.
fn dry_run(config: &Config, mut batcher: Batcher) -> Exit {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    loop {
        let job = match batcher.next_job() {
            Ok(Some(job)) => job,
            Ok(None) => break,
            Err(err) => {
                let _ = out.flush();
                eprintln!("parx: {err}");
                return Exit::Code(OWN_ERROR);
            }
        };
        let slot = usize::try_from((job.seq - 1) % config.slots as u64).unwrap_or(0) + 1;
        let fill = Fill {
            seq: job.seq,
            slot,
            args: &job.args,
        };
        let mut line = tag_for(config, &fill).unwrap_or_default();
        line.extend(fill_line(config, &fill));
        line.push(b'\n');
        if let Err(err) = out.write_all(&line) {
            return output_failure(&err);
        }
    }
    match out.flush() {
        Ok(()) => Exit::Code(0),
        Err(err) => output_failure(&err),
    }
}

fn output_failure(err: &std::io::Error) -> Exit {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        Exit::Signal(libc::SIGPIPE)
    } else {
        eprintln!("parx: cannot write output: {err}");
        Exit::Code(OWN_ERROR)
    }
}

/// Runs every job on the pool and writes their output.
fn execute(config: Arc<Config>, mut batcher: Batcher) -> Exit {
    sys::raise_nofile_limit();
    let control = Control::new(config.slots, signal::default_termseq());
    signal::install(&control);
    let terminal = match Terminal::open() {
        Ok(t) => Arc::new(t),
        Err(err) => {
            eprintln!("parx: cannot use standard output or standard error: {err}");
            signal::uninstall();
            return Exit::Code(OWN_ERROR);
        }
    };
    // Enough queued jobs that a finished slot never waits for the input
    // thread; packed (-X/-m) jobs hold up to ARG_MAX of values each, so
    // fewer of those.
    let capacity = match config.packing {
        config::Packing::Fill { .. } => 1,
        _ => 2 * config.slots + 16,
    };
    let queue = Arc::new(Queue::new(capacity));
    let input_error = Arc::new(AtomicBool::new(false));

    // The producer is not joined: when parx is interrupted while it waits
    // for input (a terminal, a stalled pipe), parx must still exit.
    {
        let queue = Arc::clone(&queue);
        let control = Arc::clone(&control);
        let terminal = Arc::clone(&terminal);
        let input_error = Arc::clone(&input_error);
        std::thread::Builder::new()
            .name("parx-input".into())
            .spawn(move || {
                loop {
                    match batcher.next_job() {
                        Ok(Some(job)) => {
                            if !queue.push(job, &control) {
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(err) => {
                            terminal.message(&format!("parx: {err}; no further input is read\n"));
                            input_error.store(true, Ordering::Release);
                            break;
                        }
                    }
                }
                queue.close();
            })
            .expect("cannot start the input thread");
    }

    let (done_tx, done_rx) = mpsc::sync_channel::<(u64, Outcome)>(2 * config.slots);
    let writer = {
        let config = Arc::clone(&config);
        let control = Arc::clone(&control);
        let terminal = Arc::clone(&terminal);
        std::thread::Builder::new()
            .name("parx-output".into())
            .spawn(move || write_outputs(&config, &control, &terminal, &done_rx))
            .expect("cannot start the output thread")
    };

    let pool = schedule::run_pool(config.slots, &queue, &control, |slot, job: Job| {
        thread_local! {
            static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
        }
        let fill = Fill {
            seq: job.seq,
            slot: slot + 1,
            args: &job.args,
        };
        let line = match config.template.direct() {
            Some(plan) => CommandLine::Direct(plan.render(&fill)),
            None => CommandLine::Shell(fill_line(&config, &fill)),
        };
        if config.verbose {
            let mut text = fill_line(&config, &fill);
            text.push(b'\n');
            terminal.message(&String::from_utf8_lossy(&text));
        }
        let tag = tag_for(&config, &fill);
        let outcome = SCRATCH.with(|s| {
            exec::run_job(
                &line,
                job.seq,
                slot,
                tag,
                &config.exec,
                &control,
                &terminal,
                &mut s.borrow_mut(),
            )
        });
        // The output thread only goes away when this pool is done.
        let _ = done_tx.send((job.seq, outcome));
    });
    if let Err(err) = pool {
        terminal.message(&format!("parx: cannot start any job slot: {err}\n"));
        control.stop(signal::StopCause::OwnError);
    }
    drop(done_tx);
    let mut tally = writer.join().unwrap_or_default();
    tally.input_error = input_error.load(Ordering::Acquire);
    signal::uninstall();
    exit::exit_for(tally, control.cause())
}

/// The output thread: writes finished jobs' output in the configured order
/// and counts failures.
fn write_outputs(
    config: &Config,
    control: &Arc<Control>,
    terminal: &Terminal,
    done: &mpsc::Receiver<(u64, Outcome)>,
) -> Tally {
    let mut tally = Tally::default();
    let mut reorder = Reorder::new();
    let tmpdir = &config.exec.tmpdir;
    let mut write = |mut captured: Captured| {
        if let Some(why) = captured.lost.take() {
            // Truncated output passed on as if whole would mislead whatever
            // reads it; the job already counts as failed.
            terminal.message(&format!("parx: the output of a job was dropped: {why}\n"));
            return;
        }
        if matches!(
            control.cause(),
            Some(signal::StopCause::BrokenPipe | signal::StopCause::OwnError)
        ) {
            return; // stdout is gone: drop what is left quietly
        }
        if let Err(WriteError::Stdout(err)) = captured.write_whole(terminal) {
            exec::stop_on_output_error(&err, control, terminal);
        }
    };
    for (seq, outcome) in done {
        let lost = outcome.captured.as_ref().is_some_and(|c| c.lost.is_some());
        if !outcome.status.is_success() || lost {
            tally.failed += 1;
        }
        let Some(captured) = outcome.captured else {
            continue;
        };
        match config.exec.mode {
            OutputMode::KeepOrder => match reorder.push(seq, captured, tmpdir) {
                Ok(due) => due.into_iter().for_each(&mut write),
                Err(err) => terminal.message(&format!("parx: {err}\n")),
            },
            OutputMode::Group => write(captured),
            OutputMode::LineBuffer | OutputMode::Ungroup => {
                if let Some(why) = captured.lost {
                    terminal.message(&format!(
                        "parx: part of a job's output was dropped: {why}\n"
                    ));
                }
            }
        }
    }
    // Jobs that never ran (parx stopped) leave gaps; flush what was collected.
    reorder.drain().into_iter().for_each(&mut write);
    tally
}
