//! `--pipe`: one input stream cut into blocks, each block the stdin of one
//! job.
//!
//! The cutting is GNU parallel's, so the same input gives the same blocks
//! (and `-k` output) as `parallel --pipe`: the buffer is topped up to a
//! multiple of `--block` bytes, then cut after the last place where a
//! record ends (`--recend`, default a newline) and the next one starts
//! (`--recstart`); the rest waits for the next block. A record longer than
//! the block grows the block (by 1.3, with a warning) rather than being
//! split. With `-N`, blocks hold exactly N records instead. `--header`
//! lines are read once and put before every block.
//!
//! Memory: the buffer holds one block; each queued or running job holds
//! its own, so parx needs about (slots + 2) × the block size.
//!
//! A regular file (`parx --pipe ... < FILE`, or `-a FILE`) is cut in place
//! instead, when the cut can be found from a block's last bytes (a
//! `--recend`/`--recstart` string, blocks by size): parx reads only the few
//! bytes before each cut, and every block is a range of the file that goes
//! to its job inside the kernel (splice), as `--pipe-part`'s parts do. The
//! blocks are the same as when the file is read through a pipe.

use std::io::Read;
use std::sync::Arc;

use crate::batch::Job;
use crate::input::InputError;

mod records;
pub use records::{Header, HeaderRegex, RegexSeparator, Separator};

/// How `--pipe` cuts its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeSpec {
    /// `--block`: bytes per block (a record never is split).
    pub block: usize,
    /// `--recend` and `--recstart`.
    pub separator: Separator,
    /// `-N`: records per job instead of a size.
    pub records: Option<usize>,
    /// `--header`: the top of the input to repeat on every block.
    pub header: Header,
    /// `--pipe-part`: split `-a` files in place, with this `--block`.
    pub part: Option<BlockSize>,
}

/// A job's stdin under `--pipe`: the header, then the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// `--header` lines, shared by every block.
    pub header: Arc<Vec<u8>>,
    /// The records.
    pub body: Body,
}

/// The buffer of a finished block, kept for the next block read: that one
/// then reuses memory already there instead of asking malloc for more
/// (freed blocks of several MiB stay in the heap, where small allocations
/// split them). With the hand-to-hand queue for `--pipe`, `cat 300MB |
/// parx -j2 --pipe --block 8M wc -l` peaks at 46 MiB instead of 54 (of
/// six runs each, one at 38 and 46 before). At most one is kept.
static SPARE: std::sync::Mutex<Option<Vec<u8>>> = std::sync::Mutex::new(None);

/// Gives the buffer of a finished job's block back for the next block to
/// be read (`--pipe` from a pipe); other blocks are simply dropped.
pub fn recycle(block: Block) {
    if let Body::Bytes(mut bytes) = block.body {
        if bytes.capacity() >= RECYCLED_BYTES {
            bytes.clear();
            let mut spare = SPARE
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // (Keep the bigger one.)
            if spare
                .as_ref()
                .map_or(true, |s| s.capacity() < bytes.capacity())
            {
                *spare = Some(bytes);
            }
        }
    }
}

/// Blocks smaller than this come and go through malloc as they are.
const RECYCLED_BYTES: usize = 1 << 20;

/// An empty buffer of at least `capacity` bytes: a recycled one if it is
/// big enough (and the block is one of those recycled).
fn spare_buffer(capacity: usize) -> Vec<u8> {
    let recycled = SPARE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take_if(|s| capacity >= RECYCLED_BYTES && s.capacity() >= capacity);
    recycled.unwrap_or_else(|| Vec::with_capacity(capacity))
}

/// A block's records: read into memory (`--pipe`), or a range of a file
/// that parx never reads itself (`--pipe-part`).
#[derive(Debug, Clone)]
pub enum Body {
    /// Bytes read from the input.
    Bytes(Vec<u8>),
    /// `--round-robin`: the blocks of one stream, shared by a few
    /// long-lived jobs; each takes the next block when done with one.
    Stream(Arc<BlockStream>),
    /// `len` bytes of `file` from `start`.
    Range {
        /// The file, opened once for every part.
        file: Arc<std::fs::File>,
        /// Where the part starts.
        start: u64,
        /// Its length.
        len: u64,
    },
}

impl PartialEq for Body {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Body::Bytes(a), Body::Bytes(b)) => a == b,
            (
                Body::Range { file, start, len },
                Body::Range {
                    file: f2,
                    start: s2,
                    len: l2,
                },
            ) => Arc::ptr_eq(file, f2) && start == s2 && len == l2,
            (Body::Stream(a), Body::Stream(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for Body {}

/// `--round-robin`'s blocks, in a bounded channel from the input thread to
/// the jobs that share them.
#[derive(Debug)]
pub struct BlockStream {
    blocks: std::sync::Mutex<std::sync::mpsc::Receiver<Vec<u8>>>,
}

/// What [`BlockStream::try_next`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// A block.
    Block(Vec<u8>),
    /// None yet: look again soon.
    Wait,
    /// The input is used up.
    End,
}

impl BlockStream {
    /// A stream and the sender that fills it, holding up to `bound` blocks.
    pub fn new(bound: usize) -> (Arc<Self>, std::sync::mpsc::SyncSender<Vec<u8>>) {
        let (tx, rx) = std::sync::mpsc::sync_channel(bound);
        (
            Arc::new(Self {
                blocks: std::sync::Mutex::new(rx),
            }),
            tx,
        )
    }

    /// The next block, without waiting.
    pub fn try_next(&self) -> Next {
        let rx = self
            .blocks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match rx.try_recv() {
            Ok(block) => Next::Block(block),
            Err(std::sync::mpsc::TryRecvError::Empty) => Next::Wait,
            Err(std::sync::mpsc::TryRecvError::Disconnected) => Next::End,
        }
    }
}

impl Body {
    /// Its size in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::Range { len, .. } => *len,
            Body::Stream(_) => 0,
        }
    }

    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The size parx asks for when its input is a pipe (Linux lets any
/// process have pipes of up to 1 MiB).
const STDIN_PIPE_BYTES: usize = 1 << 20;

/// GNU parallel's cap on a grown block (2 GiB less one byte).
const MAX_BLOCK: usize = (1 << 31) - 1;

/// Cuts an input stream into jobs.
pub struct Chunker {
    input: Box<dyn Read + Send>,
    /// Set when the input is a regular file cut in place.
    in_place: Option<InPlace>,
    name: String,
    spec: PipeSpec,
    block: usize,
    buf: Vec<u8>,
    header: Option<Arc<Vec<u8>>>,
    eof: bool,
    done: bool,
    /// `-N --regexp`: input before the first record was looked for.
    garbage_checked: bool,
    ready: std::collections::VecDeque<Body>,
    next_seq: u64,
    /// Warnings for the caller to print (a grown block).
    pub warnings: Vec<String>,
}

/// A regular file cut in place: what GNU parallel's buffer would hold is
/// the file's bytes `start..head`, which parx never reads but near a cut.
struct InPlace {
    file: Arc<std::fs::File>,
    /// `(start, head, searched)`: where the next block starts, how far the
    /// buffer reaches, and below where (and after `start`) no cut can be,
    /// so a grown buffer is searched only where it grew. Set from the
    /// file's offset once the header is read.
    span: Option<(u64, u64, u64)>,
    /// The bytes looked at before a cut.
    window: Vec<u8>,
}

impl Chunker {
    /// A chunker of `input`, called `name` in messages.
    pub fn new(input: Box<dyn Read + Send>, name: String, spec: PipeSpec) -> Self {
        Self {
            input,
            name,
            in_place: None,
            block: spec.block.max(1),
            spec,
            buf: Vec::new(),
            header: None,
            eof: false,
            done: false,
            garbage_checked: false,
            ready: std::collections::VecDeque::new(),
            next_seq: 1,
            warnings: Vec::new(),
        }
    }

    /// A chunker of `file` (parx's stdin or `-a FILE`), called `name` in
    /// messages. A regular file is cut in place when `in_place` allows it
    /// (`--round-robin` needs the bytes) and the cut can be found from the
    /// bytes before it: not with `-N` (records are counted from the start)
    /// nor `--regexp` (a match may reach back anywhere). A file that says
    /// it is empty or has no blocks on disk (/proc, /sys: their size is not
    /// what reading them gives) is read as a stream.
    pub fn for_file(file: std::fs::File, name: String, spec: PipeSpec, in_place: bool) -> Self {
        use std::os::unix::fs::MetadataExt;
        let cut_in_place = in_place
            && spec.records.is_none()
            && matches!(spec.separator, Separator::Literal { .. })
            && file
                .metadata()
                .is_ok_and(|m| m.is_file() && m.len() > 0 && m.blocks() > 0);
        if cut_in_place {
            // The header is read through a second descriptor of the same
            // open file: it moves the offset the in-place cutting starts at.
            if let Ok(reader) = file.try_clone() {
                let mut chunker = Self::new(Box::new(reader), name, spec);
                chunker.in_place = Some(InPlace {
                    file: Arc::new(file),
                    span: None,
                    window: Vec::new(),
                });
                return chunker;
            }
        }
        // A pipe: a bigger one lets the writer run ahead and parx read in
        // larger pieces, with a third of the context switches (measured
        // with 1 MiB blocks). Failure (over the user's pipe memory limit)
        // keeps the size it has.
        use std::os::unix::fs::FileTypeExt;
        if file.metadata().is_ok_and(|m| m.file_type().is_fifo()) {
            let _ = crate::sys::grow_pipe(std::os::fd::AsFd::as_fd(&file), STDIN_PIPE_BYTES);
        }
        Self::new(Box::new(file), name, spec)
    }

    /// The next job, with its block; None at the end of input.
    pub fn next_job(&mut self) -> Result<Option<Job>, InputError> {
        if self.header.is_none() {
            self.header = Some(Arc::new(self.read_header()?));
        }
        loop {
            if let Some(body) = self.ready.pop_front() {
                let seq = self.next_seq;
                self.next_seq += 1;
                let header = Arc::clone(self.header.as_ref().expect("read above"));
                return Ok(Some(Job {
                    seq,
                    args: crate::input::Values::new(),
                    input: Some(Block { header, body }),
                }));
            }
            if self.done {
                return Ok(None);
            }
            if self.in_place.is_some() {
                self.cut_in_place()?;
                continue;
            }
            self.read_block()?;
            let written = match self.spec.records {
                Some(n) => self.cut_records(n),
                None => self.cut_last(),
            };
            if self.eof {
                // What is left is the last block, whatever its size.
                let rest = std::mem::take(&mut self.buf);
                if !rest.is_empty() {
                    self.ready.push_back(Body::Bytes(rest));
                }
                self.done = true;
            } else if !written {
                self.grow_block();
            }
        }
    }

    /// A record longer than the block: the block grows by 1.3 (GNU
    /// parallel's factor), up to [`MAX_BLOCK`].
    fn grow_block(&mut self) {
        if self.block >= MAX_BLOCK {
            return;
        }
        let grown = ((self.block as f64 * 1.3 + 1.0).ceil() as usize).min(MAX_BLOCK);
        self.warnings.push(format!(
            "a record was longer than {} bytes; increasing --block to {grown}",
            self.block
        ));
        self.block = grown;
    }

    /// One step of [`Chunker::next_job`] on a file cut in place, as
    /// `read_block` and `cut_last` would take it: "reads" the buffer up to
    /// a multiple of the block (moves `head`, reading nothing), then cuts
    /// after the last record end, looked for backwards from `head`.
    fn cut_in_place(&mut self) -> Result<(), InputError> {
        let error = |source| InputError {
            what: self.name.clone(),
            source,
        };
        let place = self.in_place.as_mut().expect("cutting in place");
        let (start, head, searched) = match place.span {
            Some(span) => span,
            None => {
                // The header (if any) was read through the file's offset;
                // what was read after it is the start of the buffer.
                use std::io::Seek;
                let head = (&*place.file).stream_position().map_err(error)?;
                let start = head.saturating_sub(self.buf.len() as u64);
                self.buf = Vec::new();
                (start, head, start)
            }
        };
        let size = place.file.metadata().map_err(error)?.len();
        let block = self.block as u64;
        let want = block - (head - start) % block;
        let new_head = (head + want).min(size.max(head));
        if new_head - head < want {
            // The end of the input: the rest is the last block. The offset
            // is left where reading the file would have left it.
            use std::io::Seek;
            if new_head > start {
                self.ready.push_back(Body::Range {
                    file: Arc::clone(&place.file),
                    start,
                    len: new_head - start,
                });
            }
            self.done = true;
            let _ = (&*place.file).seek(std::io::SeekFrom::Start(new_head));
            return Ok(());
        }
        let Separator::Literal { recend, recstart } = &self.spec.separator else {
            unreachable!("for_file cuts in place only at literal separators");
        };
        let cut = if recend.is_empty() && recstart.is_empty() {
            Some(new_head)
        } else {
            let sep = [&recend[..], &recstart[..]].concat();
            let from = searched.saturating_sub(sep.len() as u64 - 1).max(start);
            rfind_in_file(&place.file, from, new_head, &sep, &mut place.window)
                .map_err(error)?
                .map(|at| at + recend.len() as u64)
        };
        match cut.filter(|&cut| cut > start) {
            Some(cut) => {
                self.ready.push_back(Body::Range {
                    file: Arc::clone(&place.file),
                    start,
                    len: cut - start,
                });
                place.span = Some((cut, new_head, new_head));
            }
            None => {
                place.span = Some((start, new_head, new_head));
                self.grow_block();
            }
        }
        Ok(())
    }

    /// Tops the buffer up to a multiple of the block size (or to the end of
    /// the input), as GNU parallel does.
    fn read_block(&mut self) -> Result<(), InputError> {
        let want = self.block - self.buf.len() % self.block;
        self.buf.reserve(want);
        // read_to_end on a Take reads straight into the spare capacity,
        // without zeroing it first, and retries on EINTR.
        let got = (&mut self.input)
            .take(want as u64)
            .read_to_end(&mut self.buf)
            .map_err(|e| self.error(e))?;
        if got < want {
            self.eof = true;
        }
        Ok(())
    }

    fn error(&self, source: std::io::Error) -> InputError {
        InputError {
            what: self.name.clone(),
            source,
        }
    }

    /// Cuts the buffer after the last record boundary; false when there is
    /// none (the record is longer than the buffer). Not at the end of input:
    /// then the whole rest is one block.
    fn cut_last(&mut self) -> bool {
        if self.eof {
            return false;
        }
        let Some(end) = self.spec.separator.last_cut(&self.buf) else {
            return false;
        };
        let mut rest = spare_buffer(self.block.max(self.buf.len() - end));
        rest.extend_from_slice(&self.buf[end..]);
        self.buf.truncate(end);
        let block = std::mem::replace(&mut self.buf, rest);
        self.ready.push_back(Body::Bytes(block));
        true
    }

    /// `-N`: blocks of exactly `n` records while the buffer holds them.
    fn cut_records(&mut self, n: usize) -> bool {
        let mut start = 0;
        let mut written = false;
        if !self.garbage_checked {
            self.garbage_checked = true;
            if let Some(len) = self.spec.separator.leading_garbage(&self.buf) {
                self.ready.push_back(Body::Bytes(self.buf[..len].to_vec()));
                written = true;
                start = len;
            }
        }
        // Each search starts where the last block ended, as if the buffer
        // began there (GNU parallel removes each block from its buffer).
        while let Some(len) = self.spec.separator.records(&self.buf[start..], n) {
            self.ready
                .push_back(Body::Bytes(self.buf[start..start + len].to_vec()));
            written = true;
            start += len;
        }
        self.buf.drain(..start);
        written
    }

    /// `--header`, read before any block. GNU parallel reads a block at a
    /// time and looks for the header after each read; so does parx, which
    /// matters only for a regular expression that matches more the more
    /// it is given. No header found by the end of the input: none.
    fn read_header(&mut self) -> Result<Vec<u8>, InputError> {
        if self.spec.header.is_none() {
            return Ok(Vec::new());
        }
        loop {
            let before = self.buf.len();
            self.read_block()?;
            if self.buf.len() == before {
                return Ok(Vec::new());
            }
            if let Some(len) = self.spec.header.find(&self.buf) {
                let header = self.buf[..len].to_vec();
                self.buf.drain(..len);
                return Ok(header);
            }
        }
    }
}

/// The first window [`rfind_in_file`] reads: a line's end is near. Tiny
/// in unit tests, so that they walk back through many windows.
#[cfg(not(test))]
const FIRST_WINDOW_BYTES: u64 = 4096;
#[cfg(test)]
const FIRST_WINDOW_BYTES: u64 = 2;

/// Where the last `sep` (not empty) in the bytes `from..to` of `file`
/// starts: read backwards in windows from `to`, small first (a line's end
/// is near), each overlapping the last by `sep.len() - 1` bytes so that a
/// separator across two windows is seen.
fn rfind_in_file(
    file: &std::fs::File,
    from: u64,
    to: u64,
    sep: &[u8],
    window: &mut Vec<u8>,
) -> std::io::Result<Option<u64>> {
    use std::os::unix::fs::FileExt;
    let overlap = sep.len() as u64 - 1;
    let mut size = FIRST_WINDOW_BYTES.max(2 * sep.len() as u64);
    let mut end = to;
    while end >= from + sep.len() as u64 {
        let begin = end.saturating_sub(size).max(from);
        let len = usize::try_from(end - begin).expect("a window fits in memory");
        window.resize(len, 0);
        file.read_exact_at(&mut window[..len], begin)?;
        if let Some(i) = records::rfind(&window[..len], sep) {
            return Ok(Some(begin + i as u64));
        }
        if begin == from {
            break;
        }
        end = begin + overlap;
        size = (size * 2).min((1 << 20).max(2 * sep.len() as u64));
    }
    Ok(None)
}

/// `--fifo`: a named pipe in `dir` for one block, removed when the guard
/// is dropped.
pub fn make_fifo(dir: &std::path::Path) -> std::io::Result<tempfile::TempPath> {
    let named = tempfile::Builder::new()
        .prefix("parx")
        .make_in(dir, crate::sys::mkfifo)?;
    Ok(named.into_temp_path())
}

/// `--round-robin`: hands blocks to at most `slots` long-lived jobs, which
/// take them from one shared stream as they are ready. Each job gets the
/// header once, before its first block.
pub struct RoundRobin {
    slots: usize,
    started: u64,
    stream: Option<(Arc<BlockStream>, std::sync::mpsc::SyncSender<Vec<u8>>)>,
}

impl RoundRobin {
    /// Round-robin over `slots` jobs.
    pub fn new(slots: usize) -> Self {
        Self {
            slots: slots.max(1),
            started: 0,
            stream: None,
        }
    }

    /// Passes `block` on: starts another job (through `start`) while fewer
    /// than `slots` run, or when every job has ended; then waits until a job
    /// has room for the block. False when parx is stopping (`stopping`).
    pub fn dispatch(
        &mut self,
        block: Block,
        start: &mut dyn FnMut(Job) -> bool,
        stopping: &dyn Fn() -> bool,
    ) -> bool {
        let Body::Bytes(mut bytes) = block.body else {
            return true; // only --pipe's blocks come here
        };
        let slots = self.slots as u64;
        let (stream, sender) = self
            .stream
            .get_or_insert_with(|| BlockStream::new(1))
            .clone();
        loop {
            // The stream's own reference, and one per job still holding it.
            let jobs_alive = Arc::strong_count(&stream) > 1;
            if self.started < slots || !jobs_alive {
                self.started += 1;
                let job = Job {
                    seq: self.started,
                    args: crate::input::Values::new(),
                    input: Some(Block {
                        header: Arc::clone(&block.header),
                        body: Body::Stream(Arc::clone(&stream)),
                    }),
                };
                if !start(job) {
                    return false;
                }
            }
            match sender.try_send(bytes) {
                Ok(()) => return true,
                Err(std::sync::mpsc::TrySendError::Full(back)) => bytes = back,
                Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return false,
            }
            if stopping() {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

/// `--cat`: `block` (header included) written to a temporary file in
/// `dir`, removed when the returned guard is dropped.
pub fn to_temp_file(
    block: &Block,
    dir: &std::path::Path,
) -> std::io::Result<tempfile::NamedTempFile> {
    use std::io::Write;
    use std::os::unix::fs::FileExt;
    let mut file = tempfile::Builder::new().prefix("parx").tempfile_in(dir)?;
    file.write_all(&block.header)?;
    match &block.body {
        Body::Bytes(bytes) => file.write_all(bytes)?,
        Body::Stream(_) => {}
        Body::Range {
            file: source,
            start,
            len,
        } => {
            let mut buf = vec![0; (*len).min(1 << 20) as usize];
            let mut done = 0u64;
            while done < *len {
                let want = (*len - done).min(buf.len() as u64) as usize;
                let n = source.read_at(&mut buf[..want], start + done)?;
                if n == 0 {
                    break;
                }
                file.write_all(&buf[..n])?;
                done += n as u64;
            }
        }
    }
    file.flush()?;
    Ok(file)
}

/// `--pipe-part`: files split at record boundaries near every `--block`
/// bytes, each part the stdin of one job. parx reads only around the split
/// points; the parts go from the file to the jobs inside the kernel.
pub struct Parts {
    files: std::collections::VecDeque<std::path::PathBuf>,
    spec: PipeSpec,
    /// `--block` as given: bytes, or (negative) parts per slot.
    block: BlockSize,
    slots: usize,
    /// `--block -N`: the size of every file together, once looked up.
    total_size: Option<u64>,
    ready: std::collections::VecDeque<Block>,
    next_seq: u64,
}

/// `--block` for `--pipe-part`: a size, or GNU parallel's `-N`: split the
/// files into N parts per job slot (default 10), all of them together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockSize {
    /// Bytes.
    Bytes(usize),
    /// Parts per job slot.
    PerSlot(usize),
}

impl Parts {
    /// Parts of `files`, found lazily one file at a time.
    pub fn new(files: Vec<std::path::PathBuf>, spec: PipeSpec, slots: usize) -> Self {
        Self {
            files: files.into(),
            block: spec.part.unwrap_or(BlockSize::PerSlot(10)),
            spec,
            slots: slots.max(1),
            total_size: None,
            ready: std::collections::VecDeque::new(),
            next_seq: 1,
        }
    }

    /// The next job, with its part.
    pub fn next_job(&mut self) -> Result<Option<Job>, InputError> {
        while self.ready.is_empty() {
            let Some(path) = self.files.pop_front() else {
                return Ok(None);
            };
            let error = |source| InputError {
                what: path.display().to_string(),
                source,
            };
            let file = std::fs::File::open(&path).map_err(error)?;
            let meta = file.metadata().map_err(error)?;
            if !meta.is_file() {
                return Err(error(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "--pipe-part needs a regular file it can seek in, not a pipe or device",
                )));
            }
            let size = meta.len();
            let block = match self.block {
                BlockSize::Bytes(b) => b as u64,
                // GNU parallel: one block size from the files' total size.
                BlockSize::PerSlot(n) => {
                    let total = match self.total_size {
                        Some(total) => total,
                        None => {
                            let mut total = size;
                            for other in &self.files {
                                total += std::fs::metadata(other)
                                    .map_err(|source| InputError {
                                        what: other.display().to_string(),
                                        source,
                                    })?
                                    .len();
                            }
                            *self.total_size.insert(total)
                        }
                    };
                    1 + total / self.slots as u64 / n.max(1) as u64
                }
            };
            let file = Arc::new(file);
            let block = block.max(1);
            let header =
                Arc::new(read_header_at_start(&file, &self.spec.header, block).map_err(error)?);
            let cuts = split_points(
                &file,
                size,
                block,
                header.len() as u64,
                &self.spec.separator,
            )
            .map_err(error)?;
            for pair in cuts.windows(2) {
                self.ready.push_back(Block {
                    header: Arc::clone(&header),
                    body: Body::Range {
                        file: Arc::clone(&file),
                        start: pair[0],
                        len: pair[1] - pair[0],
                    },
                });
            }
        }
        let block = self.ready.pop_front().expect("not empty");
        let seq = self.next_seq;
        self.next_seq += 1;
        Ok(Some(Job {
            seq,
            args: crate::input::Values::new(),
            input: Some(block),
        }))
    }
}

/// `--header` at the start of `file` (not found: none). GNU parallel reads
/// the file `block` bytes at a time and looks for the header after each
/// read; a number of lines is found the same in any pieces, but a regular
/// expression that matches more the more it is given (`(#.*\n)*`) is
/// tried where GNU tries it, after each `block` bytes.
fn read_header_at_start(
    file: &std::fs::File,
    header: &Header,
    block: u64,
) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    if header.is_none() {
        return Ok(Vec::new());
    }
    let step = if header.is_lines() { 64 * 1024 } else { block };
    let mut buf = Vec::new();
    let mut chunk = vec![0; step.min(1 << 20) as usize];
    loop {
        let target = buf.len() as u64 + step;
        let before = buf.len();
        while (buf.len() as u64) < target {
            let want = (target - buf.len() as u64).min(chunk.len() as u64) as usize;
            let n = file.read_at(&mut chunk[..want], buf.len() as u64)?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        if buf.len() == before {
            return Ok(Vec::new());
        }
        if let Some(len) = header.find(&buf) {
            buf.truncate(len);
            return Ok(buf);
        }
    }
}

/// GNU parallel's split points: from `skip`, every `block` bytes, moved on
/// to the next cut that `separator` finds in the bytes from there (read
/// 128 KiB at a time, as GNU does, and looked at after each read); the
/// last point is the file's end.
fn split_points(
    file: &std::fs::File,
    size: u64,
    block: u64,
    skip: u64,
    separator: &Separator,
) -> std::io::Result<Vec<u64>> {
    use std::os::unix::fs::FileExt;
    let mut points = vec![skip];
    let mut pos = block + skip;
    let mut chunk = vec![0; 128 * 1024];
    while pos < size {
        if separator.is_anywhere() {
            points.push(pos);
        } else {
            let mut buf = Vec::new();
            loop {
                let n = file.read_at(&mut chunk, pos + buf.len() as u64)?;
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = separator.part_cut(&buf) {
                    pos += i as u64;
                    points.push(pos);
                    break;
                }
            }
        }
        pos += block;
    }
    if points.last() != Some(&size) {
        points.push(size);
    }
    Ok(points)
}

/// `--recend`/`--recstart`: the escapes GNU parallel reads in them
/// (`\n \r \t \0 \' \" \\`); anything else stays as written.
pub fn unescape(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'\\' && i + 1 < text.len() {
            let c = match text[i + 1] {
                b'n' => Some(b'\n'),
                b'r' => Some(b'\r'),
                b't' => Some(b'\t'),
                b'0' => Some(0),
                b'\'' => Some(b'\''),
                b'"' => Some(b'"'),
                b'\\' => Some(b'\\'),
                _ => None,
            };
            if let Some(c) = c {
                out.push(c);
                i += 2;
                continue;
            }
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_block_is_the_next_ones_buffer() {
        let bytes = Vec::with_capacity(2 << 20);
        let at = bytes.as_ptr();
        recycle(Block {
            header: Arc::new(Vec::new()),
            body: Body::Bytes(bytes),
        });
        // Too big a request gets a buffer of its own, and leaves the spare.
        assert!(spare_buffer(4 << 20).capacity() >= 4 << 20);
        let reused = spare_buffer(1 << 20);
        assert_eq!(reused.as_ptr(), at);
        assert!(reused.is_empty());
        // Small buffers are not kept, nor given out.
        recycle(Block {
            header: Arc::new(Vec::new()),
            body: Body::Bytes(Vec::with_capacity(100)),
        });
        assert!(SPARE.lock().expect("lock").is_none());
    }

    fn spec(block: usize) -> PipeSpec {
        PipeSpec {
            block,
            separator: Separator::Literal {
                recend: b"\n".to_vec(),
                recstart: Vec::new(),
            },
            records: None,
            header: Header::None,
            part: None,
        }
    }

    fn blocks(input: &str, spec: PipeSpec) -> Vec<String> {
        let mut c = Chunker::new(
            Box::new(std::io::Cursor::new(input.as_bytes().to_vec())),
            "-".into(),
            spec,
        );
        let mut out = Vec::new();
        while let Some(job) = c.next_job().unwrap() {
            let b = job.input.unwrap();
            let Body::Bytes(body) = b.body else { panic!() };
            out.push(format!(
                "{}{}",
                String::from_utf8_lossy(&b.header),
                String::from_utf8_lossy(&body)
            ));
        }
        out
    }

    #[test]
    fn cuts_after_the_last_record_in_each_block() {
        // Blocks of 10 bytes: "1\n22\n333\n4" is cut after "333\n"; "4"
        // is topped up to "4444\n5555" and cut after "4444\n"; at the end
        // of input the rest is the last block.
        let got = blocks("1\n22\n333\n4444\n55555\n", spec(10));
        assert_eq!(got, ["1\n22\n333\n", "4444\n", "55555\n"]);
    }

    #[test]
    fn a_record_longer_than_the_block_grows_it() {
        let mut c = Chunker::new(
            Box::new(std::io::Cursor::new(b"abcdefghij\nk\n".to_vec())),
            "-".into(),
            spec(4),
        );
        let Body::Bytes(first) = c.next_job().unwrap().unwrap().input.unwrap().body else {
            panic!()
        };
        assert!(first.starts_with(b"abcdefghij\n"), "{first:?}");
        assert!(!c.warnings.is_empty());
    }

    #[test]
    fn records_per_job_and_headers() {
        let mut s = spec(1 << 20);
        s.records = Some(2);
        s.header = Header::Lines(1);
        let got = blocks("h\na\nb\nc\nd\ne\n", s);
        assert_eq!(got, ["h\na\nb\n", "h\nc\nd\n", "h\ne\n"]);
    }

    #[test]
    fn recstart_splits_before_a_record_start() {
        let mut s = spec(8);
        s.separator = Separator::Literal {
            recend: Vec::new(),
            recstart: b">".to_vec(),
        };
        let got = blocks(">a\nb\n>c\nd\n>e\n", s);
        assert_eq!(got, [">a\nb\n", ">c\nd\n", ">e\n"]);
    }

    #[test]
    fn regexp_records_and_a_header_regex() {
        let mut s = spec(1 << 20);
        s.separator = Separator::regex(r"\n", ">").unwrap();
        s.records = Some(2);
        s.header = Header::parse(r"(#.*\n)*").unwrap();
        // The header, then the input before the first record on its own,
        // then two records a block.
        let got = blocks("#h\njunk\n>a\n>b\n>c\n", s);
        assert_eq!(got, ["#h\njunk\n", "#h\n>a\n>b\n", "#h\n>c\n"]);
    }

    #[test]
    fn a_header_regex_that_never_matches_is_no_header() {
        let mut s = spec(4);
        s.header = Header::parse("zz").unwrap();
        assert_eq!(blocks("a\nb\nc\n", s), ["a\nb\nc\n"]);
    }

    fn chunks(input: &[u8], spec: PipeSpec) -> Vec<Vec<u8>> {
        let mut c = Chunker::new(
            Box::new(std::io::Cursor::new(input.to_vec())),
            "-".into(),
            spec,
        );
        let mut out = Vec::new();
        while let Some(job) = c.next_job().unwrap() {
            let Body::Bytes(body) = job.input.unwrap().body else {
                panic!()
            };
            out.push(body);
        }
        out
    }

    proptest::proptest! {
        /// Whatever the input and block size, the blocks put together are
        /// the input, and every block but the last ends a record.
        #[test]
        fn blocks_rebuild_the_input(
            input in proptest::collection::vec(proptest::sample::select(vec![b'a', b'b', b'\n', 0, 0xff]), 0..300),
            block in 1usize..40,
        ) {
            let blocks = chunks(&input, spec(block));
            proptest::prop_assert_eq!(blocks.concat(), input);
            for b in blocks.iter().rev().skip(1) {
                proptest::prop_assert_eq!(b.last(), Some(&b'\n'));
            }
            proptest::prop_assert!(blocks.iter().all(|b| !b.is_empty()));
        }

        /// With -N, every block but the last holds exactly N records.
        #[test]
        fn records_per_block(
            lines in proptest::collection::vec("[a-c]{0,5}", 0..60),
            n in 1usize..7,
        ) {
            let input: Vec<u8> = lines.iter().flat_map(|l| format!("{l}\n").into_bytes()).collect();
            let mut s = spec(16);
            s.records = Some(n);
            let blocks = chunks(&input, s);
            proptest::prop_assert_eq!(blocks.concat(), input.clone());
            for b in blocks.iter().rev().skip(1) {
                // GNU parallel does not count a record end at a block's first byte.
                let ends = b.iter().skip(1).filter(|&&c| c == b'\n').count();
                proptest::prop_assert_eq!(ends, n);
            }
        }
    }

    /// Every block `chunker` makes, with its header, as bytes (a range of
    /// a file read from the file), and the warnings it gave.
    fn all_blocks(mut chunker: Chunker) -> (Vec<Vec<u8>>, Vec<String>) {
        use std::os::unix::fs::FileExt;
        let mut out = Vec::new();
        while let Some(job) = chunker.next_job().unwrap() {
            let block = job.input.unwrap();
            let mut bytes = block.header.to_vec();
            match &block.body {
                Body::Bytes(b) => bytes.extend_from_slice(b),
                Body::Range { file, start, len } => {
                    let mut part = vec![0; usize::try_from(*len).unwrap()];
                    file.read_exact_at(&mut part, *start).unwrap();
                    bytes.extend_from_slice(&part);
                }
                Body::Stream(_) => panic!("no stream here"),
            }
            out.push(bytes);
        }
        (out, chunker.warnings)
    }

    /// A chunker of `input` as a regular file, read `skip` bytes into it.
    fn of_file(input: &[u8], skip: usize, spec: PipeSpec) -> (Chunker, std::fs::File) {
        use std::io::{Seek, Write};
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(input).unwrap();
        file.seek(std::io::SeekFrom::Start(skip as u64)).unwrap();
        let same = file.try_clone().unwrap();
        (Chunker::for_file(file, "f".into(), spec, true), same)
    }

    #[test]
    fn a_regular_file_is_cut_in_place() {
        let (c, _) = of_file(b"1\n22\n333\n4444\n55555\n", 0, spec(10));
        assert!(c.in_place.is_some());
        let (blocks, _) = all_blocks(c);
        assert_eq!(blocks, [&b"1\n22\n333\n"[..], b"4444\n", b"55555\n"]);
        // Not with -N (records are counted from the start of the input).
        let mut s = spec(10);
        s.records = Some(1);
        assert!(of_file(b"a\n", 0, s).0.in_place.is_none());
        // Not an empty file (or /proc's, which say they are).
        assert!(of_file(b"", 0, spec(10)).0.in_place.is_none());
    }

    #[test]
    fn in_place_the_offset_is_where_it_starts_and_ends() {
        use std::io::Seek;
        let input = b"skip\na\nb\nc\n";
        let (c, mut file) = of_file(input, 5, spec(2));
        let (blocks, _) = all_blocks(c);
        assert_eq!(blocks.concat(), b"a\nb\nc\n");
        // As reading it would have left it: at the end.
        assert_eq!(file.stream_position().unwrap(), input.len() as u64);
    }

    proptest::proptest! {
        /// A regular file cut in place gives the blocks (and warnings) the
        /// same bytes read as a stream give, whatever the separator, the
        /// header and where the file's offset starts.
        #[test]
        fn in_place_blocks_are_the_streamed_blocks(
            input in proptest::collection::vec(proptest::sample::select(vec![b'a', b';', b'>', b'\n']), 0..400),
            block in 1usize..50,
            separator in proptest::sample::select(vec![("\n", ""), (";;", ""), ("", ">"), ("\n", ">"), ("a;a", ""), ("", "")]),
            header in 0usize..3,
            skip in 0usize..5,
        ) {
            let mut s = spec(block);
            s.separator = Separator::Literal {
                recend: separator.0.as_bytes().to_vec(),
                recstart: separator.1.as_bytes().to_vec(),
            };
            s.header = if header == 0 { Header::None } else { Header::Lines(header) };
            let skip = skip.min(input.len());
            let streamed = all_blocks(Chunker::new(
                Box::new(std::io::Cursor::new(input[skip..].to_vec())),
                "f".into(),
                s.clone(),
            ));
            let (chunker, _) = of_file(&input, skip, s);
            let in_place = all_blocks(chunker);
            proptest::prop_assert_eq!(in_place, streamed);
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(unescape(b"\\n\\t\\0x\\q"), b"\n\t\0x\\q");
    }
}
