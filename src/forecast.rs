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
