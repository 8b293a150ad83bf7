//! The companion trainer (feature `train`): candle model, samples, generated token losses, the
//! training loop and the export to a bundle.

pub mod error;
pub mod model;
pub mod prior;
pub mod samples;
pub mod synthetic;
pub mod trainer;

pub use crate::curves::{Holdout, split_by_run};
pub use error::TrainError;
pub use trainer::{LossSource, TrainConfig, Trained, add_trees, export_bundle, train};
