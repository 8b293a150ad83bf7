//! The online sweep handle: a scheduler feeds it results as they arrive and asks, at any moment,
//! which arms to stop.
//!
//! ```no_run
//! use neuneu::sweep::{Sweep, SweepOptions};
//! use neuneu::{Engine, Policy};
//! use std::sync::Arc;
//! let engine = Arc::new(Engine::embedded()?);
//! let mut options = SweepOptions::new(Policy::KeepTopK { k: 3 });
//! options.end_step = Some(10_000.0);
//! let mut sweep = Sweep::new(engine, options)?;
//! sweep.observe("lr=1e-3", 1000.0, 0.31)?;
//! sweep.observe("lr=1e-3", 2000.0, 0.35)?;
//! let decision = sweep.decide(None)?;
//! for arm in &decision.arms {
//!     println!("{}: {:?} ({})", arm.id, arm.action, arm.reason);
//! }
//! # Ok::<(), neuneu::Error>(())
//! ```
//!
//! What it does with every state a real sweep is in:
//! - **young arms** (fewer points than `min_observations`, or than the model's minimum context)
//!   are kept with the reason "needs N points", never an error; they take no part in the plan;
//! - **live arms** with an end step (their own `set_end`, else the sweep's `end_step`) are
//!   forecast at their own end; an arm already at or past its end counts with its last value;
//! - **finished arms** take part with their final value, certain (a point mass): they hold
//!   top places that live arms must beat;
//! - **stopped arms** take no part: they will not finish;
//! - `k` is capped at the arms that can still win, and the cap is stated in the answer;
//! - a live arm with no end step anywhere is kept, with that as its reason.
//!
//! Values are in the user's units ([`Metric`]: bounded or a loss, maximized or minimized) and are
//! forecast in the model's space ([`crate::decisions::metric`]); answers come back in the user's
//! units.
//!
//! Cost: each arm's forecast at its end is cached with the number of points and the end it was
//! made from, so a decision after one new observation forecasts one arm and plans.
//!
//! Determinism: the plan of the `n`-th decision is seeded by [`decision_seed`]`(seed, n)`, from
//! the sweep's seed and its count of decisions only, and [`Sweep::save`] keeps both: a resumed
//! sweep makes the same decisions as one that never stopped.
//!
//! Learning from itself: with `calibrate`, live arms' forecasts are corrected by what the
//! finished arms did from the same point (`calibration.rs`); and once arms finish, a model fitted
//! to them (`crate::adapt::sweep`) replaces the sweep's with [`Sweep::set_engine`].

mod calibration;
mod state;

use calibration::{Base, Residual};
pub use calibration::{MAX_FINISHED, MIN_FINISHED};
pub use state::{SAVE_FORMAT, SAVE_VERSION};

use crate::decisions::distribution::QuantileDistribution;
use crate::decisions::killplan::{Arm, PlanOptions, Policy, needs_points, plan_capped};
use crate::decisions::metric::Metric;
use crate::error::{Error, Result};
use crate::inference::engine::{Engine, Losses, RunInput};
use crate::rng::SplitMix64;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// How a sweep judges its arms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepOptions {
    /// The metric's kind and direction.
    #[serde(default)]
    pub metric: Metric,
    /// How to choose the arms to stop; `k` is capped at the arms that can still win.
    pub policy: Policy,
    /// The end step of an arm that has no end of its own (`set_end`).
    #[serde(default)]
    pub end_step: Option<f64>,
    /// Points an arm needs before it can be judged (at least the model's minimum context).
    #[serde(default)]
    pub min_observations: usize,
    /// Monte Carlo samples per plan.
    #[serde(default = "default_samples")]
    pub samples: usize,
    /// The seed every decision's seed is derived from.
    #[serde(default)]
    pub seed: u64,
    /// Calibrate live arms' forecasts on the sweep's finished arms (see `calibration`): once
    /// [`MIN_FINISHED`] finished arms were where a live arm is (the same fraction of their
    /// run), its forecast is its model median plus the model's residuals on them, or its last
    /// value plus their gains from there, or times their growth, whichever forecast them best
    /// (leave one out); an arm too young for the model can then be judged from the gains or
    /// the growth. An arm ahead of all those finished arms at that point is kept (they cannot
    /// say how a better run goes on). Past [`MAX_FINISHED`] finished arms, a sample of them
    /// chosen by id is read. Off by default, so that an arm's forecast depends on its own
    /// points only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub calibrate: bool,
}

fn default_samples() -> usize {
    crate::decisions::killplan::DEFAULT_SAMPLES
}

impl SweepOptions {
    /// `policy` for an accuracy-like metric, no default end, the default samples, seed 0.
    pub fn new(policy: Policy) -> Self {
        SweepOptions {
            metric: Metric::default(),
            policy,
            end_step: None,
            min_observations: 0,
            samples: default_samples(),
            seed: 0,
            calibrate: false,
        }
    }
}

/// Where an arm stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArmStatus {
    Live,
    /// Its last value is final.
    Finished,
    /// Stopped by the scheduler.
    Stopped,
}

/// What a decision says to do with an arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Continue,
    Stop,
    /// The arm is finished: nothing to decide.
    Finished,
    /// The arm was stopped already.
    Stopped,
}

/// One arm's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmVerdict {
    pub id: String,
    pub action: Action,
    /// Probability of finishing in the top [`Decision::k`]; absent for arms outside the plan.
    pub p_top_k: Option<f64>,
    /// The forecast at the arm's end step, in the user's units: median and [q0.1, q0.9]
    /// (a finished arm's final value in all three); absent where there is no forecast.
    pub median: Option<f64>,
    pub q10: Option<f64>,
    pub q90: Option<f64>,
    /// The end step the forecast is for.
    pub end_step: Option<f64>,
    pub reason: String,
}

/// The answer to [`Sweep::decide`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Which decision of the sweep this is (0 for the first).
    pub index: u64,
    /// The seed its plan used ([`decision_seed`]).
    pub seed: u64,
    /// The `k` the policy asked for, and the `k` used (capped at the arms that can still win);
    /// 0 when no plan was needed.
    pub k_requested: usize,
    pub k: usize,
    /// The arms asked about, in the sweep's order.
    pub arms: Vec<ArmVerdict>,
}

/// The seed of decision `index` of a sweep seeded with `seed`.
pub fn decision_seed(seed: u64, index: u64) -> u64 {
    SplitMix64::new(seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64()
}

#[derive(Debug, Clone)]
struct ArmState {
    id: String,
    steps: Vec<f64>,
    /// The user's values.
    values: Vec<f64>,
    /// The same in the model's space.
    model: Vec<f64>,
    /// Token losses given for each point (`observe_losses`), in step.
    losses: Vec<Option<Arc<[f32]>>>,
    end: Option<f64>,
    status: ArmStatus,
    /// The model-space forecast at the end, with the points and end it was made from.
    cached: Option<(usize, f64, QuantileDistribution)>,
    /// A finished arm's model-space median forecast at its last step from its first `n` points
    /// (the key), for calibration; a finished arm's points never change.
    prefix_medians: HashMap<usize, f64>,
}

/// An online sweep (see the module docs).
pub struct Sweep {
    engine: Arc<Engine>,
    options: SweepOptions,
    arms: Vec<ArmState>,
    index: HashMap<String, usize>,
    decisions: u64,
}

impl std::fmt::Debug for Sweep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sweep")
            .field("options", &self.options)
            .field("arms", &self.arms.len())
            .field("decisions", &self.decisions)
            .finish_non_exhaustive()
    }
}

/// What an arm's calibrated forecast was built on, and on how many finished arms (None: the
/// model's forecast, uncalibrated).
type CalibratedOn = Option<(Base, usize)>;

/// How an arm enters a decision's plan.
enum Role {
    /// Forecast at its end: the model-space distribution.
    Forecast(QuantileDistribution),
    /// Certain at this model-space value (finished, or at its end).
    Certain(f64),
    /// Kept outside the plan, for this reason.
    Kept(String),
    /// Kept outside the plan: too few points for the model (the reason says how many it needs),
    /// unless calibration can judge it.
    Young(String),
    /// To be forecast at this end (within `roles` only: its cached forecast is stale).
    Stale(f64),
    /// Not in the plan: stopped.
    Stopped,
}

impl Sweep {
    /// A sweep with no arms yet. Checks the options: the policy's numbers, a positive end step.
    pub fn new(engine: Arc<Engine>, options: SweepOptions) -> Result<Self> {
        check_options(&options)?;
        Ok(Sweep {
            engine,
            options,
            arms: Vec::new(),
            index: HashMap::new(),
            decisions: 0,
        })
    }

    pub fn options(&self) -> &SweepOptions {
        &self.options
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Goes on with `engine` (a model adapted to this sweep's finished arms, say): the next
    /// decisions and forecasts use it; forecasts cached under the old model are dropped. The
    /// arms, their points and losses, and the decision count stay; a sweep saved from now on
    /// loads with `engine`.
    pub fn set_engine(&mut self, engine: Arc<Engine>) {
        for a in &mut self.arms {
            a.cached = None;
            a.prefix_medians.clear();
        }
        self.engine = engine;
    }

    /// The arms' ids, in the order they were first seen.
    pub fn arm_ids(&self) -> impl Iterator<Item = &str> {
        self.arms.iter().map(|a| a.id.as_str())
    }

    /// An arm's status, if the sweep knows it.
    pub fn status(&self, arm: &str) -> Option<ArmStatus> {
        self.index.get(arm).map(|&i| self.arms[i].status)
    }

    /// An arm's observed steps and values (in the user's units), if the sweep knows it.
    pub fn points(&self, arm: &str) -> Option<(&[f64], &[f64])> {
        let a = &self.arms[*self.index.get(arm)?];
        Some((&a.steps, &a.values))
    }

    /// The token losses given for an arm's points (`observe_losses`): (step, losses), in step
    /// order; empty for an unknown arm.
    pub fn losses(&self, arm: &str) -> Vec<(f64, &[f32])> {
        let Some(&i) = self.index.get(arm) else {
            return Vec::new();
        };
        let a = &self.arms[i];
        a.steps
            .iter()
            .zip(&a.losses)
            .filter_map(|(&step, l)| Some((step, l.as_deref()?)))
            .collect()
    }

    /// How many decisions the sweep has made.
    pub fn decisions_made(&self) -> u64 {
        self.decisions
    }

    /// Records `value` at `step` for `arm` (created on its first point). The same point twice is
    /// a no-op; a step before the arm's last one, another value at its last step, a value
    /// outside the metric or an arm that is finished or stopped is an error naming the arm, and
    /// leaves the sweep as it was.
    pub fn observe(&mut self, arm: &str, step: f64, value: f64) -> Result<()> {
        let bad = |field, reason: String| Err(Error::invalid(arm, field, reason));
        if !step.is_finite() || step < 0.0 {
            return bad(
                "step",
                format!("{step} is not a finite non-negative number"),
            );
        }
        let model = match self.options.metric.to_model(value) {
            Ok(m) => m,
            Err(reason) => return bad("value", reason.to_string()),
        };
        let i = self.arm_index(arm);
        let a = &mut self.arms[i];
        if a.status != ArmStatus::Live {
            return bad("arm", format!("the arm is {}", status_word(a.status)));
        }
        if let Some(&last) = a.steps.last() {
            if step < last {
                return bad("step", format!("{step} is before the last step {last}"));
            }
            if step == last {
                let previous = *a.values.last().expect("a value per step");
                return if previous == value {
                    Ok(())
                } else {
                    bad(
                        "value",
                        format!("{value} at step {step}, which already has {previous}"),
                    )
                };
            }
        }
        a.steps.push(step);
        a.values.push(value);
        a.model.push(model);
        a.losses.push(None);
        Ok(())
    }

    /// Gives the token losses of `arm`'s checkpoint at `step`, a point already observed (exactly
    /// that step): forecasts made from a context that ends there read them (a bundle adapted
    /// with `neuneu adapt --losses` has trees for them), including the forecasts of finished
    /// arms' prefixes that calibration makes. Replaces losses given before for that point. The
    /// losses are checked as a request's are; an unknown arm or step, or an arm that is finished
    /// or stopped, is an error naming the arm, and leaves the sweep as it was.
    pub fn observe_losses(&mut self, arm: &str, step: f64, losses: &[f32]) -> Result<()> {
        let i = self.known(arm)?;
        let bad = |field, reason: String| Err(Error::invalid(arm, field, reason));
        let a = &mut self.arms[i];
        if a.status != ArmStatus::Live {
            return bad("arm", format!("the arm is {}", status_word(a.status)));
        }
        let Some(point) = a.steps.iter().position(|&s| s == step) else {
            return bad(
                "step",
                format!("no value observed at step {step}: observe it first"),
            );
        };
        if let Err(p) = crate::inference::features::validate_losses(losses) {
            return bad(p.field, p.reason);
        }
        a.losses[point] = Some(Arc::from(losses));
        if point + 1 == a.steps.len() {
            a.cached = None;
        }
        Ok(())
    }

    /// Sets the step at which `arm` ends (created if new).
    pub fn set_end(&mut self, arm: &str, end_step: f64) -> Result<()> {
        if !(end_step.is_finite() && end_step > 0.0) {
            return Err(Error::invalid(
                arm,
                "end_step",
                format!("{end_step} is not a positive finite number"),
            ));
        }
        let i = self.arm_index(arm);
        self.arms[i].end = Some(end_step);
        Ok(())
    }

    /// Marks `arm` finished: its last value is final. It needs at least one point.
    pub fn finish(&mut self, arm: &str) -> Result<()> {
        let i = self.known(arm)?;
        let a = &mut self.arms[i];
        if a.steps.is_empty() {
            return Err(Error::invalid(arm, "arm", "a finished arm needs a value"));
        }
        if a.status == ArmStatus::Stopped {
            return Err(Error::invalid(arm, "arm", "the arm was stopped"));
        }
        a.status = ArmStatus::Finished;
        Ok(())
    }

    /// Marks `arm` stopped by the scheduler: it takes no further part.
    pub fn stop(&mut self, arm: &str) -> Result<()> {
        let i = self.known(arm)?;
        let a = &mut self.arms[i];
        if a.status == ArmStatus::Finished {
            return Err(Error::invalid(arm, "arm", "the arm is finished"));
        }
        a.status = ArmStatus::Stopped;
        Ok(())
    }

    /// Forecasts `arm` at `steps` (each after its last step), in the user's units: one row of
    /// quantiles per step, at [`Engine::levels`].
    pub fn forecast(&self, arm: &str, steps: &[f64]) -> Result<Vec<Vec<f64>>> {
        let a = &self.arms[self.known(arm)?];
        let run = a.input(a.steps.len(), steps);
        let forecast = self
            .engine
            .forecast(&[run])
            .map_err(|e| e.rename_run(|_| Some(arm.to_string())))?;
        Ok(forecast[0]
            .forecasts
            .iter()
            .map(|f| self.options.metric.quantiles_to_user(&f.quantiles))
            .collect())
    }

    /// Decides for every live arm (`arms` None), or for the arms named (any status): continue
    /// or stop, with P(top k), the forecast at the arm's end and a reason. Every decision made
    /// counts towards the next one's seed.
    pub fn decide(&mut self, arms: Option<&[&str]>) -> Result<Decision> {
        let asked: Vec<usize> = match arms {
            None => (0..self.arms.len())
                .filter(|&i| self.arms[i].status == ArmStatus::Live)
                .collect(),
            Some(ids) => {
                let mut asked = ids
                    .iter()
                    .map(|id| self.known(id))
                    .collect::<Result<Vec<_>>>()?;
                asked.sort_unstable();
                asked.dedup();
                asked
            }
        };
        let index = self.decisions;
        let seed = decision_seed(self.options.seed, index);

        let (roles, calibrated_on) = self.roles()?;
        let metric = self.options.metric;
        let in_plan: Vec<usize> = (0..self.arms.len())
            .filter(|&i| matches!(roles[i], Role::Forecast(..) | Role::Certain(_)))
            .collect();
        let levels = self.engine.levels();
        let plan_arms: Vec<Arm> = in_plan
            .iter()
            .map(|&i| {
                let a = &self.arms[i];
                let forecast = match &roles[i] {
                    Role::Forecast(d) => d.clone(),
                    Role::Certain(v) => certain(levels, *v)?,
                    _ => unreachable!("filtered above"),
                };
                Ok(Arm {
                    id: a.id.clone(),
                    forecast,
                    observations: a.steps.len(),
                    last_value: *a.model.last().expect("planned arms have points"),
                })
            })
            .collect::<Result<_>>()?;
        let (plan, k_requested, k) = if plan_arms.is_empty() {
            (None, self.options.policy.requested_k(0), 0)
        } else {
            let options = PlanOptions {
                policy: self.options.policy,
                min_observations: None,
                samples: self.options.samples,
                seed,
                metric,
            };
            let plan = plan_capped(&plan_arms, &options)?;
            let (k_requested, k) = (plan.k_requested, plan.k);
            (Some(plan), k_requested, k)
        };

        let verdicts = asked
            .iter()
            .map(|&i| {
                let a = &self.arms[i];
                let end = a.end.or(self.options.end_step);
                let planned = in_plan.binary_search(&i).ok();
                let mut verdict = ArmVerdict {
                    id: a.id.clone(),
                    action: Action::Continue,
                    p_top_k: None,
                    median: None,
                    q10: None,
                    q90: None,
                    end_step: end,
                    reason: String::new(),
                };
                if let (Some(p), Some(plan)) = (planned, &plan) {
                    let d = &plan.decisions[p];
                    verdict.p_top_k = Some(d.p_top_k);
                    verdict.median = Some(d.median);
                    verdict.q10 = Some(d.q10);
                    verdict.q90 = Some(d.q90);
                }
                match (&roles[i], a.status) {
                    (_, ArmStatus::Finished) => {
                        let last = *a.values.last().expect("finished arms have a value");
                        verdict.action = Action::Finished;
                        verdict.reason = format!("finished at {last:.4}");
                    }
                    (Role::Stopped, _) | (_, ArmStatus::Stopped) => {
                        verdict.action = Action::Stopped;
                        verdict.reason = "stopped by the scheduler".into();
                    }
                    (Role::Kept(reason) | Role::Young(reason), _) => {
                        verdict.reason = format!("keep: {reason}")
                    }
                    (Role::Stale(_), _) => unreachable!("roles() forecasts every stale arm"),
                    (Role::Forecast(..) | Role::Certain(_), _) => {
                        let d = &plan
                            .as_ref()
                            .expect("a plan when arms are planned")
                            .decisions[planned.expect("planned")];
                        verdict.action = if d.keep {
                            Action::Continue
                        } else {
                            Action::Stop
                        };
                        verdict.reason = match calibrated_on[i] {
                            Some((Base::Model, n)) => format!(
                                "{} (the model's forecast, calibrated on {n} finished arms)",
                                d.reason
                            ),
                            Some((Base::Gains, n)) => format!(
                                "{} (the last value plus the gains of {n} finished arms)",
                                d.reason
                            ),
                            Some((Base::Ratio, n)) => format!(
                                "{} (the last value times the growth of {n} finished arms)",
                                d.reason
                            ),
                            None => d.reason.clone(),
                        };
                    }
                }
                verdict
            })
            .collect();
        // Only a decision that was made counts towards the next one's seed.
        self.decisions += 1;
        Ok(Decision {
            index,
            seed,
            k_requested,
            k,
            arms: verdicts,
        })
    }

    /// How each arm enters this decision, forecasting (in one batch) the arms whose cached
    /// forecast is stale; with calibration on, also how many finished arms each live arm's
    /// forecast was calibrated on.
    fn roles(&mut self) -> Result<(Vec<Role>, Vec<CalibratedOn>)> {
        let need = self
            .options
            .min_observations
            .max(self.engine.manifest().preparation.min_context);
        let mut roles: Vec<Role> = Vec::with_capacity(self.arms.len());
        for a in &self.arms {
            let n = a.steps.len();
            let role = match a.status {
                ArmStatus::Stopped => Role::Stopped,
                ArmStatus::Finished => Role::Certain(*a.model.last().expect("a value")),
                ArmStatus::Live if n < need => Role::Young(needs_points(need, n)),
                ArmStatus::Live => match a.end.or(self.options.end_step) {
                    None => Role::Kept("no end step (set_end, or the sweep's end_step)".into()),
                    Some(end) if end <= a.steps[n - 1] => {
                        Role::Certain(*a.model.last().expect("a value"))
                    }
                    Some(end) => match &a.cached {
                        Some((points, at, d)) if *points == n && *at == end => {
                            Role::Forecast(d.clone())
                        }
                        _ => Role::Stale(end),
                    },
                },
            };
            roles.push(role);
        }
        let stale: Vec<(usize, f64)> = roles
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match r {
                Role::Stale(end) => Some((i, *end)),
                _ => None,
            })
            .collect();
        if !stale.is_empty() {
            let targets: Vec<[f64; 1]> = stale.iter().map(|&(_, end)| [end]).collect();
            let runs: Vec<RunInput> = stale
                .iter()
                .zip(&targets)
                .map(|(&(i, _), t)| self.arms[i].input(self.arms[i].steps.len(), t))
                .collect();
            let results = self.engine.forecast_each(&runs);
            let levels = self.engine.levels().to_vec();
            for (&(i, end), result) in stale.iter().zip(results) {
                let a = &mut self.arms[i];
                let forecast = result.and_then(|f| {
                    QuantileDistribution::from_f32(&a.id, &levels, &f.forecasts[0].quantiles)
                });
                roles[i] = match forecast {
                    Ok(d) => {
                        a.cached = Some((a.steps.len(), end, d.clone()));
                        Role::Forecast(d)
                    }
                    Err(e) => Role::Kept(format!(
                        "cannot be forecast: {}",
                        e.rename_run(|_| Some(a.id.clone()))
                    )),
                };
            }
        }
        let calibrated_on = if self.options.calibrate {
            self.calibrate(&mut roles, need)?
        } else {
            vec![None; roles.len()]
        };
        Ok((roles, calibrated_on))
    }

    /// Calibrates each live arm's forecast on the finished arms (`calibration`): the forecast
    /// arms, and the young arms with at least `min_observations` points (and one), which the
    /// gains of finished arms can judge before the model can. Forecasts the finished arms'
    /// prefixes it needs in one batch; returns, per arm, what its forecast was built on.
    fn calibrate(&mut self, roles: &mut [Role], need: usize) -> Result<Vec<CalibratedOn>> {
        let mut calibrated_on = vec![None; roles.len()];
        let finished: Vec<usize> = (0..self.arms.len())
            .filter(|&i| self.arms[i].status == ArmStatus::Finished)
            .collect();
        if finished.len() < MIN_FINISHED {
            return Ok(calibrated_on);
        }
        let finished = calibration::sample(finished, |i| &self.arms[i].id);
        let user_need = self.options.min_observations.max(1);
        // Each arm to calibrate, the fraction of its run it has done, and whether the model
        // can forecast it.
        let live: Vec<(usize, f64, bool)> = roles
            .iter()
            .enumerate()
            .filter_map(|(i, role)| {
                let a = &self.arms[i];
                let model_ok = match role {
                    Role::Forecast(_) => true,
                    Role::Young(_) if a.steps.len() >= user_need => false,
                    _ => return None,
                };
                let end = a.end.or(self.options.end_step)?;
                let last = *a.steps.last()?;
                (last < end).then_some((i, last / end, model_ok))
            })
            .collect();
        let mut wanted: Vec<(usize, usize)> = live
            .iter()
            .filter(|&&(_, _, model_ok)| model_ok)
            .flat_map(|&(_, f, _)| {
                let arms = &self.arms;
                finished.iter().filter_map(move |&c| {
                    Some((c, calibration::prefix_len(&arms[c].steps, f, need)?))
                })
            })
            .filter(|&(c, n)| !self.arms[c].prefix_medians.contains_key(&n))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        if !wanted.is_empty() {
            let targets: Vec<[f64; 1]> = wanted
                .iter()
                .map(|&(c, _)| {
                    [*self.arms[c]
                        .steps
                        .last()
                        .expect("finished arms have points")]
                })
                .collect();
            let runs: Vec<RunInput> = wanted
                .iter()
                .zip(&targets)
                .map(|(&(c, n), t)| self.arms[c].input(n, t))
                .collect();
            let results = self.engine.forecast_each(&runs);
            let levels = self.engine.levels().to_vec();
            for (&(c, n), result) in wanted.iter().zip(results) {
                let a = &mut self.arms[c];
                // A prefix the model refuses gives no model residual (NaN is skipped below).
                let median = result
                    .and_then(|f| {
                        QuantileDistribution::from_f32(&a.id, &levels, &f.forecasts[0].quantiles)
                    })
                    .map_or(f64::NAN, |d| d.median());
                a.prefix_medians.insert(n, median);
            }
        }
        let levels: Vec<f64> = self.engine.levels().iter().map(|&l| f64::from(l)).collect();
        for &(i, fraction, model_ok) in &live {
            let residuals: Vec<Residual> = finished
                .iter()
                .filter_map(|&c| {
                    let a = &self.arms[c];
                    let n = calibration::prefix_len(&a.steps, fraction, 1)?;
                    let last = *a.model.last().expect("a value");
                    let model = model_ok
                        .then(|| a.prefix_medians.get(&n).copied())
                        .flatten()
                        .filter(|m| m.is_finite())
                        .map(|m| last - m);
                    Some(Residual {
                        gains: last - a.model[n - 1],
                        model,
                        at_cut: a.model[n - 1],
                    })
                })
                .collect();
            let a = &self.arms[i];
            let now = *a.model.last().expect("calibrated arms have points");
            if calibration::ahead_of_all(&residuals, now) {
                roles[i] = Role::Kept(format!(
                    "ahead of all {} finished arms at this point of its run, where how they went \
                     on cannot tell how it will",
                    residuals.len()
                ));
                continue;
            }
            let Some((base, residuals)) = calibration::choose(&residuals, model_ok) else {
                continue;
            };
            let from = match (base, &roles[i]) {
                (Base::Model, Role::Forecast(d)) => d.median(),
                _ => now,
            };
            roles[i] = Role::Forecast(calibration::calibrated(&levels, base, from, &residuals)?);
            calibrated_on[i] = Some((base, residuals.len()));
        }
        Ok(calibrated_on)
    }

    fn arm_index(&mut self, arm: &str) -> usize {
        if let Some(&i) = self.index.get(arm) {
            return i;
        }
        self.arms.push(ArmState {
            id: arm.to_string(),
            steps: Vec::new(),
            values: Vec::new(),
            model: Vec::new(),
            losses: Vec::new(),
            end: None,
            status: ArmStatus::Live,
            cached: None,
            prefix_medians: HashMap::new(),
        });
        self.index.insert(arm.to_string(), self.arms.len() - 1);
        self.arms.len() - 1
    }

    fn known(&self, arm: &str) -> Result<usize> {
        self.index
            .get(arm)
            .copied()
            .ok_or_else(|| Error::invalid(arm, "arm", "no such arm in the sweep"))
    }
}

impl ArmState {
    /// The engine's input for the arm's first `n` points (in the model's space) at `targets`,
    /// with the losses of its `n`-th point if it has them.
    fn input<'a>(&'a self, n: usize, targets: &'a [f64]) -> RunInput<'a> {
        let run = RunInput::new(&self.steps[..n], &self.model[..n], targets);
        match n
            .checked_sub(1)
            .and_then(|last| self.losses[last].as_deref())
        {
            Some(tokens) => run.with_losses(Losses::Tokens(tokens)),
            None => run,
        }
    }
}

fn status_word(status: ArmStatus) -> &'static str {
    match status {
        ArmStatus::Live => "live",
        ArmStatus::Finished => "finished",
        ArmStatus::Stopped => "stopped",
    }
}

/// A point mass at `value` on the model's levels.
fn certain(levels: &[f32], value: f64) -> Result<QuantileDistribution> {
    QuantileDistribution::new(
        levels.iter().map(|&l| f64::from(l)).collect(),
        vec![value; levels.len()],
    )
}

/// The policy's numbers are checked once, at creation, with a sweep of one arm standing in for
/// any size (k itself is capped later, never refused).
fn check_options(o: &SweepOptions) -> Result<()> {
    let dist = certain(&[0.5], 0.5)?;
    let one = [Arm {
        id: "-".into(),
        forecast: dist,
        observations: 1,
        last_value: 0.5,
    }];
    let k_zero = matches!(
        o.policy,
        Policy::KeepTopK { k: 0 }
            | Policy::StopBelowProbability { k: 0, .. }
            | Policy::StopWithinBudget { k: 0, .. }
    );
    if k_zero {
        return Err(Error::setting("policy.k", "must be at least 1"));
    }
    let mut probe = PlanOptions::new(o.policy.capped(1));
    probe.samples = o.samples;
    crate::decisions::killplan::plan(&one, &probe)?;
    if let Some(end) = o.end_step {
        if !(end.is_finite() && end > 0.0) {
            return Err(Error::setting(
                "end_step",
                format!("{end} is not a positive finite number"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
