//! man/parx.1 is generated from the clap definition; this test fails when
//! it is out of date. Regenerate with `PARX_UPDATE_MAN=1 cargo test man`.

use std::path::Path;

use clap::CommandFactory;

/// clap's name, description and options sections around the hand-written
/// synopsis (man/synopsis.roff) and sections (man/sections.roff), then the
/// version.
fn render() -> Vec<u8> {
    let man = clap_mangen::Man::new(parx::cli::Cli::command()).date("2026-11-25");
    let man_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let hand_written = |name: &str| {
        std::fs::read(man_dir.join(name)).unwrap_or_else(|e| panic!("man/{name}: {e}"))
    };
    let mut out = Vec::new();
    man.render_title(&mut out).unwrap();
    man.render_name_section(&mut out).unwrap();
    // clap's synopsis lists every flag without its value; ours is readable.
    out.extend(hand_written("synopsis.roff"));
    man.render_description_section(&mut out).unwrap();
    man.render_options_section(&mut out).unwrap();
    out.extend(hand_written("sections.roff"));
    man.render_version_section(&mut out).unwrap();
    out
}

#[test]
fn man_page_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("man")
        .join("parx.1");
    let fresh = render();
    if std::env::var_os("PARX_UPDATE_MAN").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "man/parx.1 is stale: run PARX_UPDATE_MAN=1 cargo test man"
    );
}

#[test]
fn man_page_documents_every_option() {
    let page = String::from_utf8(render()).unwrap();
    for needle in [
        "keep\\-order",
        "line\\-buffer",
        "tagstring",
        "dry\\-run",
        "joblog",
        "EXIT STATUS",
        "REPLACEMENT STRINGS",
        "completions",
    ] {
        assert!(page.contains(needle), "man page lacks {needle}");
    }
}

#[test]
fn man_page_renders_without_warnings() {
    let Ok(out) = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(&render())?;
            child.wait_with_output()
        })
    else {
        panic!("groff runs (the test suite installs groff-base)");
    };
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "groff warnings");
}
