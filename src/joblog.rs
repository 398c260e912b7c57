//! `--joblog`: one tab-separated line per finished job, in GNU parallel's
//! format, and reading it back for `--resume`, `--resume-failed` and
//! `--retry-failed`.
//!
//! Each line is formatted whole and handed to the kernel in one `write` on
//! a file opened for appending, right after the job ends, so a crash of
//! parx leaves only complete lines behind.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::exec::Status;

/// The header line, as GNU parallel writes it.
pub const HEADER: &str =
    "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

/// An error opening, writing or reading the job log.
#[derive(Debug)]
pub struct JobLogError {
    /// The log file.
    pub path: PathBuf,
    /// What went wrong.
    pub source: io::Error,
}

impl std::fmt::Display for JobLogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "job log {}: {}",
            self.path.display(),
            crate::describe(&self.source)
        )
    }
}

impl std::error::Error for JobLogError {}

/// `--resume` or `--resume-failed`: which logged jobs to skip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Skip every job in the log.
    SkipFinished,
    /// Skip the jobs the log shows as succeeded.
    SkipSucceeded,
}

/// One finished job, as logged.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Sequence number.
    pub seq: u64,
    /// When it started.
    pub started: SystemTime,
    /// How long it ran.
    pub runtime: Duration,
    /// `--pipe`: bytes of its block written to its stdin.
    pub sent: u64,
    /// Bytes it wrote to stdout.
    pub received: u64,
    /// How it ended.
    pub status: Status,
    /// It was stopped by `--timeout`.
    pub timed_out: bool,
    /// `--pipe`: it ended without reading its whole block.
    pub unread: bool,
    /// The command line.
    pub command: Vec<u8>,
    /// The `-S` host it ran on (`None`: this machine).
    pub host: Option<String>,
}

impl Entry {
    /// The `Host` column: the host, or `:` for this machine.
    pub fn host(&self) -> &str {
        self.host.as_deref().unwrap_or(":")
    }

    /// The `Exitval` and `Signal` columns, as GNU parallel fills them: 0
    /// and the signal for a job killed by one; -1 and the signal for a job
    /// stopped by `--timeout` (SIGTERM if it exited anyway); SIGPIPE for a
    /// `--pipe` job that left part of its block unread (GNU parallel's writer
    /// dies of it there; GNU then writes Exitval 0 whatever the job's own
    /// exit status was, parx writes that status).
    pub fn exitval_signal(&self) -> (i32, i32) {
        match (self.status, self.timed_out) {
            (Status::Signaled(sig), true) => (-1, sig),
            (_, true) => (-1, libc::SIGTERM),
            (Status::Exited(code) | Status::NotStarted(code), false) if self.unread => {
                (code, libc::SIGPIPE)
            }
            (Status::Exited(code) | Status::NotStarted(code), false) => (code, 0),
            (Status::Signaled(sig), false) => (0, sig),
        }
    }

    /// The `Starttime` column: epoch seconds with milliseconds.
    pub fn start_time(&self) -> String {
        let start = self.started.duration_since(UNIX_EPOCH).unwrap_or_default();
        format!("{}.{:03}", start.as_secs(), start.subsec_millis())
    }
}

/// An open job log.
pub struct JobLog {
    file: File,
    path: PathBuf,
}

impl JobLog {
    /// Opens `path`: anew (truncated, with a header), or for appending (the
    /// header is written only if the file is empty). `-` is parx's stdout,
    /// as in GNU parallel (each line follows its job's output); a FIFO or a
    /// device such as /dev/null is written to as it is.
    pub fn open(path: &Path, append: bool) -> Result<Self, JobLogError> {
        let err = |source| JobLogError {
            path: path.to_path_buf(),
            source,
        };
        let stdout = path.as_os_str() == "-";
        let mut file = if stdout {
            File::from(
                std::os::fd::AsFd::as_fd(&io::stdout())
                    .try_clone_to_owned()
                    .map_err(err)?,
            )
        } else {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(err)?
        };
        let mut len = 0;
        if !stdout && file.metadata().map_err(err)?.is_file() {
            if !append {
                file.set_len(0).map_err(err)?;
            }
            len = file.metadata().map_err(err)?.len();
        }
        if len == 0 {
            file.write_all(HEADER.as_bytes()).map_err(err)?;
        } else {
            // Never glue a new line onto a torn last one.
            let mut last = [0u8];
            std::os::unix::fs::FileExt::read_exact_at(
                &File::open(path).map_err(err)?,
                &mut last,
                len - 1,
            )
            .map_err(err)?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(err)?;
            }
        }
        Ok(Self {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Appends one job's line.
    pub fn record(&mut self, entry: &Entry) -> Result<(), JobLogError> {
        self.write_line(&format_line(entry))
    }

    /// Appends a line made by [`format_line`].
    pub fn write_line(&mut self, line: &[u8]) -> Result<(), JobLogError> {
        self.file.write_all(line).map_err(|source| JobLogError {
            path: self.path.clone(),
            source,
        })
    }
}

/// Formats one line: `Starttime` in epoch seconds with milliseconds,
/// `JobRuntime` in seconds right-aligned to ten columns (as GNU parallel),
/// `Exitval` and `Signal` from [`Entry::exitval_signal`]. A newline in
/// the command is written as a NUL byte, as GNU parallel writes it, so that
/// every job is one line and `--retry-failed` gets the command back exactly
/// (no command line can hold a NUL byte).
pub fn format_line(entry: &Entry) -> Vec<u8> {
    let (exitval, signal) = entry.exitval_signal();
    let mut line = format!(
        "{}\t{}\t{}\t{:>10.3}\t{}\t{}\t{}\t{}\t",
        entry.seq,
        entry.host(),
        entry.start_time(),
        entry.runtime.as_secs_f64(),
        entry.sent,
        entry.received,
        exitval,
        signal
    )
    .into_bytes();
    line.extend(
        entry
            .command
            .iter()
            .map(|&b| if b == b'\n' { 0 } else { b }),
    );
    line.push(b'\n');
    line
}

/// Reads a job log and returns the sequence numbers to skip: every logged
/// job (`--resume`) or those that succeeded (`--resume-failed`). A missing
/// file means nothing to skip; lines that do not parse (a header, a line
/// from an older format) are ignored.
pub fn jobs_to_skip(path: &Path, resume: Resume) -> Result<HashSet<u64>, JobLogError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(source) => {
            return Err(JobLogError {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut skip = HashSet::new();
    for line in BufReader::new(file).split(b'\n') {
        let line = line.map_err(|source| JobLogError {
            path: path.to_path_buf(),
            source,
        })?;
        let fields: Vec<&[u8]> = line.splitn(9, |&b| b == b'\t').collect();
        let number = |i: usize| {
            fields
                .get(i)
                .and_then(|f| std::str::from_utf8(f).ok()?.trim().parse::<i64>().ok())
        };
        let (Some(seq), Some(exitval), Some(signal)) = (number(0), number(6), number(7)) else {
            continue;
        };
        let Ok(seq) = u64::try_from(seq) else {
            continue;
        };
        let succeeded = exitval == 0 && signal == 0;
        if resume == Resume::SkipFinished || succeeded {
            skip.insert(seq);
        }
    }
    Ok(skip)
}

/// The jobs `--retry-failed` runs again: those a job log shows as failed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Retry {
    /// Sequence number and command line of each job to run again, in
    /// sequence order.
    pub jobs: Vec<(u64, Vec<u8>)>,
    /// The highest sequence number in the log: the number of jobs of the
    /// run it records (for `--halt` percentages).
    pub last_seq: u64,
}

/// One job line split into sequence number, success and command, or
/// `None` when `line` is not one (a header, a stray line).
fn parse_job_line(line: &[u8]) -> Option<(u64, bool, &[u8])> {
    let fields: Vec<&[u8]> = line.splitn(9, |&b| b == b'\t').collect();
    let [seq, _host, numbers @ .., command] = fields.as_slice() else {
        return None;
    };
    let [start, runtime, send, receive, exitval, signal] = numbers else {
        return None;
    };
    let digits = |f: &[u8]| !f.is_empty() && f.iter().all(u8::is_ascii_digit);
    let numeric = |f: &[u8]| {
        !f.is_empty()
            && f.iter()
                .all(|&b| b.is_ascii_digit() || b == b'-' || b == b'.')
    };
    let integer = |f: &[u8]| std::str::from_utf8(f).ok()?.parse::<i64>().ok();
    // JobRuntime is right-aligned with spaces.
    let runtime = runtime.trim_ascii_start();
    if !digits(seq) || ![start, runtime, send, receive].iter().all(|f| numeric(f)) {
        return None;
    }
    let seq = std::str::from_utf8(seq).ok()?.parse::<u64>().ok()?;
    let (exitval, signal) = (integer(exitval)?, integer(signal)?);
    Some((seq, exitval == 0 && signal == 0, *command))
}

/// Reads a job log for `--retry-failed`: the jobs it shows as failed, with
/// their commands (a NUL byte in a command is a newline, as GNU parallel
/// writes it). A job is done once any line shows it succeeded; otherwise
/// its last line gives the command. `None` when the file does not exist
/// (nothing ran yet). The first line may be the header; any other line
/// that is not a job is an error, as in GNU parallel.
pub fn failed_jobs(path: &Path) -> Result<Option<Retry>, JobLogError> {
    let err = |source| JobLogError {
        path: path.to_path_buf(),
        source,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(err(source)),
    };
    // Sequence number → (succeeded, last command).
    let mut jobs: std::collections::BTreeMap<u64, (bool, Vec<u8>)> = Default::default();
    for (number, line) in BufReader::new(file).split(b'\n').enumerate() {
        let line = line.map_err(err)?;
        let Some((seq, succeeded, command)) = parse_job_line(&line) else {
            if number == 0 {
                continue; // the header
            }
            return Err(err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "line {} is not in the job log format: {}",
                    number + 1,
                    String::from_utf8_lossy(&line)
                ),
            )));
        };
        let command: Vec<u8> = command
            .iter()
            .map(|&b| if b == 0 { b'\n' } else { b })
            .collect();
        let job = jobs.entry(seq).or_insert((false, Vec::new()));
        job.0 |= succeeded;
        job.1 = command;
    }
    let last_seq = jobs.keys().next_back().copied().unwrap_or(0);
    let jobs = jobs
        .into_iter()
        .filter(|(_, (succeeded, _))| !succeeded)
        .map(|(seq, (_, command))| (seq, command))
        .collect();
    Ok(Some(Retry { jobs, last_seq }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: Status, timed_out: bool) -> Entry {
        Entry {
            seq: 7,
            started: UNIX_EPOCH + Duration::from_millis(1_795_571_416_986),
            runtime: Duration::from_millis(3),
            sent: 0,
            received: 5,
            status,
            timed_out,
            unread: false,
            command: b"echo a\nb".to_vec(),
            host: None,
        }
    }

    #[test]
    fn lines_match_gnu_parallel() {
        let line = format_line(&entry(Status::Exited(1), false));
        assert_eq!(
            line,
            b"7\t:\t1795571416.986\t     0.003\t0\t5\t1\t0\techo a\0b\n"
        );
        // GNU parallel 20221122 logs `kill -9 $$` as Exitval 0, Signal 9.
        let line = format_line(&entry(Status::Signaled(9), false));
        assert!(line.starts_with(b"7\t:\t1795571416.986\t     0.003\t0\t5\t0\t9\t"));
        let line = format_line(&entry(Status::Signaled(9), true));
        assert!(line.starts_with(b"7\t:\t1795571416.986\t     0.003\t0\t5\t-1\t9\t"));
        let line = format_line(&entry(Status::Exited(0), true));
        assert!(line.starts_with(b"7\t:\t1795571416.986\t     0.003\t0\t5\t-1\t15\t"));
    }

    #[test]
    fn retry_takes_the_failed_jobs_and_their_last_commands() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        assert_eq!(failed_jobs(&path).unwrap(), None, "no log: a first run");
        let line = |seq, exitval, signal, command: &str| {
            format!("{seq}\t:\t1.5\t     0.100\t0\t0\t{exitval}\t{signal}\t{command}\n")
        };
        let log = [
            HEADER.to_owned(),
            line(1, 0, 0, "echo ok"),
            line(2, 1, 0, "echo old"),
            line(3, -1, 15, "echo a\0echo b\tc"),
            line(2, 2, 0, "echo new"),
            line(5, 1, 0, "echo five"),
            line(5, 0, 0, "echo five"),
        ]
        .concat();
        std::fs::write(&path, log).unwrap();
        assert_eq!(
            failed_jobs(&path).unwrap(),
            Some(Retry {
                jobs: vec![
                    (2, b"echo new".to_vec()),
                    (3, b"echo a\necho b\tc".to_vec()),
                ],
                last_seq: 5,
            })
        );
        // Without a header the first line is a job too.
        std::fs::write(&path, line(1, 4, 0, "false")).unwrap();
        assert_eq!(failed_jobs(&path).unwrap().unwrap().jobs.len(), 1);
        // Anything else that is not a job line is an error.
        for bad in ["x\ty\n", "1\t:\tsoon\t1\t0\t0\t1\t0\tcmd\n", "\n"] {
            std::fs::write(&path, [HEADER, bad].concat()).unwrap();
            let err = failed_jobs(&path).unwrap_err().to_string();
            assert!(err.contains("line 2"), "{err}");
        }
    }

    #[test]
    fn resume_reads_what_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let mut log = JobLog::open(&path, false).unwrap();
        log.record(&Entry {
            seq: 1,
            ..entry(Status::Exited(0), false)
        })
        .unwrap();
        log.record(&Entry {
            seq: 2,
            ..entry(Status::Exited(3), false)
        })
        .unwrap();
        log.record(&Entry {
            seq: 3,
            ..entry(Status::Signaled(15), false)
        })
        .unwrap();
        drop(log);
        // A torn last line (no crash of parx leaves one, but be lenient).
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"4\t:\t17")
            .unwrap();
        let finished = jobs_to_skip(&path, Resume::SkipFinished).unwrap();
        assert_eq!(finished, HashSet::from([1, 2, 3]));
        let succeeded = jobs_to_skip(&path, Resume::SkipSucceeded).unwrap();
        assert_eq!(succeeded, HashSet::from([1]));
        // Appending keeps what is there and adds no second header.
        let mut log = JobLog::open(&path, true).unwrap();
        log.record(&Entry {
            seq: 2,
            ..entry(Status::Exited(0), false)
        })
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches("Seq\tHost").count(), 1);
        assert_eq!(
            jobs_to_skip(&path, Resume::SkipSucceeded).unwrap(),
            HashSet::from([1, 2])
        );
    }
}
