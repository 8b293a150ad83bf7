//! Probes behind the forecast-quality findings in `docs/results/experiments-2026-11-30.md`:
//! each asks whether a cheap post-processing of the forecasts, or the data itself, limits the
//! error, without training anything.
//!
//!   cargo run --release --features train --example quality_probes -- PROBE [MODEL...] -- CURVES...
//!
//! PROBE is one of
//! - `blend`: the first model's quantiles shifted a quarter and a half of the way to the
//!   power-law fit's (and a quarter to persistence's) median;
//! - `ensemble`: the average of the models' quantiles, level by level;
//! - `recalibrate`: band factors fitted on the evaluation's own protocol (contexts cut at 10,
//!   20, 30 and 40% of compute, every later checkpoint a target; curves equal within a suite,
//!   suites equal), applied on top of the model's own;
//! - `hindsight`: the MAE, on the context-0.2 targets, of a power law fitted to the whole curve
//!   and of the mean of each target's two neighbours: how much of the error is checkpoint noise
//!   (no model needed);
//! - `per-curve`: per-curve MAE of every model and persistence on the curves outside MMLU.
//!
//! MODEL is a bundle path (none: the embedded default model). CURVES are long-format CSV files;
//! pass the held-out runs (`neuneu heldout FILE > held.csv`) to score only unseen runs.

use neuneu::adapt::calibration::{equal_group_weights, fit_increment_scales};
use neuneu::curves::{Curve, context_len, prefix};
use neuneu::eval::baselines::{Persistence, PowerLaw};
use neuneu::eval::curves::{ComputeAxis, read_curves};
use neuneu::eval::{EvalOptions, evaluate, render_table, split};
use neuneu::inference::forecast::{CurvePrefix, RunForecast};
use neuneu::{Engine, Error, Forecaster, Result};

const CONTEXTS: [f64; 3] = [0.1, 0.2, 0.4];

/// Turns the quantiles of one target from each inner forecaster into one set of quantiles.
type Combine<'a> = Box<dyn Fn(&[&[f32]]) -> Vec<f32> + Sync + 'a>;

/// A forecaster whose quantiles are the `inner` forecasters' combined by `combine`.
struct Combined<'a> {
    name: String,
    inner: Vec<&'a dyn Forecaster>,
    combine: Combine<'a>,
}

impl Forecaster for Combined<'_> {
    fn name(&self) -> &str {
        &self.name
    }
    fn levels(&self) -> &[f32] {
        self.inner[0].levels()
    }
    fn forecast_prefixes(&self, prefixes: &[CurvePrefix<'_>]) -> Result<Vec<RunForecast>> {
        let all: Vec<Vec<RunForecast>> = self
            .inner
            .iter()
            .map(|f| f.forecast_prefixes(prefixes))
            .collect::<Result<_>>()?;
        let mut out = all[0].clone();
        for (r, run) in out.iter_mut().enumerate() {
            for (t, forecast) in run.forecasts.iter_mut().enumerate() {
                let qs: Vec<&[f32]> = all
                    .iter()
                    .map(|a| a[r].forecasts[t].quantiles.as_slice())
                    .collect();
                forecast.quantiles = (self.combine)(&qs);
            }
        }
        Ok(out)
    }
}

/// The first forecast shifted by `w` times the gap between the second's median and its own.
fn blend<'a>(name: &str, a: &'a dyn Forecaster, b: &'a dyn Forecaster, w: f32) -> Combined<'a> {
    let median = median_index(a);
    Combined {
        name: name.to_string(),
        inner: vec![a, b],
        combine: Box::new(move |q| {
            let shift = w * (q[1][median] - q[0][median]);
            q[0].iter().map(|v| (v + shift).clamp(0.0, 1.0)).collect()
        }),
    }
}

fn table(curves: &[Curve], forecasters: &[&dyn Forecaster], context: f64) -> Result<String> {
    let opts = EvalOptions {
        context_fraction: context,
        ..EvalOptions::default()
    };
    Ok(render_table(&evaluate(curves, forecasters, &opts)?))
}

/// Band factors fitted on the evaluation protocol at several cuts, relative to the model's own.
fn protocol_factors(engine: &Engine, curves: &[Curve]) -> Result<Vec<f32>> {
    let (mut pred, mut target, mut weight, mut suite) = (vec![], vec![], vec![], vec![]);
    for cut in [0.1, 0.2, 0.3, 0.4] {
        let opts = EvalOptions {
            context_fraction: cut,
            ..EvalOptions::default()
        };
        let cuts = split(curves, &opts);
        let prefixes: Vec<CurvePrefix<'_>> =
            cuts.iter().map(|&(i, n)| prefix(&curves[i], n)).collect();
        for (&(i, n), run) in cuts.iter().zip(engine.forecast_prefixes(&prefixes)?) {
            let per_target = 1.0 / run.forecasts.len() as f64;
            for (t, f) in run.forecasts.iter().enumerate() {
                pred.extend_from_slice(&f.quantiles);
                target.push(curves[i].accuracy[n + t] as f32);
                weight.push(per_target);
                suite.push(curves[i].suite.as_str());
            }
        }
    }
    let median = median_index(engine);
    Ok(fit_increment_scales(
        &pred,
        &target,
        &equal_group_weights(&suite, &weight),
        engine.levels(),
        median,
    ))
}

/// Quantiles with each level's increment over its inner neighbour scaled by `scales`.
fn rescaled(q: &[f32], scales: &[f32], median: usize) -> Vec<f32> {
    let mut out = q.to_vec();
    for j in median + 1..q.len() {
        out[j] = out[j - 1] + scales[j] * (q[j] - q[j - 1]);
    }
    for j in (0..median).rev() {
        out[j] = out[j + 1] + scales[j] * (q[j] - q[j + 1]);
    }
    out.iter().map(|v| v.clamp(0.0, 1.0)).collect()
}

fn median_index(f: &dyn Forecaster) -> usize {
    f.levels()
        .iter()
        .position(|&l| l == 0.5)
        .expect("a median level")
}

fn hindsight(curves: &[Curve]) -> Result<String> {
    let power_law = PowerLaw::new();
    let median = median_index(&power_law);
    let (mut fit_sum, mut neighbour_sum, mut n_curves) = (0.0, 0.0, 0usize);
    for c in curves {
        let Some(n) = context_len(c, 0.2, 3) else {
            continue;
        };
        let whole = CurvePrefix {
            steps: &c.compute,
            accuracy: &c.accuracy,
            targets: &c.compute[n..],
        };
        let fit = power_law.forecast_prefixes(&[whole])?.remove(0);
        let last = c.compute.len() - 1;
        let (mut fit_err, mut neighbour_err) = (0.0, 0.0);
        for (t, f) in fit.forecasts.iter().enumerate() {
            let i = n + t;
            fit_err += (f.quantiles[median] as f64 - c.accuracy[i]).abs();
            let neighbours: Vec<f64> = [i - 1, (i + 1).min(last)]
                .into_iter()
                .filter(|&j| j != i)
                .map(|j| c.accuracy[j])
                .collect();
            let mean = neighbours.iter().sum::<f64>() / neighbours.len() as f64;
            neighbour_err += (mean - c.accuracy[i]).abs();
        }
        let targets = fit.forecasts.len() as f64;
        fit_sum += fit_err / targets;
        neighbour_sum += neighbour_err / targets;
        n_curves += 1;
    }
    let k = n_curves as f64;
    Ok(format!(
        "{n_curves} curves: power law fitted to the whole curve, MAE {:.4}; mean of the two \
         neighbours, MAE {:.4}",
        fit_sum / k,
        neighbour_sum / k
    ))
}

fn per_curve(curves: &[Curve], forecasters: &[&dyn Forecaster], names: &[&str]) -> Result<String> {
    let mut out = format!("{:40} {:>4} {}\n", "curve", "n", names.join(" "));
    for c in curves.iter().filter(|c| c.family() != "mmlu") {
        let opts = EvalOptions::default();
        let report = evaluate(std::slice::from_ref(c), forecasters, &opts)?;
        let maes: Vec<String> = report
            .forecasters
            .iter()
            .map(|f| format!("{:.4}", f.groups[0].mae))
            .collect();
        let id = format!("{}/{}/{}", c.run, c.shots, c.task);
        out += &format!("{id:40} {:>4} {}\n", c.compute.len(), maes.join(" "));
    }
    Ok(out)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = || Error::Parse("usage: quality_probes PROBE [MODEL...] -- CURVES...".into());
    let probe = args.first().ok_or_else(usage)?.as_str();
    let sep = args.iter().position(|a| a == "--").ok_or_else(usage)?;
    let mut engines: Vec<Engine> = args[1..sep]
        .iter()
        .map(Engine::from_path)
        .collect::<Result<_>>()?;
    if engines.is_empty() {
        engines.push(Engine::embedded()?);
    }
    let mut curves = Vec::new();
    for f in &args[sep + 1..] {
        curves.extend(read_curves(
            f,
            ComputeAxis::Tokens,
            neuneu::Metric::ACCURACY,
        )?);
    }
    let engine: &dyn Forecaster = &engines[0];
    let (persistence, power_law) = (Persistence::new(), PowerLaw::new());
    match probe {
        "blend" => {
            let combos = [
                blend("pl 0.25", engine, &power_law, 0.25),
                blend("pl 0.5", engine, &power_law, 0.5),
                blend("pers 0.25", engine, &persistence, 0.25),
            ];
            let mut all: Vec<&dyn Forecaster> = vec![engine, &persistence, &power_law];
            all.extend(combos.iter().map(|c| c as &dyn Forecaster));
            println!("{}", table(&curves, &all, 0.2)?);
        }
        "ensemble" => {
            let mean = Combined {
                name: "ensemble".into(),
                inner: engines.iter().map(|e| e as &dyn Forecaster).collect(),
                combine: Box::new(|q| {
                    let k = q.len() as f32;
                    (0..q[0].len())
                        .map(|j| q.iter().map(|m| m[j]).sum::<f32>() / k)
                        .collect()
                }),
            };
            println!("{}", table(&curves, &[&mean], 0.2)?);
        }
        "recalibrate" => {
            let scales = protocol_factors(&engines[0], &curves)?;
            println!("factors relative to the model's own: {scales:?}");
            let median = median_index(engine);
            let scaled = Combined {
                name: "recalibrated".into(),
                inner: vec![engine],
                combine: Box::new(move |q| rescaled(q[0], &scales, median)),
            };
            for context in CONTEXTS {
                println!(
                    "context {context}\n{}",
                    table(&curves, &[engine, &scaled], context)?
                );
            }
        }
        "hindsight" => println!("{}", hindsight(&curves)?),
        "per-curve" => {
            let mut all: Vec<&dyn Forecaster> =
                engines.iter().map(|e| e as &dyn Forecaster).collect();
            all.push(&persistence);
            let mut names: Vec<&str> = args[1..sep].iter().map(String::as_str).collect();
            if names.is_empty() {
                names.push("embedded");
            }
            names.push("persistence");
            print!("{}", per_curve(&curves, &all, &names)?);
        }
        _ => return Err(usage()),
    }
    Ok(())
}
