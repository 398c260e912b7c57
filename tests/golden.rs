//! Golden outputs: parx must print what GNU parallel printed for the same
//! arguments and stdin, and exit with the same status.
//!
//! The cases live in tests/golden/cases.txt (its format is described at the
//! top of that file); tests/golden/regen.sh records tests/golden/expected/
//! from the real GNU parallel.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::util::Env;

/// One line of cases.txt that is a case.
struct Case {
    /// 1-based number, as in expected/NNN.*.
    number: usize,
    line: String,
    args: Vec<String>,
    stdin: Option<Vec<u8>>,
    unordered: bool,
    status_only: bool,
    /// `DIFFERS=<fmt>`: parx deliberately differs from GNU parallel here
    /// (documented in the README); its own stdout is this instead.
    parx_stdout: Option<Vec<u8>>,
}

/// Everything cases.txt declares.
struct Cases {
    fixtures: Vec<(String, Vec<u8>)>,
    cases: Vec<Case>,
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
}

/// Decodes the escapes of printf's `%b`, as far as cases.txt uses them:
/// `\n \t \r \\ \0NNN \xHH`.
fn unescape(fmt: &str) -> Vec<u8> {
    let b = fmt.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 == b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        let c = b[i];
        i += 1;
        match c {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'\\' => out.push(b'\\'),
            b'0' => {
                let mut v: u32 = 0;
                let mut digits = 0;
                while digits < 3 && i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                    v = v * 8 + u32::from(b[i] - b'0');
                    i += 1;
                    digits += 1;
                }
                out.push(u8::try_from(v & 0xff).unwrap());
            }
            b'x' => {
                let mut v: u32 = 0;
                let mut digits = 0;
                while digits < 2 && i < b.len() && b[i].is_ascii_hexdigit() {
                    v = v * 16 + char::from(b[i]).to_digit(16).unwrap();
                    i += 1;
                    digits += 1;
                }
                assert!(digits > 0, "\\x without hex digits in {fmt:?}");
                out.push(u8::try_from(v).unwrap());
            }
            other => panic!(
                "unsupported escape \\{} in {fmt:?} (cases.txt allows \\n \\t \\r \\\\ \\0NNN \\xHH)",
                char::from(other)
            ),
        }
    }
    out
}

fn parse_cases(text: &str) -> Cases {
    let mut fixtures = Vec::new();
    let mut cases = Vec::new();
    for (lineno, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let words = shell_words::split(line)
            .unwrap_or_else(|e| panic!("cases.txt:{}: {e}: {line}", lineno + 1));
        if line.starts_with("FILE ") || line.starts_with("FILE\t") {
            assert_eq!(words.len(), 3, "cases.txt:{}: FILE name fmt", lineno + 1);
            fixtures.push((words[1].clone(), unescape(&words[2])));
            continue;
        }
        let mut stdin = None;
        let mut unordered = false;
        let mut status_only = false;
        let mut parx_stdout = None;
        let mut rest = words.as_slice();
        while let Some((first, tail)) = rest.split_first() {
            if let Some(fmt) = first.strip_prefix("STDIN=") {
                stdin = Some(unescape(fmt));
            } else if let Some(fmt) = first.strip_prefix("DIFFERS=") {
                parx_stdout = Some(unescape(fmt));
            } else if first == "UNORDERED" {
                unordered = true;
            } else if first == "STATUSONLY" {
                status_only = true;
            } else {
                break;
            }
            rest = tail;
        }
        cases.push(Case {
            number: cases.len() + 1,
            line: line.to_owned(),
            args: rest.to_vec(),
            stdin,
            unordered,
            status_only,
            parx_stdout,
        });
    }
    Cases { fixtures, cases }
}

/// Lines of `out` (split after each `\n`), sorted.
fn sorted(out: &[u8]) -> Vec<u8> {
    let mut lines: Vec<&[u8]> = out.split_inclusive(|&b| b == b'\n').collect();
    lines.sort_unstable();
    lines.concat()
}

fn show(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "(empty)".to_owned();
    }
    let mut s = String::new();
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        s.push_str("      |");
        for &b in line {
            match b {
                b'\\' => s.push_str("\\\\"),
                b'\n' => s.push_str("\\n"),
                b'\t' => s.push_str("\\t"),
                b'\r' => s.push_str("\\r"),
                b' '..=b'~' => s.push(char::from(b)),
                _ => {
                    let _ = write!(s, "\\x{b:02x}");
                }
            }
        }
        s.push('\n');
    }
    s
}

/// How a case's stdin reaches parx.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stdin {
    /// Through a pipe.
    Pipe,
    /// As a regular file (regen.sh gives GNU parallel its stdin so):
    /// `--pipe` then cuts it in place.
    File,
}

/// Runs one case (a `--pipe` case with stdin twice: through a pipe and
/// from a file); returns a description of the mismatch, if any.
fn check(case: &Case, fixtures: &[(String, Vec<u8>)], expected: &Path) -> Option<String> {
    let twice = case.stdin.is_some() && case.args.iter().any(|a| a == "--pipe");
    let mut report = check_with(case, fixtures, expected, Stdin::Pipe);
    if twice {
        if let Some(msg) = check_with(case, fixtures, expected, Stdin::File) {
            report.get_or_insert_with(String::new).push_str(&msg);
        }
    }
    report
}

fn check_with(
    case: &Case,
    fixtures: &[(String, Vec<u8>)],
    expected: &Path,
    how: Stdin,
) -> Option<String> {
    let id = format!("{:03}", case.number);
    let want_out = std::fs::read(expected.join(format!("{id}.out")));
    let want_status = std::fs::read_to_string(expected.join(format!("{id}.status")));
    let (Ok(want_out), Ok(want_status)) = (want_out, want_status) else {
        return Some(format!(
            "case {id}: {}\n    no expected/{id}.* files: run tests/golden/regen.sh\n",
            case.line
        ));
    };
    let want_status: i32 = want_status
        .trim()
        .parse()
        .expect("status file holds a number");
    let want_out = case.parx_stdout.clone().unwrap_or(want_out);

    let env = Env::new();
    for (name, content) in fixtures {
        env.write(name, content);
    }
    let mut run = env.parx(&case.args);
    match (&case.stdin, how) {
        (Some(input), Stdin::Pipe) => run = run.stdin(input),
        (Some(input), Stdin::File) => {
            // Unlinked, so no job sees it in the case's directory.
            use std::io::{Seek, Write};
            let mut file = tempfile::tempfile().expect("a temporary file");
            file.write_all(input).expect("stdin file written");
            file.rewind().expect("stdin file rewound");
            run = run.stdin_file(file);
        }
        (None, _) => {}
    }
    let out = run.output();
    let status = out.status.code();

    let (want, got) = if case.status_only {
        (Vec::new(), Vec::new())
    } else if case.unordered {
        (sorted(&want_out), sorted(&out.stdout))
    } else {
        (want_out, out.stdout)
    };
    if want == got && status == Some(want_status) {
        return None;
    }
    let mut msg = format!(
        "case {id}{}: {}\n    args: {:?}{}\n",
        if how == Stdin::File {
            " (stdin from a file)"
        } else {
            ""
        },
        case.line,
        case.args,
        if case.unordered {
            " (unordered)"
        } else if case.status_only {
            " (status only)"
        } else {
            ""
        }
    );
    if status != Some(want_status) {
        let _ = writeln!(
            msg,
            "    status: expected {want_status}, got {}",
            status.map_or_else(|| format!("{:?}", out.status), |c| c.to_string())
        );
    }
    if want != got {
        let _ = write!(
            msg,
            "    stdout expected:\n{}    stdout got:\n{}",
            show(&want),
            show(&got)
        );
    }
    if !out.stderr.is_empty() {
        let _ = write!(msg, "    stderr:\n{}", show(&out.stderr));
    }
    Some(msg)
}

#[test]
fn golden_outputs_match_gnu_parallel() {
    let dir = golden_dir();
    let text = std::fs::read_to_string(dir.join("cases.txt")).expect("tests/golden/cases.txt");
    let Cases { fixtures, cases } = parse_cases(&text);
    assert!(!cases.is_empty(), "no cases in cases.txt");
    let expected = dir.join("expected");

    // Cases are independent (a fresh directory each): run a few at a time.
    let threads = 4;
    let mut failures: Vec<(usize, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (cases, fixtures, expected) = (&cases, &fixtures, &expected);
                s.spawn(move || {
                    cases
                        .iter()
                        .skip(t)
                        .step_by(threads)
                        .filter_map(|c| check(c, fixtures, expected).map(|m| (c.number, m)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("checker thread"))
            .collect()
    });
    failures.sort_by_key(|(n, _)| *n);

    // Expected files for cases that no longer exist mean regen.sh is due.
    let stale: Vec<String> = std::fs::read_dir(&expected)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(
                    |name| match name.split('.').next().and_then(|n| n.parse::<usize>().ok()) {
                        Some(n) => n == 0 || n > cases.len(),
                        None => true,
                    },
                )
                .collect()
        })
        .unwrap_or_default();

    let mut report = String::new();
    for (_, msg) in &failures {
        report.push_str(msg);
        report.push('\n');
    }
    if !stale.is_empty() {
        let _ = writeln!(
            report,
            "stale files in tests/golden/expected (run regen.sh): {stale:?}"
        );
    }
    assert!(
        report.is_empty(),
        "{} of {} golden cases differ from GNU parallel:\n\n{report}",
        failures.len(),
        cases.len()
    );
}

#[test]
fn unescape_matches_printf_b() {
    assert_eq!(unescape(r"a\nb\tc\rd\\e"), b"a\nb\tc\rd\\e");
    assert_eq!(unescape(r"x\0y\0101\xff\x4"), b"x\0yA\xff\x04");
}
