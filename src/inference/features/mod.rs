//! Feature preparation: how a run's observed curve, its targets and its token losses become the
//! numbers the graphs read (input checks in `validate`, token losses in `losses`, the
//! forecaster's per-point features here). The trainer and the engine both call these functions, so what a model
//! learned from is exactly what it is asked about.
//!
//! ## Compute axis: log-ratios to the last observation
//! Schedulers checkpoint irregularly and in any unit (steps, tokens, FLOPs). Every compute
//! feature is a logarithm of a *ratio* of compute values, relative to the last observed point:
//! multiplying every step and target by the same positive constant leaves all features unchanged
//! (up to rounding), so a forecast does not depend on the unit. Log-ratios also treat Pythia's
//! doubling warm-up checkpoints and its later 10,000-step spacing on one footing: what matters is
//! how far, in orders of magnitude, the target lies beyond what was seen. A point at compute 0
//! (an untrained checkpoint) sits at the floor `LOG_RATIO_FLOOR`.
//!
//! Per context point `i` of `n` (after thinning), with `x` the compute and `y` the metric:
//! 0. `y_i`
//! 1. `y_i - y_last`
//! 2. `max(ln(x_i / x_last), LOG_RATIO_FLOOR)`
//! 3. the gap to the next point in the same log units; for the last point, the query horizon
//! 4. the query horizon `h = min(ln(target / x_last), MAX_HORIZON)`, repeated on every point
//! 5. 1 on the last point, 0 elsewhere
//! 6. the run's own power-law fit (`curvefit`, y = a - b x^-c on the whole context, needs 3
//!    points with positive compute) extrapolated to the target, as an offset from `y_last`;
//!    the transformer learns when a curve's own extrapolation can be trusted (it is strong on
//!    smooth sweeps such as ScAn, weak on noisy near-chance tasks)
//! 7. 1 where that fit exists, 0 where it does not
//!
//! Accuracy offsets (1 and 6) are multiplied by `ACCURACY_DIFF_SCALE`.
//!
//! Features 4, 6 and 7 are the same on every point, and the first point's 0 and 1 give the
//! first and last values: so the first slot alone summarises the context, and a model with a
//! summary path (`Architecture::summary`) reads it there.
//!
//! ## Long contexts
//! A context longer than the model's `max_context` is thinned to `max_context` points evenly
//! spaced by index, always keeping the first and the last (`thin`). The trainer applies the same
//! rule, so the model never sees a context the engine could not give it.

mod losses;
mod validate;

pub use losses::{MAX_TOKEN_LOSS, loss_to_probability, prepare_losses};
pub use validate::{InputProblem, MAX_LOSS_VALUES, validate_losses, validate_prefix};

pub use crate::model::inputs::{CONTEXT_FEATURES, FEATURE_SET};
/// Floor of `ln(x_i / x_last)`: e^-12 is below any real checkpoint ratio but step 0.
pub const LOG_RATIO_FLOOR: f64 = -12.0;
/// Ceiling of the query horizon `ln(target / x_last)`: targets beyond e^8 times the last
/// observed compute are forecast as if they were at that horizon.
pub const MAX_HORIZON: f64 = 8.0;
/// Accuracy differences (a few hundredths) are scaled up to the order of the other features.
pub const ACCURACY_DIFF_SCALE: f64 = 10.0;
/// Bound on the power-law feature: a wild extrapolation says "unreliable", not "+3".
pub const MAX_FIT_OFFSET: f64 = 0.5;
/// Indices of the points kept from a context of `n` points for a model reading at most `max`.
pub fn thin(n: usize, max: usize) -> Vec<usize> {
    if n <= max || max < 2 {
        return (0..n.min(max.max(1))).collect();
    }
    (0..max)
        .map(|j| ((j as f64 * (n - 1) as f64 / (max - 1) as f64).round()) as usize)
        .collect()
}

/// A validated run's context, prepared once for all of its targets: the thinned points, their
/// log-ratio positions and the power-law fit of the whole context.
pub struct RunFeatures {
    /// (log-ratio position, accuracy) of each kept point, oldest first.
    points: Vec<(f64, f64)>,
    x_last: f64,
    y_last: f64,
    fit: Option<crate::inference::curvefit::PowerLawFit>,
}

impl RunFeatures {
    /// Prepares a validated prefix for a model reading at most `max_context` points.
    pub fn new(steps: &[f64], accuracy: &[f64], max_context: usize) -> Self {
        let keep = thin(steps.len(), max_context);
        let last = keep[keep.len() - 1];
        let (x_last, y_last) = (steps[last], accuracy[last]);
        let points = keep
            .iter()
            .map(|&i| {
                let lr = if steps[i] <= 0.0 {
                    LOG_RATIO_FLOOR
                } else {
                    (steps[i] / x_last).ln().max(LOG_RATIO_FLOOR)
                };
                (lr, accuracy[i])
            })
            .collect();
        // The fit reads every observed point, not only the kept ones: thinning is for the
        // transformer's width, not a reason to throw data away.
        let fit = crate::inference::curvefit::fit_power_law(steps, accuracy);
        RunFeatures {
            points,
            x_last,
            y_last,
            fit,
        }
    }

    /// The power-law fit of every observed point (the trees' summary reads it too).
    pub(crate) fn fit(&self) -> Option<crate::inference::curvefit::PowerLawFit> {
        self.fit
    }

    /// The last observed value: the anchor the model's output is added to.
    pub fn anchor(&self) -> f32 {
        self.y_last as f32
    }

    /// The power-law extrapolation to `target`, as an offset from the last value, bounded.
    fn fit_offset(&self, target: f64) -> Option<f64> {
        let f = self.fit.as_ref()?;
        let v = f.predict(target.min(self.x_last * MAX_HORIZON.exp())) - self.y_last;
        v.is_finite()
            .then(|| v.clamp(-MAX_FIT_OFFSET, MAX_FIT_OFFSET))
    }

    /// Writes the row for `target`: `context` is `max_context x CONTEXT_FEATURES`, `key_mask` is
    /// `max_context + 2` (CLS and loss token first). Returns the anchor.
    pub fn write_row(&self, target: f64, context: &mut [f32], key_mask: &mut [f32]) -> f32 {
        debug_assert_eq!(context.len() % CONTEXT_FEATURES, 0);
        debug_assert_eq!(key_mask.len(), context.len() / CONTEXT_FEATURES + 2);
        context.fill(0.0);
        key_mask.fill(0.0);
        key_mask[0] = 1.0;
        key_mask[1] = 1.0;
        let n = self.points.len();
        let horizon = (target / self.x_last).ln().clamp(0.0, MAX_HORIZON);
        let (fit, has_fit) = match self.fit_offset(target) {
            Some(v) => (v, 1.0),
            None => (0.0, 0.0),
        };
        for (slot, &(lr, y)) in self.points.iter().enumerate() {
            let gap = if slot + 1 < n {
                self.points[slot + 1].0 - lr
            } else {
                horizon
            };
            let f = &mut context[slot * CONTEXT_FEATURES..(slot + 1) * CONTEXT_FEATURES];
            f[0] = y as f32;
            f[1] = ((y - self.y_last) * ACCURACY_DIFF_SCALE) as f32;
            f[2] = lr as f32;
            f[3] = gap as f32;
            f[4] = horizon as f32;
            f[5] = if slot + 1 == n { 1.0 } else { 0.0 };
            f[6] = (fit * ACCURACY_DIFF_SCALE) as f32;
            f[7] = has_fit;
            key_mask[slot + 2] = 1.0;
        }
        self.anchor()
    }
}

/// Writes one (context, target) row for a validated prefix (see [`RunFeatures::write_row`]).
pub fn write_row(
    steps: &[f64],
    accuracy: &[f64],
    target: f64,
    max_context: usize,
    context: &mut [f32],
    key_mask: &mut [f32],
) -> f32 {
    RunFeatures::new(steps, accuracy, max_context).write_row(target, context, key_mask)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::forecast::CurvePrefix;

    pub(crate) fn prefix<'a>(s: &'a [f64], a: &'a [f64], t: &'a [f64]) -> CurvePrefix<'a> {
        CurvePrefix {
            steps: s,
            accuracy: a,
            targets: t,
        }
    }

    #[test]
    fn thinning_keeps_ends_and_count() {
        assert_eq!(thin(5, 8), vec![0, 1, 2, 3, 4]);
        let t = thin(100, 10);
        assert_eq!(t.len(), 10);
        assert_eq!((t[0], t[9]), (0, 99));
        assert!(t.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn features_are_invariant_to_the_compute_unit() {
        let steps = [0.0, 3.0, 7.0, 20.0];
        let acc = [0.25, 0.3, 0.35, 0.5];
        let (mut c1, mut m1) = (vec![0.0; 8 * CONTEXT_FEATURES], vec![0.0; 10]);
        let (mut c2, mut m2) = (c1.clone(), m1.clone());
        let a1 = write_row(&steps, &acc, 55.0, 8, &mut c1, &mut m1);
        let scaled: Vec<f64> = steps.iter().map(|s| s * 7.3e9).collect();
        let a2 = write_row(&scaled, &acc, 55.0 * 7.3e9, 8, &mut c2, &mut m2);
        assert_eq!(a1, a2);
        assert_eq!(m1, m2);
        for (x, y) in c1.iter().zip(&c2) {
            assert!((x - y).abs() < 1e-6, "{x} vs {y}");
        }
        // Four points, then padding; the last point carries the horizon as its gap.
        assert_eq!(&m1[..7], &[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]);
        let last = &c1[3 * CONTEXT_FEATURES..4 * CONTEXT_FEATURES];
        assert!((last[3] - (55.0f64 / 20.0).ln() as f32).abs() < 1e-6);
        assert_eq!(last[5], 1.0);
        assert_eq!(c1[2], LOG_RATIO_FLOOR as f32);
    }
}
