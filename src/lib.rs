//! neuneu: where is each training run of a sweep heading?
//!
//! Quantile forecasts of a run's metric at future steps (NeuNeu: a CNN over token losses and a
//! transformer over the accuracy trajectory), pairwise rankings of runs and kill plans. See
//! `docs/ARCHITECTURE.md` for the map of modules.
//!
//! ```no_run
//! use neuneu::{Engine, RunInput};
//! let engine = Engine::embedded()?; // the default model, no files needed
//! let run = RunInput::new(&[1e9, 2e9, 4e9], &[0.31, 0.35, 0.38], &[1.6e10]);
//! let forecast = engine.forecast(&[run])?;
//! println!("{:?} at levels {:?}", forecast[0].forecasts[0].quantiles, engine.levels());
//! # Ok::<(), neuneu::Error>(())
//! ```

pub mod architecture;
pub mod booster;
pub mod bundle;
pub mod cuda;
pub mod curvefit;
pub mod data;
pub mod decisions;
pub mod distribution;
pub mod engine;
pub mod error;
pub mod eval;
pub mod features;
pub mod ffi;
pub mod forecast;
pub mod inspect;
pub mod layout;
pub mod npy;
pub mod onnx;
pub mod plan;
pub mod random_model;
pub mod ranking;
pub mod replay;
pub mod request;
#[cfg(feature = "train")]
pub mod train;
pub mod weights;

pub use distribution::{QuantileDistribution, SplitMix64};
pub use engine::{Engine, ForecasterRows, LossEmbedding, Losses, RowBatching, RunInput};
pub use error::{BundleError, Error, Result};
pub use forecast::{CurvePrefix, Forecast, Forecaster, RunForecast};
pub use plan::{Arm, ArmDecision, Plan, PlanOptions, Policy, plan, top_k_probabilities};
pub use ranking::{Ranking, rank, rank_forecasts};
