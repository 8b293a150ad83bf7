//! Three simple forecasters the engine has to beat. Each one looks at a prefix's own context
//! only (no learning across runs), so they are cheap, deterministic and hard to break.
//!
//! Every baseline builds its quantiles the same way (see [`quantiles_around`]): a median path,
//! plus a Gaussian band whose scale `sigma` is estimated on the context and grows with the
//! horizon as `sigma * sqrt(1 + h)`, `h` being the horizon counted in checkpoints of the
//! context's last spacing. The band is clamped to [0, 1] and kept non-decreasing.

use crate::inference::curvefit::{
    PowerLawFit, fit_power_law, log_grid, positive_points, recent_step_noise, residual_sigma,
    two_feature_ls,
};
use crate::inference::forecast::{CurvePrefix, Forecast, Forecaster, RunForecast};

/// The quantile levels the baselines answer by default, those of the engine.
pub const DEFAULT_LEVELS: [f32; 5] = [0.1, 0.25, 0.5, 0.75, 0.9];

/// Last observed value, with a band from the spread of recent successive differences.
///
/// Its median never moves. Its band treats the curve as a random walk: the root mean square of
/// the last [`RECENT_DIFFS`] differences is the noise of one checkpoint step, and `h` steps ahead
/// the spread is that times `sqrt(1 + h)`. A flat context gives a zero-width band, which is
/// honest for persistence and still yields a pinball loss (equal to the level-weighted error).
#[derive(Debug, Clone)]
pub struct Persistence {
    levels: Vec<f32>,
}

/// `y = a - b * x^(-c)` in compute `x`, fitted by least squares on the context.
///
/// `c` is searched on a log-spaced grid; for each `c`, `a` and `b` are the closed-form linear
/// least squares. Points with `x <= 0` are dropped (the law is undefined there). Fewer than
/// three usable points falls back to [`Persistence`].
#[derive(Debug, Clone)]
pub struct PowerLaw {
    levels: Vec<f32>,
}

/// `y = lo + (hi - lo) / (1 + exp(-k (ln x - x0)))`, a sigmoid in log compute.
///
/// `k` and `x0` are searched on a grid; `lo` and `hi` are then linear least squares, and only
/// fits with both within [-0.05, 1.05] are kept, so that a far-away midpoint cannot blow up an
/// exponential tail. Fewer than four usable points, or no admissible fit, falls back to
/// [`Persistence`]. Captures "emergent" curves that stay flat and then rise.
#[derive(Debug, Clone)]
pub struct Logistic {
    levels: Vec<f32>,
}

macro_rules! impl_levels {
    ($($t:ident),*) => {$(
        impl $t {
            /// The baseline at the default levels.
            pub fn new() -> Self {
                Self::with_levels(DEFAULT_LEVELS.to_vec())
            }
            /// The baseline at other quantile levels (increasing, in (0, 1)).
            pub fn with_levels(levels: Vec<f32>) -> Self {
                Self { levels }
            }
        }
        impl Default for $t {
            fn default() -> Self {
                Self::new()
            }
        }
    )*};
}
impl_levels!(Persistence, PowerLaw, Logistic);

impl Forecaster for Persistence {
    fn name(&self) -> &str {
        "persistence"
    }
    fn levels(&self) -> &[f32] {
        &self.levels
    }
    fn forecast_prefixes(&self, prefixes: &[CurvePrefix<'_>]) -> crate::Result<Vec<RunForecast>> {
        prefixes
            .iter()
            .map(|p| Ok(persistence(p, &self.levels)))
            .collect()
    }
}

impl Forecaster for PowerLaw {
    fn name(&self) -> &str {
        "power-law"
    }
    fn levels(&self) -> &[f32] {
        &self.levels
    }
    fn forecast_prefixes(&self, prefixes: &[CurvePrefix<'_>]) -> crate::Result<Vec<RunForecast>> {
        Ok(fit_or_persist(prefixes, &self.levels, fit_power_law))
    }
}

impl Forecaster for Logistic {
    fn name(&self) -> &str {
        "logistic"
    }
    fn levels(&self) -> &[f32] {
        &self.levels
    }
    fn forecast_prefixes(&self, prefixes: &[CurvePrefix<'_>]) -> crate::Result<Vec<RunForecast>> {
        Ok(fit_or_persist(prefixes, &self.levels, fit_logistic))
    }
}

/// Each prefix forecast from its own fit, or by persistence where the fit is not possible.
fn fit_or_persist<F: Fit>(
    prefixes: &[CurvePrefix<'_>],
    levels: &[f32],
    fit: impl Fn(&[f64], &[f64]) -> Option<F>,
) -> Vec<RunForecast> {
    prefixes
        .iter()
        .map(|p| match fit(p.steps, p.accuracy) {
            Some(f) => fitted(p, levels, &f),
            None => persistence(p, levels),
        })
        .collect()
}

/// A fitted curve: its prediction at any compute, and its residual scale on the context.
trait Fit {
    fn predict(&self, x: f64) -> f64;
    fn sigma(&self) -> f64;
}

fn fitted(p: &CurvePrefix<'_>, levels: &[f32], fit: &dyn Fit) -> RunForecast {
    let forecasts = p
        .targets
        .iter()
        .map(|&t| {
            let spread = fit.sigma() * (1.0 + horizon_steps(p.steps, t)).sqrt();
            Forecast {
                step: t,
                quantiles: quantiles_around(fit.predict(t), spread, levels),
            }
        })
        .collect();
    RunForecast { forecasts }
}

fn persistence(p: &CurvePrefix<'_>, levels: &[f32]) -> RunForecast {
    let last = p.accuracy.last().copied().unwrap_or(0.0);
    let step_noise = recent_step_noise(p.accuracy);
    let forecasts = p
        .targets
        .iter()
        .map(|&t| Forecast {
            step: t,
            quantiles: quantiles_around(
                last,
                step_noise * (1.0 + horizon_steps(p.steps, t)).sqrt(),
                levels,
            ),
        })
        .collect();
    RunForecast { forecasts }
}

/// How many checkpoints ahead `target` is, counted in the context's last spacing.
///
/// The sweeps we evaluate checkpoint at a constant spacing late in training (Pythia every 10k
/// steps, ScAn every epoch), so the last spacing is the natural unit.
fn horizon_steps(steps: &[f64], target: f64) -> f64 {
    match steps {
        [.., prev, last] if last > prev => ((target - last) / (last - prev)).max(0.0),
        _ => 0.0,
    }
}

/// Quantiles of `N(median, spread^2)` at `levels`, clamped to [0, 1] and non-decreasing.
pub(crate) fn quantiles_around(median: f64, spread: f64, levels: &[f32]) -> Vec<f32> {
    let median = if median.is_finite() { median } else { 0.5 };
    let spread = if spread.is_finite() {
        spread.max(0.0)
    } else {
        0.0
    };
    let mut running = 0.0f32;
    levels
        .iter()
        .map(|&l| {
            let q = (median + spread * normal_quantile(f64::from(l))).clamp(0.0, 1.0) as f32;
            running = running.max(q);
            running
        })
        .collect()
}

/// The standard normal's inverse CDF (Acklam's rational approximation, relative error < 1.2e-9).
pub(crate) fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383_577_518_672_69e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    const LOW: f64 = 0.02425;
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

impl Fit for PowerLawFit {
    fn predict(&self, x: f64) -> f64 {
        PowerLawFit::predict(self, x)
    }
    fn sigma(&self) -> f64 {
        self.sigma
    }
}

#[derive(Debug, Clone, Copy)]
struct LogisticFit {
    lo: f64,
    hi: f64,
    k: f64,
    /// Midpoint, in the normalised log compute `z` below.
    z0: f64,
    /// `z = (ln x - z_shift) / z_scale` maps the context's log compute onto [0, 1].
    z_shift: f64,
    z_scale: f64,
    sigma: f64,
}

impl LogisticFit {
    fn gate(k: f64, z: f64, z0: f64) -> f64 {
        1.0 / (1.0 + (-k * (z - z0)).exp())
    }
}

impl Fit for LogisticFit {
    fn predict(&self, x: f64) -> f64 {
        if x <= 0.0 {
            return self.lo;
        }
        let z = (x.ln() - self.z_shift) / self.z_scale;
        self.lo + (self.hi - self.lo) * Self::gate(self.k, z, self.z0)
    }
    fn sigma(&self) -> f64 {
        self.sigma
    }
}

fn fit_logistic(x: &[f64], y: &[f64]) -> Option<LogisticFit> {
    let (x, y) = positive_points(x, y);
    if x.len() < 4 {
        return None;
    }
    let z_shift = x[0].ln();
    let z_scale = x.last()?.ln() - z_shift;
    if z_scale.is_nan() || z_scale <= 0.0 {
        return None;
    }
    let z: Vec<f64> = x.iter().map(|xi| (xi.ln() - z_shift) / z_scale).collect();
    let mut best: Option<(f64, LogisticFit)> = None;
    for k in log_grid(0.5, 60.0, 20) {
        // Midpoints from before the context to well after it: an emergent rise may be ahead.
        for i in 0..31 {
            let z0 = -0.5 + 3.0 * i as f64 / 30.0;
            let s: Vec<f64> = z.iter().map(|&zi| LogisticFit::gate(k, zi, z0)).collect();
            let one_minus: Vec<f64> = s.iter().map(|si| 1.0 - si).collect();
            // y = lo * (1 - s) + hi * s
            let Some((lo, hi, sse)) = two_feature_ls(&one_minus, &s, &y) else {
                continue;
            };
            let admissible = (-0.05..=1.05).contains(&lo) && (-0.05..=1.05).contains(&hi);
            if admissible && best.as_ref().is_none_or(|(b, _)| sse < *b) {
                let fit = LogisticFit {
                    lo,
                    hi,
                    k,
                    z0,
                    z_shift,
                    z_scale,
                    sigma: 0.0,
                };
                best = Some((sse, fit));
            }
        }
    }
    let (sse, mut fit) = best?;
    fit.sigma = residual_sigma(sse, x.len(), 4, &y);
    Some(fit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forecast_one(f: &dyn Forecaster, x: &[f64], y: &[f64], targets: &[f64]) -> RunForecast {
        let p = CurvePrefix {
            steps: x,
            accuracy: y,
            targets,
        };
        f.forecast_prefixes(&[p]).unwrap().remove(0)
    }

    fn median(r: &RunForecast, i: usize) -> f64 {
        f64::from(r.forecasts[i].quantiles[2])
    }

    #[test]
    fn normal_quantile_matches_known_values() {
        assert!(normal_quantile(0.5).abs() < 1e-9);
        assert!((normal_quantile(0.9) - 1.2815515655).abs() < 1e-6);
        assert!((normal_quantile(0.25) + 0.6744897502).abs() < 1e-6);
        assert!((normal_quantile(0.01) + 2.3263478740).abs() < 1e-6);
    }

    #[test]
    fn persistence_repeats_the_last_value_with_a_growing_band() {
        let x = [1.0, 2.0, 3.0, 4.0];
        let y = [0.2, 0.3, 0.2, 0.3];
        let r = forecast_one(&Persistence::new(), &x, &y, &[5.0, 8.0]);
        assert_eq!(median(&r, 0), 0.3f32 as f64);
        assert_eq!(median(&r, 1), 0.3f32 as f64);
        let width = |i: usize| r.forecasts[i].quantiles[4] - r.forecasts[i].quantiles[0];
        // Step noise 0.1; one step ahead: 0.1 * sqrt(2) * 2 * 1.2816.
        assert!((f64::from(width(0)) - 0.1 * 2f64.sqrt() * 2.0 * 1.2815515).abs() < 1e-5);
        assert!(width(1) > width(0));
        // A flat context has no band at all.
        let flat = forecast_one(&Persistence::new(), &x, &[0.5; 4], &[6.0]);
        assert!(flat.forecasts[0].quantiles.iter().all(|&q| q == 0.5));
    }

    #[test]
    fn power_law_recovers_its_generating_curve() {
        let truth = |x: f64| 0.8 - 0.6 * (x / 1e9).powf(-0.5);
        let x: Vec<f64> = (1..=8).map(|i| 1e9 * f64::from(i)).collect();
        let y: Vec<f64> = x.iter().map(|&xi| truth(xi)).collect();
        let targets = [2e10, 5e10];
        let r = forecast_one(&PowerLaw::new(), &x, &y, &targets);
        for (i, &t) in targets.iter().enumerate() {
            assert!(
                (median(&r, i) - truth(t)).abs() < 5e-3,
                "{} vs {}",
                median(&r, i),
                truth(t)
            );
        }
        let q = &r.forecasts[0].quantiles;
        assert!(
            q[4] - q[0] < 0.02,
            "a noise-free fit has a narrow band: {q:?}"
        );
    }

    #[test]
    fn power_law_drops_zero_compute_and_falls_back_when_underdetermined() {
        // Only two positive-compute points: falls back to persistence.
        let r = forecast_one(&PowerLaw::new(), &[0.0, 1.0, 2.0], &[0.1, 0.2, 0.4], &[3.0]);
        assert_eq!(median(&r, 0), 0.4f32 as f64);
    }

    #[test]
    fn logistic_recovers_its_generating_curve() {
        let truth = |x: f64| 0.25 + 0.5 / (1.0 + (-2.0 * (x.ln() - 3e9f64.ln())).exp());
        let x: Vec<f64> = (0..10).map(|i| 1e8 * 1.6f64.powi(i)).collect();
        let y: Vec<f64> = x.iter().map(|&xi| truth(xi)).collect();
        let targets = [1e10, 3e10];
        let r = forecast_one(&Logistic::new(), &x, &y, &targets);
        for (i, &t) in targets.iter().enumerate() {
            assert!(
                (median(&r, i) - truth(t)).abs() < 0.02,
                "{} vs {}",
                median(&r, i),
                truth(t)
            );
        }
    }

    #[test]
    fn quantiles_are_clamped_and_non_decreasing() {
        let q = quantiles_around(0.98, 0.2, &DEFAULT_LEVELS);
        assert!(q.windows(2).all(|w| w[0] <= w[1]));
        assert!(q.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(q[4], 1.0);
    }
}
