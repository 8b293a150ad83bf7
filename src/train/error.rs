//! What can stop the trainer: a setting out of range, curves that cannot train what was asked,
//! candle failing, the exporter refusing the weights, or a library error (reading, scoring).

use crate::error::{Error, ModelError};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// A `TrainConfig` field is out of range; `field` is its name (`drop_points`), the message
    /// spells it for people (`drop points 1.5 is not in [0, 1]`).
    #[error("{} {reason}", .field.replace('_', " "))]
    InvalidConfig { field: &'static str, reason: String },
    /// The curves cannot train what was asked (none long enough, no usable suite weights).
    #[error("{0}")]
    Data(String),
    /// Trees were asked for a bundle whose manifest records no validation split: they could
    /// not be trained outside the runs its network was validated on.
    #[error("the bundle's manifest records no validation split to train its trees outside")]
    NoValidationSplit,
    /// candle failed while building, training or reading the model.
    #[error("{0}")]
    Candle(#[from] candle_core::Error),
    /// The exporter refused the trained weights.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A library error.
    #[error(transparent)]
    Neuneu(#[from] Error),
}
