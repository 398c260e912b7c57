//! The `parx` command-line program on top of the library: parses the
//! arguments, then feeds inputs to the job pool and its output thread,
//! and maps what happened to the exit status. Built with the `cli`
//! feature (on by default).

use std::collections::{HashSet, VecDeque};
use std::ffi::OsString;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;

use clap::Parser;

use crate::batch::{Batcher, Job};
use crate::config::{Config, Tag};
use crate::exec::{CommandLine, JobSpec, Scratch};
use crate::exit::{Exit, OWN_ERROR};
use crate::joblog::JobLog;
use crate::output::{Finished, Terminal};
use crate::results::SaveTo;
use crate::schedule::{Gate, HaltCheck, Queue, Runtimes};
use crate::signal::{Control, StopCause};
use crate::template::Fill;

use crate::{cli, config, exit};
use crate::{
    describe, exec, input, joblog, make, output, pipe, progress, remote, results, schedule, signal,
    slurm, sys, template, xargs,
};

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
    // xargs mode: invoked as `xargs`, or `--xargs` first.
    let invoked_as = args.first().map(|a| {
        std::path::Path::new(a)
            .file_name()
            .unwrap_or_default()
            .to_os_string()
    });
    if invoked_as.as_deref() == Some(std::ffi::OsStr::new("xargs")) {
        crate::set_program("xargs");
        return xargs::run(&args[1..], "xargs");
    }
    if args.get(1).is_some_and(|a| a == "--xargs") {
        return xargs::run(&args[2..], "parx");
    }
    // make's jobserver is named by fd numbers: read it before anything opens a file.
    let jobserver = make::from_env();
    let options = args
        .iter()
        .skip(1)
        .take_while(|a| a.as_encoded_bytes().starts_with(b"-"));
    if options.into_iter().any(|a| a == "--xargs") {
        eprintln!(
            "parx: --xargs selects xargs mode and must come first; \
             GNU parallel's --xargs is -m in parx"
        );
        return Exit::Code(OWN_ERROR);
    }
    let original = args.clone();
    let args = match with_default_options(args) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("parx: {message}");
            return Exit::Code(OWN_ERROR);
        }
    };
    // GNU parallel's name for it: scripts written for it find parx by it.
    std::env::set_var("PARALLEL_PID", std::process::id().to_string());
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            if let Some(message) = not_yet_supported(&err) {
                eprintln!("{message}");
                return Exit::Code(OWN_ERROR);
            }
            if !err.use_stderr() {
                // --help, --version: a failed write is an error too.
                let text = err.render().to_string();
                return match std::io::stdout().write_all(text.as_bytes()) {
                    Ok(()) => Exit::Code(0),
                    Err(write) => output_failure(&write),
                };
            }
            // Every message of parx's starts "parx:", clap's too. (Without
            // clap's tip to pass an unknown option as a value after `--`:
            // here it would become the command.)
            let text: String = err
                .render()
                .to_string()
                .split_inclusive('\n')
                .filter(|line| !line.trim_start().starts_with("tip: to pass '"))
                .collect::<String>()
                .replace("\n\n\n", "\n\n");
            eprint!("parx: {}", text.strip_prefix("error: ").unwrap_or(&text));
            if let Some(text) = std::env::var_os("PARALLEL") {
                eprintln!(
                    "parx: (the options in $PARALLEL come first: {})",
                    text.to_string_lossy()
                );
            }
            return Exit::Code(OWN_ERROR);
        }
    };
    if cli.number_of_cores || cli.number_of_threads || cli.number_of_sockets {
        let (sockets, cores, threads) = sys::cpu_topology();
        let n = if cli.number_of_cores {
            cores
        } else if cli.number_of_threads {
            threads
        } else {
            sockets
        };
        println!("{n}");
        return Exit::Code(0);
    }
    if let Some(shell) = cli.completions {
        let mut command = <cli::Cli as clap::CommandFactory>::command();
        // Into memory first: clap_complete panics when its writer fails.
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut command, "parx", &mut script);
        return match std::io::stdout().write_all(&script) {
            Ok(()) => Exit::Code(0),
            Err(err) => output_failure(&err),
        };
    }
    let alloc = cli.slurm_alloc;
    let mut config = match Config::from_cli(cli) {
        Ok(c) => c,
        Err(err) => {
            // (Worded as clap ends its own usage errors.)
            eprintln!("parx: {err}\n\nFor more information, try '--help'.");
            return Exit::Code(OWN_ERROR);
        }
    };
    if let Err(err) = config.read_retry() {
        eprintln!("parx: --retry-failed: {err}");
        return Exit::Code(OWN_ERROR);
    }
    let batcher = match open_jobs(&mut config) {
        Ok(jobs) => jobs,
        Err(err) => {
            eprintln!("parx: {err}");
            return Exit::Code(OWN_ERROR);
        }
    };
    if config.dry_run {
        return dry_run(&config, batcher);
    }
    // Before any job slot thread starts: Linux keeps a niceness per thread,
    // and new threads (and their jobs) inherit their creator's.
    if let Some(increment) = config.nice {
        if let Err(err) = crate::sys::nice(increment) {
            eprintln!("parx: --nice {increment}: {err}; running at the usual niceness");
        }
    }
    let reads_terminal = config.sources.iter().all(|s| s.kind.is_stdin())
        && std::io::IsTerminal::is_terminal(&std::io::stdin());
    if reads_terminal {
        eprintln!("parx: reading inputs from the terminal, one per line (Ctrl-D ends them)");
    }
    let jobserver = match jobserver {
        make::Found::Client(client, make_jobs) => {
            // Under make, -j defaults to make's -j; an explicit -j is a cap.
            if !config.explicit_jobs {
                config.slots = make_jobs.unwrap_or(config.slots);
            }
            match make::Jobserver::new(client) {
                Ok(js) => Some(js),
                Err(err) => {
                    eprintln!(
                        "parx: warning: cannot use make's jobserver ({err}); running up to {} jobs",
                        config.slots
                    );
                    None
                }
            }
        }
        make::Found::Unusable(why) => {
            eprintln!(
                "parx: warning: make's jobserver is not usable here ({why}); running up to {} jobs \
                 (start the recipe with '+' to share make's job slots)",
                config.slots
            );
            None
        }
        make::Found::None => None,
    };
    if jobserver.is_some() {
        signal::leave_sigusr1();
    }
    // --slurm-alloc outside an allocation: run this same parx under salloc.
    if let Some(slurm) = config.slurm.as_ref().filter(|s| alloc && !s.in_allocation) {
        return slurm::within_allocation(slurm, config.slots, &original);
    }
    // --slurm: inside an allocation, -j defaults to its tasks.
    if let Some(n) = config.slurm.as_ref().and_then(slurm::Slurm::default_slots) {
        if !config.explicit_jobs {
            config.slots = n;
        }
    }
    // -S: one ssh connection per host, open for the whole run. Signals are
    // handled from here on, so that Ctrl-C or SIGTERM while connecting
    // closes the connections already made instead of leaving them behind.
    let mut control = None;
    let remote = if config.logins.is_empty() {
        None
    } else {
        let explicit = config.explicit_jobs.then_some(config.slots);
        let connecting = Control::new(1, config.termseq.clone());
        signal::install(&connecting);
        let connected = remote::Remote::connect(
            &config.logins,
            config.ssh.clone(),
            explicit,
            config::cpu_count(),
            &connecting,
        );
        let interrupted = || match connecting.cause() {
            Some(StopCause::Signal(signal)) => Some(signal),
            _ => None,
        };
        let ready = connected.and_then(|r| {
            let dir = match &config.staging.workdir {
                Some(remote::Workdir::Dir(d)) => Some(d.as_slice()),
                _ => None,
            };
            match r.send_basefiles(&config.staging.basefiles, dir) {
                Ok(()) => Ok(r),
                Err(err) => Err(format!("--basefile: {err}")),
            }
        });
        // Dropping the connections closes them, before parx ends.
        let ready = match (ready, interrupted()) {
            (_, Some(signal)) => {
                signal::uninstall();
                return Exit::Signal(signal);
            }
            (Err(err), None) => {
                signal::uninstall();
                eprintln!("parx: {err}");
                return Exit::Code(OWN_ERROR);
            }
            (Ok(r), None) => r,
        };
        config.slots = ready.slots();
        control = Some(connecting);
        Some(ready)
    };
    // Where the open-file limit cannot hold -j running jobs, run fewer at
    // once (as GNU parallel) rather than fail jobs with EMFILE.
    let fit = sys::fit_slots_to_open_files(config.slots);
    if fit < config.slots {
        eprintln!(
            "parx: warning: only enough file handles to run {fit} job{} in parallel \
             (open-file limit {}); raise `ulimit -n` for more",
            if fit == 1 { "" } else { "s" },
            sys::rlimit(sys::Resource::OpenFiles).0
        );
        config.slots = fit;
    }
    execute(
        Arc::new(config),
        batcher,
        jobserver,
        remote.map(Arc::new),
        control,
    )
}

/// GNU parallel options parx does not have yet: a clear word instead of
/// clap's "unexpected argument" (which may suggest an unrelated option).
/// `$PARALLEL`: default options, put before the command line's own (split
/// as the shell splits words), as GNU parallel reads them.
fn with_default_options(mut args: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let Some(text) = std::env::var_os("PARALLEL") else {
        return Ok(args);
    };
    let text = text
        .to_str()
        .ok_or("$PARALLEL (default options) is not valid UTF-8")?;
    let words =
        shell_words::split(text).map_err(|e| format!("$PARALLEL (default options): {e}"))?;
    let at = 1.min(args.len());
    args.splice(at..at, words.into_iter().map(OsString::from));
    Ok(args)
}

/// GNU parallel options parx does not have (yet): refused with a message
/// that says so, rather than clap's "unexpected argument".
const NOT_YET: &[&str] = &[
    "-e",
    "--eof",
    "--onall",
    "--nonall",
    "--plus",
    "--tty",
    "--fg",
    "--bg",
    "--wait",
    "--semaphore",
    "--sem",
    "--semaphore-name",
    "--id",
    "--semaphore-timeout",
    "--st",
    "--files",
    "--output-as-files",
    "--outputasfiles",
    "--compress",
    "--compress-program",
    "--decompress-program",
    "--ctag",
    "--ctagstring",
    "--color",
    "--color-failed",
    "--cf",
    "--csv",
    "--sql",
    "--sqlmaster",
    "--sql-master",
    "--sqlworker",
    "--sql-worker",
    "--sqlandworker",
    "--sql-and-worker",
    "--rpl",
    "--tee",
    "-L",
    "-l",
    "--max-lines",
    "-s",
    "--max-chars",
    "-x",
    "--exit",
    "--bin",
    "--shard",
    "--group-by",
    "--filter",
    "--filter-hosts",
    "--hostgroups",
    "--hgrp",
    "--limit",
    "--latest-line",
    "--ll",
    "--block-timeout",
    "--bt",
    "--memsuspend",
    "--minversion",
    "--no-keep-order",
    "--noswap",
    "--open-tty",
    "-o",
    "--parens",
    "--profile",
    "-J",
    "--interactive",
    "-p",
    "--record-env",
    "--remove-rec-sep",
    "--removerecsep",
    "--rrs",
    "--rsync-opts",
    "-i",
    "--replace",
    "--extensionreplace",
    "--er",
    "--basenamereplace",
    "--bnr",
    "--dirnamereplace",
    "--dnr",
    "--basenameextensionreplace",
    "--bner",
    "--seqreplace",
    "--slotreplace",
    "--process-slot-var",
    "--session",
    "--shebang",
    "--hashbang",
    "--shebang-wrap",
    "--shell-completion",
    "--skip-first-line",
    "--ssh-delay",
    "--sshdelay",
    "--template",
    "--tmpl",
    "--tmux",
    "--tmuxpane",
    "--use-sockets-instead-of-threads",
    "--use-cores-instead-of-threads",
    "--use-cpus-instead-of-cores",
    "--embed",
    "--max-line-length-allowed",
    "--show-limits",
    "--bibtex",
    "--citation",
];

fn not_yet_supported(err: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if err.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    let name = arg.split('=').next().unwrap_or(arg);
    NOT_YET.contains(&name).then(|| {
        format!("parx: {name} (a GNU parallel option) is not supported yet; see the README for what parx has")
    })
}

/// Says once that a host's connection was lost.
fn report_lost(terminal: &Terminal, host: &str) {
    terminal.message(&format!(
        "parx: lost the connection to {host}; its jobs go to the other hosts \
         (a job that was running there counts as failed, and runs again elsewhere with --retries)\n"
    ));
}

fn fill_line(config: &Config, fill: &Fill<'_>) -> Vec<u8> {
    let mut line = Vec::new();
    config.template.render_line(fill, true, &mut line);
    line
}

fn tag_for(config: &Config, fill: &Fill<'_>) -> Option<Vec<u8>> {
    let mut tag = match config.tag.as_ref()? {
        Tag::Args => fill.args.join(b' '),
        Tag::Template(t) => {
            let mut text = Vec::new();
            t.render_line(fill, false, &mut text);
            text
        }
    };
    tag.push(b'\t');
    Some(tag)
}

/// Where jobs come from: inputs grouped into command lines, (`--pipe`)
/// blocks of one input stream, or a list made up front.
enum Jobs {
    Batches(Box<Batcher>),
    Blocks(pipe::Chunker),
    Parts(pipe::Parts),
    /// Every job, made before the first one runs: `--retry-failed`'s from
    /// the log, or all of them for `--halt N%` to count.
    Listed(VecDeque<Job>),
}

impl Jobs {
    fn next_job(&mut self) -> Result<Option<Job>, input::InputError> {
        match self {
            Jobs::Batches(b) => b.next_job(),
            Jobs::Blocks(c) => c.next_job(),
            Jobs::Parts(p) => p.next_job(),
            Jobs::Listed(jobs) => Ok(jobs.pop_front()),
        }
    }

    /// Warnings to print so far (a `--pipe` block that had to grow).
    fn warnings(&mut self) -> Vec<String> {
        match self {
            Jobs::Batches(_) | Jobs::Parts(_) | Jobs::Listed(_) => Vec::new(),
            Jobs::Blocks(c) => std::mem::take(&mut c.warnings),
        }
    }

    /// Makes every job now (`--halt N%` counts them first); returns how many.
    fn make_all(&mut self) -> Result<u64, input::InputError> {
        let mut all = VecDeque::new();
        while let Some(job) = self.next_job()? {
            all.push_back(job);
        }
        let jobs = all.len() as u64;
        *self = Jobs::Listed(all);
        Ok(jobs)
    }

    /// The number of jobs, when they were all made up front.
    fn listed(&self) -> Option<u64> {
        match self {
            Jobs::Listed(jobs) => Some(jobs.len() as u64),
            _ => None,
        }
    }
}

fn open_jobs(config: &mut Config) -> Result<Jobs, String> {
    if let Some(retry) = &config.retry {
        let mut jobs: Vec<Job> = retry
            .jobs
            .iter()
            .map(|(seq, command)| Job {
                seq: *seq,
                args: [command].into_iter().collect(),
                input: None,
            })
            .collect();
        if config.shuffle {
            fastrand::shuffle(&mut jobs);
        }
        return Ok(Jobs::Listed(jobs.into()));
    }
    if let Some(spec) = config.pipe.as_ref().filter(|s| s.part.is_some()) {
        let files = config
            .sources
            .iter()
            .filter_map(|s| match &s.kind {
                input::SourceKind::File(path) => Some(path.clone()),
                _ => None,
            })
            .collect();
        return Ok(Jobs::Parts(pipe::Parts::new(
            files,
            spec.clone(),
            config.slots,
        )));
    }
    if let Some(spec) = &config.pipe {
        let (input, name) = match &config.sources[0].kind {
            input::SourceKind::File(path) if !config.sources[0].kind.is_stdin() => {
                let file = std::fs::File::open(path).map_err(|source| {
                    input::InputError {
                        what: path.display().to_string(),
                        source,
                    }
                    .to_string()
                })?;
                (file, path.display().to_string())
            }
            // Unbuffered: blocks are read straight into their own buffers.
            _ => {
                let fd = std::os::fd::AsFd::as_fd(&std::io::stdin())
                    .try_clone_to_owned()
                    .map_err(|source| {
                        input::InputError {
                            what: "standard input".into(),
                            source,
                        }
                        .to_string()
                    })?;
                (std::fs::File::from(fd), "standard input".into())
            }
        };
        // --round-robin's jobs take blocks from a stream of bytes; other
        // jobs can be given a regular file's blocks in place.
        let in_place = !config.pipe_round_robin;
        return Ok(Jobs::Blocks(pipe::Chunker::for_file(
            input,
            name,
            spec.clone(),
            in_place,
        )));
    }
    let inputs = input::Inputs::open(
        &config.sources,
        config.link,
        config.delimiter,
        &config.filter,
    )
    .map_err(|e| e.to_string())?;
    config
        .name_columns(inputs.names())
        .map_err(|e| format!("--header: {e}"))?;
    let shell_words = config.exec.shell.len() + 1;
    let batcher = Batcher::new(
        inputs,
        config.packing,
        config.template.clone(),
        shell_words,
        config.slots,
    );
    Ok(Jobs::Batches(Box::new(if config.shuffle {
        batcher.shuffled()
    } else {
        batcher
    })))
}

/// `--dry-run`: print each command line, in input order, run nothing.
fn dry_run(config: &Config, mut batcher: Jobs) -> Exit {
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
            args: job.args.as_args(),
        };
        let mut line = tag_for(config, &fill).unwrap_or_default();
        if config.shell_quote {
            crate::template::quote_into(&fill_line(config, &fill), &mut line);
        } else {
            line.extend(fill_line(config, &fill));
        }
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
        eprintln!("parx: cannot write output: {}", describe(err));
        Exit::Code(OWN_ERROR)
    }
}

/// Runs every job on the pool and writes their output.
fn execute(
    config: Arc<Config>,
    mut batcher: Jobs,
    jobserver: Option<make::Jobserver>,
    remote: Option<Arc<remote::Remote>>,
    control: Option<Arc<Control>>,
) -> Exit {
    // --resume skips the logged jobs (not when --retry-failed took the
    // jobs from the log: it wins, as in GNU parallel).
    let skip = match (&config.resume, &config.joblog, &config.retry) {
        (Some(resume), Some(log), None) => match joblog::jobs_to_skip(&log.path, *resume) {
            Ok(skip) => Arc::new(skip),
            Err(err) => {
                eprintln!("parx: {err}");
                return Exit::Code(OWN_ERROR);
            }
        },
        _ => Arc::new(HashSet::new()),
    };
    // -k must not wait for jobs that will not run.
    let gaps = match &config.retry {
        Some(retry) => output::Gaps::Only(retry.jobs.iter().map(|(seq, _)| *seq).collect()),
        None if !skip.is_empty() => output::Gaps::Skipped(Arc::clone(&skip)),
        None => output::Gaps::None,
    };
    let log = match &config.joblog {
        Some(spec) => match JobLog::open(&spec.path, spec.append) {
            Ok(log) => Some(log),
            Err(err) => {
                eprintln!("parx: {err}");
                return Exit::Code(OWN_ERROR);
            }
        },
        None => None,
    };
    let table = match &config.results {
        Some(SaveTo::Table(path, format)) => match results::Table::create(
            path,
            *format,
            config.resume.is_some() || config.retry_failed,
        ) {
            Ok(table) => Some(table),
            Err(err) => {
                eprintln!(
                    "parx: --results: cannot create {}: {}",
                    path.display(),
                    describe(&err)
                );
                return Exit::Code(OWN_ERROR);
            }
        },
        _ => None,
    };
    // (-S made its control while connecting, and already routes signals.)
    let control = control.unwrap_or_else(|| Control::new(config.slots, config.termseq.clone()));
    control.set_slot_limit(config.slots);
    control
        .resizable
        .store(!config.pipe_round_robin, Ordering::Release);
    let terminal = match Terminal::open() {
        Ok(t) => Arc::new(t),
        Err(err) => {
            eprintln!("parx: cannot use standard output or standard error: {err}");
            return Exit::Code(OWN_ERROR);
        }
    };
    // Enough queued jobs that a finished slot never waits for the input
    // thread; packed (-X/-m) jobs hold up to ARG_MAX of values each, so
    // fewer of those; --pipe blocks likewise.
    let capacity = match config.packing {
        // Each --pipe job holds a whole block: handed over one at a time, so
        // at most one block waits beside the running ones and the next
        // one being read.
        _ if config.pipe.is_some() => 0,
        config::Packing::Fill { .. } => 1,
        _ => 2 * config.slots + 16,
    };
    let queue = Queue::new(capacity);
    let queue = Arc::new(match config.delay {
        Some(delay) => queue.paced(delay),
        None => queue,
    });
    if let Some(total) = config.progress {
        let known = total
            .or_else(|| batcher.listed())
            .or_else(|| count_jobs(&config));
        if let Some(bar) = progress::start(known) {
            terminal.show_progress(bar);
        }
    }
    let input_error = Arc::new(AtomicBool::new(false));
    // --halt N%: a percentage of all the jobs. --retry-failed's are those
    // of the logged run, as in GNU parallel.
    let halt = Arc::new(HaltCheck::new(config.halt));
    if let Some(total) = config
        .total_jobs
        .or_else(|| config.retry.as_ref().map(|r| r.last_seq))
    {
        halt.set_total(total);
    }

    // The producer is not joined: when parx is interrupted while it waits
    // for input (a terminal, a stalled pipe), parx must still exit.
    {
        let queue = Arc::clone(&queue);
        let control = Arc::clone(&control);
        let terminal = Arc::clone(&terminal);
        let input_error = Arc::clone(&input_error);
        let halt = Arc::clone(&halt);
        let mut round_robin = config
            .pipe_round_robin
            .then(|| pipe::RoundRobin::new(config.slots));
        std::thread::Builder::new()
            .name("parx-input".into())
            .spawn(move || {
                // Closes the queue when this thread ends, however it ends.
                let _closer = queue.closer(&input_error);
                // Otherwise every job is made first, to count them.
                if halt.needs_total() {
                    match batcher.make_all() {
                        Ok(jobs) => halt.set_total(jobs),
                        Err(err) => {
                            terminal.message(&format!("parx: {err}; no job was started\n"));
                            input_error.store(true, Ordering::Release);
                            return;
                        }
                    }
                }
                loop {
                    let next = batcher.next_job();
                    for warning in batcher.warnings() {
                        terminal.message(&format!("parx: warning: {warning}\n"));
                    }
                    match next {
                        Ok(Some(job)) if skip.contains(&job.seq) => {}
                        Ok(Some(Job {
                            input: Some(block), ..
                        })) if round_robin.is_some() => {
                            let rr = round_robin.as_mut().expect("checked");
                            let mut start = |job| queue.push(job, &control);
                            if !rr.dispatch(block, &mut start, &|| control.is_stopping()) {
                                break;
                            }
                        }
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
            })
            .expect("cannot start the input thread");
    }

    // (The input thread reads while the handlers go in: no job starts
    // before they are in.)
    signal::install(&control);
    let (done_tx, done_rx) = mpsc::sync_channel::<Finished>(2 * config.slots);
    let writer = {
        let config = Arc::clone(&config);
        let control = Arc::clone(&control);
        let terminal = Arc::clone(&terminal);
        std::thread::Builder::new()
            .name("parx-output".into())
            .spawn(move || {
                let destination = output::Destination {
                    mode: config.exec.mode,
                    tmpdir: &config.exec.tmpdir,
                    results: match &config.results {
                        Some(SaveTo::Dir(dir)) => Some(dir),
                        _ => None,
                    },
                    table,
                    gaps,
                };
                output::collect(destination, &control, &terminal, log, &done_rx)
            })
            .expect("cannot start the output thread")
    };

    let gate = Gate {
        load: config.load,
        memfree: config.memfree,
    };
    let runtimes = Runtimes::default();
    // --memfree: a watcher that terminates the youngest job when memory
    // runs short; it ends when `evictor` is dropped.
    let (evictor, evict_done) = mpsc::channel::<()>();
    let watcher = config.memfree.map(|_| {
        let control = Arc::clone(&control);
        let terminal = Arc::clone(&terminal);
        std::thread::Builder::new()
            .name("parx-memfree".into())
            .spawn(move || gate.evict_while_short(&control, &terminal, &evict_done))
            .expect("cannot start the --memfree thread")
    });
    // --slf: the file is looked at once a second (as GNU parallel, which
    // looks at most once a second); when it changed, hosts are added and
    // taken away while jobs run. Ends when `slf_stop` is dropped.
    let (slf_stop, slf_stopped) = mpsc::channel::<()>();
    let slf_watcher = match (&remote, &config.login_file) {
        (Some(remote), Some(file)) => {
            let (remote, control) = (Arc::clone(remote), Arc::clone(&control));
            let (terminal, config) = (Arc::clone(&terminal), Arc::clone(&config));
            let mut file = file.clone();
            let watch = move || {
                let dir = match &config.staging.workdir {
                    Some(remote::Workdir::Dir(d)) => Some(d.as_slice()),
                    _ => None,
                };
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    slf_stopped.recv_timeout(std::time::Duration::from_secs(1))
                {
                    if control.is_stopping() {
                        break;
                    }
                    let Some(warnings) =
                        remote.reread(&mut file, &control, &config.staging.basefiles, dir)
                    else {
                        continue;
                    };
                    // (A connection given up because the run is over is no news.)
                    if let Err(mpsc::TryRecvError::Disconnected) = slf_stopped.try_recv() {
                        break;
                    }
                    for warning in warnings {
                        terminal.message(&format!("parx: warning: {warning}\n"));
                    }
                    // (This undoes SIGUSR1 and SIGUSR2.)
                    control.set_slot_limit(remote.slots());
                }
            };
            Some(
                std::thread::Builder::new()
                    .name("parx-slf".into())
                    .spawn(watch)
                    .expect("cannot start the --slf thread"),
            )
        }
        _ => None,
    };
    // --slf: a slot whose host was taken away takes no new job.
    let is_open = |slot| remote.as_ref().map_or(true, |r| r.is_open(slot));
    let pool = schedule::run_pool_open(
        config.slots,
        &queue,
        &control,
        is_open,
        |slot, job: Job| {
            thread_local! {
                static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
            }
            let mut job = job;
            // --cat: the block becomes a temporary file, named by {}; it is
            // removed when the job is done (the guard's drop).
            let _cat_file = match (config.pipe_cat, job.input.take()) {
                (true, Some(block)) => match pipe::to_temp_file(&block, &config.exec.tmpdir) {
                    Ok(file) => {
                        job.args = [file.path().as_os_str().as_encoded_bytes()]
                            .into_iter()
                            .collect();
                        Some(file)
                    }
                    Err(err) => {
                        terminal.message(&format!(
                            "parx: --cat: cannot write block {} to {}: {err}\n",
                            job.seq,
                            config.exec.tmpdir.display()
                        ));
                        control.stop(StopCause::OwnError);
                        return;
                    }
                },
                (_, input) => {
                    job.input = input;
                    None
                }
            };
            // --fifo: the block goes through a named pipe, named by {}.
            let fifo = match (config.pipe_fifo, &job.input) {
                (true, Some(_)) => match pipe::make_fifo(&config.exec.tmpdir) {
                    Ok(path) => {
                        job.args = [path.as_os_str().as_encoded_bytes()].into_iter().collect();
                        Some(path)
                    }
                    Err(err) => {
                        terminal.message(&format!(
                            "parx: --fifo: cannot make a named pipe in {}: {err}\n",
                            config.exec.tmpdir.display()
                        ));
                        control.stop(StopCause::OwnError);
                        return;
                    }
                },
                _ => None,
            };
            let fill = Fill {
                seq: job.seq,
                slot: slot + 1,
                args: job.args.as_args(),
            };
            // The job's host (None: this machine); another one for a later
            // attempt if this one's connection is lost.
            let _occupied = remote.as_ref().map(|r| r.occupy(slot));
            let pick_host = || {
                remote
                    .as_deref()
                    .map(|r| (r, r.host_of(slot)))
                    .filter(|(_, h)| !h.is_local())
            };
            let mut host = pick_host();
            // -S staging: this job's directory and files on its host.
            let render = |templates: &[template::Template]| -> Vec<Vec<u8>> {
                templates
                    .iter()
                    .map(|t| {
                        let mut text = Vec::new();
                        t.render_line(&fill, false, &mut text);
                        text
                    })
                    .collect()
            };
            let workdir = host.as_ref().and_then(|_| config.staging.dir_for(job.seq));
            let (sent, wanted) = match host {
                Some(_) => (
                    render(&config.staging.transfer),
                    render(&config.staging.returns),
                ),
                None => (Vec::new(), Vec::new()),
            };
            let line_for = |host: &Option<(&remote::Remote, Arc<remote::Host>)>| {
                let line = match (host, config.template.direct()) {
                    (Some((remote, host)), _) => {
                        let mut remote_line = config.staging.prelude(workdir.as_deref());
                        remote_line.extend(fill_line(&config, &fill));
                        // --pipe: the block goes through ssh's stdin.
                        let block_bytes = job
                            .input
                            .as_ref()
                            .map(|b| b.header.len() as u64 + b.body.len());
                        let argv = remote.job_argv(host, &remote_line, job.seq, slot, block_bytes);
                        CommandLine::Direct(argv.iter().map(|a| a.as_encoded_bytes()).collect())
                    }
                    (None, Some(plan)) => CommandLine::Direct(plan.render(&fill)),
                    (None, None) => CommandLine::Shell(fill_line(&config, &fill)),
                };
                match &config.slurm {
                    Some(slurm) => CommandLine::Direct(slurm.wrap(&line, &config.exec.shell)),
                    None => line,
                }
            };
            // The shell line, for -v, messages and the job log. (The line
            // run is made for each attempt and dropped once started: a -X
            // line holds up to ARG_MAX of arguments.)
            let text = || fill_line(&config, &fill);
            if config.verbose {
                let mut text = text();
                text.push(b'\n');
                terminal.message(&String::from_utf8_lossy(&text));
            }
            let announce = config.show_command.then(text);
            // The host this job's files were sent to, and the one it last ran on.
            let mut staged: Option<Arc<remote::Host>> = None;
            let mut ran_on = None;
            let mut attempt = 1;
            // The previous failed attempt, reported if parx stops before the next.
            let mut previous = None;
            let outcome = loop {
                // -S: the files go to this attempt's host first.
                if let Some((remote, on)) = host
                    .as_ref()
                    .filter(|(_, h)| staged.as_ref().map_or(true, |s| !Arc::ptr_eq(s, h)))
                {
                    if let Err(why) = remote.send(on, &sent, workdir.as_deref()) {
                        terminal.message(&format!("parx: job {} on {}: {why}\n", job.seq, on.name));
                        let failed = exec::Outcome::not_run(exec::Status::NotStarted(255));
                        let lost = remote.newly_lost(on);
                        if lost {
                            report_lost(&terminal, &on.name);
                        }
                        if !lost || attempt >= config.attempts || control.is_stopping() {
                            break Some(failed);
                        }
                        previous = Some(failed);
                        attempt += 1;
                        host = pick_host();
                        continue;
                    }
                    staged = Some(Arc::clone(on));
                }
                let Some(held_back) = gate.wait_open(&control) else {
                    break previous;
                };
                // --delay: the queue paced the first attempt; another
                // attempt, or one that --load/--memfree held back (its turn
                // is long past), takes a new turn.
                if let Some(pacer) = queue.pacer().filter(|_| attempt > 1 || held_back) {
                    if !pacer.wait_turn(&control) {
                        break previous;
                    }
                }
                // Under make, each attempt runs on one of make's tokens, taken
                // only once the gates above are open.
                let token = match &jobserver {
                    Some(js) => match js.take(&control) {
                        Some(token) => Some(token),
                        None => break previous,
                    },
                    None => None,
                };
                let spec = JobSpec {
                    seq: job.seq,
                    slot,
                    tag: tag_for(&config, &fill),
                    timeout: config.timeout.and_then(|t| runtimes.timeout(t)),
                    input: job.input.as_ref(),
                    announce: announce.as_deref(),
                    // A remote job's wrapper ends it when this closes.
                    hold_stdin: host.is_some(),
                    fifo: fifo.as_deref(),
                };
                halt.job_started();
                ran_on.clone_from(&host);
                let outcome = SCRATCH.with(|s| {
                    exec::run_job(
                        &spec,
                        line_for(&host),
                        &config.exec,
                        &control,
                        &terminal,
                        &mut s.borrow_mut(),
                    )
                });
                if let (Some(js), Some(token)) = (&jobserver, token) {
                    js.give_back(token);
                }
                if outcome.timed_out {
                    terminal.message(&format!(
                        "parx: job {} timed out after {:.3}s: {}\n",
                        job.seq,
                        outcome.runtime.as_secs_f64(),
                        String::from_utf8_lossy(&text())
                    ));
                } else if !outcome.is_failure() {
                    runtimes.record(outcome.runtime);
                }
                // ssh's own failure: if the host's connection is gone, later
                // attempts (and jobs) go to the other hosts.
                let moved = host
                    .as_ref()
                    .filter(|_| outcome.status == exec::Status::Exited(255))
                    .is_some_and(|(remote, on)| {
                        if remote.newly_lost(on) {
                            report_lost(&terminal, &on.name);
                        }
                        on.is_down()
                    });
                if moved {
                    host = pick_host();
                }
                // --retries: only the last attempt's output is kept.
                if !outcome.is_failure() || attempt >= config.attempts || control.is_stopping() {
                    break Some(outcome);
                }
                previous = Some(outcome);
                attempt += 1;
            };
            let Some(mut outcome) = outcome else { return };
            // (Nothing can be fetched from a host that was lost.)
            if let Some((remote, host)) = ran_on.as_ref().filter(|(_, h)| !h.is_down()) {
                let fetched = remote.fetch(host, &wanted, workdir.as_deref());
                if let Err(why) = &fetched {
                    terminal.message(&format!("parx: job {} on {}: {why}\n", job.seq, host.name));
                    if outcome.status.is_success() {
                        outcome.status = exec::Status::Exited(255);
                    }
                }
                let per_job_dir = config.staging.workdir == Some(remote::Workdir::PerJob);
                if config.staging.cleanup || per_job_dir {
                    let files: Vec<Vec<u8>> = if config.staging.cleanup {
                        sent.iter().chain(&wanted).cloned().collect()
                    } else {
                        Vec::new()
                    };
                    if let Err(why) = remote.clean(host, &files, workdir.as_deref(), per_job_dir) {
                        terminal.message(&format!(
                            "parx: job {} on {}: cleaning up: {why}\n",
                            job.seq, host.name
                        ));
                    }
                }
            }
            let table = matches!(config.results, Some(SaveTo::Table(..)));
            let command = if config.joblog.is_some() || config.halt.is_some() || table {
                text()
            } else {
                Vec::new()
            };
            // A job killed by a stop (a signal, --halt now) does not count
            // towards --halt (the output thread drops it).
            let (halt_status, halt_note) = if outcome.stopped {
                (None, None)
            } else {
                halt.check(&outcome, &command, &control).unzip()
            };
            // --results DIR is named by one value per input source; a
            // --results table lists them all, as GNU parallel.
            let values = match &config.results {
                Some(SaveTo::Dir(_)) => job
                    .args
                    .iter()
                    .take(config.sources.len())
                    .map(<[u8]>::to_vec)
                    .collect(),
                Some(SaveTo::Table(..)) => job.args.iter().map(<[u8]>::to_vec).collect(),
                None => Vec::new(),
            };
            // (Its memory serves the next block read.)
            if let Some(block) = job.input.take() {
                pipe::recycle(block);
            }
            // The output thread only goes away when this pool is done.
            let _ = done_tx.send(Finished {
                seq: job.seq,
                outcome,
                command,
                halt_status,
                halt_note,
                values,
                host: ran_on.or(host).map(|(_, h)| h.name.clone()),
            });
        },
    );
    drop(evictor);
    drop(slf_stop);
    if let Some(watcher) = slf_watcher {
        if let Some(remote) = &remote {
            remote.stop_connecting();
        }
        let _ = watcher.join();
    }
    // --basefile with --cleanup: the base files go once every job is done.
    if let Some(remote) = remote.as_ref().filter(|_| config.staging.cleanup) {
        let dir = match &config.staging.workdir {
            Some(remote::Workdir::Dir(d)) => Some(d.as_slice()),
            _ => None,
        };
        if let Err(why) = remote.remove_basefiles(&config.staging.basefiles, dir) {
            terminal.message(&format!("parx: --cleanup of --basefile: {why}\n"));
        }
    }
    if let Some(watcher) = watcher {
        let _ = watcher.join();
    }
    if let Err(err) = pool {
        terminal.message(&format!("parx: cannot start any job slot: {err}\n"));
        control.stop(signal::StopCause::OwnError);
    }
    if let Some(why) = jobserver.as_ref().and_then(make::Jobserver::error) {
        terminal.message(&format!(
            "parx: make's jobserver failed: {why}; jobs not started were skipped\n"
        ));
        control.stop(signal::StopCause::OwnError);
    }
    drop(done_tx);
    let mut tally = writer.join().unwrap_or_default();
    if !matches!(control.cause(), Some(StopCause::Halt { .. })) {
        tally.halt_status = halt.status_if_not_struck();
    }
    tally.input_error = input_error.load(Ordering::Acquire);
    if let Some(bar) = terminal.progress() {
        // finish() would fill the bar; after a stop it shows what was done.
        match control.cause() {
            None => bar.finish(),
            Some(_) => bar.abandon(),
        }
    }
    signal::uninstall();
    exit::exit_for(tally, control.cause())
}

/// The number of jobs, when every input source is a list of `:::`
/// arguments (counting them reads nothing) and inputs are not packed.
fn count_jobs(config: &Config) -> Option<u64> {
    if config.pipe.is_some()
        || !config
            .sources
            .iter()
            .all(|s| matches!(s.kind, input::SourceKind::Args(_)))
    {
        return None;
    }
    let mut inputs = input::Inputs::open(
        &config.sources,
        config.link,
        config.delimiter,
        &config.filter,
    )
    .ok()?;
    let mut tuples = 0u64;
    while inputs.next_tuple().ok()?.is_some() {
        tuples += 1;
    }
    match config.packing {
        config::Packing::One | config::Packing::Fixed(0) => Some(tuples),
        config::Packing::Fixed(n) => Some(tuples.div_ceil(n as u64)),
        config::Packing::Fill { .. } => None,
    }
}
