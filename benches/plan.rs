//! Ranking and planning a 64-arm sweep: the sizes a scheduler calls on every checkpoint.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use neuneu::QuantileDistribution;
use neuneu::decisions::killplan::{Arm, PlanOptions, Policy, plan};
use neuneu::decisions::ranking::{DEFAULT_GRID, rank};

const ARMS: usize = 64;

/// A spread of arms: medians across [0.3, 0.9] in a shuffled order, several widths.
fn arms() -> Vec<Arm> {
    (0..ARMS)
        .map(|i| {
            let median = 0.3 + 0.6 * ((i * 37) % ARMS) as f64 / ARMS as f64;
            let half = 0.01 + 0.04 * ((i * 11) % 7) as f64 / 7.0;
            let forecast = QuantileDistribution::new(
                vec![0.1, 0.25, 0.5, 0.75, 0.9],
                vec![
                    median - half,
                    median - half / 2.5,
                    median,
                    median + half / 2.5,
                    median + half,
                ],
            )
            .expect("valid quantiles");
            Arm {
                id: format!("arm-{i}"),
                forecast,
                observations: 10,
                last_value: median - 0.05,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let arms = arms();
    let dists: Vec<QuantileDistribution> = arms.iter().map(|a| a.forecast.clone()).collect();
    c.bench_function("rank 64 arms, 64-point grids", |b| {
        b.iter(|| rank(black_box(&dists), DEFAULT_GRID))
    });
    for policy in [
        Policy::KeepTopK { k: 3 },
        Policy::StopFraction { fraction: 0.5 },
        Policy::StopBelowProbability {
            k: 8,
            threshold: 0.05,
        },
    ] {
        let options = PlanOptions::new(policy);
        c.bench_function(&format!("plan 64 arms, 4000 samples, {policy:?}"), |b| {
            b.iter(|| plan(black_box(&arms), &options))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
