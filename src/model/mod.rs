//! The model format: what a bundle holds and how its graphs are written.
//!
//! - [`bundle`]: the file format (magic, version, checksums) and the [`Manifest`](bundle::Manifest);
//! - [`architecture`]: model sizes, their presets and checks;
//! - [`layout`]: constant tensors that the trainer and the exporter build identically;
//! - [`weights`]: named f32 tensors, the hand-off between trainer, exporter and CUDA encoder;
//! - [`inputs`]: the widths and names of what the graphs and the trees read;
//! - [`trees`]: the optional boosted trees for the median (stored form, load checks, walk);
//! - [`onnx`]: the encoder and forecaster graphs as ONNX, and reading their weights back;
//! - [`inspect`]: a manifest as text.

pub mod architecture;
pub mod bundle;
pub mod inputs;
pub mod inspect;
pub mod layout;
pub mod onnx;
pub mod trees;
pub mod weights;
