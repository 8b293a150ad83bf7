//! An event stream (`neuneu sweep`'s JSON lines) through `io::events::EventStream` on the
//! embedded engine. A refused event is fine; an answer must be well formed (one verdict per arm
//! asked, probabilities in [0, 1], q10 <= median <= q90), and after every event the sweep must
//! survive a save and load unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;
use neuneu::Engine;
use neuneu::io::events::{Answer, EventStream};
use neuneu::sweep::Sweep;
use std::sync::{Arc, OnceLock};

fn engine() -> Arc<Engine> {
    static E: OnceLock<Arc<Engine>> = OnceLock::new();
    E.get_or_init(|| Arc::new(Engine::embedded().expect("embedded model loads")))
        .clone()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Files are not the fuzzer's to write or read, and legal but slow plans (up to
    // MAX_SAMPLES samples) would only make it time out: their limits are tested elsewhere.
    if text.contains("save") || text.contains("load") || text.contains("samples") {
        return;
    }
    let mut stream = EventStream::new(engine(), "/nonexistent");
    for line in text.lines().take(200) {
        if let Some(Answer::Decide { decide, .. }) = stream.handle(line) {
            for v in &decide.arms {
                if let Some(p) = v.p_top_k {
                    assert!((0.0..=1.0).contains(&p), "{v:?}");
                }
                if let (Some(lo), Some(m), Some(hi)) = (v.q10, v.median, v.q90) {
                    assert!(lo <= m && m <= hi, "{v:?}");
                }
            }
            assert!(decide.k <= decide.k_requested, "{decide:?}");
        }
        if let Some(sweep) = stream.sweep() {
            let saved = sweep.save();
            let loaded = Sweep::load(engine(), &saved).expect("a saved sweep loads");
            assert_eq!(loaded.save(), saved);
        }
    }
});
