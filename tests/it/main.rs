//! The root package's integration tests, in one binary (`cargo test --test it`; one module a
//! topic, e.g. `cargo test --test it errors::`): a single link of tract instead of one per file.
//! Modules that need a feature are built only with it: the ones driving `neuneu` need `cli`,
//! `neuneu-train` needs `train` and `cli`, the candle parity needs `train`.
//!
//! Helpers live in `common` (`common::native` is shared with the `neuneu-ffi` tests), among
//! them `backend_test!`, which runs one test body on each loss-encoder backend.

#[macro_use]
mod common;

#[cfg(feature = "cli")]
mod adapt;
#[cfg(feature = "cli")]
mod cli;
mod corruption;
mod cuda_gpu;
#[cfg(feature = "cuda")]
mod cuda_kernels;
mod engine;
#[cfg(feature = "cli")]
mod errors;
mod huge_inputs;
#[cfg(feature = "train")]
mod parity;
#[cfg(feature = "eval")]
mod replay;
#[cfg(all(feature = "train", feature = "cli"))]
mod train_cli;
