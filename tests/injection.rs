//! Hostile inputs never run as code, and reach the command byte for byte,
//! on the direct path and through the shell alike.

use std::ffi::OsStr;

use crate::util::{child_bin, Env};

/// Inputs a shell would treat as code if they were pasted in unquoted.
pub fn corpus() -> Vec<Vec<u8>> {
    let texts: &[&str] = &[
        ";touch CANARY",
        "; touch CANARY ;",
        "$(touch CANARY)",
        "`touch CANARY`",
        "| touch CANARY",
        "|| touch CANARY",
        "&& touch CANARY",
        "& touch CANARY",
        "' ; touch CANARY ; '",
        "\" ; touch CANARY ; \"",
        "'\"$(touch CANARY)\"'",
        "\"'`touch CANARY`'\"",
        "\\",
        "\\'",
        "\\\"",
        "'",
        "\"",
        "''",
        "'\"'\"'",
        "*",
        "?",
        "[a-z]*",
        "~",
        "~root",
        "-rf",
        "--help",
        "-",
        "--",
        "a b",
        "  leading and trailing  ",
        "tab\there",
        "$HOME",
        "${IFS}",
        "$((1+1))",
        "$0",
        "$@",
        ">CANARY",
        ">>CANARY",
        "<CANARY",
        "2>CANARY",
        "(touch CANARY)",
        "{touch,CANARY}",
        "!",
        "!!",
        "#",
        "# comment",
        "{}",
        "{1}",
        "{#}",
        "a=b",
        "CANARY=1 touch CANARY",
        "x\ntouch CANARY",
        "\n",
        "%s%n",
        "\u{e9}t\u{e9}",
        "$'\\x41'",
        "$(printf %s CANARY > CANARY)",
        "\\$(touch CANARY)",
        "a\\\nb",
        "\r",
        "",
    ];
    let mut all: Vec<Vec<u8>> = texts.iter().map(|t| t.as_bytes().to_vec()).collect();
    all.push(b"\xff\xfe invalid utf-8 $(touch CANARY)".to_vec());
    all.push(b"\x80'\x81\"\x82".to_vec());
    all.push(vec![b'x'; 5000]);
    // Long and combined forms of the above.
    let combined: Vec<Vec<u8>> = all
        .iter()
        .take(20)
        .map(|v| [v.as_slice(), b" ", v.as_slice()].concat())
        .collect();
    all.extend(combined);
    // Every byte but NUL (no argument can hold it) alone, and as the
    // separator between a word and a command: `;`, `&`, `|`, newline,
    // backquote and the rest would run `touch CANARY` if pasted unquoted.
    for b in 1..=255u8 {
        all.push(vec![b]);
        all.push([b"x".as_slice(), &[b], b"touch CANARY"].concat());
    }
    all
}

fn nul_joined(values: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}

/// Runs parx on the corpus (NUL-separated, -k) with `template`, checks
/// the child saw `expect(value)` for each, and that nothing ran.
fn check(options: &[&str], template: &[&OsStr], expect: impl Fn(&[u8]) -> Vec<Vec<u8>>) {
    let env = Env::new();
    let values = corpus();
    let out = env
        .parx(["-0", "-k", "-j4"])
        .arg_first(options)
        .arg_last(template)
        .stdin(nul_joined(&values))
        .expect_code(0);
    let expected: Vec<Vec<u8>> = values.iter().flat_map(|v| expect(v)).collect();
    let got: Vec<&[u8]> = out.stdout.split(|&b| b == 0).collect();
    let got = &got[..got.len() - 1];
    assert_eq!(got.len(), expected.len(), "{template:?}: word count");
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(
            *g,
            e.as_slice(),
            "{template:?}: {:?} != {:?}",
            String::from_utf8_lossy(g),
            String::from_utf8_lossy(e)
        );
    }
    assert!(
        !env.path("CANARY").exists(),
        "{template:?}: an input ran as code"
    );
    assert!(
        std::fs::read_dir(env.dir.path()).unwrap().next().is_none(),
        "{template:?}: files appeared"
    );
}

fn child() -> &'static OsStr {
    child_bin().as_os_str()
}

/// Runs `child WORDS...` as given (a plain template: the direct path) and
/// with a redirection added (the shell path); both must give `expect`.
fn check_both_paths(
    options: &[&str],
    words: &[&str],
    expect: impl Fn(&[u8]) -> Vec<Vec<u8>> + Copy,
) {
    let mut template: Vec<&OsStr> = vec![child()];
    template.extend(words.iter().map(OsStr::new));
    check(options, &template, expect);
    template.push(OsStr::new("</dev/null"));
    check(options, &template, expect);
}

fn one(v: &[u8]) -> Vec<Vec<u8>> {
    vec![v.to_vec()]
}

#[test]
fn value_as_its_own_word() {
    check_both_paths(&[], &["argv", "{}"], one);
}

#[test]
fn value_appended_without_a_replacement_string() {
    check_both_paths(&[], &["argv"], one);
}

#[test]
fn value_mid_word() {
    check_both_paths(&[], &["argv", "pre{}post"], |v| {
        vec![[b"pre".as_slice(), v, b"post"].concat()]
    });
}

#[test]
fn value_inside_the_templates_own_quotes() {
    let twice = |v: &[u8]| vec![[b"<".as_slice(), v, b">"].concat(), v.to_vec()];
    check_both_paths(&[], &["argv", "\"<{}>\"", "'{}'"], twice);
}

#[test]
fn quote_option() {
    // -q quotes every word, so the template is always plain: direct path.
    check(
        &["-q"],
        &[child(), OsStr::new("argv"), OsStr::new("{}")],
        one,
    );
    let prefixed = |v: &[u8]| vec![[b"a ".as_slice(), v].concat()];
    check(
        &["-q"],
        &[child(), OsStr::new("argv"), OsStr::new("a {}")],
        prefixed,
    );
    // The printf builtin takes the shell path.
    check(
        &["-q"],
        &[OsStr::new("printf"), OsStr::new("%s\\0"), OsStr::new("{}")],
        one,
    );
    check(
        &["-q"],
        &[
            OsStr::new("printf"),
            OsStr::new("%s\\0"),
            OsStr::new("a {}"),
        ],
        prefixed,
    );
}

#[test]
fn packed_with_x_and_m() {
    check_both_paths(&["-X"], &["argv", "{}"], one);
    check_both_paths(&["-m"], &["argv"], one);
}

#[test]
fn corpus_is_large() {
    let n = corpus().len();
    assert!(n >= 200, "{n}");
    eprintln!("injection corpus: {n} inputs");
}

#[test]
fn xargs_mode_passes_every_input_through() {
    // -0: each input is one argument, to the command itself, through
    // `sh -c '... "$@"'`, and with -I replacing inside a word.
    check_xargs(&[child(), OsStr::new("argv")], one);
    check_xargs(
        &[
            OsStr::new("sh"),
            OsStr::new("-c"),
            OsStr::new("printf '%s\\0' \"$@\""),
            OsStr::new("sh"),
        ],
        one,
    );
    let wrapped = |v: &[u8]| vec![[b"pre".as_slice(), v, b"post"].concat()];
    let template = [
        OsStr::new("-I"),
        OsStr::new("{}"),
        child(),
        OsStr::new("argv"),
        OsStr::new("pre{}post"),
    ];
    check_xargs(&template, wrapped);
}

/// Runs `parx --xargs -0` on the corpus with `command`, as [`check`].
fn check_xargs(command: &[&OsStr], expect: impl Fn(&[u8]) -> Vec<Vec<u8>>) {
    let env = Env::new();
    let values = corpus();
    let out = env
        .parx(["--xargs", "-0"])
        .arg_last(command)
        .stdin(nul_joined(&values))
        .expect_code(0);
    let expected: Vec<Vec<u8>> = values.iter().flat_map(|v| expect(v)).collect();
    let got: Vec<&[u8]> = out.stdout.split(|&b| b == 0).collect();
    let got = &got[..got.len() - 1];
    assert_eq!(got.len(), expected.len(), "{command:?}: word count");
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(*g, e.as_slice(), "{command:?}");
    }
    assert!(
        !env.path("CANARY").exists(),
        "{command:?}: an input ran as code"
    );
}

#[test]
fn dry_run_output_is_valid_shell_for_every_input() {
    // What --dry-run prints, run by a real sh, gives back each input exactly.
    let env = Env::new();
    let values = corpus();
    let printed = env
        .parx(["-0", "-k", "--dry-run"])
        .arg_last([
            child(),
            OsStr::new("argv"),
            OsStr::new("{}"),
            OsStr::new("\"{}\""),
        ])
        .stdin(nul_joined(&values))
        .expect_code(0);
    let script = env.write("script.sh", &printed.stdout);
    let run = std::process::Command::new("sh")
        .arg(&script)
        .current_dir(env.dir.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let expected: Vec<Vec<u8>> = values.iter().flat_map(|v| [v.clone(), v.clone()]).collect();
    assert_eq!(run.stdout, nul_joined(&expected));
    assert!(!env.path("CANARY").exists());
}
