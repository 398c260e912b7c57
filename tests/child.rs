//! A deterministic child program for parx's tests, compiled by the test
//! harness (see tests/util/mod.rs). Being an external program, templates
//! that run it take parx's direct (no shell) path.
//!
//! Usage: parx-testchild MODE ARGS...
//!   argv ARGS...        print each ARG followed by a NUL byte
//!   sleep MS ARGS...    sleep MS milliseconds, then print ARGS like argv
//!   exit N              exit with status N
//!   lines N TAG         print N lines "TAG i", one write(2) per half line
//!   bytes N             write N bytes of 'x' in 64 KiB writes
//!   env NAME            print the value of environment variable NAME
//!   fds                 print the open file descriptors, space-separated
//!   signal N            die of signal N (even one inherited as ignored)

use std::io::Write;

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let mode = args.first().and_then(|m| m.to_str()).unwrap_or("argv").to_string();
    let rest = if args.is_empty() { &args[..] } else { &args[1..] };
    let number = |i: usize| -> u64 { rest[i].to_str().unwrap().parse().unwrap() };
    let out = std::io::stdout();
    let mut out = out.lock();
    match mode.as_str() {
        "argv" => print_args(&mut out, rest),
        "sleep" => {
            std::thread::sleep(std::time::Duration::from_millis(number(0)));
            print_args(&mut out, &rest[1..]);
        }
        "exit" => std::process::exit(number(0) as i32),
        "lines" => {
            let tag = rest[1].to_str().unwrap();
            for i in 0..number(0) {
                // Two writes per line, so a reader can see half lines.
                out.write_all(format!("{tag} ").as_bytes()).unwrap();
                out.flush().unwrap();
                out.write_all(format!("{i}\n").as_bytes()).unwrap();
                out.flush().unwrap();
            }
        }
        "bytes" => {
            let chunk = vec![b'x'; 64 * 1024];
            let mut left = number(0) as usize;
            while left > 0 {
                let n = left.min(chunk.len());
                if out.write_all(&chunk[..n]).is_err() {
                    std::process::exit(1);
                }
                left -= n;
            }
        }
        "env" => {
            let v = std::env::var_os(&rest[0]).unwrap_or_default();
            out.write_all(v.to_str().unwrap().as_bytes()).unwrap();
            out.write_all(b"\n").unwrap();
        }
        "fds" => {
            let mut fds: Vec<u32> = std::fs::read_dir("/proc/self/fd")
                .unwrap()
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect();
            fds.sort_unstable();
            // The directory handle used for listing is one of them; drop the highest.
            fds.pop();
            let text: Vec<String> = fds.iter().map(u32::to_string).collect();
            out.write_all(format!("{}\n", text.join(" ")).as_bytes()).unwrap();
        }
        "signal" => {
            extern "C" {
                fn signal(signum: i32, handler: usize) -> usize;
                fn raise(signum: i32) -> i32;
            }
            let n = number(0) as i32;
            // SAFETY: setting the default action (SIG_DFL is 0) and raising
            // a signal have no memory-safety preconditions.
            unsafe {
                signal(n, 0);
                raise(n);
            }
            std::process::exit(100);
        }
        other => {
            eprintln!("parx-testchild: unknown mode {other}");
            std::process::exit(2);
        }
    }
    out.flush().unwrap();
}

fn print_args(out: &mut impl Write, args: &[std::ffi::OsString]) {
    use std::os::unix::ffi::OsStrExt;
    for a in args {
        out.write_all(a.as_bytes()).unwrap();
        out.write_all(b"\0").unwrap();
    }
}
