//! A damaged bundle is an error, never a panic or a silently different model.
//!
//! - Flipped bytes: every byte of the header and the manifest, and a dense deterministic
//!   sample of the graphs (every 61st byte plus both ends of each graph). Set
//!   `NEUNEU_CORRUPTION_ALL=1` to flip every one of the default bundle's 416,070 bytes (about
//!   6 minutes on the 2-core development machine; all were refused when last run).
//! - Truncations: every length up to 2 KiB, every 509th after, and the last 64.
//! - Damaged graphs resealed with valid checksums (what a buggy exporter or a malicious file
//!   could hold): the bundle checks pass, so tract reads the damage. Loading or forecasting may
//!   fail, but only with an error, and any forecast it gives has one quantile per level, in
//!   [0, 1], non-crossing.

use crate::common::{assert_sane_forecast, with_graph};
use neuneu::inference::engine::DEFAULT_BUNDLE;
use neuneu::model::bundle::Bundle;
use neuneu::testing::SplitMix64;
use neuneu::{Engine, Losses, RunInput};

fn graph_ranges() -> Vec<std::ops::Range<usize>> {
    let b = Bundle::from_bytes(DEFAULT_BUNDLE).unwrap();
    let mut at = DEFAULT_BUNDLE.len() - b.graphs.values().map(Vec::len).sum::<usize>();
    b.manifest
        .graphs
        .iter()
        .map(|g| {
            let r = at..at + g.length as usize;
            at = r.end;
            r
        })
        .collect()
}

#[test]
fn every_flipped_byte_is_an_error() {
    let all = std::env::var_os("NEUNEU_CORRUPTION_ALL").is_some();
    let graphs = graph_ranges();
    let first_graph = graphs[0].start;
    let positions: Vec<usize> = (0..DEFAULT_BUNDLE.len())
        .filter(|&i| {
            all || i < first_graph
                || i % 61 == 0
                || graphs
                    .iter()
                    .any(|r| r.contains(&i) && (i < r.start + 64 || i + 64 >= r.end))
        })
        .collect();
    let mut bytes = DEFAULT_BUNDLE.to_vec();
    for &i in &positions {
        let mask = 1u8 << (i % 8);
        bytes[i] ^= mask;
        assert!(
            Engine::from_bytes(&bytes).is_err(),
            "flipping bit {} of byte {i} was accepted",
            i % 8
        );
        bytes[i] ^= mask;
    }
    eprintln!(
        "{} of {} bytes flipped, all refused",
        positions.len(),
        DEFAULT_BUNDLE.len()
    );
    assert!(positions.len() > 6000 || all);
}

#[test]
fn every_truncation_is_an_error() {
    let n = DEFAULT_BUNDLE.len();
    let lengths = (0..2048).chain((2048..n).step_by(509)).chain(n - 64..n);
    for len in lengths {
        assert!(
            Engine::from_bytes(&DEFAULT_BUNDLE[..len]).is_err(),
            "truncation to {len} bytes accepted"
        );
    }
}

/// `count` random byte edits of graph `name` of the default bundle, resealed.
fn resealed(name: &str, rng: &mut SplitMix64, count: usize) -> Bundle {
    let mut bytes = Bundle::from_bytes(DEFAULT_BUNDLE).unwrap().graphs[name].clone();
    for _ in 0..count {
        let at = (rng.next_u64() % bytes.len() as u64) as usize;
        bytes[at] ^= (rng.next_u64() % 255 + 1) as u8;
    }
    Bundle::from_bytes(&with_graph(name, bytes)).unwrap()
}

#[test]
fn resealed_damaged_graphs_give_errors_or_sane_forecasts() {
    let (s, a, t) = ([1.0, 2.0, 4.0, 8.0], [0.3, 0.35, 0.4, 0.42], [16.0, 256.0]);
    let losses = [0.5f32, 1.0, 2.0, 7.0];
    let runs = [
        RunInput::new(&s, &a, &t),
        RunInput::new(&s, &a, &t).with_losses(Losses::Tokens(&losses)),
    ];
    let mut rng = SplitMix64::new(8);
    let (mut loaded, mut forecast, mut total) = (0, 0, 0);
    for name in [
        neuneu::model::bundle::FORECASTER,
        neuneu::model::bundle::ENCODER,
    ] {
        for count in [1, 1, 1, 1, 2, 2, 4, 4, 8, 16, 32, 64] {
            total += 1;
            let Ok(engine) = Engine::from_bundle(resealed(name, &mut rng, count)) else {
                continue;
            };
            loaded += 1;
            for f in engine.forecast_each(&runs).into_iter().flatten() {
                forecast += 1;
                assert_sane_forecast(&engine, &f);
            }
        }
    }
    eprintln!("{total} damaged bundles: {loaded} loaded, {forecast} runs forecast");
}
