pub mod cuda;
pub mod data;
pub mod error;
pub mod forecast;

pub use error::{BundleError, Error, Result};
pub use forecast::{CurvePrefix, Forecast, Forecaster, RunForecast};
