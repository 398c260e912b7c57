//! xargs mode's command line, read the way GNU xargs 4.9 reads it.
//!
//! Written by hand rather than with clap: xargs' options follow getopt_long
//! exactly, and clap cannot express three of its habits that scripts rely
//! on: short options whose argument is optional and must be attached
//! (`-e`, `-eEOF`, `-i`, `-l5`), long options abbreviated to any unique
//! prefix (`--max-a=2`), and parsing that stops at the first word that is
//! not an option (the command). Numbers are read as xargs' `strtol` check
//! reads them, with its messages; conflicting `-n`/`-L`/`-I` print the same
//! warnings in the same order.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use crate::exec::OutputMode;

/// Everything xargs mode was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `-0`/`-d`: items end at this byte, with no quote processing. None
    /// reads blank-separated words with quotes and backslashes.
    pub delimiter: Option<u8>,
    /// `-E`/`-e`: the logical end-of-file word.
    pub eof: Option<Vec<u8>>,
    /// `-I`/`-i`: the string replaced by each input line.
    pub replace: Option<Vec<u8>>,
    /// `-L`/`-l`: non-blank input lines per command (0: no limit).
    pub max_lines: usize,
    /// `-n`: arguments per command (0: no limit).
    pub max_args: usize,
    /// `-s`: the command-line size, counted as xargs counts it.
    pub max_chars: Option<usize>,
    /// `-x`.
    pub exit_if_too_long: bool,
    /// `-r`.
    pub no_run_if_empty: bool,
    /// `-t` (also set by `-p`).
    pub trace: bool,
    /// `-p`.
    pub prompt: bool,
    /// `-P` (0: as many as possible).
    pub procs: usize,
    /// `-a FILE`.
    pub arg_file: Option<OsString>,
    /// `--process-slot-var NAME`.
    pub slot_var: Option<OsString>,
    /// `--show-limits`.
    pub show_limits: bool,
    /// `-o`.
    pub open_tty: bool,
    /// parx's own `--group`, `-k`/`--keep-order` and `--line-buffer`
    /// (xargs writes ungrouped).
    pub output: OutputMode,
    /// The command and its initial arguments (`echo` when none).
    pub command: Vec<OsString>,
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Parsed {
    /// Run commands.
    Run(Options),
    /// `--help`.
    Help,
    /// `--version`.
    Version,
}

/// A message to print before going on (`warnings`) or stopping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// Lines to print, without the program-name prefix.
    pub lines: Vec<String>,
    /// Whether xargs would add "Try '... --help'".
    pub usage_hint: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arg {
    None,
    Required,
    Optional,
}

/// Long options: name, argument, and the short option it stands for
/// (`S` is `--show-limits`, `V` `--process-slot-var`; `h`/`v` have no short
/// form; `G`, `K`, `B` are parx's output options).
const LONG: &[(&str, Arg, char)] = &[
    ("null", Arg::None, '0'),
    ("arg-file", Arg::Required, 'a'),
    ("delimiter", Arg::Required, 'd'),
    ("eof", Arg::Optional, 'e'),
    ("replace", Arg::Optional, 'I'),
    ("max-lines", Arg::Optional, 'l'),
    ("max-args", Arg::Required, 'n'),
    ("open-tty", Arg::None, 'o'),
    ("interactive", Arg::None, 'p'),
    ("no-run-if-empty", Arg::None, 'r'),
    ("max-chars", Arg::Required, 's'),
    ("verbose", Arg::None, 't'),
    ("show-limits", Arg::None, 'S'),
    ("exit", Arg::None, 'x'),
    ("max-procs", Arg::Required, 'P'),
    ("process-slot-var", Arg::Required, 'V'),
    ("version", Arg::None, 'v'),
    ("help", Arg::None, 'h'),
    ("group", Arg::None, 'G'),
    ("keep-order", Arg::None, 'K'),
    ("line-buffer", Arg::None, 'B'),
];

/// Short options, as in xargs' optstring "0a:E:e::i::I:l::L:n:oprs:txP:d:",
/// plus parx's `-k`.
fn short(c: u8) -> Option<Arg> {
    Some(match c {
        b'0' | b'o' | b'p' | b'r' | b't' | b'x' | b'k' => Arg::None,
        b'a' | b'E' | b'I' | b'L' | b'n' | b's' | b'P' | b'd' => Arg::Required,
        b'e' | b'i' | b'l' => Arg::Optional,
        _ => return None,
    })
}

/// xargs' `-P` ceiling (SIG_ATOMIC_MAX).
pub const MAX_PROCS: i64 = i32::MAX as i64;

/// Reads xargs' options from `args` (without the program name).
/// `size_max` is the largest `-s` the system allows; `warn` receives
/// warnings as they arise, in xargs' order.
pub fn parse(
    args: &[OsString],
    size_max: usize,
    warn: &mut dyn FnMut(String),
) -> Result<Parsed, Stop> {
    let mut o = Options {
        delimiter: None,
        eof: None,
        replace: None,
        max_lines: 0,
        max_args: 0,
        max_chars: None,
        exit_if_too_long: false,
        no_run_if_empty: false,
        trace: false,
        prompt: false,
        procs: 1,
        arg_file: None,
        slot_var: None,
        show_limits: false,
        open_tty: false,
        output: OutputMode::Ungroup,
        command: Vec::new(),
    };
    let mut i = 0;
    while i < args.len() {
        let word = args[i].as_bytes();
        i += 1;
        if word == b"--" {
            break;
        }
        if word.len() < 2 || word[0] != b'-' {
            i -= 1; // the command
            break;
        }
        if let Some(long) = word.strip_prefix(b"--") {
            let (name, value) = match long.iter().position(|&b| b == b'=') {
                Some(eq) => (&long[..eq], Some(&long[eq + 1..])),
                None => (long, None),
            };
            let (full, arg, id) = find_long(name, long)?;
            let value = match (arg, value) {
                (Arg::None, Some(_)) => {
                    return Err(usage(format!(
                        "option '--{full}' doesn't allow an argument"
                    )))
                }
                (Arg::Required, None) => match args.get(i) {
                    Some(next) => {
                        i += 1;
                        Some(next.as_bytes())
                    }
                    None => return Err(usage(format!("option '--{full}' requires an argument"))),
                },
                (_, value) => value,
            };
            match apply(&mut o, id, value, size_max, warn)? {
                Some(done) => return Ok(done),
                None => continue,
            }
        }
        // A cluster of short options: -0rt, -n2, -n 2, -eEOF.
        let mut at = 1;
        while at < word.len() {
            let c = word[at];
            at += 1;
            let Some(arg) = short(c) else {
                return Err(usage(format!("invalid option -- '{}'", char::from(c))));
            };
            let value = match arg {
                Arg::None => None,
                Arg::Optional => {
                    let rest = &word[at..];
                    at = word.len();
                    (!rest.is_empty()).then_some(rest)
                }
                Arg::Required => {
                    let rest = &word[at..];
                    at = word.len();
                    if rest.is_empty() {
                        match args.get(i) {
                            Some(next) => {
                                i += 1;
                                Some(next.as_bytes())
                            }
                            None => {
                                return Err(usage(format!(
                                    "option requires an argument -- '{}'",
                                    char::from(c)
                                )))
                            }
                        }
                    } else {
                        Some(rest)
                    }
                }
            };
            let id = if c == b'k' { 'K' } else { char::from(c) };
            if let Some(done) = apply(&mut o, id, value, size_max, warn)? {
                return Ok(done);
            }
        }
    }
    if o.eof.is_some() && o.delimiter.is_some() {
        // xargs' text ends in a full stop and a newline, so a blank line follows.
        warn("warning: the -E option has no effect if -0 or -d is used.\n".into());
    }
    o.command = args[i..].to_vec();
    if o.command.is_empty() {
        o.command.push("echo".into());
    }
    Ok(Parsed::Run(o))
}

/// getopt_long's matching: an exact name, else the one option the text
/// abbreviates.
fn find_long(name: &[u8], whole: &[u8]) -> Result<(&'static str, Arg, char), Stop> {
    if let Some(&(full, arg, id)) = LONG.iter().find(|(n, _, _)| n.as_bytes() == name) {
        return Ok((full, arg, id));
    }
    let matches: Vec<_> = LONG
        .iter()
        .filter(|(n, _, _)| !name.is_empty() && n.as_bytes().starts_with(name))
        .collect();
    match matches.as_slice() {
        [&(full, arg, id)] => Ok((full, arg, id)),
        [] => Err(usage(format!(
            "unrecognized option '--{}'",
            String::from_utf8_lossy(whole)
        ))),
        many => {
            let names: String = many.iter().map(|(n, _, _)| format!(" '--{n}'")).collect();
            Err(usage(format!(
                "option '--{}' is ambiguous; possibilities:{names}",
                String::from_utf8_lossy(name)
            )))
        }
    }
}

fn usage(line: String) -> Stop {
    Stop {
        lines: vec![line],
        usage_hint: true,
    }
}

fn fatal(line: String) -> Stop {
    Stop {
        lines: vec![line],
        usage_hint: false,
    }
}

fn warn_exclusive(warn: &mut dyn FnMut(String), option: &str, offending: &str) {
    warn(format!(
        "warning: options {offending} and {option} are mutually exclusive, ignoring previous {offending} value"
    ));
}

/// Applies one option; `Some` when it ends parsing (`--help`, `--version`).
fn apply(
    o: &mut Options,
    id: char,
    value: Option<&[u8]>,
    size_max: usize,
    warn: &mut dyn FnMut(String),
) -> Result<Option<Parsed>, Stop> {
    let text = || value.unwrap_or_default();
    match id {
        '0' => o.delimiter = Some(0),
        'd' => o.delimiter = Some(delimiter(text())?),
        'E' | 'e' => o.eof = value.filter(|v| !v.is_empty()).map(<[u8]>::to_vec),
        'I' | 'i' => {
            o.replace = Some(value.map_or_else(|| b"{}".to_vec(), <[u8]>::to_vec));
            if o.max_args != 0 {
                warn_exclusive(warn, "--replace/-I/-i", "--max-args");
                o.max_args = 0;
            }
            if o.max_lines != 0 {
                warn_exclusive(warn, "--replace/-I/-i", "--max-lines");
                o.max_lines = 0;
            }
        }
        'L' | 'l' => {
            o.max_lines = match value {
                Some(v) => number(v, id, 1, -1, true, warn)? as usize,
                None => 1,
            };
            let name = if id == 'L' { "-L" } else { "--max-lines/-l" };
            if o.max_args != 0 {
                warn_exclusive(warn, name, "--max-args");
                o.max_args = 0;
            }
            if o.replace.is_some() {
                warn_exclusive(warn, name, "--replace");
                o.replace = None;
            }
        }
        'n' => {
            o.max_args = number(text(), 'n', 1, -1, true, warn)? as usize;
            if o.max_lines != 0 {
                warn_exclusive(warn, "--max-args/-n", "--max-lines");
                o.max_lines = 0;
            }
            if o.replace.is_some() {
                if o.max_args == 1 {
                    // xargs ignores -n1 next to -I: it changes nothing.
                    o.max_args = 0;
                } else {
                    warn_exclusive(warn, "--max-args/-n", "--replace");
                    o.replace = None;
                }
            }
        }
        's' => {
            let max = i64::try_from(size_max).unwrap_or(i64::MAX);
            o.max_chars = Some(number(text(), 's', 1, max, false, warn)? as usize);
        }
        'S' => o.show_limits = true,
        't' => o.trace = true,
        'x' => o.exit_if_too_long = true,
        'o' => o.open_tty = true,
        'p' => {
            o.prompt = true;
            o.trace = true;
        }
        'r' => o.no_run_if_empty = true,
        'P' => o.procs = number(text(), 'P', 0, MAX_PROCS, true, warn)? as usize,
        'a' => o.arg_file = Some(OsStr::from_bytes(text()).to_os_string()),
        'V' => {
            if text().contains(&b'=') {
                return Err(fatal(
                    "option --process-slot-var may not be set to a value which includes `='".into(),
                ));
            }
            o.slot_var = Some(OsStr::from_bytes(text()).to_os_string());
        }
        'G' => o.output = OutputMode::Group,
        'K' => o.output = OutputMode::KeepOrder,
        'B' => o.output = OutputMode::LineBuffer,
        'h' => return Ok(Some(Parsed::Help)),
        'v' => return Ok(Some(Parsed::Version)),
        _ => unreachable!("every option id is handled"),
    }
    Ok(None)
}

/// xargs' parse_num: a decimal `strtol` number; out of range is an error
/// when `fatal`, else a message and the nearest bound.
fn number(
    text: &[u8],
    option: char,
    min: i64,
    max: i64,
    fatal: bool,
    warn: &mut dyn FnMut(String),
) -> Result<i64, Stop> {
    let shown = String::from_utf8_lossy(text);
    let Some(value) = strtol(text) else {
        return Err(usage(format!(
            "invalid number \"{shown}\" for -{option} option"
        )));
    };
    let (bound, relation) = if value < min {
        (min, ">=")
    } else if max >= 0 && value > max {
        (max, "<=")
    } else {
        return Ok(value);
    };
    let line = format!("value {shown} for -{option} option should be {relation} {bound}");
    if fatal {
        return Err(usage(line));
    }
    warn(line);
    Ok(bound)
}

/// C's strtol in base 10, whole text only: optional leading white space and
/// sign, at least one digit; saturates like strtol on overflow.
fn strtol(text: &[u8]) -> Option<i64> {
    let text = match text.iter().position(|b| !b.is_ascii_whitespace()) {
        Some(start) => &text[start..],
        None => return None,
    };
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut value: i64 = 0;
    for &d in digits {
        let d = i64::from(d - b'0');
        value = value.saturating_mul(10);
        value = if negative {
            value.saturating_sub(d)
        } else {
            value.saturating_add(d)
        };
    }
    Some(value)
}

/// `-d`: one byte, or a C escape (`\n`, `\t`, `\\`, octal `\0`–`\377`, hex
/// `\x41`), with xargs' messages for anything else.
fn delimiter(text: &[u8]) -> Result<u8, Stop> {
    let shown = String::from_utf8_lossy(text);
    if text.len() == 1 {
        return Ok(text[0]);
    }
    if text.first() != Some(&b'\\') {
        return Err(fatal(format!(
            "Invalid input delimiter specification {shown}: the delimiter must be either a single \
             character or an escape sequence starting with \\."
        )));
    }
    let simple = match text.get(1) {
        Some(b'a') => Some(0x07),
        Some(b'b') => Some(0x08),
        Some(b'f') => Some(0x0c),
        Some(b'n') => Some(b'\n'),
        Some(b'r') => Some(b'\r'),
        Some(b't') => Some(b'\t'),
        Some(b'v') => Some(0x0b),
        Some(b'\\') => Some(b'\\'),
        _ => None,
    };
    if let Some(byte) = simple {
        return Ok(byte);
    }
    let (digits, radix) = match text.get(1) {
        Some(b'x') => (&text[2..], 16),
        Some(d) if d.is_ascii_digit() => (&text[1..], 8),
        _ => {
            return Err(fatal(format!(
                "Invalid escape sequence {shown} in input delimiter specification."
            )))
        }
    };
    let used = digits
        .iter()
        .take_while(|b| char::from(**b).is_digit(radix))
        .count();
    let value = digits[..used].iter().fold(0u64, |v, &b| {
        v.saturating_mul(u64::from(radix))
            .saturating_add(u64::from(char::from(b).to_digit(radix).unwrap_or(0)))
    });
    if value > 255 {
        let limit = if radix == 16 { "ff" } else { "377" };
        return Err(fatal(format!(
            "Invalid escape sequence {shown} in input delimiter specification; character values \
             must not exceed {limit}."
        )));
    }
    if used < digits.len() {
        return Err(fatal(format!(
            "Invalid escape sequence {shown} in input delimiter specification; trailing characters \
             {} not recognised.",
            String::from_utf8_lossy(&digits[used..])
        )));
    }
    Ok(value as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> (Result<Parsed, Stop>, Vec<String>) {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let mut warnings = Vec::new();
        let parsed = parse(&args, 100_000, &mut |w| warnings.push(w));
        (parsed, warnings)
    }

    fn options(args: &[&str]) -> Options {
        match run(args).0 {
            Ok(Parsed::Run(o)) => o,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn stops_at_the_command_and_defaults_to_echo() {
        let o = options(&["-n", "2", "printf", "-n", "%s"]);
        assert_eq!(o.max_args, 2);
        assert_eq!(o.command, ["printf", "-n", "%s"]);
        assert_eq!(options(&["-r"]).command, ["echo"]);
        assert_eq!(options(&["--", "-n"]).command, ["-n"]);
        assert_eq!(options(&["-", "x"]).command, ["-", "x"]);
    }

    #[test]
    fn optional_arguments_must_be_attached() {
        assert_eq!(options(&["-l", "2"]).max_lines, 1);
        assert_eq!(options(&["-l", "2"]).command, ["2"]);
        assert_eq!(options(&["-l3"]).max_lines, 3);
        assert_eq!(options(&["-i"]).replace.as_deref(), Some(&b"{}"[..]));
        assert_eq!(options(&["-iXX"]).replace.as_deref(), Some(&b"XX"[..]));
        assert_eq!(options(&["-eEOF"]).eof.as_deref(), Some(&b"EOF"[..]));
        assert_eq!(options(&["-e"]).eof, None);
        assert_eq!(options(&["--eof=_"]).eof.as_deref(), Some(&b"_"[..]));
        assert_eq!(options(&["--replace", "x"]).command, ["x"]);
    }

    #[test]
    fn clusters_and_abbreviations() {
        let o = options(&["-0rtn3"]);
        assert_eq!(
            (o.delimiter, o.no_run_if_empty, o.trace, o.max_args),
            (Some(0), true, true, 3)
        );
        assert_eq!(options(&["--max-a=4"]).max_args, 4);
        assert_eq!(options(&["--max-args", "5"]).max_args, 5);
        let Err(stop) = run(&["--max=1"]).0 else {
            panic!()
        };
        assert!(
            stop.lines[0].starts_with("option '--max' is ambiguous; possibilities: '--max-lines'")
        );
        let Err(stop) = run(&["-h"]).0 else { panic!() };
        assert_eq!(stop.lines, ["invalid option -- 'h'"]);
        let Err(stop) = run(&["--null=1"]).0 else {
            panic!()
        };
        assert_eq!(stop.lines, ["option '--null' doesn't allow an argument"]);
        assert!(matches!(run(&["--he"]).0, Ok(Parsed::Help)));
    }

    #[test]
    fn conflicts_warn_in_order_and_keep_the_last() {
        let (parsed, warnings) = run(&["-L2", "-n2"]);
        let Ok(Parsed::Run(o)) = parsed else { panic!() };
        assert_eq!((o.max_lines, o.max_args), (0, 2));
        assert_eq!(
            warnings,
            ["warning: options --max-lines and --max-args/-n are mutually exclusive, ignoring previous --max-lines value"]
        );
        let (parsed, warnings) = run(&["-I{}", "-n1"]);
        let Ok(Parsed::Run(o)) = parsed else { panic!() };
        assert!(o.replace.is_some() && o.max_args == 0 && warnings.is_empty());
    }

    #[test]
    fn numbers_as_strtol_reads_them() {
        assert_eq!(options(&["-n", " +7"]).max_args, 7);
        let Err(stop) = run(&["-n", "0"]).0 else {
            panic!()
        };
        assert_eq!(stop.lines, ["value 0 for -n option should be >= 1"]);
        let Err(stop) = run(&["-n", "2x"]).0 else {
            panic!()
        };
        assert_eq!(stop.lines, ["invalid number \"2x\" for -n option"]);
        let (parsed, warnings) = run(&["-s", "999999"]);
        let Ok(Parsed::Run(o)) = parsed else { panic!() };
        assert_eq!(o.max_chars, Some(100_000));
        assert_eq!(warnings, ["value 999999 for -s option should be <= 100000"]);
    }

    #[test]
    fn delimiters() {
        assert_eq!(delimiter(b",").unwrap(), b',');
        assert_eq!(delimiter(b"\\n").unwrap(), b'\n');
        assert_eq!(delimiter(b"\\\\").unwrap(), b'\\');
        assert_eq!(delimiter(b"\\012").unwrap(), b'\n');
        assert_eq!(delimiter(b"\\0").unwrap(), 0);
        assert_eq!(delimiter(b"\\x41").unwrap(), b'A');
        assert!(delimiter(b"ab").is_err());
        assert!(delimiter(b"\\400").is_err());
        assert!(delimiter(b"\\x4g").is_err());
        assert!(delimiter(b"\\q").is_err());
    }
}
