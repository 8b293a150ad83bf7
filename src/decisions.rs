//! From forecasts to decisions: rank runs and plan which arms of a sweep to stop, with the
//! engine's forecasts; and the replay pruner that makes those plans at every rung.

use crate::distribution::QuantileDistribution;
use crate::engine::{Engine, RunInput};
use crate::error::Result;
use crate::plan::{Arm, Plan, PlanOptions, plan};
use crate::ranking::{DEFAULT_GRID, Ranking, rank_forecasts};
use crate::replay::{ArmView, Pruner, Rung};

/// Ranks runs by their forecast at each run's last target step (see `ranking` for the method).
pub fn rank_runs(engine: &Engine, runs: &[RunInput<'_>]) -> Result<Ranking> {
    let forecasts = engine.forecast(runs)?;
    rank_forecasts(engine.levels(), &forecasts, DEFAULT_GRID)
}

/// One arm of a sweep for planning: an id and its observed curve (targets are ignored: every
/// arm is forecast at the sweep's end step).
pub struct SweepArm<'a> {
    pub id: String,
    pub run: RunInput<'a>,
}

/// Forecasts every arm at `end_step` and plans which to stop (see `plan` for the method).
pub fn plan_sweep(
    engine: &Engine,
    arms: &[SweepArm<'_>],
    end_step: f64,
    options: &PlanOptions,
) -> Result<Plan> {
    let targets = [end_step];
    let runs: Vec<RunInput> = arms
        .iter()
        .map(|a| RunInput {
            prefix: crate::forecast::CurvePrefix {
                targets: &targets,
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

/// A replay pruner that asks neuneu for a kill plan over the alive arms at every rung, each arm
/// forecast at its own planned end. Arms with fewer points than the model's minimum context are
/// kept (there is nothing to forecast from yet).
pub struct PlanPruner<'e> {
    pub engine: &'e Engine,
    pub options: PlanOptions,
    pub label: String,
}

impl Pruner for PlanPruner<'_> {
    fn name(&self) -> String {
        self.label.clone()
    }

    fn stop(&self, _rung: &Rung, arms: &[ArmView<'_>]) -> Result<Vec<bool>> {
        let min = self.engine.manifest().preparation.min_context;
        let judged: Vec<usize> = (0..arms.len())
            .filter(|&i| arms[i].steps.len() >= min)
            .collect();
        let mut stop = vec![false; arms.len()];
        if judged.len() < 2 {
            return Ok(stop);
        }
        let targets: Vec<[f64; 1]> = judged.iter().map(|&i| [arms[i].planned]).collect();
        let runs: Vec<RunInput> = judged
            .iter()
            .zip(&targets)
            .map(|(&i, t)| RunInput::new(arms[i].steps, arms[i].accuracy, t))
            .collect();
        let forecasts = self.engine.forecast(&runs)?;
        let plan_arms = judged
            .iter()
            .zip(&forecasts)
            .map(|(&i, f)| {
                Ok(Arm {
                    id: arms[i].run.to_string(),
                    forecast: QuantileDistribution::from_f32(
                        i,
                        self.engine.levels(),
                        &f.forecasts[0].quantiles,
                    )?,
                    observations: arms[i].steps.len(),
                    last_value: arms[i].last(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut options = self.options.clone();
        // A top-k policy cannot keep more arms than are judged.
        options.policy = match options.policy {
            crate::plan::Policy::KeepTopK { k } => crate::plan::Policy::KeepTopK {
                k: k.min(plan_arms.len()),
            },
            crate::plan::Policy::StopBelowProbability { k, threshold } => {
                crate::plan::Policy::StopBelowProbability {
                    k: k.min(plan_arms.len()),
                    threshold,
                }
            }
            crate::plan::Policy::StopWithinBudget { k, budget } => {
                crate::plan::Policy::StopWithinBudget {
                    k: k.min(plan_arms.len()),
                    budget,
                }
            }
            p => p,
        };
        let p = plan(&plan_arms, &options)?;
        for (&i, d) in judged.iter().zip(&p.decisions) {
            stop[i] = !d.keep;
        }
        Ok(stop)
    }
}
