//! The loss encoder outside tract: a plain CPU reference and CUDA kernels.
//!
//! - [`EncoderSpec`] / [`EncoderWeights`]: the encoder's shape and parameters, read by name
//!   through [`WeightSource`] (one method, easy to implement for any name -> tensor map).
//! - [`encode_reference`]: an obviously-correct CPU encoder in f64, the yardstick.
//! - [`CudaEncoder`]: `kernels/encoder.cu`, compiled by NVRTC at run time (feature `cuda`;
//!   without it the type exists and its constructors return [`Error::Cuda`](crate::Error)).
//! - [`Backend`] / [`cuda_available`]: what `auto`, `cpu` and `cuda` mean on this machine.
//!
//! Without a GPU the kernels are still checked: the tests compile them with NVRTC and ptxas,
//! and run the same source as host C++ through a shim (see `kernels/README.md`).

mod backend;
mod from_bundle;
mod launch;
mod reference;
mod spec;
mod weights;

#[cfg(feature = "cuda")]
mod device;
#[cfg(not(feature = "cuda"))]
mod disabled;
#[cfg(test)]
mod shim;

pub use backend::{Backend, cuda_available, cuda_unavailable_reason};
#[cfg(feature = "cuda")]
pub use device::{CudaEncoder, compile_kernels};
#[cfg(not(feature = "cuda"))]
pub use disabled::CudaEncoder;
pub use from_bundle::{spec_for, weights_from_graph};
pub use launch::{KERNEL_NAMES, KERNEL_SOURCE};
pub use reference::{encode_reference, max_relative_error, synthetic_inputs};
pub use spec::{EncoderSpec, GROUP_NORM_EPS};
pub use weights::{BlockWeights, EncoderWeights, NamedTensors, WeightSource};
