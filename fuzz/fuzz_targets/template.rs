//! The template parser and filler: any command words parse or give a
//! usage error, and any template fills with any values without panicking,
//! in every option combination, on the shell and the direct path.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use libfuzzer_sys::fuzz_target;
use parx::template::{quote, Fill, Template, TemplateOptions};

fuzz_target!(|input: (u8, Vec<Vec<u8>>, Vec<Vec<u8>>)| {
    let (flags, words, values) = input;
    let words: Vec<OsString> = words.into_iter().map(OsString::from_vec).collect();
    let options = TemplateOptions {
        replace: (flags & 1 != 0).then(|| b"XX".to_vec()),
        quote_words: flags & 2 != 0,
        context_replace: flags & 4 != 0,
    };
    let Ok(template) = Template::parse(&words, &options) else {
        return;
    };
    let fill = Fill {
        seq: u64::from(flags),
        slot: 1,
        args: &values,
    };
    let mut line = Vec::new();
    template.render_line(&fill, true, &mut line);
    if let Some(direct) = template.direct() {
        let _ = direct.render(&fill);
    }
    let _ = template.arg_cost(&values.concat());
    // Quoting reads back through a POSIX shell parser as the one word.
    for value in &values {
        if value.contains(&0) {
            continue;
        }
        let quoted = quote(value);
        let text = String::from_utf8_lossy(&quoted);
        if std::str::from_utf8(value).is_ok() {
            assert_eq!(
                shell_words::split(&text).expect("quoted text parses"),
                [String::from_utf8_lossy(value)]
            );
        }
    }
});
