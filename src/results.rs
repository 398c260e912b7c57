//! `--results`: each job's output saved instead of printed.
//!
//! `--results DIR`: stdout, stderr and sequence number in files under a
//! directory tree named by the job's inputs, in GNU parallel's layout:
//! `DIR/1/<value 1>/2/<value 2>/{seq,stdout,stderr}`. In a value, `\` is
//! written `\\` and `/` is written `\_`, as GNU parallel does. Unlike GNU
//! parallel, a value of `.` or `..` is written `\.` or `\.\.`, so no input
//! can place files outside DIR.
//!
//! `--results FILE.csv`, `.tsv` or `.json` (`-.csv` etc. for stdout): one
//! record per job as it ends, with the job log's columns, the values and
//! the whole output, in GNU parallel's formats: CSV/TSV with a header line
//! (`V1`, `V2` … for the values), a field quoted when it holds `"`,
//! whitespace, the separator or NUL; JSON one object per line, with `\`,
//! `"` and control bytes escaped. Bytes that are not UTF-8 are written as
//! they are, as GNU parallel does (so such a JSON line is not valid JSON).
//! Output is streamed from its spool, never held whole in memory.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use crate::joblog::Entry;
use crate::output::{Captured, Spool};

/// Where `--results` puts each job's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveTo {
    /// A directory tree.
    Dir(PathBuf),
    /// One file (`-` for stdout) of records in this format.
    Table(PathBuf, Format),
}

/// A `--results` file's format, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Tsv,
    Json,
}

impl SaveTo {
    /// `--results`'s value: a file when it ends in `.csv`, `.tsv` or
    /// `.json` (any case, as GNU parallel), a directory otherwise.
    pub fn parse(path: PathBuf) -> Self {
        let name = path.as_os_str().as_encoded_bytes().to_ascii_lowercase();
        let format = [
            (&b".csv"[..], Format::Csv),
            (b".tsv", Format::Tsv),
            (b".json", Format::Json),
        ]
        .into_iter()
        .find(|(ext, _)| name.ends_with(ext));
        match format {
            Some((_, format)) => SaveTo::Table(path, format),
            None => SaveTo::Dir(path),
        }
    }
}

/// An open `--results` file.
pub struct Table {
    out: Box<dyn Write + Send>,
    format: Format,
    header_written: bool,
}

impl Table {
    /// Creates (or truncates) `path`, or with `append` adds to it (the
    /// header only if it is empty): `--resume` keeps the records of the run
    /// it resumes. `-.csv` and the like write to stdout.
    pub fn create(path: &Path, format: Format, append: bool) -> io::Result<Self> {
        let stem = path.as_os_str().as_encoded_bytes();
        let mut header_written = false;
        let out: Box<dyn Write + Send> = if stem.len() > 1 && stem[0] == b'-' && stem[1] == b'.' {
            Box::new(io::stdout())
        } else if append {
            let file = File::options().create(true).append(true).open(path)?;
            header_written = file.metadata()?.len() > 0;
            Box::new(file)
        } else {
            Box::new(File::create(path)?)
        };
        Ok(Self {
            out,
            format,
            header_written,
        })
    }

    /// Writes one job's record, then flushes it, so a crash leaves whole
    /// records only.
    pub fn record(
        &mut self,
        entry: &Entry,
        values: &[Vec<u8>],
        captured: &mut Captured,
    ) -> io::Result<()> {
        let (exitval, signal) = entry.exitval_signal();
        let numbers = [
            entry.seq.to_string(),
            entry.host().to_string(),
            entry.start_time(),
            format!("{:.3}", entry.runtime.as_secs_f64()),
            entry.sent.to_string(),
            entry.received.to_string(),
            exitval.to_string(),
            signal.to_string(),
        ];
        // Built in memory up to the output, which is streamed.
        let mut head = Vec::new();
        match self.format {
            Format::Json => {
                let [seq, host, start, runtime, send, receive, exitval, signal] = &numbers;
                head.extend_from_slice(
                    format!(
                        "{{ \"Seq\": {seq}, \"Host\": \"{}\", \"Starttime\": {start}, \
                         \"JobRuntime\": {runtime}, \"Send\": {send}, \"Receive\": {receive}, \
                         \"Exitval\": {exitval}, \"Signal\": {signal}, \"Command\": \"",
                        String::from_utf8_lossy(&json_escaped(host.as_bytes()))
                    )
                    .as_bytes(),
                );
                head.extend(json_escaped(&entry.command));
                head.extend_from_slice(b"\", \"V\": [ ");
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        head.push(b',');
                    }
                    head.push(b'"');
                    head.extend(json_escaped(value));
                    head.push(b'"');
                }
                head.extend_from_slice(b" ], \"Stdout\": \"");
                self.out.write_all(&head)?;
                stream_json(&mut captured.out, &mut self.out)?;
                self.out.write_all(b"\", \"Stderr\": \"")?;
                stream_json(&mut captured.err, &mut self.out)?;
                self.out.write_all(b"\" }\n")?;
            }
            Format::Csv | Format::Tsv => {
                let sep = if self.format == Format::Csv {
                    b','
                } else {
                    b'\t'
                };
                if !self.header_written {
                    let mut names: Vec<String> = [
                        "Seq",
                        "Host",
                        "Starttime",
                        "JobRuntime",
                        "Send",
                        "Receive",
                        "Exitval",
                        "Signal",
                        "Command",
                    ]
                    .map(str::to_string)
                    .to_vec();
                    names.extend((1..=values.len()).map(|i| format!("V{i}")));
                    names.extend(["Stdout".to_string(), "Stderr".to_string()]);
                    let mut line = names.join(&char::from(sep).to_string()).into_bytes();
                    line.push(b'\n');
                    self.out.write_all(&line)?;
                    self.header_written = true;
                }
                for field in numbers.iter().map(String::as_bytes) {
                    push_field(&mut head, field, sep);
                    head.push(sep);
                }
                push_field(&mut head, &entry.command, sep);
                for value in values {
                    head.push(sep);
                    push_field(&mut head, value, sep);
                }
                head.push(sep);
                self.out.write_all(&head)?;
                stream_field(&mut captured.out, &mut self.out, sep)?;
                self.out.write_all(&[sep])?;
                stream_field(&mut captured.err, &mut self.out, sep)?;
                self.out.write_all(b"\n")?;
            }
        }
        self.out.flush()
    }
}

/// Whether a CSV/TSV field must be quoted (GNU parallel's rule).
fn needs_quotes(data: &[u8], sep: u8) -> bool {
    data.iter()
        .any(|&b| b == b'"' || b == sep || b == 0 || b.is_ascii_whitespace() || b == 0x0b)
}

fn push_quoted(out: &mut Vec<u8>, data: &[u8]) {
    for &b in data {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
}

fn push_field(out: &mut Vec<u8>, data: &[u8], sep: u8) {
    if needs_quotes(data, sep) {
        out.push(b'"');
        push_quoted(out, data);
        out.push(b'"');
    } else {
        out.extend_from_slice(data);
    }
}

/// A spooled output as one CSV/TSV field: read twice, once to decide on
/// quotes, once to write.
fn stream_field(spool: &mut Spool, out: &mut dyn Write, sep: u8) -> io::Result<()> {
    let mut quote = false;
    spool.for_each_chunk(|chunk| {
        quote |= needs_quotes(chunk, sep);
        Ok(())
    })?;
    if quote {
        out.write_all(b"\"")?;
    }
    let mut buf = Vec::new();
    spool.for_each_chunk(|chunk| {
        if quote {
            buf.clear();
            push_quoted(&mut buf, chunk);
            out.write_all(&buf)
        } else {
            out.write_all(chunk)
        }
    })?;
    if quote {
        out.write_all(b"\"")?;
    }
    Ok(())
}

fn stream_json(spool: &mut Spool, out: &mut dyn Write) -> io::Result<()> {
    spool.for_each_chunk(|chunk| out.write_all(&json_escaped(chunk)))
}

/// `\`, `"` and bytes below 0x20 escaped for a JSON string (control bytes
/// as `\u00XX`, as GNU parallel writes them).
fn json_escaped(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    for &b in data {
        match b {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
            0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out
}

/// One directory name for a value.
pub fn component(value: &[u8]) -> OsString {
    let escaped: Vec<u8> = match value {
        b"." => b"\\.".to_vec(),
        b".." => b"\\.\\.".to_vec(),
        _ => {
            let mut out = Vec::with_capacity(value.len());
            for &b in value {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'/' => out.extend_from_slice(b"\\_"),
                    _ => out.push(b),
                }
            }
            out
        }
    };
    OsString::from_vec(escaped)
}

/// The directory of a job with these values (one per input source).
pub fn job_dir(root: &Path, values: &[Vec<u8>]) -> PathBuf {
    let mut dir = root.to_path_buf();
    for (i, value) in values.iter().enumerate() {
        dir.push((i + 1).to_string());
        // An empty value adds nothing, as in GNU parallel: its files land in
        // the source's number directory itself.
        if !value.is_empty() {
            dir.push(component(value));
        }
    }
    dir
}

/// Saves one job's output in its directory.
pub fn save(
    root: &Path,
    values: &[Vec<u8>],
    seq: u64,
    captured: &mut Captured,
) -> io::Result<PathBuf> {
    let dir = job_dir(root, values);
    std::fs::create_dir_all(&dir)?;
    File::create(dir.join("seq"))?.write_all(seq.to_string().as_bytes())?;
    captured
        .out
        .write_to(&mut File::create(dir.join("stdout"))?)?;
    captured
        .err
        .write_to(&mut File::create(dir.join("stderr"))?)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_gnu_parallel() {
        let values = [b"a".to_vec(), b"b/c".to_vec()];
        assert_eq!(
            job_dir(Path::new("res"), &values),
            Path::new("res/1/a/2/b\\_c")
        );
        assert_eq!(
            job_dir(Path::new("res"), &[b"x".to_vec(), Vec::new()]),
            Path::new("res/1/x/2")
        );
        assert_eq!(component(b"a\\b"), "a\\\\b");
    }

    #[test]
    fn no_value_leaves_the_directory() {
        for value in [&b"."[..], b"..", b"../..", b"/etc"] {
            let dir = job_dir(Path::new("res"), &[value.to_vec()]);
            assert!(
                dir.components()
                    .all(|c| matches!(c, std::path::Component::Normal(_))),
                "{value:?} gives {dir:?}"
            );
        }
    }
}
