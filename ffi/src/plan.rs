//! Kill plans over a sweep's arms laid out flat: one call, or a plan handle with reasons.

use super::buffers::{clear_out, free_boxed, offsets, slice, slice_mut, store};
use super::engine::{engine, neuneu_engine};
use super::flat;
use super::options::{neuneu_plan_options, read_plan_options};
use super::{AbiError, guard, invalid, null};
use neuneu::decisions::killplan::{ArmDecision, Plan};
use std::ffi::{CString, c_char};

/// Version of `neuneu_arm_decision` this header describes.
pub const NEUNEU_ARM_DECISION_VERSION: u32 = 1;

/// The shared part of `neuneu_plan` and `neuneu_plan_new`.
#[allow(clippy::too_many_arguments)]
unsafe fn make_plan(
    engine: *const neuneu_engine,
    n_arms: usize,
    steps: *const f64,
    values: *const f64,
    context_offsets: *const usize,
    end_step: f64,
    end_steps: *const f64,
    options: *const neuneu_plan_options,
) -> Result<Plan, AbiError> {
    let e = self::engine(engine)?;
    let settings = unsafe { read_plan_options(options)? };
    let ctx = unsafe { offsets(context_offsets, n_arms, "context_offsets")? };
    let (st, vals) = unsafe {
        (
            slice(steps, ctx[n_arms], "steps")?,
            slice(values, ctx[n_arms], "values")?,
        )
    };
    let ends = if end_steps.is_null() {
        None
    } else {
        Some(unsafe { slice(end_steps, n_arms, "end_steps")? })
    };
    flat::plan(
        e,
        st,
        vals,
        ctx,
        end_step,
        ends,
        &flat::plan_options(&settings)?,
    )
}

/// A kill plan for a sweep of `n_arms` arms (observed curves laid out as in `neuneu_forecast`,
/// no targets, values in the units of `options->metric_kind`). Arm `i` is forecast at
/// `end_steps[i]` when `end_steps` (`n_arms` values) is given, else at `end_step`.
/// Arms with fewer points than `options->min_observations` or the model's minimum context are
/// kept without being judged (NaN numbers); `k` is capped at the arms judged.
/// Writes per arm, into caller-owned arrays of `n_arms` (any may be NULL to skip): `keep` (1
/// keep, 0 stop), `p_top_k` (probability of finishing in the top k), and the forecast `median`,
/// `q10`, `q90` at its end step, in the metric's units. For the reasons, use `neuneu_plan_new`.
/// Errors: NULL_POINTER, INVALID_ARGUMENT (options, offsets, `end_steps`), INVALID_INPUT (an
/// arm's values or steps, naming it), INFERENCE. Deterministic for the same input and seed.
/// Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_plan(
    engine: *const neuneu_engine,
    n_arms: usize,
    steps: *const f64,
    values: *const f64,
    context_offsets: *const usize,
    end_step: f64,
    end_steps: *const f64,
    options: *const neuneu_plan_options,
    keep: *mut u8,
    p_top_k: *mut f64,
    median: *mut f64,
    q10: *mut f64,
    q90: *mut f64,
) -> i32 {
    guard(|| {
        let plan = unsafe {
            make_plan(
                engine,
                n_arms,
                steps,
                values,
                context_offsets,
                end_step,
                end_steps,
                options,
            )?
        };
        let write = |p: *mut f64, what: &str, f: &dyn Fn(&ArmDecision) -> f64| {
            if !p.is_null() {
                let out = unsafe { slice_mut(p, n_arms, what)? };
                for (o, d) in out.iter_mut().zip(&plan.decisions) {
                    *o = f(d);
                }
            }
            Ok::<(), AbiError>(())
        };
        write(p_top_k, "p_top_k", &|d| d.p_top_k)?;
        write(median, "median", &|d| d.median)?;
        write(q10, "q10", &|d| d.q10)?;
        write(q90, "q90", &|d| d.q90)?;
        if !keep.is_null() {
            let out = unsafe { slice_mut(keep, n_arms, "keep")? };
            for (o, d) in out.iter_mut().zip(&plan.decisions) {
                *o = u8::from(d.keep);
            }
        }
        Ok(())
    })
}

/// A kill plan with the reasons behind its decisions, made by `neuneu_plan_new`. Immutable:
/// any number of threads may read one plan at once. (Not `neuneu_plan`: in C a type and a
/// function may not share a name.)
pub struct neuneu_plan_result {
    k: usize,
    k_requested: usize,
    decisions: Vec<ArmDecision>,
    /// The reasons as C strings, made once so that `neuneu_arm_decision.reason` can point into
    /// the plan for as long as it lives.
    reasons: Vec<CString>,
}

/// One arm's decision, read with `neuneu_plan_arm`. Set `version` to
/// `NEUNEU_ARM_DECISION_VERSION` before the call: it says how much of the struct the caller
/// allocated.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct neuneu_arm_decision {
    pub version: u32,
    /// 1 keep, 0 stop.
    pub keep: u8,
    /// Probability of finishing in the top `neuneu_plan_k(plan)`; NaN for an arm kept without
    /// being judged (too few points).
    pub p_top_k: f64,
    /// The forecast's median and 0.1 and 0.9 quantiles at the arm's end step, in the metric's
    /// units (q10 <= median <= q90); NaN for an arm not judged.
    pub median: f64,
    pub q10: f64,
    pub q90: f64,
    /// One line a person can read, with the numbers behind the decision (UTF-8, NUL-terminated).
    /// Owned by the plan: valid until `neuneu_plan_free`; copy it to keep it longer.
    pub reason: *const c_char,
}

/// Makes a kill plan (same inputs, errors and determinism as `neuneu_plan`) and keeps it, with
/// a reason per arm, in a new handle. On success `*out` owns it: read it with `neuneu_plan_len`,
/// `neuneu_plan_k` and `neuneu_plan_arm`, free it with `neuneu_plan_free`. On error `*out` is
/// NULL. The plan does not borrow the engine or the inputs: either may be freed first.
/// Thread-safe on a shared engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_plan_new(
    engine: *const neuneu_engine,
    n_arms: usize,
    steps: *const f64,
    values: *const f64,
    context_offsets: *const usize,
    end_step: f64,
    end_steps: *const f64,
    options: *const neuneu_plan_options,
    out: *mut *mut neuneu_plan_result,
) -> i32 {
    guard(|| {
        unsafe { clear_out(out)? };
        let plan = unsafe {
            make_plan(
                engine,
                n_arms,
                steps,
                values,
                context_offsets,
                end_step,
                end_steps,
                options,
            )?
        };
        let reasons = plan.decisions.iter().map(|d| c_string(&d.reason)).collect();
        let handle = neuneu_plan_result {
            k: plan.k,
            k_requested: plan.k_requested,
            decisions: plan.decisions,
            reasons,
        };
        unsafe { store(out, handle) };
        Ok(())
    })
}

/// A string for C: an interior NUL (which no reason has, but an arm id may) becomes a space.
pub(crate) fn c_string(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

/// Number of arms in the plan (the `n_arms` it was made for); 0 if `plan` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_plan_len(plan: *const neuneu_plan_result) -> usize {
    // SAFETY: a non-NULL handle comes from `neuneu_plan_new` and is not yet freed.
    unsafe { plan.as_ref() }.map_or(0, |p| p.decisions.len())
}

/// The `k` of the plan's `p_top_k`: the policy's, capped at the arms judged (for a
/// stop-fraction policy, the number of arms kept); 0 if `plan` is NULL or no arm was judged.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_plan_k(plan: *const neuneu_plan_result) -> usize {
    unsafe { plan.as_ref() }.map_or(0, |p| p.k)
}

/// The `k` the policy asked for (larger than `neuneu_plan_k` when it was capped); 0 if `plan`
/// is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_plan_k_requested(plan: *const neuneu_plan_result) -> usize {
    unsafe { plan.as_ref() }.map_or(0, |p| p.k_requested)
}

/// Writes arm `index`'s decision (arms in input order) into `*out`; `out->reason` points into
/// the plan (valid until `neuneu_plan_free`). Errors: NULL_POINTER (`plan` or `out`),
/// INVALID_ARGUMENT (`out->version` unknown, or `index >= neuneu_plan_len(plan)`; `*out` is then
/// left untouched).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_plan_arm(
    plan: *const neuneu_plan_result,
    index: usize,
    out: *mut neuneu_arm_decision,
) -> i32 {
    guard(|| {
        let p = unsafe { plan.as_ref() }.ok_or_else(|| null("plan"))?;
        // SAFETY: a non-NULL `out` points to a caller's struct, which starts with `version`.
        let version = unsafe { out.as_ref() }.ok_or_else(|| null("out"))?.version;
        if version != NEUNEU_ARM_DECISION_VERSION {
            return Err(invalid(format!(
                "out->version {version} is unknown (set it to NEUNEU_ARM_DECISION_VERSION, \
                 {NEUNEU_ARM_DECISION_VERSION})"
            )));
        }
        let d = p.decisions.get(index).ok_or_else(|| {
            invalid(format!(
                "arm index {index} out of range: the plan has {} arms",
                p.decisions.len()
            ))
        })?;
        let decision = neuneu_arm_decision {
            version,
            keep: u8::from(d.keep),
            p_top_k: d.p_top_k,
            median: d.median,
            q10: d.q10,
            q90: d.q90,
            reason: p.reasons[index].as_ptr(),
        };
        unsafe { *out = decision };
        Ok(())
    })
}

/// Frees a plan and its reason strings. NULL is a no-op. No other thread may be using it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_plan_free(plan: *mut neuneu_plan_result) {
    unsafe { free_boxed(plan) }
}
