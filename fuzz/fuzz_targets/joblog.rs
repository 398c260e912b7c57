//! The job-log reader used by --resume, --resume-failed and
//! --retry-failed: any file gives a set of jobs or an error, never a
//! panic; and a line parx writes reads back with its number, status and
//! command.
#![no_main]

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use parx::config::Resume;
use parx::exec::Status;
use parx::joblog::{failed_jobs, format_line, jobs_to_skip, Entry};

/// A file to write each log to: in memory (/dev/shm) when there is one.
fn scratch() -> PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("parx-fuzz-joblog-{}", std::process::id()))
}

fuzz_target!(|input: (Vec<u8>, u64, i32, bool, Vec<u8>)| {
    let (file, seq, code, signaled, command) = input;
    // parx reads numbers as i64: 2^63 jobs are out of reach.
    let seq = seq >> 1;
    let path = scratch();
    std::fs::write(&path, &file).unwrap();
    let _ = jobs_to_skip(&path, Resume::SkipFinished);
    let _ = jobs_to_skip(&path, Resume::SkipSucceeded);
    let _ = failed_jobs(&path);

    // Round trip: no command line holds a NUL byte.
    if command.contains(&0) {
        return;
    }
    let status = if signaled {
        Status::Signaled(code.rem_euclid(64) + 1)
    } else {
        Status::Exited(code.rem_euclid(256))
    };
    let line = format_line(&Entry {
        seq,
        started: UNIX_EPOCH + Duration::from_millis(1_795_571_416_986),
        runtime: Duration::from_millis(3),
        received: 5,
        status,
        timed_out: false,
        command: &command,
        host: ":",
    });
    std::fs::write(&path, &line).unwrap();
    let finished = jobs_to_skip(&path, Resume::SkipFinished).unwrap();
    assert_eq!(finished.into_iter().collect::<Vec<_>>(), [seq]);
    let succeeded = jobs_to_skip(&path, Resume::SkipSucceeded).unwrap();
    assert_eq!(succeeded.contains(&seq), status == Status::Exited(0));
    let retry = failed_jobs(&path).unwrap().unwrap();
    if status == Status::Exited(0) {
        assert!(retry.jobs.is_empty());
    } else {
        assert_eq!(retry.jobs, [(seq, command)]);
    }
});
