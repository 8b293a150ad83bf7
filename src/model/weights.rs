//! Named f32 tensors: the hand-off between the trainer, the ONNX exporter and the CUDA encoder.

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
    pub fn get(&self, name: &str) -> Result<&Tensor, String> {
        self.0
            .get(name)
            .ok_or_else(|| format!("missing weight `{name}`"))
    }

    /// The tensor `name`, checked to have `shape`.
    pub fn expect(&self, name: &str, shape: &[usize]) -> Result<&Tensor, String> {
        let t = self.get(name)?;
        if t.shape != shape {
            return Err(format!(
                "weight `{name}` has shape {:?}, expected {shape:?}",
                t.shape
            ));
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
