//! xargs mode: `parx --xargs ...`, or parx run under the name `xargs`,
//! behaves as GNU findutils xargs 4.9 does (options, input parsing, the
//! commands built, messages, exit statuses), with parx's process handling
//! underneath.
//!
//! Where parx deliberately differs (documented in the README):
//! * without `-s`, commands fill the system's real limit (ARG_MAX less the
//!   environment) rather than xargs' 128 KiB, so fewer commands run;
//! * a command that exits with 255 stops xargs; parx then also terminates
//!   the other running commands' process groups instead of leaving them;
//! * SIGINT/SIGTERM terminate every running command's process group;
//! * `--group`, `-k`/`--keep-order` and `--line-buffer` are accepted, to
//!   untangle the output of `-P` commands.
//!
//! [`options`] reads the command line, [`read`] the input, [`build`]
//! makes command lines and [`trace`] prints them for `-t`/`-p`.

pub mod build;
pub mod options;
pub mod read;
pub mod trace;

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use crate::exec::{self, Argv, CommandLine, Dialect, ExecSettings, JobSpec, JobStdin, Status};
use crate::exit::Exit;
use crate::output::{Finished, Terminal};
use crate::schedule::Queue;
use crate::signal::{self, Control, StopCause};
use crate::{describe, sys};

use build::{Builder, Fatal, Limits};
use options::{Options, Parsed};
use read::{ReadError, Reader, Step};

/// POSIX's headroom that xargs leaves below ARG_MAX.
const HEADROOM: usize = 2048;

/// xargs' statuses.
const FAILED: i32 = 123;
const EXITED_255: i32 = 124;
const KILLED: i32 = 125;
/// parx's own errors and bad input, as xargs' `EXIT_FAILURE`.
const ERROR: i32 = 1;

/// The command line's size limits on this system, as xargs works them out.
struct SystemLimits {
    /// Bytes of environment (`NAME=value` and NUL, as xargs counts).
    environment: usize,
    /// ARG_MAX less the environment and the headroom: `-s`'s ceiling.
    size_max: usize,
    /// What argv may take with pointers counted: parx's default limit.
    budget: usize,
}

impl SystemLimits {
    fn probe() -> Self {
        let ptr = std::mem::size_of::<usize>();
        let entries: Vec<usize> = std::env::vars_os()
            .map(|(k, v)| k.len() + v.len() + 2)
            .collect();
        let environment: usize = entries.iter().sum();
        let arg_max = sys::arg_max();
        let size_max = arg_max.saturating_sub(environment + HEADROOM);
        // The kernel also counts each environment pointer and the NULL.
        let budget = size_max.saturating_sub((entries.len() + 1) * ptr);
        Self {
            environment,
            size_max,
            budget,
        }
    }
}

/// Runs xargs mode. `args` are the arguments after `--xargs` (or after the
/// program name when invoked as `xargs`); `prefix` begins each message.
pub fn run(args: &[OsString], prefix: &'static str) -> Exit {
    let limits = SystemLimits::probe();
    let say = |line: &str| eprintln!("{prefix}: {line}");
    let hint = if prefix == "xargs" {
        "xargs"
    } else {
        "parx --xargs"
    };
    let options = match options::parse(args, limits.size_max, &mut |w| say(&w)) {
        Ok(Parsed::Run(o)) => o,
        Ok(Parsed::Help) => return print_or_fail(&help(hint), prefix),
        Ok(Parsed::Version) => {
            let version = format!(
                "parx {} (xargs mode: GNU findutils xargs 4.9.0's options)\n",
                env!("CARGO_PKG_VERSION")
            );
            return print_or_fail(&version, prefix);
        }
        Err(stop) => {
            stop.lines.iter().for_each(|l| say(l));
            if stop.usage_hint {
                eprintln!("Try '{hint} --help' for more information.");
            }
            return Exit::Code(ERROR);
        }
    };
    let size = match options.max_chars {
        Some(chars) => Limits {
            exec: limits.budget,
            ..Limits::chars(chars, limits.size_max)
        },
        None => Limits::system(limits.budget),
    };
    if options.show_limits {
        let text = show_limits(&limits, size.arg_max, &options);
        if std::io::stderr().write_all(text.as_bytes()).is_err() {
            return Exit::Code(ERROR); // nowhere left to say why
        }
    }
    let command: Vec<Vec<u8>> = options
        .command
        .iter()
        .map(|a| a.as_bytes().to_vec())
        .collect();
    let builder = match Builder::new(
        command,
        size,
        options.max_args,
        options.max_lines,
        options.replace.clone(),
        options.exit_if_too_long,
    ) {
        Ok(b) => b,
        Err(Fatal(why)) => {
            say(&why);
            return Exit::Code(ERROR);
        }
    };
    let input: Box<dyn Read + Send> = match &options.arg_file {
        // As in xargs, "-a -" is stdin.
        Some(path) if path == "-" => Box::new(std::io::stdin()),
        Some(path) => match File::open(path) {
            Ok(f) => Box::new(f),
            Err(err) => {
                say(&format!(
                    "Cannot open input file '{}': {}",
                    path.to_string_lossy(),
                    describe(&err)
                ));
                return Exit::Code(ERROR);
            }
        },
        None => Box::new(std::io::stdin()),
    };
    execute(options, builder, input, prefix)
}

/// `--help` and `--version`: a failed write is an error (status 1), as in
/// xargs, not a panic.
fn print_or_fail(text: &str, prefix: &str) -> Exit {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Exit::Code(0),
        Err(err) => {
            eprintln!("{prefix}: write error: {}", describe(&err));
            Exit::Code(ERROR)
        }
    }
}

fn show_limits(limits: &SystemLimits, using: usize, options: &Options) -> String {
    let mut text = format!(
        "Your environment variables take up {} bytes\n\
         POSIX upper limit on argument length (this system): {}\n\
         POSIX smallest allowable upper limit on argument length (all systems): 4096\n\
         Maximum length of command we could actually use: {}\n\
         Size of command buffer we are actually using: {}\n\
         Maximum parallelism (parx's cap on --max-procs here): {}\n",
        limits.environment,
        limits.size_max,
        // parx's own maximum (argv's pointers counted, the environment
        // once), not GNU's size_max less the environment a second time,
        // which is below what parx uses.
        Limits::system(limits.budget).arg_max,
        using,
        crate::config::max_slots(),
    );
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) && options.arg_file.is_none() {
        text.push_str(
            "\nExecution of xargs will continue now, and it will try to read its input and run \
             commands; if this is not what you wanted to happen, please type the end-of-file \
             keystroke.\n",
        );
        if !options.no_run_if_empty {
            text.push_str(&format!(
                "Warning: {} will be run at least once.  If you do not want that to happen, then \
                 press the interrupt keystroke.\n",
                options.command[0].to_string_lossy()
            ));
        }
    }
    text
}

/// One command line to run.
struct Command {
    seq: u64,
    argv: Argv,
}

/// How the commands went, in xargs' terms.
#[derive(Default)]
struct Verdict {
    /// Some command exited with a status from 1 to 254: 123 at the end.
    nonzero: AtomicBool,
    /// The error that stopped xargs (first one wins), and whether it came
    /// after the last command had started.
    fatal: Mutex<Option<(i32, bool)>>,
}

impl Verdict {
    fn fail(&self, status: i32) {
        self.fail_at(status, false);
    }

    fn fail_at(&self, status: i32, after_last_start: bool) {
        let mut fatal = self
            .fatal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        fatal.get_or_insert((status, after_last_start));
    }

    /// xargs' exit. A fatal error makes xargs exit while its exit handler
    /// still waits for running commands, and that handler turns the status
    /// into 123 if any command failed: so 123 wins, unless the error came
    /// only after the last command had started (xargs was in that handler
    /// already, and its status stands).
    fn status(&self) -> i32 {
        let fatal = *self
            .fatal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let nonzero = self.nonzero.load(Ordering::Acquire);
        match (fatal, nonzero) {
            (Some((status, true)), _) => status,
            (_, true) => FAILED,
            (Some((status, false)), false) => status,
            (None, false) => 0,
        }
    }
}

fn execute(
    options: Options,
    mut builder: Builder,
    input: Box<dyn Read + Send>,
    prefix: &'static str,
) -> Exit {
    // -P is capped where open files or processes run out (each slot is a
    // thread with a pidfd, and pipes with --group/-k). The open-file limit
    // is not raised: commands would inherit it.
    let slots = match options.procs {
        0 => crate::config::max_slots(),
        n => n.min(crate::config::max_slots()),
    };
    let settings = ExecSettings {
        shell: vec!["sh".into()],
        stdin: if options.open_tty {
            JobStdin::Terminal
        } else if options.arg_file.is_some() && !std::io::IsTerminal::is_terminal(&std::io::stdin())
        {
            JobStdin::Inherit
        } else {
            // A terminal is never handed to a job in its own process group:
            // reading it would stop the job (SIGTTIN). xargs' -o is for that.
            JobStdin::Null
        },
        dialect: Dialect::Xargs {
            prefix,
            slot_var: options.slot_var.clone(),
        },
        // In an interactive shell's foreground, commands stay in parx's
        // process group as under xargs: an editor, a pager or a password
        // prompt needs the terminal. Elsewhere each gets a group of its own,
        // so stopping one reaches its whole tree.
        own_group: !sys::in_terminal_foreground(),
        mode: options.output,
        tmpdir: crate::config::env_tmpdir(),
        termseq: signal::default_termseq(),
    };
    let control = Control::new(slots, signal::default_termseq());
    // xargs dies of SIGHUP (its commands get it from the terminal too).
    control.hangup_terminates.store(true, Ordering::Release);
    // SIGUSR1/SIGUSR2 change -P silently, as in xargs; -P 0 has no limit
    // to change (GNU xargs goes from "no limit" to 1 there, and then
    // fails reading its input: not copied).
    control.announce_resize.store(false, Ordering::Release);
    control
        .resizable
        .store(options.procs != 0, Ordering::Release);
    signal::install(&control);
    let terminal = match Terminal::open() {
        Ok(t) => Arc::new(t),
        Err(err) => {
            eprintln!("{prefix}: cannot use standard output or standard error: {err}");
            signal::uninstall();
            return Exit::Code(ERROR);
        }
    };
    let verdict = Arc::new(Verdict::default());
    // Commands packed to the size limit hold megabytes each: queue one.
    let packed = options.max_args == 0 && options.max_lines == 0 && options.replace.is_none();
    let queue = Arc::new(Queue::new(if packed { 1 } else { slots + 1 }));
    let say = {
        let terminal = Arc::clone(&terminal);
        move |line: &str| terminal.message(&format!("{prefix}: {line}\n"))
    };

    // The input thread builds command lines; it is not joined, so that an
    // interrupt while it waits for input still ends parx.
    let stdin_offset = options
        .arg_file
        .is_none()
        .then(|| sys::file_offset(std::io::stdin().as_fd()))
        .flatten();
    let (input_done_tx, input_done_rx) = mpsc::channel::<()>();
    {
        let queue = Arc::clone(&queue);
        let control = Arc::clone(&control);
        let verdict = Arc::clone(&verdict);
        let say = say.clone();
        let delimiter = options.delimiter;
        let eof = options.eof.clone();
        let replace = options.replace.is_some();
        let max_lines = options.max_lines;
        let run_if_empty = !options.no_run_if_empty;
        std::thread::Builder::new()
            .name("parx-input".into())
            .spawn(move || {
                let mut reader = Reader::new(input, delimiter, eof, replace);
                let mut seq = 0u64;
                let mut send = |builder: &mut Builder| -> bool {
                    while let Some(argv) = builder.take() {
                        seq += 1;
                        if !queue.push(Command { seq, argv }, &control) {
                            return false;
                        }
                    }
                    true
                };
                let ended = loop {
                    let step = reader.next(&mut builder);
                    for warning in reader.warnings.drain(..) {
                        say(&warning);
                    }
                    match step {
                        Ok(Step::End) => break Ok(()),
                        Ok(Step::Line(line)) => {
                            let inserted = if replace {
                                builder.insert(&line)
                            } else {
                                if max_lines > 0 && reader.lineno >= max_lines {
                                    builder.exec();
                                    reader.lineno = 0;
                                }
                                Ok(())
                            };
                            if let Err(Fatal(why)) = inserted {
                                break Err(why);
                            }
                        }
                        Err(ReadError::Fatal(Fatal(why))) => break Err(why),
                        Err(ReadError::Io(err)) => {
                            break Err(format!("error reading input: {}", describe(&err)))
                        }
                    }
                    if !send(&mut builder) {
                        break Ok(());
                    }
                };
                match ended {
                    Ok(()) => {
                        if !replace && (builder.has_args() || (run_if_empty && builder.made() == 0))
                        {
                            builder.exec();
                        }
                    }
                    Err(why) => {
                        say(&why);
                        verdict.fail(ERROR);
                    }
                }
                send(&mut builder);
                // Like xargs (gnulib's close_stdin), leave a seekable stdin
                // just after what was used, for whoever reads it next.
                if let Some(start) = stdin_offset {
                    sys::set_file_offset(std::io::stdin().as_fd(), start + reader.consumed);
                }
                queue.close();
                let _ = input_done_tx.send(());
            })
            .expect("cannot start the input thread");
    }

    let (done_tx, done_rx) = mpsc::sync_channel::<Finished>(2 * slots);
    let writer = {
        let control = Arc::clone(&control);
        let terminal = Arc::clone(&terminal);
        let mode = settings.mode;
        let tmpdir = settings.tmpdir.clone();
        std::thread::Builder::new()
            .name("parx-output".into())
            .spawn(move || {
                let destination = crate::output::Destination {
                    table: None,
                    mode,
                    tmpdir: &tmpdir,
                    results: None,
                    gaps: crate::output::Gaps::None,
                };
                crate::output::collect(destination, &control, &terminal, None, &done_rx)
            })
            .expect("cannot start the output thread")
    };

    let utf8 = trace::utf8_locale();
    let prompt = Mutex::new(None::<Tty>);
    let tty_checked = std::sync::OnceLock::<bool>::new();
    let pool = crate::schedule::run_pool(slots, &queue, &control, |slot, command: Command| {
        thread_local! {
            static SCRATCH: std::cell::RefCell<exec::Scratch> = std::cell::RefCell::new(exec::Scratch::default());
        }
        let name = String::from_utf8_lossy(command.argv.get(0).unwrap_or_default()).into_owned();
        // -o: the terminal is needed once a command is about to run.
        let tty_ok = !options.open_tty
            || *tty_checked.get_or_init(|| match File::open("/dev/tty") {
                Ok(_) => true,
                Err(err) => {
                    say(&format!("/dev/tty: {}", describe(&err)));
                    verdict.fail(ERROR);
                    control.stop(StopCause::Halt { now: false });
                    false
                }
            });
        let run = if !tty_ok {
            false
        } else if options.prompt {
            match ask(&prompt, &command.argv, utf8, &terminal, &control) {
                Ok(yes) => yes,
                Err(why) => {
                    say(&why);
                    verdict.fail(ERROR);
                    control.stop(StopCause::Halt { now: false });
                    false
                }
            }
        } else {
            if options.trace {
                let mut line = trace::command_line(&command.argv, utf8);
                line.push(b'\n');
                terminal.with_streams(|s| {
                    let _ = s.err.write_all(&line);
                });
            }
            true
        };
        let outcome = if run {
            let line = CommandLine::Direct(command.argv);
            let spec = JobSpec {
                seq: command.seq,
                slot,
                tag: None,
                timeout: None,
                input: None,
                announce: None,
                hold_stdin: false,
                fifo: None,
            };
            let outcome = SCRATCH.with(|s| {
                exec::run_job(
                    &spec,
                    line,
                    &settings,
                    &control,
                    &terminal,
                    &mut s.borrow_mut(),
                )
            });
            judge(
                outcome.status,
                &name,
                &control,
                &verdict,
                &say,
                queue.is_done(),
            );
            outcome
        } else {
            // Declined at the -p prompt: nothing ran, nothing to print.
            exec::Outcome::not_run(Status::Exited(0))
        };
        let _ = done_tx.send(Finished {
            seq: command.seq,
            outcome,
            command: Vec::new(),
            halt_status: None,
            halt_note: None,
            values: Vec::new(),
            host: None,
        });
    });
    if let Err(err) = pool {
        say(&format!("cannot start any job slot: {err}"));
        verdict.fail(ERROR);
        control.stop(StopCause::OwnError);
    }
    drop(done_tx);
    let _ = writer.join();
    // Let the input thread leave a seekable stdin's offset in place. A
    // pipe or terminal may keep it waiting for input when parx stopped
    // early; then it is left behind.
    if stdin_offset.is_some() || !control.is_stopping() {
        let _ = input_done_rx.recv();
    }
    signal::uninstall();
    match control.cause() {
        Some(StopCause::Signal(sig)) => Exit::Signal(sig),
        Some(StopCause::BrokenPipe) => Exit::Signal(libc::SIGPIPE),
        // parx could not write the output it collected (--group, -k).
        Some(StopCause::OwnError) => Exit::Code(ERROR),
        _ => Exit::Code(verdict.status()),
    }
}

/// Applies xargs' rules to a finished command: 255 stops everything now,
/// a signal or a command that cannot run stops new starts, any other
/// non-zero status makes the final status 123.
fn judge(
    status: Status,
    name: &str,
    control: &Arc<Control>,
    verdict: &Verdict,
    say: &dyn Fn(&str),
    after_last_start: bool,
) {
    match status {
        Status::Exited(0) => {}
        Status::Exited(255) => {
            say(&format!("{name}: exited with status 255; aborting"));
            verdict.fail_at(EXITED_255, after_last_start);
            control.stop(StopCause::Halt { now: true });
        }
        Status::Exited(_) => verdict.nonzero.store(true, Ordering::Release),
        Status::Signaled(sig) => {
            // Commands parx itself terminated are not the command's fault.
            if control.cause().is_some_and(StopCause::terminates_jobs) {
                return;
            }
            say(&format!("{name}: terminated by signal {sig}"));
            verdict.fail_at(KILLED, after_last_start);
            control.stop(StopCause::Halt { now: false });
        }
        Status::NotStarted(code) => {
            // run_job already said why, in xargs' words.
            verdict.fail(code);
            control.stop(StopCause::Halt { now: false });
        }
    }
}

/// The terminal `-p` reads answers from, and what was typed ahead.
struct Tty {
    file: File,
    typed: Vec<u8>,
}

/// `-p`: prints the command and "?...", and reads the answer from the
/// terminal; only an answer starting with y or Y runs it. Waits in short
/// polls, so Ctrl-C (which stops parx) is not held up by the question.
fn ask(
    tty: &Mutex<Option<Tty>>,
    argv: &Argv,
    utf8: bool,
    terminal: &Terminal,
    control: &Control,
) -> Result<bool, String> {
    let mut tty = tty
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if tty.is_none() {
        let file = File::open("/dev/tty")
            .map_err(|e| format!("failed to open /dev/tty for reading: {}", describe(&e)))?;
        *tty = Some(Tty {
            file,
            typed: Vec::new(),
        });
    }
    let tty = tty.as_mut().expect("opened above");
    let mut question = trace::command_line(argv, utf8);
    question.extend_from_slice(b"?...");
    terminal.with_streams(|s| {
        let _ = s.err.write_all(&question);
    });
    loop {
        if let Some(end) = tty.typed.iter().position(|&b| b == b'\n') {
            let yes = matches!(tty.typed.first(), Some(b'y' | b'Y'));
            tty.typed.drain(..=end);
            return Ok(yes);
        }
        if control.is_stopping() {
            return Ok(false);
        }
        let fds = [Some(tty.file.as_fd()), None, None, None];
        let ready = sys::poll_ready(fds, Some(Duration::from_millis(100)))
            .map_err(|e| format!("Failed to read from stdin: {}", describe(&e)))?;
        if ready[0] {
            let mut buf = [0u8; 256];
            match tty.file.read(&mut buf) {
                Ok(0) => return Err("Failed to read from stdin".into()),
                Ok(n) => tty.typed.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("Failed to read from stdin: {}", describe(&e))),
            }
        }
    }
}

fn help(name: &str) -> String {
    format!(
        "Usage: {name} [OPTION]... COMMAND [INITIAL-ARGS]...
Run COMMAND with arguments INITIAL-ARGS and more arguments read from input.
parx's xargs mode: GNU xargs' options and behaviour, with parx's process handling.

Mandatory and optional arguments to long options are also
mandatory or optional for the corresponding short option.
  -0, --null                   items are separated by a null, not whitespace;
                                 disables quote and backslash processing and
                                 logical EOF processing
  -a, --arg-file=FILE          read arguments from FILE, not standard input
  -d, --delimiter=CHARACTER    items in input stream are separated by CHARACTER,
                                 not by whitespace; disables quote and backslash
                                 processing and logical EOF processing
  -E END                       set logical EOF string; if END occurs as a line
                                 of input, the rest of the input is ignored
                                 (ignored if -0 or -d was specified)
  -e, --eof[=END]              equivalent to -E END if END is specified;
                                 otherwise, there is no end-of-file string
  -I R                         same as --replace=R
  -i, --replace[=R]            replace R in INITIAL-ARGS with names read
                                 from standard input, split at newlines;
                                 if R is unspecified, assume {{}}
  -L, --max-lines=MAX-LINES    use at most MAX-LINES non-blank input lines per
                                 command line
  -l[MAX-LINES]                similar to -L but defaults to at most one non-
                                 blank input line if MAX-LINES is not specified
  -n, --max-args=MAX-ARGS      use at most MAX-ARGS arguments per command line
  -o, --open-tty               reopen stdin as /dev/tty in the child process
                                 before executing the command; useful to run an
                                 interactive application
  -P, --max-procs=MAX-PROCS    run at most MAX-PROCS processes at a time
  -p, --interactive            prompt before running commands
      --process-slot-var=VAR   set environment variable VAR in child processes
  -r, --no-run-if-empty        if there are no arguments, then do not run COMMAND;
                                 if this option is not given, COMMAND will be
                                 run at least once
  -s, --max-chars=MAX-CHARS    limit length of command line to MAX-CHARS
                                 (default: the system's whole limit, ARG_MAX less
                                 the environment, not xargs' 128 KiB)
      --show-limits            show limits on command-line length
  -t, --verbose                print commands before executing them
  -x, --exit                   exit if the size (see -s) is exceeded
      --help                   display this help and exit
      --version                output version information and exit

parx's additions, to untangle the output of -P commands:
      --group                  print each command's output whole, as it ends
  -k, --keep-order             print each command's output whole, in input order
      --line-buffer            print output a line at a time, lines never mixed

Exit status: 0 all commands succeeded; 123 some command exited 1-125 (or
1-254 but 255); 124 a command exited 255 (the others are terminated); 125 a
command was killed by a signal; 126 a command cannot be run; 127 a command
was not found; 1 another error. Interrupted: dies of the signal (130, 143),
after terminating every running command's process group.
"
    )
}
