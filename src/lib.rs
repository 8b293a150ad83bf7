pub mod data;
pub mod error;
pub mod forecast;
pub mod replay;

pub use error::{BundleError, Error, Result};
pub use forecast::{CurvePrefix, Forecast, Forecaster, RunForecast};
