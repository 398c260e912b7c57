//! parx as a library: count the lines of every file in a directory on a
//! pool of threads, printing each result as it finishes, then the total.
//!
//!   cargo run --release --example count_lines -- /usr/share/common-licenses

use std::path::PathBuf;

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    let files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect(),
        Err(err) => {
            eprintln!("count_lines: {}: {err}", dir.display());
            std::process::exit(2);
        }
    };
    let threads = std::thread::available_parallelism().map_or(4, |n| n.get() * 2);
    let mut total = 0;
    // Results come back as the reads finish, not in directory order.
    for result in parx::concurrently(files, threads, |path| {
        let lines = std::fs::read(&path).map(|bytes| bytecount_lines(&bytes));
        (path, lines)
    }) {
        match result {
            Ok((path, Ok(lines))) => {
                total += lines;
                println!("{lines:>8} {}", path.display());
            }
            Ok((path, Err(err))) => eprintln!("count_lines: {}: {err}", path.display()),
            Err(panicked) => eprintln!("count_lines: {panicked}"),
        }
    }
    println!("{total:>8} total");
}

fn bytecount_lines(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'\n').count()
}
