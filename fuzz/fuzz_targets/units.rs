//! Duration, size, signal, --termseq, --halt and --load parsers: any text
//! gives a value or an error message, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parx::units;

fuzz_target!(|text: &str| {
    let _ = units::parse_duration(text);
    let _ = units::parse_timeout(text);
    let _ = units::parse_signal(text);
    let _ = units::parse_termseq(text);
    let _ = units::parse_size(text);
    let _ = units::parse_block_size(text);
    let _ = units::parse_load(text, 2);
    let _ = units::parse_halt(text);
});
