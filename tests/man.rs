//! man/parx.1 is generated from the clap definition; this test fails when
//! it is out of date. Regenerate with `PARX_UPDATE_MAN=1 cargo test man`.

use std::path::Path;

use clap::CommandFactory;

fn render() -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(parx::cli::Cli::command())
        .date("2026-11-25")
        .render(&mut out)
        .expect("rendering to memory cannot fail");
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
        "Exit status",
    ] {
        assert!(page.contains(needle), "man page lacks {needle}");
    }
}
