//! The cxx bridge under the C++ API (feature `cpp`).
//!
//! cxx generates `neuneu-ffi/src/cxx_bridge.rs.h` (copied next to the library by `build.rs`)
//! and the C++ shims compiled into libneuneu.a; `ffi/include/neuneu.hpp` wraps them in the
//! C++17 API (`neuneu::Engine`, exceptions of type `neuneu::Error`). This layer is deliberately
//! raw, flat slices in and flat vectors out, so that it shares `flat.rs` with the C ABI; the
//! header does the C++-side conveniences (vectors of runs, nested results).
//!
//! cxx turns an `Err` into a C++ exception but aborts the process on a panic, so every function
//! runs inside `guarded`, which catches the unwind and returns it as an `Err` instead.

use super::AbiError;
use super::flat::{self, FlatRuns, PlanSettings};
use neuneu::inference::engine::{DEFAULT_BUNDLE, Engine};

#[cxx::bridge(namespace = "neuneu::bridge")]
mod ffi {
    /// Plan options, as `neuneu::PlanOptions` (policy codes of `neuneu_policy`).
    struct PlanSettings {
        policy: u32,
        k: usize,
        fraction: f64,
        threshold: f64,
        budget: f64,
        min_observations: usize,
        samples: usize,
        seed: u64,
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
        arms: Vec<ArmDecision>,
    }

    struct RankOutput {
        /// Row-major `[i * n + j]` = P(run i ends above run j); NaN on the diagonal.
        prob_above: Vec<f64>,
        order: Vec<usize>,
    }

    extern "Rust" {
        type CxxEngine;

        fn engine_default() -> Result<Box<CxxEngine>>;
        /// `path` as bytes: the Rust side checks it is UTF-8 and says so if not.
        fn engine_from_file(path: &[u8]) -> Result<Box<CxxEngine>>;
        fn engine_from_memory(bundle: &[u8]) -> Result<Box<CxxEngine>>;

        fn levels(self: &CxxEngine) -> Vec<f32>;
        fn min_context(self: &CxxEngine) -> usize;
        /// `RowBatching::Throughput` when `throughput`, else `Exact` (see `Engine`).
        fn set_throughput(self: &CxxEngine, throughput: bool);
        fn manifest_json(self: &CxxEngine) -> Result<String>;
        /// Quantiles flat: run by run, target by target, level by level. Fails on the first
        /// bad run, naming it.
        fn forecast(
            self: &CxxEngine,
            steps: &[f64],
            accuracy: &[f64],
            context_offsets: &[usize],
            targets: &[f64],
            target_offsets: &[usize],
        ) -> Result<Vec<f32>>;
        fn rank(
            self: &CxxEngine,
            steps: &[f64],
            accuracy: &[f64],
            context_offsets: &[usize],
            targets: &[f64],
            target_offsets: &[usize],
        ) -> Result<RankOutput>;
        fn plan(
            self: &CxxEngine,
            steps: &[f64],
            accuracy: &[f64],
            context_offsets: &[usize],
            end_step: f64,
            settings: &PlanSettings,
        ) -> Result<PlanOutput>;

        /// Test hook: panics inside the bridge, to prove it becomes an exception.
        fn test_panic() -> Result<()>;
    }
}

/// An engine owned by C++ (through `rust::Box`). Immutable, so shareable across threads.
pub struct CxxEngine(Engine);

/// Runs a bridge function: errors keep their message, a panic becomes an error too (cxx would
/// abort the process on it).
fn guarded<T>(f: impl FnOnce() -> Result<T, AbiError>) -> Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result.map_err(|AbiError(_, message)| message),
        Err(payload) => {
            let msg = neuneu::error::panic_message(payload.as_ref());
            Err(format!(
                "internal error (panic caught at the C++ boundary): {msg}"
            ))
        }
    }
}

fn engine_default() -> Result<Box<CxxEngine>, String> {
    engine_from_memory(DEFAULT_BUNDLE)
}

fn engine_from_file(path: &[u8]) -> Result<Box<CxxEngine>, String> {
    guarded(|| {
        let path = std::str::from_utf8(path).map_err(|_| super::invalid("path is not UTF-8"))?;
        Ok(Box::new(CxxEngine(Engine::from_path(path)?)))
    })
}

fn engine_from_memory(bundle: &[u8]) -> Result<Box<CxxEngine>, String> {
    guarded(|| Ok(Box::new(CxxEngine(Engine::from_bytes(bundle)?))))
}

fn test_panic() -> Result<(), String> {
    guarded(|| panic!("deliberate panic for the test suite"))
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
        guarded(|| {
            serde_json::to_string(self.0.manifest()).map_err(|e| super::invalid(e.to_string()))
        })
    }

    fn forecast(
        &self,
        steps: &[f64],
        accuracy: &[f64],
        context_offsets: &[usize],
        targets: &[f64],
        target_offsets: &[usize],
    ) -> Result<Vec<f32>, String> {
        guarded(|| {
            let runs = FlatRuns::new(steps, accuracy, context_offsets, targets, target_offsets)?;
            let mut out = Vec::new();
            for result in flat::forecast(&self.0, &runs, None)? {
                out.extend(result?);
            }
            Ok(out)
        })
    }

    fn rank(
        &self,
        steps: &[f64],
        accuracy: &[f64],
        context_offsets: &[usize],
        targets: &[f64],
        target_offsets: &[usize],
    ) -> Result<ffi::RankOutput, String> {
        guarded(|| {
            let runs = FlatRuns::new(steps, accuracy, context_offsets, targets, target_offsets)?;
            let r = flat::rank(&self.0, &runs)?;
            Ok(ffi::RankOutput {
                prob_above: r.prob_above,
                order: r.order,
            })
        })
    }

    fn plan(
        &self,
        steps: &[f64],
        accuracy: &[f64],
        context_offsets: &[usize],
        end_step: f64,
        s: &ffi::PlanSettings,
    ) -> Result<ffi::PlanOutput, String> {
        guarded(|| {
            let options = flat::plan_options(&PlanSettings {
                policy: i64::from(s.policy),
                k: s.k,
                fraction: s.fraction,
                threshold: s.threshold,
                budget: s.budget,
                min_observations: s.min_observations,
                samples: s.samples,
                seed: s.seed,
            })?;
            let plan = flat::plan(
                &self.0,
                steps,
                accuracy,
                context_offsets,
                end_step,
                &options,
            )?;
            Ok(ffi::PlanOutput {
                k: plan.k,
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
