//! The Monte Carlo behind a plan's `p_top_k` (deterministic).
//!
//! `S` joint samples (default `DEFAULT_SAMPLES`) draw one value per arm by inverse CDF, and
//! the `k` largest values of each sample are counted. Each sample contributes exactly `k`
//! counts, so the `p_top_k` sum to `k` (up to the rounding of `count / S`). The generator is
//! `SplitMix64` seeded from `PlanOptions::seed`, so the same input gives bit-identical
//! output (see the caveat on platforms in [`crate::decisions::distribution`]).
//!
//! Five choices keep this cheap. Measured in instructions (callgrind, 64 arms, 4000 samples,
//! the sweep of `benches/plan.rs`, neuneu at opt-level 3 without debug assertions), a plan
//! costs 7.5M for top-3, 7.0M for top-8 and 7.1M for a keep-half policy.
//! Wall time is in `benches/README.md`.
//!
//! - Antithetic pairs: sample `2t + 1` uses `1 - u` wherever sample `2t` used `u`. An arm high
//!   in one sample is low in its twin, which cancels much of the noise from the arm's own
//!   draw, the main source of variance in its `p_top_k`. Uniforms have 32 bits, so one random
//!   `u64` serves four draws of an arm.
//! - A tabulated inverse CDF: each arm's `Q` is tabulated at `u = j / 256` in 32-bit fixed
//!   point, and a draw interpolates linearly between knots in integer arithmetic. `Q` is itself
//!   linear between the forecast's levels, so this is exact there, apart from the few strata
//!   that straddle a level; in the normal tails the interpolation error is far below the Monte
//!   Carlo error. The outermost stratum at each end (u below 1/256 or above 255/256), where the
//!   tail curves sharply and small probabilities are decided, is computed from the
//!   distribution itself (with Acklam's `Phi^-1` unrefined, good to 1e-9).
//! - Blocks: 32 samples are drawn at a time, arm by arm, so each arm's 1 KiB table is hot in
//!   cache while it is used; the block is then scanned sample by sample. No allocation happens
//!   per sample.
//! - Pruning from both sides: the first 32 samples learn two thresholds on keys, the lowest
//!   and the highest `k`-th largest key they saw. Each arm then gets two cutoffs on its
//!   uniforms (binary searches over its draw, which is monotone within each tail stratum and
//!   within the tabulated ones): below the lower cutoff its key cannot reach the lower
//!   threshold, at or above the upper one its key is surely above the upper threshold. A
//!   branch-free pass (four uniforms per SSE2 compare on x86-64) marks both per block; only
//!   the samples between the cutoffs pay for a draw. An arm above the upper threshold is in
//!   the sample's top `k` as long as at most `k` keys are above it, so it is counted without
//!   a draw and the selection picks only the rest among the drawn keys; a sample with more
//!   than `k` keys above, or too few drawn keys at or above the lower threshold, selects
//!   among all keys instead. This only decides which keys are looked at, never which are
//!   selected: results are bit-identical without it (a test holds them to that).
//! - Integer keys: each draw becomes a `u64` whose high 32 bits are the value in fixed point
//!   (resolution 2.3e-10, far finer than the forecasts' `f32`; closer values count as tied)
//!   and whose low bits are random tie-break bits above the arm's index. Keys are unique, so
//!   selecting the `k` largest (insertion sort for a handful of keys, `select_nth_unstable`
//!   beyond) is exact, and arms with equal values (atoms at 0 or 1, flat quantiles) win ties
//!   with equal chance. When `k > N / 2` the sampler selects the `N - k` smallest instead,
//!   which only saves time.

use super::{MAX_ARMS, MAX_SAMPLES};
use crate::decisions::distribution::{QuantileDistribution, inverse_normal_cdf};
use crate::error::{Error, Result};
use crate::rng::SplitMix64;
use std::sync::OnceLock;

/// Strata of the tabulated inverse CDF; a power of two so that a draw's stratum is its
/// uniform's top bits.
const STRATA: usize = 256;
const STRATUM_BITS: u32 = STRATA.trailing_zeros();
/// Samples that learn the selection threshold before the filter is used.
const PILOT: usize = 32;
/// Samples drawn together; even, so antithetic twins share a block.
const BLOCK: usize = 32;
// A block's samples are the bits of one u32 mask.
const _: () = assert!(BLOCK == u32::BITS as usize);

/// `Phi^-1(j / STRATA)` for `j = 0..=STRATA`, shared by every arm's table.
fn knot_z() -> &'static [f64] {
    static Z: OnceLock<Vec<f64>> = OnceLock::new();
    Z.get_or_init(|| {
        (0..=STRATA)
            .map(|j| inverse_normal_cdf(j as f64 / STRATA as f64))
            .collect()
    })
}

pub(super) fn top_k_from(
    dists: &[&QuantileDistribution],
    k: usize,
    samples: usize,
    seed: u64,
) -> Result<Vec<f64>> {
    top_k_sampled(dists, k, samples, seed, true)
}

/// The Monte Carlo of the module docs; `prune` only chooses how the candidates of each sample
/// are found, never which ones, so both settings give bit-identical results (a test holds them
/// to it).
fn top_k_sampled(
    dists: &[&QuantileDistribution],
    k: usize,
    samples: usize,
    seed: u64,
    prune: bool,
) -> Result<Vec<f64>> {
    let n = dists.len();
    if samples == 0 {
        return Err(Error::setting("samples", "must be at least 1"));
    }
    if samples > MAX_SAMPLES {
        return Err(Error::setting(
            "samples",
            format!("{samples}; at most {MAX_SAMPLES} are supported"),
        ));
    }
    if n > MAX_ARMS {
        return Err(Error::setting(
            "arms",
            format!("{n} arms; at most {MAX_ARMS} are supported"),
        ));
    }
    if k == n {
        return Ok(vec![1.0; n]);
    }
    // Select whichever side is smaller: the top k, or the bottom n - k (by flipping the keys).
    let (pick, flip) = if 2 * k > n { (n - k, !0u64) } else { (k, 0) };

    let z = knot_z();
    let mut knots = Vec::with_capacity(n * (STRATA + 1));
    for d in dists {
        knots.extend(d.tabulate(z).map(to_fixed));
    }
    let tables: Vec<&[u32]> = knots.chunks_exact(STRATA + 1).collect();
    let index_bits = usize::BITS - (n - 1).leading_zeros();
    let index_mask = (1u64 << index_bits) - 1;
    let key = |a: usize, u: u32| {
        let tie = ((u as u64) >> index_bits) << index_bits;
        ((draw(dists[a], tables[a], u) << 32) | tie | a as u64) ^ flip
    };

    let mut rng = SplitMix64::new(seed);
    // A block's uniforms, arm-major as they are drawn (the order fixes which random bits each
    // draw gets), kept for the rare sample whose candidates fall short.
    let mut uniforms = vec![0u32; n * BLOCK];
    // Each sample's drawn candidate keys (`n` slots per sample) and their number.
    let mut candidates = vec![0u64; BLOCK * n];
    let mut counts = [0usize; BLOCK];
    // Per sample, how many arms were counted as surely above the upper threshold without a
    // draw, and per arm the block's samples where it was.
    let mut sure_counts = [0usize; BLOCK];
    let mut sure_masks = vec![0u32; n];
    let mut all_keys = vec![0u64; n];
    let mut picked = vec![0u64; n];
    let mut threshold = 0u64;
    let mut learned = u64::MAX;
    // Nothing is above `upper` until pruning has learned it, so unpruned runs never count a
    // key as sure.
    let mut upper = u64::MAX;
    let mut learned_upper = 0u64;
    // Per arm, a cutoff on its uniforms below which its key is surely under the threshold,
    // and one at or above which it is surely over the upper threshold (see `cutoffs`). Until
    // the pilot has learned both, every draw is a candidate and none is sure.
    let mut cutoff = vec![0u32; n];
    let mut sure: Option<Vec<u64>> = None;
    let flip_u32 = flip as u32;
    for start in (0..samples).step_by(BLOCK) {
        let len = BLOCK.min(samples - start);
        counts.fill(0);
        sure_counts.fill(0);
        // Whole random u64s per arm: each serves four samples (see below).
        let draws_per_arm = len.div_ceil(4);
        let in_block = if len == BLOCK {
            u32::MAX
        } else {
            (1u32 << len) - 1
        };
        for (a, arm_uniforms) in uniforms.chunks_exact_mut(BLOCK).enumerate() {
            // Two uniforms per random u64, each with its antithetic twin.
            for four in arm_uniforms.chunks_exact_mut(4).take(draws_per_arm) {
                let r = rng.next_u64();
                four.copy_from_slice(&[(r >> 32) as u32, !(r >> 32) as u32, r as u32, !r as u32]);
            }
            // Which samples' draws reach the arm's cutoff, and which pass its sure cutoff: a
            // branch-free pass; most arms are in either mask in few samples, and only the
            // samples between the two pay for a draw.
            let passing = mask_at_or_above(arm_uniforms, flip_u32, cutoff[a] as u64) & in_block;
            let sure_mask = match &sure {
                Some(sure) => mask_at_or_above(arm_uniforms, flip_u32, sure[a]) & passing,
                None => 0,
            };
            sure_masks[a] = sure_mask;
            let mut drawn = passing & !sure_mask;
            while drawn != 0 {
                let s = drawn.trailing_zeros() as usize;
                drawn &= drawn - 1;
                candidates[s * n + counts[s]] = key(a, arm_uniforms[s]);
                counts[s] += 1;
            }
            let mut sure_mask = sure_mask;
            while sure_mask != 0 {
                sure_counts[sure_mask.trailing_zeros() as usize] += 1;
                sure_mask &= sure_mask - 1;
            }
        }
        // Samples whose selection had to look at every key: their sure arms are counted there.
        let mut full = 0u32;
        for t in 0..len {
            // The `pick` largest keys are the sure ones (all above `upper`), then the largest
            // drawn ones; that holds while at most `pick` keys in all are above `upper`, and
            // needs enough drawn keys at or above the threshold. Otherwise select among all.
            let pool = &mut candidates[t * n..t * n + counts[t]];
            let mut passed = 0;
            let mut above = sure_counts[t];
            for i in 0..pool.len() {
                let key = pool[i];
                pool[passed] = key;
                passed += (key >= threshold) as usize;
                above += (key > upper) as usize;
            }
            let need = pick.saturating_sub(sure_counts[t]);
            let pool = if above <= pick && passed >= need {
                &mut pool[..passed]
            } else {
                full |= 1 << t;
                for (a, slot) in all_keys.iter_mut().enumerate() {
                    *slot = key(a, uniforms[a * BLOCK + t]);
                }
                &mut all_keys[..]
            };
            let need = if full & (1 << t) != 0 { pick } else { need };
            if need == 0 {
                continue;
            }
            let cut = pool.len() - need;
            select_largest(pool, cut);
            for &key in &pool[cut..] {
                picked[((key ^ flip) & index_mask) as usize] += 1;
            }
            // The pilot samples select among all keys (no threshold, nothing sure yet) and
            // learn both thresholds: the lowest and the highest `pick`-th largest key they saw.
            if start + t < PILOT {
                learned = learned.min(pool[cut]);
                learned_upper = learned_upper.max(pool[cut]);
                if start + t + 1 == PILOT {
                    threshold = learned;
                    if prune {
                        upper = learned_upper;
                        cutoff = cutoffs(dists, &tables, threshold, flip);
                        sure = Some(sure_cutoffs(dists, &tables, upper, flip));
                    }
                }
            }
        }
        let counted = in_block & !full;
        for (a, &mask) in sure_masks.iter().enumerate() {
            picked[a] += (mask & counted).count_ones() as u64;
        }
    }
    let total = samples as u64;
    Ok(picked
        .iter()
        .map(|&c| {
            let top = if flip == 0 { c } else { total - c };
            top as f64 / total as f64
        })
        .collect())
}

/// Pools at most this long are sorted by insertion instead of `select_nth_unstable`: after
/// the threshold filter most pools hold only a few keys more than `pick`, where the generic
/// selection's setup costs more than the sort (it was a third of a top-3 plan's time).
const INSERTION_POOL: usize = 16;

/// Moves the `pool.len() - cut` largest keys to `pool[cut..]`, with `pool[cut]` the smallest
/// of them. Keys are unique, so which keys end there never depends on the method.
#[inline]
fn select_largest(pool: &mut [u64], cut: usize) {
    if cut == 0 {
        // Everything is picked; the caller still reads pool[0] as the smallest.
        if let Some(i) = (0..pool.len()).min_by_key(|&i| pool[i]) {
            pool.swap(0, i);
        }
    } else if pool.len() <= INSERTION_POOL {
        for i in 1..pool.len() {
            let key = pool[i];
            let mut j = i;
            while j > 0 && pool[j - 1] > key {
                pool[j] = pool[j - 1];
                j -= 1;
            }
            pool[j] = key;
        }
    } else {
        pool.select_nth_unstable(cut);
    }
}

/// The first uniform in `[lo, hi)` at which the non-decreasing `past` holds (`hi` if none):
/// a binary search, as the draw is monotone in the uniform.
fn first_past(mut lo: u64, mut hi: u64, past: impl Fn(u64) -> bool) -> u64 {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if past(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// For each arm, a cutoff `c` such that every uniform `u` with `u ^ flip < c` (the low bits
/// of `flip`) gives a key below `threshold`, so the sampler can skip its draw. Unflipped keys
/// pass only from high values, i.e. high uniforms: `c` is the first uniform whose draw reaches
/// the threshold's value bits. Flipped keys pass only from low values: `c` is the complement of
/// the last uniform whose draw stays at or below the flipped threshold's value bits. Draws are
/// non-decreasing in the uniform, so a binary search finds either; a safety margin absorbs the
/// tiny non-monotonicity where the exact tail strata meet the tabulated ones (values a few
/// fixed-point units apart). Candidates past the cutoff are still compared with the threshold
/// key itself, so the margin only costs a few extra draws.
fn cutoffs(
    dists: &[&QuantileDistribution],
    tables: &[&[u32]],
    threshold: u64,
    flip: u64,
) -> Vec<u32> {
    const MARGIN: u64 = 1 << 20;
    let flipped = flip != 0;
    let value = (threshold ^ flip) >> 32;
    dists
        .iter()
        .zip(tables)
        .map(|(d, table)| {
            // The first uniform whose draw is past the boundary: at or above `value` when
            // unflipped, above it when flipped (2^32 if none is).
            let past = |u: u64| {
                let v = draw(d, table, u as u32);
                if flipped { v > value } else { v >= value }
            };
            let lo = first_past(0, 1 << 32, past);
            if flipped {
                // Uniforms up to lo - 1 (plus the margin) may pass: u <= cap, i.e. !u >= !cap.
                let cap = (lo + MARGIN).saturating_sub(1).min(u32::MAX as u64) as u32;
                !cap
            } else {
                lo.saturating_sub(MARGIN).min(u32::MAX as u64) as u32
            }
        })
        .collect()
}

/// The block's samples (bit `s` for sample `s`) whose uniform, flipped by `flip`, is at least
/// `cutoff` (`2^32` matches none). It runs for every arm of every block, so on x86-64 it
/// compares four uniforms per SSE2 instruction (part of the baseline target, no detection).
#[inline]
fn mask_at_or_above(uniforms: &[u32], flip: u32, cutoff: u64) -> u32 {
    debug_assert!(uniforms.len() <= BLOCK);
    match cutoff {
        0 => ((1u64 << uniforms.len()) - 1) as u32,
        c if c > u32::MAX as u64 => 0,
        c => above_threshold(uniforms, flip, (c - 1) as u32),
    }
}

/// Bits of the uniforms with `u ^ flip > threshold`.
#[cfg(target_arch = "x86_64")]
#[inline]
fn above_threshold(uniforms: &[u32], flip: u32, threshold: u32) -> u32 {
    use std::arch::x86_64::*;
    const SIGN: u32 = 1 << 31;
    let mut mask = 0u32;
    let chunks = uniforms.chunks_exact(4);
    let rest = chunks.remainder();
    // SAFETY: SSE2 is part of the x86-64 baseline; the loads are unaligned loads of four
    // u32 from a chunk of exactly four.
    unsafe {
        // Unsigned compare through the signed one: bias both sides by the sign bit.
        let bias = _mm_set1_epi32((flip ^ SIGN) as i32);
        let limit = _mm_set1_epi32((threshold ^ SIGN) as i32);
        for (i, four) in chunks.enumerate() {
            let v = _mm_xor_si128(_mm_loadu_si128(four.as_ptr().cast()), bias);
            let bits = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(v, limit))) as u32;
            mask |= bits << (4 * i);
        }
    }
    let done = uniforms.len() - rest.len();
    for (s, &u) in rest.iter().enumerate() {
        mask |= (((u ^ flip) > threshold) as u32) << (done + s);
    }
    mask
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn above_threshold(uniforms: &[u32], flip: u32, threshold: u32) -> u32 {
    let mut mask = 0u32;
    for (s, &u) in uniforms.iter().enumerate() {
        mask |= (((u ^ flip) > threshold) as u32) << s;
    }
    mask
}

/// For each arm, a cutoff `c` such that every uniform `u` with `u ^ flip >= c` (the low bits
/// of `flip`) gives a key above `upper`, so the sampler can count the arm as above without a
/// draw (`2^32`: no uniform does). Unflipped keys are above from values above `upper`'s value
/// bits, i.e. from high uniforms; flipped keys from values below the flipped value bits, i.e.
/// from low uniforms. Unlike `cutoffs` this must never err, so it needs no margin: a draw is
/// non-decreasing within each of its three regions (the exact lower tail stratum, the tabulated
/// strata, the exact upper tail stratum) and may step down only where they meet, so the region
/// holding the boundary is searched on its own.
fn sure_cutoffs(
    dists: &[&QuantileDistribution],
    tables: &[&[u32]],
    upper: u64,
    flip: u64,
) -> Vec<u64> {
    const FULL: u64 = 1 << 32;
    const STRATUM: u64 = FULL / STRATA as u64;
    // Where the draw's regions start.
    const REGIONS: [u64; 3] = [0, STRATUM, FULL - STRATUM];
    let flipped = flip != 0;
    dists
        .iter()
        .zip(tables)
        .map(|(d, table)| {
            let draw = |u: u64| draw(d, table, u as u32);
            // Most regions lie wholly on one side, which their two ends tell for two draws.
            let first = |lo: u64, hi: u64, past: &dyn Fn(u64) -> bool| {
                if past(lo) {
                    lo
                } else if !past(hi - 1) {
                    hi
                } else {
                    first_past(lo, hi, past)
                }
            };
            if flipped {
                // Sure while the value stays below `limit`: the longest prefix of uniforms
                // that does, scanning regions from the bottom; u <= last is !u >= !last.
                let limit = (upper ^ flip) >> 32;
                let mut end = 0;
                for (r, &start) in REGIONS.iter().enumerate() {
                    let stop = REGIONS.get(r + 1).copied().unwrap_or(FULL);
                    end = first(start, stop, &|u| draw(u) >= limit);
                    if end < stop {
                        break;
                    }
                }
                // Uniforms 0..end are sure; none when end is 0.
                if end == 0 {
                    FULL
                } else {
                    (!(end - 1) as u32) as u64
                }
            } else {
                // Sure from the first uniform whose value is above `upper`'s, scanning regions
                // from the top: the longest suffix of uniforms that are.
                let value = upper >> 32;
                let mut start_of_suffix = FULL;
                for (r, &start) in REGIONS.iter().enumerate().rev() {
                    let stop = REGIONS.get(r + 1).copied().unwrap_or(FULL);
                    let found = first(start, stop, &|u| draw(u) > value);
                    if found == stop {
                        break;
                    }
                    start_of_suffix = found;
                    if found > start {
                        break;
                    }
                }
                start_of_suffix
            }
        })
        .collect()
}

/// A value in [0, 1] as 32-bit fixed point (1 maps to `u32::MAX`, a hair below, to keep
/// the key's bits apart).
fn to_fixed(value: f64) -> u32 {
    // Float-to-int casts saturate, so 1.0 lands on u32::MAX.
    (value * 4_294_967_296.0) as u32
}

/// The fixed-point value of the draw whose uniform is `u / 2^32` (see the module docs), from
/// the arm's fixed-point knots. Integer interpolation: no float conversion on the hot path.
#[inline]
fn draw(dist: &QuantileDistribution, knots: &[u32], u: u32) -> u64 {
    const WITHIN_BITS: u32 = 32 - STRATUM_BITS;
    let stratum = (u >> WITHIN_BITS) as usize;
    if stratum == 0 || stratum == STRATA - 1 {
        return to_fixed(dist.quantile_for_sampling((u as f64 + 0.5) / 4_294_967_296.0)) as u64;
    }
    let within = (u & ((1 << WITHIN_BITS) - 1)) as u64;
    let (low, high) = (knots[stratum] as u64, knots[stratum + 1] as u64);
    low + (((high - low) * within) >> WITHIN_BITS)
}

#[cfg(test)]
mod tests {
    use super::super::tests::dist;
    use super::*;

    #[test]
    fn pruning_never_changes_a_count() {
        // A wide sweep with atoms at 0 and 1 (clamped tails) and flat quantiles beside the
        // ordinary arms, so cutoffs land in tails, on atoms and inside flat stretches.
        let mut dists: Vec<QuantileDistribution> = (0..40)
            .map(|i| {
                dist(
                    0.05 + 0.9 * ((i * 17) % 40) as f64 / 40.0,
                    0.002 + 0.01 * (i % 5) as f64,
                )
            })
            .collect();
        dists.push(QuantileDistribution::new(vec![0.1, 0.5, 0.9], vec![0.02, 0.5, 0.98]).unwrap());
        dists.push(QuantileDistribution::new(vec![0.1, 0.5, 0.9], vec![0.6, 0.6, 0.61]).unwrap());
        dists.push(QuantileDistribution::new(vec![0.5], vec![0.7]).unwrap());
        let refs: Vec<&QuantileDistribution> = dists.iter().collect();
        for k in [1, 2, 3, 8, 21, 22, 30, 42] {
            for seed in [0, 9] {
                let pruned = top_k_sampled(&refs, k, 1000, seed, true).unwrap();
                let full = top_k_sampled(&refs, k, 1000, seed, false).unwrap();
                assert_eq!(pruned, full, "k {k} seed {seed}");
            }
        }
        // The benchmark's sweep, where many arms are counted as surely above without a draw.
        let bench: Vec<QuantileDistribution> = (0..64)
            .map(|i| {
                dist(
                    0.3 + 0.6 * ((i * 37) % 64) as f64 / 64.0,
                    0.01 + 0.04 * ((i * 11) % 7) as f64 / 7.0,
                )
            })
            .collect();
        let refs: Vec<&QuantileDistribution> = bench.iter().collect();
        for k in [3, 8, 32, 33, 60] {
            let pruned = top_k_sampled(&refs, k, 4000, 1, true).unwrap();
            let full = top_k_sampled(&refs, k, 4000, 1, false).unwrap();
            assert_eq!(pruned, full, "bench sweep, k {k}");
        }
    }

    #[test]
    fn masks_match_a_plain_comparison() {
        let mut rng = SplitMix64::new(5);
        let mut uniforms = [0u32; BLOCK];
        for round in 0..2000 {
            for u in uniforms.iter_mut() {
                // Mostly random, sometimes the extremes, so both ends of the range are hit.
                *u = match rng.next_u64() % 8 {
                    0 => 0,
                    1 => u32::MAX,
                    _ => rng.next_u64() as u32,
                };
            }
            let flip = if round % 2 == 0 { 0 } else { u32::MAX };
            let cutoff = match round % 5 {
                0 => 0,
                1 => 1 << 32,
                2 => u32::MAX as u64,
                3 => 1,
                _ => rng.next_u64() >> 32,
            };
            for len in [BLOCK, 5] {
                let expected = uniforms[..len].iter().enumerate().fold(0u32, |m, (s, &u)| {
                    m | ((((u ^ flip) as u64) >= cutoff) as u32) << s
                });
                assert_eq!(
                    mask_at_or_above(&uniforms[..len], flip, cutoff),
                    expected,
                    "round {round} len {len} cutoff {cutoff}"
                );
            }
        }
    }
}
