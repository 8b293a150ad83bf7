//! The online sweep handle: a scheduler feeds it results one at a time and asks which arms to
//! stop (`neuneu::sweep::Sweep` behind a lock, so that a handle may be shared by threads).

use super::buffers::{clear_out, free_boxed, slice, slice_mut, store, text, write_sized};
use super::engine::{engine, neuneu_engine};
use super::options::{neuneu_sweep_options, read_sweep_options};
use super::plan::c_string;
use super::{AbiError, guard, invalid, neuneu_status, null};
use neuneu::sweep::{Action, ArmVerdict, Decision, Sweep};
use std::ffi::{CString, c_char};
use std::sync::{Mutex, MutexGuard};

/// Version of `neuneu_arm_verdict` this header describes.
pub const NEUNEU_ARM_VERDICT_VERSION: u32 = 1;

/// An online sweep: the arms' points so far, their ends and states, and the decisions made.
/// Calls on one sweep may come from any thread; they take turns (an internal lock).
pub struct neuneu_sweep(Mutex<Sweep>);

/// What a decision says to do with an arm (`neuneu_arm_verdict.action`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum neuneu_action {
    NEUNEU_ACTION_CONTINUE = 0,
    NEUNEU_ACTION_STOP = 1,
    /// The arm finished: nothing to decide.
    NEUNEU_ACTION_FINISHED = 2,
    /// The scheduler stopped the arm already.
    NEUNEU_ACTION_STOPPED = 3,
}

/// The answer of `neuneu_sweep_decide`: one verdict per arm asked about. Immutable; free it
/// with `neuneu_decision_free`. It does not borrow the sweep.
pub struct neuneu_decision {
    decision: Decision,
    /// The ids and reasons as C strings, so that verdicts can point into the decision.
    ids: Vec<CString>,
    reasons: Vec<CString>,
}

/// One arm's verdict, read with `neuneu_decision_arm`. Set `version` to
/// `NEUNEU_ARM_VERDICT_VERSION` before the call.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct neuneu_arm_verdict {
    pub version: u32,
    /// The arm's id (UTF-8, NUL-terminated), owned by the decision.
    pub id: *const c_char,
    /// A `neuneu_action`.
    pub action: i32,
    /// Probability of finishing in the top `neuneu_decision_k`; NaN for arms outside the plan
    /// (too young, stopped, without an end step).
    pub p_top_k: f64,
    /// The forecast at the arm's end step in the sweep's units, median and [q0.1, q0.9] (a
    /// finished arm's final value in all three); NaN where there is none.
    pub median: f64,
    pub q10: f64,
    pub q90: f64,
    /// The end step the forecast is for; NaN if the arm has none.
    pub end_step: f64,
    /// One line a person can read, owned by the decision (e.g. "keep: needs 3 points to be
    /// judged, has 1").
    pub reason: *const c_char,
}

pub(crate) fn lock<'a>(sweep: *const neuneu_sweep) -> Result<MutexGuard<'a, Sweep>, AbiError> {
    // SAFETY: a non-NULL handle comes from `neuneu_sweep_new` or `_load` and is not yet freed.
    let s = unsafe { sweep.as_ref() }.ok_or_else(|| null("sweep"))?;
    // A panic inside a call was reported as NEUNEU_ERR_PANIC; every update checks its input
    // before it changes the sweep, so the state behind a poisoned lock is still whole.
    Ok(s.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
}

/// Creates a sweep with no arms yet, judged by `engine`'s model (shared: the engine may be
/// freed first). On success `*out` owns it (free with `neuneu_sweep_free`); on error `*out` is
/// NULL. Errors: NULL_POINTER, INVALID_ARGUMENT (options: version, policy, metric, k of 0,
/// fraction/threshold/budget out of range, a negative or non-finite end step, samples).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_sweep_new(
    engine: *const neuneu_engine,
    options: *const neuneu_sweep_options,
    out: *mut *mut neuneu_sweep,
) -> i32 {
    guard(|| {
        unsafe { clear_out(out)? };
        let e = self::engine(engine)?;
        let options = unsafe { read_sweep_options(options)? };
        let sweep = Sweep::new(e.clone(), options)?;
        unsafe { store(out, neuneu_sweep(Mutex::new(sweep))) };
        Ok(())
    })
}

/// Restores a sweep saved by `neuneu_sweep_save` (`data[len]`, the saved bytes, with or
/// without the NUL), to be judged by `engine`, whose model must be the one it was saved with.
/// It makes the same decisions as the sweep that was saved would have. On error `*out` is NULL.
/// Errors: NULL_POINTER, INVALID_ARGUMENT (not a saved sweep, another version or model).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_sweep_load(
    engine: *const neuneu_engine,
    data: *const u8,
    len: usize,
    out: *mut *mut neuneu_sweep,
) -> i32 {
    guard(|| {
        unsafe { clear_out(out)? };
        let e = self::engine(engine)?;
        if data.is_null() {
            return Err(null("data"));
        }
        let bytes = unsafe { slice(data, len, "data")? };
        let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
        let sweep = Sweep::load(e.clone(), bytes)?;
        unsafe { store(out, neuneu_sweep(Mutex::new(sweep))) };
        Ok(())
    })
}

/// Frees a sweep. NULL is a no-op. No other thread may be using it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_sweep_free(sweep: *mut neuneu_sweep) {
    unsafe { free_boxed(sweep) }
}

/// Records `value` (in the sweep's units) at `step` for the arm `arm` (UTF-8, NUL-terminated;
/// created on its first point). The same point twice is a no-op. Errors, which leave the sweep
/// as it was and name the arm: NULL_POINTER, INVALID_ARGUMENT (`arm` not UTF-8), INVALID_INPUT
/// (a step that is negative, not finite or before the arm's last; another value at its last
/// step; a value outside the metric; an arm finished or stopped).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_sweep_observe(
    sweep: *mut neuneu_sweep,
    arm: *const c_char,
    step: f64,
    value: f64,
) -> i32 {
    guard(|| {
        let arm = unsafe { text(arm, "arm")? };
        Ok(lock(sweep)?.observe(arm, step, value)?)
    })
}

/// Gives the token losses (`losses[0..n_losses]`, natural-log units) of `arm`'s checkpoint at
/// `step`, a point already observed at exactly that step: forecasts from a context ending there
/// read them (a bundle adapted with `neuneu adapt --losses` has trees for them). Replaces losses
/// given before for that point. Errors, which leave the sweep as it was and name the arm:
/// NULL_POINTER (also `losses` NULL with `n_losses` > 0), INVALID_ARGUMENT (`arm` not UTF-8),
/// INVALID_INPUT (unknown arm or step, an arm finished or stopped, no losses, a loss NaN or
/// negative, more than the accepted number).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_sweep_observe_losses(
    sweep: *mut neuneu_sweep,
    arm: *const c_char,
    step: f64,
    losses: *const f32,
    n_losses: usize,
) -> i32 {
    guard(|| {
        let arm = unsafe { text(arm, "arm")? };
        let losses = unsafe { slice(losses, n_losses, "losses")? };
        Ok(lock(sweep)?.observe_losses(arm, step, losses)?)
    })
}

/// Sets the step at which `arm` ends (created if new), overriding the sweep's `end_step`.
/// Errors: NULL_POINTER, INVALID_ARGUMENT, INVALID_INPUT (not a positive finite number).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_sweep_set_end(
    sweep: *mut neuneu_sweep,
    arm: *const c_char,
    end_step: f64,
) -> i32 {
    guard(|| {
        let arm = unsafe { text(arm, "arm")? };
        Ok(lock(sweep)?.set_end(arm, end_step)?)
    })
}

/// Marks `arm` finished: its last value is final, and it takes part in later decisions as a
/// certain result. Errors: NULL_POINTER, INVALID_ARGUMENT, INVALID_INPUT (unknown arm, no
/// value yet, or stopped).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_sweep_finish(sweep: *mut neuneu_sweep, arm: *const c_char) -> i32 {
    guard(|| {
        let arm = unsafe { text(arm, "arm")? };
        Ok(lock(sweep)?.finish(arm)?)
    })
}

/// Marks `arm` stopped by the scheduler: it takes no further part.
/// Errors: NULL_POINTER, INVALID_ARGUMENT, INVALID_INPUT (unknown arm, or finished).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_sweep_stop(sweep: *mut neuneu_sweep, arm: *const c_char) -> i32 {
    guard(|| {
        let arm = unsafe { text(arm, "arm")? };
        Ok(lock(sweep)?.stop(arm)?)
    })
}

/// Decides for every live arm (`arms` NULL and `n_arms` 0), or for the `n_arms` arms named in
/// `arms` (any state; for instance the arms that reached a rung): continue or stop, P(top k),
/// the forecast at each arm's end and a reason. Arms too young to judge are kept with the
/// reason "needs N points"; finished arms take part with their finals; `k` is capped at the
/// arms that can still win. Only arms whose points changed since the last decision are
/// forecast again. Each decision's seed derives from the sweep's seed and the decision's
/// index, so a sweep reloaded from `neuneu_sweep_save` decides the same.
/// On success `*out` owns the decision (free with `neuneu_decision_free`); on error it is NULL.
/// Errors: NULL_POINTER, INVALID_ARGUMENT (a name not UTF-8), INVALID_INPUT (an unknown arm),
/// INFERENCE.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_sweep_decide(
    sweep: *mut neuneu_sweep,
    arms: *const *const c_char,
    n_arms: usize,
    out: *mut *mut neuneu_decision,
) -> i32 {
    guard(|| {
        unsafe { clear_out(out)? };
        let names: Option<Vec<&str>> = if arms.is_null() && n_arms == 0 {
            None
        } else {
            let pointers = unsafe { slice(arms, n_arms, "arms")? };
            Some(
                pointers
                    .iter()
                    .enumerate()
                    .map(|(i, &p)| unsafe { text(p, &format!("arms[{i}]")) })
                    .collect::<Result<_, _>>()?,
            )
        };
        let decision = lock(sweep)?.decide(names.as_deref())?;
        let ids = decision.arms.iter().map(|a| c_string(&a.id)).collect();
        let reasons = decision.arms.iter().map(|a| c_string(&a.reason)).collect();
        unsafe {
            store(
                out,
                neuneu_decision {
                    decision,
                    ids,
                    reasons,
                },
            )
        };
        Ok(())
    })
}

/// Forecasts `arm` at `steps[n_steps]` (each after its last observed step) in the sweep's
/// units, writing `n_steps * neuneu_engine_num_levels` doubles into `out[capacity]`: step by
/// step, the quantiles at the engine's levels, increasing. Errors: NULL_POINTER,
/// INVALID_ARGUMENT, BUFFER_TOO_SMALL, INVALID_INPUT (unknown arm, too few points, bad steps),
/// INFERENCE.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_sweep_forecast(
    sweep: *const neuneu_sweep,
    arm: *const c_char,
    steps: *const f64,
    n_steps: usize,
    out: *mut f64,
    capacity: usize,
) -> i32 {
    guard(|| {
        let arm = unsafe { text(arm, "arm")? };
        let steps = unsafe { slice(steps, n_steps, "steps")? };
        let s = lock(sweep)?;
        let need = n_steps
            .checked_mul(s.engine().levels().len())
            .ok_or_else(|| invalid("too many steps"))?;
        if capacity < need {
            return Err(AbiError(
                neuneu_status::NEUNEU_ERR_BUFFER_TOO_SMALL,
                format!("{need} doubles needed, capacity {capacity}"),
            ));
        }
        let rows = s.forecast(arm, steps)?;
        let out = unsafe { slice_mut(out, need, "out")? };
        for (slot, q) in out.iter_mut().zip(rows.iter().flatten()) {
            *slot = *q;
        }
        Ok(())
    })
}

/// The sweep as versioned JSON text (format "neuneu-sweep", laid out in src/sweep/state.rs),
/// which `neuneu_sweep_load` restores: `*required` (if not NULL) receives its size including
/// the terminating NUL; with `buf` NULL or too small nothing is written and BUFFER_TOO_SMALL is
/// returned. Errors: NULL_POINTER, BUFFER_TOO_SMALL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_sweep_save(
    sweep: *const neuneu_sweep,
    buf: *mut c_char,
    capacity: usize,
    required: *mut usize,
) -> i32 {
    guard(|| {
        let bytes = lock(sweep)?.save();
        unsafe { write_sized(&bytes, buf, capacity, required, "the saved sweep") }
    })
}

fn decision<'a>(d: *const neuneu_decision) -> Option<&'a neuneu_decision> {
    // SAFETY: a non-NULL handle comes from `neuneu_sweep_decide` and is not yet freed.
    unsafe { d.as_ref() }
}

/// Number of verdicts in the decision (the arms asked about); 0 if `decision` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_decision_len(decision: *const neuneu_decision) -> usize {
    self::decision(decision).map_or(0, |d| d.decision.arms.len())
}

/// The `k` of the verdicts' `p_top_k`, capped at the arms that could still win; 0 when no arm
/// could be planned or `decision` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_decision_k(decision: *const neuneu_decision) -> usize {
    self::decision(decision).map_or(0, |d| d.decision.k)
}

/// The `k` the policy asked for; 0 if `decision` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_decision_k_requested(decision: *const neuneu_decision) -> usize {
    self::decision(decision).map_or(0, |d| d.decision.k_requested)
}

/// Which decision of its sweep this is (0 for the first); 0 if `decision` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_decision_index(decision: *const neuneu_decision) -> u64 {
    self::decision(decision).map_or(0, |d| d.decision.index)
}

fn action_code(a: Action) -> neuneu_action {
    match a {
        Action::Continue => neuneu_action::NEUNEU_ACTION_CONTINUE,
        Action::Stop => neuneu_action::NEUNEU_ACTION_STOP,
        Action::Finished => neuneu_action::NEUNEU_ACTION_FINISHED,
        Action::Stopped => neuneu_action::NEUNEU_ACTION_STOPPED,
    }
}

/// Writes verdict `index` (arms in the order the sweep first saw them) into `*out`; its strings
/// point into the decision (valid until `neuneu_decision_free`). Errors: NULL_POINTER,
/// INVALID_ARGUMENT (`out->version` unknown, or `index >= neuneu_decision_len`; `*out` is then
/// left untouched).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_decision_arm(
    decision: *const neuneu_decision,
    index: usize,
    out: *mut neuneu_arm_verdict,
) -> i32 {
    guard(|| {
        let d = self::decision(decision).ok_or_else(|| null("decision"))?;
        // SAFETY: a non-NULL `out` points to a caller's struct, which starts with `version`.
        let version = unsafe { out.as_ref() }.ok_or_else(|| null("out"))?.version;
        if version != NEUNEU_ARM_VERDICT_VERSION {
            return Err(invalid(format!(
                "out->version {version} is unknown (set it to NEUNEU_ARM_VERDICT_VERSION, \
                 {NEUNEU_ARM_VERDICT_VERSION})"
            )));
        }
        let v: &ArmVerdict = d.decision.arms.get(index).ok_or_else(|| {
            invalid(format!(
                "verdict index {index} out of range: the decision has {}",
                d.decision.arms.len()
            ))
        })?;
        let nan = |x: Option<f64>| x.unwrap_or(f64::NAN);
        let verdict = neuneu_arm_verdict {
            version,
            id: d.ids[index].as_ptr(),
            action: action_code(v.action) as i32,
            p_top_k: nan(v.p_top_k),
            median: nan(v.median),
            q10: nan(v.q10),
            q90: nan(v.q90),
            end_step: nan(v.end_step),
            reason: d.reasons[index].as_ptr(),
        };
        unsafe { *out = verdict };
        Ok(())
    })
}

/// Frees a decision and its strings. NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_decision_free(decision: *mut neuneu_decision) {
    unsafe { free_boxed(decision) }
}
