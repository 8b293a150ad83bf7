//! Kill plans: which arms of a sweep to stop, given where each is forecast to end.
//!
//! # What is estimated
//!
//! For each arm, `p_top_k`: the probability that it finishes among the `k` best when every arm
//! ends at a value drawn independently from its forecast distribution at the sweep's end step.
//! `k` comes from the policy; for [`Policy::StopFraction`] it is the number of arms kept.
//!
//! # How (Monte Carlo, deterministic)
//!
//! `S` joint samples (default [`DEFAULT_SAMPLES`]) draw one value per arm by inverse CDF, and
//! the `k` largest values of each sample are counted. Each sample contributes exactly `k`
//! counts, so the `p_top_k` sum to `k` (up to the rounding of `count / S`). The generator is
//! [`SplitMix64`] seeded from [`PlanOptions::seed`], so the same input gives bit-identical
//! output (see the caveat on platforms in [`crate::distribution`]).
//!
//! Five choices keep this cheap. Measured in instructions (callgrind, 64 arms, 4000 samples,
//! the sweep of `benches/plan.rs`, neuneu at opt-level 3 without debug assertions), a plan
//! costs 7.5M for top-3, 7.0M for top-8 and 7.1M for a keep-half policy; before the two-sided
//! pruning below it was 7.3M, 8.4M and 15.3M, and before any pruning 14.4M, 15.3M and 17.3M.
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
//!
//! # Decisions
//!
//! - [`Policy::KeepTopK`] keeps the `k` arms with the highest `p_top_k` and stops the rest.
//! - [`Policy::StopFraction`] stops `floor(fraction * N)` arms with the lowest `p_top_k` and
//!   keeps `k = N - floor(fraction * N)`.
//! - [`Policy::StopBelowProbability`] stops every arm whose `p_top_k < threshold`.
//! - [`Policy::StopWithinBudget`] stops arms from the least likely up, while the sum of their
//!   `p_top_k` stays within `budget`: by linearity of expectation that sum is the expected
//!   number of true top-`k` arms the decision stops, whatever the dependence between arms. The
//!   likeliest arm is never stopped.
//!
//! Ties in `p_top_k` go to the higher forecast median, then to the earlier arm. After the policy
//! has decided, any arm with fewer than [`PlanOptions::min_observations`] observed points is
//! kept regardless (its forecast is not yet trusted), so a plan may stop fewer arms than the
//! policy alone would; it never stops more.
//!
//! Each decision carries a one-line reason with the numbers behind it, for example
//! `stop: 0.3% chance of reaching the top 3, not among the 3 likeliest; forecast 0.412 [0.398,
//! 0.425] (now 0.380) vs 3rd best 0.471`: the middle clause names the policy's rule (for
//! [`Policy::StopBelowProbability`], "below the threshold 5.0%"), the interval is the
//! forecast's [q0.1, q0.9], "now" the last observed value and "3rd best" the third highest
//! forecast median among all arms. Probabilities strictly between 0 and 0.05% print as
//! "<0.1%" (and near 1 as ">99.9%"), so a possibility is never shown as impossible. Arms kept
//! for having too few observations say only that: "keep: only 2 observations, fewer than the
//! minimum 3".

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::distribution::{QuantileDistribution, SplitMix64, inverse_normal_cdf};
use crate::error::Error;

/// Monte Carlo samples when the caller does not choose: the standard error of a `p_top_k`
/// is at most 0.8 percentage points (less with the antithetic pairs).
pub const DEFAULT_SAMPLES: usize = 4000;

/// The most Monte Carlo samples a plan takes. Memory does not grow with samples, time does
/// (linearly): a scheduler's typo of 1e9 must be an
/// error, not an hour-long stall. A million already resolves probabilities of 1e-6.
pub const MAX_SAMPLES: usize = 1_000_000;

/// The most arms a plan takes: the arm index must fit in a key's low bits beside 8 tie-break
/// bits.
pub const MAX_ARMS: usize = 1 << 24;

/// One arm of the sweep as the planner sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arm {
    /// The caller's name for the arm, echoed in the plan.
    pub id: String,
    /// Its forecast of the metric at the sweep's end step.
    pub forecast: QuantileDistribution,
    /// How many points of its curve have been observed.
    pub observations: usize,
    /// The metric at its last observed point.
    pub last_value: f64,
}

/// How to choose the arms to stop.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Policy {
    /// Keep the `k` arms most likely to finish in the top `k`.
    KeepTopK { k: usize },
    /// Stop `floor(fraction * N)` arms, the least likely to finish among those kept.
    StopFraction { fraction: f64 },
    /// Stop the arms with less than `threshold` chance of finishing in the top `k`.
    StopBelowProbability { k: usize, threshold: f64 },
    /// Stop the arms least likely to finish in the top `k`, as many as keep the sum of their
    /// `p_top_k` (the expected number of top-`k` arms among those stopped) within `budget`,
    /// in [0, 1). Unlike a per-arm threshold, this bounds the risk of the whole decision, which
    /// matters in wide sweeps: 600 arms at 0.1% each still hold 0.6 expected top places.
    StopWithinBudget { k: usize, budget: f64 },
}

/// A policy and the knobs of its estimate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanOptions {
    pub policy: Policy,
    /// Arms with fewer observed points are always kept.
    #[serde(default)]
    pub min_observations: Option<usize>,
    /// Monte Carlo samples; at least 1.
    #[serde(default = "default_samples")]
    pub samples: usize,
    /// Seed of the Monte Carlo generator.
    #[serde(default)]
    pub seed: u64,
}

fn default_samples() -> usize {
    DEFAULT_SAMPLES
}

impl PlanOptions {
    /// `policy` with no minimum, [`DEFAULT_SAMPLES`] samples and seed 0.
    pub fn new(policy: Policy) -> Self {
        PlanOptions {
            policy,
            min_observations: None,
            samples: DEFAULT_SAMPLES,
            seed: 0,
        }
    }
}

/// What the plan says about one arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmDecision {
    pub id: String,
    pub keep: bool,
    /// Probability of finishing in the top [`Plan::k`].
    pub p_top_k: f64,
    /// The forecast's median and 0.1 and 0.9 quantiles at the end step.
    pub median: f64,
    pub q10: f64,
    pub q90: f64,
    /// One line a person can read, with the numbers behind the decision.
    pub reason: String,
}

/// A kill plan: one decision per arm, in the order of the input arms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub policy: Policy,
    /// The `k` of `p_top_k`.
    pub k: usize,
    pub decisions: Vec<ArmDecision>,
}

/// Plans which arms to stop (see the module docs).
pub fn plan(arms: &[Arm], options: &PlanOptions) -> Result<Plan> {
    let n = arms.len();
    if n == 0 {
        return Err(Error::setting("arms", "no arms to plan"));
    }
    for arm in arms {
        if !arm.last_value.is_finite() {
            return Err(Error::invalid(
                &arm.id,
                "last_value",
                format!("{} is not a finite number", arm.last_value),
            ));
        }
    }
    let k = policy_k(options.policy, n)?;
    let dists: Vec<&QuantileDistribution> = arms.iter().map(|a| &a.forecast).collect();
    let p = top_k_from(&dists, k, options.samples, options.seed)?;
    let medians: Vec<f64> = dists.iter().map(|d| d.median()).collect();

    // Best first: higher p_top_k, then higher median, then earlier arm.
    let mut by_chance: Vec<usize> = (0..n).collect();
    by_chance.sort_by(|&a, &b| {
        p[b].total_cmp(&p[a])
            .then(medians[b].total_cmp(&medians[a]))
            .then(a.cmp(&b))
    });
    let mut keep = vec![false; n];
    match options.policy {
        Policy::KeepTopK { .. } | Policy::StopFraction { .. } => {
            for &a in &by_chance[..k] {
                keep[a] = true;
            }
        }
        Policy::StopWithinBudget { budget, .. } => {
            keep.fill(true);
            let mut spent = 0.0;
            // Least likely first; the likeliest arm is never stopped.
            for &a in by_chance[1..].iter().rev() {
                if spent + p[a] > budget {
                    break;
                }
                spent += p[a];
                keep[a] = false;
            }
        }
        Policy::StopBelowProbability { threshold, .. } => {
            for a in 0..n {
                keep[a] = p[a] >= threshold;
            }
        }
    }

    let mut sorted_medians = medians.clone();
    sorted_medians.sort_by(|a, b| b.total_cmp(a));
    let kth_best = sorted_medians[k - 1];
    let minimum = options.min_observations.unwrap_or(0);
    let decisions = arms
        .iter()
        .enumerate()
        .map(|(a, arm)| {
            let (q10, q90) = (arm.forecast.quantile(0.1), arm.forecast.quantile(0.9));
            let protected = arm.observations < minimum;
            let reason = if protected {
                format!(
                    "keep: only {} observation{}, fewer than the minimum {minimum}",
                    arm.observations,
                    if arm.observations == 1 { "" } else { "s" }
                )
            } else {
                format!(
                    "{}: {} chance of reaching the top {k}{}; forecast {:.3} [{q10:.3}, {q90:.3}] \
                     (now {:.3}) vs {} best {kth_best:.3}",
                    if keep[a] { "keep" } else { "stop" },
                    percent(p[a]),
                    policy_clause(options.policy, keep[a], k),
                    medians[a],
                    arm.last_value,
                    ordinal(k),
                )
            };
            ArmDecision {
                id: arm.id.clone(),
                keep: keep[a] || protected,
                p_top_k: p[a],
                median: medians[a],
                q10,
                q90,
                reason,
            }
        })
        .collect();
    Ok(Plan {
        policy: options.policy,
        k,
        decisions,
    })
}

/// `P(arm finishes in the top k)` for each distribution, by the seeded Monte Carlo of the
/// module docs.
pub fn top_k_probabilities(
    dists: &[QuantileDistribution],
    k: usize,
    samples: usize,
    seed: u64,
) -> Result<Vec<f64>> {
    let refs: Vec<&QuantileDistribution> = dists.iter().collect();
    if refs.is_empty() {
        return Err(Error::setting("arms", "no arms to rank"));
    }
    if k == 0 || k > refs.len() {
        return Err(Error::setting(
            "k",
            format!(
                "{k} is not between 1 and the number of arms ({})",
                refs.len()
            ),
        ));
    }
    top_k_from(&refs, k, samples, seed)
}

/// Checks the policy against `n` arms and returns its `k`.
fn policy_k(policy: Policy, n: usize) -> Result<usize> {
    let check_k = |k: usize| {
        if k == 0 || k > n {
            Err(Error::setting(
                "policy.k",
                format!("{k} is not between 1 and the number of arms ({n})"),
            ))
        } else {
            Ok(k)
        }
    };
    match policy {
        Policy::KeepTopK { k } => check_k(k),
        Policy::StopFraction { fraction } => {
            if !(0.0..1.0).contains(&fraction) {
                return Err(Error::setting(
                    "policy.fraction",
                    format!("{fraction} is not in [0, 1)"),
                ));
            }
            // fraction < 1 so at least one arm is kept.
            Ok(n - (fraction * n as f64).floor() as usize)
        }
        Policy::StopBelowProbability { k, threshold } => {
            if !(0.0..=1.0).contains(&threshold) {
                return Err(Error::setting(
                    "policy.threshold",
                    format!("{threshold} is not in [0, 1]"),
                ));
            }
            check_k(k)
        }
        Policy::StopWithinBudget { k, budget } => {
            if !(0.0..1.0).contains(&budget) {
                return Err(Error::setting(
                    "policy.budget",
                    format!("{budget} is not in [0, 1)"),
                ));
            }
            check_k(k)
        }
    }
}

/// The part of a reason that says which rule of the policy applied.
fn policy_clause(policy: Policy, keep: bool, k: usize) -> String {
    match (policy, keep) {
        (Policy::StopBelowProbability { threshold, .. }, true) => {
            format!(", at least the threshold {}", percent(threshold))
        }
        (Policy::StopBelowProbability { threshold, .. }, false) => {
            format!(", below the threshold {}", percent(threshold))
        }
        (Policy::StopWithinBudget { budget, .. }, true) => {
            format!(", stopping it would exceed the budget of {budget} expected top-{k} arms lost")
        }
        (Policy::StopWithinBudget { budget, .. }, false) => {
            format!(
                ", among the least likely, within the budget of {budget} expected top-{k} arms lost"
            )
        }
        (_, true) => format!(", among the {k} likeliest"),
        (_, false) => format!(", not among the {k} likeliest"),
    }
}

/// A probability as a percentage with one decimal, never rounding a possibility to 0% or 100%.
fn percent(p: f64) -> String {
    if p > 0.0 && p < 0.0005 {
        "<0.1%".into()
    } else if p < 1.0 && p > 0.9995 {
        ">99.9%".into()
    } else {
        format!("{:.1}%", 100.0 * p)
    }
}

/// "1st", "2nd", "3rd", "4th", "11th", "21st", ...
fn ordinal(k: usize) -> String {
    let suffix = match (k % 10, k % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{k}{suffix}")
}

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

fn top_k_from(
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
    use super::*;

    fn dist(median: f64, half_width: f64) -> QuantileDistribution {
        let h = half_width;
        QuantileDistribution::new(
            vec![0.1, 0.25, 0.5, 0.75, 0.9],
            vec![
                median - h,
                median - h / 2.5,
                median,
                median + h / 2.5,
                median + h,
            ],
        )
        .unwrap()
    }

    fn arm(id: &str, median: f64, half_width: f64, observations: usize) -> Arm {
        Arm {
            id: id.into(),
            forecast: dist(median, half_width),
            observations,
            last_value: median - 0.05,
        }
    }

    /// Six arms: two clear leaders, a contender, three clear losers.
    fn sweep() -> Vec<Arm> {
        vec![
            arm("a", 0.80, 0.02, 10),
            arm("b", 0.50, 0.02, 10),
            arm("c", 0.78, 0.03, 10),
            arm("d", 0.45, 0.05, 10),
            arm("e", 0.74, 0.05, 10),
            arm("f", 0.30, 0.02, 10),
        ]
    }

    fn opts(policy: Policy) -> PlanOptions {
        PlanOptions::new(policy)
    }

    #[test]
    fn top_k_probabilities_are_probabilities_summing_to_k() {
        let dists: Vec<_> = sweep().into_iter().map(|a| a.forecast).collect();
        for k in 1..=dists.len() {
            for samples in [1, 7, 1000] {
                let p = top_k_probabilities(&dists, k, samples, 3).unwrap();
                assert!(p.iter().all(|&x| (0.0..=1.0).contains(&x)), "{p:?}");
                let sum: f64 = p.iter().sum();
                assert!(
                    (sum - k as f64).abs() < 1e-9,
                    "k {k} samples {samples}: {sum}"
                );
            }
        }
    }

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

    #[test]
    fn top_k_probabilities_match_the_exact_answer_for_two_arms() {
        // For two arms P(top 1) = P(A > B), which the ranking computes exactly on a fine grid.
        let dists = vec![dist(0.50, 0.05), dist(0.52, 0.08)];
        let exact = crate::ranking::rank(&dists, 2000).unwrap().prob_above[0][1].unwrap();
        let p = top_k_probabilities(&dists, 1, 20_000, 1).unwrap();
        assert!((p[0] - exact).abs() < 0.01, "{} vs {exact}", p[0]);
        // k > n / 2 takes the flipped path; with two arms and k = 1 it does not, so check a
        // three-arm top 2 against the complement of the bottom 1 as well.
        let three = vec![dist(0.50, 0.05), dist(0.52, 0.08), dist(0.2, 0.01)];
        let p2 = top_k_probabilities(&three, 2, 4000, 1).unwrap();
        assert!(p2[0] > 0.999 && p2[1] > 0.999 && p2[2] < 0.001, "{p2:?}");
    }

    #[test]
    fn identical_arms_share_the_top_evenly() {
        let dists = vec![dist(0.5, 0.05); 4];
        let p = top_k_probabilities(&dists, 1, 40_000, 9).unwrap();
        for x in &p {
            assert!((x - 0.25).abs() < 0.015, "{p:?}");
        }
        // Point masses tie on every sample: the random tie-break still shares evenly.
        let point = QuantileDistribution::new(vec![0.5], vec![1.0]).unwrap();
        let p = top_k_probabilities(&[point.clone(), point], 1, 4000, 9).unwrap();
        assert!((p[0] - 0.5).abs() < 0.05, "{p:?}");
    }

    #[test]
    fn plans_are_deterministic() {
        let arms = sweep();
        let o = opts(Policy::KeepTopK { k: 2 });
        let a = plan(&arms, &o).unwrap();
        let b = plan(&arms, &o).unwrap();
        assert_eq!(a, b);
        for (x, y) in a.decisions.iter().zip(&b.decisions) {
            assert_eq!(x.p_top_k.to_bits(), y.p_top_k.to_bits());
        }
        let other = plan(&arms, &PlanOptions { seed: 1, ..o }).unwrap();
        assert_ne!(
            a.decisions.iter().map(|d| d.p_top_k).collect::<Vec<_>>(),
            other
                .decisions
                .iter()
                .map(|d| d.p_top_k)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn keep_top_k_keeps_the_k_likeliest() {
        let p = plan(&sweep(), &opts(Policy::KeepTopK { k: 2 })).unwrap();
        assert_eq!(p.k, 2);
        let kept: Vec<&str> = p
            .decisions
            .iter()
            .filter(|d| d.keep)
            .map(|d| d.id.as_str())
            .collect();
        assert_eq!(kept, vec!["a", "c"]);
        let min_kept = p.decisions.iter().filter(|d| d.keep).map(|d| d.p_top_k);
        let max_stopped = p.decisions.iter().filter(|d| !d.keep).map(|d| d.p_top_k);
        assert!(min_kept.fold(1.0, f64::min) >= max_stopped.fold(0.0, f64::max));
        let f = &p.decisions[5];
        assert!(f.p_top_k < 0.001 && !f.keep);
    }

    #[test]
    fn stop_fraction_stops_the_floor_of_the_fraction() {
        let p = plan(&sweep(), &opts(Policy::StopFraction { fraction: 0.4 })).unwrap();
        // floor(0.4 * 6) = 2 stopped, k = 4 kept.
        assert_eq!(p.k, 4);
        let stopped: Vec<&str> = p
            .decisions
            .iter()
            .filter(|d| !d.keep)
            .map(|d| d.id.as_str())
            .collect();
        assert_eq!(stopped, vec!["d", "f"]);
        let none = plan(&sweep(), &opts(Policy::StopFraction { fraction: 0.0 })).unwrap();
        assert!(none.decisions.iter().all(|d| d.keep && d.p_top_k == 1.0));
    }

    #[test]
    fn stop_within_budget_stops_the_least_likely_within_the_budget() {
        for budget in [0.0, 0.05, 0.3, 0.9] {
            let policy = Policy::StopWithinBudget { k: 3, budget };
            let p = plan(&sweep(), &opts(policy)).unwrap();
            let stopped: Vec<&ArmDecision> = p.decisions.iter().filter(|d| !d.keep).collect();
            let spent: f64 = stopped.iter().map(|d| d.p_top_k).sum();
            assert!(spent <= budget, "budget {budget}: spent {spent}");
            // Every stopped arm is less likely than every kept one, and the next kept arm
            // would have broken the budget.
            let kept_min = p
                .decisions
                .iter()
                .filter(|d| d.keep)
                .map(|d| d.p_top_k)
                .fold(f64::INFINITY, f64::min);
            for d in &stopped {
                assert!(d.p_top_k <= kept_min, "{d:?}");
                assert!(
                    d.reason
                        .contains(&format!("within the budget of {budget} expected top-3")),
                    "{}",
                    d.reason
                );
            }
            assert!(spent + kept_min > budget || stopped.len() + 1 == p.decisions.len());
            assert!(p.decisions.iter().any(|d| d.keep));
        }
        // A wider budget stops more: at k = 2 arm e (0.74) has a real chance, and only the wide
        // budget pays for it.
        let count = |budget| {
            let p = plan(&sweep(), &opts(Policy::StopWithinBudget { k: 2, budget })).unwrap();
            p.decisions.iter().filter(|d| !d.keep).count()
        };
        assert!(count(0.9) > count(0.0));
        let bad =
            |budget| plan(&sweep(), &opts(Policy::StopWithinBudget { k: 3, budget })).is_err();
        assert!(bad(1.0) && bad(-0.1) && bad(f64::NAN));
        assert!(
            plan(
                &sweep(),
                &opts(Policy::StopWithinBudget { k: 0, budget: 0.1 })
            )
            .is_err()
        );
    }

    #[test]
    fn stop_below_probability_uses_the_threshold() {
        let policy = Policy::StopBelowProbability {
            k: 3,
            threshold: 0.05,
        };
        let p = plan(&sweep(), &opts(policy)).unwrap();
        for d in &p.decisions {
            assert_eq!(d.keep, d.p_top_k >= 0.05, "{d:?}");
        }
        assert!(p.decisions[0].keep && !p.decisions[5].keep);
        let f = &p.decisions[5].reason;
        assert!(f.contains(", below the threshold 5.0%;"), "{f}");
        let a = &p.decisions[0].reason;
        assert!(a.contains(", at least the threshold 5.0%;"), "{a}");
    }

    #[test]
    fn percent_never_rounds_a_possibility_away() {
        assert_eq!(percent(0.0), "0.0%");
        assert_eq!(percent(0.0002), "<0.1%");
        assert_eq!(percent(0.0031), "0.3%");
        assert_eq!(percent(0.86), "86.0%");
        assert_eq!(percent(0.9999), ">99.9%");
        assert_eq!(percent(1.0), "100.0%");
    }

    #[test]
    fn min_observations_protects_young_arms() {
        let mut arms = sweep();
        arms[5].observations = 2;
        let o = PlanOptions {
            min_observations: Some(3),
            ..opts(Policy::KeepTopK { k: 2 })
        };
        let p = plan(&arms, &o).unwrap();
        let f = &p.decisions[5];
        assert!(f.keep);
        assert_eq!(
            f.reason,
            "keep: only 2 observations, fewer than the minimum 3"
        );
        // Arms at the minimum are not protected.
        assert!(!p.decisions[3].keep);
    }

    #[test]
    fn reasons_carry_the_numbers() {
        let p = plan(&sweep(), &opts(Policy::KeepTopK { k: 3 })).unwrap();
        let f = &p.decisions[5];
        assert!(f.reason.starts_with("stop: "), "{}", f.reason);
        assert!(
            f.reason.contains("top 3, not among the 3 likeliest;"),
            "{}",
            f.reason
        );
        assert!(
            f.reason.contains("forecast 0.300 [0.280, 0.320]"),
            "{}",
            f.reason
        );
        assert!(f.reason.contains("(now 0.250)"), "{}", f.reason);
        // The third highest median is e's 0.74.
        assert!(f.reason.contains("vs 3rd best 0.740"), "{}", f.reason);
        let a = &p.decisions[0];
        assert!(a.reason.starts_with("keep: "), "{}", a.reason);
        assert!(a.reason.contains(&percent(a.p_top_k)), "{}", a.reason);
        assert!((a.q10 - 0.78).abs() < 1e-12 && (a.q90 - 0.82).abs() < 1e-12);
    }

    #[test]
    fn bad_input_is_an_error() {
        let arms = sweep();
        let bad = |arms: &[Arm], policy| plan(arms, &opts(policy)).is_err();
        assert!(bad(&[], Policy::KeepTopK { k: 1 }));
        assert!(bad(&arms, Policy::KeepTopK { k: 0 }));
        assert!(bad(&arms, Policy::KeepTopK { k: 7 }));
        assert!(bad(&arms, Policy::StopFraction { fraction: 1.0 }));
        assert!(bad(&arms, Policy::StopFraction { fraction: -0.1 }));
        assert!(bad(&arms, Policy::StopFraction { fraction: f64::NAN }));
        let threshold = |threshold| Policy::StopBelowProbability { k: 2, threshold };
        assert!(bad(&arms, threshold(f64::NAN)));
        assert!(bad(&arms, threshold(1.5)));
        assert!(bad(
            &arms,
            Policy::StopBelowProbability {
                k: 0,
                threshold: 0.1
            }
        ));
        let mut nan = sweep();
        nan[2].last_value = f64::NAN;
        assert!(bad(&nan, Policy::KeepTopK { k: 1 }));
        let zero = PlanOptions {
            samples: 0,
            ..opts(Policy::KeepTopK { k: 1 })
        };
        assert!(plan(&arms, &zero).is_err());
        let huge = PlanOptions {
            samples: 1_000_000_000,
            ..opts(Policy::KeepTopK { k: 1 })
        };
        assert!(matches!(
            plan(&arms, &huge),
            Err(Error::InvalidSetting {
                field: "samples",
                ..
            })
        ));
    }

    #[test]
    fn options_deserialize_with_defaults() {
        let json = r#"{"policy":{"kind":"stop_below_probability","k":3,"threshold":0.05}}"#;
        let o: PlanOptions = serde_json::from_str(json).unwrap();
        assert_eq!(
            o,
            opts(Policy::StopBelowProbability {
                k: 3,
                threshold: 0.05
            })
        );
        let arm: Arm = serde_json::from_str(
            r#"{"id":"x","forecast":{"levels":[0.1,0.5,0.9],"values":[0.3,0.4,0.5]},
                "observations":4,"last_value":0.35}"#,
        )
        .unwrap();
        assert_eq!(arm.observations, 4);
    }

    #[test]
    fn ordinals_read_naturally() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101].map(ordinal).to_vec();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st"
            ]
        );
    }
}
