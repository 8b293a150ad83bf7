//! The cxx bridge under the C++ API (feature `cpp`).
//!
//! cxx generates `neuneu-ffi/src/cxx_bridge.rs.h` (copied next to the library by `build.rs`)
//! and the C++ shims compiled into libneuneu.a; `ffi/include/neuneu.hpp` wraps them in the
//! C++17 API (`neuneu::Engine`, `neuneu::Sweep`, exceptions of type `neuneu::Error`). This
//! layer is deliberately raw, flat slices in and flat vectors out, so that it shares `flat.rs`
//! with the C ABI; the header does the C++-side conveniences (vectors of runs, nested results).
//!
//! cxx turns an `Err` into a C++ exception carrying only a message, and aborts the process on
//! a panic. So every function runs inside `guarded`, which catches the unwind and returns it as
//! an `Err` too, and leaves the error's status code (a `neuneu_status`) for `last_status` on
//! the calling thread, where the header reads it into `neuneu::Error::status()`.

use super::adapt::adapt_arms;
use super::engine::backend;
use super::flat::{self, FlatLosses, FlatRuns, PlanSettings};
use super::options::{self, metric};
use super::{AbiError, invalid, neuneu_status};
use neuneu::inference::engine::{DEFAULT_BUNDLE, Engine};
use neuneu::sweep::{Action, Sweep};
use std::cell::Cell;
use std::sync::Arc;

#[cxx::bridge(namespace = "neuneu::bridge")]
mod ffi {
    /// Plan options, as `neuneu::PlanOptions` (codes of `neuneu_policy`, `neuneu_metric_kind`,
    /// `neuneu_direction`).
    struct PlanSettings {
        policy: i32,
        k: usize,
        fraction: f64,
        threshold: f64,
        budget: f64,
        min_observations: usize,
        samples: usize,
        seed: u64,
        metric_kind: i32,
        direction: i32,
    }

    struct ArmDecision {
        keep: bool,
        p_top_k: f64,
        median: f64,
        q10: f64,
        q90: f64,
        reason: String,
    }

    struct PlanOutput {
        k: usize,
        k_requested: usize,
        arms: Vec<ArmDecision>,
    }

    struct RankOutput {
        /// Row-major `[i * n + j]` = P(run i ends better than run j); NaN on the diagonal.
        prob_above: Vec<f64>,
        order: Vec<usize>,
    }

    /// One run's forecast: status 0 and its quantiles flat (`[target][level]`), or its
    /// `neuneu_status` and message.
    struct RunOutput {
        status: i32,
        message: String,
        quantiles: Vec<f32>,
    }

    /// One arm's verdict (NaN where a number is absent; action codes of `neuneu_action`).
    struct Verdict {
        id: String,
        action: i32,
        p_top_k: f64,
        median: f64,
        q10: f64,
        q90: f64,
        end_step: f64,
        reason: String,
    }

    struct DecisionOutput {
        index: u64,
        seed: u64,
        k: usize,
        k_requested: usize,
        arms: Vec<Verdict>,
    }

    /// A model adapted to a sweep's finished arms (`neuneu_sweep_adapt`); the MAEs are NaN
    /// when nothing was held out.
    struct AdaptedOutput {
        bundle: Vec<u8>,
        runs_fitted: usize,
        runs_held_out: usize,
        held_out_mae: f64,
        base_held_out_mae: f64,
        persistence_held_out_mae: f64,
    }

    extern "Rust" {
        type CxxEngine;
        type CxxSweep;

        /// The status of the last error on this thread (a `neuneu_status`; 0 if none).
        fn last_status() -> i32;

        /// `backend`: a `neuneu_backend` code.
        fn engine_default(backend: i32) -> Result<Box<CxxEngine>>;
        /// `path` as bytes: the Rust side checks it is UTF-8 and says so if not.
        fn engine_from_file(path: &[u8], backend_code: i32) -> Result<Box<CxxEngine>>;
        fn engine_from_memory(bundle: &[u8], backend_code: i32) -> Result<Box<CxxEngine>>;

        fn levels(self: &CxxEngine) -> Vec<f32>;
        fn min_context(self: &CxxEngine) -> usize;
        /// `RowBatching::Throughput` when `throughput`, else `Exact` (see `Engine`).
        fn set_throughput(self: &CxxEngine, throughput: bool);
        fn manifest_json(self: &CxxEngine) -> Result<String>;
        /// One output per run; fails only for the call as a whole (layout, metric codes).
        /// `loss_offsets` empty: no token losses.
        #[allow(clippy::too_many_arguments)]
        fn forecast(
            self: &CxxEngine,
            steps: &[f64],
            values: &[f64],
            context_offsets: &[usize],
            targets: &[f64],
            target_offsets: &[usize],
            losses: &[f32],
            loss_offsets: &[usize],
            metric_kind: i32,
            direction: i32,
        ) -> Result<Vec<RunOutput>>;
        #[allow(clippy::too_many_arguments)]
        fn rank(
            self: &CxxEngine,
            steps: &[f64],
            values: &[f64],
            context_offsets: &[usize],
            targets: &[f64],
            target_offsets: &[usize],
            metric_kind: i32,
            direction: i32,
        ) -> Result<RankOutput>;
        /// `end_steps` empty: every arm ends at `end_step`; else one per arm.
        fn plan(
            self: &CxxEngine,
            steps: &[f64],
            values: &[f64],
            context_offsets: &[usize],
            end_step: f64,
            end_steps: &[f64],
            settings: &PlanSettings,
        ) -> Result<PlanOutput>;

        /// `end_step` 0: no default end; `calibrate`: `SweepOptions::calibrate`.
        fn sweep_new(
            engine: &CxxEngine,
            settings: &PlanSettings,
            end_step: f64,
            calibrate: bool,
        ) -> Result<Box<CxxSweep>>;
        fn sweep_load(engine: &CxxEngine, saved: &[u8]) -> Result<Box<CxxSweep>>;
        fn observe(self: &mut CxxSweep, arm: &[u8], step: f64, value: f64) -> Result<()>;
        fn observe_losses(self: &mut CxxSweep, arm: &[u8], step: f64, losses: &[f32])
        -> Result<()>;
        fn set_end(self: &mut CxxSweep, arm: &[u8], end_step: f64) -> Result<()>;
        fn finish(self: &mut CxxSweep, arm: &[u8]) -> Result<()>;
        fn stop(self: &mut CxxSweep, arm: &[u8]) -> Result<()>;
        /// `all`: every live arm; else the arms named, each `arms[offsets[i]..offsets[i + 1]]`.
        fn decide(
            self: &mut CxxSweep,
            all: bool,
            arms: &[u8],
            offsets: &[usize],
        ) -> Result<DecisionOutput>;
        /// Quantiles flat (`[step][level]`), in the sweep's units.
        fn forecast(self: &CxxSweep, arm: &[u8], steps: &[f64]) -> Result<Vec<f64>>;
        fn save(self: &CxxSweep) -> Vec<u8>;
        /// `base` empty: the embedded default model; `loss_summary`: a `neuneu_loss_summary`.
        fn adapt(
            self: &CxxSweep,
            base: &[u8],
            holdout: f64,
            seed: u64,
            loss_summary: i32,
        ) -> Result<AdaptedOutput>;
        fn set_engine(self: &mut CxxSweep, engine: &CxxEngine);

        /// Test hook (feature `test_hooks`): the C++ test's proof that a panic becomes an
        /// exception.
        #[cfg(feature = "test_hooks")]
        fn test_panic() -> Result<()>;
    }
}

/// An engine owned by C++ (through `rust::Box`). Immutable, so shareable across threads.
pub struct CxxEngine(Arc<Engine>);

/// A sweep owned by C++. Not shareable across threads without a lock (the header says so).
pub struct CxxSweep(Sweep);

thread_local! {
    static LAST_STATUS: Cell<i32> = const { Cell::new(0) };
}

fn last_status() -> i32 {
    LAST_STATUS.with(Cell::get)
}

/// Runs a bridge function: errors keep their message and leave their status for
/// `last_status`; a panic becomes an error too (cxx would abort the process on it).
fn guarded<T>(f: impl FnOnce() -> Result<T, AbiError>) -> Result<T, String> {
    let (status, result) = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => (neuneu_status::NEUNEU_OK, Ok(v)),
        Ok(Err(AbiError(status, message))) => (status, Err(message)),
        Err(payload) => {
            let msg = neuneu::error::panic_message(payload.as_ref());
            (
                neuneu_status::NEUNEU_ERR_PANIC,
                Err(format!(
                    "internal error (panic caught at the C++ boundary): {msg}"
                )),
            )
        }
    };
    LAST_STATUS.with(|s| s.set(status as i32));
    result
}

fn engine_default(backend_code: i32) -> Result<Box<CxxEngine>, String> {
    engine_from_memory(DEFAULT_BUNDLE, backend_code)
}

fn engine_from_file(path: &[u8], backend_code: i32) -> Result<Box<CxxEngine>, String> {
    guarded(|| {
        let path = utf8(path, "path")?;
        let bytes = std::fs::read(path).map_err(|e| neuneu::Error::io(path, e))?;
        let engine = Engine::from_bytes_with_backend(&bytes, backend(backend_code)?)?;
        Ok(Box::new(CxxEngine(Arc::new(engine))))
    })
}

fn engine_from_memory(bundle: &[u8], backend_code: i32) -> Result<Box<CxxEngine>, String> {
    guarded(|| {
        let engine = Engine::from_bytes_with_backend(bundle, backend(backend_code)?)?;
        Ok(Box::new(CxxEngine(Arc::new(engine))))
    })
}

#[cfg(feature = "test_hooks")]
fn test_panic() -> Result<(), String> {
    guarded(|| panic!("deliberate panic for the test suite"))
}

fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, AbiError> {
    std::str::from_utf8(bytes).map_err(|_| invalid(format!("{what} is not UTF-8")))
}

fn settings(s: &ffi::PlanSettings) -> Result<PlanSettings, AbiError> {
    Ok(PlanSettings {
        policy: i64::from(s.policy),
        k: s.k,
        fraction: s.fraction,
        threshold: s.threshold,
        budget: s.budget,
        min_observations: s.min_observations,
        samples: s.samples,
        seed: s.seed,
        metric: metric(s.metric_kind, s.direction)?,
    })
}

impl CxxEngine {
    fn levels(&self) -> Vec<f32> {
        self.0.levels().to_vec()
    }

    fn min_context(&self) -> usize {
        self.0.manifest().preparation.min_context
    }

    fn set_throughput(&self, throughput: bool) {
        self.0.set_row_batching(if throughput {
            neuneu::RowBatching::Throughput
        } else {
            neuneu::RowBatching::Exact
        });
    }

    fn manifest_json(&self) -> Result<String, String> {
        guarded(|| serde_json::to_string(self.0.manifest()).map_err(|e| invalid(e.to_string())))
    }

    #[allow(clippy::too_many_arguments)]
    fn forecast(
        &self,
        steps: &[f64],
        values: &[f64],
        context_offsets: &[usize],
        targets: &[f64],
        target_offsets: &[usize],
        losses: &[f32],
        loss_offsets: &[usize],
        metric_kind: i32,
        direction: i32,
    ) -> Result<Vec<ffi::RunOutput>, String> {
        guarded(|| {
            let metric = metric(metric_kind, direction)?;
            let runs = FlatRuns::new(steps, values, context_offsets, targets, target_offsets)?;
            let losses = if loss_offsets.is_empty() {
                None
            } else {
                Some(FlatLosses::new(losses, loss_offsets)?)
            };
            Ok(flat::forecast(&self.0, &runs, losses.as_ref(), metric)?
                .into_iter()
                .map(|r| match r {
                    Ok(quantiles) => ffi::RunOutput {
                        status: 0,
                        message: String::new(),
                        quantiles,
                    },
                    Err(AbiError(status, message)) => ffi::RunOutput {
                        status: status as i32,
                        message,
                        quantiles: Vec::new(),
                    },
                })
                .collect())
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn rank(
        &self,
        steps: &[f64],
        values: &[f64],
        context_offsets: &[usize],
        targets: &[f64],
        target_offsets: &[usize],
        metric_kind: i32,
        direction: i32,
    ) -> Result<ffi::RankOutput, String> {
        guarded(|| {
            let metric = metric(metric_kind, direction)?;
            let runs = FlatRuns::new(steps, values, context_offsets, targets, target_offsets)?;
            let r = flat::rank(&self.0, &runs, metric)?;
            Ok(ffi::RankOutput {
                prob_above: r.prob_above,
                order: r.order,
            })
        })
    }

    fn plan(
        &self,
        steps: &[f64],
        values: &[f64],
        context_offsets: &[usize],
        end_step: f64,
        end_steps: &[f64],
        s: &ffi::PlanSettings,
    ) -> Result<ffi::PlanOutput, String> {
        guarded(|| {
            let options = flat::plan_options(&settings(s)?)?;
            let ends = (!end_steps.is_empty()).then_some(end_steps);
            let plan = flat::plan(
                &self.0,
                steps,
                values,
                context_offsets,
                end_step,
                ends,
                &options,
            )?;
            Ok(ffi::PlanOutput {
                k: plan.k,
                k_requested: plan.k_requested,
                arms: plan
                    .decisions
                    .into_iter()
                    .map(|d| ffi::ArmDecision {
                        keep: d.keep,
                        p_top_k: d.p_top_k,
                        median: d.median,
                        q10: d.q10,
                        q90: d.q90,
                        reason: d.reason,
                    })
                    .collect(),
            })
        })
    }
}

fn sweep_new(
    engine: &CxxEngine,
    s: &ffi::PlanSettings,
    end_step: f64,
    calibrate: bool,
) -> Result<Box<CxxSweep>, String> {
    guarded(|| {
        let options = flat::sweep_options(
            &settings(s)?,
            (end_step != 0.0).then_some(end_step),
            calibrate,
        )?;
        Ok(Box::new(CxxSweep(Sweep::new(engine.0.clone(), options)?)))
    })
}

fn sweep_load(engine: &CxxEngine, saved: &[u8]) -> Result<Box<CxxSweep>, String> {
    guarded(|| Ok(Box::new(CxxSweep(Sweep::load(engine.0.clone(), saved)?))))
}

fn action_code(a: Action) -> i32 {
    match a {
        Action::Continue => 0,
        Action::Stop => 1,
        Action::Finished => 2,
        Action::Stopped => 3,
    }
}

impl CxxSweep {
    fn observe(&mut self, arm: &[u8], step: f64, value: f64) -> Result<(), String> {
        guarded(|| Ok(self.0.observe(utf8(arm, "arm")?, step, value)?))
    }

    fn observe_losses(&mut self, arm: &[u8], step: f64, losses: &[f32]) -> Result<(), String> {
        guarded(|| Ok(self.0.observe_losses(utf8(arm, "arm")?, step, losses)?))
    }

    fn set_end(&mut self, arm: &[u8], end_step: f64) -> Result<(), String> {
        guarded(|| Ok(self.0.set_end(utf8(arm, "arm")?, end_step)?))
    }

    fn finish(&mut self, arm: &[u8]) -> Result<(), String> {
        guarded(|| Ok(self.0.finish(utf8(arm, "arm")?)?))
    }

    fn stop(&mut self, arm: &[u8]) -> Result<(), String> {
        guarded(|| Ok(self.0.stop(utf8(arm, "arm")?)?))
    }

    fn decide(
        &mut self,
        all: bool,
        arms: &[u8],
        offsets: &[usize],
    ) -> Result<ffi::DecisionOutput, String> {
        guarded(|| {
            let names: Option<Vec<&str>> = if all {
                None
            } else {
                flat::check_offsets(offsets, "arm offsets")?;
                if offsets.last() != Some(&arms.len()) {
                    return Err(invalid("arm offsets do not end at the names' length"));
                }
                Some(
                    offsets
                        .windows(2)
                        .map(|w| utf8(&arms[w[0]..w[1]], "an arm id"))
                        .collect::<Result<_, _>>()?,
                )
            };
            let d = self.0.decide(names.as_deref())?;
            let nan = |x: Option<f64>| x.unwrap_or(f64::NAN);
            Ok(ffi::DecisionOutput {
                index: d.index,
                seed: d.seed,
                k: d.k,
                k_requested: d.k_requested,
                arms: d
                    .arms
                    .into_iter()
                    .map(|a| ffi::Verdict {
                        action: action_code(a.action),
                        p_top_k: nan(a.p_top_k),
                        median: nan(a.median),
                        q10: nan(a.q10),
                        q90: nan(a.q90),
                        end_step: nan(a.end_step),
                        id: a.id,
                        reason: a.reason,
                    })
                    .collect(),
            })
        })
    }

    fn forecast(&self, arm: &[u8], steps: &[f64]) -> Result<Vec<f64>, String> {
        guarded(|| {
            Ok(self
                .0
                .forecast(utf8(arm, "arm")?, steps)?
                .into_iter()
                .flatten()
                .collect())
        })
    }

    fn save(&self) -> Vec<u8> {
        self.0.save()
    }

    fn adapt(
        &self,
        base: &[u8],
        holdout: f64,
        seed: u64,
        loss_summary: i32,
    ) -> Result<ffi::AdaptedOutput, String> {
        guarded(|| {
            let options = neuneu::adapt::AdaptOptions {
                holdout,
                seed,
                ..Default::default()
            };
            let arms = neuneu::adapt::sweep::FinishedArms::of(&self.0);
            let a = adapt_arms(arms, base, options::loss_summary(loss_summary)?, &options)?;
            let mae = a.held_out_mae();
            let nan = |f: fn(&neuneu::adapt::HeldOutMae) -> f64| mae.as_ref().map_or(f64::NAN, f);
            Ok(ffi::AdaptedOutput {
                bundle: a.bundle.to_bytes(),
                runs_fitted: a.runs_fitted,
                runs_held_out: a.runs_held_out,
                held_out_mae: nan(|m| m.adapted),
                base_held_out_mae: nan(|m| m.base),
                persistence_held_out_mae: nan(|m| m.persistence),
            })
        })
    }

    fn set_engine(&mut self, engine: &CxxEngine) {
        self.0.set_engine(engine.0.clone());
    }
}
