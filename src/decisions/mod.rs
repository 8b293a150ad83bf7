//! From forecasts to decisions.
//!
//! - [`distribution`]: a forecast's quantiles as a full distribution (CDF, sampling);
//! - [`ranking`]: P(A above B) for every pair of runs, and the implied order;
//! - [`metric`]: metrics that rise or fall, bounded or losses, and the model's space;
//! - [`killplan`]: which arms of a sweep to stop under a policy, with P(top k) and reasons;
//! - this module: the glue that runs the engine's forecasts into rankings and plans.

pub mod distribution;
pub mod killplan;
pub mod metric;
pub mod ranking;

use crate::decisions::distribution::QuantileDistribution;
use crate::decisions::killplan::{Arm, Plan, PlanOptions, plan};
use crate::decisions::ranking::{DEFAULT_GRID, Ranking, rank_forecasts};
use crate::error::Result;
use crate::inference::engine::{Engine, RunInput};

/// Ranks runs by their forecast at each run's last target step (see `ranking` for the method).
pub fn rank_runs(engine: &Engine, runs: &[RunInput<'_>]) -> Result<Ranking> {
    let forecasts = engine.forecast(runs)?;
    rank_forecasts(engine.levels(), &forecasts, DEFAULT_GRID)
}

/// One arm of a sweep for planning: an id, its observed curve (its targets are ignored) and
/// the step it ends at, if not the sweep's.
pub struct SweepArm<'a> {
    pub id: String,
    pub run: RunInput<'a>,
    pub end_step: Option<f64>,
}

/// Forecasts every arm at its end (its own `end_step`, else `end_step`) and plans which to stop
/// (see `killplan` for the method). The arms' values are in the model's space of
/// `options.metric` (the values themselves for the default, accuracy-like metric).
pub fn plan_sweep(
    engine: &Engine,
    arms: &[SweepArm<'_>],
    end_step: f64,
    options: &PlanOptions,
) -> Result<Plan> {
    let targets: Vec<[f64; 1]> = arms
        .iter()
        .map(|a| [a.end_step.unwrap_or(end_step)])
        .collect();
    let runs: Vec<RunInput> = arms
        .iter()
        .zip(&targets)
        .map(|(a, target)| RunInput {
            prefix: crate::inference::forecast::CurvePrefix {
                targets: target,
                ..a.run.prefix
            },
            losses: a.run.losses,
        })
        .collect();
    let forecasts = engine.forecast(&runs)?;
    let plan_arms = arms
        .iter()
        .zip(&forecasts)
        .enumerate()
        .map(|(i, (a, f))| {
            let q = &f.forecasts[0].quantiles;
            Ok(Arm {
                id: a.id.clone(),
                forecast: QuantileDistribution::from_f32(i, engine.levels(), q)?,
                observations: a.run.prefix.steps.len(),
                last_value: *a.run.prefix.accuracy.last().unwrap_or(&0.0),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    plan(&plan_arms, options)
}
