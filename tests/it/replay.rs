//! The replay on a small curve file, end to end. The expected numbers were worked out by hand and
//! match the `reference halving` rows of `tools/optuna_replay.py` on the same file, which is what
//! keeps the Rust and Python replays on one protocol.

use neuneu::eval::curves::{ComputeAxis, read_curves};
use neuneu::eval::replay::{ReplayOptions, SuccessiveHalving, replay};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn halving_on_the_tiny_fixture_matches_the_worked_numbers() {
    let curves = read_curves(
        "tests/data/replay-tiny.csv",
        ComputeAxis::Tokens,
        neuneu::Metric::ACCURACY,
    )
    .unwrap();
    let opts = ReplayOptions::default();

    // eta=2: r1, r2 stop at rung 0, r6 at rung 1, r5 (short run, first judged at rung 2) at rung
    // 2, r4 at rung 3; r3 survives. Spent 10+10+100+20+50+20 of 375.
    let eta2 = replay(&curves, &SuccessiveHalving::new(2).unwrap(), &opts).unwrap();
    let s = &eta2.summary;
    assert_eq!((s.sweeps, s.skipped, s.no_survivor), (1, 1, 0));
    assert!(close(s.mean_compute_fraction, 210.0 / 375.0), "{s:?}");
    // Best final is r2 (0.60), the survivor r3 ends at 0.50; true top 3 is r2, r5, r3.
    assert!(close(s.mean_regret, 0.1), "{s:?}");
    assert_eq!(s.best_survived_rate, 0.0);
    assert!(close(s.mean_top_k_recall, 1.0 / 3.0), "{s:?}");

    let eta3 = replay(&curves, &SuccessiveHalving::new(3).unwrap(), &opts).unwrap();
    let s = &eta3.summary;
    assert!(close(s.mean_compute_fraction, 145.0 / 375.0), "{s:?}");
    assert!(close(s.mean_regret, 0.25), "{s:?}");
    assert_eq!(s.mean_top_k_recall, 0.0);
}
