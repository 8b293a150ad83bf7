//! Feature preparation: how a run's observed curve, its targets and its token losses become the
//! numbers the graphs read. The trainer and the engine both call these functions, so what a model
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

use crate::architecture::{EncoderArchitecture, LossRepresentation};
use crate::forecast::CurvePrefix;

/// Width of one context point's feature vector.
pub const CONTEXT_FEATURES: usize = 8;
/// Identifies this feature preparation in bundle manifests; a change of any feature bumps it.
pub const FEATURE_SET: &str = "log-ratio-powerlaw-v2";
/// Floor of `ln(x_i / x_last)`: e^-12 is below any real checkpoint ratio but step 0.
pub const LOG_RATIO_FLOOR: f64 = -12.0;
/// Ceiling of the query horizon `ln(target / x_last)`: targets beyond e^8 times the last
/// observed compute are forecast as if they were at that horizon.
pub const MAX_HORIZON: f64 = 8.0;
/// Accuracy differences (a few hundredths) are scaled up to the order of the other features.
pub const ACCURACY_DIFF_SCALE: f64 = 10.0;
/// Bound on the power-law feature: a wild extrapolation says "unreliable", not "+3".
pub const MAX_FIT_OFFSET: f64 = 0.5;
/// Token losses are capped here before `exp(-loss)` (the reference model's clip).
pub const MAX_TOKEN_LOSS: f32 = 20.0;
/// Largest loss vector accepted: bounds the memory a request can make us allocate.
pub const MAX_LOSS_VALUES: usize = 50_000_000;

/// Why an input was refused: the field and a reason; the caller adds the run's name.
#[derive(Debug, Clone, PartialEq)]
pub struct InputProblem {
    pub field: &'static str,
    pub reason: String,
}

fn problem(field: &'static str, reason: impl Into<String>) -> InputProblem {
    InputProblem {
        field,
        reason: reason.into(),
    }
}

/// Checks a run's observed curve and targets; `min_context` is the fewest points accepted.
pub fn validate_prefix(p: &CurvePrefix<'_>, min_context: usize) -> Result<(), InputProblem> {
    if p.steps.len() != p.accuracy.len() {
        return Err(problem(
            "accuracy",
            format!("{} values for {} steps", p.accuracy.len(), p.steps.len()),
        ));
    }
    if p.steps.is_empty() {
        return Err(problem(
            "steps",
            "empty context: at least one observation is needed",
        ));
    }
    if p.steps.len() < min_context {
        return Err(problem(
            "steps",
            format!(
                "context too short: {} points, the model needs at least {min_context}",
                p.steps.len()
            ),
        ));
    }
    for (i, &s) in p.steps.iter().enumerate() {
        if !s.is_finite() || s < 0.0 {
            return Err(problem(
                "steps",
                format!("steps[{i}] = {s} is not a finite value >= 0"),
            ));
        }
        if i > 0 && s <= p.steps[i - 1] {
            return Err(problem(
                "steps",
                format!("not increasing: steps[{i}] = {s} after {}", p.steps[i - 1]),
            ));
        }
    }
    let last = *p.steps.last().unwrap();
    if last <= 0.0 {
        return Err(problem("steps", "the last observed step must be positive"));
    }
    for (i, &a) in p.accuracy.iter().enumerate() {
        if !(0.0..=1.0).contains(&a) {
            return Err(problem(
                "accuracy",
                format!("accuracy[{i}] = {a} is outside [0, 1]"),
            ));
        }
    }
    if p.targets.is_empty() {
        return Err(problem("target_steps", "no target steps to forecast"));
    }
    for (i, &t) in p.targets.iter().enumerate() {
        if !t.is_finite() || t <= last {
            return Err(problem(
                "target_steps",
                format!("target_steps[{i}] = {t} is not after the last observed step {last}"),
            ));
        }
    }
    Ok(())
}

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
    fit: Option<crate::curvefit::PowerLawFit>,
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
        let fit = crate::curvefit::fit_power_law(steps, accuracy);
        RunFeatures {
            points,
            x_last,
            y_last,
            fit,
        }
    }

    /// The power-law fit of every observed point (the trees' summary reads it too).
    pub(crate) fn fit(&self) -> Option<crate::curvefit::PowerLawFit> {
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

/// Checks token losses: finite or +inf (capped), never NaN or negative, never empty.
pub fn validate_losses(losses: &[f32]) -> Result<(), InputProblem> {
    if losses.is_empty() {
        return Err(problem("token_losses", "empty loss vector"));
    }
    if losses.len() > MAX_LOSS_VALUES {
        return Err(problem(
            "token_losses",
            format!(
                "{} values, more than the {MAX_LOSS_VALUES} accepted",
                losses.len()
            ),
        ));
    }
    if let Some((i, v)) = losses
        .iter()
        .enumerate()
        .find(|(_, v)| v.is_nan() || **v < 0.0)
    {
        return Err(problem(
            "token_losses",
            format!("token_losses[{i}] = {v} is NaN or negative"),
        ));
    }
    Ok(())
}

/// Token loss -> the probability the encoder reads: `exp(-min(loss, 20))`, below 1 - 1e-6
/// (the reference model's preprocessing; +inf becomes the cap).
#[inline]
pub fn loss_to_probability(loss: f32) -> f32 {
    (-loss.min(MAX_TOKEN_LOSS)).exp().clamp(0.0, 1.0 - 1e-6)
}

/// Prepares validated token losses into the encoder's fixed-length input `out` (`loss_len`).
pub fn prepare_losses(losses: &[f32], encoder: &EncoderArchitecture, out: &mut [f32]) {
    debug_assert_eq!(out.len(), encoder.loss_len);
    match encoder.representation {
        LossRepresentation::Ordered => {
            out.fill(0.0);
            for (o, &l) in out.iter_mut().zip(losses) {
                *o = loss_to_probability(l);
            }
        }
        LossRepresentation::Sketch => {
            // The probability is non-increasing in the loss, so the i-th smallest probability is
            // that of the i-th largest loss: sort the losses and pay for `exp` only at the
            // 2 x loss_len order statistics the sketch reads. A radix sort (validated losses
            // hold no NaN) is linear in their number; a scheduler sharing one checkpoint's
            // 256,000 token losses across its tasks spends most of the preparation here.
            let mut sorted = losses.to_vec();
            radsort::sort(&mut sorted);
            let m = sorted.len();
            let p = |i: usize| loss_to_probability(sorted[m - 1 - i]);
            let len = out.len();
            for (j, o) in out.iter_mut().enumerate() {
                // Quantile (j + 0.5) / len of the empirical distribution, interpolated.
                let pos =
                    ((j as f64 + 0.5) / len as f64 * m as f64 - 0.5).clamp(0.0, (m - 1) as f64);
                let lo = pos.floor() as usize;
                let hi = (lo + 1).min(m - 1);
                let w = (pos - lo as f64) as f32;
                let (a, b) = (p(lo), p(hi));
                *o = a + (b - a) * w;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix<'a>(s: &'a [f64], a: &'a [f64], t: &'a [f64]) -> CurvePrefix<'a> {
        CurvePrefix {
            steps: s,
            accuracy: a,
            targets: t,
        }
    }

    #[test]
    fn validation_names_the_field() {
        let ok = prefix(&[0.0, 10.0, 20.0], &[0.2, 0.3, 0.4], &[40.0]);
        assert!(validate_prefix(&ok, 2).is_ok());
        let cases: [(CurvePrefix, &str); 8] = [
            (prefix(&[], &[], &[1.0]), "steps"),
            (prefix(&[1.0], &[0.2], &[2.0]), "steps"),
            (prefix(&[2.0, 1.0], &[0.2, 0.3], &[4.0]), "steps"),
            (prefix(&[1.0, f64::NAN], &[0.2, 0.3], &[4.0]), "steps"),
            (prefix(&[1.0, 2.0], &[0.2, 1.3], &[4.0]), "accuracy"),
            (prefix(&[1.0, 2.0], &[0.2], &[4.0]), "accuracy"),
            (prefix(&[1.0, 2.0], &[0.2, 0.3], &[2.0]), "target_steps"),
            (prefix(&[1.0, 2.0], &[0.2, f64::NAN], &[4.0]), "accuracy"),
        ];
        for (p, field) in cases {
            assert_eq!(validate_prefix(&p, 2).unwrap_err().field, field, "{p:?}");
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

    #[test]
    fn sketch_is_order_free_and_ordered_keeps_order() {
        let mut enc = crate::architecture::Architecture::small().encoder.unwrap();
        let losses: Vec<f32> = (0..1000).map(|i| (i % 17) as f32 * 0.3).collect();
        let mut rev = losses.clone();
        rev.reverse();
        let (mut a, mut b) = (vec![0.0; enc.loss_len], vec![0.0; enc.loss_len]);
        prepare_losses(&losses, &enc, &mut a);
        prepare_losses(&rev, &enc, &mut b);
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        enc.representation = LossRepresentation::Ordered;
        prepare_losses(&[0.0, 1.0, f32::INFINITY], &enc, &mut a);
        assert!((a[0] - (1.0 - 1e-6)).abs() < 1e-9 && (a[1] - (-1.0f32).exp()).abs() < 1e-7);
        assert!(a[2] < 1e-8 && a[3..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn sketch_equals_sorting_every_probability() {
        // The plain definition: every probability, sorted, then interpolated.
        fn plain(losses: &[f32], len: usize) -> Vec<f32> {
            let mut p: Vec<f32> = losses.iter().map(|&l| loss_to_probability(l)).collect();
            p.sort_unstable_by(f32::total_cmp);
            let m = p.len();
            (0..len)
                .map(|j| {
                    let pos =
                        ((j as f64 + 0.5) / len as f64 * m as f64 - 0.5).clamp(0.0, (m - 1) as f64);
                    let lo = pos.floor() as usize;
                    let hi = (lo + 1).min(m - 1);
                    let w = (pos - lo as f64) as f32;
                    p[lo] + (p[hi] - p[lo]) * w
                })
                .collect()
        }
        let enc = crate::architecture::Architecture::small().encoder.unwrap();
        let mut rng = crate::distribution::SplitMix64::new(3);
        for m in [1, 2, 3, 511, 512, 513, 1000, 70_000] {
            // Ties, zeros of both signs, values past the cap of 20, and +inf among ordinary ones.
            let losses: Vec<f32> = (0..m)
                .map(|_| match rng.next_u64() % 10 {
                    0 => 0.0,
                    1 => -0.0,
                    2 => f32::INFINITY,
                    3 => 25.0 + rng.uniform(0.0, 5.0) as f32,
                    4 => 1.5,
                    _ => rng.uniform(0.0, 8.0) as f32,
                })
                .collect();
            validate_losses(&losses).unwrap();
            let mut got = vec![0.0; enc.loss_len];
            prepare_losses(&losses, &enc, &mut got);
            let want = plain(&losses, enc.loss_len);
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(g, w)| g.to_bits() == w.to_bits()),
                "{m} losses"
            );
        }
    }

    #[test]
    fn bad_losses_are_refused() {
        assert!(validate_losses(&[]).is_err());
        assert!(validate_losses(&[0.1, f32::NAN]).is_err());
        assert!(validate_losses(&[0.1, -0.5]).is_err());
        assert!(validate_losses(&[0.1, f32::INFINITY]).is_ok());
    }
}
