//! Stand-in for the CUDA encoder in builds without the `cuda` feature: same API, and every
//! constructor reports that CUDA is not compiled in.

use std::convert::Infallible;

use super::backend::cuda_unavailable_reason;
use super::spec::EncoderSpec;
use super::weights::{EncoderWeights, WeightSource};
use crate::{Error, Result};

/// The loss encoder on one CUDA device (unavailable in this build).
pub struct CudaEncoder {
    never: Infallible,
}

impl CudaEncoder {
    pub fn new(
        spec: &EncoderSpec,
        weights: &dyn WeightSource,
        device_ordinal: usize,
    ) -> Result<Self> {
        let _ = (spec, weights, device_ordinal);
        Err(unavailable())
    }

    pub fn from_weights(
        spec: &EncoderSpec,
        weights: &EncoderWeights,
        device_ordinal: usize,
    ) -> Result<Self> {
        let _ = (spec, weights, device_ordinal);
        Err(unavailable())
    }

    pub fn spec(&self) -> &EncoderSpec {
        match self.never {}
    }

    pub fn device_name(&self) -> &str {
        match self.never {}
    }

    pub fn encode(&self, losses: &[f32], n: usize) -> Result<Vec<f32>> {
        let _ = (losses, n);
        match self.never {}
    }
}

fn unavailable() -> Error {
    Error::Cuda(
        cuda_unavailable_reason()
            .unwrap_or("CUDA support is not compiled in")
            .into(),
    )
}
