//! parx under a real `make -j`: it takes make's jobserver tokens, so a whole
//! build never runs more jobs than make allows. make 4.3 (the system's)
//! passes the jobserver as two pipe fds; make 4.4 as a named pipe
//! (`--jobserver-auth=fifo:PATH`), built here from Debian's source package.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::util::{parx_bin, Env};

/// Each job logs `start NS` and `end NS` around a short sleep.
const JOB: &str =
    "echo start $$(date +%s%N) >> $(LOG); sleep 0.3; echo end $$(date +%s%N) >> $(LOG); : {}";

/// Runs `make -jN` on a Makefile with two recipes of six parx jobs each;
/// `plus` puts make's `+` before the recipes (which hands them the
/// jobserver). Returns the most jobs that ran at once, and make's stderr.
fn run_make(jobs: usize, plus: bool, parx_args: &str) -> (usize, String) {
    run_this_make(Path::new("make"), &[], jobs, plus, parx_args).0
}

/// `run_make` with the make program `make` and extra make options; also
/// returns the MAKEFLAGS the recipes saw.
fn run_this_make(
    make: &Path,
    make_args: &[&str],
    jobs: usize,
    plus: bool,
    parx_args: &str,
) -> ((usize, String), String) {
    let env = Env::new();
    let prefix = if plus { "+" } else { "" };
    let makefile = format!(
        "all: a b\na:\n\t@echo \"$$MAKEFLAGS\" > $(LOG).flags\n\t{prefix}$(PARX) {parx_args} '{JOB}' ::: 1 2 3 4 5 6\nb:\n\t{prefix}$(PARX) {parx_args} '{JOB}' ::: 7 8 9 10 11 12\n"
    );
    env.write("Makefile", makefile);
    let log = env.path("log");
    // (Env::command keeps the test runner's own jobserver, cargo's, out.)
    let out = env
        .command(make)
        .args(make_args)
        .arg(format!("-j{jobs}"))
        .arg(format!("PARX={}", parx_bin().display()))
        .arg(format!("LOG={}", log.display()))
        .stdin(Stdio::null())
        .output()
        .expect("make runs (the test suite installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut events: Vec<(u128, i32)> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|line| {
            let (kind, ns) = line.split_once(' ').unwrap();
            (ns.parse().unwrap(), if kind == "start" { 1 } else { -1 })
        })
        .collect();
    assert_eq!(events.len(), 24, "every job ran once");
    // Ends sort before starts at the same instant.
    events.sort();
    let mut running = 0;
    let mut most = 0;
    for (_, delta) in events {
        running += delta;
        most = most.max(running);
    }
    let flags = std::fs::read_to_string(env.path("log.flags")).unwrap();
    (
        (
            usize::try_from(most).unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ),
        flags,
    )
}

#[test]
fn make_j3_never_runs_more_than_3_jobs() {
    let (most, stderr) = run_make(3, true, "");
    assert_eq!(most, 3, "{stderr}");
    assert!(!stderr.contains("parx:"), "{stderr}");
}

#[test]
fn an_explicit_j_is_a_cap_under_make() {
    // Each parx may run one job: two recipes, two jobs at a time.
    let (most, stderr) = run_make(3, true, "-j1");
    assert_eq!(most, 2, "{stderr}");
}

#[test]
fn a_recipe_without_plus_falls_back_with_one_warning() {
    // make names the jobserver but closes its fds for such a recipe.
    let (_, stderr) = run_make(3, false, "-j1");
    assert_eq!(
        stderr
            .matches("parx: warning: make's jobserver is not usable here")
            .count(),
        2,
        "{stderr}"
    );
}

/// Every token parx takes goes back to make on every path: jobs that fail,
/// time out, are killed by `--halt now`, and parx itself stopped by SIGTERM
/// while it holds tokens. make counts its tokens at exit and says
/// "INTERNAL: Exiting with N jobserver tokens available; should be M!" when
/// any is missing (a lost token would slow or hang the user's build).
#[test]
fn every_path_gives_the_tokens_back() {
    let env = Env::new();
    env.write(
        "Makefile",
        "all: timeout fail halt term\n\
         timeout:\n\t+-$(PARX) --timeout 0.2 'sleep 5; : {}' ::: 1 2 3 4\n\
         fail:\n\t+-$(PARX) 'exit 1; : {}' ::: 1 2 3 4 5 6\n\
         halt:\n\t+-$(PARX) --halt now,fail=1 'sleep 0.{}; exit 1' ::: 1 5 5 5\n\
         term:\n\t+-$(PARX) 'sleep 5; : {}' ::: 1 2 3 4 & p=$$!; \
         until [ -n \"$$(pgrep -f 'sleep 5; : [34]')\" ]; do sleep 0.05; done; \
         kill -TERM $$p; wait $$p; true\n",
    );
    let started = std::time::Instant::now();
    let out = env
        .command("make")
        .arg("-j3")
        .arg(format!("PARX={}", parx_bin().display()))
        .stdin(Stdio::null())
        .output()
        .expect("make runs (the test suite installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("jobserver tokens"), "{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{stderr}"
    );
}

/// GNU make 4.4.1, built once from Debian's `make-dfsg` source package and
/// kept in `target/make-4.4.1/` (Debian 12 has make 4.3, and the binary
/// package of the newer release needs a newer C library). apt fetches and
/// verifies the source from the Debian mirror this machine is configured
/// with, using a private package list, so the system's apt state is left
/// alone. Building takes under a minute; a fresh clone pays it once.
fn make_4_4() -> &'static Path {
    static MAKE: OnceLock<PathBuf> = OnceLock::new();
    MAKE.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target")
            .join("make-4.4.1");
        let bin = root.join("make");
        if !bin.exists() {
            let work = root.join(format!("build-{}", std::process::id()));
            let built = build_make_4_4(&work, &bin);
            let _ = std::fs::remove_dir_all(&work);
            if let Err(why) = built {
                panic!("cannot build make 4.4.1 for the fifo jobserver tests: {why}");
            }
        }
        let version = Command::new(&bin).arg("--version").output().unwrap();
        assert!(String::from_utf8_lossy(&version.stdout).starts_with("GNU Make 4.4"));
        bin
    })
}

/// The Debian mirror apt uses here: the first `URIs:` (deb822) or `deb`
/// line that names the main archive (not the security one).
fn debian_mirror() -> Option<String> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "sources" || e == "list"))
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|line| {
                    let line = line.trim();
                    let uri = line
                        .strip_prefix("URIs:")
                        .or_else(|| line.strip_prefix("deb "))?;
                    uri.split_whitespace()
                        .find(|w| w.starts_with("http"))
                        .map(str::to_string)
                })
                .collect::<Vec<_>>()
        })
        .find(|uri| uri.trim_end_matches('/').ends_with("/debian"))
}

fn build_make_4_4(work: &Path, bin: &Path) -> Result<(), String> {
    let mirror = debian_mirror().ok_or("no Debian mirror in /etc/apt/sources.list*")?;
    let lists = work.join("lists");
    std::fs::create_dir_all(lists.join("partial")).map_err(|e| e.to_string())?;
    let sources = work.join("sources.list");
    std::fs::write(
        &sources,
        format!(
            "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {mirror} trixie main\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let apt = |args: &[&str]| {
        let mut cmd = Command::new("apt-get");
        cmd.arg("-qq")
            .arg("-o")
            .arg(format!("Dir::Etc::SourceList={}", sources.display()))
            .arg("-o")
            .arg(format!(
                "Dir::Etc::SourceParts={}",
                work.join("none").display()
            ))
            .arg("-o")
            .arg(format!("Dir::State::Lists={}", lists.display()))
            .args(["-o", "APT::Sandbox::User=root"])
            .args(args)
            .current_dir(work);
        cmd
    };
    let run = |mut cmd: Command, what: &str| -> Result<(), String> {
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{what}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{what} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    run(apt(&["update"]), "apt-get update (trixie sources)")?;
    run(
        apt(&["source", "--download-only", "make-dfsg"]),
        "apt-get source make-dfsg",
    )?;
    let tarball = std::fs::read_dir(work)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".orig.tar.xz"))
        .ok_or("apt-get source fetched no .orig.tar.xz")?;
    let mut tar = Command::new("tar");
    tar.arg("xf").arg(&tarball).current_dir(work);
    run(tar, "unpacking the source")?;
    let src = work.join("make-4.4.1");
    // The DFSG tarball leaves out doc/, which configure still expects.
    std::fs::create_dir_all(src.join("doc")).map_err(|e| e.to_string())?;
    std::fs::write(src.join("doc/Makefile.in"), "").map_err(|e| e.to_string())?;
    let mut configure = Command::new("sh");
    configure
        .args(["./configure", "--quiet", "--disable-nls", "--without-guile"])
        .current_dir(&src);
    run(configure, "configure")?;
    // make's own bootstrap script: builds the program without a make.
    let mut build = Command::new("sh");
    build.arg("./build.sh").current_dir(&src);
    run(build, "building make")?;
    let tmp = bin.with_extension(format!("tmp{}", std::process::id()));
    std::fs::copy(src.join("make"), &tmp).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, bin).map_err(|e| e.to_string())
}

/// make 4.4's named pipe caps the jobs at -j, for recipes with `+` and
/// without: a named pipe is not closed for them, unlike 4.3's fds.
#[test]
fn make_4_4_fifo_jobserver_caps_the_jobs_at_j() {
    for plus in [true, false] {
        let ((most, stderr), flags) = run_this_make(make_4_4(), &[], 3, plus, "");
        assert!(flags.contains("--jobserver-auth=fifo:"), "{flags}");
        assert_eq!(most, 3, "plus: {plus}: {stderr}");
        assert!(!stderr.contains("parx:"), "{stderr}");
    }
}

#[test]
fn make_4_4_pipe_style_without_plus_falls_back_with_one_warning() {
    // `--jobserver-style=pipe` disables the jobserver for such a recipe
    // (`--jobserver-auth=-2,-2`): parx runs its own -j, here 1 per recipe.
    let ((most, stderr), flags) =
        run_this_make(make_4_4(), &["--jobserver-style=pipe"], 3, false, "-j1");
    assert!(flags.contains("--jobserver-auth=-2,-2"), "{flags}");
    assert_eq!(most, 2, "{stderr}");
}
