//! In-sweep calibration ([`SweepOptions::calibrate`](super::SweepOptions)): the finished arms of
//! the sweep say how their runs went on from where a live arm is now, and the live arm's
//! forecast is built from what they say.
//!
//! For a live arm at a fraction `f` of its run (its last step over its end), each finished arm
//! `c` is cut at the same fraction of its own run (its points at or before `f` times its last
//! step). Three forecasts of `c`'s final value from that prefix are scored against it, in the
//! model's space:
//! - **model**: the model's median forecast from the prefix (when it has the model's minimum
//!   context); residual `final - median`;
//! - **gains**: the prefix's last value; residual `final - last`, the gain `c` made from there;
//! - **ratio**: the prefix's last value again, residual `ln(final / last)`, the factor by which
//!   `c` grew from there (for runs that differ by a scale, whose gains grow with their level).
//!
//! The live arm's forecast is the empirical distribution of `base + residual` (for the ratio,
//! `base * exp(residual)`) over the finished arms (split-conformal, the finished arms the
//! calibration set), at the engine's levels by linear interpolation between order statistics,
//! where `base` is the live arm's own model median or last value. Of the three, the one whose
//! leave-one-out forecasts of the finished arms' finals erred least on average is used
//! ([`choose`]; the model's only when the arm and [`MIN_FINISHED`] finished arms have the points
//! for it). So a sweep on which the model is off (a metric or a regime it was not trained on)
//! falls back to what its own finished arms did, and an arm with a single point, too young for
//! the model, can be judged once [`MIN_FINISHED`] finished arms were once where it is. With
//! fewer finished arms the model's forecast stands and young arms are kept. Past
//! [`MAX_FINISHED`] finished arms, a sample of that many, chosen by id, is the calibration set.
//! A live arm ahead of every finished arm at the same point of its run is kept: the finished
//! arms cannot say how a better run goes on ([`ahead_of_all`]).
//!
//! Why whole arms' residuals: a sweep's runs share data, code and schedule, so how one run went
//! on from a point of its run is the best guide to how another goes on from the same point; the
//! bias of a model fitted to other runs moves the whole band, and the band's width is the
//! spread the sweep itself shows.

use crate::decisions::distribution::QuantileDistribution;
use crate::error::Result;

/// Finished arms with a usable prefix needed before forecasts are calibrated.
pub const MIN_FINISHED: usize = 5;

/// Finished arms calibration reads at most. Each is a forecast of its prefix at each new
/// fraction a live arm reaches (about 60 us on the default model), and a sweep rebuilt at
/// every decision (`neuneu.optuna.NeuNeuPruner`) forecasts them all each time: uncapped, a
/// decision of a study with 800 complete trials cost 50-60 ms. 256 residuals estimate the
/// quantiles at the engine's levels (0.1 to 0.9) as well as more do.
pub const MAX_FINISHED: usize = 256;

/// The finished arms calibration reads: all of them up to [`MAX_FINISHED`], else the
/// [`MAX_FINISHED`] whose ids rank first by [`id_rank`], a uniform sample of them that does not
/// depend on the order the arms arrived in (as nothing else calibration does). Returns them in
/// `finished`'s order.
pub(super) fn sample<'a>(mut finished: Vec<usize>, id: impl Fn(usize) -> &'a str) -> Vec<usize> {
    if finished.len() > MAX_FINISHED {
        let mut ranked: Vec<(u64, &str, usize)> = finished
            .iter()
            .map(|&i| (id_rank(id(i)), id(i), i))
            .collect();
        ranked.sort_unstable();
        let mut kept: Vec<usize> = ranked[..MAX_FINISHED].iter().map(|r| r.2).collect();
        kept.sort_unstable();
        finished = kept;
    }
    finished
}

/// A stable pseudo-random rank of an arm id: FNV-1a of its bytes, then SplitMix64's finaliser
/// (FNV alone leaves ids that differ in their last character close together).
fn id_rank(id: &str) -> u64 {
    let fnv = id.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    });
    crate::rng::SplitMix64::new(fnv).next_u64()
}

/// The points of a finished arm with `steps` that a live arm at `fraction` of its run has
/// counterparts of: those at or before `fraction` times the finished arm's last step. `None`
/// when that leaves fewer than `need` points or the whole arm (nothing left to forecast).
pub(super) fn prefix_len(steps: &[f64], fraction: f64, need: usize) -> Option<usize> {
    let last = *steps.last()?;
    let cut = fraction * last;
    let n = steps.partition_point(|&s| s <= cut);
    (n >= need.max(1) && n < steps.len()).then_some(n)
}

/// What a live arm's calibrated forecast is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// Its model median, with the model's residuals on the finished arms.
    Model,
    /// Its last value, with the finished arms' gains from the same point.
    Gains,
    /// Its last value, with the factors by which the finished arms grew from the same point.
    Ratio,
}

/// The smallest model-space value a finished arm may have at the cut for its growth factor to
/// count: below it (an accuracy near 0 early in a run) a factor says nothing stable.
const RATIO_FLOOR: f64 = 1e-3;

/// One finished arm's residuals from a live arm's point of its run: the gains' always, the
/// model's when its prefix had the points for a forecast; and its value there.
#[derive(Debug, Clone, Copy)]
pub(super) struct Residual {
    pub gains: f64,
    pub model: Option<f64>,
    pub at_cut: f64,
}

/// Whether a live arm at model-space value `now` is ahead of every finished arm at the same
/// point of its run, with at least [`MIN_FINISHED`] of them. Its calibrated forecast would then
/// extrapolate: how worse runs went on (their gains, the model's errors on them) is no guide
/// to how a better one goes on, since both grow with the level a run reaches (a run heading
/// higher gains more), and the sweep's arms are no longer exchangeable with it. Nor is the
/// model's own forecast a safe fallback: calibration is on because the model may be off on this
/// sweep. Such an arm is kept, outside the plan as a young arm is (the others are judged
/// without it, which if anything keeps more of them); in a sweep whose arms come in random
/// order few are ever ahead of all finished ones (the records of a sequence, about ln n of n),
/// so the keep costs little.
pub(super) fn ahead_of_all(residuals: &[Residual], now: f64) -> bool {
    residuals.len() >= MIN_FINISHED && residuals.iter().all(|r| now > r.at_cut)
}

impl Base {
    /// A finished arm's residual under this base (`None` where it has none).
    fn residual(self, r: &Residual) -> Option<f64> {
        let last = r.at_cut + r.gains;
        match self {
            Base::Model => r.model,
            Base::Gains => Some(r.gains),
            Base::Ratio => (r.at_cut > RATIO_FLOOR && last > 0.0).then(|| (last / r.at_cut).ln()),
        }
    }

    /// The value a base value and a residual forecast.
    fn apply(self, base: f64, residual: f64) -> f64 {
        match self {
            Base::Model | Base::Gains => base + residual,
            Base::Ratio => base * residual.exp(),
        }
    }

    /// A finished arm's own base value: its model median or its value at the cut.
    fn of(self, r: &Residual) -> f64 {
        match self {
            Base::Model => r.at_cut + r.gains - r.model.unwrap_or(f64::NAN),
            Base::Gains | Base::Ratio => r.at_cut,
        }
    }
}

/// Which base to use and its residuals: of the bases every one of `residuals` (at least
/// [`MIN_FINISHED`]) has a residual for (the model's only when the live arm can be forecast,
/// `model_ok`), the one whose leave-one-out forecasts erred least: each finished arm's final
/// forecast from its own base value plus the median residual of the others, the absolute errors
/// averaged over the arms that have the model's residual where it competes (the same arms for
/// every base), ties to the model, then the gains. Why leave-one-out: the residuals' spread
/// becomes the band and their median the shift, so the base that would have forecast this
/// sweep's own finished arms best is the one to forecast its live arms with; the size of the
/// residuals themselves is a bias the calibration removes. The residuals returned are all the
/// finished arms' that have one for the chosen base.
pub(super) fn choose(residuals: &[Residual], model_ok: bool) -> Option<(Base, Vec<f64>)> {
    let with_model: Vec<Residual> = residuals
        .iter()
        .filter(|r| r.model.is_some())
        .copied()
        .collect();
    let model_competes = model_ok && with_model.len() >= MIN_FINISHED;
    let scored = if model_competes {
        &with_model[..]
    } else {
        residuals
    };
    let bases: &[Base] = if model_competes {
        &[Base::Model, Base::Gains, Base::Ratio]
    } else {
        &[Base::Gains, Base::Ratio]
    };
    let mut best: Option<(f64, Base)> = None;
    for &base in bases {
        let Some(error) = loo_error(base, scored) else {
            continue;
        };
        // Beyond rounding: bases that forecast alike (gains and ratios of arms cut at one
        // value) keep the order above.
        if best.is_none_or(|(e, _)| error < e * (1.0 - 1e-9)) {
            best = Some((error, base));
        }
    }
    let (_, base) = best?;
    let chosen: Vec<f64> = residuals.iter().filter_map(|r| base.residual(r)).collect();
    (chosen.len() >= MIN_FINISHED).then_some((base, chosen))
}

/// The mean absolute error of forecasting each arm's final from its own base value and the
/// median residual of the others; `None` unless every arm has a residual under `base` and there
/// are at least [`MIN_FINISHED`].
fn loo_error(base: Base, arms: &[Residual]) -> Option<f64> {
    let residuals: Vec<f64> = arms
        .iter()
        .map(|r| base.residual(r))
        .collect::<Option<_>>()?;
    if residuals.len() < MIN_FINISHED {
        return None;
    }
    // Sorted once: the others of the arm at rank k are the sorted residuals less the k-th, so
    // their median is read off in place (up to 256 arms, for every live arm at every decision).
    let mut order: Vec<usize> = (0..residuals.len()).collect();
    order.sort_by(|&a, &b| residuals[a].total_cmp(&residuals[b]));
    let sorted: Vec<f64> = order.iter().map(|&i| residuals[i]).collect();
    let total: f64 = order
        .iter()
        .enumerate()
        .map(|(k, &c)| {
            let others = |i: usize| if i < k { sorted[i] } else { sorted[i + 1] };
            let median = quantile_of_sorted(sorted.len() - 1, 0.5, others);
            let r = &arms[c];
            (r.at_cut + r.gains - base.apply(base.of(r), median)).abs()
        })
        .sum();
    Some(total / arms.len() as f64)
}

/// The live arm's forecast from `base` (model space: its model median or its last value) and
/// the finished arms' `residuals` under `kind`, at `levels`; values kept in [0, 1], the model's
/// space. The quantiles stay in order: linear interpolation and extrapolation of sorted samples
/// is non-decreasing in the level.
pub(super) fn calibrated(
    levels: &[f64],
    kind: Base,
    base: f64,
    residuals: &[f64],
) -> Result<QuantileDistribution> {
    let mut samples: Vec<f64> = residuals.iter().map(|&r| kind.apply(base, r)).collect();
    samples.sort_by(f64::total_cmp);
    let values = levels
        .iter()
        .map(|&l| empirical_quantile(&samples, l).clamp(0.0, 1.0))
        .collect();
    QuantileDistribution::new(levels.to_vec(), values)
}

/// The `level` quantile of a new draw given sorted `samples` of its kind: the `j`-th of `n`
/// samples sits at level `j / (n + 1)` (Hyndman and Fan's type 6: a new exchangeable draw falls
/// below it with that probability, as split-conformal intervals count), linear between them and
/// extrapolated linearly past the first and last. With few samples the band is thus wider than
/// their range, as it should be: 5 residuals cannot show where 90% of the next ones fall.
fn empirical_quantile(samples: &[f64], level: f64) -> f64 {
    quantile_of_sorted(samples.len(), level, |i| samples[i])
}

/// [`empirical_quantile`] of `n` sorted samples read through `at` (the `i`-th smallest).
fn quantile_of_sorted(n: usize, level: f64, at: impl Fn(usize) -> f64) -> f64 {
    if n == 1 {
        return at(0);
    }
    // 0-based position; clamped so that extrapolation uses the outermost pair of samples.
    let h = level * (n + 1) as f64 - 1.0;
    let lo = (h.floor().max(0.0) as usize).min(n - 2);
    at(lo) + (h - lo as f64) * (at(lo + 1) - at(lo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_cut_at_the_same_fraction_of_each_run() {
        let steps = [1.0, 2.0, 4.0, 8.0, 10.0];
        assert_eq!(prefix_len(&steps, 0.4, 2), Some(3)); // <= 4.0
        assert_eq!(prefix_len(&steps, 0.1, 2), None); // one point only
        assert_eq!(prefix_len(&steps, 1.0, 2), None); // the whole arm
        assert_eq!(prefix_len(&steps, 0.85, 2), Some(4));
        assert_eq!(prefix_len(&steps, 0.1, 0), Some(1)); // at least one point whatever `need`
        assert_eq!(prefix_len(&steps, 0.05, 0), None);
    }

    fn r(gains: f64, model: Option<f64>) -> Residual {
        Residual {
            gains,
            model,
            at_cut: 0.5,
        }
    }

    /// A finished arm at `at_cut` that ended at `last`, the model's median from the cut at
    /// `last - model`.
    fn arm(at_cut: f64, last: f64, model: Option<f64>) -> Residual {
        Residual {
            gains: last - at_cut,
            model,
            at_cut,
        }
    }

    #[test]
    fn the_base_that_forecast_the_finished_arms_best_is_chosen() {
        // The model's residuals hardly vary, the gains do: the model.
        let good_model: Vec<Residual> = (0..5)
            .map(|i| r(0.1 + 0.01 * i as f64, Some(0.001 * (i % 2) as f64)))
            .collect();
        assert_eq!(choose(&good_model, true).unwrap().0, Base::Model);
        // The same, but the live arm is too young for the model: the gains, which forecast
        // arms cut at one value exactly as their ratios do (ties go to the gains).
        assert_eq!(choose(&good_model, false).unwrap().0, Base::Gains);
        // A model off by the same amount on every arm is as good: calibration removes a bias.
        let biased: Vec<Residual> = (0..5).map(|i| r(0.01 * i as f64, Some(-0.2))).collect();
        assert_eq!(choose(&biased, true).unwrap().0, Base::Model);
        // A model whose errors scatter more than the gains do: the gains.
        let scattered: Vec<Residual> = (0..5)
            .map(|i| r(0.01 * i as f64, Some(if i % 2 == 0 { 0.2 } else { -0.2 })))
            .collect();
        let (base, residuals) = choose(&scattered, true).unwrap();
        assert_eq!(base, Base::Gains);
        assert_eq!(residuals, vec![0.0, 0.01, 0.02, 0.03, 0.04]);
        // Runs that differ by a scale (each ends at 3 times its value at the cut): their gains
        // grow with their level, their growth factor does not.
        let scaled: Vec<Residual> = (0..6)
            .map(|i| {
                let level = 0.05 + 0.04 * i as f64;
                arm(level, 3.0 * level, Some(0.1 * (i % 3) as f64))
            })
            .collect();
        let (base, residuals) = choose(&scaled, true).unwrap();
        assert_eq!(base, Base::Ratio);
        assert!(residuals.iter().all(|g| (g - 3f64.ln()).abs() < 1e-12));
        // An arm at 0 at the cut has no growth factor: the ratio does not compete.
        let mut at_zero = scaled.clone();
        at_zero[0] = arm(0.0, 0.1, Some(0.0));
        assert_ne!(choose(&at_zero, false).unwrap().0, Base::Ratio);
        // Four model residuals are too few, however good: the model does not compete.
        let mut four = good_model.clone();
        four[0].model = None;
        assert_eq!(choose(&four, true).unwrap().0, Base::Gains);
        assert!(choose(&four[..4], true).is_none());
    }

    #[test]
    fn a_growth_factor_forecast_scales_the_last_value() {
        let levels = [0.1, 0.5, 0.9];
        let growth = [2f64.ln(), 3f64.ln(), 4f64.ln()];
        let d = calibrated(&levels, Base::Ratio, 0.2, &growth).unwrap();
        assert!((d.median() - 0.6).abs() < 1e-12, "{:?}", d.values());
        // Clamped into the model's space: 0.3 * 4 is past 1.
        let d = calibrated(&levels, Base::Ratio, 0.3, &growth).unwrap();
        assert!(d.values().iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(d.values()[2], 1.0);
    }

    #[test]
    fn the_median_moves_by_the_median_residual_and_the_band_is_their_spread() {
        let levels = [0.1, 0.25, 0.5, 0.75, 0.9];
        let residuals = [0.0, -0.04, 0.01, -0.01, -0.02];
        let d = calibrated(&levels, Base::Gains, 0.5, &residuals).unwrap();
        assert!((d.median() - 0.49).abs() < 1e-12);
        let v = d.values();
        // Level 0.1 of 5 samples sits at position 0.6 - 1 < 0: extrapolated below the smallest
        // residual along the first pair (-0.04, -0.02): -0.04 - 0.4 * 0.02 = -0.048.
        assert!((v[0] - (0.5 - 0.048)).abs() < 1e-12, "{v:?}");
        // Level 0.9 at position 4.4: 0.01 + 0.4 * (0.01 - 0.0) = 0.014.
        assert!((v[4] - (0.5 + 0.014)).abs() < 1e-12, "{v:?}");
        // Level 0.25 at position 0.5: halfway between -0.04 and -0.02.
        assert!((v[1] - (0.5 - 0.03)).abs() < 1e-12, "{v:?}");
        assert!(v.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn a_large_calibration_set_is_sampled_by_id_whatever_the_order() {
        let ids: Vec<String> = (0..MAX_FINISHED + 40)
            .map(|i| format!("trial-{i}"))
            .collect();
        let all: Vec<usize> = (0..ids.len()).collect();
        let kept = sample(all.clone(), |i| &ids[i]);
        assert_eq!(kept.len(), MAX_FINISHED);
        assert!(kept.windows(2).all(|w| w[0] < w[1]));
        // The same arms, met in another order: the same ids are kept.
        let reversed: Vec<usize> = all.iter().rev().copied().collect();
        let mut again: Vec<&str> = sample(reversed, |i| &ids[i])
            .iter()
            .map(|&i| ids[i].as_str())
            .collect();
        let mut first: Vec<&str> = kept.iter().map(|&i| ids[i].as_str()).collect();
        again.sort_unstable();
        first.sort_unstable();
        assert_eq!(again, first);
        // Not simply the first or the last arms.
        assert!(kept.iter().any(|&i| i >= MAX_FINISHED) && kept[0] < 40);
        // Up to the cap, every arm is read.
        assert_eq!(
            sample(all[..MAX_FINISHED].to_vec(), |i| &ids[i]).len(),
            MAX_FINISHED
        );
    }

    #[test]
    fn calibrated_values_stay_in_the_models_space() {
        let d = calibrated(
            &[0.1, 0.5, 0.9],
            Base::Gains,
            0.98,
            &[0.01, 0.05, 0.1, -0.2, 0.0],
        )
        .unwrap();
        assert!(d.values().iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(d.values()[2], 1.0);
    }
}
