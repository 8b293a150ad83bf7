//! Arbitrary bytes (and mutations of the real bundle, seeded by run-short.sh) through
//! `Engine::from_bytes`: an error is fine, a panic is a bug.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = neuneu::Engine::from_bytes(data);
});
