pub mod architecture;
pub mod bundle;
pub mod data;
pub mod engine;
pub mod error;
pub mod features;
pub mod forecast;
pub mod inspect;
pub mod layout;
pub mod npy;
pub mod onnx;
pub mod request;
#[cfg(feature = "train")]
pub mod train;
pub mod weights;

pub use engine::{Engine, LossEmbedding, Losses, RunInput};
pub use error::{BundleError, Error, Result};
pub use forecast::{CurvePrefix, Forecast, Forecaster, RunForecast};
