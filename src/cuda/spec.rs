//! The loss encoder's shape: everything the kernels, the CPU reference and the weight checks
//! need to know, so that no size is a constant anywhere else.

use crate::{BundleError, Error, Result};

/// GroupNorm epsilon of the trained model (PyTorch's default); part of the architecture.
pub const GROUP_NORM_EPS: f32 = 1e-5;

/// Shape of the CNN loss encoder: `channels.len() - 1` blocks of
/// Conv1d(kernel, stride, padding, bias) -> GroupNorm(groups) -> GELU, then flatten and a
/// Linear to `d_model`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderSpec {
    /// Length of one prepared loss vector.
    pub loss_len: usize,
    /// Channels from the input (always 1) to the last block's output: c_0 = 1, c_1, ..., c_B.
    pub channels: Vec<usize>,
    pub kernel: usize,
    pub stride: usize,
    /// Zeros added on both sides of every convolution's input.
    pub padding: usize,
    /// GroupNorm groups; must divide every block's output channels.
    pub groups: usize,
    /// Width of the embedding.
    pub d_model: usize,
}

impl EncoderSpec {
    /// The paper's encoder: 256,000 losses, 1 -> 8 -> 16 -> 32 -> 64 channels, 512 wide.
    pub fn reference() -> Self {
        EncoderSpec {
            loss_len: 256_000,
            channels: vec![1, 8, 16, 32, 64],
            kernel: 64,
            stride: 16,
            padding: 32,
            groups: 8,
            d_model: 512,
        }
    }

    /// The small default model.
    pub fn small() -> Self {
        EncoderSpec {
            loss_len: 512,
            channels: vec![1, 4, 8, 16],
            kernel: 8,
            stride: 4,
            padding: 4,
            groups: 4,
            d_model: 64,
        }
    }

    /// Number of Conv1d -> GroupNorm -> GELU blocks.
    pub fn blocks(&self) -> usize {
        self.channels.len().saturating_sub(1)
    }

    /// Sequence lengths from the input to the last block's output (`blocks() + 1` entries).
    /// Only meaningful after [`EncoderSpec::validate`] succeeded.
    pub fn lengths(&self) -> Vec<usize> {
        let mut lengths = vec![self.loss_len];
        for _ in 0..self.blocks() {
            let len = *lengths.last().unwrap_or(&0);
            lengths.push(conv_out_len(len, self.kernel, self.stride, self.padding).unwrap_or(0));
        }
        lengths
    }

    /// Width of the flattened last activation, the projection's input.
    pub fn features(&self) -> usize {
        self.channels.last().copied().unwrap_or(0) * self.lengths().last().copied().unwrap_or(0)
    }

    /// Every weight tensor the encoder reads, with its expected shape, in a fixed order.
    pub fn weight_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut shapes = Vec::new();
        for b in 0..self.blocks() {
            let (c_in, c_out) = (self.channels[b], self.channels[b + 1]);
            shapes.push((
                format!("enc.conv{b}.weight"),
                vec![c_out, c_in, self.kernel],
            ));
            shapes.push((format!("enc.conv{b}.bias"), vec![c_out]));
            shapes.push((format!("enc.gn{b}.weight"), vec![c_out]));
            shapes.push((format!("enc.gn{b}.bias"), vec![c_out]));
        }
        shapes.push((
            "enc.proj.weight".into(),
            vec![self.d_model, self.features()],
        ));
        shapes.push(("enc.proj.bias".into(), vec![self.d_model]));
        shapes
    }

    /// Checks that the shape describes a network that can run: every length stays positive,
    /// groups divide channels, and every index the kernels compute fits in an `i32`.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| {
            Err(Error::Bundle(BundleError::Manifest(format!(
                "encoder: {reason}"
            ))))
        };
        if self.channels.len() < 2 {
            return bad(format!(
                "needs at least one block, got channels {:?}",
                self.channels
            ));
        }
        if self.channels[0] != 1 {
            return bad(format!(
                "the input has 1 channel, got channels {:?}",
                self.channels
            ));
        }
        if self.channels.contains(&0) || self.loss_len == 0 || self.d_model == 0 {
            return bad("channels, loss_len and d_model must be positive".into());
        }
        if self.kernel == 0 || self.stride == 0 || self.groups == 0 {
            return bad("kernel, stride and groups must be positive".into());
        }
        if let Some(c) = self.channels[1..].iter().find(|&&c| c % self.groups != 0) {
            return bad(format!("{} groups do not divide {c} channels", self.groups));
        }
        let mut len = self.loss_len;
        for b in 0..self.blocks() {
            len = match conv_out_len(len, self.kernel, self.stride, self.padding) {
                Some(l) => l,
                None => {
                    return bad(format!(
                        "block {b}: the sequence vanishes (input length {len})"
                    ));
                }
            };
        }
        let widest = self.channels.iter().max().copied().unwrap_or(0);
        let biggest = [
            widest.saturating_mul(self.loss_len.saturating_add(2 * self.padding)),
            self.features().saturating_mul(self.d_model),
        ];
        if biggest.iter().any(|&n| n > i32::MAX as usize) {
            return bad("a tensor is too large for 32-bit indexing".into());
        }
        Ok(())
    }
}

/// floor((len + 2 padding - kernel) / stride) + 1, or `None` when the window does not fit.
pub(crate) fn conv_out_len(
    len: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Option<usize> {
    let padded = len + 2 * padding;
    if stride == 0 || padded < kernel {
        return None;
    }
    Some((padded - kernel) / stride + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_lengths_match_the_paper() {
        let spec = EncoderSpec::reference();
        spec.validate().unwrap();
        assert_eq!(spec.lengths(), vec![256_000, 16_001, 1_001, 63, 4]);
        assert_eq!(spec.features(), 256);
        spec.validate().unwrap();
        EncoderSpec::small().validate().unwrap();
    }

    #[test]
    fn rejects_impossible_shapes() {
        let mut spec = EncoderSpec::small();
        spec.groups = 3;
        assert!(spec.validate().is_err());
        let mut spec = EncoderSpec::small();
        spec.loss_len = 1;
        spec.padding = 0;
        assert!(spec.validate().is_err());
        let mut spec = EncoderSpec::small();
        spec.channels = vec![2, 4];
        assert!(spec.validate().is_err());
    }
}
