//! The encoder's weights, read by name from whatever holds the model.
//!
//! The coupling to the model bundle is one trait method: anything that can answer
//! "name -> (shape, data)" can feed the encoder.

use std::collections::HashMap;

use super::spec::EncoderSpec;
use crate::rng::SplitMix64;
use crate::{BundleError, Error, Result};

/// A read-only store of f32 tensors by name, row-major.
pub trait WeightSource {
    fn tensor(&self, name: &str) -> Option<(&[usize], &[f32])>;
}

/// Tensors by name: (shape, values), as a graph's initializers or a weights file hold them.
pub type NamedTensors = HashMap<String, (Vec<usize>, Vec<f32>)>;

impl WeightSource for NamedTensors {
    fn tensor(&self, name: &str) -> Option<(&[usize], &[f32])> {
        self.get(name)
            .map(|(shape, data)| (shape.as_slice(), data.as_slice()))
    }
}

/// One Conv1d -> GroupNorm -> GELU block's parameters.
#[derive(Debug, Clone)]
pub struct BlockWeights {
    /// [c_out, c_in, kernel]
    pub conv_weight: Vec<f32>,
    /// [c_out]
    pub conv_bias: Vec<f32>,
    /// [c_out]
    pub norm_weight: Vec<f32>,
    /// [c_out]
    pub norm_bias: Vec<f32>,
}

/// The encoder's parameters, checked against an [`EncoderSpec`].
#[derive(Debug, Clone)]
pub struct EncoderWeights {
    pub blocks: Vec<BlockWeights>,
    /// [d_model, features], row-major as PyTorch and candle store it.
    pub proj_weight: Vec<f32>,
    /// [d_model]
    pub proj_bias: Vec<f32>,
}

impl EncoderWeights {
    /// Copies every `enc.*` tensor out of `source`, checking names and shapes against `spec`.
    pub fn gather(spec: &EncoderSpec, source: &dyn WeightSource) -> Result<Self> {
        spec.validate()?;
        let mut tensors = Vec::new();
        for (name, expected) in spec.weight_shapes() {
            let (shape, data) = source
                .tensor(&name)
                .ok_or_else(|| manifest(format!("encoder weight {name} is missing")))?;
            if shape != expected.as_slice() || data.len() != expected.iter().product::<usize>() {
                return Err(manifest(format!(
                    "encoder weight {name} has shape {shape:?} ({} values), expected {expected:?}",
                    data.len()
                )));
            }
            tensors.push(data.to_vec());
        }
        Ok(Self::from_ordered(spec, tensors))
    }

    /// Random weights with PyTorch-like initial scales, from a fixed seed: for tests and benches.
    pub fn synthetic(spec: &EncoderSpec, seed: u64) -> Result<Self> {
        spec.validate()?;
        let mut rng = SplitMix64::new(seed);
        let mut tensors = Vec::new();
        let mut bound = 1.0;
        for (name, shape) in spec.weight_shapes() {
            let len: usize = shape.iter().product();
            let (lo, hi) = if name.starts_with("enc.gn") && name.ends_with(".weight") {
                (0.8, 1.2)
            } else if name.starts_with("enc.gn") {
                (-0.1, 0.1)
            } else {
                // Conv / Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and its bias alike.
                if name.ends_with(".weight") {
                    bound = 1.0 / (shape[1..].iter().product::<usize>() as f64).sqrt();
                }
                (-bound, bound)
            };
            tensors.push((0..len).map(|_| rng.uniform(lo, hi) as f32).collect());
        }
        Ok(Self::from_ordered(spec, tensors))
    }

    /// The tensors by name, as a map the lead's bundle code or a test can hand back in.
    pub fn to_map(&self, spec: &EncoderSpec) -> NamedTensors {
        let mut data = Vec::new();
        for b in &self.blocks {
            data.extend([&b.conv_weight, &b.conv_bias, &b.norm_weight, &b.norm_bias]);
        }
        data.extend([&self.proj_weight, &self.proj_bias]);
        spec.weight_shapes()
            .into_iter()
            .zip(data)
            .map(|((name, shape), values)| (name, (shape, values.clone())))
            .collect()
    }

    /// Builds from tensors in [`EncoderSpec::weight_shapes`] order: four per block, then the
    /// projection's weight and bias.
    fn from_ordered(spec: &EncoderSpec, tensors: Vec<Vec<f32>>) -> Self {
        let mut it = tensors.into_iter();
        let mut next = || it.next().unwrap_or_default();
        let blocks = (0..spec.blocks())
            .map(|_| BlockWeights {
                conv_weight: next(),
                conv_bias: next(),
                norm_weight: next(),
                norm_bias: next(),
            })
            .collect();
        EncoderWeights {
            blocks,
            proj_weight: next(),
            proj_bias: next(),
        }
    }
}

fn manifest(reason: String) -> Error {
    Error::Bundle(BundleError::Manifest(reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_round_trips_and_checks_names_and_shapes() {
        let spec = EncoderSpec::small();
        let weights = EncoderWeights::synthetic(&spec, 3).unwrap();
        let mut map = weights.to_map(&spec);
        let back = EncoderWeights::gather(&spec, &map).unwrap();
        assert_eq!(back.proj_weight, weights.proj_weight);
        assert_eq!(back.blocks[2].norm_bias, weights.blocks[2].norm_bias);

        map.get_mut("enc.conv1.weight").unwrap().0 = vec![8, 4, 7];
        let err = EncoderWeights::gather(&spec, &map).unwrap_err().to_string();
        assert!(
            err.contains("enc.conv1.weight") && err.contains("expected [8, 4, 8]"),
            "{err}"
        );

        map.remove("enc.proj.bias");
        assert!(EncoderWeights::gather(&spec, &map).is_err());
    }
}
