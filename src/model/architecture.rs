//! The sizes of a NeuNeu model: every hyper-parameter that shapes its graphs. Recorded in each
//! bundle's manifest, read by the exporter, the trainer and the engine alike.

use crate::error::ModelError;
use crate::model::inputs::CONTEXT_FEATURES;
use serde::{Deserialize, Serialize};

/// How a checkpoint's token losses become the encoder's fixed-length input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossRepresentation {
    /// The reference model's: the first `loss_len` values in their given order, zero-padded.
    /// Only meaningful when every request scores the same tokens in the same order.
    Ordered,
    /// A sorted quantile sketch: `loss_len` evenly spaced quantiles of the values' distribution.
    /// Accepts any number of per-token or per-example losses in any order.
    Sketch,
}

/// The convolutional loss encoder: `conv1d -> GroupNorm -> GELU` blocks, flatten, projection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncoderArchitecture {
    /// Length of the prepared loss vector the encoder reads.
    pub loss_len: usize,
    pub representation: LossRepresentation,
    /// Output channels of each block (the input has one channel).
    pub channels: Vec<usize>,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    /// GroupNorm groups; must divide every block's channel count.
    pub groups: usize,
}

impl EncoderArchitecture {
    /// The reference model's encoder (model-spec.md).
    pub fn reference() -> Self {
        EncoderArchitecture {
            loss_len: 256_000,
            representation: LossRepresentation::Ordered,
            channels: vec![8, 16, 32, 64],
            kernel: 64,
            stride: 16,
            padding: 32,
            groups: 8,
        }
    }

    /// Sequence length after each block, input first.
    pub fn lengths(&self) -> Vec<usize> {
        let mut lens = vec![self.loss_len];
        for _ in &self.channels {
            let l = *lens.last().unwrap();
            lens.push((l + 2 * self.padding).saturating_sub(self.kernel) / self.stride + 1);
        }
        lens
    }

    /// Width of the flattened last block, the projection's input.
    pub fn flat_len(&self) -> usize {
        self.channels.last().copied().unwrap_or(1) * self.lengths().last().copied().unwrap_or(0)
    }

    fn validate(&self) -> Result<(), ModelError> {
        let fail = |m: String| Err(ModelError::Architecture(m));
        if self.channels.is_empty() {
            return fail("encoder needs at least one block".into());
        }
        if self.kernel == 0 || self.stride == 0 || self.groups == 0 || self.loss_len == 0 {
            return fail("encoder kernel, stride, groups and loss_len must be positive".into());
        }
        if self.loss_len + 2 * self.padding < self.kernel {
            return fail("encoder kernel is longer than the padded input".into());
        }
        if let Some(c) = self
            .channels
            .iter()
            .find(|&&c| c == 0 || c % self.groups != 0)
        {
            return fail(format!("{} groups do not divide {c} channels", self.groups));
        }
        let mut len = self.loss_len;
        for _ in &self.channels {
            if len + 2 * self.padding < self.kernel {
                return fail("encoder input too short for its blocks".into());
            }
            len = (len + 2 * self.padding - self.kernel) / self.stride + 1;
        }
        Ok(())
    }
}

/// A NeuNeu forecaster and its optional loss encoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    pub d_model: usize,
    pub layers: usize,
    pub heads: usize,
    pub ff: usize,
    /// Context points the forecaster reads; longer contexts are thinned (see `features`).
    pub max_context: usize,
    /// Width of one context point's feature vector (`features::CONTEXT_FEATURES`).
    pub context_features: usize,
    /// Increasing levels in (0, 1); 0.5 must be one of them (the point forecast).
    pub quantile_levels: Vec<f32>,
    pub rope_base: f32,
    pub encoder: Option<EncoderArchitecture>,
    /// Hidden width of the summary path (0: none): a small MLP from the first context slot's
    /// features straight to the quantile head (see `onnx::export::export_forecaster`).
    #[serde(default)]
    pub summary: usize,
}

impl Architecture {
    /// The reference model's sizes (d 512, 6 layers, 8 heads, FF 2048, 256,000-value encoder).
    pub fn reference() -> Self {
        Architecture {
            d_model: 512,
            layers: 6,
            heads: 8,
            ff: 2048,
            max_context: 64,
            context_features: CONTEXT_FEATURES,
            quantile_levels: DEFAULT_LEVELS.to_vec(),
            rope_base: 10_000.0,
            encoder: Some(EncoderArchitecture::reference()),
            summary: 0,
        }
    }

    /// The default model's sizes, small enough to forecast in microseconds on one core, without
    /// its summary path (the default model was trained with `--summary 32` on top).
    pub fn small() -> Self {
        Architecture {
            d_model: 64,
            layers: 2,
            heads: 4,
            ff: 128,
            max_context: 32,
            context_features: CONTEXT_FEATURES,
            quantile_levels: DEFAULT_LEVELS.to_vec(),
            rope_base: 10_000.0,
            encoder: Some(EncoderArchitecture {
                loss_len: 512,
                representation: LossRepresentation::Sketch,
                channels: vec![4, 8, 16],
                kernel: 8,
                stride: 4,
                padding: 4,
                groups: 4,
            }),
            summary: 0,
        }
    }

    /// These sizes at transformer width `d_model`, the feed-forward width keeping its ratio to
    /// it (2 for `small`, 4 for `reference`).
    pub fn with_width(mut self, d_model: usize) -> Self {
        self.ff = d_model * self.ff / self.d_model;
        self.d_model = d_model;
        self
    }

    /// Sequence length of the transformer: CLS, the loss token, then the context points.
    pub fn seq_len(&self) -> usize {
        self.max_context + 2
    }

    pub fn head_dim(&self) -> usize {
        self.d_model / self.heads.max(1)
    }

    /// Index of the 0.5 level: the point forecast, and the anchor of the non-crossing head.
    pub fn median_index(&self) -> usize {
        self.quantile_levels
            .iter()
            .position(|&l| (l - 0.5).abs() < 1e-6)
            .unwrap_or(self.quantile_levels.len() / 2)
    }

    /// Checks that the sizes make a valid model; a bundle whose manifest fails this is rejected
    /// (`BundleError::Manifest`, `architecture: <reason>`), and the exporters refuse to write it.
    pub fn validate(&self) -> Result<(), ModelError> {
        let fail = |m: String| Err(ModelError::Architecture(m));
        if self.d_model == 0 || self.layers == 0 || self.heads == 0 || self.ff == 0 {
            return fail("d_model, layers, heads and ff must be positive".into());
        }
        if self.d_model % self.heads != 0 || self.head_dim() % 2 != 0 {
            return fail(format!(
                "d_model {} must split into {} heads of even width",
                self.d_model, self.heads
            ));
        }
        if self.max_context < 2 {
            return fail("max_context must be at least 2".into());
        }
        if self.context_features != CONTEXT_FEATURES {
            return fail(format!(
                "context_features {} (this library prepares {})",
                self.context_features, CONTEXT_FEATURES
            ));
        }
        let l = &self.quantile_levels;
        if l.is_empty()
            || l.windows(2).any(|w| w[0] >= w[1])
            || l.iter().any(|&x| !(x > 0.0 && x < 1.0))
        {
            return fail(format!("quantile levels {l:?} must increase inside (0, 1)"));
        }
        if !l.iter().any(|&x| (x - 0.5).abs() < 1e-6) {
            return fail("quantile levels must include 0.5".into());
        }
        if self.rope_base.is_nan() || self.rope_base <= 1.0 {
            return fail("rope_base must exceed 1".into());
        }
        if let Some(e) = &self.encoder {
            e.validate()?;
        }
        Ok(())
    }
}

/// The product's quantile levels.
pub const DEFAULT_LEVELS: [f32; 5] = [0.1, 0.25, 0.5, 0.75, 0.9];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_encoder_lengths_match_the_spec() {
        let e = EncoderArchitecture::reference();
        assert_eq!(e.lengths(), vec![256_000, 16_001, 1_001, 63, 4]);
        assert_eq!(e.flat_len(), 256);
        Architecture::reference().validate().unwrap();
        Architecture::small().validate().unwrap();
    }

    #[test]
    fn a_new_width_keeps_the_presets_feed_forward_ratio() {
        let r = Architecture::reference().with_width(256);
        assert_eq!((r.d_model, r.ff), (256, 1024));
        let s = Architecture::small().with_width(32);
        assert_eq!((s.d_model, s.ff), (32, 64));
    }

    #[test]
    fn invalid_sizes_are_rejected() {
        let mut a = Architecture::small();
        a.heads = 3;
        assert!(a.validate().is_err());
        let mut a = Architecture::small();
        a.quantile_levels = vec![0.1, 0.9];
        assert!(a.validate().is_err());
        let mut a = Architecture::small();
        a.encoder.as_mut().unwrap().groups = 3;
        assert!(a.validate().is_err());
    }
}
