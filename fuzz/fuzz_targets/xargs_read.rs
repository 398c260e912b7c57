//! xargs mode's input parser: never panics on any input, in the default
//! (quotes and backslashes), `-I`, `-0` and `-d` modes; with `-0`/`-d`
//! the items joined give back the input (found: a NUL byte with another
//! delimiter ends the argument, as in GNU xargs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use parx::xargs::build::{Builder, Limits};
use parx::xargs::read::{ReadError, Reader, Step};

fuzz_target!(|input: (u8, Vec<u8>)| {
    let (mode, data) = input;
    let (delimiter, replace) = match mode % 5 {
        0 => (None, false),
        1 => (None, true),
        2 => (Some(0), false),
        3 => (Some(b'\n'), false),
        _ => (Some(mode), false),
    };
    let mut builder = Builder::new(
        vec![b"echo".to_vec()],
        Limits::chars(1 << 20, 1 << 20),
        0,
        0,
        replace.then(|| b"{}".to_vec()),
        false,
    )
    .expect("a valid builder");
    let mut reader = Reader::new(data.as_slice(), delimiter, None, replace);
    let mut items: Vec<Vec<u8>> = Vec::new();
    loop {
        match reader.next(&mut builder) {
            Ok(Step::End) => break,
            Ok(Step::Line(_)) => {}
            Err(ReadError::Fatal(_)) => return, // an unmatched quote and such
            Err(ReadError::Io(e)) => panic!("reading memory failed: {e}"),
        }
        if !replace {
            builder.exec();
        }
        while let Some(argv) = builder.take() {
            items.extend(argv.iter().skip(1).map(|a| a.to_vec()));
        }
    }
    if builder.has_args() {
        builder.exec();
    }
    while let Some(argv) = builder.take() {
        items.extend(argv.iter().skip(1).map(|a| a.to_vec()));
    }
    // A NUL byte cannot be passed on: as GNU xargs, the argument ends
    // there (after a warning), unless NUL is the delimiter.
    let has_nul = delimiter != Some(0) && data.contains(&0);
    if let (Some(d), false, false) = (delimiter, replace, has_nul) {
        let mut joined = items.join(&d);
        if data.last() == Some(&d) {
            joined.push(d);
        }
        assert_eq!(joined, data);
    }
});
