//! Links the `parx` binary with GCC's unwinder built in (libgcc_eh.a)
//! instead of loading libgcc_s.so.1 at every start.
//!
//! Why: parx is started once per run, often from scripts and Makefiles in
//! loops, so its start-up counts (issue 4's target: one job within 1.5 x
//! xargs). Loading a shared library costs a start-up its mappings and page
//! faults, and libgcc_s.so.1 also runs a constructor (its CPU-feature
//! probe, `__cpu_indicator_init`) whose CPUID instructions trap to the
//! hypervisor on a virtual machine. Measured on this project's 2-core KVM
//! machine: one `true` job 3.81 -> 3.50 ms (xargs 2.70 ms). Rust's standard
//! library only needs the unwinder for panics and backtraces, which the
//! static copy serves the same.
//!
//! Only for Linux with glibc, only for the binaries (the library crate and
//! its users link as they always do), and only when the C compiler that
//! links has libgcc_eh.a; otherwise nothing changes.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if target_os != "linux" || target_env != "gnu" || !has_static_unwinder() {
        return;
    }
    // rustc puts these after its own `-lgcc_s`; taking the whole archive
    // defines the unwinder's symbols in the binary, so `--as-needed` (rustc's
    // default) then records no need for libgcc_s.so.1.
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--push-state,--whole-archive,-Bstatic,-lgcc_eh,--pop-state"
    );
}

/// Whether the compiler that links (rustc's default `cc`, or the linker
/// cargo was told to use, which it passes on as `RUSTC_LINKER`) has GCC's
/// static unwinder.
fn has_static_unwinder() -> bool {
    let linker = std::env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".to_owned());
    let Ok(out) = Command::new(linker)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
    else {
        return false;
    };
    // (gcc prints the bare name back when it has no such file.)
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    out.status.success() && Path::new(&path).is_absolute() && Path::new(&path).is_file()
}
