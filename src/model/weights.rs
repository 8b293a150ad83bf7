//! Named f32 tensors: the hand-off between the trainer, the ONNX exporter and the CUDA encoder.

use crate::error::ModelError;
use std::collections::BTreeMap;

/// One row-major f32 tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Tensor { shape, data }
    }
}

/// A model's parameters by name (`layers.0.qkv.weight`, `enc.conv0.bias`, ...). Linear weights
/// are stored `[out, in]`, as PyTorch and candle store them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Weights(pub BTreeMap<String, Tensor>);

impl Weights {
    /// The tensor `name`.
    pub fn get(&self, name: &str) -> Result<&Tensor, ModelError> {
        self.0.get(name).ok_or_else(|| ModelError::MissingWeight {
            name: name.to_string(),
        })
    }

    /// The tensor `name`, checked to have `shape`.
    pub fn expect(&self, name: &str, shape: &[usize]) -> Result<&Tensor, ModelError> {
        let t = self.get(name)?;
        if t.shape != shape {
            return Err(ModelError::WeightShape {
                name: name.to_string(),
                expected: shape.to_vec(),
                found: t.shape.clone(),
            });
        }
        Ok(t)
    }

    pub fn insert(&mut self, name: impl Into<String>, t: Tensor) {
        self.0.insert(name.into(), t);
    }

    pub fn parameter_count(&self) -> usize {
        self.0.values().map(|t| t.data.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_misshapen_weight_is_named() {
        let mut w = Weights::default();
        w.insert("cls", Tensor::new(vec![2], vec![0.0, 1.0]));
        let e = w.get("no_loss").unwrap_err();
        assert_eq!(e.to_string(), "missing weight `no_loss`");
        let e = w.expect("cls", &[3]).unwrap_err();
        assert_eq!(
            e,
            ModelError::WeightShape {
                name: "cls".into(),
                expected: vec![3],
                found: vec![2],
            }
        );
        assert_eq!(e.to_string(), "weight `cls` has shape [2], expected [3]");
    }
}
