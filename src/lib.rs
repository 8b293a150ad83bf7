pub mod data;
pub mod distribution;
pub mod error;
pub mod forecast;
pub mod ranking;

pub use distribution::{QuantileDistribution, SplitMix64};
pub use error::{BundleError, Error, Result};
pub use forecast::{CurvePrefix, Forecast, Forecaster, RunForecast};
pub use ranking::{Ranking, rank, rank_forecasts};
