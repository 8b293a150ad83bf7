//! A JSON Lines forecast request through `parse_line` + `forecast_lines` on the embedded engine.
#![no_main]
use libfuzzer_sys::fuzz_target;
use neuneu::Engine;
use neuneu::io::request::{forecast_lines, parse_line};
use std::path::Path;
use std::sync::OnceLock;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::embedded().expect("embedded model loads"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Relative .npy paths resolve into a folder that does not exist.
    let base = Path::new("/nonexistent-neuneu-fuzz");
    let parsed: Vec<_> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(64)
        .map(|l| parse_line(l, base))
        .collect();
    let responses = forecast_lines(engine(), &parsed);
    assert_eq!(responses.len(), parsed.len());
});
