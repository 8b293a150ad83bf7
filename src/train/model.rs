//! NeuNeu in candle: the same function as the exported ONNX graphs (`onnx::export`), with
//! parameters named as the exporter expects. The parity test in `tests/it/parity.rs` holds the
//! two together to 1e-4.

use crate::model::architecture::{Architecture, EncoderArchitecture};
use crate::model::layout::{quantile_head_matrices, rope_tables, rotate_half_matrix};
use crate::model::onnx::export::MASK_PENALTY;
use crate::model::weights::{Tensor as WTensor, Weights};
use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{Conv1d, Conv1dConfig, GroupNorm, LayerNorm, Linear, Module, VarBuilder, VarMap};

const LN_EPS: f64 = 1e-5;
const GN_EPS: f64 = 1e-5;

struct Layer {
    ln1: LayerNorm,
    qkv: Linear,
    out: Linear,
    ln2: LayerNorm,
    ff1: Linear,
    ff2: Linear,
}

/// The convolutional loss encoder.
pub struct LossEncoder {
    blocks: Vec<(Conv1d, GroupNorm)>,
    proj: Linear,
}

impl LossEncoder {
    fn new(e: &EncoderArchitecture, d: usize, vb: VarBuilder) -> Result<Self> {
        let mut blocks = Vec::new();
        let mut c_in = 1;
        for (i, &c) in e.channels.iter().enumerate() {
            let cfg = Conv1dConfig {
                padding: e.padding,
                stride: e.stride,
                ..Default::default()
            };
            let conv = candle_nn::conv1d(c_in, c, e.kernel, cfg, vb.pp(format!("conv{i}")))?;
            let gn = candle_nn::group_norm(e.groups, c, GN_EPS, vb.pp(format!("gn{i}")))?;
            blocks.push((conv, gn));
            c_in = c;
        }
        let proj = candle_nn::linear(e.flat_len(), d, vb.pp("proj"))?;
        Ok(LossEncoder { blocks, proj })
    }

    /// `[N, L]` prepared loss vectors -> `[N, D]` embeddings.
    pub fn forward(&self, losses: &Tensor) -> Result<Tensor> {
        let mut x = losses.unsqueeze(1)?;
        for (conv, gn) in &self.blocks {
            x = gn.forward(&conv.forward(&x)?)?.gelu_erf()?;
        }
        self.proj.forward(&x.flatten_from(1)?)
    }
}

/// The whole model, its parameters in a `VarMap`.
pub struct NeuNeu {
    pub arch: Architecture,
    pub varmap: VarMap,
    ctx: Linear,
    cls: Tensor,
    no_loss: Tensor,
    layers: Vec<Layer>,
    final_ln: LayerNorm,
    head: Linear,
    /// The summary path (`Architecture::summary`): first slot's features -> head.
    summary: Option<(Linear, Linear)>,
    pub encoder: Option<LossEncoder>,
    cos: Tensor,
    sin: Tensor,
    rot: Tensor,
    head_e: Tensor,
    head_m: Tensor,
}

impl NeuNeu {
    /// A freshly initialised model. The head starts near "persistence with a narrow band":
    /// median offset 0, outer increments softplus(-4) ~ 0.018.
    pub fn new(arch: &Architecture, device: &Device) -> Result<Self> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let (d, f, q) = (
            arch.d_model,
            arch.context_features,
            arch.quantile_levels.len(),
        );
        let ctx = candle_nn::linear(f, d, vb.pp("ctx"))?;
        let small = candle_nn::Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let cls = vb.get_with_hints(d, "cls", small)?;
        let no_loss = vb.get_with_hints(d, "no_loss", small)?;
        let mut layers = Vec::new();
        for l in 0..arch.layers {
            let v = vb.pp(format!("layers.{l}"));
            layers.push(Layer {
                ln1: candle_nn::layer_norm(d, LN_EPS, v.pp("ln1"))?,
                qkv: candle_nn::linear(d, 3 * d, v.pp("qkv"))?,
                out: candle_nn::linear(d, d, v.pp("out"))?,
                ln2: candle_nn::layer_norm(d, LN_EPS, v.pp("ln2"))?,
                ff1: candle_nn::linear(d, arch.ff, v.pp("ff1"))?,
                ff2: candle_nn::linear(arch.ff, d, v.pp("ff2"))?,
            });
        }
        let final_ln = candle_nn::layer_norm(d, LN_EPS, vb.pp("final_ln"))?;
        let head = candle_nn::linear(d, q, vb.pp("head"))?;
        let encoder = match &arch.encoder {
            Some(e) => Some(LossEncoder::new(e, d, vb.pp("enc"))?),
            None => None,
        };
        let median = arch.median_index();
        let bias: Vec<f32> = (0..q)
            .map(|j| if j == median { 0.0 } else { -4.0 })
            .collect();
        let summary = if arch.summary > 0 {
            let fc1 = candle_nn::linear(f, arch.summary, vb.pp("summary.fc1"))?;
            let fc2 = candle_nn::linear(arch.summary, q, vb.pp("summary.fc2"))?;
            Some((fc1, fc2))
        } else {
            None
        };
        let mut varmap = varmap;
        varmap.set_one("head.bias", Tensor::new(bias, device)?)?;
        let head_w = (head.weight() * 0.1)?;
        varmap.set_one("head.weight", head_w)?;
        // The summary path starts at zero, so the model starts where the plain head does.
        if let Some((_, fc2)) = &summary {
            varmap.set_one("summary.fc2.weight", fc2.weight().zeros_like()?)?;
            varmap.set_one("summary.fc2.bias", fc2.bias().expect("bias").zeros_like()?)?;
        }

        let (s, hd) = (arch.seq_len(), arch.head_dim());
        let (cos, sin) = rope_tables(arch);
        let (e, m) = quantile_head_matrices(q, median);
        Ok(NeuNeu {
            arch: arch.clone(),
            ctx,
            cls,
            no_loss,
            layers,
            final_ln,
            head,
            summary,
            encoder,
            cos: Tensor::from_vec(cos, (s, hd), device)?,
            sin: Tensor::from_vec(sin, (s, hd), device)?,
            rot: Tensor::from_vec(rotate_half_matrix(hd), (hd, hd), device)?,
            head_e: Tensor::from_vec(e, (q, q), device)?,
            head_m: Tensor::from_vec(m, (q, q), device)?,
            varmap,
        })
    }

    fn rope(&self, x: &Tensor) -> Result<Tensor> {
        let rotated = x.broadcast_matmul(&self.rot)?;
        x.broadcast_mul(&self.cos)?
            .add(&rotated.broadcast_mul(&self.sin)?)
    }

    /// Inputs as the forecaster graph takes them; returns `[B, Q]` quantiles.
    pub fn forward(
        &self,
        context: &Tensor,
        key_mask: &Tensor,
        anchor: &Tensor,
        loss_embedding: &Tensor,
        has_loss: &Tensor,
    ) -> Result<Tensor> {
        let a = &self.arch;
        let (b, s, d, h, hd) = (
            context.dim(0)?,
            a.seq_len(),
            a.d_model,
            a.heads,
            a.head_dim(),
        );
        let ctx = self.ctx.forward(context)?;
        let diff = loss_embedding.broadcast_sub(&self.no_loss)?;
        let loss_tok = has_loss
            .broadcast_mul(&diff)?
            .broadcast_add(&self.no_loss)?
            .unsqueeze(1)?;
        let cls = self.cls.reshape((1, 1, d))?.broadcast_as((b, 1, d))?;
        let mut x = Tensor::cat(&[&cls, &loss_tok, &ctx], 1)?;
        let bias = ((key_mask - 1.0)? * MASK_PENALTY as f64)?.reshape((b, 1, 1, s))?;
        let scale = 1.0 / (hd as f64).sqrt();
        for layer in &self.layers {
            let hn = layer.ln1.forward(&x)?;
            let qkv = layer
                .qkv
                .forward(&hn)?
                .reshape((b, s, 3, h, hd))?
                .permute((2, 0, 3, 1, 4))?;
            let q = (self.rope(&qkv.get(0)?.contiguous()?)? * scale)?;
            let k = self.rope(&qkv.get(1)?.contiguous()?)?;
            let v = qkv.get(2)?.contiguous()?;
            let scores = q
                .matmul(&k.transpose(2, 3)?.contiguous()?)?
                .broadcast_add(&bias)?;
            let attn = candle_nn::ops::softmax_last_dim(&scores)?;
            let o = attn.matmul(&v)?.transpose(1, 2)?.reshape((b, s, d))?;
            x = (x + layer.out.forward(&o)?)?;
            let hn = layer.ln2.forward(&x)?;
            let f = layer.ff2.forward(&layer.ff1.forward(&hn)?.gelu_erf()?)?;
            x = (x + f)?;
        }
        let x = self.final_ln.forward(&x)?;
        let cls_out = x.narrow(1, 0, 1)?.squeeze(1)?;
        let mut raw = self.head.forward(&cls_out)?;
        if let Some((fc1, fc2)) = &self.summary {
            let first = context.narrow(1, 0, 1)?.squeeze(1)?;
            raw = (raw + fc2.forward(&fc1.forward(&first)?.gelu_erf()?)?)?;
        }
        let softplus = (raw.relu()? + (raw.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
        let y = (raw.matmul(&self.head_e)? + softplus.matmul(&self.head_m)?)?;
        y.broadcast_add(anchor)
    }

    /// The parameters as named f32 tensors, ready for `onnx::export`.
    pub fn weights(&self) -> Result<Weights> {
        let mut w = Weights::default();
        let data = self.varmap.data().lock().expect("varmap lock");
        for (name, var) in data.iter() {
            let t = var.as_tensor();
            let shape = t.dims().to_vec();
            let values = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
            w.insert(name.clone(), WTensor::new(shape, values));
        }
        Ok(w)
    }

    /// Overwrites every parameter from named tensors (restoring the best checkpoint).
    pub fn load_weights(&mut self, w: &Weights, device: &Device) -> Result<()> {
        for (name, t) in &w.0 {
            self.varmap.set_one(
                name,
                Tensor::from_vec(t.data.clone(), t.shape.as_slice(), device)?,
            )?;
        }
        Ok(())
    }
}

/// Pinball (quantile) loss, mean over the batch and the levels. `pred` `[B, Q]`, `target` `[B, 1]`.
pub fn pinball_loss(pred: &Tensor, target: &Tensor, levels: &Tensor) -> Result<Tensor> {
    let diff = target.broadcast_sub(pred)?; // y - q
    let under = diff.broadcast_mul(levels)?;
    let over = diff.broadcast_mul(&(levels - 1.0)?)?;
    under.maximum(&over)?.mean_all()
}
