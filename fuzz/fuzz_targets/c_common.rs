//! What the C ABI fuzz targets share: the engine every input uses, and the fuzz bytes read as a
//! stream.
use neuneu_ffi::*;
use std::sync::OnceLock;

struct Handle(*mut neuneu_engine);
// SAFETY: an engine handle is immutable and shareable across threads (the header's contract).
unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}

/// The default model's engine, made once.
pub fn engine() -> *const neuneu_engine {
    static E: OnceLock<Handle> = OnceLock::new();
    E.get_or_init(|| {
        let mut e = std::ptr::null_mut();
        assert_eq!(unsafe { neuneu_engine_new_default(&mut e) }, 0);
        Handle(e)
    })
    .0
}

/// Reads the fuzz bytes as a stream; runs dry as zeros.
pub struct Bytes<'a>(pub &'a [u8]);

impl Bytes<'_> {
    pub fn u8(&mut self) -> u8 {
        let (b, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        b
    }
    pub fn u64(&mut self) -> u64 {
        (0..8).fold(0, |acc, _| (acc << 8) | self.u8() as u64)
    }
}
