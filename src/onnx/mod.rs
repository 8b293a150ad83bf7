//! Writing NeuNeu's two graphs as ONNX, from Rust, with tract-onnx's protobuf types.
//!
//! - `builder`: a small typed helper over `tract_onnx::pb` (nodes, initializers, attributes).
//! - `export`: the loss encoder and forecaster graphs, built from an `Architecture` and `Weights`.
//!
//! The graph inputs and outputs are named by the constants below; the engine feeds them in this
//! order.

pub mod builder;
pub mod export;

pub use export::{export_encoder, export_forecaster, read_initializers};

/// Forecaster inputs, in order: `[B, T, F]`, `[B, T + 2]`, `[B, 1]`, `[B, D]`, `[B, 1]`.
pub const FORECASTER_INPUTS: [&str; 5] = [
    "context",
    "key_mask",
    "anchor",
    "loss_embedding",
    "has_loss",
];
/// Forecaster output: `[B, Q]` quantiles.
pub const FORECASTER_OUTPUT: &str = "quantiles";
/// Encoder input: `[N, L]` prepared loss vectors.
pub const ENCODER_INPUT: &str = "loss_features";
/// Encoder output: `[N, D]` loss embeddings.
pub const ENCODER_OUTPUT: &str = "loss_embedding";
