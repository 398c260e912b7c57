//! Reading xargs' input: blank-separated words with quotes and
//! backslashes (the default), or items ending at one byte (`-0`, `-d`).
//!
//! This is GNU xargs' own state machine, corner cases included, because
//! scripts depend on them: blank lines and leading blanks are skipped; a
//! line ending in a blank continues onto the next for `-L`; `''` is an
//! empty argument except as the very last thing before end of input; the
//! end-of-file word (`-E`) ends the input as a whole word, even quoted; an
//! unmatched quote or an over-long word stops everything after running
//! what was read before it (unless `-x`, `-I` or `-L`).

use std::io::{self, Read};

use super::build::{Builder, Fatal};

/// How a call to [`Reader::next`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// End of input, real or logical.
    End,
    /// A line (or, with `-0`/`-d`, an item) was read; its words are in
    /// the builder. With `-I` this is the whole line, unsplit.
    Line(Vec<u8>),
}

/// Why reading stopped early.
#[derive(Debug)]
pub enum ReadError {
    /// A malformed input: xargs' message, status 1.
    Fatal(Fatal),
    /// The input could not be read.
    Io(io::Error),
}

impl From<Fatal> for ReadError {
    fn from(f: Fatal) -> Self {
        ReadError::Fatal(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Norm,
    Space,
    Quote(u8),
    Backslash,
}

/// xargs' blanks: space and tab. Its white space adds newline, CR, FF, VT.
fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn is_space(c: u8) -> bool {
    is_blank(c) || matches!(c, b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Reads xargs' input and hands each argument to a [`Builder`].
pub struct Reader<R> {
    input: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    delimiter: Option<u8>,
    eof_word: Option<Vec<u8>>,
    replace: bool,
    done: bool,
    /// Non-blank lines (or items) since the last `-L` command.
    pub lineno: usize,
    nul_warned: bool,
    /// Bytes taken from the input so far.
    pub consumed: u64,
    /// Warnings to print (the NUL warning), drained by the caller.
    pub warnings: Vec<String>,
    word: Vec<u8>,
}

impl<R: Read> Reader<R> {
    /// A reader of `input`. `replace` is `-I` mode (lines are not split).
    pub fn new(input: R, delimiter: Option<u8>, eof_word: Option<Vec<u8>>, replace: bool) -> Self {
        Self {
            input,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            pos: 0,
            len: 0,
            delimiter,
            eof_word,
            replace,
            done: false,
            lineno: 0,
            nul_warned: false,
            consumed: 0,
            warnings: Vec::new(),
            word: Vec::new(),
        }
    }

    fn getc(&mut self) -> io::Result<Option<u8>> {
        if self.pos == self.len {
            self.pos = 0;
            self.len = loop {
                match self.input.read(&mut self.buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            };
            if self.len == 0 {
                return Ok(None);
            }
        }
        let c = self.buf[self.pos];
        self.pos += 1;
        self.consumed += 1;
        Ok(Some(c))
    }

    fn is_eof_word(&self, word: &[u8]) -> bool {
        self.eof_word.as_deref() == Some(word)
    }

    /// The word just ended is the end-of-file word: input ends here; the
    /// line's earlier words still count (they are in the builder).
    fn logical_end(&mut self, first: bool) -> Option<Step> {
        if !self.is_eof_word(&self.word) {
            return None;
        }
        self.done = true;
        Some(if first {
            Step::End
        } else {
            Step::Line(Vec::new())
        })
    }

    /// Reads the next line or item into `builder`.
    pub fn next(&mut self, builder: &mut Builder) -> Result<Step, ReadError> {
        if self.done {
            return Ok(Step::End);
        }
        match self.delimiter {
            Some(d) => self.next_item(d, builder),
            None => self.next_line(builder),
        }
    }

    fn too_long(&mut self, builder: &mut Builder) -> ReadError {
        builder.exec_if_possible();
        ReadError::Fatal(Fatal("argument line too long".into()))
    }

    fn hand_over(&mut self, builder: &mut Builder) -> Result<Step, ReadError> {
        let word = std::mem::take(&mut self.word);
        if !self.replace {
            builder.push(&word)?;
        }
        Ok(Step::Line(word))
    }

    /// `-0`/`-d`: everything up to the delimiter, no quoting; an empty item
    /// between two delimiters is an empty argument.
    fn next_item(&mut self, delimiter: u8, builder: &mut Builder) -> Result<Step, ReadError> {
        self.word.clear();
        let room = builder.word_room();
        loop {
            let Some(c) = self.getc().map_err(ReadError::Io)? else {
                self.done = true;
                if self.word.is_empty() {
                    return Ok(Step::End);
                }
                return self.hand_over(builder);
            };
            if c == delimiter {
                self.lineno += 1;
                return self.hand_over(builder);
            }
            if self.word.len() >= room {
                return Err(self.too_long(builder));
            }
            self.word.push(c);
        }
    }

    /// The default: a line of blank-separated, possibly quoted words.
    fn next_line(&mut self, builder: &mut Builder) -> Result<Step, ReadError> {
        let mut state = State::Space;
        let mut c: Option<u8> = None;
        let mut first = true;
        let mut seen_arg = false;
        self.word.clear();
        loop {
            let prev = c;
            let Some(byte) = self.getc().map_err(ReadError::Io)? else {
                // Physical end of input: what was read is the last word.
                self.done = true;
                if self.word.is_empty() {
                    return Ok(Step::End);
                }
                if let State::Quote(q) = state {
                    builder.exec_if_possible();
                    return Err(unmatched(q));
                }
                if first && self.is_eof_word(&self.word) {
                    return Ok(Step::End);
                }
                return self.hand_over(builder);
            };
            c = Some(byte);
            match state {
                State::Space | State::Norm => {
                    if state == State::Space {
                        if is_space(byte) {
                            continue;
                        }
                        state = State::Norm;
                    }
                    if byte == b'\n' {
                        if !prev.is_some_and(is_blank) {
                            self.lineno += 1; // for -L
                        }
                        if self.word.is_empty() && !seen_arg {
                            state = State::Space; // a blank line
                            continue;
                        }
                        if let Some(end) = self.logical_end(first) {
                            return Ok(end);
                        }
                        return self.hand_over(builder);
                    }
                    seen_arg = true;
                    if !self.replace && is_blank(byte) {
                        if let Some(end) = self.logical_end(first) {
                            return Ok(end);
                        }
                        let word = std::mem::take(&mut self.word);
                        builder.push(&word)?;
                        state = State::Space;
                        first = false;
                        continue;
                    }
                    match byte {
                        b'\\' => {
                            state = State::Backslash;
                            continue;
                        }
                        b'\'' | b'"' => {
                            state = State::Quote(byte);
                            continue;
                        }
                        _ => {}
                    }
                }
                State::Quote(q) => {
                    if byte == b'\n' {
                        builder.exec_if_possible();
                        return Err(unmatched(q));
                    }
                    if byte == q {
                        state = State::Norm;
                        seen_arg = true;
                        continue;
                    }
                }
                State::Backslash => state = State::Norm,
            }
            if byte == 0 && !self.nul_warned {
                self.nul_warned = true;
                self.warnings.push(
                    "WARNING: a NUL character occurred in the input.  It cannot be passed \
                     through in the argument list.  Did you mean to use the --null option?"
                        .into(),
                );
            }
            if self.word.len() >= builder.word_room() {
                return Err(self.too_long(builder));
            }
            self.word.push(byte);
        }
    }
}

fn unmatched(quote: u8) -> ReadError {
    let which = if quote == b'"' { "double" } else { "single" };
    ReadError::Fatal(Fatal(format!(
        "unmatched {which} quote; by default quotes are special to xargs unless you use the -0 option"
    )))
}

#[cfg(test)]
mod tests {
    use super::super::build::Limits;
    use super::*;

    /// The commands xargs would run for `input` with `echo` and options.
    fn run(
        input: &str,
        delimiter: Option<u8>,
        eof: Option<&str>,
        max_lines: usize,
    ) -> Result<Vec<Vec<String>>, String> {
        let mut b = Builder::new(
            vec![b"echo".to_vec()],
            Limits::chars(4096, 1 << 20),
            0,
            max_lines,
            None,
            false,
        )
        .unwrap();
        let mut r = Reader::new(
            input.as_bytes(),
            delimiter,
            eof.map(|e| e.as_bytes().to_vec()),
            false,
        );
        let mut out = Vec::new();
        let result = loop {
            match r.next(&mut b) {
                Ok(Step::End) => break Ok(()),
                Ok(Step::Line(_)) => {
                    if max_lines > 0 && r.lineno >= max_lines {
                        b.exec();
                        r.lineno = 0;
                    }
                }
                Err(ReadError::Fatal(f)) => break Err(f.0),
                Err(ReadError::Io(e)) => break Err(e.to_string()),
            }
        };
        if result.is_ok() && b.has_args() {
            b.exec();
        }
        while let Some(argv) = b.take() {
            out.push(
                argv.iter()
                    .skip(1)
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect(),
            );
        }
        result.map(|()| out)
    }

    proptest::proptest! {
        /// Plain words separated by any mix of blanks and newlines come
        /// back as exactly those words, in order.
        #[test]
        fn plain_words_come_back(
            words in proptest::collection::vec("[a-zA-Z0-9._/-]{1,8}", 0..40),
            seps in proptest::collection::vec(proptest::sample::select(vec![" ", "\t", "\n", "  \n\t"]), 40),
        ) {
            let mut input = String::new();
            for (w, s) in words.iter().zip(seps.iter().cycle()) {
                input.push_str(w);
                input.push_str(s);
            }
            let got: Vec<String> = run(&input, None, None, 0).unwrap().into_iter().flatten().collect();
            proptest::prop_assert_eq!(got, words);
        }

        /// With -0 every item is passed byte for byte, empty ones included.
        #[test]
        fn null_items_are_exact(items in proptest::collection::vec("[ -~\n\t]{0,6}", 1..20)) {
            let input: String = items.iter().map(|i| format!("{i}\0")).collect();
            let got: Vec<String> = run(&input, Some(0), None, 0).unwrap().into_iter().flatten().collect();
            proptest::prop_assert_eq!(got, items);
        }
    }

    #[test]
    fn quotes_backslashes_and_blanks() {
        let got = run("a 'b c' \"d\"e\\ f\n\n  g\\\nh '' \"\"\n", None, None, 0).unwrap();
        assert_eq!(got, [["a", "b c", "de f", "g\nh", "", ""]]);
    }

    #[test]
    fn an_empty_quote_at_the_very_end_is_lost_as_in_xargs() {
        assert_eq!(run("a ''", None, None, 0).unwrap(), [["a"]]);
    }

    #[test]
    fn trailing_blank_continues_a_line_for_l() {
        let got = run("a b \nc\nd\ne\n", None, None, 2).unwrap();
        assert_eq!(got, [vec!["a", "b", "c", "d"], vec!["e"]]);
    }

    #[test]
    fn logical_end_of_file() {
        assert_eq!(
            run("a b\nEOF\nc\n", None, Some("EOF"), 0).unwrap(),
            [["a", "b"]]
        );
        assert_eq!(run("a EOF c\nd\n", None, Some("EOF"), 0).unwrap(), [["a"]]);
        // Compared after quote removal, as xargs does.
        assert_eq!(run("a E'OF' c\n", None, Some("EOF"), 0).unwrap(), [["a"]]);
    }

    #[test]
    fn unmatched_quote_runs_what_came_before() {
        let err = run("a b\n'c\n", None, None, 0).unwrap_err();
        assert!(err.starts_with("unmatched single quote"), "{err}");
    }

    #[test]
    fn delimited_items_keep_empties_and_blanks() {
        let got = run("a b\0\0c\0", Some(0), None, 0).unwrap();
        assert_eq!(got, [["a b", "", "c"]]);
        assert_eq!(
            run("x:y:\n", Some(b':'), None, 0).unwrap(),
            [["x", "y", "\n"]]
        );
    }
}
