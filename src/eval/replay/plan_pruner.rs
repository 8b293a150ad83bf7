//! The replay pruner that asks the engine for a kill plan at every rung.

use super::{ArmView, Pruner, Rung};
use crate::decisions::distribution::QuantileDistribution;
use crate::decisions::killplan::{Arm, PlanOptions, Policy, plan};
use crate::error::Result;
use crate::inference::engine::{Engine, Losses, RunInput};

/// A replay pruner that asks neuneu for a kill plan over the alive arms at every rung, each arm
/// forecast at its own planned end (with its latest token losses, where the replay has them).
/// Arms with fewer points than the model's minimum context are kept (there is nothing to
/// forecast from yet).
///
/// The arms come in the model's space of the replay's metric, which is what the engine and the
/// plan take; the plan is made with that metric ([`Rung::metric`], replacing `options.metric`),
/// so that its medians and reasons are in the curves' units.
pub struct PlanPruner<'e> {
    pub engine: &'e Engine,
    /// The policy and knobs of every plan; its `metric` is the replay's (see above).
    pub options: PlanOptions,
    pub label: String,
}

impl Pruner for PlanPruner<'_> {
    fn name(&self) -> String {
        self.label.clone()
    }

    fn stop(&self, rung: &Rung, arms: &[ArmView<'_>]) -> Result<Vec<bool>> {
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
            .map(|(&i, t)| {
                let run = RunInput::new(arms[i].steps, arms[i].accuracy, t);
                match arms[i].losses {
                    Some(tokens) => run.with_losses(Losses::Tokens(tokens)),
                    None => run,
                }
            })
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
        options.metric = rung.metric;
        // A top-k policy cannot keep more arms than are judged.
        options.policy = match options.policy {
            Policy::KeepTopK { k } => Policy::KeepTopK {
                k: k.min(plan_arms.len()),
            },
            Policy::StopBelowProbability { k, threshold } => Policy::StopBelowProbability {
                k: k.min(plan_arms.len()),
                threshold,
            },
            Policy::StopWithinBudget { k, budget } => Policy::StopWithinBudget {
                k: k.min(plan_arms.len()),
                budget,
            },
            p => p,
        };
        let p = plan(&plan_arms, &options)?;
        for (&i, d) in judged.iter().zip(&p.decisions) {
            stop[i] = !d.keep;
        }
        Ok(stop)
    }
}
