//! The `parx` binary: hands its arguments to the library and exits with its status.

fn main() {
    std::process::exit(parx::main_with_args(std::env::args_os()));
}
