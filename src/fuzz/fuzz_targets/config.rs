//! The configuration loader on arbitrary text, and on arbitrary bytes as `load_file` turns them
//! into text: never a panic; every error names the file and a place in it (line and column
//! from 1), and the text renders as `file:line:column: ...`.
#![no_main]

use std::path::Path;

use appliance::config::parse_str;
use libfuzzer_sys::fuzz_target;

const FILE: &str = "fuzz.toml";

fn check(text: &str) {
    let Err(errors) = parse_str(text, Path::new(FILE)) else {
        return;
    };
    assert!(!errors.0.is_empty(), "an error without a problem");
    let lines = text.split('\n').count();
    for e in &errors.0 {
        assert_eq!(e.file, Path::new(FILE));
        assert!(
            (1..=lines).contains(&e.line) && e.column >= 1,
            "no place in the file: {e:?}"
        );
        let shown = e.to_string();
        let place = format!("{FILE}:{}:{}: ", e.line, e.column);
        assert!(
            shown.starts_with(&place),
            "{shown:?} does not start with {place:?}"
        );
        assert!(!e.message.is_empty(), "an error without a message");
    }
}

fuzz_target!(|data: &[u8]| {
    match std::str::from_utf8(data) {
        Ok(text) => check(text),
        Err(_) => check(&String::from_utf8_lossy(data)),
    }
});
