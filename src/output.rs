//! Output sinks: where jobs' stdout and stderr go, in which order, and how
//! memory stays bounded.
//!
//! A job's captured output lives in a [`Spool`]: memory up to a small budget,
//! then an unlinked temporary file in `--tmpdir`. Whole jobs are written to
//! the [`Terminal`] (parx's own stdout and stderr) by the output thread in
//! completion order (`--group`) or input order (`-k`, through [`Reorder`]);
//! `--line-buffer` writes complete lines as they arrive ([`LineSplitter`]).
//! Nothing here starts or waits for processes.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

use crate::exec::{stop_on_output_error, Outcome, OutputMode};
use crate::exit::Tally;
use crate::joblog::{self, JobLog};
use crate::signal::{Control, StopCause};

/// Memory one job's captured output may use before it spills to disk.
pub const JOB_MEMORY_BYTES: usize = 1 << 20;

/// Memory all finished jobs waiting for their turn under `-k` may use
/// together before the largest spill to disk.
pub const REORDER_MEMORY_BYTES: usize = 32 << 20;

/// An error writing spilled output: names the directory, as users need to
/// know which disk filled up.
#[derive(Debug)]
pub struct SpillError {
    /// The temporary directory.
    pub dir: PathBuf,
    /// What the OS said.
    pub source: io::Error,
}

impl std::fmt::Display for SpillError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot keep job output in a temporary file in {}: {} (use --tmpdir DIR to choose another directory)",
            self.dir.display(),
            crate::describe(&self.source)
        )
    }
}

/// Bytes kept in memory up to a budget, then in an unlinked temporary file.
#[derive(Debug, Default)]
pub struct Spool {
    memory: Vec<u8>,
    file: Option<File>,
}

impl Spool {
    /// Appends `data`; spills to a new temporary file in `dir` once memory
    /// would exceed `budget`.
    pub fn append(&mut self, data: &[u8], budget: usize, dir: &Path) -> Result<(), SpillError> {
        if self.file.is_none() && self.memory.len() + data.len() <= budget {
            self.memory.extend_from_slice(data);
            return Ok(());
        }
        let err = |source| SpillError {
            dir: dir.to_path_buf(),
            source,
        };
        if self.file.is_none() {
            self.spill(dir)?;
        }
        let file = self.file.as_mut().expect("spilled above");
        file.write_all(data).map_err(err)
    }

    /// Moves what is in memory to a temporary file in `dir`.
    pub fn spill(&mut self, dir: &Path) -> Result<(), SpillError> {
        let err = |source| SpillError {
            dir: dir.to_path_buf(),
            source,
        };
        let mut file = match self.file.take() {
            Some(f) => f,
            None => tempfile::tempfile_in(dir).map_err(err)?,
        };
        file.write_all(&self.memory).map_err(err)?;
        self.memory = Vec::new();
        self.file = Some(file);
        Ok(())
    }

    /// Bytes held in memory.
    pub fn memory_len(&self) -> usize {
        self.memory.len()
    }

    /// True when nothing was ever appended.
    pub fn is_empty(&self) -> bool {
        self.memory.is_empty() && self.file.is_none()
    }

    /// Writes everything to `out`; a spilled part is copied by the kernel
    /// where it can (`copy_file_range`/`sendfile`).
    pub fn write_to(&mut self, out: &mut File) -> io::Result<()> {
        if let Some(file) = self.file.as_mut() {
            file.flush()?;
            file.seek(SeekFrom::Start(0))?;
            io::copy(file, out)?;
        }
        out.write_all(&self.memory)
    }

    /// Writes everything to `out` with `prefix` before every line.
    /// `at_line_start` carries the state between calls.
    pub fn write_tagged(
        &mut self,
        out: &mut File,
        prefix: &[u8],
        at_line_start: &mut bool,
    ) -> io::Result<()> {
        let mut buf = Vec::with_capacity(64 * 1024);
        self.for_each_chunk(|chunk| {
            tag_lines(chunk, prefix, at_line_start, &mut buf);
            out.write_all(&buf)?;
            buf.clear();
            Ok(())
        })
    }

    /// Calls `f` with the content in order, a piece at a time (64 KiB at
    /// most from a spilled part), so that it is never all in memory.
    pub fn for_each_chunk(&mut self, mut f: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        if let Some(file) = self.file.as_mut() {
            file.seek(SeekFrom::Start(0))?;
            let mut chunk = vec![0; 64 * 1024];
            loop {
                match file.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => f(&chunk[..n])?,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        f(&self.memory)
    }

    /// The content: the bytes in memory, or (once spilled) the file that
    /// holds all of it, positioned at its end.
    pub fn into_parts(self) -> (Vec<u8>, Option<File>) {
        (self.memory, self.file)
    }

    /// Forgets the content (and closes any file).
    pub fn clear(&mut self) {
        self.memory.clear();
        self.file = None;
    }
}

/// Copies `data` to `out`, putting `prefix` at the start of every line.
pub fn tag_lines(data: &[u8], prefix: &[u8], at_line_start: &mut bool, out: &mut Vec<u8>) {
    for line in data.split_inclusive(|&b| b == b'\n') {
        if *at_line_start {
            out.extend_from_slice(prefix);
        }
        out.extend_from_slice(line);
        *at_line_start = line.last() == Some(&b'\n');
    }
}

/// parx's own stdout and stderr, shared by all writers.
///
/// Holds duplicates of fds 1 and 2 as `File`s so large spilled outputs can
/// be copied by the kernel and nothing is buffered behind our back.
pub struct Terminal {
    inner: Mutex<Streams>,
    /// The `--bar` display on stderr, cleared while anything is written.
    #[cfg(feature = "cli")]
    progress: std::sync::OnceLock<indicatif::ProgressBar>,
}

/// The two streams, locked together so one job's stdout and stderr are
/// never interleaved with another job's.
pub struct Streams {
    /// parx's stdout.
    pub out: File,
    /// parx's stderr.
    pub err: File,
}

impl Terminal {
    /// Duplicates fds 1 and 2.
    pub fn open() -> io::Result<Self> {
        let out = File::from(io::stdout().as_fd().try_clone_to_owned()?);
        let err = File::from(io::stderr().as_fd().try_clone_to_owned()?);
        Ok(Self {
            inner: Mutex::new(Streams { out, err }),
            #[cfg(feature = "cli")]
            progress: std::sync::OnceLock::new(),
        })
    }

    /// Writes to `out` and `err` instead of parx's own stdout and stderr
    /// (the library's runner, which prints nothing, passes /dev/null).
    pub fn from_files(out: File, err: File) -> Self {
        Self {
            inner: Mutex::new(Streams { out, err }),
            #[cfg(feature = "cli")]
            progress: std::sync::OnceLock::new(),
        }
    }

    /// Shows `bar` on stderr from now on.
    #[cfg(feature = "cli")]
    pub fn show_progress(&self, bar: indicatif::ProgressBar) {
        let _ = self.progress.set(bar);
    }

    /// The progress display, if one is shown.
    #[cfg(feature = "cli")]
    pub fn progress(&self) -> Option<&indicatif::ProgressBar> {
        self.progress.get()
    }

    /// Runs `write` with both streams locked (and any progress display
    /// cleared from the terminal meanwhile).
    pub fn with_streams<R>(&self, write: impl FnOnce(&mut Streams) -> R) -> R {
        // A panicking writer cannot leave the streams half-updated in a way
        // that matters more than losing all output, so poisoning is ignored.
        let mut streams = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        #[cfg(feature = "cli")]
        if let Some(bar) = self.progress.get() {
            return bar.suspend(|| write(&mut streams));
        }
        write(&mut streams)
    }

    /// Writes one message line to stderr.
    pub fn message(&self, text: &str) {
        // Nothing useful can be done if stderr itself is gone.
        let _ = self.with_streams(|s| s.err.write_all(text.as_bytes()));
    }
}

/// A finished job's captured output, with the tag for its lines.
#[derive(Debug, Default)]
pub struct Captured {
    /// The job's stdout.
    pub out: Spool,
    /// The job's stderr.
    pub err: Spool,
    /// `--tag`/`--tagstring` prefix (tag and tab), if any.
    pub tag: Option<Vec<u8>>,
    /// Set when part of the output could not be kept (disk full): why.
    pub lost: Option<String>,
    /// `--results FILE.csv` etc.: the job's record, written with the output.
    pub row: Option<Box<Row>>,
}

/// A finished job's job-log columns and values: its `--results` table
/// record, kept with its output until written (with `-k`, until its turn).
#[derive(Debug)]
pub struct Row {
    entry: joblog::Entry,
    values: Vec<Vec<u8>>,
}

/// Where a write failed: on stdout (a closed pipe stops parx) or stderr.
#[derive(Debug)]
pub enum WriteError {
    /// Writing parx's stdout failed.
    Stdout(io::Error),
    /// Writing parx's stderr failed.
    Stderr(io::Error),
}

impl Captured {
    /// Writes stdout then stderr, whole, while holding the terminal lock.
    pub fn write_whole(&mut self, terminal: &Terminal) -> Result<(), WriteError> {
        if self.out.is_empty() && self.err.is_empty() {
            return Ok(());
        }
        terminal.with_streams(|Streams { out, err }| match &self.tag {
            None => {
                self.out.write_to(out).map_err(WriteError::Stdout)?;
                self.err.write_to(err).map_err(WriteError::Stderr)
            }
            Some(prefix) => {
                let mut start = true;
                self.out
                    .write_tagged(out, prefix, &mut start)
                    .map_err(WriteError::Stdout)?;
                let mut start = true;
                self.err
                    .write_tagged(err, prefix, &mut start)
                    .map_err(WriteError::Stderr)
            }
        })
    }

    /// Bytes held in memory.
    pub fn memory_len(&self) -> usize {
        self.out.memory_len() + self.err.memory_len()
    }
}

/// Keeps finished jobs until every earlier one has been written (`-k`).
///
/// Waiting output stays in memory up to [`REORDER_MEMORY_BYTES`] in all;
/// past that, the biggest waiting outputs spill to temporary files, so a
/// slow first job never holds the pool back and never grows parx's memory.
pub struct Reorder {
    next: u64,
    gaps: Gaps,
    waiting: BTreeMap<u64, Captured>,
    memory: usize,
}

/// Sequence numbers no job will have in this run, so that `-k` does not
/// wait for them: the jobs `--resume` skips, or every job but those
/// `--retry-failed` runs again.
#[derive(Debug, Clone, Default)]
pub enum Gaps {
    /// Every job runs.
    #[default]
    None,
    /// These jobs are skipped.
    Skipped(Arc<HashSet<u64>>),
    /// Only these jobs run (in ascending order).
    Only(Arc<[u64]>),
}

impl Gaps {
    /// The first sequence number from `seq` on that a job will have.
    fn next_from(&self, seq: u64) -> u64 {
        match self {
            Gaps::None => seq,
            Gaps::Skipped(skipped) => (seq..).find(|s| !skipped.contains(s)).unwrap_or(seq),
            Gaps::Only(seqs) => {
                let i = seqs.partition_point(|&s| s < seq);
                seqs.get(i).copied().unwrap_or(seq)
            }
        }
    }
}

impl Default for Reorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Reorder {
    /// Starts at sequence number 1.
    pub fn new() -> Self {
        Self::with_gaps(Gaps::None)
    }

    /// Starts at the first sequence number that is not a gap.
    pub fn with_gaps(gaps: Gaps) -> Self {
        Self {
            next: gaps.next_from(1),
            gaps,
            waiting: BTreeMap::new(),
            memory: 0,
        }
    }

    /// Adds job `seq`'s output and returns the outputs now due, in order.
    pub fn push(
        &mut self,
        seq: u64,
        captured: Captured,
        tmpdir: &Path,
    ) -> Result<Vec<Captured>, SpillError> {
        self.memory += captured.memory_len();
        self.waiting.insert(seq, captured);
        let mut due = Vec::new();
        while let Some(c) = self.waiting.remove(&self.next) {
            self.memory -= c.memory_len();
            due.push(c);
            self.next = self.gaps.next_from(self.next + 1);
        }
        while self.memory > REORDER_MEMORY_BYTES {
            let Some(biggest) = self.waiting.values_mut().max_by_key(|c| c.memory_len()) else {
                break;
            };
            let before = biggest.memory_len();
            if before == 0 {
                break;
            }
            biggest.out.spill(tmpdir)?;
            biggest.err.spill(tmpdir)?;
            self.memory -= before;
        }
        Ok(due)
    }

    /// Outputs still waiting (at the end, when earlier jobs never ran).
    pub fn drain(&mut self) -> Vec<Captured> {
        self.memory = 0;
        std::mem::take(&mut self.waiting).into_values().collect()
    }
}

/// `--line-buffer`: passes on complete lines of one stream as they arrive,
/// holding back a partial last line (spilled past a budget, never split).
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Spool,
    partial_len: usize,
}

impl LineSplitter {
    /// Takes a chunk of the job's stream; writes any complete lines with
    /// `write(stream, bytes)` under the terminal lock.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        terminal: &Terminal,
        to_stderr: bool,
        tag: Option<&[u8]>,
        tmpdir: &Path,
    ) -> Result<(), LineError> {
        let Some(last_newline) = chunk.iter().rposition(|&b| b == b'\n') else {
            self.partial_len += chunk.len();
            return self
                .partial
                .append(chunk, JOB_MEMORY_BYTES, tmpdir)
                .map_err(LineError::Spill);
        };
        self.emit(&chunk[..=last_newline], terminal, to_stderr, tag)
            .map_err(LineError::Write)?;
        self.partial
            .append(&chunk[last_newline + 1..], JOB_MEMORY_BYTES, tmpdir)
            .map_err(LineError::Spill)?;
        self.partial_len = chunk.len() - last_newline - 1;
        Ok(())
    }

    /// Writes what is left at the end of the stream.
    pub fn finish(
        &mut self,
        terminal: &Terminal,
        to_stderr: bool,
        tag: Option<&[u8]>,
    ) -> Result<(), LineError> {
        if self.partial_len == 0 {
            return Ok(());
        }
        self.emit(&[], terminal, to_stderr, tag)
            .map_err(LineError::Write)
    }

    fn emit(
        &mut self,
        lines: &[u8],
        terminal: &Terminal,
        to_stderr: bool,
        tag: Option<&[u8]>,
    ) -> Result<(), WriteError> {
        let wrap = |e| {
            if to_stderr {
                WriteError::Stderr(e)
            } else {
                WriteError::Stdout(e)
            }
        };
        terminal.with_streams(|Streams { out, err }| {
            let sink = if to_stderr { err } else { out };
            match tag {
                None => {
                    self.partial.write_to(sink).map_err(wrap)?;
                    sink.write_all(lines).map_err(wrap)?;
                }
                Some(prefix) => {
                    let mut start = true;
                    self.partial
                        .write_tagged(sink, prefix, &mut start)
                        .map_err(wrap)?;
                    let mut buf = Vec::with_capacity(lines.len() + prefix.len() * 4);
                    tag_lines(lines, prefix, &mut start, &mut buf);
                    sink.write_all(&buf).map_err(wrap)?;
                }
            }
            Ok(())
        })?;
        self.partial.clear();
        self.partial_len = 0;
        Ok(())
    }
}

/// A failure in `--line-buffer` output.
#[derive(Debug)]
pub enum LineError {
    /// Writing to parx's stdout or stderr failed.
    Write(WriteError),
    /// A long partial line could not be spilled.
    Spill(SpillError),
}

/// A finished job on its way to the output thread.
pub struct Finished {
    /// Sequence number.
    pub seq: u64,
    /// How it went.
    pub outcome: Outcome,
    /// The shell command line, when the job log or `--halt` needs it.
    pub command: Vec<u8>,
    /// This job made `--halt ...,fail=1` stop parx: its status.
    pub halt_status: Option<i32>,
    /// `--halt`'s message about this job, printed after its output.
    pub halt_note: Option<String>,
    /// Its values, one per input source, when `--results` needs them.
    pub values: Vec<Vec<u8>>,
    /// The `-S` host it ran on (None: this machine).
    pub host: Option<String>,
}

/// Where the output thread puts finished jobs' output.
pub struct Destination<'a> {
    /// Grouped, in order, by line or ungrouped.
    pub mode: OutputMode,
    /// Where output spills.
    pub tmpdir: &'a Path,
    /// `--results DIR`: into files instead.
    pub results: Option<&'a Path>,
    /// `--results FILE.csv` (`.tsv`, `.json`): into one file instead.
    pub table: Option<crate::results::Table>,
    /// Jobs `-k` must not wait for.
    pub gaps: Gaps,
}

/// The output thread: writes finished jobs' output in `mode`'s order, logs
/// them, and counts failures for the exit status.
pub fn collect(
    Destination {
        mode,
        tmpdir,
        results,
        mut table,
        gaps,
    }: Destination<'_>,
    control: &Arc<Control>,
    terminal: &Terminal,
    mut log: Option<JobLog>,
    done: &mpsc::Receiver<Finished>,
) -> Tally {
    let mut tally = Tally::default();
    let mut reorder = Reorder::with_gaps(gaps);
    let tabled = table.is_some();
    let mut write = |mut captured: Captured| {
        if let (Some(row), Some(table)) = (captured.row.take(), table.as_mut()) {
            if let Err(err) = table.record(&row.entry, &row.values, &mut captured) {
                if err.kind() == std::io::ErrorKind::BrokenPipe {
                    stop_on_output_error(&err, control, terminal);
                } else {
                    terminal.message(&format!(
                        "parx: --results: cannot write job {}'s record: {err}\n",
                        row.entry.seq
                    ));
                    control.stop(StopCause::OwnError);
                }
            }
            return;
        }
        if let Some(why) = captured.lost.take() {
            // Truncated output passed on as if whole would mislead whatever
            // reads it; the job already counts as failed.
            terminal.message(&format!("parx: the output of a job was dropped: {why}\n"));
            return;
        }
        if matches!(
            control.cause(),
            Some(StopCause::BrokenPipe | StopCause::OwnError)
        ) {
            return; // stdout is gone: drop what is left quietly
        }
        if let Err(WriteError::Stdout(err)) = captured.write_whole(terminal) {
            stop_on_output_error(&err, control, terminal);
        }
    };
    for Finished {
        seq,
        outcome,
        command,
        halt_status,
        halt_note,
        values,
        host,
    } in done
    {
        let row = Row {
            entry: joblog::Entry {
                seq,
                started: outcome.started,
                runtime: outcome.runtime,
                sent: outcome.input_sent,
                received: outcome.stdout_bytes,
                status: outcome.status,
                timed_out: outcome.timed_out,
                unread: outcome.input_unread > 0,
                command,
                host,
            },
            values,
        };
        // A job killed because parx was stopping is neither logged nor
        // printed nor counted, as GNU parallel: `--resume` runs it again.
        if outcome.stopped {
            continue;
        }
        let failed = outcome.is_failure();
        if failed {
            tally.failed += 1;
        }
        tally.halt_status = tally.halt_status.or(halt_status);
        #[cfg(feature = "cli")]
        if let Some(bar) = terminal.progress() {
            crate::progress::job_done(bar, tally.failed);
        }
        // Formatted now: the row may go with the output.
        let log_line = log.is_some().then(|| joblog::format_line(&row.entry));
        match (results, outcome.captured) {
            (_, None) => {}
            (_, Some(mut captured)) if tabled => {
                let keep_order = mode == OutputMode::KeepOrder;
                captured.row = Some(Box::new(row));
                if keep_order {
                    match reorder.push(seq, captured, tmpdir) {
                        Ok(due) => due.into_iter().for_each(&mut write),
                        Err(err) => terminal.message(&format!("parx: {err}\n")),
                    }
                } else {
                    write(captured);
                }
            }
            (Some(root), Some(mut captured)) => {
                if let Err(err) = crate::results::save(root, &row.values, seq, &mut captured) {
                    terminal.message(&format!(
                        "parx: --results: cannot save job {seq} under {}: {err}\n",
                        root.display()
                    ));
                    if !failed {
                        tally.failed += 1;
                    }
                }
            }
            (None, Some(captured)) => match mode {
                OutputMode::KeepOrder => match reorder.push(seq, captured, tmpdir) {
                    Ok(due) => due.into_iter().for_each(&mut write),
                    Err(err) => terminal.message(&format!("parx: {err}\n")),
                },
                OutputMode::Group => write(captured),
                OutputMode::LineBuffer | OutputMode::Ungroup => {
                    if let Some(why) = captured.lost {
                        terminal.message(&format!(
                            "parx: part of a job's output was dropped: {why}\n"
                        ));
                    }
                }
            },
        }
        if let Some(note) = halt_note {
            terminal.message(&note);
        }
        // After the output, so `--joblog -` follows each job's output on
        // stdout as GNU parallel's does.
        if let (Some(log), Some(line)) = (log.as_mut(), log_line) {
            if let Err(err) = log.write_line(&line) {
                terminal.message(&format!("parx: {err}\n"));
                control.stop(StopCause::OwnError);
            }
        }
    }
    // Jobs that never ran (parx stopped) leave gaps; flush what was collected.
    reorder.drain().into_iter().for_each(&mut write);
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_every_line_once() {
        let mut out = Vec::new();
        let mut start = true;
        tag_lines(b"a\nb", b"T\t", &mut start, &mut out);
        tag_lines(b"c\n\n", b"T\t", &mut start, &mut out);
        assert_eq!(out, b"T\ta\nT\tbc\nT\t\n");
    }

    #[test]
    fn spool_spills_past_its_budget_and_keeps_every_byte() {
        let dir = std::env::temp_dir();
        let mut spool = Spool::default();
        spool.append(b"hello ", 8, &dir).unwrap();
        assert_eq!(spool.memory_len(), 6);
        spool.append(b"world", 8, &dir).unwrap();
        assert_eq!(spool.memory_len(), 0);
        let mut sink = tempfile::tempfile().unwrap();
        spool.write_to(&mut sink).unwrap();
        sink.seek(SeekFrom::Start(0)).unwrap();
        let mut text = String::new();
        sink.read_to_string(&mut text).unwrap();
        assert_eq!(text, "hello world");
    }

    #[test]
    fn reorder_releases_in_sequence() {
        let dir = std::env::temp_dir();
        let mut r = Reorder::new();
        let job = |s: &str| {
            let mut c = Captured::default();
            c.out.append(s.as_bytes(), 100, &dir).unwrap();
            c
        };
        assert!(r.push(3, job("c"), &dir).unwrap().is_empty());
        assert!(r.push(2, job("b"), &dir).unwrap().is_empty());
        let due = r.push(1, job("a"), &dir).unwrap();
        let texts: Vec<_> = due.iter().map(|c| c.out.memory.clone()).collect();
        assert_eq!(texts, [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn reorder_does_not_wait_for_gaps() {
        let dir = std::env::temp_dir();
        let job = |s: &str| {
            let mut c = Captured::default();
            c.out.append(s.as_bytes(), 100, &dir).unwrap();
            c
        };
        let text = |due: Vec<Captured>| -> Vec<Vec<u8>> {
            due.into_iter().map(|c| c.out.memory).collect()
        };
        // --resume skipped 1 and 3.
        let mut r = Reorder::with_gaps(Gaps::Skipped(Arc::new(HashSet::from([1, 3]))));
        assert!(r.push(4, job("d"), &dir).unwrap().is_empty());
        assert_eq!(
            text(r.push(2, job("b"), &dir).unwrap()),
            [b"b".to_vec(), b"d".to_vec()]
        );
        // --retry-failed runs 2, 5 and 9 only.
        let mut r = Reorder::with_gaps(Gaps::Only(Arc::from([2, 5, 9])));
        assert!(r.push(5, job("e"), &dir).unwrap().is_empty());
        assert_eq!(
            text(r.push(2, job("b"), &dir).unwrap()),
            [b"b".to_vec(), b"e".to_vec()]
        );
        assert_eq!(text(r.push(9, job("i"), &dir).unwrap()), [b"i".to_vec()]);
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn reorder_output_order_is_input_order(order in Just((1..40u64).collect::<Vec<_>>()).prop_shuffle()) {
            let dir = std::env::temp_dir();
            let mut r = Reorder::new();
            let mut seen = Vec::new();
            for seq in order {
                let mut c = Captured::default();
                c.out.append(seq.to_string().as_bytes(), 100, &dir).unwrap();
                for d in r.push(seq, c, &dir).unwrap() {
                    seen.push(String::from_utf8(d.out.memory).unwrap().parse::<u64>().unwrap());
                }
            }
            prop_assert_eq!(seen, (1..40).collect::<Vec<_>>());
        }
    }
}
