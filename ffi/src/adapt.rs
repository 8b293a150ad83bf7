//! A model adapted to a sweep's finished arms (`neuneu::adapt::sweep`): the C side of
//! `neuneu adapt` for a scheduler that holds its runs in a sweep handle rather than a file.

use super::buffers::{clear_out, free_boxed, slice, store};
use super::engine::{backend, engine, neuneu_engine};
use super::options::{neuneu_adapt_options, read_adapt_options};
use super::sweep::{lock, neuneu_sweep};
use super::{AbiError, guard, null};
use neuneu::adapt::sweep::FinishedArms;
use neuneu::adapt::{AdaptOptions, Adapted, HeldOutMae};
use neuneu::inference::engine::{DEFAULT_BUNDLE, Engine};
use neuneu::model::bundle::Bundle;
use neuneu::model::inputs::LossSummary;
use std::sync::Arc;

/// A model adapted to a sweep's finished arms: its bundle (the `.nnb` bytes `neuneu adapt`
/// writes), an engine made from it, and how it scored. Immutable; free it with
/// `neuneu_adapted_free`. It does not borrow the sweep.
pub struct neuneu_adapted {
    /// The bundle's bytes: what `neuneu_adapted_bundle` points into and engines load.
    bytes: Vec<u8>,
    runs_fitted: usize,
    runs_held_out: usize,
    held_out_mae: Option<HeldOutMae>,
}

fn adapted<'a>(a: *const neuneu_adapted) -> Result<&'a neuneu_adapted, AbiError> {
    // SAFETY: a non-NULL handle comes from `neuneu_sweep_adapt` and is not yet freed.
    unsafe { a.as_ref() }.ok_or_else(|| null("adapted"))
}

/// Adapts a model to `sweep`'s finished arms, the recipe of `neuneu adapt`: the trees for the
/// median fitted again on the arms' points (and, where `neuneu_sweep_observe_losses` gave
/// token losses, trees that read them), the bands recalibrated on a held-out share of the arms,
/// which also scores the result against the base (`neuneu_adapted_held_out_mae`). `base` is the
/// bundle to start from (NULL and `base_len` 0: the embedded default model); `options` NULL
/// takes `neuneu_adapt_options_init`'s defaults. Live and stopped arms are not learned from,
/// nor finished arms with fewer points than the model's minimum context. The sweep is locked
/// only while its arms are copied; the fit (seconds for a few dozen arms) runs outside the lock.
/// Go on with the result through `neuneu_adapted_engine` and `neuneu_sweep_set_engine`. On
/// success `*out` owns the result (free with `neuneu_adapted_free`); on error it is NULL.
/// Errors: NULL_POINTER, INVALID_ARGUMENT (options; fewer than 5 finished arms to learn from, or
/// a hold-out that leaves fewer than 4 to fit on: the message says how many there are), BUNDLE
/// (`base` corrupt or of another version).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_sweep_adapt(
    sweep: *const neuneu_sweep,
    base: *const u8,
    base_len: usize,
    options: *const neuneu_adapt_options,
    out: *mut *mut neuneu_adapted,
) -> i32 {
    guard(|| {
        unsafe { clear_out(out)? };
        let (options, summary) = unsafe { read_adapt_options(options)? };
        let base = unsafe { slice(base, base_len, "base")? };
        let arms = FinishedArms::of(&*lock(sweep)?);
        let adapted = adapt_arms(arms, base, summary, &options)?;
        let held_out_mae = adapted.held_out_mae();
        let handle = neuneu_adapted {
            bytes: adapted.bundle.to_bytes(),
            runs_fitted: adapted.runs_fitted,
            runs_held_out: adapted.runs_held_out,
            held_out_mae,
        };
        unsafe { store(out, handle) };
        Ok(())
    })
}

/// Adapts the bundle `base` (empty: the embedded default model) to `arms`: the one path of the
/// C ABI and the C++ API.
pub(crate) fn adapt_arms(
    arms: FinishedArms,
    base: &[u8],
    summary: LossSummary,
    options: &AdaptOptions,
) -> Result<Adapted, AbiError> {
    let base = Bundle::from_bytes(if base.is_empty() {
        DEFAULT_BUNDLE
    } else {
        base
    })?;
    Ok(arms.adapt(base, summary, options)?)
}

/// The adapted bundle's bytes (what `neuneu adapt -o` would write: save them to load the model
/// later with `neuneu_engine_new_from_path` or `_from_memory`): `*data` points into `adapted`,
/// valid until it is freed; `*len` is their count. Errors: NULL_POINTER.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_adapted_bundle(
    adapted: *const neuneu_adapted,
    data: *mut *const u8,
    len: *mut usize,
) -> i32 {
    guard(|| {
        let a = self::adapted(adapted)?;
        if data.is_null() {
            return Err(null("data"));
        }
        if len.is_null() {
            return Err(null("len"));
        }
        // SAFETY: both checked non-NULL.
        unsafe {
            data.write(a.bytes.as_ptr());
            len.write(a.bytes.len());
        }
        Ok(())
    })
}

/// An engine of the adapted model, with the loss encoder on `backend` (a `neuneu_backend`). On
/// success `*out` owns it (free with `neuneu_engine_free`); on error it is NULL.
/// Errors: NULL_POINTER, INVALID_ARGUMENT (`backend`), CUDA.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_adapted_engine(
    adapted: *const neuneu_adapted,
    backend: i32,
    out: *mut *mut neuneu_engine,
) -> i32 {
    guard(|| {
        unsafe { clear_out(out)? };
        let a = self::adapted(adapted)?;
        let backend = self::backend(backend)?;
        let engine = Engine::from_bytes_with_backend(&a.bytes, backend)?;
        unsafe { store(out, neuneu_engine(Arc::new(engine))) };
        Ok(())
    })
}

/// How many arms the trees were fitted on (0 if `adapted` is NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_adapted_runs_fitted(adapted: *const neuneu_adapted) -> usize {
    self::adapted(adapted).map_or(0, |a| a.runs_fitted)
}

/// How many arms were held out to recalibrate the bands and score the result (0 if `adapted`
/// is NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_adapted_runs_held_out(adapted: *const neuneu_adapted) -> usize {
    self::adapted(adapted).map_or(0, |a| a.runs_held_out)
}

/// The mean absolute error of the median on the held-out arms (context: their first 20% of
/// compute, at least the model's minimum; targets: the rest; in the model's space) of the
/// adapted model, of the base model and of persistence (each arm's last value): a scheduler
/// goes on with the adapted model where `*adapted_mae` is below `*base_mae`. All three are NaN
/// when nothing was held out (`holdout` 0). Any output pointer may be NULL.
/// Errors: NULL_POINTER (`adapted`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_adapted_held_out_mae(
    adapted: *const neuneu_adapted,
    adapted_mae: *mut f64,
    base_mae: *mut f64,
    persistence_mae: *mut f64,
) -> i32 {
    guard(|| {
        let a = self::adapted(adapted)?;
        let mae = a.held_out_mae;
        let values = [
            (adapted_mae, mae.map(|m| m.adapted)),
            (base_mae, mae.map(|m| m.base)),
            (persistence_mae, mae.map(|m| m.persistence)),
        ];
        for (p, v) in values {
            if !p.is_null() {
                // SAFETY: checked non-NULL; the caller passes a writable double.
                unsafe { p.write(v.unwrap_or(f64::NAN)) };
            }
        }
        Ok(())
    })
}

/// Frees an adapted model. NULL is a no-op. Engines made from it stay valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_adapted_free(adapted: *mut neuneu_adapted) {
    unsafe { free_boxed(adapted) }
}

/// Makes `sweep` go on with `engine`'s model (an adapted one, say): the next decisions and
/// forecasts use it, forecasts cached under the old model are dropped; the arms and the
/// decision count stay. A sweep saved from then on loads with that engine. The engine is
/// shared: it may be freed first. Errors: NULL_POINTER.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_sweep_set_engine(
    sweep: *mut neuneu_sweep,
    engine: *const neuneu_engine,
) -> i32 {
    guard(|| {
        let engine = Arc::clone(self::engine(engine)?);
        lock(sweep)?.set_engine(engine);
        Ok(())
    })
}
