//! From forecasts to decisions.
//!
//! - [`distribution`]: a forecast's quantiles as a full distribution (CDF, sampling);
//! - [`ranking`]: P(A above B) for every pair of runs, and the implied order;
//! - [`metric`]: metrics that rise or fall, bounded or losses (negated too), and the model's space;
//! - [`killplan`]: which arms of a sweep to stop under a policy, with P(top k) and reasons;
//! - this module: the glue that runs the engine's forecasts into rankings and plans.

pub mod distribution;
pub mod killplan;
pub mod metric;
pub mod ranking;

use crate::decisions::distribution::QuantileDistribution;
use crate::decisions::killplan::{Arm, ArmDecision, Plan, PlanOptions, needs_points, plan_capped};
use crate::decisions::ranking::{DEFAULT_GRID, Ranking, rank_forecasts};
use crate::error::{Error, Result};
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
///
/// Whatever state the arms are in, the plan is made, as the online sweep
/// ([`crate::sweep::Sweep`]) makes it: an arm with fewer points than the model's minimum context
/// or `options.min_observations` is kept outside the plan, with "needs N points" as its reason
/// and NaN numbers; `k` is capped at the arms planned ([`killplan::plan_capped`]). Only an
/// empty sweep, bad options, or an arm the engine refuses (its message names the arm's index)
/// is an error.
pub fn plan_sweep(
    engine: &Engine,
    arms: &[SweepArm<'_>],
    end_step: f64,
    options: &PlanOptions,
) -> Result<Plan> {
    if arms.is_empty() {
        return Err(Error::setting("arms", "no arms to plan"));
    }
    let need = options
        .min_observations
        .unwrap_or(0)
        .max(engine.manifest().preparation.min_context);
    let judged: Vec<usize> = (0..arms.len())
        .filter(|&i| arms[i].run.prefix.steps.len() >= need)
        .collect();
    let targets: Vec<[f64; 1]> = judged
        .iter()
        .map(|&i| [arms[i].end_step.unwrap_or(end_step)])
        .collect();
    let runs: Vec<RunInput> = judged
        .iter()
        .zip(&targets)
        .map(|(&i, target)| RunInput {
            prefix: crate::inference::forecast::CurvePrefix {
                targets: target,
                ..arms[i].run.prefix
            },
            losses: arms[i].run.losses,
        })
        .collect();
    let forecasts = engine
        .forecast(&runs)
        .map_err(|e| e.renumber_run(&judged))?;
    let plan_arms = judged
        .iter()
        .zip(&forecasts)
        .map(|(&i, f)| {
            let a = &arms[i];
            let q = &f.forecasts[0].quantiles;
            Ok(Arm {
                id: a.id.clone(),
                forecast: QuantileDistribution::from_f32(i, engine.levels(), q)?,
                observations: a.run.prefix.steps.len(),
                last_value: *a.run.prefix.accuracy.last().unwrap_or(&0.0),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let planned = if plan_arms.is_empty() {
        Plan {
            policy: options.policy,
            k: 0,
            k_requested: options.policy.requested_k(0),
            decisions: Vec::new(),
        }
    } else {
        let options = PlanOptions {
            min_observations: None,
            ..options.clone()
        };
        plan_capped(&plan_arms, &options)?
    };
    let mut decided = planned.decisions.into_iter();
    let decisions = arms
        .iter()
        .map(|a| {
            let has = a.run.prefix.steps.len();
            if has >= need {
                decided.next().expect("one decision per judged arm")
            } else {
                ArmDecision {
                    id: a.id.clone(),
                    keep: true,
                    p_top_k: f64::NAN,
                    median: f64::NAN,
                    q10: f64::NAN,
                    q90: f64::NAN,
                    reason: format!("keep: {}", needs_points(need, has)),
                }
            }
        })
        .collect();
    Ok(Plan {
        decisions,
        ..planned
    })
}
