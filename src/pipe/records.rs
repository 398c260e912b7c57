//! Where `--pipe` finds its records and its header: `--recend` and
//! `--recstart` as strings or (`--regexp`) regular expressions, `--header`
//! as a number of lines or a regular expression.
//!
//! GNU parallel matches with Perl's regular expressions; parx uses the
//! `regex` crate with the settings that make it behave the same on bytes:
//! no Unicode (`.` is any byte, `\w` is ASCII), octal escapes (`\0` is NUL).
//! What Perl has and `regex` lacks (look-around, backreferences) is refused
//! when the option is read. GNU's choice of flags differs by place, and is
//! kept: `^` and `$` match at every line in `--pipe`'s separator; `.`
//! matches a newline in `--pipe-part`'s; neither in `--header`'s.
//!
//! Nothing here reads input: it only looks at bytes it is given.

use regex::bytes::{Regex, RegexBuilder};

/// What ends one record and starts the next: `--recend` followed by
/// `--recstart`. A block is cut between the two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Separator {
    /// Strings (after `\n`-style escapes).
    Literal {
        /// `--recend`.
        recend: Vec<u8>,
        /// `--recstart`.
        recstart: Vec<u8>,
    },
    /// `--regexp`: regular expressions.
    Regex(Box<RegexSeparator>),
}

/// `--recend` and `--recstart` compiled for each place GNU parallel uses
/// them, with that place's flags.
#[derive(Debug, Clone)]
pub struct RegexSeparator {
    recend: String,
    recstart: String,
    /// `(recend)recstart`, `^` `$` at line ends (GNU's `/m`): `--pipe`.
    pair: LineRegex,
    /// `recstart`, `^` `$` at line ends: where a record starts under `-N`.
    start: LineRegex,
    /// `^recstart`, `^` only at the buffer's start: does the input begin
    /// with a record?
    leading_start: Regex,
    /// `(recend)recstart`, `.` matching a newline (GNU's `/s`): `--pipe-part`.
    pair_in_file: Regex,
}

impl PartialEq for RegexSeparator {
    fn eq(&self, other: &Self) -> bool {
        self.recend == other.recend && self.recstart == other.recstart
    }
}

impl Eq for RegexSeparator {}

/// A pattern compiled with `^` and `$` matching at every line, and what
/// it takes to match it as Perl does: Perl's `^` does not match at the
/// very end after a final newline, where `regex`'s does.
#[derive(Debug, Clone)]
struct LineRegex {
    regex: Regex,
    /// Whether it matches the empty string at the end of the input where
    /// Perl's `^` would not (as at the end of " ", which only `^` tells
    /// from the end of "\n").
    empty_at_end: bool,
}

impl LineRegex {
    fn new(option: &str, pattern: &str) -> Result<Self, String> {
        let regex = compile(option, pattern, Flags::Lines)?;
        let empty_at_end = regex.find_at(b" ", 1).is_some_and(|m| m.start() == 1);
        Ok(Self {
            regex,
            empty_at_end,
        })
    }

    /// The first match at or after `from`, as Perl finds it.
    fn find_at<'h>(&self, hay: &'h [u8], from: usize) -> Option<regex::bytes::Match<'h>> {
        let m = self.regex.find_at(hay, from)?;
        let perl_refuses = m.is_empty()
            && m.start() == hay.len()
            && hay.last() == Some(&b'\n')
            && !self.empty_at_end;
        // An empty match at the end is the last there can be.
        (!perl_refuses).then_some(m)
    }
}

/// Which of Perl's flags a pattern is compiled with.
#[derive(Clone, Copy)]
enum Flags {
    /// None.
    Plain,
    /// `/m`: `^` and `$` match at line starts and ends.
    Lines,
    /// `/s`: `.` matches a newline too.
    DotAll,
}

/// `pattern` compiled as Perl would match it on bytes; the error names
/// `option` and says what is wrong in one line.
fn compile(option: &str, pattern: &str, flags: Flags) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .unicode(false)
        // Perl reads \0 and \012 as octal but \1 as a backreference: only
        // without the latter may octal be on (or \1 would match byte 1).
        .octal(!has_backreference(pattern))
        .multi_line(matches!(flags, Flags::Lines))
        .dot_matches_new_line(matches!(flags, Flags::DotAll))
        .build()
        .map_err(|err| {
            // The parser's message spans lines (the pattern, a caret, the
            // error); the last line says what is wrong.
            let text = err.to_string();
            let what = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid")
                .trim()
                .trim_start_matches("error: ")
                .to_string();
            format!("{option} '{pattern}': not a regular expression parx can use: {what}")
        })
}

/// True when `pattern` has an escape `\1`…`\9` (a backreference in Perl).
fn has_backreference(pattern: &str) -> bool {
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.next().is_some_and(|d| ('1'..='9').contains(&d)) {
            return true;
        }
    }
    false
}

impl Separator {
    /// `--regexp`: `recend` then `recstart` as regular expressions, as GNU
    /// parallel reads them (no escapes of parx's own).
    pub fn regex(recend: &str, recstart: &str) -> Result<Self, String> {
        // Each alone first, so an error names the option it is in.
        compile("--recend", recend, Flags::Plain)?;
        compile("--recstart", recstart, Flags::Plain)?;
        let pair = format!("((?:{recend}))(?:{recstart})");
        let both = "--recend/--recstart";
        Ok(Separator::Regex(Box::new(RegexSeparator {
            recend: recend.to_string(),
            recstart: recstart.to_string(),
            pair: LineRegex::new(both, &pair)?,
            start: LineRegex::new("--recstart", recstart)?,
            leading_start: compile("--recstart", &format!("^(?:{recstart})"), Flags::Plain)?,
            pair_in_file: compile(both, &pair, Flags::DotAll)?,
        })))
    }

    /// True when records end anywhere (both strings empty): blocks and
    /// parts are then exactly `--block` bytes.
    pub fn is_anywhere(&self) -> bool {
        matches!(self, Separator::Literal { recend, recstart } if recend.is_empty() && recstart.is_empty())
    }

    /// `--pipe`: where `buf` is cut, after the recend of the last place a
    /// record ends and the next starts; None when there is no such place
    /// past the buffer's first byte.
    pub fn last_cut(&self, buf: &[u8]) -> Option<usize> {
        let cut = match self {
            Separator::Literal { recend, recstart } => {
                rfind(buf, &[&recend[..], &recstart[..]].concat())? + recend.len()
            }
            // GNU: /^((?s:.)*$recend)$recstart(?s:.)*?$/m, the greedy
            // prefix taking the last match.
            Separator::Regex(re) => last_pair(&re.pair, buf)?.1,
        };
        (cut > 0).then_some(cut)
    }

    /// `-N`: the length of the first `n` records at the start of `buf`,
    /// when `buf` holds them and the start of the record after them.
    pub fn records(&self, buf: &[u8], n: usize) -> Option<usize> {
        match self {
            Separator::Literal { recend, recstart } => {
                let sep = [&recend[..], &recstart[..]].concat();
                let len = nth_from(buf, &sep, n)? + recend.len();
                (len > 0).then_some(len)
            }
            Separator::Regex(re) => re.records(buf, n),
        }
    }

    /// `-N` with `--regexp`: input before the first record (when the
    /// input does not begin with `--recstart`) goes to a job of its own,
    /// as in GNU parallel. Its length, when `buf` (the input's first
    /// block) shows where it ends.
    pub fn leading_garbage(&self, buf: &[u8]) -> Option<usize> {
        let Separator::Regex(re) = self else {
            return None;
        };
        if re.leading_start.is_match(buf) {
            return None;
        }
        let (_, cut) = first_pair(&re.pair, buf, 0)?;
        (cut > 0).then_some(cut)
    }

    /// `--pipe-part`: in `chunk`, the bytes of the file from a split
    /// point on, the offset of the cut. As in GNU parallel, strings cut at
    /// their first match, regular expressions at their last.
    pub fn part_cut(&self, chunk: &[u8]) -> Option<usize> {
        match self {
            Separator::Literal { recend, recstart } => {
                Some(find(chunk, &[&recend[..], &recstart[..]].concat())? + recend.len())
            }
            // GNU: m:^(.*$recend)$recstart:s
            Separator::Regex(re) => Some(last_pair(&re.pair_in_file, chunk)?.1),
        }
    }
}

impl RegexSeparator {
    /// GNU parallel's `-N` pattern: `n` times (recstart, the shortest run
    /// of bytes, recend), followed by recstart; `^` matching at any line
    /// start.
    fn records(&self, buf: &[u8], n: usize) -> Option<usize> {
        if let Some(len) = self.chain(buf, 0, n) {
            return (len > 0).then_some(len);
        }
        if self.starts_at(buf, 0) {
            return None;
        }
        // The buffer does not begin with a record. GNU's `^` also matches
        // after a newline, so it finds the records at the first line that
        // starts one, and then passes on that many bytes from the buffer's
        // start (not the records it found). Later line starts would find
        // no more records than this one.
        let mut at = 0;
        loop {
            let start = self.start.find_at(buf, at)?.start();
            if start > 0 && start < buf.len() && buf[start - 1] == b'\n' {
                let len = self.chain(buf, start, n)?;
                return (len > 0).then_some(len);
            }
            at = start + 1;
            if at > buf.len() {
                return None;
            }
        }
    }

    /// The length of `n` records from `from`: each starts with recstart
    /// and ends at the first recend that is followed by recstart.
    fn chain(&self, buf: &[u8], from: usize, n: usize) -> Option<usize> {
        let mut at = from;
        for _ in 0..n {
            let start = self.start.find_at(buf, at).filter(|m| m.start() == at)?;
            at = first_pair(&self.pair, buf, start.end())?.1;
        }
        Some(at - from)
    }

    fn starts_at(&self, buf: &[u8], at: usize) -> bool {
        self.start.find_at(buf, at).is_some_and(|m| m.start() == at)
    }
}

/// A compiled `(recend)recstart` pattern.
trait Pair {
    fn find_at<'h>(&self, hay: &'h [u8], from: usize) -> Option<regex::bytes::Match<'h>>;
    fn regex(&self) -> &Regex;
}

impl Pair for Regex {
    fn find_at<'h>(&self, hay: &'h [u8], from: usize) -> Option<regex::bytes::Match<'h>> {
        Regex::find_at(self, hay, from)
    }
    fn regex(&self) -> &Regex {
        self
    }
}

impl Pair for LineRegex {
    fn find_at<'h>(&self, hay: &'h [u8], from: usize) -> Option<regex::bytes::Match<'h>> {
        LineRegex::find_at(self, hay, from)
    }
    fn regex(&self) -> &Regex {
        &self.regex
    }
}

/// The first match of a `(recend)recstart` pattern at or after `from`:
/// where it starts, and where its recend ends (the cut).
fn first_pair(pair: &impl Pair, hay: &[u8], from: usize) -> Option<(usize, usize)> {
    let start = pair.find_at(hay, from)?.start();
    let caps = pair
        .regex()
        .captures_at(hay, start)
        .expect("a match starts there");
    Some((start, caps.get(1).expect("group 1 is always set").end()))
}

/// The match of a `(recend)recstart` pattern that starts last in `hay`
/// (matches may overlap): where it starts and where its recend ends.
/// Searched for in windows that grow back from the end, so a block of
/// many records is not scanned from its start.
fn last_pair(pair: &impl Pair, hay: &[u8]) -> Option<(usize, usize)> {
    let mut window: usize = 4096;
    loop {
        let from = hay.len().saturating_sub(window);
        let mut last = None;
        let mut at = from;
        while at <= hay.len() {
            let Some(m) = pair.find_at(hay, at) else {
                break;
            };
            last = Some(m.start());
            at = m.start() + 1;
        }
        if let Some(start) = last {
            return first_pair(pair, hay, start);
        }
        if from == 0 {
            return None;
        }
        window = window.saturating_mul(8);
    }
}

/// `--header`: the top of the input that is put before every block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    /// No header.
    None,
    /// The first N lines (`--header N`; `--header :` is one).
    Lines(usize),
    /// What a regular expression matches at the start of the input.
    Regex(HeaderRegex),
}

/// `--header REGEX`, compared by its text.
#[derive(Debug, Clone)]
pub struct HeaderRegex {
    text: String,
    regex: Regex,
}

impl PartialEq for HeaderRegex {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for HeaderRegex {}

impl Header {
    /// `--header TEXT` as GNU parallel reads it: `:` is one line, digits
    /// are a number of lines (0, like an empty value, none), anything else
    /// a regular expression.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() || text == "0" {
            return Ok(Header::None);
        }
        if text == ":" {
            return Ok(Header::Lines(1));
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            let lines = text
                .parse()
                .map_err(|_| format!("--header {text}: too many lines"))?;
            return Ok(Header::Lines(lines));
        }
        // Alone first, so an error shows the pattern as given.
        compile("--header", text, Flags::Plain)?;
        let regex = compile("--header", &format!("^(?:{text})"), Flags::Plain)?;
        Ok(Header::Regex(HeaderRegex {
            text: text.to_string(),
            regex,
        }))
    }

    /// True when there is no header.
    pub fn is_none(&self) -> bool {
        matches!(self, Header::None | Header::Lines(0))
    }

    /// True when the header can be looked for in any pieces of input with
    /// the same result (a number of lines); false when GNU parallel's
    /// read sizes matter (a regular expression).
    pub fn is_lines(&self) -> bool {
        !matches!(self, Header::Regex(_))
    }

    /// The header's length, when `buf` (the start of the input read so
    /// far) holds all of it.
    pub fn find(&self, buf: &[u8]) -> Option<usize> {
        match self {
            Header::None => Some(0),
            Header::Lines(0) => Some(0),
            Header::Lines(n) => Some(memchr_nth(buf, b'\n', *n)? + 1),
            Header::Regex(h) => h.regex.find(buf).map(|m| m.end()),
        }
    }
}

/// Where the `n`th (from 1) `byte` in `hay` is.
fn memchr_nth(hay: &[u8], byte: u8, n: usize) -> Option<usize> {
    hay.iter()
        .enumerate()
        .filter(|(_, b)| **b == byte)
        .nth(n.checked_sub(1)?)
        .map(|(i, _)| i)
}

/// Where the first `needle` in `hay` starts.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    match needle {
        [] => None,
        [b] => hay.iter().position(|c| c == b),
        _ => hay.windows(needle.len()).position(|w| w == needle),
    }
}

/// Where the last `needle` in `hay` starts (an empty one: at the end, so
/// a block is cut after all of it, as GNU parallel's rindex does).
pub(super) fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    match needle {
        [] => Some(hay.len()),
        [b] => hay.iter().rposition(|c| c == b),
        _ => hay.windows(needle.len()).rposition(|w| w == needle),
    }
}

/// Where the `n`th `needle` in `hay` starts, counting matches that start
/// at index 1 or later (GNU parallel's nindex).
pub(super) fn nth_from(hay: &[u8], needle: &[u8], n: usize) -> Option<usize> {
    if needle.is_empty() || n == 0 {
        return None;
    }
    let mut from = 0;
    let mut found = None;
    for _ in 0..n {
        let start = from + 1;
        if start > hay.len() {
            return None;
        }
        let at = if needle.len() == 1 {
            hay[start..].iter().position(|c| *c == needle[0])
        } else {
            hay[start..].windows(needle.len()).position(|w| w == needle)
        }? + start;
        found = Some(at);
        from = at;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regex(recend: &str, recstart: &str) -> Separator {
        Separator::regex(recend, recstart).unwrap()
    }

    #[test]
    fn regex_cuts_after_the_last_match() {
        let sep = regex(r"\n", "^>");
        // Cut before the last ">" that starts a line.
        assert_eq!(sep.last_cut(b">a\n1\n>b\n2\n>c"), Some(10));
        assert_eq!(sep.last_cut(b">a\nb>c"), None);
        // A separator of several lengths: the recend part found at the
        // last place decides the cut.
        let sep = regex(r"x+\n", "");
        assert_eq!(sep.last_cut(b"1x\n2xxx\n3"), Some(8));
    }

    #[test]
    fn regex_start_of_line_is_perls() {
        // Perl's ^ under /m does not match at the very end after a newline:
        // a block ending in "\n" is not cut there.
        let sep = regex("", "^");
        assert_eq!(sep.last_cut(b">aaa\n;a\n"), Some(5));
        // Where the match at the end needs no ^ it stands.
        let sep = regex("", "");
        assert_eq!(sep.last_cut(b"ab\n"), Some(3));
    }

    #[test]
    fn regex_records_and_leading_garbage() {
        let sep = regex(r"\n", ">");
        let buf = b"junk\n>a\n1\n>b\n2\n>c\n";
        assert_eq!(sep.leading_garbage(buf), Some(5));
        assert_eq!(sep.leading_garbage(&buf[5..]), None);
        // Records end at the first recend followed by recstart.
        assert_eq!(sep.records(&buf[5..], 1), Some(5));
        assert_eq!(sep.records(&buf[5..], 2), Some(10));
        // The last record has no recstart after it yet.
        assert_eq!(sep.records(&buf[5..], 3), None);
        // Not starting with a record: GNU's ^ finds the record at the next
        // line and passes on that many bytes from the start.
        assert_eq!(sep.records(b"xyz\n>a\n>b", 1), Some(3));
    }

    #[test]
    fn pipe_part_cuts_at_the_first_string_but_the_last_regex() {
        let literal = Separator::Literal {
            recend: b"\n".to_vec(),
            recstart: Vec::new(),
        };
        assert_eq!(literal.part_cut(b"ab\ncd\nef"), Some(3));
        assert_eq!(regex(r"\n", "").part_cut(b"ab\ncd\nef"), Some(6));
        // In --pipe-part, . matches a newline (GNU's /s).
        assert_eq!(regex("a.b", "").part_cut(b"xa\nbx"), Some(4));
        assert_eq!(regex("a.b", "").last_cut(b"xa\nbx"), None);
    }

    #[test]
    fn perl_escapes_and_refusals() {
        assert_eq!(regex(r"\0", "").last_cut(b"a\0b\0c"), Some(4));
        assert_eq!(regex(r"\x00", "").last_cut(b"a\0b"), Some(2));
        assert_eq!(regex(r"\012", "").last_cut(b"a\nb"), Some(2));
        // Bytes, not characters: . is any byte but a newline.
        assert_eq!(regex(r"\xff.", "").last_cut(b"a\xff\xfeb"), Some(3));
        for (recend, what) in [(r"(a)\1", "--recend '(a)\\1'"), ("a(?=b)", "look-around")] {
            let err = Separator::regex(recend, "").unwrap_err();
            assert!(err.starts_with("--recend '"), "{err}");
            assert!(!err.contains('\n'), "{err}");
            assert!(
                err.contains("not a regular expression parx can use"),
                "{what}: {err}"
            );
        }
        let err = Separator::regex("", "(").unwrap_err();
        assert!(err.starts_with("--recstart '('"), "{err}");
    }

    #[test]
    fn header_values() {
        assert_eq!(Header::parse("").unwrap(), Header::None);
        assert_eq!(Header::parse("0").unwrap(), Header::None);
        assert_eq!(Header::parse(":").unwrap(), Header::Lines(1));
        assert_eq!(Header::parse("3").unwrap(), Header::Lines(3));
        let lines = Header::Lines(2);
        assert_eq!(lines.find(b"a\nb\nc\n"), Some(4));
        assert_eq!(lines.find(b"a\nb"), None);
        let re = Header::parse(r"(#.*\n)*").unwrap();
        assert!(!re.is_lines());
        assert_eq!(re.find(b"#a\n#b\nc\n"), Some(6));
        // Anchored at the start; . does not match a newline.
        assert_eq!(re.find(b"c\n#a\n"), Some(0));
        assert_eq!(Header::parse("a.b").unwrap().find(b"a\nb"), None);
        assert_eq!(Header::parse("b").unwrap().find(b"ab"), None);
        assert!(Header::parse("(").unwrap_err().starts_with("--header '('"));
    }
}
