//! The flat-array core shared by the C ABI (`forecast.rs`, `plan.rs`) and the C++ bridge
//! (`cxx_bridge.rs`).
//!
//! Both boundaries hand over runs the same way: every run's observations concatenated into
//! `steps` / `values`, with `context_offsets[n + 1]` saying where run `i` starts and ends (and
//! likewise `targets` with `target_offsets`). This module checks such a layout, turns it into
//! `RunInput`s, maps plan settings to a `PlanOptions`, and runs forecast, rank and plan on it.
//! The adapters only turn their own inputs into slices and the results into their own outputs,
//! so each rule (what a valid layout is, which policy a code means) is written once.

use super::{AbiError, invalid};
use neuneu::decisions::killplan::{Plan, PlanOptions, Policy};
use neuneu::decisions::metric::Metric;
use neuneu::decisions::{SweepArm, plan_sweep, rank_runs};
use neuneu::inference::engine::{Engine, Losses, RunInput};
use neuneu::sweep::SweepOptions;

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

/// A checked flat layout of runs: run `i` observed `steps/values[ctx[i]..ctx[i + 1]]` and asks
/// for `targets[tgt[i]..tgt[i + 1]]`.
#[derive(Clone, Copy)]
pub(crate) struct FlatRuns<'a> {
    steps: &'a [f64],
    values: &'a [f64],
    ctx: &'a [usize],
    targets: &'a [f64],
    tgt: &'a [usize],
}

impl<'a> FlatRuns<'a> {
    /// Checks the layout: both offset arrays describe the same number of runs, start at 0, never
    /// decrease, and end exactly at the length of their data.
    pub(crate) fn new(
        steps: &'a [f64],
        values: &'a [f64],
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
        check_covers(ctx, values.len(), "values", "context_offsets")?;
        check_covers(tgt, targets.len(), "targets", "target_offsets")?;
        Ok(FlatRuns {
            steps,
            values,
            ctx,
            targets,
            tgt,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.ctx.len() - 1
    }

    /// The same runs with other values (as many, at the same offsets): the model-space ones.
    fn with_values<'b>(&self, values: &'b [f64]) -> FlatRuns<'b>
    where
        'a: 'b,
    {
        FlatRuns { values, ..*self }
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
            &self.values[c],
            &self.targets[self.target_range(i)],
        )
    }

    pub(crate) fn inputs(&self) -> Vec<RunInput<'a>> {
        (0..self.len()).map(|i| self.run(i)).collect()
    }
}

/// The values of `n` runs (`ctx[n + 1]`) in the model's space of `metric`, and per run why its
/// values are not the metric's, if they are not. The model's own metric passes through (the
/// engine checks those values itself).
fn to_model_space(
    metric: Metric,
    values: &[f64],
    ctx: &[usize],
) -> (Vec<f64>, Vec<Option<AbiError>>) {
    let mut errors: Vec<Option<AbiError>> = (1..ctx.len()).map(|_| None).collect();
    if metric.is_identity() {
        return (values.to_vec(), errors);
    }
    let mut model = Vec::with_capacity(values.len());
    for (run, w) in ctx.windows(2).enumerate() {
        let run_values = &values[w[0]..w[1]];
        match metric.values_to_model(run, run_values) {
            Ok(m) => model.extend(m),
            Err(e) => {
                // The run is answered with its error; NaN keeps the others' offsets.
                errors[run] = Some(e.into());
                model.extend(std::iter::repeat_n(f64::NAN, run_values.len()));
            }
        }
    }
    (model, errors)
}

/// The first run whose values are not the metric's, as the error of a call that needs them all.
fn first_error(errors: Vec<Option<AbiError>>) -> Result<(), AbiError> {
    errors.into_iter().flatten().next().map_or(Ok(()), Err)
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

/// Forecasts every run in the units of `metric`; per run, its quantiles flat
/// (`[target][level]`, increasing with the level) or its error. One bad run does not stop the
/// others.
pub(crate) fn forecast(
    engine: &Engine,
    runs: &FlatRuns<'_>,
    losses: Option<&FlatLosses<'_>>,
    metric: Metric,
) -> Result<Vec<Result<Vec<f32>, AbiError>>, AbiError> {
    if let Some(l) = losses.filter(|l| l.offsets.len() != runs.ctx.len()) {
        return Err(invalid(format!(
            "loss_offsets has {} entries for {} runs: it needs n_runs + 1",
            l.offsets.len(),
            runs.len()
        )));
    }
    let (model, mut errors) = to_model_space(metric, runs.values, runs.ctx);
    let model_runs = runs.with_values(&model);
    let good: Vec<usize> = (0..runs.len()).filter(|&i| errors[i].is_none()).collect();
    let inputs: Vec<RunInput> = good
        .iter()
        .map(|&i| {
            let run = model_runs.run(i);
            match losses {
                Some(l) if l.offsets[i + 1] > l.offsets[i] => {
                    run.with_losses(Losses::Tokens(&l.losses[l.offsets[i]..l.offsets[i + 1]]))
                }
                _ => run,
            }
        })
        .collect();
    let mut results = engine.forecast_each(&inputs).into_iter();
    Ok((0..runs.len())
        .map(|i| {
            if let Some(e) = errors[i].take() {
                return Err(e);
            }
            let result = results.next().expect("one result per run forecast");
            result
                .map(|f| {
                    f.forecasts
                        .iter()
                        .flat_map(|fc| metric.quantiles_to_user(&fc.quantiles))
                        .map(|q| q as f32)
                        .collect()
                })
                // The engine numbers the runs it was given; the caller numbers all of them.
                .map_err(|e| AbiError::from(e.renumber_run(&good)))
        })
        .collect())
}

/// A ranking as flat arrays: `prob_above[i * n + j]` = P(run i ends above run j) (NaN on the
/// diagonal) and `order` (run indices, best first).
pub(crate) struct FlatRanking {
    pub prob_above: Vec<f64>,
    pub order: Vec<usize>,
}

/// Ranks runs by their forecast at each run's last target: "above" means better under
/// `metric` (a lower loss, for a minimized one).
pub(crate) fn rank(
    engine: &Engine,
    runs: &FlatRuns<'_>,
    metric: Metric,
) -> Result<FlatRanking, AbiError> {
    let n = runs.len();
    n.checked_mul(n).ok_or_else(|| invalid("too many runs"))?;
    let (model, errors) = to_model_space(metric, runs.values, runs.ctx);
    first_error(errors)?;
    let ranking = rank_runs(engine, &runs.with_values(&model).inputs())?;
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
    /// The units of the values.
    pub metric: Metric,
}

/// The default budget of `StopWithinBudget`: stopping costs at most 0.1 expected top-k arms.
pub(crate) const DEFAULT_BUDGET: f64 = 0.1;

/// The policy a code means, with its parameters; an unknown code is an invalid argument (the
/// ranges of the parameters are checked by the planner, with its own messages).
fn policy(s: &PlanSettings) -> Result<Policy, AbiError> {
    Ok(match s.policy {
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
    })
}

/// Maps settings to `PlanOptions`.
pub(crate) fn plan_options(s: &PlanSettings) -> Result<PlanOptions, AbiError> {
    let mut opts = PlanOptions::new(policy(s)?);
    opts.min_observations = (s.min_observations > 0).then_some(s.min_observations);
    opts.samples = s.samples;
    opts.seed = s.seed;
    opts.metric = s.metric;
    Ok(opts)
}

/// Maps settings, a default end step and the calibration switch to `SweepOptions` (checked by
/// `Sweep::new`).
pub(crate) fn sweep_options(
    s: &PlanSettings,
    end_step: Option<f64>,
    calibrate: bool,
) -> Result<SweepOptions, AbiError> {
    let mut opts = SweepOptions::new(policy(s)?);
    opts.metric = s.metric;
    opts.end_step = end_step;
    opts.calibrate = calibrate;
    opts.min_observations = s.min_observations;
    opts.samples = s.samples;
    opts.seed = s.seed;
    Ok(opts)
}

/// A kill plan for the arms laid out by `steps` / `values` / `ctx` in the units of
/// `options.metric` (no targets: arm `i` is forecast at `end_steps[i]` if given, else at
/// `end_step`); arm ids are their indices.
pub(crate) fn plan(
    engine: &Engine,
    steps: &[f64],
    values: &[f64],
    ctx: &[usize],
    end_step: f64,
    end_steps: Option<&[f64]>,
    options: &PlanOptions,
) -> Result<Plan, AbiError> {
    check_offsets(ctx, "context_offsets")?;
    check_covers(ctx, steps.len(), "steps", "context_offsets")?;
    check_covers(ctx, values.len(), "values", "context_offsets")?;
    let n = ctx.len() - 1;
    if let Some(ends) = end_steps.filter(|e| e.len() != n) {
        return Err(invalid(format!(
            "end_steps has {} values for {n} arms",
            ends.len()
        )));
    }
    let (model, errors) = to_model_space(options.metric, values, ctx);
    first_error(errors)?;
    let arms: Vec<SweepArm> = ctx
        .windows(2)
        .enumerate()
        .map(|(i, w)| SweepArm {
            id: i.to_string(),
            run: RunInput::new(&steps[w[0]..w[1]], &model[w[0]..w[1]], &[]),
            end_step: end_steps.map(|e| e[i]),
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
        assert!(err(FlatRuns::new(&s, &s[..2], &[0, 3], &t, &[0, 1])).contains("values"));
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
            metric: Metric::ACCURACY,
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
