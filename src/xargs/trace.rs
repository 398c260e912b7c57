//! `-t` and `-p`: the command printed as GNU xargs prints it, each word in
//! gnulib's "shell-escape" quoting (what `ls --quoting-style=shell-escape`
//! shows), so traces compare with xargs' and can be pasted back into a
//! shell. (One known difference: gnulib's output for a word holding both an
//! apostrophe and a control byte is not valid shell; parx's is.)
//!
//! The rules, in gnulib's order: a word of only safe characters is left
//! bare; a word whose only special characters are blanks and apostrophes
//! goes in double quotes; anything else goes in single quotes, with
//! apostrophes as `'\''` and control or unprintable bytes as `$'\n'`-style
//! escapes.

/// Whether bytes at or above 0x80 can be printable: the C library's
/// LC_CTYPE, from the environment, is UTF-8.
pub fn utf8_locale() -> bool {
    crate::sys::ctype_is_utf8()
}

/// The command line `argv` as xargs' `-t` writes it (without newline).
pub fn command_line(argv: &crate::exec::Argv, utf8: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, arg) in argv.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        quote(arg, utf8, &mut out);
    }
    out
}

/// One unit of the word: a byte, or a whole printable UTF-8 character.
enum Unit<'a> {
    Byte(u8),
    Wide(&'a [u8]),
}

fn units(word: &[u8], utf8: bool) -> Vec<Unit<'_>> {
    let mut out = Vec::new();
    let mut rest = word;
    while let Some(&b) = rest.first() {
        if b >= 0x80 && utf8 {
            let len = match b {
                0xc2..=0xdf => 2,
                0xe0..=0xef => 3,
                0xf0..=0xf4 => 4,
                _ => 1,
            };
            if len > 1 && rest.len() >= len {
                if let Ok(s) = std::str::from_utf8(&rest[..len]) {
                    if s.chars().all(crate::sys::is_printable) {
                        out.push(Unit::Wide(&rest[..len]));
                        rest = &rest[len..];
                        continue;
                    }
                }
            }
        }
        out.push(Unit::Byte(b));
        rest = &rest[1..];
    }
    out
}

#[derive(PartialEq, Eq)]
enum Class {
    /// Needs no quoting; also fine inside double quotes.
    Safe,
    /// Needs no quoting, but rules out double quotes (gnulib's choice).
    Bare,
    /// Needs quoting; fine inside double quotes (blank, apostrophe).
    Compatible,
    /// Needs single quotes.
    Special,
    /// Needs a `$'...'` escape: this letter or octal digits.
    Escape(Vec<u8>),
}

fn class(b: u8, at: usize, whole_len: usize) -> Class {
    match b {
        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => Class::Safe,
        b'%' | b'+' | b',' | b'-' | b'.' | b'/' | b':' | b']' | b'_' | b'@' => Class::Safe,
        b'{' | b'}' if whole_len != 1 => Class::Bare,
        b'#' | b'~' if at != 0 => Class::Bare,
        b'{' | b'}' | b'#' | b'~' | b' ' | b'\'' => Class::Compatible,
        b'!' | b'"' | b'$' | b'&' | b'(' | b')' | b'*' | b';' | b'<' | b'=' | b'>' | b'['
        | b'^' | b'`' | b'|' | b'\\' | b'?' => Class::Special,
        0x07 => Class::Escape(b"a".to_vec()),
        0x08 => Class::Escape(b"b".to_vec()),
        0x0c => Class::Escape(b"f".to_vec()),
        b'\n' => Class::Escape(b"n".to_vec()),
        b'\r' => Class::Escape(b"r".to_vec()),
        b'\t' => Class::Escape(b"t".to_vec()),
        0x0b => Class::Escape(b"v".to_vec()),
        _ => Class::Escape(format!("{:03o}", b).into_bytes()),
    }
}

fn quote(word: &[u8], utf8: bool, out: &mut Vec<u8>) {
    if word.is_empty() {
        out.extend_from_slice(b"''");
        return;
    }
    let units = units(word, utf8);
    let classes: Vec<Class> = units
        .iter()
        .enumerate()
        .map(|(at, u)| match u {
            Unit::Byte(b) => class(*b, at, word.len()),
            Unit::Wide(_) => Class::Safe,
        })
        .collect();
    if classes
        .iter()
        .all(|c| matches!(c, Class::Safe | Class::Bare))
    {
        out.extend_from_slice(word);
        return;
    }
    let apostrophe = word.contains(&b'\'');
    if apostrophe
        && classes
            .iter()
            .all(|c| matches!(c, Class::Safe | Class::Compatible))
    {
        out.push(b'"');
        out.extend_from_slice(word);
        out.push(b'"');
        return;
    }
    out.push(b'\'');
    let mut in_escape = false;
    for (unit, class) in units.iter().zip(classes) {
        match (unit, class) {
            (_, Class::Escape(code)) => {
                if !in_escape {
                    out.extend_from_slice(b"'$'");
                    in_escape = true;
                }
                out.push(b'\\');
                out.extend_from_slice(&code);
            }
            (Unit::Byte(b'\''), _) => {
                out.extend_from_slice(b"'\\''");
                in_escape = false;
            }
            (unit, _) => {
                if in_escape {
                    out.extend_from_slice(b"''");
                    in_escape = false;
                }
                match unit {
                    Unit::Byte(b) => out.push(*b),
                    Unit::Wide(bytes) => out.extend_from_slice(bytes),
                }
            }
        }
    }
    out.push(b'\'');
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    fn q(word: &[u8]) -> String {
        let mut out = Vec::new();
        quote(word, false, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// What -t prints reads back, in bash, as the very word.
        #[test]
        fn quoting_reads_back_in_bash(word in proptest::collection::vec(1u8..=255, 0..12)) {
            let mut quoted = b"printf %s ".to_vec();
            quote(&word, false, &mut quoted);
            let out = std::process::Command::new("bash")
                .arg("-c")
                .arg(std::ffi::OsStr::from_bytes(&quoted))
                .output()
                .unwrap();
            proptest::prop_assert_eq!(out.stdout, word);
        }
    }

    #[test]
    fn as_gnulib_quotes() {
        assert_eq!(q(b"echo"), "echo");
        assert_eq!(q(b"a-b_c.d/e:f,g+h%i@j]"), "a-b_c.d/e:f,g+h%i@j]");
        assert_eq!(q(b""), "''");
        assert_eq!(q(b"a b"), "'a b'");
        assert_eq!(q(b"it's"), "\"it's\"");
        assert_eq!(q(b"it's $x"), "'it'\\''s $x'");
        assert_eq!(q(b"\n \x0c\r\t\x0b\n"), "''$'\\n'' '$'\\f\\r\\t\\v\\n'");
        assert_eq!(q(b"#a"), "'#a'");
        assert_eq!(q(b"a#"), "a#");
        assert_eq!(q(b"{"), "'{'");
        assert_eq!(q(b"{}"), "{}");
        assert_eq!(q(b"\x01x"), "''$'\\001''x'");
        // Not a UTF-8 locale: bytes above 0x7f are escaped. (In a UTF-8
        // locale the C library decides; tests/xargs_mode.rs compares that
        // with GNU xargs.)
        assert_eq!(q("é".as_bytes()), "''$'\\303\\251'");
    }
}
