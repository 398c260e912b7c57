//! GNU findutils' own xargs test suite, run against parx's xargs mode.
//!
//! tests/xargs/findutils/ holds the DejaGnu suite of findutils 4.9.0, kept
//! verbatim (see its README.md and LICENSE-NOTE). This module does what
//! the suite's driver (`xargs/testsuite/config/unix.exp` upstream) does
//! with it: read each `.exp` script, run the xargs under test with the
//! named input on stdin, and compare the exit status, stdout and stderr.
//! It reads nothing outside the repository, so it runs on a fresh clone.
//!
//! The same runner also runs the system's GNU xargs, which must pass every
//! case. That keeps the runner and the vendored data honest: when parx
//! fails a case, parx differs from GNU xargs, not from a runner mistake.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::util::{parx_bin, Env};

/// Cases per directory in the vendored suite. A wrong path or a lost file
/// must fail loudly rather than shrink the suite.
const SUITE_SIZE: [(&str, usize); 3] = [("xargs.gnu", 30), ("xargs.posix", 49), ("xargs.sysv", 17)];

/// A safety net only: the slowest case (`-P3` with `sleep 2`) takes 2 s.
const CASE_TIMEOUT: Duration = Duration::from_secs(30);

/// When an implementation hangs on every case, this bounds the whole run:
/// cases past it are cut short or not started, and fail.
const SUITE_TIMEOUT: Duration = Duration::from_secs(90);

/// Cases mostly wait on their processes, so more than the CPU count.
const WORKERS: usize = 8;

/// How much of a mismatched stdout or stderr a report shows.
const EXCERPT_BYTES: usize = 240;

#[test]
fn parx_xargs_mode_passes_findutils_suite() {
    let parx = Implementation {
        label: "parx --xargs".to_owned(),
        program: parx_bin().to_path_buf(),
        leading_args: vec!["--xargs".to_owned()],
    };
    assert_suite_passes(&parx);
}

/// Proves the runner: GNU xargs passes its own suite through it.
#[test]
fn system_gnu_xargs_passes_findutils_suite() {
    let program = PathBuf::from("/usr/bin/xargs");
    let version = std::process::Command::new(&program)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let version = String::from_utf8_lossy(&version.stdout);
    let version = version.lines().next().unwrap_or_default();
    assert!(
        version.starts_with("xargs (GNU findutils)"),
        "{} is not GNU xargs (install findutils): {version:?}",
        program.display()
    );
    let gnu = Implementation {
        label: version.to_owned(),
        program,
        leading_args: Vec::new(),
    };
    assert_suite_passes(&gnu);
}

/// The xargs under test: the driver's `$XARGS $XARGSFLAGS`.
struct Implementation {
    /// Names it in the summary line.
    label: String,
    program: PathBuf,
    leading_args: Vec<String>,
}

/// One `.exp` script, ready to run.
struct Case {
    /// `xargs.posix/rc-123`.
    name: String,
    argv: Vec<OsString>,
    stdin: PathBuf,
    /// From `set env(NAME) VALUE` lines.
    env: Vec<(String, String)>,
    exit_code: i32,
    stdout: Vec<u8>,
    /// `None` when the script says `skip`.
    stderr: Option<Vec<u8>>,
}

/// What one run of a case gave.
struct Outcome {
    /// `None` when the run timed out.
    status: Option<ExitStatus>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/xargs/findutils")
}

/// Runs every case and fails once, listing every case that did not pass.
fn assert_suite_passes(implementation: &Implementation) {
    let started = Instant::now();
    let cases = load_suite(implementation);
    let reports = run_all(&cases, started + SUITE_TIMEOUT);
    let failures: Vec<&str> = reports.iter().flatten().map(String::as_str).collect();
    let summary = format!(
        "findutils xargs conformance ({}): {}/{} in {:.1} s",
        implementation.label,
        cases.len() - failures.len(),
        cases.len(),
        started.elapsed().as_secs_f64()
    );
    println!("{summary}");
    if !failures.is_empty() {
        let names: Vec<&str> = cases
            .iter()
            .zip(&reports)
            .filter(|(_, report)| report.is_some())
            .map(|(case, _)| case.name.as_str())
            .collect();
        panic!(
            "{summary}\n\n{}\nfailed: {}\n{summary}",
            failures.join("\n"),
            names.join(" ")
        );
    }
}

/// Runs the cases on a few threads (one case sleeps 2 s); returns one
/// report per case, `None` for a pass, in case order.
fn run_all(cases: &[Case], suite_deadline: Instant) -> Vec<Option<String>> {
    let next = AtomicUsize::new(0);
    let reports = Mutex::new(vec![None; cases.len()]);
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { return };
                let deadline = suite_deadline.min(Instant::now() + CASE_TIMEOUT);
                let report = check(case, &run_case(case, deadline));
                reports.lock().expect("no worker panics holding it")[i] = report;
            });
        }
    });
    reports.into_inner().expect("no worker panicked")
}

/// Every case of the suite, for `implementation`, sorted by name.
fn load_suite(implementation: &Implementation) -> Vec<Case> {
    let root = suite_dir();
    let mut cases = Vec::new();
    for (dir, expected) in SUITE_SIZE {
        let mut scripts: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("{}: {e}", root.join(dir).display()))
            .map(|entry| entry.expect("readable directory").path())
            .filter(|p| p.extension().is_some_and(|e| e == "exp"))
            .collect();
        scripts.sort();
        assert_eq!(scripts.len(), expected, "cases in {dir}");
        for script in scripts {
            let case = load_case(&script, implementation)
                .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
            cases.push(case);
        }
    }
    cases
}

/// Reads one `.exp` script: optional `set env(NAME) VALUE` lines, then one
/// `xargs_start PASSFAIL OPTIONS [INFILE] [ERRH] [COMMAND]` line.
fn load_case(script: &Path, implementation: &Implementation) -> Result<Case, String> {
    // The scripts use these only inside the `sh -c` script of their
    // COMMAND form, so they hold shell words.
    let quote = |s: &str| shell_words::quote(s).into_owned();
    let program = implementation
        .program
        .to_str()
        .ok_or("the program path is not UTF-8")?;
    let vars = HashMap::from([
        ("XARGS", quote(program)),
        (
            "XARGSFLAGS",
            shell_words::join(implementation.leading_args.iter().map(String::as_str)),
        ),
    ]);
    let text = std::fs::read_to_string(script).map_err(|e| e.to_string())?;
    let mut env = Vec::new();
    let mut start = None;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |e: String| format!("line {}: {e}", number + 1);
        if start.is_some() {
            return Err(at("a command after xargs_start".into()));
        }
        let words = tcl_words(line, &vars).map_err(at)?;
        match words.first().map(String::as_str) {
            Some("set") => env.push(env_setting(&words).map_err(at)?),
            Some("xargs_start") => start = Some(words),
            _ => return Err(at(format!("unknown command {words:?}"))),
        }
    }
    let start = start.ok_or("no xargs_start line")?;
    let base = script.with_extension("");
    let name = format!(
        "{}/{}",
        base.parent()
            .and_then(Path::file_name)
            .ok_or("a script outside a directory")?
            .to_string_lossy(),
        base.file_name().ok_or("no file name")?.to_string_lossy(),
    );
    build_case(name, &base, &start[1..], env, implementation, &vars)
}

/// `set env(NAME) VALUE`, the only `set` the scripts use.
fn env_setting(words: &[String]) -> Result<(String, String), String> {
    match words {
        [_, target, value] => target
            .strip_prefix("env(")
            .and_then(|t| t.strip_suffix(')'))
            .map(|name| (name.to_owned(), value.clone()))
            .ok_or_else(|| format!("unsupported set of {target}")),
        _ => Err(format!("unsupported set: {words:?}")),
    }
}

/// What the driver's `xargs_start` does with its arguments.
fn build_case(
    name: String,
    base: &Path,
    args: &[String],
    env: Vec<(String, String)>,
    implementation: &Implementation,
    vars: &HashMap<&str, String>,
) -> Result<Case, String> {
    let arg = |i: usize| args.get(i).map_or("", String::as_str);
    if args.len() < 2 || args.len() > 5 {
        return Err(format!("xargs_start takes 2 to 5 arguments: {args:?}"));
    }
    let passfail = arg(0);
    let exit_code = match passfail.chars().next() {
        Some('0'..='9') => passfail
            .parse()
            .map_err(|_| format!("bad exit status {passfail}"))?,
        Some('p') => 0,
        Some('f') => 1,
        _ => return Err(format!("bad PASSFAIL {passfail:?}")),
    };
    let stdin = match arg(2) {
        "" => PathBuf::from("/dev/null"),
        input => suite_dir().join("inputs").join(input),
    };
    // The driver's command line, `exec`'d, so Tcl splits it into words
    // again: OPTIONS after `$XARGS $XARGSFLAGS`, or COMMAND alone.
    let argv: Vec<OsString> = if arg(4).is_empty() {
        let options = exec_words(arg(1), vars)?;
        std::iter::once(implementation.program.clone().into_os_string())
            .chain(implementation.leading_args.iter().map(OsString::from))
            .chain(options.into_iter().map(OsString::from))
            .collect()
    } else {
        exec_words(arg(4), vars)?
            .into_iter()
            .map(OsString::from)
            .collect()
    };
    // A missing .xo or .xe means the stream must stay empty.
    let read_or_empty = |ext: &str| {
        let mut path = base.as_os_str().to_owned();
        path.push(ext);
        match std::fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            read => read.map_err(|e| format!("{}: {e}", Path::new(&path).display())),
        }
    };
    // ERRH `skip` (any word starting with s) turns the stderr check off.
    let stderr = if arg(3).starts_with('s') {
        None
    } else {
        Some(read_or_empty(".xe")?)
    };
    Ok(Case {
        name,
        argv,
        stdin,
        env,
        exit_code,
        stdout: read_or_empty(".xo")?,
        stderr,
    })
}

/// The words `exec` runs. The driver appends its own redirections, so a
/// word that `exec` would read as one is outside what this runner knows.
fn exec_words(text: &str, vars: &HashMap<&str, String>) -> Result<Vec<String>, String> {
    let words = tcl_words(text, vars)?;
    match words
        .iter()
        .find(|w| w.starts_with(['<', '>', '|']) || w.starts_with("2>") || *w == "&")
    {
        Some(w) => Err(format!("{w:?} would be a redirection to exec")),
        None => Ok(words),
    }
}

/// Splits one Tcl command into its words, as the Tcl parser does:
/// `{...}` is one word taken literally (nested braces balance, `\{` does
/// not count), `"..."` and bare words get backslash and `$NAME`
/// substitution. What the findutils scripts do not use (command
/// substitution, `;`, numeric escapes, ...) is an error, not a guess.
fn tcl_words(text: &str, vars: &HashMap<&str, String>) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut rest = text.chars().peekable();
    loop {
        while rest.next_if(|&c| c == ' ' || c == '\t').is_some() {}
        let Some(&first) = rest.peek() else {
            return Ok(words);
        };
        let word = match first {
            '{' => {
                rest.next();
                braced_word(&mut rest)?
            }
            '"' => {
                rest.next();
                substituted_word(&mut rest, vars, true)?
            }
            _ => substituted_word(&mut rest, vars, false)?,
        };
        if first == '{' || first == '"' {
            if let Some(c) = rest.peek().filter(|&&c| c != ' ' && c != '\t') {
                return Err(format!("{c:?} right after a closing {first:?} word"));
            }
        }
        words.push(word);
    }
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// The rest of a `{...}` word, its opening brace already read.
fn braced_word(rest: &mut Chars<'_>) -> Result<String, String> {
    let mut word = String::new();
    let mut depth = 1;
    while let Some(c) = rest.next() {
        match c {
            '\\' => {
                let escaped = rest.next().ok_or("a backslash at the end")?;
                if escaped == '\n' {
                    return Err("backslash-newline in braces is not supported".into());
                }
                word.push(c);
                word.push(escaped);
                continue;
            }
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(word);
                }
            }
            _ => {}
        }
        word.push(c);
    }
    Err("missing close-brace".into())
}

/// The rest of a quoted word (its `"` already read) or a bare word.
fn substituted_word(
    rest: &mut Chars<'_>,
    vars: &HashMap<&str, String>,
    quoted: bool,
) -> Result<String, String> {
    let mut word = String::new();
    loop {
        let Some(&c) = rest.peek() else {
            return if quoted {
                Err("missing closing quote".into())
            } else {
                Ok(word)
            };
        };
        match c {
            '"' if quoted => {
                rest.next();
                return Ok(word);
            }
            ' ' | '\t' if !quoted => return Ok(word),
            ';' | '\n' if !quoted => return Err(format!("{c:?} would end the command")),
            '[' => return Err("command substitution is not supported".into()),
            '\\' => {
                rest.next();
                word.push(backslash_escape(rest.next())?);
            }
            '$' => {
                rest.next();
                word.push_str(&variable(rest, vars)?);
            }
            _ => {
                rest.next();
                word.push(c);
            }
        }
    }
}

/// Tcl's backslash substitution for the character after a backslash.
fn backslash_escape(c: Option<char>) -> Result<char, String> {
    Ok(match c {
        Some('a') => '\x07',
        Some('b') => '\x08',
        Some('f') => '\x0c',
        Some('n') => '\n',
        Some('r') => '\r',
        Some('t') => '\t',
        Some('v') => '\x0b',
        Some(c @ ('x' | 'u' | 'U' | '0'..='7' | '\n')) => {
            return Err(format!("the escape \\{c:?} is not supported"))
        }
        Some(c) => c,
        None => return Err("a backslash at the end".into()),
    })
}

/// The value of `$NAME` or `${NAME}`, the `$` already read. A `$` not
/// followed by a name is a plain `$`.
fn variable(rest: &mut Chars<'_>, vars: &HashMap<&str, String>) -> Result<String, String> {
    let mut name = String::new();
    if rest.next_if_eq(&'{').is_some() {
        loop {
            match rest.next() {
                Some('}') => break,
                Some(c) => name.push(c),
                None => return Err("missing } after ${".into()),
            }
        }
    } else {
        while let Some(c) = rest.next_if(|c| c.is_ascii_alphanumeric() || *c == '_') {
            name.push(c);
        }
        if name.is_empty() {
            return Ok("$".into());
        }
    }
    vars.get(name.as_str())
        .cloned()
        .ok_or_else(|| format!("can't read \"{name}\": no such variable"))
}

/// Runs one case the way the driver does: stdin from the input file,
/// stdout and stderr to files in a fresh working directory.
fn run_case(case: &Case, deadline: Instant) -> Outcome {
    if Instant::now() >= deadline {
        return Outcome {
            status: None,
            stdout: Vec::new(),
            stderr: Vec::new(),
        };
    }
    let env = Env::new();
    let mut cmd = env.command(&case.argv[0]);
    cmd.args(&case.argv[1..]);
    // The host's locale would translate messages, and POSIXLY_CORRECT
    // changes GNU xargs; the suite expects neither.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k == "LANG" || k == "LANGUAGE" || k.starts_with("LC_") || k == "POSIXLY_CORRECT" {
            cmd.env_remove(&*k);
        }
    }
    cmd.env("GNU_FINDUTILS_FD_LEAK_CHECK", "1");
    for (k, v) in &case.env {
        cmd.env(k, v);
    }
    let stdout_path = env.path("xargs.out");
    let stderr_path = env.path("xargs.err");
    cmd.stdin(File::open(&case.stdin).expect("the input file opens"))
        .stdout(File::create(&stdout_path).expect("xargs.out"))
        .stderr(File::create(&stderr_path).expect("xargs.err"))
        // A job's `kill 0` or a timeout reaches this case alone.
        .process_group(0);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{}: cannot start {:?}: {e}", case.name, case.argv[0]));
    let status = wait_or_kill(child, deadline);
    Outcome {
        status,
        stdout: std::fs::read(&stdout_path).expect("xargs.out"),
        stderr: std::fs::read(&stderr_path).expect("xargs.err"),
    }
}

/// Waits until `deadline`; then kills the case's process group and
/// returns `None`.
fn wait_or_kill(mut child: Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().expect("wait for the case") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Compares as the driver does; returns a report when the case fails.
fn check(case: &Case, got: &Outcome) -> Option<String> {
    let mut problems = Vec::new();
    let status = match got.status {
        None => format!(
            "timed out (each case has {} s, the suite {} s)",
            CASE_TIMEOUT.as_secs(),
            SUITE_TIMEOUT.as_secs()
        ),
        Some(s) => match (s.code(), s.signal()) {
            (Some(code), _) => code.to_string(),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => format!("{s:?}"),
        },
    };
    let status_ok = status == case.exit_code.to_string();
    if !status_ok {
        problems.push(format!("status: expected {}, got {status}", case.exit_code));
    }
    if got.stdout != case.stdout {
        problems.push(mismatch("stdout", &case.stdout, &got.stdout));
    }
    let stderr = normalize_stderr(&got.stderr);
    match &case.stderr {
        Some(expected) if stderr != *expected => {
            problems.push(mismatch("stderr (rewritten)", expected, &stderr));
        }
        // The driver shows stderr with a wrong status; so does this.
        _ if !status_ok => problems.push(format!("stderr: {}", excerpt(&got.stderr, 0))),
        _ => {}
    }
    if problems.is_empty() {
        return None;
    }
    let argv: Vec<_> = case.argv.iter().map(|a| a.to_string_lossy()).collect();
    let mut report = format!("--- {}\nargv:   {argv:?}\n", case.name);
    let stdin = case.stdin.strip_prefix(suite_dir()).unwrap_or(&case.stdin);
    report += &format!("stdin:  {}\n", stdin.display());
    for (k, v) in &case.env {
        report += &format!("env:    {k}={v}\n");
    }
    for problem in problems {
        report += &problem;
        report.push('\n');
    }
    Some(report)
}

/// Expected and got for one stream, from a little before the first byte
/// that differs.
fn mismatch(stream: &str, expected: &[u8], got: &[u8]) -> String {
    let first = expected
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(got.len()));
    let from = first.saturating_sub(EXCERPT_BYTES / 4);
    format!(
        "{stream}: differs at byte {first} ({} bytes expected, {} got)\n  \
         expected {}\n  got      {}",
        expected.len(),
        got.len(),
        excerpt(expected, from),
        excerpt(got, from)
    )
}

/// `bytes[from..]`, escaped and cut to [`EXCERPT_BYTES`], in quotes.
fn excerpt(bytes: &[u8], from: usize) -> String {
    let from = from.min(bytes.len());
    let end = bytes.len().min(from + EXCERPT_BYTES);
    let mut text = String::new();
    if from > 0 {
        text.push('…');
    }
    text.push('"');
    for &b in &bytes[from..end] {
        match b {
            b'\n' => text.push_str("\\n"),
            b'\t' => text.push_str("\\t"),
            b'\r' => text.push_str("\\r"),
            b'"' | b'\\' => {
                text.push('\\');
                text.push(char::from(b));
            }
            b' '..=b'~' => text.push(char::from(b)),
            _ => text.push_str(&format!("\\x{b:02x}")),
        }
    }
    text.push('"');
    if end < bytes.len() {
        text.push('…');
    }
    text
}

/// Stderr as the driver compares it: on each line, `^.*xargs:` becomes
/// `xargs:` (its `sed s/^.*xargs:/xargs:/`, where the greedy `.*` reaches
/// the last `xargs:`). A leading `parx:` counts as `xargs:` first: GNU
/// xargs starts its messages with its path, parx with its name.
fn normalize_stderr(raw: &[u8]) -> Vec<u8> {
    const TAG: &[u8] = b"xargs:";
    let mut out = Vec::with_capacity(raw.len());
    for line in raw.split_inclusive(|&b| b == b'\n') {
        let (text, newline) = match line.strip_suffix(b"\n") {
            Some(text) => (text, &b"\n"[..]),
            None => (line, &b""[..]),
        };
        let renamed;
        let text = match text.strip_prefix(b"parx:") {
            Some(tail) => {
                renamed = [TAG, tail].concat();
                &renamed[..]
            }
            None => text,
        };
        match text.windows(TAG.len()).rposition(|w| w == TAG) {
            Some(at) => out.extend_from_slice(&text[at..]),
            None => out.extend_from_slice(text),
        }
        out.extend_from_slice(newline);
    }
    out
}

mod runner {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        let vars = HashMap::from([
            ("XARGS", "/bin/xargs".to_owned()),
            ("XARGSFLAGS", String::new()),
        ]);
        tcl_words(text, &vars).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// A script line's words, then its OPTIONS (or COMMAND) word split
    /// again the way `exec` does.
    fn exec_argv(line: &str, index: usize) -> Vec<String> {
        words(&words(line)[index])
    }

    #[test]
    fn braces_keep_escapes_for_the_second_split() {
        let line = r"xargs_start f {-i -s26 echo from \{\} to x{}y} items.xi skip";
        assert_eq!(
            words(line),
            [
                "xargs_start",
                "f",
                r"-i -s26 echo from \{\} to x{}y",
                "items.xi",
                "skip"
            ]
        );
        assert_eq!(
            exec_argv(line, 2),
            ["-i", "-s26", "echo", "from", "{}", "to", "x{}y"]
        );
    }

    #[test]
    fn quotes_inside_braces_substitute_on_the_second_split() {
        let line = r#"xargs_start p {printf "\[%s\]\n"} formfeeds.xi"#;
        assert_eq!(exec_argv(line, 2), ["printf", "[%s]\n"]);
        let line = r#"xargs_start p {-n1 printf "@%s@\n"} empty.xi"#;
        assert_eq!(exec_argv(line, 2), ["-n1", "printf", "@%s@\n"]);
    }

    #[test]
    fn empty_words_and_lists() {
        assert_eq!(words(r#"xargs_start p """#), ["xargs_start", "p", ""]);
        assert_eq!(words("xargs_start p {}"), ["xargs_start", "p", ""]);
        assert_eq!(
            words("xargs_start 126 {/} {} skip"),
            ["xargs_start", "126", "/", "", "skip"]
        );
        assert_eq!(exec_argv("xargs_start p { true } 16383-ys.xi", 2), ["true"]);
        assert_eq!(
            exec_argv("xargs_start p {-n2 -t echo } f", 2),
            ["-n2", "-t", "echo"]
        );
        assert!(words("").is_empty());
    }

    #[test]
    fn command_form_substitutes_variables_then_keeps_the_script_whole() {
        let line = r#"xargs_start p "" sv-bug-20273.xi "" "sh -c \{$XARGS $XARGSFLAGS -E2; cat\}""#;
        let outer = words(line);
        assert_eq!(outer[5], "sh -c {/bin/xargs  -E2; cat}");
        assert_eq!(exec_argv(line, 5), ["sh", "-c", "/bin/xargs  -E2; cat"]);
        assert_eq!(words(r#"set env(LC_ALL) "C""#), ["set", "env(LC_ALL)", "C"]);
    }

    #[test]
    fn what_the_scripts_do_not_use_is_an_error() {
        let vars = HashMap::new();
        for bad in [
            "a [b]", "{a", "\"a", "{a}b", "a; b", "$nope", r"\x41", r"\101",
        ] {
            assert!(tcl_words(bad, &vars).is_err(), "{bad}");
        }
        assert_eq!(tcl_words("a$ b", &vars).unwrap(), ["a$", "b"]);
        assert!(exec_words("echo > file", &vars).is_err());
    }

    #[test]
    fn stderr_rewrite_is_greedy_and_renames_parx() {
        let raw = b"/usr/bin/xargs: sh: xargs: x\nparx: warning\nplain\nparx: y xargs: z";
        assert_eq!(
            normalize_stderr(raw),
            b"xargs: x\nxargs: warning\nplain\nxargs: z".to_vec()
        );
    }

    #[test]
    fn excerpts_escape_and_cut() {
        assert_eq!(excerpt(b"a'\"\n\x0c\0", 0), r#""a'\"\n\x0c\x00""#);
        let long = vec![b'y'; EXCERPT_BYTES + 1];
        assert!(excerpt(&long, 1).starts_with("…\"y"));
        assert!(excerpt(&long, 0).ends_with("\"…"));
    }
}
