//! parx as a library, subprocess face: run a command for every file in a
//! directory, a few at a time, and use each job's status and output.
//!
//! First a template, as on parx's command line (`cksum {}`: the file name is
//! quoted, whatever it holds), results in input order; then a closure that
//! builds each job's `Command` (`gzip -9nc FILE`, from the directory), with
//! a timeout, results as they finish. Exits with the number of failed jobs.
//!
//!   cargo run --release --example run_commands -- /usr/share/common-licenses

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    let mut names: Vec<String> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(err) => {
            eprintln!("run_commands: {}: {err}", dir.display());
            std::process::exit(2);
        }
    };
    names.sort();
    let mut failed = 0;

    // 1. A template. `{}` is each path, shell-quoted; cksum runs directly,
    //    without a shell, since the template is plain.
    let paths = names.iter().map(|name| dir.join(name)).collect::<Vec<_>>();
    let cksum = parx::Runner::new("cksum {}").expect("a valid template");
    println!("# cksum, in input order");
    for job in cksum.slots(4).ordered(true).run(paths) {
        let stdout = job.stdout.into_bytes().unwrap_or_default();
        let text = String::from_utf8_lossy(&stdout);
        let mut fields = text.split_whitespace();
        match (job.status, fields.next(), fields.next()) {
            (status, Some(crc), Some(size)) if status.is_success() => {
                println!(
                    "{crc} {size} {}",
                    job.input.file_name().unwrap_or_default().to_string_lossy()
                );
            }
            (status, _, _) => {
                failed += 1;
                eprintln!("cksum {}: {status:?}", job.input.display());
            }
        }
    }

    // 2. A closure that builds each job's Command: run from the directory,
    //    with a timeout. Output past 1 MiB would arrive spilled to a file.
    let dir_for_jobs = dir.clone();
    let gzip = parx::Runner::from_fn(move |name: &String| {
        let mut cmd = Command::new("gzip");
        cmd.arg("-9nc").arg(name).current_dir(&dir_for_jobs);
        cmd
    });
    println!("# gzip -9, by name (jobs finish in any order)");
    let mut compressed = Vec::new();
    for job in gzip.slots(4).timeout(Duration::from_secs(60)).run(names) {
        if !job.is_success() {
            failed += 1;
            eprintln!("gzip {}: {:?}", job.input, job.status);
            continue;
        }
        let original = std::fs::metadata(dir.join(&job.input)).map_or(0, |m| m.len());
        let bytes = job.stdout.into_bytes().map_or(0, |b| b.len());
        compressed.push(format!("{}: {original} -> {bytes} bytes", job.input));
    }
    // Completion order varies from run to run; print by name.
    compressed.sort();
    for line in compressed {
        println!("{line}");
    }
    std::process::exit(failed);
}
