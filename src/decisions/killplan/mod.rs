//! Kill plans: which arms of a sweep to stop, given where each is forecast to end.
//!
//! # What is estimated
//!
//! For each arm, `p_top_k`: the probability that it finishes among the `k` best when every arm
//! ends at a value drawn independently from its forecast distribution at the sweep's end step.
//! `k` comes from the policy; for [`Policy::StopFraction`] it is the number of arms kept.
//!
//! # How
//!
//! `S` joint samples (default [`DEFAULT_SAMPLES`]) draw one value per arm by inverse CDF, and
//! the `k` largest values of each sample are counted, so the `p_top_k` sum to `k` (up to the
//! rounding of `count / S`). The sampler is seeded from [`PlanOptions::seed`], so the same input
//! gives bit-identical output; `sampler` says how it is made cheap.
//!
//! # Decisions
//!
//! - [`Policy::KeepTopK`] keeps the `k` arms with the highest `p_top_k` and stops the rest.
//! - [`Policy::StopFraction`] stops `floor(fraction * N)` arms with the lowest `p_top_k` and
//!   keeps `k = N - floor(fraction * N)`.
//! - [`Policy::StopBelowProbability`] stops every arm whose `p_top_k < threshold`.
//! - [`Policy::StopWithinBudget`] stops arms from the least likely up, while the sum of their
//!   `p_top_k` stays within `budget`: by linearity of expectation that sum is the expected
//!   number of true top-`k` arms the decision stops, whatever the dependence between arms.
//!
//! No policy stops any of the `k` arms most likely to finish in the top `k`: when forecasts are
//! close and uncertain every `p_top_k` can fall below a threshold (they sum to `k` over all
//! arms), and stopping them all would stop the best.
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

mod sampler;

use sampler::top_k_from;

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::decisions::distribution::QuantileDistribution;
use crate::decisions::metric::Metric;
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
    /// The metric the arms' forecasts and last values were mapped from: they are in the
    /// model's space (higher is better), and the plan reports in the metric's units.
    #[serde(default)]
    pub metric: Metric,
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
            metric: Metric::ACCURACY,
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
    /// The `k` the policy asked for: larger than `k` when [`plan_capped`] capped it at the arms
    /// there were (0 when no arm could be planned).
    #[serde(default)]
    pub k_requested: usize,
    pub decisions: Vec<ArmDecision>,
}

impl Policy {
    /// The `k` this policy asks for among `n` arms (for the fraction policy, the arms it keeps).
    pub fn requested_k(&self, n: usize) -> usize {
        match *self {
            Policy::KeepTopK { k }
            | Policy::StopBelowProbability { k, .. }
            | Policy::StopWithinBudget { k, .. } => k,
            // Saturating: a fraction outside [0, 1) is refused by `plan`, with its message.
            Policy::StopFraction { fraction } => {
                n.saturating_sub((fraction * n as f64).floor() as usize)
            }
        }
    }

    /// The policy with its `k` capped at `n` arms.
    pub fn capped(self, n: usize) -> Policy {
        match self {
            Policy::KeepTopK { k } => Policy::KeepTopK { k: k.min(n) },
            Policy::StopBelowProbability { k, threshold } => Policy::StopBelowProbability {
                k: k.min(n),
                threshold,
            },
            Policy::StopWithinBudget { k, budget } => Policy::StopWithinBudget {
                k: k.min(n),
                budget,
            },
            p @ Policy::StopFraction { .. } => p,
        }
    }
}

/// Why an arm with `has` points is kept outside a plan that judges arms from `need` points.
pub fn needs_points(need: usize, has: usize) -> String {
    format!(
        "needs {need} point{} to be judged, has {has}",
        if need == 1 { "" } else { "s" }
    )
}

/// [`plan`] with the policy's `k` capped at the arms given, instead of refused: a sweep whose
/// arms were stopped or finished below `k` still gets a plan. Every reason states the cap when
/// there was one, and [`Plan::k_requested`] keeps the `k` asked for.
pub fn plan_capped(arms: &[Arm], options: &PlanOptions) -> Result<Plan> {
    let n = arms.len();
    let k_requested = options.policy.requested_k(n);
    let capped = PlanOptions {
        policy: options.policy.capped(n),
        ..options.clone()
    };
    let mut plan = plan(arms, &capped)?;
    plan.policy = options.policy;
    plan.k_requested = k_requested;
    if plan.k < k_requested {
        for d in &mut plan.decisions {
            d.reason.push_str(&format!(
                " (k capped at {}: {n} arms can still win)",
                plan.k
            ));
        }
    }
    Ok(plan)
}

/// Plans which arms to stop (see the module docs). The arms' forecasts and last values are in
/// the model's space of `options.metric` (higher is better); the plan's medians, intervals and
/// reasons are in the metric's own units.
pub fn plan(arms: &[Arm], options: &PlanOptions) -> Result<Plan> {
    let metric = options.metric;
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
    // The k likeliest are kept by every policy: a policy decides about the others.
    let mut keep = vec![false; n];
    for &a in &by_chance[..k] {
        keep[a] = true;
    }
    match options.policy {
        Policy::KeepTopK { .. } | Policy::StopFraction { .. } => {}
        Policy::StopWithinBudget { budget, .. } => {
            keep.fill(true);
            let mut spent = 0.0;
            // Least likely first, up to the k likeliest.
            for &a in by_chance[k..].iter().rev() {
                if spent + p[a] > budget {
                    break;
                }
                spent += p[a];
                keep[a] = false;
            }
        }
        Policy::StopBelowProbability { threshold, .. } => {
            for &a in &by_chance[k..] {
                keep[a] = p[a] >= threshold;
            }
        }
    }

    let mut sorted_medians = medians.clone();
    sorted_medians.sort_by(|a, b| b.total_cmp(a));
    let kth_best = sorted_medians[k - 1];
    let minimum = options.min_observations.unwrap_or(0);
    let user = |v: f64| metric.to_user(v);
    let kth_best = user(kth_best);
    let decisions = arms
        .iter()
        .enumerate()
        .map(|(a, arm)| {
            let (lo, hi) = (arm.forecast.quantile(0.1), arm.forecast.quantile(0.9));
            let (q10, q90) = if metric.reverses() {
                (user(hi), user(lo))
            } else {
                (user(lo), user(hi))
            };
            let median = user(medians[a]);
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
                    policy_clause(options.policy, keep[a], k, by_chance[..k].contains(&a)),
                    median,
                    user(arm.last_value),
                    ordinal(k),
                )
            };
            ArmDecision {
                id: arm.id.clone(),
                keep: keep[a] || protected,
                p_top_k: p[a],
                median,
                q10,
                q90,
                reason,
            }
        })
        .collect();
    Ok(Plan {
        policy: options.policy,
        k,
        k_requested: k,
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

/// The part of a reason that says which rule of the policy applied; `likeliest` says the arm
/// is among the k most likely to finish in the top k, which every policy keeps.
fn policy_clause(policy: Policy, keep: bool, k: usize, likeliest: bool) -> String {
    match (policy, keep) {
        (Policy::StopBelowProbability { .. } | Policy::StopWithinBudget { .. }, true)
            if likeliest =>
        {
            format!(", among the {k} likeliest")
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn dist(median: f64, half_width: f64) -> QuantileDistribution {
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
    fn top_k_probabilities_match_the_exact_answer_for_two_arms() {
        // For two arms P(top 1) = P(A > B), which the ranking computes exactly on a fine grid.
        let dists = vec![dist(0.50, 0.05), dist(0.52, 0.08)];
        let exact = crate::decisions::ranking::rank(&dists, 2000)
            .unwrap()
            .prob_above[0][1]
            .unwrap();
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
            assert!(spent + kept_min > budget || stopped.len() + 3 == p.decisions.len());
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
        let mut chances: Vec<f64> = p.decisions.iter().map(|d| d.p_top_k).collect();
        chances.sort_by(|a, b| b.total_cmp(a));
        for d in &p.decisions {
            // The 3 likeliest are kept whatever their chance; the threshold decides the rest.
            assert_eq!(
                d.keep,
                d.p_top_k >= 0.05 || d.p_top_k >= chances[2],
                "{d:?}"
            );
        }
        assert!(p.decisions[0].keep && !p.decisions[5].keep);
        let f = &p.decisions[5].reason;
        assert!(f.contains(", below the threshold 5.0%;"), "{f}");
        // Arm a is among the 3 likeliest, which every policy keeps.
        let a = &p.decisions[0].reason;
        assert!(a.contains(", among the 3 likeliest;"), "{a}");
        // Below the k likeliest, the threshold decides: at k = 2 arm e (0.74, the third
        // likeliest) has a real chance and a low threshold keeps it by that rule.
        let low = Policy::StopBelowProbability {
            k: 2,
            threshold: 1e-9,
        };
        let p = plan(&sweep(), &opts(low)).unwrap();
        let e = &p.decisions[4];
        assert!(e.keep && e.p_top_k >= 1e-9, "{e:?}");
        assert!(
            e.reason.contains(", at least the threshold"),
            "{}",
            e.reason
        );
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

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 64, ..proptest::prelude::ProptestConfig::default()
        })]

        /// Whatever the sweep, the policy and its numbers, the k arms most likely to finish in
        /// the top k are kept.
        #[test]
        fn no_policy_stops_the_k_likeliest(
            arms in proptest::collection::vec((0.0f64..1.0, 0.0f64..0.3), 1..24),
            policy in 0usize..4,
            k in 1usize..8,
            threshold in 0.0f64..=1.0,
            budget in 0.0f64..0.999,
            fraction in 0.0f64..0.999,
            seed in 0u64..1000,
        ) {
            let arms: Vec<Arm> = arms
                .iter()
                .enumerate()
                .map(|(i, &(median, spread))| {
                    let lo = (median - spread).max(0.0);
                    let hi = (median + spread).min(1.0);
                    Arm {
                        id: format!("arm-{i}"),
                        forecast: QuantileDistribution::new(
                            vec![0.1, 0.5, 0.9],
                            vec![lo, median, hi],
                        )
                        .unwrap(),
                        observations: 5,
                        last_value: lo,
                    }
                })
                .collect();
            let k = k.min(arms.len());
            let policy = [
                Policy::KeepTopK { k },
                Policy::StopFraction { fraction },
                Policy::StopBelowProbability { k, threshold },
                Policy::StopWithinBudget { k, budget },
            ][policy];
            let mut options = opts(policy);
            options.samples = 500;
            options.seed = seed;
            let p = plan(&arms, &options).unwrap();
            // The k likeliest, ties broken as the plan breaks them (higher median, then index).
            let mut order: Vec<usize> = (0..arms.len()).collect();
            let d = &p.decisions;
            order.sort_by(|&a, &b| {
                d[b].p_top_k
                    .total_cmp(&d[a].p_top_k)
                    .then(d[b].median.total_cmp(&d[a].median))
                    .then(a.cmp(&b))
            });
            for &a in &order[..p.k] {
                proptest::prop_assert!(d[a].keep, "{:?} stopped, k = {}: {:?}", d[a], p.k, d);
            }
        }
    }
}
