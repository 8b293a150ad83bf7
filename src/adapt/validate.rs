//! Held-out scores recorded in a bundle's manifest: the exported bundle itself (through the
//! engine) against persistence, on the runs the trainer held out.

use crate::curves::Curve;
use crate::curves::losses::CurveLosses;
use crate::curves::{context_len, prefix};
use crate::inference::forecast::Forecaster;
use std::collections::BTreeMap;

/// Forecaster ("neuneu", "persistence", per suite and "/all") -> metric -> value, as a
/// manifest's `validation` holds them.
pub type Scores = BTreeMap<String, BTreeMap<String, f64>>;

/// Scores of the model and of persistence: MAE of the median (mean per curve, then over
/// curves), coverage of [q0.1, q0.9], for each suite and overall. With `losses`, each
/// forecast is given the losses of its context's last checkpoint where they are known.
pub fn validation_scores(
    model: &dyn Forecaster,
    curves: &[&Curve],
    fraction: f64,
    losses: Option<&CurveLosses>,
) -> crate::Result<Scores> {
    let mut prefixes = Vec::new();
    let mut given = Vec::new();
    let mut kept = Vec::new();
    for c in curves {
        if let Some(n) = context_len(c, fraction, 3) {
            prefixes.push(prefix(c, n));
            given.push(losses.and_then(|l| l.of_context(c, n)));
            kept.push((c, n));
        }
    }
    let forecasts = model.forecast_prefixes_with_losses(&prefixes, &given)?;
    let levels = model.levels();
    let (lo, mid, hi) = (
        0,
        levels
            .iter()
            .position(|&l| (l - 0.5).abs() < 1e-6)
            .unwrap_or(levels.len() / 2),
        levels.len() - 1,
    );
    #[derive(Default)]
    struct Acc {
        mae: f64,
        persist: f64,
        covered: f64,
        targets: f64,
        curves: f64,
    }
    let mut acc: BTreeMap<String, Acc> = BTreeMap::new();
    for ((c, n), f) in kept.iter().zip(&forecasts) {
        let truth = &c.accuracy[*n..];
        let last = c.accuracy[n - 1];
        let m = truth.len() as f64;
        let mae = f
            .forecasts
            .iter()
            .zip(truth)
            .map(|(fc, y)| (fc.quantiles[mid] as f64 - y).abs())
            .sum::<f64>()
            / m;
        let persist = truth.iter().map(|y| (last - y).abs()).sum::<f64>() / m;
        let covered = f
            .forecasts
            .iter()
            .zip(truth)
            .filter(|(fc, y)| fc.quantiles[lo] as f64 <= **y && **y <= fc.quantiles[hi] as f64)
            .count() as f64;
        for key in ["all".to_string(), c.suite.clone()] {
            let a = acc.entry(key).or_default();
            a.mae += mae;
            a.persist += persist;
            a.covered += covered;
            a.targets += m;
            a.curves += 1.0;
        }
    }
    let mut out: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for (key, a) in acc {
        let model_row = out.entry(format!("neuneu/{key}")).or_default();
        model_row.insert("mae".into(), a.mae / a.curves);
        model_row.insert("coverage_80".into(), a.covered / a.targets);
        model_row.insert("curves".into(), a.curves);
        out.entry(format!("persistence/{key}"))
            .or_default()
            .insert("mae".into(), a.persist / a.curves);
    }
    Ok(out)
}
