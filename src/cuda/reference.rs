//! Plain CPU encoder, written for obviousness rather than speed: the yardstick the CUDA
//! kernels (and their host shim) are checked against. Accumulates in f64.

use super::spec::{EncoderSpec, GROUP_NORM_EPS};
use super::weights::{BlockWeights, EncoderWeights};
use crate::rng::SplitMix64;
use crate::{Error, Result};

/// Encodes `n` loss vectors (`losses` is `n * spec.loss_len` values, run after run) into
/// `n * spec.d_model` embedding values.
pub fn encode_reference(
    spec: &EncoderSpec,
    weights: &EncoderWeights,
    losses: &[f32],
    n: usize,
) -> Result<Vec<f32>> {
    check_batch(spec, losses, n)?;
    let lengths = spec.lengths();
    let mut out = Vec::with_capacity(n * spec.d_model);
    for run in losses.chunks_exact(spec.loss_len) {
        // Activations of the current block, [channels, len], channel-major.
        let mut x: Vec<f64> = run.iter().map(|&v| f64::from(v)).collect();
        for (b, block) in weights.blocks.iter().enumerate() {
            let (c_in, c_out) = (spec.channels[b], spec.channels[b + 1]);
            let (len_in, len_out) = (lengths[b], lengths[b + 1]);
            let mut y = conv1d(spec, &x, c_in, len_in, c_out, len_out, block);
            group_norm_gelu(spec, &mut y, c_out, len_out, block);
            x = y;
        }
        let features = x.len();
        for d in 0..spec.d_model {
            let row = &weights.proj_weight[d * features..(d + 1) * features];
            let dot: f64 = row.iter().zip(&x).map(|(&w, &v)| f64::from(w) * v).sum();
            out.push((dot + f64::from(weights.proj_bias[d])) as f32);
        }
    }
    Ok(out)
}

fn conv1d(
    spec: &EncoderSpec,
    x: &[f64],
    c_in: usize,
    len_in: usize,
    c_out: usize,
    len_out: usize,
    block: &BlockWeights,
) -> Vec<f64> {
    let k = spec.kernel;
    let mut y = vec![0.0; c_out * len_out];
    for co in 0..c_out {
        for t in 0..len_out {
            let mut acc = f64::from(block.conv_bias[co]);
            for ci in 0..c_in {
                for tap in 0..k {
                    // Input position in the zero-padded signal, shifted back to the real one.
                    let pos = (t * spec.stride + tap) as isize - spec.padding as isize;
                    if pos >= 0 && (pos as usize) < len_in {
                        let w = f64::from(block.conv_weight[(co * c_in + ci) * k + tap]);
                        acc += w * x[ci * len_in + pos as usize];
                    }
                }
            }
            y[co * len_out + t] = acc;
        }
    }
    y
}

/// GroupNorm (biased variance over channels-in-group x length) with its affine, then exact GELU.
fn group_norm_gelu(
    spec: &EncoderSpec,
    y: &mut [f64],
    channels: usize,
    len: usize,
    block: &BlockWeights,
) {
    let per_group = channels / spec.groups;
    for group in y.chunks_mut(per_group * len) {
        let count = group.len() as f64;
        let mean = group.iter().sum::<f64>() / count;
        let var = group.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / count;
        let rstd = 1.0 / (var + f64::from(GROUP_NORM_EPS)).sqrt();
        for v in group.iter_mut() {
            *v = (*v - mean) * rstd;
        }
    }
    for (c, row) in y.chunks_mut(len).enumerate() {
        let (gamma, beta) = (
            f64::from(block.norm_weight[c]),
            f64::from(block.norm_bias[c]),
        );
        for v in row {
            let z = *v * gamma + beta;
            *v = 0.5 * z * (1.0 + libm::erf(z / std::f64::consts::SQRT_2));
        }
    }
}

/// Checks that `losses` holds exactly `n >= 1` vectors of the spec's length.
pub(crate) fn check_batch(spec: &EncoderSpec, losses: &[f32], n: usize) -> Result<()> {
    if n == 0 || losses.len() != n * spec.loss_len {
        return Err(Error::invalid(
            "batch",
            "losses",
            format!(
                "expected {n} x {} = {} values (n >= 1), got {}",
                spec.loss_len,
                n * spec.loss_len,
                losses.len()
            ),
        ));
    }
    Ok(())
}

/// Prepared-loss-like inputs for `runs` runs, from a fixed seed: even runs a noisy decreasing
/// curve in [0, 1], odd runs pure noise around 0.5. What the parity checks (the CPU shim and
/// the GPU test) feed both sides.
pub fn synthetic_inputs(spec: &EncoderSpec, runs: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    (0..runs * spec.loss_len)
        .map(|i| {
            let t = (i % spec.loss_len) as f64 / spec.loss_len as f64;
            let base = if (i / spec.loss_len) % 2 == 0 {
                0.7 - 0.4 * t
            } else {
                0.5
            };
            (base + rng.uniform(-0.25, 0.25)).clamp(0.0, 1.0) as f32
        })
        .collect()
}

/// The parity checks' measure: the largest |got - want| relative to max(|want|, the
/// reference's RMS), so values near zero are judged on the output's scale, not their own.
pub fn max_relative_error(got: &[f32], want: &[f32]) -> f64 {
    let rms = (want.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / want.len() as f64).sqrt();
    got.iter()
        .zip(want)
        .map(|(&g, &w)| (f64::from(g) - f64::from(w)).abs() / f64::from(w).abs().max(rms))
        .fold(0.0, f64::max)
}
