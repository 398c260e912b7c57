//! Shell completion scripts from `parx --completions SHELL`, loaded into
//! real shells.

use crate::util::{parx_bin, Env};

/// What bash's completion function offers for the words typed so far.
fn bash_completes(words: &[&str]) -> Vec<String> {
    let script = format!(
        "source <('{parx}' --completions bash) || exit 9
COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}
_parx parx '{cur}' '{prev}'
printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        parx = parx_bin().display(),
        words = words.join(" "),
        cword = words.len() - 1,
        line = words.join(" "),
        cur = words[words.len() - 1],
        prev = words[words.len() - 2],
    );
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_long_options() {
    assert_eq!(bash_completes(&["parx", "--keep"]), ["--keep-order"]);
    let joblog = bash_completes(&["parx", "--jobl"]);
    assert_eq!(joblog, ["--joblog"]);
    assert_eq!(bash_completes(&["parx", "--xar"]), ["--xargs"]);
}

#[test]
fn every_shell_gets_a_script() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = env.parx(["--completions", shell]).expect_code(0);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("keep-order"),
            "{shell}"
        );
    }
    env.parx(["--completions", "tcsh"]).expect_code(255);
}

#[test]
fn help_is_short_and_help_full_has_everything() {
    let env = Env::new();
    let short = env.parx(["--help"]).stdout();
    let full = env.parx(["--help-full"]).stdout();
    assert!(
        short.contains("Examples:") && short.contains("parx gzip ::: *.log"),
        "{short}"
    );
    assert!(short.lines().count() < full.lines().count());
    assert!(
        full.contains("median runtime"),
        "--help-full has the long texts"
    );
}
