//! Adapting to the finished arms of a running sweep ([`Sweep`]), in process: what the C ABI,
//! the C++ API and the Python package's `Sweep.adapt` call. A scheduler whose sweep has
//! finished arms gets a model fitted to them without writing a curve file, and can go on with
//! it in the same sweep ([`Sweep::set_engine`]) or start the next sweep on it.

use super::input::{AdaptInput, RunCurve};
use super::{AdaptOptions, Adapted, MIN_RUNS};
use crate::error::{Error, Result};
use crate::model::bundle::Bundle;
use crate::model::inputs::LossSummary;
use crate::sweep::{ArmStatus, Sweep};

/// The suite the sweep's arms form in the adapted bundle's record (one suite: the hold-out is
/// drawn among them).
pub const SWEEP_SUITE: &str = "sweep";

/// A sweep's finished arms, copied out of it: their points in the sweep's metric and the token
/// losses given for them. Taking them is quick, so a sweep shared by threads is locked only
/// while they are copied, not while a model is fitted to them.
#[derive(Debug, Clone)]
pub struct FinishedArms {
    metric: crate::decisions::metric::Metric,
    arms: Vec<FinishedArm>,
}

#[derive(Debug, Clone)]
struct FinishedArm {
    id: String,
    steps: Vec<f64>,
    values: Vec<f64>,
    losses: Vec<(f64, Vec<f32>)>,
}

impl FinishedArms {
    /// The finished arms of `sweep`, by id (so that the model fitted to them does not depend on
    /// the order the arms arrived in). Live and stopped arms are not taken: a stopped arm's curve
    /// ends where the scheduler cut it, not where the run would have ended.
    pub fn of(sweep: &Sweep) -> Self {
        let mut arms: Vec<FinishedArm> = sweep
            .arm_ids()
            .filter(|id| sweep.status(id) == Some(ArmStatus::Finished))
            .map(|id| {
                let (steps, values) = sweep.points(id).expect("a listed arm");
                FinishedArm {
                    id: id.to_string(),
                    steps: steps.to_vec(),
                    values: values.to_vec(),
                    losses: sweep
                        .losses(id)
                        .into_iter()
                        .map(|(step, l)| (step, l.to_vec()))
                        .collect(),
                }
            })
            .collect();
        arms.sort_by(|a, b| a.id.cmp(&b.id));
        FinishedArms {
            metric: sweep.options().metric,
            arms,
        }
    }

    /// How many finished arms were taken.
    pub fn len(&self) -> usize {
        self.arms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.arms.is_empty()
    }

    /// Adapts `base` to these arms ([`super::adapt`]'s recipe); loss trees read `summary` of
    /// the losses given. Arms with fewer points than `base` needs as context (a trial that
    /// ended after one report) are not learned from and are named in the result's `left_out`.
    /// Fewer than [`MIN_RUNS`] arms to learn from is an error saying how many there are.
    pub fn adapt(
        self,
        base: Bundle,
        summary: LossSummary,
        options: &AdaptOptions,
    ) -> Result<Adapted> {
        let min_points = base.manifest.preparation.min_context;
        let (mut long, short): (Vec<FinishedArm>, Vec<FinishedArm>) = self
            .arms
            .into_iter()
            .partition(|a| a.steps.len() >= min_points);
        if long.len() < MIN_RUNS {
            return Err(Error::InvalidSetting {
                field: "sweep",
                reason: format!(
                    "{} finished arm(s) with at least {min_points} points (the model's minimum context){}; adapting needs at least {MIN_RUNS}",
                    long.len(),
                    if short.is_empty() {
                        String::new()
                    } else {
                        format!(", {} more finished with fewer", short.len())
                    }
                ),
            });
        }
        // The losses move out of the copies taken by `of` rather than being copied again.
        let losses: Vec<(String, f64, Vec<f32>)> = long
            .iter_mut()
            .flat_map(|a| {
                let id = a.id.clone();
                std::mem::take(&mut a.losses)
                    .into_iter()
                    .map(move |(step, l)| (id.clone(), step, l))
            })
            .collect();
        let runs: Vec<RunCurve<'_>> = long
            .iter()
            .map(|a| RunCurve {
                run: &a.id,
                steps: &a.steps,
                values: &a.values,
            })
            .collect();
        let mut input = AdaptInput::default();
        input.add_runs(SWEEP_SUITE, &self.metric.name(), &runs, self.metric)?;
        if !losses.is_empty() {
            input.add_run_losses(SWEEP_SUITE, losses)?;
        }
        let command = format!(
            "adapt to a sweep's finished arms: holdout {}, seed {}{}",
            options.holdout,
            options.seed,
            if input.losses.is_some() {
                format!(", loss summary {}", summary.name())
            } else {
                String::new()
            }
        );
        let mut adapted = input.adapt(base, summary, &command, options)?;
        adapted
            .left_out
            .extend(short.iter().map(|a| format!("{SWEEP_SUITE}/{}", a.id)));
        Ok(adapted)
    }
}

/// Adapts `base` to `sweep`'s finished arms: [`FinishedArms::of`], then
/// [`FinishedArms::adapt`].
pub fn adapt_to_sweep(
    base: Bundle,
    sweep: &Sweep,
    summary: LossSummary,
    options: &AdaptOptions,
) -> Result<Adapted> {
    FinishedArms::of(sweep).adapt(base, summary, options)
}
