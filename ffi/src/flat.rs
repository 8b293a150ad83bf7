//! The flat-array core shared by the C ABI (`calls.rs`) and the C++ bridge (`cxx_bridge.rs`).
//!
//! Both boundaries hand over runs the same way: every run's observations concatenated into
//! `steps` / `accuracy`, with `context_offsets[n + 1]` saying where run `i` starts and ends (and
//! likewise `targets` with `target_offsets`). This module checks such a layout, turns it into
//! `RunInput`s, maps plan settings to a `PlanOptions`, and runs forecast, rank and plan on it.
//! The adapters only turn their own inputs into slices and the results into their own outputs,
//! so each rule (what a valid layout is, which policy a code means) is written once.

use super::{AbiError, invalid};
use neuneu::decisions::killplan::{Plan, PlanOptions, Policy};
use neuneu::decisions::{SweepArm, plan_sweep, rank_runs};
use neuneu::inference::engine::{Engine, Losses, RunInput};

/// Checks offsets of `n` runs (`o.len() == n + 1`): they start at 0 and never decrease.
pub(crate) fn check_offsets(o: &[usize], what: &str) -> Result<(), AbiError> {
    match o.first() {
        None => {
            return Err(invalid(format!(
                "{what} is empty: it needs n_runs + 1 entries"
            )));
        }
        Some(&first) if first != 0 => {
            return Err(invalid(format!("{what}[0] must be 0, not {first}")));
        }
        Some(_) => {}
    }
    if let Some(i) = (1..o.len()).find(|&i| o[i] < o[i - 1]) {
        return Err(invalid(format!(
            "{what} decrease at index {i}: {} after {}",
            o[i],
            o[i - 1]
        )));
    }
    Ok(())
}

/// `data` must hold exactly the `o[n]` values the offsets describe.
fn check_covers(o: &[usize], data: usize, what: &str, offsets: &str) -> Result<(), AbiError> {
    let last = *o.last().unwrap_or(&0);
    if last != data {
        return Err(invalid(format!(
            "{what} has {data} values but {offsets} end at {last}"
        )));
    }
    Ok(())
}

/// A checked flat layout of runs: run `i` observed `steps/accuracy[ctx[i]..ctx[i + 1]]` and asks
/// for `targets[tgt[i]..tgt[i + 1]]`.
pub(crate) struct FlatRuns<'a> {
    steps: &'a [f64],
    accuracy: &'a [f64],
    ctx: &'a [usize],
    targets: &'a [f64],
    tgt: &'a [usize],
}

impl<'a> FlatRuns<'a> {
    /// Checks the layout: both offset arrays describe the same number of runs, start at 0, never
    /// decrease, and end exactly at the length of their data.
    pub(crate) fn new(
        steps: &'a [f64],
        accuracy: &'a [f64],
        ctx: &'a [usize],
        targets: &'a [f64],
        tgt: &'a [usize],
    ) -> Result<Self, AbiError> {
        check_offsets(ctx, "context_offsets")?;
        check_offsets(tgt, "target_offsets")?;
        if ctx.len() != tgt.len() {
            return Err(invalid(format!(
                "context_offsets has {} entries and target_offsets {}: both need n_runs + 1",
                ctx.len(),
                tgt.len()
            )));
        }
        check_covers(ctx, steps.len(), "steps", "context_offsets")?;
        check_covers(ctx, accuracy.len(), "accuracy", "context_offsets")?;
        check_covers(tgt, targets.len(), "targets", "target_offsets")?;
        Ok(FlatRuns {
            steps,
            accuracy,
            ctx,
            targets,
            tgt,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.ctx.len() - 1
    }

    /// Targets of run `i` (their indices into the flat `targets`).
    pub(crate) fn target_range(&self, i: usize) -> std::ops::Range<usize> {
        self.tgt[i]..self.tgt[i + 1]
    }

    pub(crate) fn total_targets(&self) -> usize {
        self.targets.len()
    }

    pub(crate) fn run(&self, i: usize) -> RunInput<'a> {
        let c = self.ctx[i]..self.ctx[i + 1];
        RunInput::new(
            &self.steps[c.clone()],
            &self.accuracy[c],
            &self.targets[self.target_range(i)],
        )
    }

    pub(crate) fn inputs(&self) -> Vec<RunInput<'a>> {
        (0..self.len()).map(|i| self.run(i)).collect()
    }
}

/// Optional token losses of each run's last checkpoint: `losses[offsets[i]..offsets[i + 1]]`;
/// an empty range means none for that run.
pub(crate) struct FlatLosses<'a> {
    losses: &'a [f32],
    offsets: &'a [usize],
}

impl<'a> FlatLosses<'a> {
    pub(crate) fn new(losses: &'a [f32], offsets: &'a [usize]) -> Result<Self, AbiError> {
        check_offsets(offsets, "loss_offsets")?;
        check_covers(offsets, losses.len(), "losses", "loss_offsets")?;
        Ok(FlatLosses { losses, offsets })
    }
}

/// Forecasts every run; per run, its quantiles flat (`[target][level]`) or its error. One bad
/// run does not stop the others.
pub(crate) fn forecast(
    engine: &Engine,
    runs: &FlatRuns<'_>,
    losses: Option<&FlatLosses<'_>>,
) -> Result<Vec<Result<Vec<f32>, AbiError>>, AbiError> {
    if let Some(l) = losses.filter(|l| l.offsets.len() != runs.ctx.len()) {
        return Err(invalid(format!(
            "loss_offsets has {} entries for {} runs: it needs n_runs + 1",
            l.offsets.len(),
            runs.len()
        )));
    }
    let inputs: Vec<RunInput> = (0..runs.len())
        .map(|i| {
            let run = runs.run(i);
            match losses {
                Some(l) if l.offsets[i + 1] > l.offsets[i] => {
                    run.with_losses(Losses::Tokens(&l.losses[l.offsets[i]..l.offsets[i + 1]]))
                }
                _ => run,
            }
        })
        .collect();
    Ok(engine
        .forecast_each(&inputs)
        .into_iter()
        .map(|r| {
            r.map(|f| {
                f.forecasts
                    .iter()
                    .flat_map(|fc| fc.quantiles.clone())
                    .collect()
            })
            .map_err(AbiError::from)
        })
        .collect())
}

/// A ranking as flat arrays: `prob_above[i * n + j]` = P(run i ends above run j) (NaN on the
/// diagonal) and `order` (run indices, best first).
pub(crate) struct FlatRanking {
    pub prob_above: Vec<f64>,
    pub order: Vec<usize>,
}

/// Ranks runs by their forecast at each run's last target.
pub(crate) fn rank(engine: &Engine, runs: &FlatRuns<'_>) -> Result<FlatRanking, AbiError> {
    let n = runs.len();
    n.checked_mul(n).ok_or_else(|| invalid("too many runs"))?;
    let ranking = rank_runs(engine, &runs.inputs())?;
    let prob_above = ranking
        .prob_above
        .iter()
        .flat_map(|row| row.iter().map(|p| p.unwrap_or(f64::NAN)))
        .collect();
    Ok(FlatRanking {
        prob_above,
        order: ranking.order,
    })
}

/// Plan settings as both boundaries carry them: a policy code and every policy's parameters
/// (each policy reads the ones it needs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlanSettings {
    /// 0 keep top k, 1 stop fraction, 2 stop below probability, 3 stop within budget (the
    /// values of `neuneu_policy`).
    pub policy: i64,
    pub k: usize,
    pub fraction: f64,
    pub threshold: f64,
    pub budget: f64,
    /// 0 = no minimum.
    pub min_observations: usize,
    pub samples: usize,
    pub seed: u64,
}

/// The default budget of `StopWithinBudget`: stopping costs at most 0.1 expected top-k arms.
pub(crate) const DEFAULT_BUDGET: f64 = 0.1;

/// Maps settings to `PlanOptions`; an unknown policy code is an invalid argument (the ranges of
/// the parameters are checked by `plan` itself, with its own messages).
pub(crate) fn plan_options(s: &PlanSettings) -> Result<PlanOptions, AbiError> {
    let policy = match s.policy {
        0 => Policy::KeepTopK { k: s.k },
        1 => Policy::StopFraction {
            fraction: s.fraction,
        },
        2 => Policy::StopBelowProbability {
            k: s.k,
            threshold: s.threshold,
        },
        3 => Policy::StopWithinBudget {
            k: s.k,
            budget: s.budget,
        },
        other => {
            return Err(invalid(format!(
                "policy {other} is unknown (0 keep top k, 1 stop fraction, 2 stop below \
                 probability, 3 stop within budget)"
            )));
        }
    };
    let mut opts = PlanOptions::new(policy);
    opts.min_observations = (s.min_observations > 0).then_some(s.min_observations);
    opts.samples = s.samples;
    opts.seed = s.seed;
    Ok(opts)
}

/// A kill plan for the arms laid out by `steps` / `accuracy` / `ctx` (no targets: every arm is
/// forecast at `end_step`); arm ids are their indices.
pub(crate) fn plan(
    engine: &Engine,
    steps: &[f64],
    accuracy: &[f64],
    ctx: &[usize],
    end_step: f64,
    options: &PlanOptions,
) -> Result<Plan, AbiError> {
    check_offsets(ctx, "context_offsets")?;
    check_covers(ctx, steps.len(), "steps", "context_offsets")?;
    check_covers(ctx, accuracy.len(), "accuracy", "context_offsets")?;
    let arms: Vec<SweepArm> = ctx
        .windows(2)
        .enumerate()
        .map(|(i, w)| SweepArm {
            id: i.to_string(),
            run: RunInput::new(&steps[w[0]..w[1]], &accuracy[w[0]..w[1]], &[]),
            end_step: None,
        })
        .collect();
    Ok(plan_sweep(engine, &arms, end_step, options)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_are_checked() {
        let s = [1.0, 2.0, 3.0];
        let t = [9.0];
        let ok = FlatRuns::new(&s, &s, &[0, 1, 3], &t, &[0, 0, 1]).unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok.run(1).prefix.steps, &[2.0, 3.0]);
        let err = |r: Result<FlatRuns, AbiError>| r.err().expect("an error").1;
        assert!(err(FlatRuns::new(&s, &s, &[1, 3], &t, &[0, 1])).contains("[0] must be 0"));
        assert!(err(FlatRuns::new(&s, &s, &[0, 2, 1], &t, &[0, 0, 1])).contains("decrease"));
        assert!(err(FlatRuns::new(&s, &s, &[0, 2], &t, &[0, 1])).contains("steps has 3"));
        assert!(err(FlatRuns::new(&s, &s[..2], &[0, 3], &t, &[0, 1])).contains("accuracy"));
        assert!(err(FlatRuns::new(&s, &s, &[0, 3], &t, &[0, 0, 1])).contains("both need"));
        assert!(err(FlatRuns::new(&s, &s, &[], &t, &[0, 1])).contains("empty"));
    }

    #[test]
    fn policy_codes_map_to_policies() {
        let mut s = PlanSettings {
            policy: 3,
            k: 2,
            fraction: 0.5,
            threshold: 0.05,
            budget: 0.2,
            min_observations: 0,
            samples: 10,
            seed: 7,
        };
        let o = plan_options(&s).unwrap();
        assert_eq!(o.policy, Policy::StopWithinBudget { k: 2, budget: 0.2 });
        assert_eq!((o.min_observations, o.samples, o.seed), (None, 10, 7));
        s.policy = 4;
        assert!(
            plan_options(&s)
                .err()
                .unwrap()
                .1
                .contains("policy 4 is unknown")
        );
    }
}
