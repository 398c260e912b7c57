//! The record reader (`-d`, `-0`, newline): never panics, and splitting
//! then joining gives back the input, whatever sizes `read` returns.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use parx::input::RecordReader;

/// A reader that hands out its data in the chunk sizes it is given.
struct Chunks<'a> {
    data: &'a [u8],
    sizes: &'a [u8],
    next: usize,
}

impl Read for Chunks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = self
            .sizes
            .get(self.next % self.sizes.len().max(1))
            .copied()
            .unwrap_or(7);
        self.next += 1;
        let n = (usize::from(size) + 1).min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fuzz_target!(|input: (u8, Vec<u8>, Vec<u8>)| {
    let (delim, sizes, data) = input;
    let delim = match delim % 4 {
        0 => b'\n',
        1 => 0,
        _ => delim,
    };
    let mut reader = RecordReader::new(
        Chunks {
            data: &data,
            sizes: &sizes,
            next: 0,
        },
        delim,
    );
    let mut records = Vec::new();
    while let Some(record) = reader.next_record().expect("reading memory cannot fail") {
        assert!(!record.contains(&delim), "a record holds its delimiter");
        records.push(record);
    }
    let mut joined = records.join(&delim);
    if data.last() == Some(&delim) {
        joined.push(delim);
    }
    assert_eq!(joined, data);
});
