//! Model bundles, two ways:
//! - bytes starting with the bundle magic go whole through `Engine::from_bytes` (run-short.sh
//!   seeds the corpus with `models/default.nnb`): the checksums must reject any damage;
//! - anything else is a list of edits to one graph of the default bundle, which is then
//!   resealed with valid checksums (`Bundle::new`), so the damage reaches tract's ONNX reader
//!   and planner. Layout: `[flags, (if flags & 2) 4 bytes truncation, (4 bytes offset, 1 byte
//!   xor)*]`; flags & 1 picks the loss encoder instead of the forecaster.
//!
//! Either way: an error is fine, a panic or a forecast that is not finite, in [0, 1] and
//! non-crossing is a bug. tract panics on some malformed graphs; the engine catches them
//! (`engine::no_panic`) and returns an error, so this target uses the default panic hook
//! rather than libFuzzer's abort-on-any-panic one: a panic that escapes still aborts (the
//! harness turns an unwinding input into an abort).
#![no_main]
use libfuzzer_sys::fuzz_target;
use neuneu::inference::engine::DEFAULT_BUNDLE;
use neuneu::model::bundle::{Bundle, ENCODER, FORECASTER, MAGIC};
use neuneu::{Engine, Losses, RunInput};
use std::sync::OnceLock;

fn default_bundle() -> &'static Bundle {
    static B: OnceLock<Bundle> = OnceLock::new();
    B.get_or_init(|| Bundle::from_bytes(DEFAULT_BUNDLE).expect("the default bundle reads"))
}

fn resealed(data: &[u8]) -> Option<Bundle> {
    let (&flags, mut rest) = data.split_first()?;
    let b = default_bundle();
    let name = if flags & 1 == 1 { ENCODER } else { FORECASTER };
    let mut graph = b.graphs.get(name)?.clone();
    if flags & 2 == 2 && rest.len() >= 4 {
        let at = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        graph.truncate(at % (graph.len() + 1));
        rest = &rest[4..];
    }
    for edit in rest.chunks_exact(5) {
        if graph.is_empty() {
            break;
        }
        let at = u32::from_le_bytes(edit[..4].try_into().unwrap()) as usize % graph.len();
        graph[at] ^= edit[4];
    }
    let graphs = b
        .manifest
        .graphs
        .iter()
        .map(|g| {
            let bytes = if g.name == name {
                graph.clone()
            } else {
                b.graphs[&g.name].clone()
            };
            (g.name.clone(), bytes)
        })
        .collect();
    Some(Bundle::new(b.manifest.clone(), graphs))
}

fuzz_target!(
    init: {
        let _ = std::panic::take_hook();
    },
    |data: &[u8]| {
        let engine = if data.starts_with(&MAGIC) {
            Engine::from_bytes(data)
        } else {
            match resealed(data) {
                Some(b) => Engine::from_bundle(b),
                None => return,
            }
        };
        let Ok(engine) = engine else { return };
        let losses = [0.5f32, 1.0, 2.0, 3.5];
        let (s, a, t) = ([1.0, 2.0, 4.0], [0.3, 0.35, 0.4], [16.0, 64.0]);
        let mut runs = vec![RunInput::new(&s, &a, &t)];
        if engine.reads_losses() {
            runs.push(RunInput::new(&s, &a, &t).with_losses(Losses::Tokens(&losses)));
        }
        for f in engine.forecast_each(&runs).into_iter().flatten() {
            for fc in &f.forecasts {
                let q = &fc.quantiles;
                assert!(q.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)), "{q:?}");
                assert!(q.windows(2).all(|w| w[0] <= w[1]), "{q:?}");
            }
        }
    }
);
