//! Forecast latency (criterion). Run: `cargo bench --bench forecast`.
//!
//! - `default/forecast_1`: one forecast with the embedded default model (30-point context, 1 target).
//! - `reference/forecast_1[_losses]`: the same with a reference-size random-weight bundle
//!   (d 512, 6 layers, FF 2048), without and with a 256,000-value token loss vector.
//! - `default/scheduler_64x66x3`: 64 arms x 66 tasks x 3 targets; each arm's loss vector is
//!   encoded once (`encode_losses`) and shared by its tasks (`Losses::Embedding`).
//! - `default/rank_64`, `default/plan_64`: `decisions::rank_runs` (forecasts included) and
//!   `plan::plan` (forecasts given) over 64 arms.

use criterion::{Criterion, criterion_group, criterion_main};
use neuneu::decisions::rank_runs;
use neuneu::model::architecture::Architecture;
use neuneu::testing::{SyntheticRun, random_bundle, synthetic_losses};
use neuneu::{Arm, Engine, Losses, PlanOptions, Policy, QuantileDistribution, RunInput, plan};
use std::hint::black_box;
use std::time::Duration;

fn default_model(c: &mut Criterion) {
    let engine = Engine::embedded().unwrap();
    let run = SyntheticRun::new(30, 1, 1);
    let mut g = c.benchmark_group("default");
    g.bench_function("forecast_1", |b| {
        b.iter(|| black_box(engine.forecast(&[run.input()]).unwrap()))
    });

    // The scheduler: 64 arms x 66 tasks, 3 targets each, one loss vector per arm.
    let loss_len = engine.architecture().encoder.as_ref().unwrap().loss_len;
    let arm_losses: Vec<Vec<f32>> = (0..64).map(|a| synthetic_losses(loss_len, a)).collect();
    let tasks: Vec<SyntheticRun> = (0..64 * 66).map(|i| SyntheticRun::new(30, 3, i)).collect();
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("scheduler_64x66x3", |b| {
        b.iter(|| {
            let emb: Vec<_> = arm_losses
                .iter()
                .map(|l| engine.encode_losses(l).unwrap())
                .collect();
            let runs: Vec<RunInput> = tasks
                .iter()
                .enumerate()
                .map(|(i, t)| t.input().with_losses(Losses::Embedding(&emb[i / 66])))
                .collect();
            black_box(engine.forecast(&runs).unwrap())
        })
    });

    let arms: Vec<SyntheticRun> = (0..64).map(|i| SyntheticRun::new(30, 1, i)).collect();
    let inputs: Vec<RunInput> = arms.iter().map(|r| r.input()).collect();
    g.sample_size(30);
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("rank_64", |b| {
        b.iter(|| black_box(rank_runs(&engine, &inputs).unwrap()))
    });
    let forecasts = engine.forecast(&inputs).unwrap();
    let plan_arms: Vec<Arm> = forecasts
        .iter()
        .zip(&arms)
        .enumerate()
        .map(|(i, (f, r))| Arm {
            id: format!("arm{i}"),
            forecast: QuantileDistribution::from_f32(i, engine.levels(), &f.forecasts[0].quantiles)
                .unwrap(),
            observations: r.steps.len(),
            last_value: *r.accuracy.last().unwrap(),
        })
        .collect();
    let options = PlanOptions::new(Policy::KeepTopK { k: 8 });
    g.bench_function("plan_64", |b| {
        b.iter(|| black_box(plan(&plan_arms, &options).unwrap()))
    });
    g.finish();
}

fn reference_model(c: &mut Criterion) {
    let arch = Architecture::reference();
    let engine =
        Engine::from_bundle(random_bundle(&arch, 42, "random-reference").unwrap()).unwrap();
    let run = SyntheticRun::new(30, 1, 1);
    let losses = synthetic_losses(arch.encoder.as_ref().unwrap().loss_len, 7);
    let mut g = c.benchmark_group("reference");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("forecast_1", |b| {
        b.iter(|| black_box(engine.forecast(&[run.input()]).unwrap()))
    });
    g.bench_function("forecast_1_losses", |b| {
        b.iter(|| {
            let r = run.input().with_losses(Losses::Tokens(&losses));
            black_box(engine.forecast(&[r]).unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, default_model, reference_model);
criterion_main!(benches);
