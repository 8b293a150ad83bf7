//! What the engine returns: quantile forecasts of a run's metric at future steps.

use serde::{Deserialize, Serialize};

/// The metric's forecast at one future step, as quantiles at the engine's levels.
///
/// Invariant (enforced by the engine): `quantiles` is non-decreasing and lies in [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// The target step, in the caller's compute unit.
    pub step: f64,
    /// One value per quantile level, in the order of the engine's levels.
    pub quantiles: Vec<f32>,
}

/// Every forecast of one run, in the order of its target steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunForecast {
    pub forecasts: Vec<Forecast>,
}

impl RunForecast {
    /// The forecast at the last (furthest) target step, which ranking and planning compare.
    pub fn last(&self) -> Option<&Forecast> {
        self.forecasts.last()
    }
}

/// A run's observed prefix and where to forecast it: the plain-slice view every forecaster
/// (the engine, the baselines in `eval`) answers.
#[derive(Debug, Clone, Copy)]
pub struct CurvePrefix<'a> {
    /// Compute at each observed checkpoint, strictly increasing, any unit.
    pub steps: &'a [f64],
    /// The metric at each observed checkpoint, in [0, 1].
    pub accuracy: &'a [f64],
    /// Future steps to forecast, each after the last observed step.
    pub targets: &'a [f64],
}

/// Anything that turns observed prefixes into quantile forecasts.
pub trait Forecaster: Sync {
    /// A short name for reports ("neuneu", "persistence", ...).
    fn name(&self) -> &str;
    /// The quantile levels of every forecast, increasing.
    fn levels(&self) -> &[f32];
    /// Forecasts every prefix; one `RunForecast` per prefix, in order.
    fn forecast_prefixes(&self, prefixes: &[CurvePrefix<'_>]) -> crate::Result<Vec<RunForecast>>;
    /// The same, each prefix given the token losses of its last checkpoint where they are known
    /// (`losses[i]` for `prefixes[i]`, as many). A forecaster that reads no losses (the
    /// baselines) ignores them.
    fn forecast_prefixes_with_losses(
        &self,
        prefixes: &[CurvePrefix<'_>],
        losses: &[Option<&[f32]>],
    ) -> crate::Result<Vec<RunForecast>> {
        debug_assert_eq!(prefixes.len(), losses.len());
        self.forecast_prefixes(prefixes)
    }
}

/// Pinball (quantile) loss of quantile `q` at level `tau` against the truth `y`.
pub fn pinball(tau: f64, q: f64, y: f64) -> f64 {
    let d = y - q;
    (tau * d).max((tau - 1.0) * d)
}
