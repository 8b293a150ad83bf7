//! Inference: from a run's points to quantile forecasts.
//!
//! - [`engine`]: a loaded bundle, its compiled tract graphs and the forecast path;
//! - [`features`]: input validation, the forecaster's per-point features, token-loss preparation;
//! - [`curvefit`]: the run's own power-law fit (a feature, a baseline, a trees input);
//! - [`summary`]: the run summary the bundle's trees read (the trees: `model::trees`);
//! - [`forecast`]: the output types and the [`Forecaster`](forecast::Forecaster) trait.

pub mod curvefit;
pub mod engine;
pub mod features;
pub mod forecast;
pub mod summary;
