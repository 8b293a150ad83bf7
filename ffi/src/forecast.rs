//! Forecasts and rankings of runs laid out flat (see `flat.rs` for the layout's rules).

use super::buffers::{offsets, slice, slice_mut};
use super::engine::{engine, neuneu_engine};
use super::flat::{self, FlatLosses, FlatRuns};
use super::options::metric;
use super::{AbiError, guard, invalid, neuneu_status};

/// Floats `neuneu_forecast` writes for `total_targets` targets: one per (target, level); 0 if
/// `engine` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_forecast_output_len(
    engine: *const neuneu_engine,
    total_targets: usize,
) -> usize {
    self::engine(engine).map_or(0, |e| total_targets.saturating_mul(e.levels().len()))
}

/// Reads the raw layout of `n` runs (see `neuneu_forecast`) into checked slices.
unsafe fn read_runs<'a>(
    n: usize,
    steps: *const f64,
    values: *const f64,
    context_offsets: *const usize,
    targets: *const f64,
    target_offsets: *const usize,
) -> Result<FlatRuns<'a>, AbiError> {
    let ctx = unsafe { offsets(context_offsets, n, "context_offsets")? };
    let tgt = unsafe { offsets(target_offsets, n, "target_offsets")? };
    FlatRuns::new(
        unsafe { slice(steps, ctx[n], "steps")? },
        unsafe { slice(values, ctx[n], "values")? },
        ctx,
        unsafe { slice(targets, tgt[n], "targets")? },
        tgt,
    )
}

/// Forecasts `n_runs` runs in one batch.
///
/// Inputs (caller-owned, read only): `steps` and `values` with `context_offsets[n_runs + 1]`
/// (run `i` observed `values[context_offsets[i] .. context_offsets[i + 1]]` at the same
/// `steps`, which must increase), `targets` with `target_offsets[n_runs + 1]` (steps after the
/// run's last); optional token losses of each run's last checkpoint: `losses` with
/// `loss_offsets[n_runs + 1]` (both NULL for none; an empty range means none for that run;
/// finite and non-negative). `metric_kind` and `direction` (`neuneu_metric_kind`,
/// `neuneu_direction`) give the values' units: bounded values lie in [0, 1], a loss's are
/// non-negative; forecasts come back in the same units. A run needs at least
/// `neuneu_engine_min_context(engine)` points.
/// Output: `out_quantiles[out_capacity]`, at least `neuneu_forecast_output_len(engine,
/// target_offsets[n_runs])` floats: for each run, each target, the quantiles at the levels
/// (increasing with the level, whatever the direction).
/// `run_status[n_runs]` (optional) receives each run's status; a failed run's quantiles are NaN.
/// Returns OK if every run succeeded, else the first failed run's status with its message
/// (naming the run index and the field). Errors: NULL_POINTER, INVALID_ARGUMENT (offsets, an
/// unknown metric kind or direction), INVALID_INPUT, BUFFER_TOO_SMALL, INFERENCE. Thread-safe
/// on a shared engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_forecast(
    engine: *const neuneu_engine,
    n_runs: usize,
    steps: *const f64,
    values: *const f64,
    context_offsets: *const usize,
    targets: *const f64,
    target_offsets: *const usize,
    losses: *const f32,
    loss_offsets: *const usize,
    metric_kind: i32,
    direction: i32,
    out_quantiles: *mut f32,
    out_capacity: usize,
    run_status: *mut i32,
) -> i32 {
    guard(|| {
        let e = self::engine(engine)?;
        let metric = metric(metric_kind, direction)?;
        let runs = unsafe {
            read_runs(
                n_runs,
                steps,
                values,
                context_offsets,
                targets,
                target_offsets,
            )?
        };
        let q = e.levels().len();
        let need = runs
            .total_targets()
            .checked_mul(q)
            .ok_or_else(|| invalid("too many targets"))?;
        if out_capacity < need {
            return Err(AbiError(
                neuneu_status::NEUNEU_ERR_BUFFER_TOO_SMALL,
                format!("{need} floats needed, capacity {out_capacity}"),
            ));
        }
        let out = unsafe { slice_mut(out_quantiles, need, "out_quantiles")? };
        let mut statuses = if run_status.is_null() {
            None
        } else {
            Some(unsafe { slice_mut(run_status, n_runs, "run_status")? })
        };
        let loss_data = if losses.is_null() && loss_offsets.is_null() {
            None
        } else {
            let lo = unsafe { offsets(loss_offsets, n_runs, "loss_offsets")? };
            Some(FlatLosses::new(
                unsafe { slice(losses, lo[n_runs], "losses")? },
                lo,
            )?)
        };
        let mut first_error: Option<AbiError> = None;
        let results = flat::forecast(e, &runs, loss_data.as_ref(), metric)?;
        for (i, result) in results.into_iter().enumerate() {
            let t = runs.target_range(i);
            let slots = &mut out[t.start * q..t.end * q];
            let status = match result {
                Ok(quantiles) => {
                    slots.copy_from_slice(&quantiles);
                    neuneu_status::NEUNEU_OK
                }
                Err(abi) => {
                    slots.fill(f32::NAN);
                    let s = abi.0;
                    first_error.get_or_insert(abi);
                    s
                }
            };
            if let Some(st) = statuses.as_mut() {
                st[i] = status as i32;
            }
        }
        first_error.map_or(Ok(()), Err)
    })
}

/// Ranks runs by their forecast at each run's last target (see `neuneu_forecast` for the input
/// layout and the metric; every run needs at least one target). Writes
/// `prob_above[n_runs * n_runs]` (row-major: `[i * n_runs + j]` = P(run i ends better than run
/// j: above it, or below it for a minimized metric), diagonal NaN, `[i,j] + [j,i] = 1`) and
/// `order[n_runs]` (run indices, best first). Either output may be NULL to skip it.
/// Errors: NULL_POINTER, INVALID_ARGUMENT, INVALID_INPUT, INFERENCE. Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_rank(
    engine: *const neuneu_engine,
    n_runs: usize,
    steps: *const f64,
    values: *const f64,
    context_offsets: *const usize,
    targets: *const f64,
    target_offsets: *const usize,
    metric_kind: i32,
    direction: i32,
    prob_above: *mut f64,
    order: *mut usize,
) -> i32 {
    guard(|| {
        let e = self::engine(engine)?;
        let metric = metric(metric_kind, direction)?;
        let runs = unsafe {
            read_runs(
                n_runs,
                steps,
                values,
                context_offsets,
                targets,
                target_offsets,
            )?
        };
        let ranking = flat::rank(e, &runs, metric)?;
        if !prob_above.is_null() {
            let cells = ranking.prob_above.len();
            unsafe { slice_mut(prob_above, cells, "prob_above")? }
                .copy_from_slice(&ranking.prob_above);
        }
        if !order.is_null() {
            unsafe { slice_mut(order, n_runs, "order")? }.copy_from_slice(&ranking.order);
        }
        Ok(())
    })
}
