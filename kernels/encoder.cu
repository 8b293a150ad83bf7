// Loss-encoder kernels: Conv1d -> GroupNorm -> GELU blocks, then flatten + Linear.
//
// The host (src/cuda/plan.rs) launches, per block b:
//   1. conv1d_bias_moments  conv + bias, and per-thread-block (count, mean, M2) of its outputs
//   2. groupnorm_stats      merges those partial moments into each group's mean and 1/std
//   3. groupnorm_gelu       normalises, applies the affine and exact GELU, in place
// and finally
//   4. project              flatten (free: activations are already channel-major) + Linear
//
// Every size arrives as a kernel argument; the only compile-time constants are the launch
// shape limits below, which the host mirrors (plan.rs asserts they agree with this file).
//
// Variance: partial moments use Chan's merge rather than sum/sum-of-squares, because a
// GroupNorm group holds up to ~16k values whose mean can dwarf their spread, and
// E[x^2] - E[x]^2 in f32 would cancel catastrophically. Group totals merge in double.
//
// Portability: the same source compiles with NVRTC and, for the GPU-less tests, as host C++
// under kernels/shim/cuda_host_shim.h. That is why it avoids warp shuffles, dynamic shared
// memory and CUDA-only intrinsics: reductions go through static __shared__ arrays and
// __syncthreads() only, and math is limited to fmaf, erff and sqrt.

// Largest thread block any kernel here is launched with (sizes the shared arrays).
#define ENC_MAX_THREADS 256
// Threads that do the first stage of a block reduction (one warp).
#define ENC_REDUCERS 32
// Runs (batch rows) each projection thread accumulates, so each weight load serves several.
#define ENC_PROJ_RUNS 4

// Chan et al. pairwise merge of (count, mean, M2) summaries: (n, mean, m2) += (nb, meanb, m2b).
template <typename T>
__device__ __forceinline__ void moments_merge(T &n, T &mean, T &m2, T nb, T meanb, T m2b) {
    if (nb == T(0)) {
        return;
    }
    const T total = n + nb;
    const T delta = meanb - mean;
    const T share = nb / total;
    mean += delta * share;
    m2 += m2b + delta * delta * n * share;
    n = total;
}

// Reduces every thread's (n, mean, m2) into thread 0's. All threads of the block must call it.
// Two stages with two barriers: one warp folds the block down to 32 summaries, then thread 0
// folds those. A log2(blockDim) tree would need eight barriers; at these block sizes the
// serial tails cost less than the extra barriers (and keep the host shim fast).
template <typename T>
__device__ __forceinline__ void block_moments(T &n, T &mean, T &m2, T *s_n, T *s_mean, T *s_m2) {
    const unsigned tid = threadIdx.x;
    s_n[tid] = n;
    s_mean[tid] = mean;
    s_m2[tid] = m2;
    __syncthreads();
    if (tid < ENC_REDUCERS) {
        // Reads only slots >= ENC_REDUCERS, writes only its own slot: no race.
        for (unsigned i = tid + ENC_REDUCERS; i < blockDim.x; i += ENC_REDUCERS) {
            moments_merge(n, mean, m2, s_n[i], s_mean[i], s_m2[i]);
        }
        s_n[tid] = n;
        s_mean[tid] = mean;
        s_m2[tid] = m2;
    }
    __syncthreads();
    if (tid == 0) {
        const unsigned stage = blockDim.x < ENC_REDUCERS ? blockDim.x : ENC_REDUCERS;
        for (unsigned i = 1; i < stage; ++i) {
            moments_merge(n, mean, m2, s_n[i], s_mean[i], s_m2[i]);
        }
    }
}

// One thread per output position t of one (run, output channel):
//   y[run, co, t] = bias[co] + sum_{ci, k} w[co, ci, k] * x[run, ci, t*stride - padding + k]
// with zeros outside [0, len_in). Grid: (ceil(len_out / blockDim), c_out, batch).
// Also writes this thread block's (count, mean, M2) to moments[run, co, blockIdx.x, 0..3].
//
// Memory: the whole block shares co, so weight loads are warp-uniform broadcasts; the input
// windows of neighbouring threads overlap (kernel / stride times), so the strided input reads
// are served mostly from L1. The encoder moves ~1 MB per run through here and does ~20 MFLOP,
// so it is bandwidth- and launch-bound; no shared-memory tiling, which would also tie the tile
// size to (kernel, stride).
extern "C" __global__ void conv1d_bias_moments(const float *__restrict__ x, const float *__restrict__ w,
                                               const float *__restrict__ bias, float *__restrict__ y,
                                               float *__restrict__ moments, int c_in, int len_in,
                                               int c_out, int len_out, int kernel, int stride,
                                               int padding) {
    __shared__ float s_n[ENC_MAX_THREADS];
    __shared__ float s_mean[ENC_MAX_THREADS];
    __shared__ float s_m2[ENC_MAX_THREADS];

    const int t = blockIdx.x * blockDim.x + threadIdx.x;
    const int co = blockIdx.y;
    const int run = blockIdx.z;
    const bool valid = t < len_out;

    float acc = 0.0f;
    if (valid) {
        acc = bias[co];
        const int start = t * stride - padding;
        // Clip the window to the real input instead of testing every tap for padding.
        const int k_lo = start < 0 ? -start : 0;
        const int k_hi = len_in - start < kernel ? len_in - start : kernel;
        const float *xr = x + (size_t)run * c_in * len_in;
        const float *wr = w + (size_t)co * c_in * kernel;
        for (int ci = 0; ci < c_in; ++ci) {
            const float *xc = xr + (size_t)ci * len_in;
            const float *wc = wr + (size_t)ci * kernel;
            for (int k = k_lo; k < k_hi; ++k) {
                acc = fmaf(wc[k], xc[start + k], acc);
            }
        }
        y[((size_t)run * c_out + co) * len_out + t] = acc;
    }

    // Invalid tail threads still join the reduction (it has barriers) with an empty summary.
    float n = valid ? 1.0f : 0.0f;
    float mean = acc;
    float m2 = 0.0f;
    block_moments(n, mean, m2, s_n, s_mean, s_m2);
    if (threadIdx.x == 0) {
        const size_t slot = (((size_t)run * c_out + co) * gridDim.x + blockIdx.x) * 3;
        moments[slot + 0] = n;
        moments[slot + 1] = mean;
        moments[slot + 2] = m2;
    }
}

// One thread block per (group, run): merges the group's partial moments (its channels'
// summaries are contiguous: channels-per-group x chunks of them) into stats[run, group] =
// (mean, 1 / sqrt(biased variance + eps)). Grid: (groups, batch).
extern "C" __global__ void groupnorm_stats(const float *__restrict__ moments, float *__restrict__ stats,
                                           int channels, int chunks, int groups, float eps) {
    __shared__ double s_n[ENC_MAX_THREADS];
    __shared__ double s_mean[ENC_MAX_THREADS];
    __shared__ double s_m2[ENC_MAX_THREADS];

    const int g = blockIdx.x;
    const int run = blockIdx.y;
    const int per_group = channels / groups;
    const size_t base = ((size_t)run * channels + (size_t)g * per_group) * chunks;
    const int count = per_group * chunks;

    double n = 0.0, mean = 0.0, m2 = 0.0;
    for (int i = threadIdx.x; i < count; i += blockDim.x) {
        const float *m = moments + (base + i) * 3;
        moments_merge(n, mean, m2, (double)m[0], (double)m[1], (double)m[2]);
    }
    block_moments(n, mean, m2, s_n, s_mean, s_m2);
    if (threadIdx.x == 0) {
        const double var = n > 0.0 ? m2 / n : 0.0;
        stats[((size_t)run * groups + g) * 2 + 0] = (float)mean;
        stats[((size_t)run * groups + g) * 2 + 1] = (float)(1.0 / sqrt(var + (double)eps));
    }
}

// Elementwise, in place: y = GELU((y - mean[g]) * rstd[g] * gamma[c] + beta[c]) with exact
// GELU 0.5 v (1 + erf(v / sqrt 2)). Grid: (ceil(channels * len / blockDim), batch), so
// consecutive threads touch consecutive floats (coalesced) and no 64-bit division is needed.
extern "C" __global__ void groupnorm_gelu(float *__restrict__ y, const float *__restrict__ stats,
                                          const float *__restrict__ gamma, const float *__restrict__ beta,
                                          int channels, int len, int groups) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const int run = blockIdx.y;
    if (i >= channels * len) {
        return;
    }
    const int c = i / len;
    const int g = c / (channels / groups);
    const float *s = stats + ((size_t)run * groups + g) * 2;
    const size_t at = (size_t)run * channels * len + i;
    const float v = (y[at] - s[0]) * s[1] * gamma[c] + beta[c];
    y[at] = 0.5f * v * (1.0f + erff(v * 0.70710678118654752440f));
}

// out[run, d] = bias[d] + sum_j wt[j, d] * x[run, j]; x is the last block's activations, whose
// channel-major layout already is the flattened vector (j = c * len + t).
// The weight arrives transposed ([features, d_model]) so a warp's 32 threads, one per d, read
// 32 consecutive floats; x[run, j] is warp-uniform (a broadcast). Each thread carries
// ENC_PROJ_RUNS runs, so each weight load is reused that many times; the weight (512 KB at
// reference size) stays in L2 across the batch. Grid: (ceil(d_model / blockDim),
// ceil(batch / ENC_PROJ_RUNS)).
extern "C" __global__ void project(const float *__restrict__ x, const float *__restrict__ wt,
                                   const float *__restrict__ bias, float *__restrict__ out, int batch,
                                   int features, int d_model) {
    const int d = blockIdx.x * blockDim.x + threadIdx.x;
    const int run0 = blockIdx.y * ENC_PROJ_RUNS;
    if (d >= d_model) {
        return;
    }
    const int runs = batch - run0 < ENC_PROJ_RUNS ? batch - run0 : ENC_PROJ_RUNS;
    float acc[ENC_PROJ_RUNS];
    for (int r = 0; r < ENC_PROJ_RUNS; ++r) {
        acc[r] = bias[d];
    }
    const float *xr = x + (size_t)run0 * features;
    for (int j = 0; j < features; ++j) {
        const float wj = wt[(size_t)j * d_model + d];
        for (int r = 0; r < ENC_PROJ_RUNS; ++r) {
            if (r < runs) {
                acc[r] = fmaf(wj, xr[(size_t)r * features + j], acc[r]);
            }
        }
    }
    for (int r = 0; r < runs; ++r) {
        out[(size_t)(run0 + r) * d_model + d] = acc[r];
    }
}
