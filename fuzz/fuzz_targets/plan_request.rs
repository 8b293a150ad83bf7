//! A kill-plan sweep (JSON) through `request::plan_request`, the CLI's `neuneu plan` path, on
//! the embedded engine. An error is fine; a plan must have one decision per arm, probabilities
//! in [0, 1] and q10 <= median <= q90.
#![no_main]
use libfuzzer_sys::fuzz_target;
use neuneu::Engine;
use neuneu::io::request::{parse_sweep, plan_request};
use std::sync::OnceLock;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::embedded().expect("embedded model loads"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Legal but slow requests (up to plan::MAX_SAMPLES samples) would only make the fuzzer
    // time out; the limits themselves are tested in tests/it/huge_inputs.rs.
    let parsed = parse_sweep(text).ok();
    if parsed
        .as_ref()
        .is_some_and(|req| req.samples.unwrap_or(0) > 20_000 || req.arms.len() > 256)
    {
        return;
    }
    let Ok(plan) = plan_request(engine(), text) else {
        return;
    };
    let req = parsed.expect("it planned, so it parsed");
    assert_eq!(plan.decisions.len(), req.arms.len());
    for d in &plan.decisions {
        // An arm too young to judge (fewer points than the model's minimum or
        // min_observations) is kept outside the plan, with no numbers.
        if d.p_top_k.is_nan() {
            assert!(
                d.keep && d.median.is_nan() && d.reason.contains("needs"),
                "{d:?}"
            );
            continue;
        }
        assert!((0.0..=1.0).contains(&d.p_top_k), "{d:?}");
        assert!(d.q10 <= d.median && d.median <= d.q90, "{d:?}");
    }
});
