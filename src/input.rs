//! Input: byte-exact records from stdin, files and `:::` arguments, and the
//! way several input sources combine into the argument tuples of jobs.
//!
//! Records are split on one delimiter byte and nothing else is touched: no
//! trimming, no `\r` removal, no UTF-8 validation. Reading is lazy: the first
//! input group streams (stdin of any length runs in constant memory), the
//! others are held in memory because the cartesian product repeats them.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Where one input source reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// Values given on the command line after `:::`.
    Args(Vec<OsString>),
    /// Records of a file (`-a FILE`, `:::: FILE`).
    File(PathBuf),
    /// Records of parx's standard input.
    Stdin,
}

impl SourceKind {
    /// Reads parx's standard input (no source, or `-` as a file).
    pub fn is_stdin(&self) -> bool {
        match self {
            SourceKind::Stdin => true,
            SourceKind::File(path) => path.as_os_str() == "-",
            SourceKind::Args(_) => false,
        }
    }
}

/// One input source and whether it is linked (`:::+`, `::::+`) to the one before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpec {
    /// What it reads.
    pub kind: SourceKind,
    /// Paired with the previous source instead of combined with it.
    pub linked: bool,
}

/// Errors while opening or reading an input source.
#[derive(Debug)]
pub struct InputError {
    /// The source, as the user named it.
    pub what: String,
    /// What went wrong.
    pub source: io::Error,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot read input {}: {}",
            self.what,
            crate::describe(&self.source)
        )
    }
}

impl std::error::Error for InputError {}

/// Values back to back in one buffer, and where each ends: the values of
/// one job, or inputs read ahead. A packed (`-X`) job holds hundreds of
/// thousands of short values; a buffer of their own each would cost more
/// memory than their bytes, and most of the time spent in malloc and free.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Values {
    /// No values.
    pub const fn new() -> Self {
        Self {
            bytes: Vec::new(),
            ends: Vec::new(),
        }
    }

    /// Appends one value.
    pub fn push(&mut self, value: &[u8]) {
        self.bytes.extend_from_slice(value);
        self.ends.push(self.bytes.len());
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True with no values.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Value `i`.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.as_args().get(i)
    }

    /// The values in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + Clone + '_ {
        self.as_args().iter()
    }

    /// Borrowed, as a template fills them in.
    pub fn as_args(&self) -> Args<'_> {
        Args::Packed {
            bytes: &self.bytes,
            ends: &self.ends,
        }
    }

    /// Keeps the first `n` values.
    pub fn truncate(&mut self, n: usize) {
        if n < self.ends.len() {
            self.ends.truncate(n);
            self.bytes.truncate(self.ends.last().copied().unwrap_or(0));
        }
    }

    /// Removes every value, keeping the buffers for reuse.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    /// Appends the values `from..to` of `other`.
    pub fn extend_from(&mut self, other: &Values, from: usize, to: usize) {
        if from >= to {
            return;
        }
        let start = if from == 0 { 0 } else { other.ends[from - 1] };
        let shift = self.bytes.len();
        self.bytes
            .extend_from_slice(&other.bytes[start..other.ends[to - 1]]);
        self.ends
            .extend(other.ends[from..to].iter().map(|&end| end - start + shift));
    }

    /// The bytes of every value back to back, and where each ends.
    pub(crate) fn into_parts(self) -> (Vec<u8>, Vec<usize>) {
        (self.bytes, self.ends)
    }

    /// Appends the next record of `reader` as a value; false at the end.
    fn push_record<R: Read>(&mut self, reader: &mut RecordReader<R>) -> io::Result<bool> {
        if !reader.append_record(&mut self.bytes)? {
            return Ok(false);
        }
        self.ends.push(self.bytes.len());
        Ok(true)
    }
}

impl<A: AsRef<[u8]>> FromIterator<A> for Values {
    fn from_iter<I: IntoIterator<Item = A>>(iter: I) -> Self {
        let mut values = Values::new();
        for value in iter {
            values.push(value.as_ref());
        }
        values
    }
}

/// A job's values as a template reads them: borrowed from a [`Values`], or
/// a single value (`-X` repeats a word once per value).
#[derive(Debug, Clone, Copy)]
pub enum Args<'a> {
    /// Values back to back, each ending where `ends` says.
    Packed {
        /// The values' bytes.
        bytes: &'a [u8],
        /// Where each value ends in `bytes`.
        ends: &'a [usize],
    },
    /// One value.
    One(&'a [u8]),
}

impl<'a> Args<'a> {
    /// No values at all.
    pub const NONE: Args<'static> = Args::Packed {
        bytes: &[],
        ends: &[],
    };

    /// The number of values.
    pub fn len(&self) -> usize {
        match self {
            Args::Packed { ends, .. } => ends.len(),
            Args::One(_) => 1,
        }
    }

    /// True with no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i`.
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        match *self {
            Args::Packed { bytes, ends } => {
                let end = *ends.get(i)?;
                let start = if i == 0 { 0 } else { ends[i - 1] };
                Some(&bytes[start..end])
            }
            Args::One(value) => (i == 0).then_some(value),
        }
    }

    /// The values in order.
    pub fn iter(self) -> impl Iterator<Item = &'a [u8]> + Clone {
        (0..self.len()).filter_map(move |i| self.get(i))
    }

    /// The values joined with `separator` between them.
    pub fn join(self, separator: u8) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, value) in self.iter().enumerate() {
            if i > 0 {
                out.push(separator);
            }
            out.extend_from_slice(value);
        }
        out
    }
}

/// Splits a byte stream into records at a delimiter byte.
///
/// The delimiter ends a record and is removed; a last record without a
/// delimiter is still a record; empty input has no records.
pub struct RecordReader<R> {
    inner: BufReader<R>,
    delimiter: u8,
}

impl<R: Read> RecordReader<R> {
    /// Reads records from `inner`, split at `delimiter`.
    pub fn new(inner: R, delimiter: u8) -> Self {
        Self {
            inner: BufReader::with_capacity(64 * 1024, inner),
            delimiter,
        }
    }

    /// The next record, without its delimiter, or `None` at the end of input.
    pub fn next_record(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut record = Vec::new();
        Ok(self.append_record(&mut record)?.then_some(record))
    }

    /// Appends the next record, without its delimiter, to `out` (no
    /// allocation of its own); false at the end of input.
    pub fn append_record(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        let start = out.len();
        let n = loop {
            match self.inner.read_until(self.delimiter, out) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        if n == 0 {
            return Ok(false);
        }
        if out.len() > start && out.last() == Some(&self.delimiter) {
            out.pop();
        }
        Ok(true)
    }
}

/// A source opened for reading: a stream of values.
enum Stream {
    Args(std::vec::IntoIter<OsString>),
    Records(RecordReader<Box<dyn Read + Send>>),
}

impl Stream {
    fn open(kind: &SourceKind, delimiter: u8) -> Result<Self, InputError> {
        Ok(match kind {
            SourceKind::Args(values) => Stream::Args(values.clone().into_iter()),
            SourceKind::File(path) if !kind.is_stdin() => {
                let file = File::open(path).map_err(|source| InputError {
                    what: path.display().to_string(),
                    source,
                })?;
                Stream::Records(RecordReader::new(Box::new(file), delimiter))
            }
            SourceKind::Stdin | SourceKind::File(_) => {
                Stream::Records(RecordReader::new(Box::new(io::stdin()), delimiter))
            }
        })
    }

    /// The next value, filtered; `None` at the end. (Not with `--colsep`,
    /// which may make several.)
    fn next_value(&mut self, what: &str, filter: &Filter) -> Result<Option<Vec<u8>>, InputError> {
        let mut one = Values::new();
        Ok(self
            .push_value(what, &mut one, filter)?
            .then(|| one.get(0).unwrap_or_default().to_vec()))
    }

    /// Appends the next value to `out`, skipping blank ones with `-r`,
    /// split into columns with `--colsep`, trimmed; false at the end.
    fn push_value(
        &mut self,
        what: &str,
        out: &mut Values,
        filter: &Filter,
    ) -> Result<bool, InputError> {
        loop {
            let mark = out.len();
            if !self.push_raw(what, out)? {
                return Ok(false);
            }
            if filter.changes_nothing() {
                return Ok(true);
            }
            let value = out.get(mark).unwrap_or_default();
            if filter.eof.as_deref() == Some(value) {
                out.truncate(mark);
                // Nothing more from this source.
                *self = Stream::Args(Vec::new().into_iter());
                return Ok(false);
            }
            if filter.skip_blank && value.iter().all(u8::is_ascii_whitespace) {
                out.truncate(mark);
                continue;
            }
            if let Some(colsep) = &filter.colsep {
                // As Perl's split with a limit of -1 (GNU parallel's):
                // empty columns are kept, also at the end.
                let columns: Vec<Vec<u8>> = colsep
                    .split(value)
                    .map(|column| filter.trim.apply(column).to_vec())
                    .collect();
                out.truncate(mark);
                columns.iter().for_each(|column| out.push(column));
                return Ok(true);
            }
            let kept = filter.trim.apply(value);
            if kept.len() != value.len() {
                let kept = kept.to_vec();
                out.truncate(mark);
                out.push(&kept);
            }
            return Ok(true);
        }
    }

    /// Appends the next value to `out`; false at the end.
    fn push_raw(&mut self, what: &str, out: &mut Values) -> Result<bool, InputError> {
        match self {
            Stream::Args(values) => Ok(values.next().map(|v| out.push(v.as_bytes())).is_some()),
            Stream::Records(reader) => out.push_record(reader).map_err(|source| InputError {
                what: what.to_string(),
                source,
            }),
        }
    }
}

fn describe(kind: &SourceKind) -> String {
    match kind {
        SourceKind::Args(_) => "arguments".to_string(),
        SourceKind::File(p) if !kind.is_stdin() => p.display().to_string(),
        SourceKind::Stdin | SourceKind::File(_) => "standard input".to_string(),
    }
}

/// Linked sources read in lock step; yields one tuple per step.
struct Group {
    streams: Vec<(Stream, String)>,
    filter: Filter,
    /// `--link`: shorter sources wrap around until the longest ends.
    /// `:::+`: the shortest source ends the group.
    wrap: bool,
    /// Values seen so far per source, kept only when wrapping needs them.
    seen: Vec<Vec<Vec<u8>>>,
    ended: Vec<bool>,
    position: usize,
}

impl Group {
    /// Appends the next tuple to `out`; false (and `out` as it was) when
    /// the group has ended.
    fn push_tuple(&mut self, out: &mut Values) -> Result<bool, InputError> {
        if self.wrap {
            let Some(tuple) = self.next_wrapped()? else {
                return Ok(false);
            };
            for value in &tuple {
                out.push(value);
            }
            return Ok(true);
        }
        // Without wrapping the values go straight into `out`, with no
        // buffer of their own.
        let mark = out.len();
        for i in 0..self.streams.len() {
            let (stream, what) = &mut self.streams[i];
            if self.ended[i] || !stream.push_value(what, out, &self.filter)? {
                self.ended[i] = true;
                out.truncate(mark);
                return Ok(false);
            }
        }
        self.position += 1;
        Ok(true)
    }

    /// `--link`: the next tuple, shorter sources wrapping around.
    fn next_wrapped(&mut self) -> Result<Option<Vec<Vec<u8>>>, InputError> {
        let mut tuple = Vec::with_capacity(self.streams.len());
        for i in 0..self.streams.len() {
            let value = if self.ended[i] {
                None
            } else {
                let (stream, what) = &mut self.streams[i];
                let v = stream.next_value(what, &self.filter)?;
                if v.is_none() {
                    self.ended[i] = true;
                }
                v
            };
            match value {
                Some(v) => {
                    if self.wrap {
                        self.seen[i].push(v.clone());
                    }
                    tuple.push(v);
                }
                None if !self.wrap => return Ok(None),
                None => tuple.push(Vec::new()), // placeholder, filled below
            }
        }
        if self.wrap {
            if self.ended.iter().all(|&e| e) {
                return Ok(None);
            }
            for ((value, ended), seen) in tuple.iter_mut().zip(&self.ended).zip(&self.seen) {
                if *ended {
                    if seen.is_empty() {
                        // An empty source linked to others contributes nothing
                        // and stops the whole group, as in GNU parallel.
                        return Ok(None);
                    }
                    *value = seen[self.position % seen.len()].clone();
                }
            }
        }
        self.position += 1;
        Ok(Some(tuple))
    }
}

/// `--colsep`, `--trim`, `-r`, `-E` and `--header`: what becomes of each
/// input as it is read.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Which ends of each value (each column) lose their white space.
    pub trim: Trim,
    /// `-r`: skip inputs that are empty or only white space.
    pub skip_blank: bool,
    /// `--colsep`: split each input into columns where this matches; each
    /// column is a value of its own (`{1}`, `{2}` ...).
    pub colsep: Option<regex::bytes::Regex>,
    /// `--header` (without `--pipe`): the first input of each source is
    /// not a job's but names its columns ([`Inputs::names`]).
    pub header: bool,
    /// `-E STR`: an input that is exactly STR ends its source.
    pub eof: Option<Vec<u8>>,
}

impl Filter {
    fn changes_nothing(&self) -> bool {
        // (`header` only takes the first input, in `Inputs::open`.)
        self.trim == Trim::default()
            && !self.skip_blank
            && self.colsep.is_none()
            && self.eof.is_none()
    }
}

/// `--trim`: the ends of a value whose white space goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trim {
    /// The start.
    pub left: bool,
    /// The end.
    pub right: bool,
}

impl Trim {
    /// `n`, `l`, `r`, `lr` or `rl`, as GNU parallel takes them.
    pub fn parse(text: &str) -> Option<Self> {
        let (left, right) = match text {
            "n" => (false, false),
            "l" => (true, false),
            "r" => (false, true),
            "lr" | "rl" => (true, true),
            _ => return None,
        };
        Some(Self { left, right })
    }

    /// `value` without the white space at the chosen ends.
    pub fn apply(self, mut value: &[u8]) -> &[u8] {
        if self.left {
            while let [first, rest @ ..] = value {
                if !first.is_ascii_whitespace() {
                    break;
                }
                value = rest;
            }
        }
        if self.right {
            while let [rest @ .., last] = value {
                if !last.is_ascii_whitespace() {
                    break;
                }
                value = rest;
            }
        }
        value
    }
}

/// Produces the argument tuples of all input sources combined: groups of
/// linked sources form a cartesian product, the first group varying slowest.
pub struct Inputs {
    /// `--header`: the column names, in the order of the values.
    names: Vec<Vec<u8>>,
    first: Group,
    /// Later groups, fully read (the product walks them repeatedly).
    rest: Vec<Vec<Values>>,
    current_first: Option<Values>,
    indices: Vec<usize>,
    done: bool,
    width: usize,
}

impl Inputs {
    /// Opens every source. Files are opened now, so a missing file is an error
    /// before any job runs. `filter` applies to each source's values as they
    /// are read (GNU parallel's `-r` drops a blank value from its source).
    pub fn open(
        specs: &[SourceSpec],
        link_all: bool,
        delimiter: u8,
        filter: &Filter,
    ) -> Result<Self, InputError> {
        let mut groups: Vec<Vec<&SourceSpec>> = Vec::new();
        for spec in specs {
            match groups.last_mut() {
                Some(last) if spec.linked || link_all => last.push(spec),
                _ => groups.push(vec![spec]),
            }
        }
        let mut opened = Vec::with_capacity(groups.len());
        let mut names = Values::new();
        for group in &groups {
            let mut streams = Vec::with_capacity(group.len());
            for spec in group {
                let mut stream = Stream::open(&spec.kind, delimiter)?;
                let what = describe(&spec.kind);
                if filter.header {
                    // An empty source names nothing (and makes no job).
                    stream.push_value(&what, &mut names, filter)?;
                }
                streams.push((stream, what));
            }
            let n = streams.len();
            opened.push(Group {
                streams,
                filter: filter.clone(),
                wrap: link_all,
                seen: vec![Vec::new(); n],
                ended: vec![false; n],
                position: 0,
            });
        }
        let mut opened = opened.into_iter();
        let first = opened.next().expect("at least one input source");
        let mut rest = Vec::new();
        for mut group in opened {
            let mut tuples = Vec::new();
            loop {
                let mut tuple = Values::new();
                if !group.push_tuple(&mut tuple)? {
                    break;
                }
                tuples.push(tuple);
            }
            rest.push(tuples);
        }
        let done = rest.iter().any(Vec::is_empty);
        Ok(Self {
            names: names.iter().map(<[u8]>::to_vec).collect(),
            first,
            indices: vec![0; rest.len()],
            rest,
            current_first: None,
            done,
            width: specs.len(),
        })
    }

    /// `--header`: the names of the values, read from the first input of
    /// each source (`{name}` is the value in the same place).
    pub fn names(&self) -> &[Vec<u8>] {
        &self.names
    }

    /// Values per tuple: one per input source.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The next combined tuple: one value per input source.
    pub fn next_tuple(&mut self) -> Result<Option<Vec<Vec<u8>>>, InputError> {
        let mut tuple = Values::new();
        Ok(self
            .push_tuple(&mut tuple)?
            .then(|| tuple.iter().map(<[u8]>::to_vec).collect()))
    }

    /// Appends the next combined tuple (one value per input source) to
    /// `out`; false when there are no more.
    pub fn push_tuple(&mut self, out: &mut Values) -> Result<bool, InputError> {
        if self.done {
            return Ok(false);
        }
        if self.rest.is_empty() {
            // One group: its tuples as they are, without the odometer.
            let more = self.first.push_tuple(out)?;
            self.done = !more;
            return Ok(more);
        }
        if self.current_first.is_none() {
            let mut first = Values::new();
            if !self.first.push_tuple(&mut first)? {
                self.done = true;
                return Ok(false);
            }
            self.current_first = Some(first);
        }
        let first = self.current_first.as_ref().expect("set above");
        out.extend_from(first, 0, first.len());
        for (group, &i) in self.rest.iter().zip(&self.indices) {
            out.extend_from(&group[i], 0, group[i].len());
        }
        // Advance the odometer: the last group varies fastest.
        let mut carry = true;
        for (k, group) in self.rest.iter().enumerate().rev() {
            if !carry {
                break;
            }
            self.indices[k] += 1;
            if self.indices[k] == group.len() {
                self.indices[k] = 0;
            } else {
                carry = false;
            }
        }
        if carry {
            self.current_first = None;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn records(data: &[u8], delim: u8) -> Vec<Vec<u8>> {
        let mut r = RecordReader::new(data, delim);
        let mut out = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            out.push(rec);
        }
        out
    }

    fn args(values: &[&str]) -> SourceSpec {
        SourceSpec {
            kind: SourceKind::Args(values.iter().map(OsString::from).collect()),
            linked: false,
        }
    }

    fn all(mut inputs: Inputs) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(t) = inputs.next_tuple().unwrap() {
            let words: Vec<String> = t
                .into_iter()
                .map(|v| String::from_utf8(v).unwrap())
                .collect();
            out.push(words.join(" "));
        }
        out
    }

    #[test]
    fn records_keep_everything_but_the_delimiter() {
        assert_eq!(
            records(b"a\r\n b \n\n\xff", b'\n'),
            [&b"a\r"[..], b" b ", b"", b"\xff"]
        );
        assert!(records(b"", b'\n').is_empty());
        assert_eq!(records(b"\n", b'\n'), [b""]);
        assert_eq!(records(b"x\0y\0", 0), [b"x", b"y"]);
    }

    #[test]
    fn product_varies_the_last_source_fastest() {
        let inputs = Inputs::open(
            &[args(&["a", "b"]), args(&["1", "2"])],
            false,
            b'\n',
            &Filter::default(),
        )
        .unwrap();
        assert_eq!(all(inputs), ["a 1", "a 2", "b 1", "b 2"]);
    }

    #[test]
    fn link_wraps_the_shorter_source() {
        let inputs = Inputs::open(
            &[args(&["a", "b", "c"]), args(&["1", "2"])],
            true,
            b'\n',
            &Filter::default(),
        )
        .unwrap();
        assert_eq!(all(inputs), ["a 1", "b 2", "c 1"]);
    }

    #[test]
    fn plus_link_stops_at_the_shortest() {
        let mut linked = args(&["1", "2"]);
        linked.linked = true;
        let inputs = Inputs::open(
            &[args(&["a", "b", "c"]), linked],
            false,
            b'\n',
            &Filter::default(),
        )
        .unwrap();
        assert_eq!(all(inputs), ["a 1", "b 2"]);

        let mut xyz = args(&["x", "y", "z"]);
        xyz.linked = true;
        let inputs = Inputs::open(
            &[args(&["a", "b"]), args(&["1", "2"]), xyz],
            false,
            b'\n',
            &Filter::default(),
        )
        .unwrap();
        assert_eq!(all(inputs), ["a 1 x", "a 2 y", "b 1 x", "b 2 y"]);
    }

    #[test]
    fn an_empty_later_source_means_no_jobs() {
        let inputs =
            Inputs::open(&[args(&["a"]), args(&[])], false, b'\n', &Filter::default()).unwrap();
        assert!(all(inputs).is_empty());
    }

    proptest! {
        #[test]
        fn splitting_then_joining_gives_back_the_input(data in proptest::collection::vec(any::<u8>(), 0..300), delim in any::<u8>()) {
            let recs = records(&data, delim);
            let mut joined = recs.join(&delim);
            if data.last() == Some(&delim) {
                joined.push(delim);
            }
            prop_assert_eq!(joined, data);
        }
    }
}
