//! The online sweep's cost per decision: a 64-arm sweep where one arm changed since the last
//! decision (one forecast and the plan), beside the same decision with nothing new (the plan
//! alone) and one forecast alone. What a decision costs beyond its one forecast is the first
//! minus the third.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use neuneu::sweep::{Sweep, SweepOptions};
use neuneu::{Engine, Policy, RunInput};

const ARMS: usize = 64;
const POINTS: usize = 20;

/// Arm `a`'s value at checkpoint `t`: saturating curves of 64 different ceilings and speeds.
fn value(a: usize, t: usize) -> f64 {
    let ceiling = 0.4 + 0.5 * ((a * 37) % ARMS) as f64 / ARMS as f64;
    let speed = 0.05 + 0.1 * ((a * 11) % 7) as f64 / 7.0;
    ceiling * (1.0 - (-(speed * (t + 1) as f64)).exp())
}

fn step(t: usize) -> f64 {
    1000.0 * (t + 1) as f64
}

fn bench(c: &mut Criterion) {
    let engine = Arc::new(Engine::embedded().expect("the embedded model loads"));
    let mut options = SweepOptions::new(Policy::StopWithinBudget { k: 3, budget: 0.1 });
    options.end_step = Some(step(200));
    let mut sweep = Sweep::new(engine.clone(), options).expect("valid options");
    for t in 0..POINTS {
        for a in 0..ARMS {
            sweep
                .observe(&format!("arm-{a}"), step(t), value(a, t))
                .expect("valid points");
        }
    }
    sweep.decide(None).expect("a decision");

    // Before each decision one arm's forecast goes stale: the arm's end moves between two
    // steps, which costs what a new point costs (one forecast, then the plan) without growing
    // its context from one iteration to the next as new points would.
    let mut flip = false;
    c.bench_function("sweep of 64 arms: decide after one arm changed", |b| {
        b.iter(|| {
            flip = !flip;
            let end = if flip { step(199) } else { step(200) };
            sweep.set_end("arm-0", end).expect("an end");
            black_box(sweep.decide(None).expect("a decision"))
        })
    });
    c.bench_function(
        "sweep of 64 arms: decide with nothing new (the plan)",
        |b| b.iter(|| black_box(sweep.decide(None).expect("a decision"))),
    );
    // The forecast the first bench pays for: one arm at its end, 30 points (thinned to 32).
    let steps: Vec<f64> = (0..30).map(step).collect();
    let values: Vec<f64> = (0..30).map(|u| value(0, u)).collect();
    let end = [step(200)];
    c.bench_function("one forecast (30 points, one target)", |b| {
        b.iter(|| engine.forecast(&[RunInput::new(&steps, &values, &end)]))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
