//! The protocol (which points are context, which are targets) and the scores of one forecaster.
//!
//! Averages are taken per curve first and then over curves, so that a curve with many
//! checkpoints counts as much as one with few; coverage and the horizon bins pool targets,
//! since they are fractions and errors of targets.
//!
//! Scores are in the curves' own units (a loss's errors in nats): forecasts, made in the model's
//! space, are mapped back by the metric before they meet the truth.

use super::EvalOptions;
use crate::curves::{Curve, curve_id};
use crate::decisions::metric::Metric;
use crate::error::{Error, Result};
use crate::inference::forecast::RunForecast;
use crate::inference::forecast::pinball;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `E|N(0, s^2)| = s * sqrt(2 / pi)`: the error a perfect forecaster of the noise-free curve
/// still makes against noisy evaluations.
const HALF_NORMAL_MEAN: f64 = 0.797_884_560_802_865_4;

/// Upper edges of the horizon bins, as target compute / last context compute.
pub const HORIZON_EDGES: [f64; 4] = [1.5, 2.0, 4.0, 8.0];

/// The scores of one forecaster on one curve.
#[derive(Debug, Clone)]
pub(crate) struct CurveScore {
    /// Index of the curve in the evaluated slice.
    pub curve: usize,
    pub targets: usize,
    pub abs_err_sum: f64,
    /// Pinball loss of each target, averaged over levels, summed over targets.
    pub pinball_sum: f64,
    pub inside80: Option<usize>,
    pub inside50: Option<usize>,
    /// `mean(stderr) * sqrt(2/pi)` over the targets whose stderr is known.
    pub floor: Option<f64>,
    pub final_pred: f64,
    pub final_true: f64,
    /// (horizon bin, absolute error of the median) of each target.
    pub horizon: Vec<(usize, f64)>,
}

impl CurveScore {
    fn mae(&self) -> f64 {
        self.abs_err_sum / self.targets as f64
    }
    fn final_abs_err(&self) -> f64 {
        (self.final_pred - self.final_true).abs()
    }
}

/// Where the levels a metric needs sit in a forecaster's levels.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LevelIndex {
    pub median: usize,
    pub band80: Option<(usize, usize)>,
    pub band50: Option<(usize, usize)>,
}

impl LevelIndex {
    /// Where the median and the bands sit in `levels`. A metric whose map into the model's
    /// space is decreasing (a minimized one) turns the model's quantile at `u` into the user's
    /// at `1 - u` ([`Metric::quantiles_to_user`]), so it needs levels mirrored around 0.5:
    /// others would be scored at the wrong levels.
    pub fn new(name: &str, levels: &[f32], metric: Metric) -> Result<Self> {
        let find = |l: f32| levels.iter().position(|&x| (x - l).abs() < 1e-4);
        let median = find(0.5).ok_or_else(|| {
            Error::invalid(name, "levels", format!("{levels:?} has no median (0.5)"))
        })?;
        let mirrored = levels
            .iter()
            .zip(levels.iter().rev())
            .all(|(&lo, &hi)| (lo + hi - 1.0).abs() < 1e-4);
        if metric.reverses() && !mirrored {
            let reason = format!(
                "{levels:?} are not mirrored around 0.5, which a {} needs",
                metric.describe()
            );
            return Err(Error::invalid(name, "levels", reason));
        }
        let pair = |lo, hi| Some((find(lo)?, find(hi)?));
        Ok(Self {
            median,
            band80: pair(0.1, 0.9),
            band50: pair(0.25, 0.75),
        })
    }
}

/// Which horizon bin a target falls in; `None` when the context ends at zero compute.
fn horizon_bin(target: f64, last_context: f64) -> Option<usize> {
    if last_context.is_nan() || last_context <= 0.0 {
        return None;
    }
    let ratio = target / last_context;
    Some(
        HORIZON_EDGES
            .iter()
            .position(|&e| ratio <= e)
            .unwrap_or(HORIZON_EDGES.len()),
    )
}

/// Scores one curve's forecast, checking that it answers every target at every level. `curve`
/// is in the user's units of `metric`, `forecast` in the model's space: each target's quantiles
/// are mapped back before they are scored.
pub(crate) fn score_curve(
    index: usize,
    curve: &Curve,
    context: usize,
    forecast: &RunForecast,
    levels: &[f32],
    at: LevelIndex,
    metric: Metric,
) -> Result<CurveScore> {
    let id = || curve_id(curve);
    let truth = &curve.accuracy[context..];
    if forecast.forecasts.len() != truth.len() {
        let reason = format!(
            "{} forecasts for {} targets",
            forecast.forecasts.len(),
            truth.len()
        );
        return Err(Error::invalid(id(), "forecasts", reason));
    }
    let last_context = curve.compute[context - 1];
    let mut s = CurveScore {
        curve: index,
        targets: truth.len(),
        abs_err_sum: 0.0,
        pinball_sum: 0.0,
        inside80: at.band80.map(|_| 0),
        inside50: at.band50.map(|_| 0),
        floor: None,
        final_pred: 0.0,
        final_true: *truth.last().unwrap_or(&0.0),
        horizon: Vec::with_capacity(truth.len()),
    };
    for (i, (f, &y)) in forecast.forecasts.iter().zip(truth).enumerate() {
        if f.quantiles.len() != levels.len() || f.quantiles.iter().any(|v| !v.is_finite()) {
            let reason = format!(
                "target {i}: quantiles {:?} for levels {levels:?}",
                f.quantiles
            );
            return Err(Error::invalid(id(), "quantiles", reason));
        }
        // In the user's units, at the same levels (the accuracy's map is the identity: its
        // quantiles come back exactly as the forecaster's f32 values).
        let q = metric.quantiles_to_user(&f.quantiles);
        let err = (q[at.median] - y).abs();
        s.abs_err_sum += err;
        s.pinball_sum += levels
            .iter()
            .zip(&q)
            .map(|(&tau, &qv)| pinball(f64::from(tau), qv, y))
            .sum::<f64>()
            / levels.len() as f64;
        let inside = |band: Option<(usize, usize)>| band.map(|(lo, hi)| q[lo] <= y && y <= q[hi]);
        if let (Some(n), Some(true)) = (s.inside80.as_mut(), inside(at.band80)) {
            *n += 1;
        }
        if let (Some(n), Some(true)) = (s.inside50.as_mut(), inside(at.band50)) {
            *n += 1;
        }
        if let Some(bin) = horizon_bin(curve.compute[context + i], last_context) {
            s.horizon.push((bin, err));
        }
        s.final_pred = q[at.median];
    }
    let known: Vec<f64> = curve.stderr[context..].iter().flatten().copied().collect();
    if !known.is_empty() {
        s.floor = Some(known.iter().sum::<f64>() / known.len() as f64 * HALF_NORMAL_MEAN);
    }
    Ok(s)
}

/// One forecaster's metrics over a group of curves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMetrics {
    /// What the group is cut by: "all", "family" or "suite".
    pub by: String,
    /// The family or suite ("all" for the whole set).
    pub value: String,
    pub curves: usize,
    pub targets: usize,
    /// Mean absolute error of the median over targets, averaged per curve then over curves.
    pub mae: f64,
    /// Mean absolute error of the median at each curve's final checkpoint.
    pub final_mae: f64,
    /// Noise floor of the MAE, over the curves whose stderr is known.
    pub floor: Option<f64>,
    /// MAE minus floor, over the same curves as `floor`.
    pub excess: Option<f64>,
    /// Pinball loss averaged over levels and targets, per curve then over curves.
    pub pinball: f64,
    /// Fraction of targets inside [q0.1, q0.9] (`None` without those levels).
    pub coverage80: Option<f64>,
    /// Fraction of targets inside [q0.25, q0.75].
    pub coverage50: Option<f64>,
    /// Fraction of same-sweep pairs whose final order the medians predict.
    pub rank_accuracy: Option<f64>,
    pub rank_pairs: usize,
    pub horizon: Vec<HorizonBin>,
}

/// Error of the median over the targets in one horizon bin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HorizonBin {
    /// E.g. "<=2x": target compute at most twice the last context compute.
    pub label: String,
    pub targets: usize,
    pub mae: Option<f64>,
}

fn mean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values
        .into_iter()
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Ranking accuracy over pairs of curves of one sweep (same suite, shots and task) from
/// different runs: does the sign of the predicted final difference match the true one?
///
/// Pairs whose true finals tie are skipped; a predicted tie earns half a point, as in a
/// concordance index, so that a forecaster cannot gain by refusing to order.
pub(crate) fn rank_accuracy(curves: &[Curve], scores: &[&CurveScore]) -> (Option<f64>, usize) {
    let mut sweeps: BTreeMap<_, Vec<&CurveScore>> = BTreeMap::new();
    for s in scores {
        sweeps
            .entry(curves[s.curve].sweep_key())
            .or_default()
            .push(s);
    }
    let (mut points, mut pairs) = (0.0, 0usize);
    for members in sweeps.values() {
        for (i, a) in members.iter().enumerate() {
            for b in &members[i + 1..] {
                if curves[a.curve].run == curves[b.curve].run {
                    continue;
                }
                let truth = a.final_true - b.final_true;
                if truth == 0.0 {
                    continue;
                }
                let pred = a.final_pred - b.final_pred;
                pairs += 1;
                points += if pred == 0.0 {
                    0.5
                } else if pred.signum() == truth.signum() {
                    1.0
                } else {
                    0.0
                };
            }
        }
    }
    ((pairs > 0).then(|| points / pairs as f64), pairs)
}

/// Aggregates curve scores into a group's metrics.
pub(crate) fn aggregate(
    by: &str,
    value: &str,
    curves: &[Curve],
    scores: &[&CurveScore],
) -> GroupMetrics {
    let targets: usize = scores.iter().map(|s| s.targets).sum();
    let with_floor: Vec<_> = scores
        .iter()
        .filter_map(|s| Some((s.mae(), s.floor?)))
        .collect();
    let fraction = |count: fn(&CurveScore) -> Option<usize>| {
        let inside: Option<usize> = scores.iter().map(|s| count(s)).sum();
        inside
            .filter(|_| targets > 0)
            .map(|n| n as f64 / targets as f64)
    };
    let (rank_accuracy, rank_pairs) = rank_accuracy(curves, scores);
    let mut bins = vec![(0usize, 0.0f64); HORIZON_EDGES.len() + 1];
    for &(bin, err) in scores.iter().flat_map(|s| &s.horizon) {
        bins[bin].0 += 1;
        bins[bin].1 += err;
    }
    let horizon = bins
        .iter()
        .enumerate()
        .map(|(i, &(n, sum))| HorizonBin {
            label: match HORIZON_EDGES.get(i) {
                Some(e) => format!("<={e}x"),
                None => format!(">{}x", HORIZON_EDGES[HORIZON_EDGES.len() - 1]),
            },
            targets: n,
            mae: (n > 0).then(|| sum / n as f64),
        })
        .collect();
    GroupMetrics {
        by: by.to_string(),
        value: value.to_string(),
        curves: scores.len(),
        targets,
        mae: mean(scores.iter().map(|s| s.mae())).unwrap_or(f64::NAN),
        final_mae: mean(scores.iter().map(|s| s.final_abs_err())).unwrap_or(f64::NAN),
        floor: mean(with_floor.iter().map(|&(_, f)| f)),
        excess: mean(with_floor.iter().map(|&(m, f)| m - f)),
        pinball: mean(scores.iter().map(|s| s.pinball_sum / s.targets as f64)).unwrap_or(f64::NAN),
        coverage80: fraction(|s| s.inside80),
        coverage50: fraction(|s| s.inside50),
        rank_accuracy,
        rank_pairs,
        horizon,
    }
}

/// The groups of the breakdown: all curves, then each family and each suite. A cut with a
/// single value would repeat the "all" row, so it is left out.
pub(crate) fn breakdown(curves: &[Curve], scores: &[CurveScore]) -> Vec<GroupMetrics> {
    let all: Vec<&CurveScore> = scores.iter().collect();
    let mut groups = vec![aggregate("all", "all", curves, &all)];
    type Cut = (&'static str, fn(&Curve) -> String);
    let cuts: [Cut; 2] = [
        ("family", |c| c.family().to_string()),
        ("suite", |c| c.suite.clone()),
    ];
    for (by, key) in cuts {
        let mut parts: BTreeMap<String, Vec<&CurveScore>> = BTreeMap::new();
        for s in scores {
            parts.entry(key(&curves[s.curve])).or_default().push(s);
        }
        if parts.len() > 1 {
            for (value, members) in &parts {
                groups.push(aggregate(by, value, curves, members));
            }
        }
    }
    groups
}

/// Checks the options before any forecaster runs.
pub(crate) fn check_options(opts: &EvalOptions) -> Result<()> {
    let bad = |field, reason: &str| Err(Error::invalid("eval options", field, reason));
    if !(opts.context_fraction > 0.0 && opts.context_fraction <= 1.0) {
        return bad("context_fraction", "must be in (0, 1]");
    }
    if opts.min_context == 0 {
        return bad("min_context", "must be at least 1");
    }
    if opts.batch_size == 0 {
        return bad("batch_size", "must be at least 1");
    }
    if opts.keep_every == 0 {
        return bad(
            "keep_every",
            "must be at least 1 (1 keeps every checkpoint)",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::forecast::Forecast;

    const LEVELS: [f32; 5] = [0.1, 0.25, 0.5, 0.75, 0.9];

    pub(crate) fn curve(run: &str, task: &str, compute: &[f64], acc: &[f64]) -> Curve {
        Curve::synthetic(run, task, compute, acc)
    }

    fn run_forecast(steps: &[f64], quantiles: &[[f32; 5]]) -> RunForecast {
        RunForecast {
            forecasts: steps
                .iter()
                .zip(quantiles)
                .map(|(&step, q)| Forecast {
                    step,
                    quantiles: q.to_vec(),
                })
                .collect(),
        }
    }

    #[test]
    fn pinball_is_asymmetric() {
        assert!((pinball(0.9, 0.5, 0.7) - 0.18).abs() < 1e-12);
        assert!((pinball(0.9, 0.5, 0.3) - 0.02).abs() < 1e-12);
        assert_eq!(pinball(0.5, 0.4, 0.4), 0.0);
    }

    #[test]
    fn scores_a_hand_computed_curve() {
        // Context 1, 2 (last context compute 2); targets at 3 and 10.
        let mut c = curve("r", "t", &[1.0, 2.0, 3.0, 10.0], &[0.1, 0.2, 0.5, 0.8]);
        c.stderr = vec![None, None, Some(0.02), None];
        let f = run_forecast(
            &[3.0, 10.0],
            &[[0.3, 0.4, 0.45, 0.5, 0.6], [0.5, 0.55, 0.6, 0.65, 0.7]],
        );
        let at = LevelIndex::new("x", &LEVELS, Metric::ACCURACY).unwrap();
        let s = score_curve(0, &c, 2, &f, &LEVELS, at, Metric::ACCURACY).unwrap();
        // |0.45 - 0.5| + |0.6 - 0.8| = 0.05 + 0.2
        assert!((s.abs_err_sum - 0.25).abs() < 1e-6);
        assert!((s.final_abs_err() - 0.2).abs() < 1e-6);
        // First target 0.5 is inside both bands (0.5 <= q0.75 = 0.5); the second, 0.8, is in none.
        assert_eq!((s.inside80, s.inside50), (Some(1), Some(1)));
        // Pinball of target 1: levels .1,.25,.5,.75,.9 vs y = .5:
        // .1*.2 + .25*.1 + .5*.05 + 0 + .1*.1 = .02 + .025 + .025 + 0 + .01 = .08; mean .016.
        // Target 2, y = .8 above every quantile: .1*.3 + .25*.25 + .5*.2 + .75*.15 + .9*.1
        // = .03 + .0625 + .1 + .1125 + .09 = .395; mean .079.
        assert!(
            (s.pinball_sum - (0.016 + 0.079)).abs() < 1e-6,
            "{}",
            s.pinball_sum
        );
        assert!((s.floor.unwrap() - 0.02 * 0.7978845608).abs() < 1e-9);
        // Ratios 1.5 and 5: bins "<=1.5x" and "<=8x".
        assert_eq!(
            s.horizon.iter().map(|h| h.0).collect::<Vec<_>>(),
            vec![0, 3]
        );

        let g = aggregate("all", "all", std::slice::from_ref(&c), &[&s]);
        assert!((g.mae - 0.125).abs() < 1e-6);
        assert!((g.pinball - 0.0475).abs() < 1e-6);
        assert_eq!(g.coverage80, Some(0.5));
        assert!((g.excess.unwrap() - (0.125 - g.floor.unwrap())).abs() < 1e-6);
        assert_eq!(g.horizon[0].targets, 1);
        assert!((g.horizon[3].mae.unwrap() - 0.2).abs() < 1e-6);
    }

    #[test]
    fn mae_averages_per_curve_first() {
        let a = curve("a", "t", &[1.0, 2.0, 3.0], &[0.0, 0.0, 0.0]);
        let b = curve("b", "t", &[1.0, 2.0, 3.0, 4.0, 5.0], &[0.0; 5]);
        let at = LevelIndex::new("x", &LEVELS, Metric::ACCURACY).unwrap();
        let sa = score_curve(
            0,
            &a,
            2,
            &run_forecast(&[3.0], &[[0.2; 5]]),
            &LEVELS,
            at,
            Metric::ACCURACY,
        )
        .unwrap();
        let fb = run_forecast(&[3.0, 4.0, 5.0], &[[0.0; 5], [0.0; 5], [0.0; 5]]);
        let sb = score_curve(1, &b, 2, &fb, &LEVELS, at, Metric::ACCURACY).unwrap();
        let g = aggregate("all", "all", &[a, b], &[&sa, &sb]);
        // Per curve 0.2 and 0.0: mean 0.1 (pooled over targets it would be 0.05).
        assert!((g.mae - 0.1).abs() < 1e-6);
        assert_eq!(g.floor, None);
    }

    #[test]
    fn ranking_counts_same_sweep_pairs_skips_ties_and_halves_predicted_ties() {
        let curves = vec![
            curve("a", "t", &[1.0, 2.0], &[0.0, 0.5]),
            curve("b", "t", &[1.0, 2.0], &[0.0, 0.6]),
            curve("c", "t", &[1.0, 2.0], &[0.0, 0.6]),
            curve("a", "u", &[1.0, 2.0], &[0.0, 0.9]),
        ];
        let score = |curve, pred, truth| CurveScore {
            curve,
            targets: 1,
            abs_err_sum: 0.0,
            pinball_sum: 0.0,
            inside80: None,
            inside50: None,
            floor: None,
            final_pred: pred,
            final_true: truth,
            horizon: vec![],
        };
        let s = [
            score(0, 0.55, 0.5),
            score(1, 0.50, 0.6), // wrong against a
            score(2, 0.55, 0.6), // tied prediction against a; b-c is a true tie, skipped
            score(3, 0.10, 0.9), // another task: no pairs
        ];
        let refs: Vec<&CurveScore> = s.iter().collect();
        let (acc, pairs) = rank_accuracy(&curves, &refs);
        assert_eq!(pairs, 2);
        assert!((acc.unwrap() - 0.25).abs() < 1e-12);
    }

    #[test]
    fn missing_median_and_wrong_lengths_are_errors() {
        assert!(LevelIndex::new("x", &[0.1, 0.9], Metric::ACCURACY).is_err());
        let c = curve("r", "t", &[1.0, 2.0, 3.0, 4.0], &[0.0; 4]);
        let at = LevelIndex::new("x", &LEVELS, Metric::ACCURACY).unwrap();
        let short = run_forecast(&[3.0], &[[0.0; 5]]);
        assert!(score_curve(0, &c, 2, &short, &LEVELS, at, Metric::ACCURACY).is_err());
        let nan = run_forecast(&[3.0, 4.0], &[[f32::NAN; 5], [0.0; 5]]);
        assert!(score_curve(0, &c, 2, &nan, &LEVELS, at, Metric::ACCURACY).is_err());
    }

    const LOSS: Metric = Metric {
        kind: crate::decisions::metric::MetricKind::Loss,
        direction: crate::decisions::metric::Direction::Minimize,
    };

    #[test]
    fn a_loss_is_scored_in_its_own_units_at_the_right_levels() {
        // Truth 2.0 nats at the one target; the forecaster answered in the model's space,
        // exp(-loss), its 0.1 quantile the highest loss.
        let c = curve("r", "t", &[1.0, 2.0, 3.0], &[3.0, 2.5, 2.0]);
        let model = |loss: f64| (-loss).exp() as f32;
        let f = run_forecast(
            &[3.0],
            &[[model(3.0), model(2.6), model(2.4), model(2.2), model(1.9)]],
        );
        let at = LevelIndex::new("x", &LEVELS, LOSS).unwrap();
        let s = score_curve(0, &c, 2, &f, &LEVELS, at, LOSS).unwrap();
        // Median 2.4 nats against 2.0: 0.4 nats, not the model-space 0.0726.
        assert!((s.abs_err_sum - 0.4).abs() < 1e-6, "{}", s.abs_err_sum);
        // User quantiles 1.9, 2.2, 2.4, 2.6, 3.0: y = 2.0 is inside [q0.1, q0.9] only.
        assert_eq!((s.inside80, s.inside50), (Some(1), Some(0)));
        // Pinball in nats: .1*.1 + .75*.2 + .5*.4 + .25*.6 + .1*1.0 = .61; mean .122.
        assert!((s.pinball_sum - 0.122).abs() < 1e-5, "{}", s.pinball_sum);
        // Levels that are not mirrored cannot be turned around.
        assert!(LevelIndex::new("x", &[0.1, 0.5, 0.8], LOSS).is_err());
        assert!(LevelIndex::new("x", &[0.1, 0.5, 0.8], Metric::ACCURACY).is_ok());
    }
}
