//! Replaying kill decisions on finished sweeps (issue 5): would a pruner have stopped the right
//! runs, and how much compute would it have saved?
//!
//! # The protocol
//!
//! `tools/optuna_replay.py` implements the same protocol for Optuna's pruners; keep the two in
//! step, so that one table compares them.
//!
//! * Each (suite, shots, task) of a curve file is one sweep; each run in it is one arm, taken in
//!   run-id order (byte order of the id, as the reader sorts them).
//! * The curves are values of one metric (`ReplayOptions::metric`: an accuracy by default, or a
//!   loss, ...). "Best" follows its direction: the highest final accuracy, the lowest final
//!   loss. Pruners see the arms in the model's space, where higher is always better (`exp(-loss)`
//!   for a minimized loss, see [`crate::decisions::metric`]), so a pruner that keeps high values
//!   keeps low losses; regret is in the metric's own units. Below, "accuracy" stands for the
//!   metric and "best" for its direction.
//! * An arm's planned compute is the compute of its final checkpoint; its final accuracy is the
//!   accuracy there. Arms of one sweep may have different budgets.
//! * Rungs sit at fractions of each arm's *own* planned compute (default 0.2, 0.4, 0.6, 0.8). At
//!   rung `r` an alive arm has observed every checkpoint with `compute <= fraction * planned`
//!   (exact float comparison, on both sides); an arm with nothing new reports its latest value
//!   again. An arm that has observed no checkpoint yet cannot be judged: it is not shown to the
//!   pruner and stays alive.
//! * At each rung the pruner sees every alive, observed arm at once and says which to stop. A
//!   stopped arm spends no more compute: it has spent the compute of its last observed checkpoint.
//!   Survivors of the last rung run to their end and spend their planned compute.
//! * Per sweep: compute fraction = compute spent / sum of planned compute; regret = how much worse
//!   the best survivor's final is than the best arm's (best minus survivor when maximized,
//!   survivor minus best when minimized; if nothing survives, the sweep delivered nothing and is charged the
//!   metric's worst value, 0 for a maximized metric (and a minimized negated loss) and 1 for a
//!   minimized bounded one, so that an accuracy's regret is the best final accuracy; a minimized
//!   loss has no worst value and is charged its worst arm's final, as is a maximized negated
//!   loss); best survived = some arm with the
//!   best final accuracy survived; top-k recall = share of the true top k (by final accuracy, ties
//!   to the earlier run id; k capped at the arm count) that survived.
//! * Sweeps with fewer than `min_arms` arms (default 4) are skipped and counted as skipped. The
//!   summary averages each metric over the sweeps counted, every sweep weighing the same.
//!
//! A pruner sees the whole sweep at a rung (not one arm at a time) because a kill plan is made
//! over the whole sweep; [`SuccessiveHalving`] is the plain baseline.

mod plan_pruner;

pub use plan_pruner::PlanPruner;

use crate::curves::Curve;
use crate::curves::losses::CurveLosses;
use crate::decisions::metric::{Direction, Metric, MetricKind};
use crate::error::{Error, Result};
use crate::inference::forecast::CurvePrefix;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How a replay is run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayOptions {
    /// Rungs as fractions of each arm's planned compute, increasing, in (0, 1].
    pub rungs: Vec<f64>,
    /// The k of top-k recall.
    pub k: usize,
    /// Sweeps with fewer arms than this are skipped.
    pub min_arms: usize,
    /// The metric of the curves' values: which final is best, the units of regret, and how the
    /// arms are mapped into the model's space for the pruner.
    #[serde(default)]
    pub metric: Metric,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            rungs: vec![0.2, 0.4, 0.6, 0.8],
            k: 3,
            min_arms: 4,
            metric: Metric::ACCURACY,
        }
    }
}

impl ReplayOptions {
    fn validate(&self) -> Result<()> {
        let bad = |reason: &str| Err(Error::Parse(format!("replay options: {reason}")));
        if self.rungs.is_empty() {
            return bad("no rungs");
        }
        if self
            .rungs
            .iter()
            .any(|f| !(f.is_finite() && *f > 0.0 && *f <= 1.0))
        {
            return bad("every rung must be a fraction in (0, 1]");
        }
        if self.rungs.windows(2).any(|w| w[0] >= w[1]) {
            return bad("rungs must be strictly increasing");
        }
        if self.k == 0 {
            return bad("k must be at least 1");
        }
        Ok(())
    }
}

/// Where a sweep stands when the pruner is asked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rung {
    /// 0-based rung index.
    pub index: usize,
    /// How many rungs the replay has.
    pub count: usize,
    /// The rung's fraction of each arm's planned compute.
    pub fraction: f64,
    /// The largest planned compute of any arm in the sweep (alive or not): the sweep's end.
    pub sweep_end: f64,
    /// The curves' metric; the arms a pruner sees are in its model space (higher is better), and
    /// [`Metric::to_user`] gives a value back in the curves' units.
    pub metric: Metric,
}

/// One alive arm as a pruner sees it: what it has observed so far and where it is heading.
#[derive(Debug, Clone, Copy)]
pub struct ArmView<'a> {
    /// The run id.
    pub run: &'a str,
    /// Compute at each observed checkpoint, strictly increasing, never empty.
    pub steps: &'a [f64],
    /// The metric at each observed checkpoint, in the model's space of [`Rung::metric`]: higher
    /// is better, in [0, 1].
    pub accuracy: &'a [f64],
    /// The compute this arm would spend if run to its end.
    pub planned: f64,
    /// The token losses of its last observed checkpoint, where the replay was given them
    /// ([`replay_with_losses`]).
    pub losses: Option<&'a [f32]>,
}

impl<'a> ArmView<'a> {
    /// The latest observed value.
    pub fn last(&self) -> f64 {
        *self.accuracy.last().expect("an arm view is never empty")
    }

    /// The best value observed so far.
    pub fn best(&self) -> f64 {
        self.accuracy
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max)
    }

    /// The observed prefix as a forecaster takes it, forecasting at `targets` (for example
    /// `[self.planned]`).
    pub fn prefix(&self, targets: &'a [f64]) -> CurvePrefix<'a> {
        CurvePrefix {
            steps: self.steps,
            accuracy: self.accuracy,
            targets,
        }
    }
}

/// Decides, at a rung, which alive arms of a sweep to stop.
pub trait Pruner: Sync {
    /// A short name for reports.
    fn name(&self) -> String;
    /// One flag per arm of `arms`, in order: `true` stops the arm. Stopping every arm is allowed
    /// (the sweep then delivers nothing).
    fn stop(&self, rung: &Rung, arms: &[ArmView<'_>]) -> Result<Vec<bool>>;
}

/// What successive halving ranks arms by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RankBy {
    /// The latest observed value.
    #[default]
    Last,
    /// The best value observed so far, which forgives a noisy last evaluation.
    BestSoFar,
}

/// Synchronous successive halving: at every rung keep the best `ceil(n / eta)` of the `n` judged
/// arms (at least one) and stop the rest. Ties go to the earlier run id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SuccessiveHalving {
    eta: usize,
    rank_by: RankBy,
}

impl SuccessiveHalving {
    /// Halving with reduction factor `eta` (2 keeps half, 3 keeps a third), ranking by the last
    /// value.
    pub fn new(eta: usize) -> Result<Self> {
        if eta < 2 {
            return Err(Error::Parse(format!(
                "successive halving: eta must be >= 2, got {eta}"
            )));
        }
        Ok(SuccessiveHalving {
            eta,
            rank_by: RankBy::Last,
        })
    }

    /// The same, ranking by `rank_by`.
    pub fn ranked_by(self, rank_by: RankBy) -> Self {
        SuccessiveHalving { rank_by, ..self }
    }
}

impl Pruner for SuccessiveHalving {
    fn name(&self) -> String {
        let by = match self.rank_by {
            RankBy::Last => "last",
            RankBy::BestSoFar => "best",
        };
        format!("halving eta={} {by}", self.eta)
    }

    fn stop(&self, _rung: &Rung, arms: &[ArmView<'_>]) -> Result<Vec<bool>> {
        let score = |a: &ArmView<'_>| match self.rank_by {
            RankBy::Last => a.last(),
            RankBy::BestSoFar => a.best(),
        };
        let keep = arms.len().div_ceil(self.eta).max(1);
        let mut order: Vec<usize> = (0..arms.len()).collect();
        // A stable sort, so equal scores keep the earlier arm.
        order.sort_by(|&a, &b| score(&arms[b]).total_cmp(&score(&arms[a])));
        let mut stop = vec![true; arms.len()];
        for &i in order.iter().take(keep) {
            stop[i] = false;
        }
        Ok(stop)
    }
}

/// How one sweep came out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepOutcome {
    pub suite: String,
    pub shots: String,
    pub task: String,
    pub arms: usize,
    /// Arms that ran to their end.
    pub survivors: usize,
    pub compute_fraction: f64,
    pub regret: f64,
    pub best_survived: bool,
    pub top_k_recall: f64,
}

/// One pruner's replay, averaged over sweeps (every sweep weighing the same).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplaySummary {
    pub pruner: String,
    /// Sweeps counted.
    pub sweeps: usize,
    /// Sweeps skipped for having too few arms.
    pub skipped: usize,
    /// Counted sweeps in which every arm was stopped.
    pub no_survivor: usize,
    pub mean_compute_fraction: f64,
    pub mean_regret: f64,
    pub best_survived_rate: f64,
    pub mean_top_k_recall: f64,
    pub k: usize,
    pub rungs: Vec<f64>,
}

/// A replay's summary and its per-sweep outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayReport {
    pub summary: ReplaySummary,
    pub sweeps: Vec<SweepOutcome>,
}

/// Replays `pruner` on every sweep of `curves`, whose values are in `opts.metric`'s units (see
/// the module doc for the protocol).
pub fn replay(curves: &[Curve], pruner: &dyn Pruner, opts: &ReplayOptions) -> Result<ReplayReport> {
    replay_with_losses(curves, pruner, opts, None)
}

/// [`replay`], each arm shown to the pruner with the token losses of its last observed
/// checkpoint where `losses` has them.
pub fn replay_with_losses(
    curves: &[Curve],
    pruner: &dyn Pruner,
    opts: &ReplayOptions,
    losses: Option<&CurveLosses>,
) -> Result<ReplayReport> {
    opts.validate()?;
    let mut sweeps: BTreeMap<(String, String, String), Vec<Arm>> = BTreeMap::new();
    for c in curves {
        if c.compute.is_empty() || c.compute.len() != c.accuracy.len() {
            return Err(Error::invalid(
                &c.run,
                "curve",
                format!("task {}: no usable checkpoints", c.task),
            ));
        }
        let model = c.to_model(opts.metric)?;
        sweeps
            .entry(c.sweep_key())
            .or_default()
            .push(Arm { user: c, model });
    }

    let mut outcomes = Vec::new();
    let mut skipped = 0;
    for ((suite, shots, task), mut arms) in sweeps {
        if arms.len() < opts.min_arms {
            skipped += 1;
            continue;
        }
        arms.sort_by(|a, b| a.user.run.cmp(&b.user.run));
        let mut outcome = replay_sweep(&arms, pruner, opts, losses)?;
        (outcome.suite, outcome.shots, outcome.task) = (suite, shots, task);
        outcomes.push(outcome);
    }

    let n = outcomes.len() as f64;
    let mean = |f: &dyn Fn(&SweepOutcome) -> f64| outcomes.iter().map(f).sum::<f64>() / n;
    let summary = ReplaySummary {
        pruner: pruner.name(),
        sweeps: outcomes.len(),
        skipped,
        no_survivor: outcomes.iter().filter(|o| o.survivors == 0).count(),
        mean_compute_fraction: mean(&|o| o.compute_fraction),
        mean_regret: mean(&|o| o.regret),
        best_survived_rate: mean(&|o| f64::from(u8::from(o.best_survived))),
        mean_top_k_recall: mean(&|o| o.top_k_recall),
        k: opts.k,
        rungs: opts.rungs.clone(),
    };
    Ok(ReplayReport {
        summary,
        sweeps: outcomes,
    })
}

/// One arm of a sweep: its curve in the user's units (finals, regret) and in the model's space
/// (what the pruner sees).
struct Arm<'c> {
    user: &'c Curve,
    model: Curve,
}

/// A final in the user's units, signed so that higher is better: the value itself when
/// maximized, its negative when minimized. Negation is exact, so the order (and its ties) is the
/// user's own, and a difference of two is a difference in the user's units.
fn oriented(v: f64, metric: Metric) -> f64 {
    match metric.direction {
        Direction::Maximize => v,
        Direction::Minimize => -v,
    }
}

/// The oriented value a sweep that delivers nothing is charged (see the module doc): the
/// metric's worst value, or for a minimized loss or a maximized negated loss, which have none,
/// the worst arm's final.
fn nothing_delivered(metric: Metric, oriented_finals: &[f64]) -> f64 {
    match (metric.kind, metric.direction) {
        (MetricKind::Bounded | MetricKind::Loss, Direction::Maximize) => 0.0,
        (MetricKind::NegLoss, Direction::Minimize) => 0.0,
        (MetricKind::Bounded, Direction::Minimize) => -1.0,
        (MetricKind::Loss, Direction::Minimize) | (MetricKind::NegLoss, Direction::Maximize) => {
            oriented_finals
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min)
        }
    }
}

/// Replays one sweep whose arms are in run-id order; the key fields are left empty.
fn replay_sweep(
    arms: &[Arm<'_>],
    pruner: &dyn Pruner,
    opts: &ReplayOptions,
    losses: Option<&CurveLosses>,
) -> Result<SweepOutcome> {
    let planned: Vec<f64> = arms
        .iter()
        .map(|a| *a.user.compute.last().unwrap())
        .collect();
    let finals: Vec<f64> = arms
        .iter()
        .map(|a| oriented(*a.user.accuracy.last().unwrap(), opts.metric))
        .collect();
    let sweep_end = planned.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut alive = vec![true; arms.len()];
    // Checkpoints each arm has observed; 0 means it cannot be judged yet.
    let mut seen = vec![0usize; arms.len()];

    for (index, &fraction) in opts.rungs.iter().enumerate() {
        let mut judged = Vec::new();
        for (i, c) in arms
            .iter()
            .map(|a| a.user)
            .enumerate()
            .filter(|(i, _)| alive[*i])
        {
            let budget = fraction * planned[i];
            seen[i] = c.compute.partition_point(|&x| x <= budget);
            if seen[i] > 0 {
                judged.push(i);
            }
        }
        let views: Vec<ArmView<'_>> = judged
            .iter()
            .map(|&i| ArmView {
                run: &arms[i].model.run,
                steps: &arms[i].model.compute[..seen[i]],
                accuracy: &arms[i].model.accuracy[..seen[i]],
                planned: planned[i],
                losses: losses.and_then(|l| l.of_context(arms[i].user, seen[i])),
            })
            .collect();
        let rung = Rung {
            index,
            count: opts.rungs.len(),
            fraction,
            sweep_end,
            metric: opts.metric,
        };
        let stop = pruner.stop(&rung, &views)?;
        if stop.len() != views.len() {
            return Err(Error::invalid(
                pruner.name(),
                "stop",
                format!(
                    "{} flags for {} arms at rung {index}",
                    stop.len(),
                    views.len()
                ),
            ));
        }
        for (&i, &s) in judged.iter().zip(&stop) {
            alive[i] &= !s;
        }
    }

    let spent: f64 = (0..arms.len())
        .map(|i| {
            if alive[i] {
                planned[i]
            } else {
                arms[i].user.compute[seen[i] - 1]
            }
        })
        .sum();
    let total: f64 = planned.iter().sum();
    if total.is_nan() || total <= 0.0 {
        return Err(Error::invalid(
            &arms[0].user.run,
            "compute",
            "the sweep plans no compute",
        ));
    }

    let best = finals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let best_kept = (0..arms.len())
        .filter(|&i| alive[i])
        .map(|i| finals[i])
        .fold(f64::NEG_INFINITY, f64::max);
    let mut ranking: Vec<usize> = (0..arms.len()).collect();
    ranking.sort_by(|&a, &b| finals[b].total_cmp(&finals[a]));
    let k = opts.k.min(arms.len());
    let kept_top = ranking[..k].iter().filter(|&&i| alive[i]).count();
    let survivors = alive.iter().filter(|&&a| a).count();

    Ok(SweepOutcome {
        suite: String::new(),
        shots: String::new(),
        task: String::new(),
        arms: arms.len(),
        survivors,
        compute_fraction: spent / total,
        regret: if survivors == 0 {
            best - nothing_delivered(opts.metric, &finals)
        } else {
            best - best_kept
        },
        best_survived: survivors > 0 && best_kept == best,
        top_k_recall: kept_top as f64 / k as f64,
    })
}

/// Renders summaries as an aligned text table, one row per pruner.
pub fn render_table(summaries: &[ReplaySummary]) -> String {
    let header = [
        "pruner",
        "sweeps",
        "skipped",
        "compute",
        "regret",
        "best kept",
        "top-k recall",
    ];
    let rows: Vec<[String; 7]> = summaries
        .iter()
        .map(|s| {
            [
                s.pruner.clone(),
                s.sweeps.to_string(),
                s.skipped.to_string(),
                format!("{:.3}", s.mean_compute_fraction),
                format!("{:.4}", s.mean_regret),
                format!("{:.3}", s.best_survived_rate),
                format!("{:.3} (k={})", s.mean_top_k_recall, s.k),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .enumerate()
            // The pruner name reads best left-aligned, numbers right-aligned.
            .map(|(j, (c, w))| {
                if j == 0 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", parts.join("  ").trim_end());
    };
    line(&header);
    for r in &rows {
        line(&r.iter().map(String::as_str).collect::<Vec<_>>());
    }
    out
}

#[cfg(test)]
mod tests;
