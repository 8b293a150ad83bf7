//! In-sweep forecasts (opt-in: [`SweepOptions::in_sweep`](super::SweepOptions), `neuneu replay
//! --in-sweep`, a plan request's `"in_sweep": true`): the arms of the sweep say how far the model
//! is to be trusted on it.
//!
//! Every arm with enough points is cut at [`CUT`] of its last observed step, and two forecasts of
//! its last observed value are made from the cut: the model's median, and persistence's (the
//! value at the cut). The weight `w` in [0, 1] of `w * model + (1 - w) * persistence` that fits
//! the observed values best over the sweep's arms (least squares) is how much the model knows
//! about this sweep beyond its arms' latest values; each live arm's forecast median is then
//! pulled to `w * median + (1 - w) * last value`, its band moved with it.
//!
//! Why: a model fitted to other runs can rank a new kind of sweep worse than the arms' latest
//! values do (the default model does on every dev file), and a sweep says which it is from its
//! own recent past, with no finished arm needed: a synchronous sweep has none until its end, so
//! the finished-arm calibration of [`calibration`](super::calibration) cannot help it. The
//! backtest's horizon (from half of an arm's run so far to now) is not the forecast's (from now
//! to the end); the weight measures the model's skill on the sweep, not the size of its error
//! at the end. Measured in `docs/results/in-sweep-2026-12-06.md`.
//!
//! With fewer than [`MIN_ARMS`] backtests the weight is 1 and every forecast is the model's (an
//! arm alone gets the same forecast as without this). The weight does not depend on the order of
//! the arms: its sums run over the backtests sorted.

use crate::decisions::distribution::QuantileDistribution;
use crate::error::Result;
use crate::inference::engine::{Engine, Losses, RunInput};

/// Backtests needed before the weight can move from 1.
pub const MIN_ARMS: usize = 4;

/// Where an arm's backtest cuts it: this fraction of its last observed step.
pub const CUT: f64 = 0.5;

/// How many of an arm's points (steps increasing) its backtest keeps: those at or before
/// [`CUT`] times its last step, when that leaves at least `min_context` points and at least one
/// point after them.
pub fn cut_len(steps: &[f64], min_context: usize) -> Option<usize> {
    let last = *steps.last()?;
    let n = steps.partition_point(|&s| s <= CUT * last);
    (n >= min_context.max(1) && n < steps.len()).then_some(n)
}

/// One arm's backtest, in the model's space.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backtest {
    /// The model's median forecast of the arm's last observed value, from its points up to the
    /// cut.
    pub model: f64,
    /// The arm's value at the cut (persistence's forecast).
    pub last: f64,
    /// The arm's last observed value.
    pub observed: f64,
}

/// The model's weight on this sweep (see the module docs): 1 with fewer than [`MIN_ARMS`]
/// backtests, or when the model's backtest forecasts are its arms' values at the cut.
pub fn model_weight(backtests: &[Backtest]) -> f64 {
    let mut sorted: Vec<Backtest> = backtests
        .iter()
        .copied()
        .filter(|b| b.model.is_finite() && b.last.is_finite() && b.observed.is_finite())
        .collect();
    if sorted.len() < MIN_ARMS {
        return 1.0;
    }
    sorted.sort_by(|a, b| {
        (a.model.total_cmp(&b.model))
            .then(a.last.total_cmp(&b.last))
            .then(a.observed.total_cmp(&b.observed))
    });
    // observed - last = w * (model - last): one coefficient, no intercept.
    let (mut dd, mut dy) = (0.0, 0.0);
    for b in &sorted {
        let d = b.model - b.last;
        dd += d * d;
        dy += d * (b.observed - b.last);
    }
    if dd <= 1e-12 {
        return 1.0;
    }
    (dy / dd).clamp(0.0, 1.0)
}

/// `d` with its median pulled to `weight * median + (1 - weight) * last`, every quantile moved
/// by the same amount and kept in [0, 1] (the model's space). `weight` 1 gives `d` back.
pub fn pull(d: &QuantileDistribution, last: f64, weight: f64) -> Result<QuantileDistribution> {
    if weight >= 1.0 {
        return Ok(d.clone());
    }
    let shift = (1.0 - weight) * (last - d.median());
    QuantileDistribution::new(
        d.levels().to_vec(),
        d.values()
            .iter()
            .map(|v| (v + shift).clamp(0.0, 1.0))
            .collect(),
    )
}

/// One arm's points as a backtest reads them: steps (increasing) and values in the model's
/// space, and the token losses of each point where known.
pub struct History<'a> {
    pub steps: &'a [f64],
    pub values: &'a [f64],
    /// The losses of point `i` (0-based), if any.
    pub losses: &'a dyn Fn(usize) -> Option<&'a [f32]>,
}

/// The backtest of every arm that has one (see [`cut_len`]), its model forecasts made in one
/// batch; an arm the model refuses has none.
pub fn backtests(engine: &Engine, arms: &[History<'_>]) -> Vec<Backtest> {
    let min = engine.manifest().preparation.min_context;
    let cuts: Vec<(usize, usize)> = arms
        .iter()
        .enumerate()
        .filter_map(|(i, a)| Some((i, cut_len(a.steps, min)?)))
        .collect();
    let targets: Vec<[f64; 1]> = cuts
        .iter()
        .map(|&(i, _)| [*arms[i].steps.last().expect("cut arms have points")])
        .collect();
    let runs: Vec<RunInput> = cuts
        .iter()
        .zip(&targets)
        .map(|(&(i, n), t)| {
            let a = &arms[i];
            let run = RunInput::new(&a.steps[..n], &a.values[..n], t);
            match (a.losses)(n - 1) {
                Some(tokens) => run.with_losses(Losses::Tokens(tokens)),
                None => run,
            }
        })
        .collect();
    let levels = engine.levels();
    cuts.iter()
        .zip(engine.forecast_each(&runs))
        .filter_map(|(&(i, n), result)| {
            let f = result.ok()?;
            let d = QuantileDistribution::from_f32(i, levels, &f.forecasts[0].quantiles).ok()?;
            let a = &arms[i];
            Some(Backtest {
                model: d.median(),
                last: a.values[n - 1],
                observed: *a.values.last().expect("cut arms have points"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(model: f64, last: f64, observed: f64) -> Backtest {
        Backtest {
            model,
            last,
            observed,
        }
    }

    #[test]
    fn the_cut_keeps_the_points_up_to_half_the_last_step() {
        let steps = [1.0, 2.0, 3.0, 4.0, 6.0];
        assert_eq!(cut_len(&steps, 2), Some(3)); // <= 3.0
        assert_eq!(cut_len(&steps, 4), None); // too few for the model
        assert_eq!(cut_len(&[1.0, 10.0], 1), Some(1));
        assert_eq!(cut_len(&[4.0, 5.0], 1), None); // nothing at or before 2.5
        assert_eq!(cut_len(&[], 1), None);
    }

    #[test]
    fn the_weight_is_the_least_squares_blend() {
        // The model is right on every arm: weight 1.
        let right: Vec<Backtest> = (0..5)
            .map(|i| b(0.5 + 0.01 * i as f64, 0.3, 0.5 + 0.01 * i as f64))
            .collect();
        assert!((model_weight(&right) - 1.0).abs() < 1e-12);
        // The values did not move from the cut: weight 0.
        let flat: Vec<Backtest> = (0..5)
            .map(|i| b(0.6, 0.3 + 0.01 * i as f64, 0.3 + 0.01 * i as f64))
            .collect();
        assert_eq!(model_weight(&flat), 0.0);
        // Halfway on every arm: 0.5.
        let half: Vec<Backtest> = (0..5)
            .map(|i| b(0.5 + 0.02 * i as f64, 0.3, 0.4 + 0.01 * i as f64))
            .collect();
        assert!((model_weight(&half) - 0.5).abs() < 1e-12);
        // Beyond the model's forecast is capped at 1.
        let beyond: Vec<Backtest> = (0..5).map(|_| b(0.5, 0.3, 0.9)).collect();
        assert_eq!(model_weight(&beyond), 1.0);
    }

    #[test]
    fn too_few_arms_or_no_difference_leave_the_model_alone() {
        let three: Vec<Backtest> = (0..3).map(|_| b(0.6, 0.3, 0.3)).collect();
        assert_eq!(model_weight(&three), 1.0);
        let same: Vec<Backtest> = (0..6).map(|_| b(0.3, 0.3, 0.5)).collect();
        assert_eq!(model_weight(&same), 1.0);
        let with_nan = [
            b(f64::NAN, 0.3, 0.3),
            b(0.6, 0.3, 0.3),
            b(0.6, 0.3, 0.3),
            b(0.6, 0.3, 0.3),
        ];
        assert_eq!(model_weight(&with_nan), 1.0);
    }

    #[test]
    fn the_weight_does_not_depend_on_the_order_of_the_arms() {
        let arms: Vec<Backtest> = (0..9)
            .map(|i| {
                let x = i as f64;
                b(
                    0.3 + 0.07 * (x * 1.7).sin().abs(),
                    0.2 + 0.011 * x,
                    0.25 + 0.05 * (x * 0.9).cos().abs(),
                )
            })
            .collect();
        let w = model_weight(&arms);
        let mut reversed = arms.clone();
        reversed.reverse();
        let mut rotated = arms.clone();
        rotated.rotate_left(4);
        assert_eq!(w.to_bits(), model_weight(&reversed).to_bits());
        assert_eq!(w.to_bits(), model_weight(&rotated).to_bits());
    }

    #[test]
    fn pulling_moves_the_whole_band_toward_the_last_value() {
        let d = QuantileDistribution::new(vec![0.1, 0.5, 0.9], vec![0.5, 0.6, 0.7]).unwrap();
        assert_eq!(pull(&d, 0.4, 1.0).unwrap(), d);
        let p = pull(&d, 0.4, 0.25).unwrap();
        // median 0.25 * 0.6 + 0.75 * 0.4 = 0.45: every quantile down by 0.15.
        let want = [0.35, 0.45, 0.55];
        for (v, w) in p.values().iter().zip(want) {
            assert!((v - w).abs() < 1e-12, "{:?}", p.values());
        }
        // Kept in the model's space.
        let up = pull(&d, 1.0, 0.0).unwrap();
        assert_eq!(up.values(), &[0.9, 1.0, 1.0]);
    }
}
