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
//!
//! The layers, each a module folder:
//! - [`model`]: the model format (bundle file, architecture, constant layouts, named weights,
//!   ONNX export);
//! - [`inference`]: the engine (tract), input features, the run's own power-law fit, the trees;
//! - [`decisions`]: quantiles as distributions, pairwise rankings, kill plans;
//! - [`sweep`]: the online sweep handle a scheduler feeds result by result;
//! - [`io`]: the request formats the CLI and the C ABI read, and `.npy` token losses;
//! - [`cuda`]: the loss encoder on CUDA kernels (feature `cuda`), with its CPU reference;
//! - [`curves`]: training curves in memory, their context/target cut, held-out runs, the
//!   token losses of their checkpoints;
//! - [`eval`] (feature `eval`): curve files, the evaluation protocol, baselines, replays;
//! - [`adapt`]: a bundle fitted to a user's own runs without candle (the trees, held-out
//!   scores; `neuneu adapt`, or a sweep's finished arms: `adapt::sweep`);
//! - `train` (feature `train`): the companion trainer.

pub mod adapt;
pub mod cuda;
pub mod curves;
pub mod decisions;
pub mod error;
#[cfg(feature = "eval")]
pub mod eval;
pub mod inference;
pub mod io;
pub mod model;
mod rng;
pub mod sweep;
#[doc(hidden)]
pub mod testing;
#[cfg(feature = "train")]
pub mod train;

pub use decisions::distribution::QuantileDistribution;
pub use decisions::killplan::{
    Arm, ArmDecision, Plan, PlanOptions, Policy, plan, top_k_probabilities,
};
pub use decisions::metric::{Direction, Metric, MetricKind};
pub use decisions::ranking::{Ranking, rank, rank_forecasts};
pub use error::{BundleError, Error, ModelError, Result};
pub use inference::engine::{Engine, ForecasterRows, LossEmbedding, Losses, RowBatching, RunInput};
pub use inference::forecast::{CurvePrefix, Forecast, Forecaster, RunForecast};
pub use sweep::{Sweep, SweepOptions};
