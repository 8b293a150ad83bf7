//! The launch plan: which kernel runs with which grid and arguments, in what order, for a
//! batch of `n` runs. It is plain data so that the CUDA backend and the host shim of the tests
//! execute the very same sequence (and the shim thereby checks the launch shapes too).

// Without the `cuda` feature only the host-shim tests execute plans.
#![cfg_attr(not(any(feature = "cuda", test)), allow(dead_code))]

use super::spec::{EncoderSpec, GROUP_NORM_EPS};
use super::weights::EncoderWeights;
use crate::{Error, Result};

/// The kernels' source, compiled at run time by NVRTC (and as host C++ by the tests' shim).
pub const KERNEL_SOURCE: &str = include_str!("../../kernels/encoder.cu");

/// Thread block size of every launch; at most `ENC_MAX_THREADS` in the source. At the conv
/// kernel's 40 registers, 256 threads leave 6 blocks (48 of 64 warps) resident per SM on
/// sm_80/sm_90, plenty for a memory-bound kernel.
pub(crate) const THREADS: u32 = 256;
/// Mirrors `ENC_MAX_THREADS` in encoder.cu (sizes its shared arrays).
pub(crate) const MAX_THREADS: u32 = 256;
/// Mirrors `ENC_PROJ_RUNS` in encoder.cu: batch rows per projection thread.
pub(crate) const PROJ_RUNS: u32 = 4;
const _: () = assert!(THREADS <= MAX_THREADS);

/// Largest batch one plan covers: the batch is a grid dimension (y or z), limited to 65535.
pub(crate) const MAX_BATCH: usize = 65_535;

/// Declared in the order of [`Kernel::ALL`]: the CUDA backend indexes its functions by `as usize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    Conv,
    Stats,
    NormGelu,
    Project,
}

impl Kernel {
    pub(crate) const ALL: [Kernel; 4] = [
        Kernel::Conv,
        Kernel::Stats,
        Kernel::NormGelu,
        Kernel::Project,
    ];

    /// The `extern "C"` name in encoder.cu.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kernel::Conv => "conv1d_bias_moments",
            Kernel::Stats => "groupnorm_stats",
            Kernel::NormGelu => "groupnorm_gelu",
            Kernel::Project => "project",
        }
    }
}

/// The names of every kernel in [`KERNEL_SOURCE`].
pub const KERNEL_NAMES: [&str; 4] = [
    "conv1d_bias_moments",
    "groupnorm_stats",
    "groupnorm_gelu",
    "project",
];

/// A device buffer a launch reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Buf {
    /// The batch's loss vectors, [n, loss_len].
    Input,
    /// Parameter tensor `i` of [`device_weights`].
    Weight(usize),
    /// Block `b`'s output activations, [n, c_{b+1}, len_{b+1}].
    Act(usize),
    /// Per-thread-block (count, mean, M2) of the current block's conv outputs (reused by all).
    Moments,
    /// (mean, 1/std) per (run, group) of the current block (reused by all).
    Stats,
    /// The embeddings, [n, d_model].
    Output,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Arg {
    Buf(Buf),
    I32(i32),
    F32(f32),
}

#[derive(Debug, Clone)]
pub(crate) struct Launch {
    pub kernel: Kernel,
    pub grid: [u32; 3],
    pub block: u32,
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub launches: Vec<Launch>,
    /// Number of f32 values of every scratch and I/O buffer.
    pub sizes: Vec<(Buf, usize)>,
}

/// Parameter tensors in the order [`Buf::Weight`] indexes them: per block conv weight, conv
/// bias, norm weight, norm bias; then the projection weight TRANSPOSED to [features, d_model]
/// (see the `project` kernel: it makes the weight loads coalesced), then its bias.
pub(crate) fn device_weights(spec: &EncoderSpec, weights: &EncoderWeights) -> Vec<Vec<f32>> {
    let mut tensors = Vec::new();
    for b in &weights.blocks {
        tensors.extend(
            [&b.conv_weight, &b.conv_bias, &b.norm_weight, &b.norm_bias].map(|t| t.clone()),
        );
    }
    let (d_model, features) = (spec.d_model, spec.features());
    let mut transposed = vec![0.0; d_model * features];
    for d in 0..d_model {
        for j in 0..features {
            transposed[j * d_model + d] = weights.proj_weight[d * features + j];
        }
    }
    tensors.push(transposed);
    tensors.push(weights.proj_bias.clone());
    tensors
}

/// Plans the encoder for a batch of `n` runs with thread blocks of `threads`.
pub(crate) fn plan(spec: &EncoderSpec, n: usize, threads: u32) -> Result<Plan> {
    spec.validate()?;
    if n == 0 || n > MAX_BATCH {
        return Err(Error::Cuda(format!(
            "batch of {n} runs: one launch takes 1 to {MAX_BATCH}"
        )));
    }
    if threads == 0 || threads > MAX_THREADS {
        return Err(Error::Cuda(format!(
            "{threads} threads per block: must be 1 to {MAX_THREADS}"
        )));
    }
    // validate() bounded every size by i32::MAX, so these conversions cannot truncate.
    let int = |v: usize| Arg::I32(v as i32);
    let blocks_of = |items: usize| items.div_ceil(threads as usize) as u32;
    let lengths = spec.lengths();
    let batch = n as u32;

    let mut launches = Vec::new();
    let mut sizes = vec![(Buf::Input, n * spec.loss_len)];
    let (mut moments_len, mut stats_len) = (0, 0);
    for b in 0..spec.blocks() {
        let (c_in, c_out) = (spec.channels[b], spec.channels[b + 1]);
        let (len_in, len_out) = (lengths[b], lengths[b + 1]);
        let source = if b == 0 { Buf::Input } else { Buf::Act(b - 1) };
        let chunks = blocks_of(len_out);
        sizes.push((Buf::Act(b), n * c_out * len_out));
        moments_len = moments_len.max(n * c_out * chunks as usize * 3);
        stats_len = stats_len.max(n * spec.groups * 2);

        launches.push(Launch {
            kernel: Kernel::Conv,
            grid: [chunks, c_out as u32, batch],
            block: threads,
            args: vec![
                Arg::Buf(source),
                Arg::Buf(Buf::Weight(4 * b)),
                Arg::Buf(Buf::Weight(4 * b + 1)),
                Arg::Buf(Buf::Act(b)),
                Arg::Buf(Buf::Moments),
                int(c_in),
                int(len_in),
                int(c_out),
                int(len_out),
                int(spec.kernel),
                int(spec.stride),
                int(spec.padding),
            ],
        });
        launches.push(Launch {
            kernel: Kernel::Stats,
            grid: [spec.groups as u32, batch, 1],
            block: threads,
            args: vec![
                Arg::Buf(Buf::Moments),
                Arg::Buf(Buf::Stats),
                int(c_out),
                Arg::I32(chunks as i32),
                int(spec.groups),
                Arg::F32(GROUP_NORM_EPS),
            ],
        });
        launches.push(Launch {
            kernel: Kernel::NormGelu,
            grid: [blocks_of(c_out * len_out), batch, 1],
            block: threads,
            args: vec![
                Arg::Buf(Buf::Act(b)),
                Arg::Buf(Buf::Stats),
                Arg::Buf(Buf::Weight(4 * b + 2)),
                Arg::Buf(Buf::Weight(4 * b + 3)),
                int(c_out),
                int(len_out),
                int(spec.groups),
            ],
        });
    }
    let last = spec.blocks() - 1;
    launches.push(Launch {
        kernel: Kernel::Project,
        grid: [blocks_of(spec.d_model), batch.div_ceil(PROJ_RUNS), 1],
        block: threads,
        args: vec![
            Arg::Buf(Buf::Act(last)),
            Arg::Buf(Buf::Weight(4 * spec.blocks())),
            Arg::Buf(Buf::Weight(4 * spec.blocks() + 1)),
            Arg::Buf(Buf::Output),
            int(n),
            int(spec.features()),
            int(spec.d_model),
        ],
    });
    sizes.extend([
        (Buf::Moments, moments_len),
        (Buf::Stats, stats_len),
        (Buf::Output, n * spec.d_model),
    ]);
    Ok(Plan { launches, sizes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_agree_with_the_kernel_source() {
        assert!(KERNEL_SOURCE.contains(&format!("#define ENC_MAX_THREADS {MAX_THREADS}\n")));
        assert!(KERNEL_SOURCE.contains(&format!("#define ENC_PROJ_RUNS {PROJ_RUNS}\n")));
        for (kernel, name) in Kernel::ALL.iter().zip(KERNEL_NAMES) {
            assert_eq!(kernel.name(), name);
            assert!(
                KERNEL_SOURCE.contains(&format!("__global__ void {name}(")),
                "{name}"
            );
        }
    }

    #[test]
    fn reference_plan_shapes() {
        let plan = plan(&EncoderSpec::reference(), 3, THREADS).unwrap();
        assert_eq!(plan.launches.len(), 4 * 3 + 1);
        // 16001 outputs of block 0 in blocks of 256, 8 channels, 3 runs.
        assert_eq!(plan.launches[0].grid, [63, 8, 3]);
        assert_eq!(plan.launches.last().unwrap().grid, [2, 1, 1]);
        assert!(plan.sizes.contains(&(Buf::Act(0), 3 * 8 * 16_001)));
    }

    #[test]
    fn rejects_bad_batches_and_blocks() {
        let spec = EncoderSpec::small();
        assert!(plan(&spec, 0, THREADS).is_err());
        assert!(plan(&spec, MAX_BATCH + 1, THREADS).is_err());
        assert!(plan(&spec, 1, MAX_THREADS + 1).is_err());
    }
}
