//! Command templates: parsed once, filled per job.
//!
//! As in GNU parallel, the command words are joined with spaces into one
//! shell command line and every substituted value is shell-quoted, so input
//! is data, never code. When that line is nothing but plain words and quotes
//! (no pipes, redirections, `$`, globs, builtins ...), the template also gets
//! a [`DirectPlan`]: the argv the shell would have built, which parx executes
//! itself without starting a shell.
//!
//! This module only builds bytes; it never runs anything.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use crate::input::Args;

/// A path operation applied to a value (`{}` `{.}` `{/}` `{//}` `{/.}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathOp {
    /// `{}`: the value itself.
    Whole,
    /// `{.}`: without its extension.
    NoExtension,
    /// `{/}`: the part after the last `/`.
    Basename,
    /// `{//}`: the directory part, as Perl's `dirname`.
    Dirname,
    /// `{/.}`: basename without extension.
    BasenameNoExtension,
}

impl PathOp {
    /// Applies the operation to one value.
    pub fn apply<'a>(self, value: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        use std::borrow::Cow;
        match self {
            PathOp::Whole => Cow::Borrowed(value),
            PathOp::NoExtension => Cow::Borrowed(strip_extension(value)),
            PathOp::Basename => Cow::Borrowed(basename(value)),
            PathOp::Dirname => Cow::Owned(dirname(value)),
            PathOp::BasenameNoExtension => Cow::Borrowed(strip_extension(basename(value))),
        }
    }
}

/// GNU parallel's `s:\.[^/.]*$::`: drop a final `.ext` that holds no `/` or `.`.
fn strip_extension(value: &[u8]) -> &[u8] {
    match value.iter().rposition(|&b| b == b'.' || b == b'/') {
        Some(i) if value[i] == b'.' => &value[..i],
        _ => value,
    }
}

/// GNU parallel's `s:.*/::`.
fn basename(value: &[u8]) -> &[u8] {
    match value.iter().rposition(|&b| b == b'/') {
        Some(i) => &value[i + 1..],
        None => value,
    }
}

/// Perl's `File::Basename::dirname` on Unix, which GNU parallel uses for `{//}`.
fn dirname(value: &[u8]) -> Vec<u8> {
    // fileparse: split after the last '/'; no '/' gives "./".
    fn split(path: &[u8]) -> (Vec<u8>, &[u8]) {
        match path.iter().rposition(|&b| b == b'/') {
            Some(i) => (path[..=i].to_vec(), &path[i + 1..]),
            None => (b"./".to_vec(), path),
        }
    }
    // s{(.)/*\z}{$1}s: drop trailing slashes but keep the first byte.
    fn trim(dir: &mut Vec<u8>) {
        while dir.len() > 1 && dir.last() == Some(&b'/') {
            dir.pop();
        }
    }
    let (mut dir, base) = split(value);
    trim(&mut dir);
    if base.is_empty() {
        let again = dir.clone();
        let (d, _) = split(&again);
        dir = d;
        trim(&mut dir);
    }
    dir
}

/// Shell-quotes one value the way GNU parallel does: unchanged when it holds
/// only `[-_.+a-zA-Z0-9/]`, `''` when empty, otherwise single-quoted with
/// each `'` written as `'"'"'`.
pub fn quote_into(value: &[u8], out: &mut Vec<u8>) {
    let plain = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+' | b'/');
    if value.is_empty() {
        out.extend_from_slice(b"''");
        return;
    }
    if value.iter().all(plain) {
        out.extend_from_slice(value);
        return;
    }
    let start = out.len();
    out.push(b'\'');
    for &b in value {
        if b == b'\'' {
            out.extend_from_slice(b"'\"'\"'");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    // GNU parallel drops the empty '' pairs this leaves at either end.
    if out[start..].starts_with(b"''") {
        out.drain(start..start + 2);
    }
    if out[start..].ends_with(b"''") && out.len() - start >= 2 {
        out.truncate(out.len() - 2);
    }
}

/// The length [`quote_into`] gives `value`, without building it.
pub fn quoted_len(value: &[u8]) -> usize {
    let plain = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+' | b'/');
    if value.is_empty() {
        return 2;
    }
    if value.iter().all(plain) {
        return value.len();
    }
    let quotes = value.iter().filter(|&&b| b == b'\'').count();
    let mut len = value.len() + 4 * quotes + 2;
    // The empty '' pairs quote_into drops at either end.
    if value.first() == Some(&b'\'') {
        len -= 2;
    }
    if value.last() == Some(&b'\'') {
        len -= 2;
    }
    len
}

/// Shell-quotes one value into a new buffer.
pub fn quote(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 2);
    quote_into(value, &mut out);
    out
}

/// Where a replacement string stands in the template's own shell quoting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    /// Outside quotes: the value is single-quoted as GNU parallel does.
    Unquoted,
    /// Inside the template's `'...'`: the quote is closed around the value.
    Single,
    /// Inside the template's `"..."`: `$`, backquote, `"` and backslash are escaped.
    Double,
}

/// One piece of the joined command line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// Literal text with no whitespace.
    Literal(Vec<u8>),
    /// Whitespace between words (bounds `-X` contexts).
    Space(Vec<u8>),
    /// `{}` or `{N}` with a path operation; `position` is 1-based.
    Arg {
        position: Option<usize>,
        op: PathOp,
        quoting: Quoting,
    },
    /// `{#}`: the job's sequence number.
    Seq,
    /// `{%}`: the job's slot.
    Slot,
    /// `-q`: a word mixing text and replacement strings, quoted as a whole
    /// once the values are in (GNU parallel's rendering).
    QuotedWord(Vec<Token>),
}

impl Token {
    fn is_replacement(&self) -> bool {
        matches!(
            self,
            Token::Arg { .. } | Token::Seq | Token::Slot | Token::QuotedWord(_)
        )
    }

    /// `{}`-style (all values), which `-X` repeats.
    fn holds_all_args(&self) -> bool {
        match self {
            Token::Arg { position: None, .. } => true,
            Token::QuotedWord(inner) => inner.iter().any(Token::holds_all_args),
            _ => false,
        }
    }
}

/// What a job fills a template with.
#[derive(Debug, Clone, Copy)]
pub struct Fill<'a> {
    /// Sequence number, from 1.
    pub seq: u64,
    /// Slot number, from 1.
    pub slot: usize,
    /// The job's values: one per input source, times the inputs per job.
    pub args: Args<'a>,
}

/// A parsed command template.
#[derive(Debug, Clone)]
pub struct Template {
    tokens: Vec<Token>,
    /// Any replacement string at all (none: the values are appended).
    has_replacement: bool,
    /// `-X`: the word around `{}` is repeated for each value.
    context_replace: bool,
    /// No command given: each input is itself the command line.
    input_is_command: bool,
    direct: Option<DirectPlan>,
    /// The command is a bash function exported with `export -f`.
    calls_function: bool,
}

/// Options that change how a template is parsed.
#[derive(Debug, Clone, Default)]
pub struct TemplateOptions {
    /// `-I STR`: STR replaces `{}`.
    pub replace: Option<Vec<u8>>,
    /// `-q`: quote the command words themselves.
    pub quote_words: bool,
    /// `-X`: context replace.
    pub context_replace: bool,
}

/// A template error: always a usage error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError(pub String);

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TemplateError {}

/// Recognises a replacement string at the start of `rest`, returning the
/// token and its length.
fn replacement_at(rest: &[u8], replace: &[u8]) -> Option<(Token, usize)> {
    let arg = |position, op| Token::Arg {
        position,
        op,
        quoting: Quoting::Unquoted,
    };
    if !replace.is_empty() && rest.starts_with(replace) {
        return Some((arg(None, PathOp::Whole), replace.len()));
    }
    if rest.first() != Some(&b'{') {
        return None;
    }
    let close = rest.iter().position(|&b| b == b'}')?;
    let inner = &rest[1..close];
    let digits = inner.iter().take_while(|b| b.is_ascii_digit()).count();
    let (position, suffix) = if digits > 0 {
        let n: usize = std::str::from_utf8(&inner[..digits]).ok()?.parse().ok()?;
        if n == 0 {
            return None;
        }
        (Some(n), &inner[digits..])
    } else {
        (None, inner)
    };
    let op = match suffix {
        b"" if position.is_some() => PathOp::Whole,
        b"." => PathOp::NoExtension,
        b"/" => PathOp::Basename,
        b"//" => PathOp::Dirname,
        b"/." => PathOp::BasenameNoExtension,
        b"#" if position.is_none() => return Some((Token::Seq, close + 1)),
        b"%" if position.is_none() => return Some((Token::Slot, close + 1)),
        _ => return None,
    };
    Some((arg(position, op), close + 1))
}

/// Splits one command word into literal text and replacement strings.
fn split_word(word: &[u8], replace: &[u8]) -> Vec<Token> {
    let mut out = Vec::new();
    let mut literal = Vec::new();
    let mut i = 0;
    while i < word.len() {
        if let Some((token, len)) = replacement_at(&word[i..], replace) {
            if !literal.is_empty() {
                out.push(Token::Literal(std::mem::take(&mut literal)));
            }
            out.push(token);
            i += len;
        } else {
            literal.push(word[i]);
            i += 1;
        }
    }
    if !literal.is_empty() {
        out.push(Token::Literal(literal));
    }
    out
}

/// Splits literal tokens at whitespace into `Literal` and `Space` runs, so
/// `-X` can find the context (the run of non-blanks) around `{}`.
fn split_blanks(tokens: Vec<Token>, out: &mut Vec<Token>) {
    for token in tokens {
        let Token::Literal(text) = token else {
            out.push(token);
            continue;
        };
        let mut start = 0;
        while start < text.len() {
            let is_space = is_blank(text[start]);
            let len = text[start..]
                .iter()
                .take_while(|&&b| is_blank(b) == is_space)
                .count();
            let piece = text[start..start + len].to_vec();
            out.push(if is_space {
                Token::Space(piece)
            } else {
                Token::Literal(piece)
            });
            start += len;
        }
    }
}

/// Whether `word` holds GNU parallel's `{-N}` (or `{-N.}` ...).
fn counts_from_the_end(word: &[u8]) -> bool {
    word.windows(3).enumerate().any(|(i, w)| {
        w[0] == b'{' && w[1] == b'-' && w[2].is_ascii_digit() && word[i + 2..].contains(&b'}')
    })
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n')
}

/// Records, for each replacement string, whether the template's own text
/// has it inside single or double quotes, reading quotes and backslashes as
/// a POSIX shell does.
fn mark_quoting(tokens: &mut [Token]) {
    let mut state = Quoting::Unquoted;
    let mut escaped = false;
    for token in tokens {
        match token {
            Token::Literal(text) | Token::Space(text) => {
                for &b in text.iter() {
                    if escaped {
                        escaped = false;
                        continue;
                    }
                    state = match (state, b) {
                        (Quoting::Unquoted, b'\'') => Quoting::Single,
                        (Quoting::Unquoted, b'"') => Quoting::Double,
                        (Quoting::Single, b'\'') | (Quoting::Double, b'"') => Quoting::Unquoted,
                        (Quoting::Unquoted | Quoting::Double, b'\\') => {
                            escaped = true;
                            state
                        }
                        _ => state,
                    };
                }
            }
            Token::Arg { quoting, .. } => {
                escaped = false;
                *quoting = state;
            }
            _ => escaped = false,
        }
    }
}

impl Template {
    /// Parses the command words. An empty command means each input is run
    /// as a command line of its own.
    pub fn parse(words: &[OsString], options: &TemplateOptions) -> Result<Self, TemplateError> {
        let replace = options.replace.as_deref().unwrap_or(b"{}");
        // GNU parallel finds these in the words joined by spaces, so
        // `echo {= s/a/b/ =}` (four words) is one too.
        let line = words
            .iter()
            .map(|w| w.as_bytes())
            .collect::<Vec<_>>()
            .join(&b' ');
        let at = |from: usize, what: &[u8]| {
            line.get(from..)
                .and_then(|rest| rest.windows(2).position(|p| p == what))
                .map(|i| from + i)
        };
        if let Some(open) = at(0, b"{=") {
            if let Some(close) = at(open + 2, b"=}") {
                return Err(TemplateError(format!(
                    "'{}': GNU parallel's {{= perl expression =}} replacement strings are not supported",
                    String::from_utf8_lossy(&line[open..close + 2])
                )));
            }
        }
        if let Some(word) = words.iter().find(|w| counts_from_the_end(w.as_bytes())) {
            return Err(TemplateError(format!(
                "'{}': {{-N}} (input sources counted from the end) is not supported yet",
                word.to_string_lossy()
            )));
        }
        let mut tokens = Vec::new();
        for (i, word) in words.iter().enumerate() {
            if i > 0 {
                tokens.push(Token::Space(b" ".to_vec()));
            }
            let parts = split_word(word.as_bytes(), replace);
            if !options.quote_words {
                split_blanks(parts, &mut tokens);
            } else if parts.iter().any(Token::is_replacement) {
                match <[Token; 1]>::try_from(parts) {
                    Ok([single]) => tokens.push(single),
                    Err(parts) => tokens.push(Token::QuotedWord(parts)),
                }
            } else {
                tokens.push(Token::Literal(quote(word.as_bytes())));
            }
        }
        if !options.quote_words {
            mark_quoting(&mut tokens);
        }
        let has_replacement = tokens.iter().any(Token::is_replacement);
        let mut template = Template {
            tokens,
            has_replacement,
            context_replace: options.context_replace,
            input_is_command: words.is_empty(),
            direct: None,
            calls_function: false,
        };
        // GNU parallel's way to run a shell function is `export -f` and a
        // bash to define it from the environment: no direct plan, then.
        template.calls_function = words
            .first()
            .and_then(|w| {
                w.as_bytes()
                    .split(u8::is_ascii_whitespace)
                    .find(|n| !n.is_empty())
            })
            .is_some_and(is_exported_function);
        if !template.calls_function {
            template.direct = DirectPlan::build(&template);
        }
        Ok(template)
    }

    /// Whether the command is a bash function exported with `export -f`
    /// (so it needs bash).
    pub fn calls_exported_function(&self) -> bool {
        self.calls_function
    }

    /// Parses a `--tagstring`: same replacement strings, values not quoted.
    pub fn parse_tag(text: &OsString, replace: Option<&[u8]>) -> Self {
        Template {
            tokens: split_word(text.as_bytes(), replace.unwrap_or(b"{}")),
            has_replacement: true,
            context_replace: false,
            input_is_command: false,
            direct: None,
            calls_function: false,
        }
    }

    /// The plan for running without a shell, when the template allows it.
    pub fn direct(&self) -> Option<&DirectPlan> {
        self.direct.as_ref()
    }

    /// Whether `{}` (or `-I STR`) occurs, i.e. the values are not appended.
    pub fn has_replacement(&self) -> bool {
        self.has_replacement
    }

    /// Fills the template into a shell command line. With `quoted` false the
    /// values are inserted raw (for `--tagstring`).
    pub fn render_line(&self, fill: &Fill<'_>, quoted: bool, out: &mut Vec<u8>) {
        if self.input_is_command {
            // The user asked for each input to be run as a command.
            for (i, arg) in fill.args.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(arg);
            }
            return;
        }
        let mut i = 0;
        while i < self.tokens.len() {
            if self.context_replace {
                let end = self.context_end(i);
                if end > i {
                    for (k, arg) in fill.args.iter().enumerate() {
                        if k > 0 {
                            out.push(b' ');
                        }
                        let one = Fill {
                            args: Args::One(arg),
                            ..*fill
                        };
                        for token in &self.tokens[i..end] {
                            render_token(token, &one, quoted, out);
                        }
                    }
                    i = end;
                    continue;
                }
            }
            render_token(&self.tokens[i], fill, quoted, out);
            i += 1;
        }
        if !self.has_replacement {
            for arg in fill.args.iter() {
                out.push(b' ');
                put_value(arg, Quoting::Unquoted, quoted, out);
            }
        }
    }

    /// For `-X`: if a context (a run of non-space tokens holding `{}`) starts at
    /// token `i`, the index just past it; otherwise `i`.
    fn context_end(&self, i: usize) -> usize {
        let is_space = |t: &Token| matches!(t, Token::Space(_));
        if is_space(&self.tokens[i]) || (i > 0 && !is_space(&self.tokens[i - 1])) {
            return i;
        }
        let end = self.tokens[i..]
            .iter()
            .position(is_space)
            .map_or(self.tokens.len(), |p| i + p);
        if self.tokens[i..end].iter().any(Token::holds_all_args) {
            end
        } else {
            i
        }
    }

    /// Bytes the shell line grows by when `arg` is added to a job packed with
    /// `-X` or `-m`: an upper bound, used to fill command lines. Runs once per
    /// input, so the common shapes (`{}` alone, or no replacement string)
    /// are counted without building anything.
    pub fn arg_cost(&self, arg: &[u8]) -> usize {
        // One byte for the separating space, one for argv's NUL.
        let mut cost = 2;
        if !self.has_replacement {
            return cost + quoted_len(arg);
        }
        let fill = Fill {
            seq: u64::MAX,
            slot: usize::MAX,
            args: Args::One(arg),
        };
        let mut piece = Vec::new();
        let mut i = 0;
        while i < self.tokens.len() {
            let end = if self.context_replace {
                self.context_end(i)
            } else {
                i
            };
            if end > i {
                for token in &self.tokens[i..end] {
                    render_token(token, &fill, true, &mut piece);
                }
                cost += piece.len() + 1;
                piece.clear();
                i = end;
                continue;
            }
            match &self.tokens[i] {
                Token::Arg {
                    position: None,
                    op: PathOp::Whole,
                    quoting: Quoting::Unquoted,
                } => {
                    cost += quoted_len(arg) + 1;
                }
                token if token.holds_all_args() => {
                    render_token(token, &fill, true, &mut piece);
                    cost += piece.len() + 1;
                    piece.clear();
                }
                _ => {}
            }
            i += 1;
        }
        cost
    }
}

/// Writes one value for the shell, according to the quotes around it in the
/// template, or raw when `quoted` is false.
fn put_value(value: &[u8], quoting: Quoting, quoted: bool, out: &mut Vec<u8>) {
    if !quoted {
        out.extend_from_slice(value);
        return;
    }
    match quoting {
        Quoting::Unquoted => quote_into(value, out),
        Quoting::Single => {
            // Close the template's quote, insert the quoted value, reopen.
            out.push(b'\'');
            quote_into(value, out);
            out.push(b'\'');
        }
        Quoting::Double => {
            for &b in value {
                if matches!(b, b'$' | b'`' | b'"' | b'\\') {
                    out.push(b'\\');
                }
                out.push(b);
            }
        }
    }
}

/// The values a replacement string stands for, after its path operation.
fn values<'a>(
    position: Option<usize>,
    op: PathOp,
    fill: &'a Fill<'_>,
) -> Vec<std::borrow::Cow<'a, [u8]>> {
    match position {
        None => fill.args.iter().map(|a| op.apply(a)).collect(),
        // Out of range is empty and unquoted, as in GNU parallel.
        Some(n) => fill
            .args
            .get(n - 1)
            .map(|a| op.apply(a))
            .into_iter()
            .collect(),
    }
}

fn render_token(token: &Token, fill: &Fill<'_>, quoted: bool, out: &mut Vec<u8>) {
    match token {
        Token::Literal(text) | Token::Space(text) => out.extend_from_slice(text),
        Token::Arg {
            position,
            op,
            quoting,
        } => {
            let values = values(*position, *op, fill);
            if *quoting == Quoting::Unquoted || values.len() < 2 {
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    put_value(value, *quoting, quoted, out);
                }
            } else {
                // Inside the template's quotes several values form one word.
                put_value(&values.join(&b' '), *quoting, quoted, out);
            }
        }
        Token::Seq => out.extend_from_slice(fill.seq.to_string().as_bytes()),
        Token::Slot => out.extend_from_slice(fill.slot.to_string().as_bytes()),
        Token::QuotedWord(inner) => {
            let mut word = Vec::new();
            for token in inner {
                render_token(token, fill, false, &mut word);
            }
            put_value(&word, Quoting::Unquoted, quoted, out);
        }
    }
}

/// Whether bash put a function `name` in the environment (`export -f`):
/// `BASH_FUNC_name%%` since the 2014 Shellshock fixes, `BASH_FUNC_name()`
/// with some distributions' variant of them.
fn is_exported_function(name: &[u8]) -> bool {
    use std::os::unix::ffi::OsStringExt;
    ["%%", "()"].into_iter().any(|suffix| {
        let mut var = b"BASH_FUNC_".to_vec();
        var.extend_from_slice(name);
        var.extend_from_slice(suffix.as_bytes());
        std::env::var_os(OsString::from_vec(var)).is_some()
    })
}

/// Names the shell must run itself: keywords, and builtins that change the
/// shell or differ from the program of the same name (dash's `echo` expands
/// backslash escapes, `/bin/echo` does not). `true` and `false` are absent:
/// their programs behave exactly like the builtins.
const SHELL_ONLY: &[&[u8]] = &[
    b"!",
    b".",
    b":",
    b"[",
    b"[[",
    b"]]",
    b"{",
    b"}",
    b"alias",
    b"bg",
    b"bind",
    b"break",
    b"builtin",
    b"caller",
    b"case",
    b"cd",
    b"command",
    b"compgen",
    b"complete",
    b"compopt",
    b"continue",
    b"coproc",
    b"declare",
    b"dirs",
    b"disown",
    b"do",
    b"done",
    b"echo",
    b"elif",
    b"else",
    b"enable",
    b"esac",
    b"eval",
    b"exec",
    b"exit",
    b"export",
    b"fc",
    b"fg",
    b"fi",
    b"for",
    b"function",
    b"getopts",
    b"hash",
    b"help",
    b"history",
    b"if",
    b"in",
    b"jobs",
    b"kill",
    b"let",
    b"local",
    b"logout",
    b"mapfile",
    b"popd",
    b"printf",
    b"pushd",
    b"pwd",
    b"read",
    b"readarray",
    b"readonly",
    b"return",
    b"select",
    b"set",
    b"shift",
    b"shopt",
    b"source",
    b"suspend",
    b"test",
    b"then",
    b"time",
    b"times",
    b"trap",
    b"type",
    b"typeset",
    b"ulimit",
    b"umask",
    b"unalias",
    b"unset",
    b"until",
    b"wait",
    b"while",
];

/// A piece of one argv word in a [`DirectPlan`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(Vec<u8>),
    Token(Token),
}

/// One argv word: its pieces, and whether the shell would keep it even when
/// it comes out empty (it had quotes or text).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    pieces: Vec<Piece>,
    present: bool,
}

/// The argv a plain template produces, built without a shell.
///
/// Exists only when running the line under `sh -c` is guaranteed to give the
/// same argv: `DirectPlan::build` lists the rules.
#[derive(Debug, Clone)]
pub struct DirectPlan {
    words: Vec<Word>,
    has_replacement: bool,
    context_replace: bool,
}

impl DirectPlan {
    /// Reads the token stream as a POSIX shell would, and gives up (returns
    /// `None`) at anything parx does not reproduce exactly: expansions,
    /// operators, globs, comments, tildes, assignments, builtins, keywords,
    /// and replacement strings inside quotes (where GNU parallel's quoting
    /// interacts with the template's). shell-words cannot be used here
    /// because it does not say which pieces were quoted.
    fn build(template: &Template) -> Option<DirectPlan> {
        if template.input_is_command {
            return None;
        }
        #[derive(PartialEq)]
        enum Quote {
            None,
            Single,
            Double,
        }
        let mut words: Vec<Word> = Vec::new();
        let mut current = Word {
            pieces: Vec::new(),
            present: false,
        };
        let mut literal: Vec<u8> = Vec::new();
        let mut state = Quote::None;
        let mut saw_quote = false;
        let finish = |current: &mut Word, literal: &mut Vec<u8>, words: &mut Vec<Word>| {
            if !literal.is_empty() {
                current.pieces.push(Piece::Literal(std::mem::take(literal)));
            }
            if current.present || !current.pieces.is_empty() {
                words.push(std::mem::replace(
                    current,
                    Word {
                        pieces: Vec::new(),
                        present: false,
                    },
                ));
            }
        };
        for token in &template.tokens {
            let text = match token {
                Token::Literal(t) | Token::Space(t) => t,
                other => {
                    if !literal.is_empty() {
                        current
                            .pieces
                            .push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    match other {
                        // -q: one argv word, the values inserted raw.
                        Token::QuotedWord(inner) => {
                            saw_quote = true;
                            current.present = true;
                            for t in inner {
                                current.pieces.push(match t {
                                    Token::Literal(text) => Piece::Literal(text.clone()),
                                    Token::Arg { position, op, .. } => Piece::Token(Token::Arg {
                                        position: *position,
                                        op: *op,
                                        quoting: Quoting::Single,
                                    }),
                                    t => Piece::Token(t.clone()),
                                });
                            }
                        }
                        t => current.pieces.push(Piece::Token(t.clone())),
                    }
                    continue;
                }
            };
            let mut bytes = text.iter().copied().peekable();
            while let Some(b) = bytes.next() {
                match state {
                    Quote::Single => {
                        if b == b'\'' {
                            state = Quote::None;
                        } else {
                            literal.push(b);
                        }
                    }
                    Quote::Double => match b {
                        b'"' => state = Quote::None,
                        b'$' | b'`' => return None,
                        b'\\' => match bytes.next()? {
                            c @ (b'"' | b'\\') => literal.push(c),
                            b'$' | b'`' | b'\n' => return None,
                            c => {
                                literal.push(b'\\');
                                literal.push(c);
                            }
                        },
                        c => literal.push(c),
                    },
                    Quote::None => match b {
                        b' ' | b'\t' => finish(&mut current, &mut literal, &mut words),
                        b'\'' => {
                            state = Quote::Single;
                            current.present = true;
                            saw_quote = true;
                        }
                        b'"' => {
                            state = Quote::Double;
                            current.present = true;
                            saw_quote = true;
                        }
                        b'\\' => {
                            let c = bytes.next()?;
                            if c == b'\n' {
                                return None;
                            }
                            literal.push(c);
                            current.present = true;
                            saw_quote = true;
                        }
                        b'|' | b'&' | b';' | b'<' | b'>' | b'(' | b')' | b'$' | b'`' | b'*'
                        | b'?' | b'[' | b'{' | b'}' | b'!' | b'\n' => return None,
                        b'#' | b'~' if literal.is_empty() && current.pieces.is_empty() => {
                            return None
                        }
                        c => {
                            literal.push(c);
                            current.present = true;
                        }
                    },
                }
            }
        }
        if state != Quote::None {
            return None;
        }
        finish(&mut current, &mut literal, &mut words);
        let first = words.first()?;
        let name = match first.pieces.as_slice() {
            [Piece::Literal(name)] => name,
            _ => return None, // empty, or the command name comes from the input
        };
        if name.is_empty() || name.contains(&b'=') || SHELL_ONLY.contains(&name.as_slice()) {
            return None;
        }
        if template.context_replace && saw_quote {
            // -X contexts are whitespace runs of the shell line; with quotes
            // they need not match argv words, so leave it to the shell.
            return None;
        }
        Some(DirectPlan {
            words,
            has_replacement: template.has_replacement,
            context_replace: template.context_replace,
        })
    }

    /// Fills the plan into argv words.
    pub fn render(&self, fill: &Fill<'_>) -> crate::exec::Argv {
        let mut argv = crate::exec::Argv::default();
        // One word at a time, reused: the values go straight into argv's
        // single buffer, with no allocation per value.
        let mut current = Vec::new();
        for word in &self.words {
            let repeat = self.context_replace
                && word
                    .pieces
                    .iter()
                    .any(|p| matches!(p, Piece::Token(t) if t.holds_all_args()));
            if repeat {
                for arg in fill.args.iter() {
                    let one = Fill {
                        args: Args::One(arg),
                        ..*fill
                    };
                    render_word(word, &one, &mut current, &mut argv);
                }
            } else {
                render_word(word, fill, &mut current, &mut argv);
            }
        }
        if !self.has_replacement {
            for arg in fill.args.iter() {
                argv.push(arg);
            }
        }
        argv
    }
}

/// Renders one word; several values in one `{}` split it, like the shell
/// splits `pre'a' 'b'post`. `current` is scratch space.
fn render_word(word: &Word, fill: &Fill<'_>, current: &mut Vec<u8>, argv: &mut crate::exec::Argv) {
    current.clear();
    let mut present = word.present;
    for piece in &word.pieces {
        match piece {
            Piece::Literal(text) => current.extend_from_slice(text),
            Piece::Token(Token::Arg {
                position,
                op,
                quoting,
            }) => {
                let values = values(*position, *op, fill);
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        if *quoting == Quoting::Unquoted {
                            argv.push(current);
                            current.clear();
                        } else {
                            // Inside quotes the values stay one word.
                            current.push(b' ');
                        }
                    }
                    current.extend_from_slice(value);
                    present = true;
                }
            }
            Piece::Token(Token::Seq) => {
                current.extend_from_slice(fill.seq.to_string().as_bytes());
                present = true;
            }
            Piece::Token(Token::Slot) => {
                current.extend_from_slice(fill.slot.to_string().as_bytes());
                present = true;
            }
            Piece::Token(Token::Literal(_) | Token::Space(_) | Token::QuotedWord(_)) => {
                unreachable!("build() turns these into literals and arguments")
            }
        }
    }
    if present || !current.is_empty() {
        argv.push(current);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Template {
        parse_with(words, TemplateOptions::default())
    }

    fn parse_with(words: &[&str], options: TemplateOptions) -> Template {
        let words: Vec<OsString> = words.iter().map(OsString::from).collect();
        Template::parse(&words, &options).unwrap()
    }

    fn line(t: &Template, args: &[&str]) -> String {
        let args: crate::input::Values = args.iter().collect();
        let mut out = Vec::new();
        t.render_line(
            &Fill {
                seq: 7,
                slot: 2,
                args: args.as_args(),
            },
            true,
            &mut out,
        );
        String::from_utf8(out).unwrap()
    }

    fn argv(t: &Template, args: &[&str]) -> Vec<String> {
        let args: crate::input::Values = args.iter().collect();
        t.direct()
            .expect("direct plan")
            .render(&Fill {
                seq: 7,
                slot: 2,
                args: args.as_args(),
            })
            .iter()
            .map(|w| String::from_utf8(w.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn quoting_matches_gnu_parallel() {
        let q = |s: &str| String::from_utf8(quote(s.as_bytes())).unwrap();
        assert_eq!(q("a/b.c"), "a/b.c");
        assert_eq!(q("b c"), "'b c'");
        assert_eq!(q("d'e"), "'d'\"'\"'e'");
        assert_eq!(q("$x"), "'$x'");
        assert_eq!(q(""), "''");
        assert_eq!(q("'"), "\"'\"");
        assert_eq!(q("'x"), "\"'\"'x'");
    }

    proptest::proptest! {
        #[test]
        fn quoted_len_matches_quote(value in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            proptest::prop_assert_eq!(quoted_len(&value), quote(&value).len());
        }

        #[test]
        fn quoted_len_matches_quote_for_quote_heavy_text(value in "['a $]{0,12}") {
            proptest::prop_assert_eq!(quoted_len(value.as_bytes()), quote(value.as_bytes()).len());
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// A filled template, read back by real shells (dash, bash, and
        /// bash as sh), gives every value back byte for byte, in a word of
        /// its own, mid-word and inside the template's own double quotes
        /// (issue 9).
        #[test]
        fn filled_lines_read_back_in_real_shells(
            values in proptest::collection::vec(proptest::collection::vec(1u8..=255, 0..10), 1..6),
        ) {
            let t = parse(&["printf", "'%s\\0'", "{}", "a{}b", "\"<{}>\""]);
            let mut script = Vec::new();
            for v in &values {
                t.render_line(&Fill { seq: 1, slot: 1, args: Args::One(v) }, true, &mut script);
                script.push(b'\n');
            }
            let mut expected = Vec::new();
            for v in &values {
                for (pre, post) in [(&b""[..], &b""[..]), (b"a", b"b"), (b"<", b">")] {
                    expected.extend_from_slice(pre);
                    expected.extend_from_slice(v);
                    expected.extend_from_slice(post);
                    expected.push(0);
                }
            }
            for shell in [&["dash"][..], &["bash"], &["bash", "--posix"]] {
                let out = std::process::Command::new(shell[0])
                    .args(&shell[1..])
                    .arg("-c")
                    .arg(std::ffi::OsStr::from_bytes(&script))
                    .output()
                    .expect("dash and bash are installed");
                proptest::prop_assert!(out.status.success(), "{shell:?}: {out:?}");
                proptest::prop_assert_eq!(&out.stdout, &expected, "{:?}", shell);
            }
        }
    }

    #[test]
    fn path_operations_match_gnu_parallel() {
        let op =
            |op: PathOp, s: &str| String::from_utf8(op.apply(s.as_bytes()).into_owned()).unwrap();
        assert_eq!(op(PathOp::Dirname, "a/b.c/d"), "a/b.c");
        assert_eq!(op(PathOp::Dirname, "dir/"), ".");
        assert_eq!(op(PathOp::Dirname, "plain"), ".");
        assert_eq!(op(PathOp::Dirname, "/a"), "/");
        assert_eq!(op(PathOp::Dirname, "/"), "/");
        assert_eq!(op(PathOp::Dirname, "a//b"), "a");
        assert_eq!(op(PathOp::Dirname, "a/b/"), "a");
        assert_eq!(op(PathOp::Basename, "dir/"), "");
        assert_eq!(op(PathOp::NoExtension, ".bashrc"), "");
        assert_eq!(op(PathOp::NoExtension, "a.d/f"), "a.d/f");
        assert_eq!(op(PathOp::NoExtension, "x.tar.gz"), "x.tar");
        assert_eq!(op(PathOp::BasenameNoExtension, "a/b.c"), "b");
    }

    #[test]
    fn values_are_quoted_and_appended_without_a_replacement_string() {
        assert_eq!(line(&parse(&["echo"]), &["b c"]), "echo 'b c'");
        assert_eq!(line(&parse(&["echo x; echo"]), &["a"]), "echo x; echo a");
        assert_eq!(line(&parse(&["echo", "{#}"]), &["a"]), "echo 7");
        assert_eq!(
            line(&parse(&["echo", "{2}", "{1}", "{3}"]), &["a", "b"]),
            "echo b a "
        );
        assert_eq!(
            line(&parse(&["echo", "pre{}post"]), &["a b"]),
            "echo pre'a b'post"
        );
    }

    #[test]
    fn custom_replacement_string_hides_braces() {
        let t = parse_with(
            &["echo", ",,", "{}"],
            TemplateOptions {
                replace: Some(b",,".to_vec()),
                ..Default::default()
            },
        );
        assert_eq!(line(&t, &["a"]), "echo a {}");
    }

    #[test]
    fn quote_words_quotes_the_template_too() {
        let t = parse_with(
            &["ls", "a b", "{}"],
            TemplateOptions {
                quote_words: true,
                ..Default::default()
            },
        );
        assert_eq!(line(&t, &["x y"]), "ls 'a b' 'x y'");
        assert_eq!(argv(&t, &["x y"]), ["ls", "a b", "x y"]);
    }

    #[test]
    fn context_replace_repeats_the_word() {
        let t = parse_with(
            &["ls", "pre{}post"],
            TemplateOptions {
                context_replace: true,
                ..Default::default()
            },
        );
        assert_eq!(line(&t, &["a", "b"]), "ls preapost prebpost");
        assert_eq!(argv(&t, &["a", "b"]), ["ls", "preapost", "prebpost"]);
    }

    #[test]
    fn plain_templates_get_a_direct_plan() {
        let t = parse(&["gzip", "-c", "--best", "{}"]);
        assert_eq!(argv(&t, &["a b"]), ["gzip", "-c", "--best", "a b"]);
        let t = parse(&["cp 'my file' \"x\"y {.}.bak"]);
        assert_eq!(argv(&t, &["a.txt"]), ["cp", "my file", "xy", "a.bak"]);
        let t = parse(&["touch", "{}", "''"]);
        assert_eq!(argv(&t, &[""]), ["touch", "", ""]);
        let t = parse(&["wc", "-l"]);
        assert_eq!(argv(&t, &["a", "b"]), ["wc", "-l", "a", "b"]);
    }

    #[test]
    fn values_inside_template_quotes_stay_data() {
        // GNU parallel would run $(id) here; parx escapes for the quotes around it.
        let t = parse(&["echo", r#""x{}""#]);
        assert_eq!(
            line(&t, &[r#"$(id) `a` \ ""#]),
            r#"echo "x\$(id) \`a\` \\ \"""#
        );
        assert_eq!(
            line(&parse(&["echo '{}'"]), &["it's"]),
            r#"echo '''it'"'"'s'''"#
        );
        assert_eq!(
            line(&parse(&["echo", "'{}'"]), &["a b", "c"]),
            "echo '''a b c'''"
        );
        let t = parse(&["cat", r#""{}.txt""#, "'{.}'"]);
        assert_eq!(argv(&t, &["a b.c"]), ["cat", "a b.c.txt", "a b"]);
        assert_eq!(argv(&t, &["x", "y"]), ["cat", "x y.txt", "x y"]);
    }

    #[test]
    fn quote_words_quotes_mixed_words_whole() {
        let opts = TemplateOptions {
            quote_words: true,
            ..Default::default()
        };
        let t = parse_with(&["ls", "x {} y", "{}"], opts);
        assert_eq!(line(&t, &["a'b"]), r#"ls 'x a'"'"'b y' 'a'"'"'b'"#);
        assert_eq!(argv(&t, &["a'b"]), ["ls", "x a'b y", "a'b"]);
    }

    #[test]
    fn shell_syntax_keeps_the_shell() {
        for words in [
            &["gzip", "-c", "{}", ">", "{}.gz"][..],
            &["grep x {} | sort"],
            &["echo", "{}"],
            &["cd", "{}"],
            &["FOO=1", "env"],
            &["ls", "*.c"],
            &["ls", "~/x"],
            &["echo", "'{}'"],
            &["cat", "\"$HOME\""],
            &["{}"],
            &[],
        ] {
            assert!(parse(words).direct().is_none(), "{words:?}");
        }
    }
}
