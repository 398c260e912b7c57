//! Differential tests of parx's xargs mode against GNU xargs.
//!
//! Every case in [`CASES`] runs twice, in a fresh temp dir with the same
//! fixed environment and the same stdin: once through the system's GNU
//! xargs (`/usr/bin/xargs`, findutils 4.9.0 when this was written) and once
//! through the implementation under test (`parx --xargs`, or parx invoked
//! through a symlink named `xargs`). The case's [`Compare`] kind says what
//! has to agree. All cases run, and one assertion at the end lists every
//! case that differs, so a single run shows the whole picture.
//!
//! Where parx differs from GNU xargs on purpose, the case says so through a
//! looser kind that carries the reason; no case is skipped.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use crate::util::{parx_bin, Env};

/// The GNU xargs every case is compared with.
const GNU_XARGS: &str = "/usr/bin/xargs";

/// A case that runs longer than this is killed (its whole process group)
/// and reported as a failure instead of blocking the test run.
const CASE_TIMEOUT: Duration = Duration::from_secs(30);

/// Cases run on this many threads: they mostly wait for processes.
const WORKERS: usize = 4;

/// How much of a stdout or stderr a failure report shows.
const SHOW_OUTPUT_BYTES: usize = 600;

/// How much of the stdin a failure report shows.
const SHOW_STDIN_BYTES: usize = 200;

/// The implementation under test: the program and the arguments that put
/// it into xargs mode, before a case's own arguments.
fn implementation() -> (PathBuf, Vec<OsString>) {
    (parx_bin().to_path_buf(), vec![OsString::from("--xargs")])
}

/// What has to agree between GNU xargs and the implementation. The loose
/// kinds carry the reason the case cannot be compared exactly.
#[derive(Clone, Copy, Debug)]
enum Compare {
    /// Stdout byte for byte, the exit status, and stderr once the program
    /// name at the start of each line is normalised.
    Exact,
    /// Stdout byte for byte and the exit status; stderr only has to be
    /// empty or non-empty on both sides (its wording may differ).
    Status(&'static str),
    /// Unordered output (`-P` > 1): the sorted stdout lines and the exit
    /// status; stderr empty or non-empty on both sides.
    Sorted,
    /// Default packing: parx fills the system's real argument limit where
    /// GNU xargs stops at 128 KiB. The same words on stdout, in no more
    /// lines (one line per `echo`), and the same exit status.
    Packing(&'static str),
    /// Only the exit status.
    ExitCode(&'static str),
}

/// How the implementation is invoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    /// `parx --xargs ARGS...`: its messages start with `parx: `.
    Option,
    /// A symlink named `xargs` to the program, run without the mode
    /// arguments: the name alone must select xargs mode, and its messages
    /// must start with `xargs: ` (`parx: ` is not normalised here).
    Symlink,
}

/// What a case feeds to stdin.
#[derive(Clone, Copy, Debug)]
enum Input {
    Bytes(&'static [u8]),
    /// `w1\nw2\n...` up to the given count.
    Words(usize),
}

impl Input {
    fn bytes(self) -> Vec<u8> {
        match self {
            Input::Bytes(b) => b.to_vec(),
            Input::Words(n) => {
                let mut out = Vec::with_capacity(n * 8);
                for i in 1..=n {
                    writeln!(out, "w{i}").expect("writing to a Vec cannot fail");
                }
                out
            }
        }
    }
}

/// One row of the table.
#[derive(Clone, Copy, Debug)]
struct Case {
    name: &'static str,
    /// The arguments after `xargs`.
    args: &'static [&'static str],
    input: Input,
    /// Set in the environment of both runs, on top of the fixed one.
    env: &'static [(&'static str, &'static str)],
    compare: Compare,
    via: Via,
}

/// A case with the defaults: given stdin bytes, no extra environment,
/// invoked as `parx --xargs`.
const fn case(
    name: &'static str,
    args: &'static [&'static str],
    stdin: &'static [u8],
    compare: Compare,
) -> Case {
    Case {
        name,
        args,
        input: Input::Bytes(stdin),
        env: &[],
        compare,
        via: Via::Option,
    }
}

impl Case {
    const fn env(mut self, env: &'static [(&'static str, &'static str)]) -> Self {
        self.env = env;
        self
    }

    const fn words(mut self, count: usize) -> Self {
        self.input = Input::Words(count);
        self
    }

    const fn via_symlink(mut self) -> Self {
        self.via = Via::Symlink;
        self
    }
}

use Compare::{Exact, ExitCode, Packing, Sorted, Status};

/// `printf` with this format prints one bracketed argument per line, which
/// shows exactly how the input was split.
const PF: &str = "[%s]\\n";

const USAGE: &str = "usage errors only need to fail the same way; their wording is free";
const EXEC: &str = "the text of an exec error comes from the OS error's wording";
const LIMIT: &str = "the warning names this machine's limit, which depends on the environment";

/// Each fixture file exists in every case's directory.
const ARGS_TXT: &[u8] = b"f1 'f 2'\nf3\n";
const NUL_TXT: &[u8] = b"n1\0n 2\0\0";
const NOT_EXECUTABLE: &[u8] = b"echo hi\n";

// One case per line reads as a table; rustfmt would spread most of them over
// six lines.
#[rustfmt::skip]
static CASES: &[Case] = &[
    // Default command, empty input, -r.
    case("default-echo", &[], b"a b\nc\n", Exact),
    case("empty-input-runs-once", &[], b"", Exact),
    case("empty-input-runs-command-once", &["printf", PF], b"", Exact),
    case("blank-only-input-runs-once", &[], b"  \n\t\n\n", Exact),
    case("r-empty-input", &["-r"], b"", Exact),
    case("r-blank-only-input", &["-r", "printf", PF], b" \n\t \n\n", Exact),
    case("r-long-option", &["--no-run-if-empty"], b"", Exact),
    case("r-with-input", &["-r", "-L1"], b"\n\na\n\n", Exact),
    // Quoting and backslashes.
    case("quote-single", &["printf", PF], b"'a b' 'c\"d' x\n", Exact),
    case("quote-double", &["printf", PF], b"\"a b\" \"it's\" y\n", Exact),
    case("quote-empty-args", &["printf", PF], b"'' \"\" x ''\n", Exact),
    case("quote-mid-word", &["printf", PF], b"mid'dle q'x\"y\"z ab'c'd\n", Exact),
    case("backslash-blanks", &["printf", PF], b"e\\ f g\\\th\n", Exact),
    case("backslash-newline", &["printf", PF], b"a\\\nb c\n", Exact),
    case("backslash-quotes", &["printf", PF], b"g\\\"h i\\'j \\\\ end\\\\\n", Exact),
    case("backslash-at-eof", &["printf", PF], b"a b\\", Exact),
    case("quote-unmatched-single", &[], b"a b\nc 'd\n", Exact),
    case("quote-unmatched-double-n2", &["-n2"], b"a b\nc \"d e\n", Exact),
    case("quote-spans-newline", &["printf", PF], b"'multi\nline'\n", Exact),
    case("blanks-and-other-whitespace", &["printf", PF],
         b" \t a\t\tb  \n\n c \r\n\x0b d\x0c e\nx\ry\n", Exact),
    case("invalid-utf8", &["printf", PF], b"caf\xe9 \xff\xfe x\n", Exact),
    case("nul-in-input-warns", &["printf", PF], b"a\0b\0c d\0", Exact),
    case("nul-in-input-L1", &["-L1"], b"x\0\ny\0z\n", Exact),
    // -0 and -d.
    case("null", &["-0", "printf", PF], b"a\0b c\0\0d", Exact),
    case("null-long-option", &["--null", "printf", PF],
         b"it's\0\"q\"\0back\\slash\0new\nline\0", Exact),
    case("null-r-empty-input", &["-0", "-r"], b"", Exact),
    case("delim-comma-keeps-newline", &["-d,", "printf", PF], b"a,b,,c\n", Exact),
    case("delim-long-option", &["--delimiter=,", "printf", PF], b"a,b\n", Exact),
    case("delim-newline-escape", &["-d", "\\n", "printf", PF], b"a\nb  c\n\n 'q\\\n", Exact),
    case("delim-tab", &["-d", "\\t", "printf", PF], b"a\tb c\t", Exact),
    case("delim-backslash", &["-d", "\\\\", "printf", PF], b"a\\b\\c", Exact),
    case("delim-octal", &["-d", "\\012", "printf", PF], b"a\nb c\n\nd\n", Exact),
    case("delim-hex", &["-d", "\\x41", "printf", PF], b"xAyAz", Exact),
    case("delim-nul-escape", &["-d", "\\0", "printf", PF], b"x\0y z\0", Exact),
    case("delim-r-one-empty-item", &["-d", "\\n", "-r", "printf", PF], b"\n", Exact),
    case("delim-invalid-escape", &["-d", "\\q"], b"a\n", Status(USAGE)),
    case("delim-two-chars", &["-d", "ab"], b"a\n", Status(USAGE)),
    case("delim-octal-too-big", &["-d", "\\400"], b"a\n", Status(USAGE)),
    // -E and -e.
    case("eof-first-word", &["-E", "STOP"], b"STOP a b\nc\n", Exact),
    case("eof-mid-line", &["-E", "STOP"], b"a b STOP c\nd\n", Exact),
    case("eof-whole-word-only", &["-E", "STOP"], b"a xSTOP STOPx b\n", Exact),
    case("eof-quoted-still-matches", &["-E", "STOP"], b"a \"STOP\" b\n", Exact),
    case("eof-short-e-attached", &["-eSTOP"], b"a STOP b\n", Exact),
    // -e takes an optional argument: a separate word is the command.
    case("eof-e-separate-is-command", &["-e", "STOP"], b"a\n", Status(EXEC)),
    case("eof-long-option", &["--eof=STOP"], b"a STOP b\n", Exact),
    case("eof-with-L1", &["-L1", "-E", "STOP"], b"a b\nc STOP d\ne\n", Exact),
    case("eof-with-I", &["-I{}", "-E", "STOP", "echo", "<{}>"], b"a b\nSTOP\nc\n", Exact),
    case("eof-with-null-warns", &["-0", "-E", "STOP", "printf", PF], b"a\0STOP\0b\0", Exact),
    case("eof-with-delim-warns", &["-d", "\\n", "-E", "STOP"], b"a\nSTOP\nb\n", Exact),
    // -L and -l.
    case("L1-trailing-blank-continues", &["-L1"], b"a b \nc\nd\te\t\nf\ng\n", Exact),
    case("L2", &["-L2"], b"a b \nc\nd\te\t\nf\ng\n", Exact),
    case("L1-blank-lines", &["-L1"], b"a\n\n\nb\n  \nc\n", Exact),
    case("L1-backslash-newline", &["-L1", "printf", PF], b"a\\\nb\nc\n", Exact),
    case("l-defaults-to-1", &["-l"], b"a b \nc\nd\n", Exact),
    case("l-attached-count", &["-l2"], b"a\nb\nc\n", Exact),
    case("max-lines-long-option", &["--max-lines=2"], b"a\nb \nc\nd\n", Exact),
    // -I and -i.
    case("I-several-occurrences", &["-I{}", "printf", PF, "{}", "x{}y{}", "{}{}"],
         b"a b\n  c\n", Exact),
    case("I-custom-string", &["-I", "XX", "printf", PF, "<XX>", "{}"], b"a b\n", Exact),
    case("I-keeps-trailing-blanks", &["-I{}", "printf", PF, "{}"],
         b"\"quoted arg\" rest\n  lead\ttab  \n", Exact),
    case("I-empty-input-runs-nothing", &["-I{}", "echo", "x{}"], b"", Exact),
    case("I-s-fits", &["-I{}", "-s", "30", "printf", PF, "{}{}{}{}"], b"abc\n", Exact),
    case("I-s-too-small", &["-I{}", "-s", "20", "printf", PF, "{}{}{}{}"], b"abc\n", Exact),
    case("i-default-string", &["-i", "printf", PF, "{}"], b"a b\nc\n", Exact),
    case("replace-long-option", &["--replace", "echo", "<{}>"], b"a b\n", Exact),
    case("replace-long-option-value", &["--replace=@", "printf", PF, "<@>"], b"a b\n", Exact),
    // -n, -s, -x.
    case("n2", &["-n2"], b"a b c d e\n", Exact),
    case("n-long-option", &["--max-args=2"], b"a b c d e\n", Exact),
    case("n-long-option-prefix", &["--max-a", "2"], b"a b c d e\n", Exact),
    case("n3-s10-splits-by-size", &["-n3", "-s", "10"], b"a b c d e f\n", Exact),
    case("n3-s10-x-too-long", &["-n3", "-s", "10", "-x"], b"a b c d e f\n", Exact),
    case("n3-s11-x-fits", &["-n3", "-s", "11", "-x"], b"a b c d e f\n", Exact),
    case("s15", &["-s", "15"], b"a bb ccc dddd\n", Exact),
    case("s-long-option", &["--max-chars=10"], b"a b c\n", Exact),
    case("s1-cannot-fit", &["-s", "1"], b"x\n", Exact),
    case("s-line-too-long", &["-s", "20"],
         b"ab cd\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\nef\n", Exact),
    case("s-line-too-long-n1", &["-s", "20", "-n1"],
         b"ab cd\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\nef\n", Exact),
    case("x-s-oversize-arg", &["-x", "-s", "12"], b"abcdefghijkl\n", Exact),
    case("s4096-packs-20000-words", &["-s", "4096"], b"", Exact).words(20_000),
    case("s-above-system-limit", &["-s", "99999999"], b"a b\n", Status(LIMIT)),
    case("s-large-within-limit", &["-s", "131073"], b"a b\n", Exact),
    // -t.
    case("t-plain", &["-t"], b"plain\n", Exact),
    case("t-shell-quoting", &["-0", "-t", "echo"],
         b"a b\0it's\0tab\there\0new\nline\0$HOME\0\0\"q\"\0back\\s\0", Exact),
    case("t-special-characters", &["-t", "echo", "*", "~", "a=b", "#x", "x#", "%", "^", "!", "{}"],
         b"a~b\n", Exact),
    case("t-with-I", &["-t", "-I{}", "echo", "pre {} post"], b"x\n", Exact),
    case("verbose-long-option", &["--verbose", "-n2"], b"a b c\n", Exact),
    // Exit statuses.
    case("exit-123-goes-on", &["-n1", "sh", "-c", "echo $0; exit $0"], b"1\n0\n2\n", Exact),
    case("exit-123-for-125-126-127", &["-n1", "sh", "-c", "echo $0; exit $0"],
         b"126\n127\n125\n", Exact),
    case("exit-124-stops", &["-n1", "sh", "-c", "echo run $0; exit $0"], b"0\n255\n0\n", Exact),
    case("exit-125-signal-stops", &["-n1", "sh", "-c", "echo $0; kill -9 $$"], b"a\nb\n", Exact),
    // After an earlier failure: 123, unless the fatal one was the last command.
    case("exit-123-after-failure-then-255", &["-n1", "sh", "-c", "exit $0"], b"1\n255\n0\n", Exact),
    case("exit-124-when-255-is-last", &["-n1", "sh", "-c", "exit $0"], b"1\n255\n", Exact),
    case("exit-125-when-signal-is-last", &["-n1", "sh", "-c", "[ $0 = a ] && exit 1; kill -9 $$"], b"a\nb\n", Exact),
    case("exit-126-directory", &["./dir"], b"a\n", Status(EXEC)),
    case("exit-126-not-executable", &["./plain.txt"], b"a\n", Status(EXEC)),
    case("exit-127-missing", &["no-such-command-xdiff"], b"a\n", Status(EXEC)),
    case("exit-127-missing-path", &["./no-such"], b"a\nb\n", Status(EXEC)),
    case("exit-123-parallel", &["-P2", "-n1", "sh", "-c", "echo $0; exit 1"],
         b"1 2 3 4 5 6\n", Sorted),
    // Children's stdin, -a.
    case("children-stdin-is-dev-null", &["sh", "-c", "cat; echo \"$@\"", "sh"], b"a b\n", Exact),
    case("a-children-keep-stdin", &["-a", "args.txt", "sh", "-c", "cat; echo \"$@\"", "sh"],
         b"from stdin\n", Exact),
    case("a-long-option", &["--arg-file=args.txt", "printf", PF], b"", Exact),
    case("a-dash-is-stdin", &["-a", "-", "printf", PF], b"x y\n", Exact),
    case("a-with-null", &["-0", "-a", "nul.txt", "printf", PF], b"", Exact),
    case("a-missing-file", &["-a", "missing.txt"],
         b"", Status("the message ends in the OS error's wording")),
    // -P and --process-slot-var.
    case("P2-sorted", &["-P", "2", "-n1"], b"", Sorted).words(40),
    case("P0-unlimited", &["-P0", "-n3"], b"", Sorted).words(30),
    case("slot-var-P1", &["-P1", "--process-slot-var=SLOT", "sh", "-c", "echo $SLOT \"$@\"", "sh"],
         b"a b\n", Exact),
    case("slot-var-P2-set",
         &["--max-procs=2", "-n1", "--process-slot-var", "S", "sh", "-c", "echo ${S+set} $1", "sh"],
         b"a b c d\n", Sorted),
    // Conflicting options: the warnings are compared exactly.
    case("conflict-L-then-n", &["-L2", "-n2"], b"a b\nc\n", Exact),
    case("conflict-n-then-I", &["-n1", "-I{}", "echo", "{}"], b"a b\nc\n", Exact),
    case("conflict-L-then-I", &["-L1", "-I{}", "echo", "{}"], b"a b\nc\n", Exact),
    case("conflict-I-then-L", &["-I{}", "-L1", "echo", "{}"], b"a b\nc\n", Exact),
    case("conflict-n-then-l", &["-n1", "-l"], b"a b\nc\n", Exact),
    case("conflict-n-then-i", &["-n1", "-i", "echo", "{}"], b"a b\nc\n", Exact),
    case("conflict-I-then-n-is-silent", &["-I{}", "-n1", "echo", "{}"], b"a b\nc\n", Exact),
    // Bad options and numbers.
    case("bad-n-zero", &["-n", "0"], b"a\n", Status(USAGE)),
    case("bad-n-word", &["-n", "x"], b"a\n", Status(USAGE)),
    case("bad-n-trailing-junk", &["-n", "1x"], b"a\n", Status(USAGE)),
    case("bad-n-missing-value", &["-n"], b"a\n", Status(USAGE)),
    case("bad-P-negative", &["-P", "-1"], b"a\n", Status(USAGE)),
    case("bad-L-zero", &["-L", "0"], b"a\n", Status(USAGE)),
    case("bad-s-zero", &["-s", "0"], b"a\n", Status(USAGE)),
    case("bad-unknown-option", &["--bogus"], b"a\n", Status(USAGE)),
    case("help", &["--help"], b"", ExitCode("parx has its own help text")),
    case("version", &["--version"], b"", ExitCode("parx has its own version")),
    case("show-limits", &["--show-limits"],
         b"", ExitCode("parx reports its own limit, the real ARG_MAX")),
    // Where options end, and the environment.
    case("options-after-command", &["printf", PF, "-0", "-n1"], b"a b\n", Exact),
    case("double-dash", &["--", "printf", PF], b"a b\n", Exact),
    case("bundled-short-options", &["-0rn1", "printf", PF], b"a b\n\0d\0", Exact),
    case("environment-reaches-children", &["sh", "-c", "echo \"$XDIFF\" \"$@\"", "sh"],
         b"x\n", Exact).env(&[("XDIFF", "set for the case")]),
    // Default packing.
    case("packing-100000-words", &[],
         b"", Packing("parx packs up to the real ARG_MAX, not GNU's 128 KiB")).words(100_000),
    case("s-beyond-what-exec-takes", &["-s", "2000000"],
         b"", Packing("GNU retries after E2BIG; parx cuts at exec's limit first")).words(400_000),
    // Invoked as `xargs`: the name selects the mode and the message prefix.
    case("as-xargs-default-echo", &["-n2"], b"a 'b c' d\n", Exact).via_symlink(),
    case("as-xargs-conflict-warning", &["-L2", "-n2"], b"a b\nc\n", Exact).via_symlink(),
    case("as-xargs-unmatched-quote", &[], b"a \"b\n", Exact).via_symlink(),
];

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ended {
    Code(i32),
    Signal(i32),
    TimedOut,
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::Code(code) => write!(f, "exit {code}"),
            Ended::Signal(signal) => write!(f, "killed by signal {signal}"),
            Ended::TimedOut => write!(f, "timed out after {CASE_TIMEOUT:?}"),
        }
    }
}

/// What one run printed and how it ended.
struct Outcome {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    ended: Ended,
}

/// Creates the files cases refer to.
fn write_fixtures(env: &Env) {
    env.write("args.txt", ARGS_TXT);
    env.write("nul.txt", NUL_TXT);
    env.write("plain.txt", NOT_EXECUTABLE);
    std::fs::create_dir(env.path("dir")).expect("creating the fixture directory");
}

/// Runs `program` with `args` in `env`'s directory. The environment is
/// fixed and the same for both tools (argument size limits depend on its
/// size): only PATH survives from outside, and no PARX_* or make
/// jobserver variables reach the run.
fn run(program: &Path, args: &[OsString], case: &Case, env: &Env, stdin: &[u8]) -> Outcome {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(env.dir.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", env.dir.path())
        .env("TMPDIR", env.dir.path())
        .env("LC_ALL", "C")
        .envs(case.env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so a timeout can kill the tool and its children.
        .process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let group = child.id();

    let mut pipe = child.stdin.take().expect("stdin is piped");
    let data = stdin.to_vec();
    // The tool may stop reading early (a stopping status, a usage error).
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&data);
    });
    let collect = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = collect(Box::new(child.stdout.take().expect("stdout is piped")));
    let stderr = collect(Box::new(child.stderr.take().expect("stderr is piped")));

    // Armed until the output is complete: a grandchild holding a pipe open
    // hangs a case just as much as the tool itself.
    let (done, timer) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let fired = matches!(
            timer.recv_timeout(CASE_TIMEOUT),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        if fired {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .status();
        }
        fired
    });

    let status = child.wait().expect("waiting for the tool");
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    drop(done);
    let timed_out = watchdog.join().expect("watchdog");
    writer.join().expect("stdin writer");

    let ended = if timed_out {
        Ended::TimedOut
    } else if let Some(code) = status.code() {
        Ended::Code(code)
    } else {
        Ended::Signal(status.signal().expect("no code means a signal"))
    };
    Outcome {
        stdout,
        stderr,
        ended,
    }
}

/// Rewrites the program name at the start of each stderr line to
/// `xargs: `: GNU prints its argv[0] (`/usr/bin/xargs: `), which the
/// pattern `^.*?xargs: ` covers; with `parx_prefix`, a leading `parx: `
/// (parx's own name in `--xargs` mode) is rewritten too.
fn normalise_stderr(stderr: &[u8], parx_prefix: bool) -> Vec<u8> {
    const NAME: &[u8] = b"xargs: ";
    let mut out = Vec::with_capacity(stderr.len());
    for line in stderr.split_inclusive(|&b| b == b'\n') {
        if parx_prefix && line.starts_with(b"parx: ") {
            out.extend_from_slice(NAME);
            out.extend_from_slice(&line[b"parx: ".len()..]);
        } else if let Some(at) = line.windows(NAME.len()).position(|w| w == NAME) {
            out.extend_from_slice(&line[at..]);
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

fn sorted_lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    lines.sort_unstable();
    lines
}

fn sorted_words(bytes: &[u8]) -> Vec<&[u8]> {
    let mut words: Vec<&[u8]> = bytes
        .split(u8::is_ascii_whitespace)
        .filter(|w| !w.is_empty())
        .collect();
    words.sort_unstable();
    words
}

fn count_lines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}

/// What differs between GNU's outcome and the implementation's, as short
/// descriptions; empty when the case passes.
fn differences(case: &Case, gnu: &Outcome, ours: &Outcome) -> Vec<String> {
    let mut found = Vec::new();
    if ours.ended == Ended::TimedOut || gnu.ended == Ended::TimedOut {
        found.push("a run timed out".to_owned());
    }
    if gnu.ended != ours.ended {
        found.push("exit status".to_owned());
    }
    let same_stderr_emptiness = gnu.stderr.is_empty() == ours.stderr.is_empty();
    match case.compare {
        Exact => {
            if gnu.stdout != ours.stdout {
                found.push("stdout".to_owned());
            }
            let ours_stderr = normalise_stderr(&ours.stderr, case.via == Via::Option);
            if normalise_stderr(&gnu.stderr, false) != ours_stderr {
                found.push("stderr (program name normalised)".to_owned());
            }
        }
        Status(_) => {
            if gnu.stdout != ours.stdout {
                found.push("stdout".to_owned());
            }
            if !same_stderr_emptiness {
                found.push("stderr empty on one side only".to_owned());
            }
        }
        Sorted => {
            if sorted_lines(&gnu.stdout) != sorted_lines(&ours.stdout) {
                found.push("sorted stdout lines".to_owned());
            }
            if !same_stderr_emptiness {
                found.push("stderr empty on one side only".to_owned());
            }
        }
        Packing(_) => {
            if sorted_words(&gnu.stdout) != sorted_words(&ours.stdout) {
                found.push("the words on stdout".to_owned());
            }
            let (theirs, mine) = (count_lines(&gnu.stdout), count_lines(&ours.stdout));
            if mine > theirs {
                found.push(format!(
                    "{mine} invocations where GNU xargs needed only {theirs}"
                ));
            }
        }
        ExitCode(_) => {}
    }
    found
}

/// Bytes as readable text: printable ASCII as is, anything else escaped;
/// with `break_lines`, each `\n` also starts a new indented line. Cut after
/// `max_bytes`.
fn show(bytes: &[u8], max_bytes: usize, break_lines: bool) -> String {
    let mut out = String::new();
    let shown = &bytes[..bytes.len().min(max_bytes)];
    for (i, &b) in shown.iter().enumerate() {
        match b {
            b'\n' if break_lines && i + 1 < shown.len() => out.push_str("\\n\n        "),
            b'\n' => out.push_str("\\n"),
            b'\\' => out.push_str("\\\\"),
            b' '..=b'~' => out.push(char::from(b)),
            b'\t' => out.push_str("\\t"),
            b'\r' => out.push_str("\\r"),
            b'\0' => out.push_str("\\0"),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    if bytes.len() > max_bytes {
        let _ = write!(out, "... ({} bytes in all)", bytes.len());
    }
    out
}

fn report(case: &Case, stdin: &[u8], gnu: &Outcome, ours: &Outcome, found: &[String]) -> String {
    let mut text = String::new();
    let args: Vec<String> = case.args.iter().map(|a| format!("{a:?}")).collect();
    let how = match case.via {
        Via::Option => "parx --xargs",
        Via::Symlink => "parx as xargs",
    };
    let _ = writeln!(text, "=== {} ({:?})", case.name, case.compare);
    let _ = writeln!(text, "    xargs {}", args.join(" "));
    if !case.env.is_empty() {
        let _ = writeln!(text, "    env: {:?}", case.env);
    }
    let _ = writeln!(text, "    stdin: {}", show(stdin, SHOW_STDIN_BYTES, false));
    let _ = writeln!(text, "    differs: {}", found.join("; "));
    let _ = writeln!(
        text,
        "    status: GNU xargs {}, {how} {}",
        gnu.ended, ours.ended
    );
    let _ = writeln!(
        text,
        "    stdout GNU xargs: {}",
        show(&gnu.stdout, SHOW_OUTPUT_BYTES, true)
    );
    let _ = writeln!(
        text,
        "    stdout {how}: {}",
        show(&ours.stdout, SHOW_OUTPUT_BYTES, true)
    );
    let _ = writeln!(
        text,
        "    stderr GNU xargs: {}",
        show(&gnu.stderr, SHOW_OUTPUT_BYTES, true)
    );
    let _ = writeln!(
        text,
        "    stderr {how}: {}",
        show(&ours.stderr, SHOW_OUTPUT_BYTES, true)
    );
    text
}

/// Runs one case through both tools; `Some(report)` when they differ.
fn check(case: &Case) -> Option<String> {
    let env = Env::new();
    write_fixtures(&env);
    let stdin = case.input.bytes();
    let args: Vec<OsString> = case.args.iter().map(OsString::from).collect();

    let gnu = run(Path::new(GNU_XARGS), &args, case, &env, &stdin);

    let (program, mode_args) = implementation();
    let ours = match case.via {
        Via::Option => {
            let all: Vec<OsString> = mode_args.into_iter().chain(args).collect();
            run(&program, &all, case, &env, &stdin)
        }
        Via::Symlink => {
            let link = env.path("xargs");
            std::os::unix::fs::symlink(&program, &link).expect("creating the xargs symlink");
            run(&link, &args, case, &env, &stdin)
        }
    };

    let found = differences(case, &gnu, &ours);
    (!found.is_empty()).then(|| report(case, &stdin, &gnu, &ours, &found))
}

/// The comparison is only meaningful against the GNU xargs the cases were
/// written for; a missing or different xargs fails rather than skips.
fn assert_gnu_xargs() {
    let out = Command::new(GNU_XARGS)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{GNU_XARGS} cannot run ({e}): install findutils"));
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(
        version.starts_with("xargs (GNU findutils)"),
        "{GNU_XARGS} is not GNU xargs: {version}"
    );
}

#[test]
fn xargs_mode_matches_gnu_xargs() {
    assert_gnu_xargs();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = CASES.get(i) else { break };
                if let Some(report) = check(case) {
                    failures
                        .lock()
                        .expect("no panics while locked")
                        .push((i, report));
                }
            });
        }
    });
    let mut failures = failures.into_inner().expect("no panics while locked");
    failures.sort_unstable_by_key(|(i, _)| *i);
    let names: Vec<&str> = failures.iter().map(|(i, _)| CASES[*i].name).collect();
    let reports: String = failures.iter().map(|(_, r)| r.as_str()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from GNU xargs: {}\n\n{reports}",
        failures.len(),
        CASES.len(),
        names.join(", ")
    );
}

#[test]
fn case_table_is_well_formed() {
    assert!(CASES.len() >= 60, "only {} cases", CASES.len());
    let mut names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
    names.sort_unstable();
    for pair in names.windows(2) {
        assert_ne!(pair[0], pair[1], "two cases share a name");
    }
    for c in CASES {
        if let Status(why) | Packing(why) | ExitCode(why) = c.compare {
            assert!(
                !why.is_empty(),
                "{}: a loose comparison needs its reason",
                c.name
            );
        }
    }
    let symlinked = CASES.iter().filter(|c| c.via == Via::Symlink).count();
    assert!(symlinked >= 2, "too few cases run parx as xargs");
}

#[test]
fn normalising_stderr_keeps_only_the_name_apart() {
    let gnu = b"/usr/bin/xargs: warning: x\nplain line\n";
    assert_eq!(
        normalise_stderr(gnu, false),
        b"xargs: warning: x\nplain line\n"
    );
    assert_eq!(normalise_stderr(b"parx: oops\n", true), b"xargs: oops\n");
    assert_eq!(normalise_stderr(b"parx: oops\n", false), b"parx: oops\n");
}
