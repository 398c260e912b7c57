//! The `parx` binary: hands its arguments to the library and exits with its status.

fn main() {
    one_malloc_arena();
    std::process::exit(parx::main_with_args(std::env::args_os()));
}

/// Lets every thread allocate from the main malloc arena: glibc otherwise
/// maps a new arena (four system calls) for each thread's first
/// allocation, while parx's threads allocate little and seldom at once
/// (0.15 ms of a one-job run). Here, not in the library: it is the
/// program's choice.
#[allow(unsafe_code)]
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tuning parameter, before any thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
