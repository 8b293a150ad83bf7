//! The loss encoder and forecaster graphs. The function each computes is documented in
//! `docs/ARCHITECTURE.md`; `train::model` computes the same function with candle, and the parity
//! test holds the two together.

use super::builder::{Dim, GraphBuilder, attr_float, attr_int, attr_ints};
use super::{
    CONTEXT_SYMBOL, ENCODER_INPUT, ENCODER_OUTPUT, FORECASTER_INPUTS, FORECASTER_OUTPUT,
    TOKENS_SYMBOL,
};
use crate::error::ModelError;
use crate::model::architecture::{Architecture, EncoderArchitecture};
use crate::model::layout::{quantile_head_matrices, rope_tables, rotate_half_matrix};
use crate::model::weights::{Tensor, Weights};
use prost::Message;

const LN_EPS: f32 = 1e-5;
const GN_EPS: f32 = 1e-5;
/// Added to the scores of padded keys; large enough that softmax gives them exactly 0 in f32,
/// small enough to stay finite (no NaN when a row were ever all masked).
pub const MASK_PENALTY: f32 = 1e9;
/// Optional `[Q]` weight: per-level factors on the quantile head's increments (1 at the median).
pub const INCREMENT_SCALE: &str = "head.increment_scale";

/// The forecaster graph as ONNX bytes.
pub fn export_forecaster(arch: &Architecture, w: &Weights) -> Result<Vec<u8>, ModelError> {
    arch.validate()?;
    let (d, f, s, h, hd, q) = (
        arch.d_model,
        arch.context_features,
        arch.seq_len(),
        arch.heads,
        arch.head_dim(),
        arch.quantile_levels.len(),
    );
    let mut g = GraphBuilder::default();
    let b = || Dim::Symbol("B");
    // The context length is a symbol (at most `max_context` points, `T + 2` tokens): padding
    // after the last real point changes no output, so the engine runs each row at the shortest
    // plan length that holds it instead of always at `max_context`.
    let context = g.input(
        FORECASTER_INPUTS[0],
        &[b(), Dim::Symbol(CONTEXT_SYMBOL), Dim::Fixed(f)],
    );
    let key_mask = g.input(FORECASTER_INPUTS[1], &[b(), Dim::Symbol(TOKENS_SYMBOL)]);
    let anchor = g.input(FORECASTER_INPUTS[2], &[b(), Dim::Fixed(1)]);
    let loss_emb = g.input(FORECASTER_INPUTS[3], &[b(), Dim::Fixed(d)]);
    let has_loss = g.input(FORECASTER_INPUTS[4], &[b(), Dim::Fixed(1)]);

    // Context tokens, the loss token (learned "no loss" embedding where none was given), CLS.
    let ctx = g.linear(
        &context,
        "ctx",
        w.expect("ctx.weight", &[d, f])?,
        w.expect("ctx.bias", &[d])?,
    );
    let no_loss = g.init("no_loss", &[d], &w.expect("no_loss", &[d])?.data);
    let diff = g.sub(&loss_emb, &no_loss);
    let gated = g.mul(&has_loss, &diff);
    let loss_tok = g.add(&no_loss, &gated);
    let loss_tok = g.unsqueeze(&loss_tok, &[1]);
    let cls = g.init("cls", &[1, 1, d], &w.expect("cls", &[d])?.data);
    let shape = g.node("Shape", &[&loss_tok], vec![]);
    let cls = g.node("Expand", &[&cls, &shape], vec![]);
    let mut x = g.node(
        "Concat",
        &[&cls, &loss_tok, &ctx],
        vec![attr_int("axis", 1)],
    );

    // Additive key mask [B, 1, 1, S]: 0 for real tokens, -MASK_PENALTY for padding.
    let one = g.scalar(1.0);
    let penalty = g.scalar(MASK_PENALTY);
    let m = g.sub(&key_mask, &one);
    let m = g.mul(&m, &penalty);
    let bias = g.unsqueeze(&m, &[1, 2]);

    // RoPE is applied in the [B, S, D] layout, before the heads are split: the rotation is
    // folded into extra projection columns (`x @ W_rot` with `W_rot = W R`, R the block-diagonal
    // rotate-half matrix) and the tables are tiled across heads, so RoPE is two same-shape
    // multiplies and an add; the 1/sqrt(head_dim) scale is folded into the query columns.
    let (cos, sin) = rope_tables(arch);
    let tile = |t: &[f32], rows: usize| -> Vec<f32> {
        (0..rows)
            .flat_map(|p| (0..h).flat_map(move |_| t[p * hd..(p + 1) * hd].iter().copied()))
            .collect()
    };
    // The tables cover `max_context + 2` positions; the graph uses the first `T + 2`.
    let tokens = {
        let shape = g.node("Shape", &[&x], vec![]);
        let (one, two, zero) = (g.ints(&[1], &[1]), g.ints(&[1], &[2]), g.ints(&[1], &[0]));
        g.node("Slice", &[&shape, &one, &two, &zero], vec![])
    };
    let first_tokens = |g: &mut GraphBuilder, name: &str, table: &[f32]| {
        let full = g.init(name, &[s, d], table);
        let (zero, axis) = (g.ints(&[1], &[0]), g.ints(&[1], &[0]));
        g.node("Slice", &[&full, &zero, &tokens, &axis], vec![])
    };
    let cos_all = first_tokens(&mut g, "rope.cos", &tile(&cos, s));
    let sin_all = first_tokens(&mut g, "rope.sin", &tile(&sin, s));
    let cos_cls = g.init("rope.cos.cls", &[1, d], &tile(&cos, 1));
    let sin_cls = g.init("rope.sin.cls", &[1, d], &tile(&sin, 1));
    let rot = rotate_half_matrix(hd);
    let scale = 1.0 / (hd as f32).sqrt();

    for l in 0..arch.layers {
        let p = |n: &str| format!("layers.{l}.{n}");
        // Only the CLS token is read out: the last layer computes queries, attention output
        // and feed-forward for it alone (keys and values still cover every token).
        let last = l + 1 == arch.layers;
        let hn = layer_norm(&mut g, &x, w, &p("ln1"), d)?;
        let (hq, xq) = if last {
            let hc = g.take(&hn, 0, 1);
            let xc = g.take(&x, 0, 1);
            (g.unsqueeze(&hc, &[1]), g.unsqueeze(&xc, &[1]))
        } else {
            (hn.clone(), x.clone())
        };
        let qkv_w = w.expect(&p("qkv.weight"), &[3 * d, d])?;
        let qkv_b = w.expect(&p("qkv.bias"), &[3 * d])?;
        let part = |i: usize, scale: f32, rotate: bool| -> (Tensor, Tensor) {
            let (wd, bd) = (
                &qkv_w.data[i * d * d..(i + 1) * d * d],
                &qkv_b.data[i * d..(i + 1) * d],
            );
            let mut wo = vec![0.0f32; d * d];
            let mut bo = vec![0.0f32; d];
            for o in 0..d {
                let (head, oi) = (o / hd, o % hd);
                for j in 0..hd {
                    let coef = if rotate {
                        rot[j * hd + oi]
                    } else if j == oi {
                        1.0
                    } else {
                        0.0
                    };
                    if coef == 0.0 {
                        continue;
                    }
                    let src = head * hd + j;
                    for k in 0..d {
                        wo[o * d + k] += coef * scale * wd[src * d + k];
                    }
                    bo[o] += coef * scale * bd[src];
                }
            }
            (Tensor::new(vec![d, d], wo), Tensor::new(vec![d], bo))
        };
        let lin = |g: &mut GraphBuilder, x: &str, name: &str, (wt, bt): (Tensor, Tensor)| {
            g.linear(x, &p(name), &wt, &bt)
        };
        let q = lin(&mut g, &hq, "q", part(0, scale, false));
        let qr = lin(&mut g, &hq, "q_rot", part(0, scale, true));
        let k = lin(&mut g, &hn, "k", part(1, 1.0, false));
        let kr = lin(&mut g, &hn, "k_rot", part(1, 1.0, true));
        let v = lin(&mut g, &hn, "v", part(2, 1.0, false));
        let (cq, sq_) = if last {
            (&cos_cls, &sin_cls)
        } else {
            (&cos_all, &sin_all)
        };
        let rope = |g: &mut GraphBuilder, x: &str, xr: &str, c: &str, sn: &str| {
            let a = g.mul(x, c);
            let b = g.mul(xr, sn);
            g.add(&a, &b)
        };
        let q = rope(&mut g, &q, &qr, cq, sq_);
        let k = rope(&mut g, &k, &kr, &cos_all, &sin_all);
        let q = g.reshape(&q, &[0, -1, h as i64, hd as i64]);
        let q = g.transpose(&q, &[0, 2, 1, 3]); // [B, H, Sq, hd]
        let k = g.reshape(&k, &[0, -1, h as i64, hd as i64]);
        let kt = g.transpose(&k, &[0, 2, 3, 1]); // [B, H, hd, S]
        let v = g.reshape(&v, &[0, -1, h as i64, hd as i64]);
        let v = g.transpose(&v, &[0, 2, 1, 3]); // [B, H, S, hd]
        let scores = g.matmul(&q, &kt);
        let scores = g.add(&scores, &bias);
        let attn = g.node("Softmax", &[&scores], vec![attr_int("axis", -1)]);
        let o = g.matmul(&attn, &v);
        let o = g.transpose(&o, &[0, 2, 1, 3]);
        let o = g.reshape(&o, &[0, -1, d as i64]);
        let o = g.linear(
            &o,
            &p("out"),
            w.expect(&p("out.weight"), &[d, d])?,
            w.expect(&p("out.bias"), &[d])?,
        );
        x = g.add(&xq, &o);

        let hn = layer_norm(&mut g, &x, w, &p("ln2"), d)?;
        let ff = arch.ff;
        let f1 = g.linear(
            &hn,
            &p("ff1"),
            w.expect(&p("ff1.weight"), &[ff, d])?,
            w.expect(&p("ff1.bias"), &[ff])?,
        );
        let f1 = g.gelu(&f1);
        let f2 = g.linear(
            &f1,
            &p("ff2"),
            w.expect(&p("ff2.weight"), &[d, ff])?,
            w.expect(&p("ff2.bias"), &[d])?,
        );
        x = g.add(&x, &f2);
    }
    let x = layer_norm(&mut g, &x, w, "final_ln", d)?;
    let cls_out = g.take(&x, 0, 1); // [B, D]
    let mut raw = g.linear(
        &cls_out,
        "head",
        w.expect("head.weight", &[q, d])?,
        w.expect("head.bias", &[q])?,
    );
    if arch.summary > 0 {
        let summary = summary_path(&mut g, &context, arch, w)?;
        raw = g.add(&raw, &summary);
    }

    // Non-crossing quantiles: anchor + raw @ E + softplus(raw) @ M (see layout.rs).
    let (e, mm) = quantile_head_matrices(q, arch.median_index());
    let e = g.init("head.median_spread", &[q, q], &e);
    let mm = g.init("head.increments", &[q, q], &mm);
    let mut sp = softplus(&mut g, &raw);
    // A calibrated model (`adapt::calibration`) widens or narrows each increment by a positive
    // factor: the quantiles stay ordered by construction, and the factors stay readable from the
    // graph (`weights_from_graph`), so a re-export keeps them.
    if w.0.contains_key(INCREMENT_SCALE) {
        let scale = g.init(
            INCREMENT_SCALE,
            &[q],
            &w.expect(INCREMENT_SCALE, &[q])?.data,
        );
        sp = g.mul(&sp, &scale);
    }
    let centre = g.matmul(&raw, &e);
    let inc = g.matmul(&sp, &mm);
    let y = g.add(&centre, &inc);
    g.node_named("Add", &[&y, &anchor], vec![], FORECASTER_OUTPUT);
    g.output(FORECASTER_OUTPUT, &[b(), Dim::Fixed(q)]);
    Ok(g.finish("neuneu_forecaster").encode_to_vec())
}

/// The summary path: `fc2(gelu(fc1(context[:, 0, :])))`, `[B, Q]`, added to the head's raw
/// outputs. The first slot always holds a real point, and its features carry what the whole
/// context says about the target (the horizon, the power-law offset, the rise from the first
/// point to the last), so an MLP reads them directly: the transformer alone, through its layer
/// norms and attention, fitted these precise offsets less well than boosted trees on the same
/// features (`docs/results/experiments-2026-11-30.md`).
fn summary_path(
    g: &mut GraphBuilder,
    context: &str,
    arch: &Architecture,
    w: &Weights,
) -> Result<String, ModelError> {
    let (f, hs, q) = (
        arch.context_features,
        arch.summary,
        arch.quantile_levels.len(),
    );
    let first = g.take(context, 0, 1); // [B, F]
    let h = g.linear(
        &first,
        "summary.fc1",
        w.expect("summary.fc1.weight", &[hs, f])?,
        w.expect("summary.fc1.bias", &[hs])?,
    );
    let h = g.gelu(&h);
    Ok(g.linear(
        &h,
        "summary.fc2",
        w.expect("summary.fc2.weight", &[q, hs])?,
        w.expect("summary.fc2.bias", &[q])?,
    ))
}

/// The loss encoder graph as ONNX bytes.
pub fn export_encoder(arch: &Architecture, w: &Weights) -> Result<Vec<u8>, ModelError> {
    arch.validate()?;
    let enc: &EncoderArchitecture = arch
        .encoder
        .as_ref()
        .ok_or_else(|| ModelError::Architecture("no encoder to export".into()))?;
    let mut g = GraphBuilder::default();
    let n = || Dim::Symbol("N");
    let input = g.input(ENCODER_INPUT, &[n(), Dim::Fixed(enc.loss_len)]);
    let mut x = g.unsqueeze(&input, &[1]);
    let lens = enc.lengths();
    let mut c_in = 1;
    for (bi, &c) in enc.channels.iter().enumerate() {
        let p = |s: &str| format!("enc.{s}{bi}");
        let wt = w.expect(&format!("{}.weight", p("conv")), &[c, c_in, enc.kernel])?;
        let bs = w.expect(&format!("{}.bias", p("conv")), &[c])?;
        let wn = g.init(
            &format!("{}.weight", p("conv")),
            &[c, c_in, enc.kernel],
            &wt.data,
        );
        let bn = g.init(&format!("{}.bias", p("conv")), &[c], &bs.data);
        x = g.node(
            "Conv",
            &[&x, &wn, &bn],
            vec![
                attr_ints("kernel_shape", &[enc.kernel as i64]),
                attr_ints("strides", &[enc.stride as i64]),
                attr_ints("pads", &[enc.padding as i64, enc.padding as i64]),
            ],
        );
        // GroupNorm, decomposed (mean and biased variance per group) so any runtime reads it.
        let lo = lens[bi + 1];
        let grouped = g.reshape(&x, &[0, enc.groups as i64, -1]);
        let mean = g.node(
            "ReduceMean",
            &[&grouped],
            vec![attr_ints("axes", &[2]), attr_int("keepdims", 1)],
        );
        let centred = g.sub(&grouped, &mean);
        let sq = g.mul(&centred, &centred);
        let var = g.node(
            "ReduceMean",
            &[&sq],
            vec![attr_ints("axes", &[2]), attr_int("keepdims", 1)],
        );
        let eps = g.scalar(GN_EPS);
        let var = g.add(&var, &eps);
        let sd = g.node("Sqrt", &[&var], vec![]);
        let normed = g.node("Div", &[&centred, &sd], vec![]);
        let normed = g.reshape(&normed, &[0, c as i64, lo as i64]);
        let gamma = w.expect(&format!("{}.weight", p("gn")), &[c])?;
        let beta = w.expect(&format!("{}.bias", p("gn")), &[c])?;
        let gamma = g.init(&format!("{}.weight", p("gn")), &[c, 1], &gamma.data);
        let beta = g.init(&format!("{}.bias", p("gn")), &[c, 1], &beta.data);
        let y = g.mul(&normed, &gamma);
        let y = g.add(&y, &beta);
        x = g.gelu(&y);
        c_in = c;
    }
    let flat = g.reshape(&x, &[0, enc.flat_len() as i64]);
    let d = arch.d_model;
    let pw = w.expect("enc.proj.weight", &[d, enc.flat_len()])?;
    let pb = w.expect("enc.proj.bias", &[d])?;
    let y = g.linear(&flat, "enc.proj", pw, pb);
    g.node_named("Identity", &[&y], vec![], ENCODER_OUTPUT);
    g.output(ENCODER_OUTPUT, &[n(), Dim::Fixed(d)]);
    Ok(g.finish("neuneu_loss_encoder").encode_to_vec())
}

/// Undoes the forecaster's query/key fold: the trainer's `layers.{l}.qkv` weights again, from
/// the plain (unrotated) query, key and value columns a folded graph keeps (the query's carry
/// the 1/sqrt(head_dim) scale, a power of two at today's head sizes, so this is exact). Layers
/// that already have `qkv` weights, or lack the folded ones, are left alone.
pub fn unfold_attention(arch: &Architecture, w: &mut Weights) -> Result<(), ModelError> {
    let d = arch.d_model;
    let scale = 1.0 / (arch.head_dim() as f32).sqrt();
    for l in 0..arch.layers {
        let p = |n: &str| format!("layers.{l}.{n}");
        if w.0.contains_key(&p("qkv.weight")) || !w.0.contains_key(&p("q.weight")) {
            continue;
        }
        let (mut weight, mut bias) = (Vec::with_capacity(3 * d * d), Vec::with_capacity(3 * d));
        for (part, factor) in [("q", 1.0 / scale), ("k", 1.0), ("v", 1.0)] {
            let wt = w.expect(&p(&format!("{part}.weight")), &[d, d])?;
            let bt = w.expect(&p(&format!("{part}.bias")), &[d])?;
            weight.extend(wt.data.iter().map(|v| v * factor));
            bias.extend(bt.data.iter().map(|v| v * factor));
        }
        w.insert(p("qkv.weight"), Tensor::new(vec![3 * d, d], weight));
        w.insert(p("qkv.bias"), Tensor::new(vec![3 * d], bias));
    }
    Ok(())
}

fn layer_norm(
    g: &mut GraphBuilder,
    x: &str,
    w: &Weights,
    name: &str,
    d: usize,
) -> Result<String, ModelError> {
    let gamma = g.init(
        &format!("{name}.weight"),
        &[d],
        &w.expect(&format!("{name}.weight"), &[d])?.data,
    );
    let beta = g.init(
        &format!("{name}.bias"),
        &[d],
        &w.expect(&format!("{name}.bias"), &[d])?.data,
    );
    Ok(g.node(
        "LayerNormalization",
        &[x, &gamma, &beta],
        vec![attr_int("axis", -1), attr_float("epsilon", LN_EPS)],
    ))
}

/// `relu(x) + ln(1 + exp(-|x|))`: softplus without overflow for large inputs.
fn softplus(g: &mut GraphBuilder, x: &str) -> String {
    let relu = g.node("Relu", &[x], vec![]);
    let abs = g.node("Abs", &[x], vec![]);
    let neg = g.node("Neg", &[&abs], vec![]);
    let ex = g.node("Exp", &[&neg], vec![]);
    let one = g.scalar(1.0);
    let ex1 = g.add(&ex, &one);
    let lg = g.node("Log", &[&ex1], vec![]);
    g.add(&relu, &lg)
}

/// Reads every f32 initializer of an ONNX graph back as named weights (the CUDA encoder uploads
/// the encoder's weights from the bundle this way). Linear weights come back transposed,
/// `[in, out]`, under `<name>.weight_t`.
pub fn read_initializers(onnx: &[u8]) -> Result<Weights, ModelError> {
    let model = tract_onnx::pb::ModelProto::decode(onnx)?;
    let graph = model
        .graph
        .ok_or_else(|| ModelError::Onnx("ONNX model has no graph".into()))?;
    let mut out = Weights::default();
    for t in graph.initializer {
        if t.data_type != tract_onnx::pb::tensor_proto::DataType::Float as i32 {
            continue;
        }
        let shape: Vec<usize> = t.dims.iter().map(|&d| d.max(0) as usize).collect();
        let data: Vec<f32> = if !t.raw_data.is_empty() {
            t.raw_data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        } else {
            t.float_data.clone()
        };
        if data.len() != shape.iter().product::<usize>() {
            return Err(ModelError::Onnx(format!(
                "initializer `{}` has {} values for shape {shape:?}",
                t.name,
                data.len()
            )));
        }
        out.insert(t.name, Tensor::new(shape, data));
    }
    Ok(out)
}

/// The weights a graph was exported from, under the names the exporters read: every f32
/// initializer, and for each linear layer's stored `<name>.weight_t` (`[in, out]`) also
/// `<name>.weight` (`[out, in]`) transposed back; vectors stored with broadcast dimensions
/// (`cls` as `[1, 1, d]`, group-norm scales as `[c, 1]`) come back as vectors, i.e. any tensor
/// with at most one dimension above 1 is flattened. Graph constants (RoPE tables, scalars) come
/// along and are ignored by the exporters. The forecaster's folded query/key columns come back
/// as they are; [`unfold_attention`] turns them into the trainer's parameters.
pub fn weights_from_graph(onnx: &[u8]) -> Result<Weights, ModelError> {
    let mut w = read_initializers(onnx)?;
    for t in w.0.values_mut() {
        if t.shape.iter().filter(|&&n| n > 1).count() <= 1 && t.shape.len() > 1 {
            t.shape = vec![t.data.len()];
        }
    }
    let transposed: Vec<(String, Tensor)> =
        w.0.iter()
            .filter_map(|(name, t)| {
                let base = name.strip_suffix(".weight_t")?;
                let [inp, out] = t.shape[..] else { return None };
                let mut data = vec![0.0f32; inp * out];
                for i in 0..inp {
                    for o in 0..out {
                        data[o * inp + i] = t.data[i * out + o];
                    }
                }
                Some((format!("{base}.weight"), Tensor::new(vec![out, inp], data)))
            })
            .collect();
    for (name, t) in transposed {
        w.insert(name, t);
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_model_errors() {
        let arch = Architecture::small();
        let mut w = crate::testing::random_weights(&arch, 1);
        w.0.remove("head.bias");
        let e = export_forecaster(&arch, &w).unwrap_err();
        assert_eq!(e.to_string(), "missing weight `head.bias`");
        let mut bad = arch.clone();
        bad.heads = 3;
        let e = export_forecaster(&bad, &w).unwrap_err();
        assert!(matches!(e, ModelError::Architecture(_)), "{e:?}");
        let e = export_encoder(
            &Architecture {
                encoder: None,
                ..arch
            },
            &w,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "architecture: no encoder to export");
        let e = read_initializers(b"\xff\xff not onnx").unwrap_err();
        assert!(matches!(e, ModelError::NotOnnx(_)), "{e:?}");
        assert!(e.to_string().starts_with("not ONNX: "), "{e}");
        let e = crate::Error::from(e);
        assert!(e.to_string().starts_with("model: not ONNX: "), "{e}");
    }
}
