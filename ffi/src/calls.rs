//! The entry points. Each one is `guard(|| ...)`: argument checks, then the safe Rust API.
//! Safety contract shared by all (stated once in the header too): every non-NULL pointer points
//! to at least as many valid elements as the lengths and offsets passed alongside it say.
//! That contract is why the functions that read a pointer are `unsafe`; it is not repeated in a
//! `# Safety` section on each.
#![allow(clippy::missing_safety_doc)]

use super::flat::{self, FlatLosses, FlatRuns, PlanSettings};
use super::{AbiError, guard, invalid, neuneu_status, null};
use neuneu::cuda::Backend;
use neuneu::decisions::killplan::{ArmDecision, Plan};
use neuneu::inference::engine::{DEFAULT_BUNDLE, Engine, RowBatching};
use std::ffi::{CStr, CString, c_char};

/// ABI version of this header; `neuneu_abi_version()` must return the same number at run time.
/// It changes only when a signature or a struct layout changes.
///
/// 2: `neuneu_plan_options` grew `budget`. The struct is returned by value from
/// `neuneu_plan_options_default`, so a binary built against version 1 would receive more bytes
/// than it reserved: it must be rebuilt, hence the new ABI version. Structs filled by hand with
/// `version = 1` are still read (see `NEUNEU_PLAN_OPTIONS_VERSION`).
pub const NEUNEU_ABI_VERSION: u32 = 2;
/// Version of `neuneu_plan_options`; set `version` to this. Version 1 (the struct without
/// `budget`) is still accepted: only its fields are read, and policy 3 needs version 2.
pub const NEUNEU_PLAN_OPTIONS_VERSION: u32 = 2;

/// A loaded model. Immutable after creation but for its row batching setting (an atomic): one
/// engine may be shared by any number of threads calling any functions concurrently.
pub struct neuneu_engine(Engine);

/// How forecaster rows run (`neuneu_engine_set_row_batching`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum neuneu_row_batching {
    /// One row at a time: a run's forecast never depends on the rest of its request (default).
    NEUNEU_ROW_BATCHING_EXACT = 0,
    /// Rows of the same short context length several at a time: 1.2-2.7x faster per row at 30
    /// points and fewer; a forecast may differ in its last bits (about 1e-7) with the rest of
    /// its request.
    NEUNEU_ROW_BATCHING_THROUGHPUT = 1,
}

/// Where the loss encoder runs.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum neuneu_backend {
    /// CUDA when a driver and a device are present, else the CPU.
    NEUNEU_BACKEND_AUTO = 0,
    NEUNEU_BACKEND_CPU = 1,
    /// CUDA or an error (`NEUNEU_ERR_CUDA`).
    NEUNEU_BACKEND_CUDA = 2,
}

/// How a kill plan chooses the arms to stop.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum neuneu_policy {
    /// Keep the `k` arms most likely to finish in the top `k`.
    NEUNEU_POLICY_KEEP_TOP_K = 0,
    /// Stop `floor(fraction * n)` arms, the least likely to finish in the top.
    NEUNEU_POLICY_STOP_FRACTION = 1,
    /// Stop the arms whose probability of finishing in the top `k` is below `threshold`.
    NEUNEU_POLICY_STOP_BELOW_PROBABILITY = 2,
    /// Stop the arms least likely to finish in the top `k`, as many as keep the sum of their
    /// probabilities (the expected number of top-`k` arms lost) within `budget`, in [0, 1).
    /// Needs options version 2.
    NEUNEU_POLICY_STOP_WITHIN_BUDGET = 3,
}

/// Options of `neuneu_plan` and `neuneu_plan_new`. Start from `neuneu_plan_options_default()`,
/// so that fields added in later versions get their defaults. A `policy` outside
/// `neuneu_policy` is INVALID_ARGUMENT (it is read as an integer, never trusted as an enum).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct neuneu_plan_options {
    /// `NEUNEU_PLAN_OPTIONS_VERSION`.
    pub version: u32,
    pub policy: neuneu_policy,
    pub k: usize,
    pub fraction: f64,
    pub threshold: f64,
    /// Arms with fewer observations are always kept; 0 = no minimum.
    pub min_observations: usize,
    /// Monte Carlo samples of the top-k probabilities.
    pub samples: usize,
    pub seed: u64,
    /// `NEUNEU_POLICY_STOP_WITHIN_BUDGET`: the expected number of top-`k` arms the plan may
    /// stop, in [0, 1). Added in options version 2 (appended, so version 1 is a prefix).
    pub budget: f64,
}

/// The version-1 layout of `neuneu_plan_options` (a prefix of the current one): what a caller
/// that sets `version = 1` has allocated. Never read past it for such a caller.
#[repr(C)]
struct PlanOptionsV1 {
    version: u32,
    policy: i32,
    k: usize,
    fraction: f64,
    threshold: f64,
    min_observations: usize,
    samples: usize,
    seed: u64,
}

/// Default plan options: keep the top 3 (fraction 0.5, threshold 0.05, budget 0.1 for the other
/// policies), no minimum, 4000 samples, seed 0.
#[unsafe(no_mangle)]
pub extern "C" fn neuneu_plan_options_default() -> neuneu_plan_options {
    neuneu_plan_options {
        version: NEUNEU_PLAN_OPTIONS_VERSION,
        policy: neuneu_policy::NEUNEU_POLICY_KEEP_TOP_K,
        k: 3,
        fraction: 0.5,
        threshold: 0.05,
        min_observations: 0,
        samples: neuneu::decisions::killplan::DEFAULT_SAMPLES,
        seed: 0,
        budget: flat::DEFAULT_BUDGET,
    }
}

/// The ABI version the library was built with (compare with `NEUNEU_ABI_VERSION`).
#[unsafe(no_mangle)]
pub extern "C" fn neuneu_abi_version() -> u32 {
    NEUNEU_ABI_VERSION
}

/// The library's version, e.g. "0.1.0". Static storage; never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn neuneu_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Checks a caller's buffer of `n` elements: NULL is refused unless `n` is 0, and so is a
/// length no allocation can have (which `from_raw_parts` must never see).
fn check_buffer<T>(null_pointer: bool, n: usize, what: &str) -> Result<(), AbiError> {
    if null_pointer {
        return Err(null(what));
    }
    if n.checked_mul(std::mem::size_of::<T>())
        .is_none_or(|b| b > isize::MAX as usize)
    {
        return Err(invalid(format!("{what}: length {n} is too large")));
    }
    Ok(())
}

unsafe fn slice<'a, T>(p: *const T, n: usize, what: &str) -> Result<&'a [T], AbiError> {
    if n == 0 {
        return Ok(&[]);
    }
    check_buffer::<T>(p.is_null(), n, what)?;
    // SAFETY: the caller promises `p` points to `n` valid elements (the header's contract).
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

unsafe fn slice_mut<'a, T>(p: *mut T, n: usize, what: &str) -> Result<&'a mut [T], AbiError> {
    if n == 0 {
        return Ok(&mut []);
    }
    check_buffer::<T>(p.is_null(), n, what)?;
    // SAFETY: as for `slice`, for a writable buffer.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, n) })
}

/// Offsets `[n + 1]`: start at 0 and never decrease. Returns them.
unsafe fn offsets<'a>(p: *const usize, n: usize, what: &str) -> Result<&'a [usize], AbiError> {
    let n1 = n
        .checked_add(1)
        .ok_or_else(|| invalid(format!("{what}: too many runs")))?;
    let o = unsafe { slice(p, n1, what)? };
    flat::check_offsets(o, what)?;
    Ok(o)
}

fn engine<'a>(e: *const neuneu_engine) -> Result<&'a Engine, AbiError> {
    // SAFETY: a non-NULL handle comes from `neuneu_engine_new*` and is not yet freed.
    unsafe { e.as_ref() }
        .map(|h| &h.0)
        .ok_or_else(|| null("engine"))
}

fn backend(b: neuneu_backend) -> Backend {
    match b {
        neuneu_backend::NEUNEU_BACKEND_AUTO => Backend::Auto,
        neuneu_backend::NEUNEU_BACKEND_CPU => Backend::Cpu,
        neuneu_backend::NEUNEU_BACKEND_CUDA => Backend::Cuda,
    }
}

fn store(out: *mut *mut neuneu_engine, e: Engine) {
    // SAFETY: `out` was checked non-NULL by the caller of `store`.
    unsafe { *out = Box::into_raw(Box::new(neuneu_engine(e))) };
}

/// Creates an engine from a bundle in memory (`bundle` NULL and `len` 0: the embedded default
/// model) with the loss encoder on `backend`. On success `*out` owns a new engine: free it with
/// `neuneu_engine_free`. The bundle bytes are copied; the caller keeps ownership of them.
/// Errors: NULL_POINTER, BUNDLE (corrupt or wrong version), CUDA.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_engine_new(
    out: *mut *mut neuneu_engine,
    bundle: *const u8,
    len: usize,
    backend_choice: neuneu_backend,
) -> i32 {
    guard(|| {
        if out.is_null() {
            return Err(null("out"));
        }
        unsafe { *out = std::ptr::null_mut() };
        let bytes = if bundle.is_null() && len == 0 {
            DEFAULT_BUNDLE
        } else {
            unsafe { slice(bundle, len, "bundle")? }
        };
        store(
            out,
            Engine::from_bytes_with_backend(bytes, backend(backend_choice))?,
        );
        Ok(())
    })
}

/// Creates an engine from the embedded default model (backend AUTO). See `neuneu_engine_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_engine_new_default(out: *mut *mut neuneu_engine) -> i32 {
    unsafe {
        neuneu_engine_new(
            out,
            std::ptr::null(),
            0,
            neuneu_backend::NEUNEU_BACKEND_AUTO,
        )
    }
}

/// Creates an engine from a bundle in memory (backend AUTO). See `neuneu_engine_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_engine_new_from_memory(
    out: *mut *mut neuneu_engine,
    bundle: *const u8,
    len: usize,
) -> i32 {
    if bundle.is_null() {
        return guard(|| Err(null("bundle")));
    }
    unsafe { neuneu_engine_new(out, bundle, len, neuneu_backend::NEUNEU_BACKEND_AUTO) }
}

/// Creates an engine from a bundle file (`path`: UTF-8, NUL-terminated; backend AUTO).
/// Errors: NULL_POINTER, INVALID_ARGUMENT (not UTF-8), IO, BUNDLE, CUDA.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_engine_new_from_path(
    out: *mut *mut neuneu_engine,
    path: *const c_char,
) -> i32 {
    guard(|| {
        if out.is_null() {
            return Err(null("out"));
        }
        unsafe { *out = std::ptr::null_mut() };
        if path.is_null() {
            return Err(null("path"));
        }
        // SAFETY: the caller passes a NUL-terminated string.
        let p = unsafe { CStr::from_ptr(path) }
            .to_str()
            .map_err(|_| invalid("path is not UTF-8"))?;
        store(out, Engine::from_path(p)?);
        Ok(())
    })
}

/// Frees an engine. NULL is a no-op. No other thread may be using it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_engine_free(engine: *mut neuneu_engine) {
    unsafe { free_boxed(engine) }
}

/// Sets how `engine` runs forecaster rows from now on: a `neuneu_row_batching` value (EXACT
/// until set). Safe while other threads use the engine; each forecast call reads the setting
/// once. Errors: NULL_POINTER, INVALID_ARGUMENT (`mode` is not a `neuneu_row_batching` value).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_engine_set_row_batching(
    engine: *const neuneu_engine,
    mode: i32,
) -> i32 {
    guard(|| {
        let e = self::engine(engine)?;
        let batching = match mode {
            0 => RowBatching::Exact,
            1 => RowBatching::Throughput,
            other => {
                return Err(invalid(format!(
                    "row batching {other} is unknown (0 exact, 1 throughput)"
                )));
            }
        };
        e.set_row_batching(batching);
        Ok(())
    })
}

/// Number of quantile levels of every forecast (5 for the default model); 0 if `engine` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_engine_num_levels(engine: *const neuneu_engine) -> usize {
    unsafe { engine.as_ref() }.map_or(0, |e| e.0.levels().len())
}

/// Writes the quantile levels (increasing) into `out[capacity]`.
/// Errors: NULL_POINTER, BUFFER_TOO_SMALL (capacity < neuneu_engine_num_levels).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_engine_levels(
    engine: *const neuneu_engine,
    out: *mut f32,
    capacity: usize,
) -> i32 {
    guard(|| {
        let e = self::engine(engine)?;
        let levels = e.levels();
        if capacity < levels.len() {
            return Err(AbiError(
                neuneu_status::NEUNEU_ERR_BUFFER_TOO_SMALL,
                format!("{} levels, capacity {capacity}", levels.len()),
            ));
        }
        unsafe { slice_mut(out, levels.len(), "out")? }.copy_from_slice(levels);
        Ok(())
    })
}

/// The model's manifest as UTF-8 JSON. `*required` (if not NULL) receives the size including
/// the terminating NUL; with `buf` NULL or too small nothing is written and BUFFER_TOO_SMALL is
/// returned (NULL `buf` with `capacity` 0 is the way to ask for the size).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_engine_manifest_json(
    engine: *const neuneu_engine,
    buf: *mut c_char,
    capacity: usize,
    required: *mut usize,
) -> i32 {
    guard(|| {
        let e = self::engine(engine)?;
        let json = serde_json::to_string(e.manifest()).map_err(|err| invalid(err.to_string()))?;
        let need = json.len() + 1;
        if !required.is_null() {
            unsafe { *required = need };
        }
        if buf.is_null() || capacity < need {
            return Err(AbiError(
                neuneu_status::NEUNEU_ERR_BUFFER_TOO_SMALL,
                format!("manifest needs {need} bytes"),
            ));
        }
        let out = unsafe { slice_mut(buf.cast::<u8>(), need, "buf")? };
        out[..json.len()].copy_from_slice(json.as_bytes());
        out[json.len()] = 0;
        Ok(())
    })
}

/// Floats `neuneu_forecast` writes for `total_targets` targets: one per (target, level).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_forecast_output_len(
    engine: *const neuneu_engine,
    total_targets: usize,
) -> usize {
    unsafe { engine.as_ref() }.map_or(0, |e| total_targets.saturating_mul(e.0.levels().len()))
}

/// Reads the raw layout of `n` runs (see `neuneu_forecast`) into checked slices.
unsafe fn read_runs<'a>(
    n: usize,
    steps: *const f64,
    accuracy: *const f64,
    context_offsets: *const usize,
    targets: *const f64,
    target_offsets: *const usize,
) -> Result<FlatRuns<'a>, AbiError> {
    let ctx = unsafe { offsets(context_offsets, n, "context_offsets")? };
    let tgt = unsafe { offsets(target_offsets, n, "target_offsets")? };
    FlatRuns::new(
        unsafe { slice(steps, ctx[n], "steps")? },
        unsafe { slice(accuracy, ctx[n], "accuracy")? },
        ctx,
        unsafe { slice(targets, tgt[n], "targets")? },
        tgt,
    )
}

/// Forecasts `n_runs` runs in one batch.
///
/// Inputs (caller-owned, read only): `steps` and `accuracy` with `context_offsets[n_runs + 1]`
/// (run `i` observed `steps/accuracy[context_offsets[i] .. context_offsets[i + 1]]`), `targets`
/// with `target_offsets[n_runs + 1]`; optional token losses of each run's last checkpoint:
/// `losses` with `loss_offsets[n_runs + 1]` (both NULL for none; an empty range means none for
/// that run).
/// Output: `out_quantiles[out_capacity]`, at least `neuneu_forecast_output_len(engine,
/// target_offsets[n_runs])` floats: for each run, each target, the quantiles at the levels.
/// `run_status[n_runs]` (optional) receives each run's status; a failed run's quantiles are NaN.
/// Returns OK if every run succeeded, else the first failed run's status with its message
/// (naming the run index and the field). Errors: NULL_POINTER, INVALID_ARGUMENT (offsets),
/// INVALID_INPUT, BUFFER_TOO_SMALL, INFERENCE. Thread-safe on a shared engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_forecast(
    engine: *const neuneu_engine,
    n_runs: usize,
    steps: *const f64,
    accuracy: *const f64,
    context_offsets: *const usize,
    targets: *const f64,
    target_offsets: *const usize,
    losses: *const f32,
    loss_offsets: *const usize,
    out_quantiles: *mut f32,
    out_capacity: usize,
    run_status: *mut i32,
) -> i32 {
    guard(|| {
        let e = self::engine(engine)?;
        let runs = unsafe {
            read_runs(
                n_runs,
                steps,
                accuracy,
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
        let results = flat::forecast(e, &runs, loss_data.as_ref())?;
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
/// layout; every run needs at least one target). Writes `prob_above[n_runs * n_runs]`
/// (row-major: `[i * n_runs + j]` = P(run i ends above run j), diagonal NaN, `[i,j] + [j,i] = 1`)
/// and `order[n_runs]` (run indices, best first). Either output may be NULL to skip it.
/// Errors: NULL_POINTER, INVALID_ARGUMENT, INVALID_INPUT, INFERENCE. Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_rank(
    engine: *const neuneu_engine,
    n_runs: usize,
    steps: *const f64,
    accuracy: *const f64,
    context_offsets: *const usize,
    targets: *const f64,
    target_offsets: *const usize,
    prob_above: *mut f64,
    order: *mut usize,
) -> i32 {
    guard(|| {
        let e = self::engine(engine)?;
        let runs = unsafe {
            read_runs(
                n_runs,
                steps,
                accuracy,
                context_offsets,
                targets,
                target_offsets,
            )?
        };
        let ranking = flat::rank(e, &runs)?;
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

/// Reads options of version 1 or 2 without ever reading past what that version allocated, and
/// without trusting `policy` to be a valid enum value (a C caller can store any int there).
unsafe fn read_options(options: *const neuneu_plan_options) -> Result<PlanSettings, AbiError> {
    if options.is_null() {
        return Err(null("options"));
    }
    // SAFETY: version 1 is a prefix of version 2 (the field was appended), so these fields are
    // at the same offsets in what either kind of caller allocated.
    let v1 = unsafe { &*options.cast::<PlanOptionsV1>() };
    let budget = match v1.version {
        1 => flat::DEFAULT_BUDGET,
        // SAFETY: a version-2 caller allocated the whole struct.
        2 => unsafe { std::ptr::addr_of!((*options).budget).read() },
        v => {
            return Err(invalid(format!(
                "options.version {v} (this library reads 1 and {NEUNEU_PLAN_OPTIONS_VERSION})"
            )));
        }
    };
    if v1.version == 1 && v1.policy == neuneu_policy::NEUNEU_POLICY_STOP_WITHIN_BUDGET as i32 {
        return Err(invalid(
            "policy NEUNEU_POLICY_STOP_WITHIN_BUDGET needs options.version 2 (it has a budget)",
        ));
    }
    Ok(PlanSettings {
        policy: i64::from(v1.policy),
        k: v1.k,
        fraction: v1.fraction,
        threshold: v1.threshold,
        budget,
        min_observations: v1.min_observations,
        samples: v1.samples,
        seed: v1.seed,
    })
}

/// The shared part of `neuneu_plan` and `neuneu_plan_new`.
unsafe fn make_plan(
    engine: *const neuneu_engine,
    n_arms: usize,
    steps: *const f64,
    accuracy: *const f64,
    context_offsets: *const usize,
    end_step: f64,
    options: *const neuneu_plan_options,
) -> Result<Plan, AbiError> {
    let e = self::engine(engine)?;
    let settings = unsafe { read_options(options)? };
    let ctx = unsafe { offsets(context_offsets, n_arms, "context_offsets")? };
    let (st, acc) = unsafe {
        (
            slice(steps, ctx[n_arms], "steps")?,
            slice(accuracy, ctx[n_arms], "accuracy")?,
        )
    };
    flat::plan(e, st, acc, ctx, end_step, &flat::plan_options(&settings)?)
}

/// A kill plan for a sweep of `n_arms` arms (observed curves laid out as in `neuneu_forecast`,
/// no targets: every arm is forecast at `end_step`). Writes per arm, into caller-owned arrays
/// of `n_arms` (any may be NULL to skip): `keep` (1 keep, 0 stop), `p_top_k` (probability of
/// finishing in the top k), and the forecast `median`, `q10`, `q90` at `end_step`. For the
/// reasons behind each decision, use `neuneu_plan_new`.
/// Errors: NULL_POINTER, INVALID_ARGUMENT (options, offsets), INVALID_INPUT, INFERENCE.
/// Deterministic for the same input and seed. Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_plan(
    engine: *const neuneu_engine,
    n_arms: usize,
    steps: *const f64,
    accuracy: *const f64,
    context_offsets: *const usize,
    end_step: f64,
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
                accuracy,
                context_offsets,
                end_step,
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
    decisions: Vec<ArmDecision>,
    /// The reasons as C strings, made once so that `neuneu_arm_decision.reason` can point into
    /// the plan for as long as it lives.
    reasons: Vec<CString>,
}

/// One arm's decision, read with `neuneu_plan_arm`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct neuneu_arm_decision {
    /// 1 keep, 0 stop.
    pub keep: u8,
    /// Probability of finishing in the top `neuneu_plan_k(plan)`.
    pub p_top_k: f64,
    /// The forecast's median and 0.1 and 0.9 quantiles at the end step.
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
    accuracy: *const f64,
    context_offsets: *const usize,
    end_step: f64,
    options: *const neuneu_plan_options,
    out: *mut *mut neuneu_plan_result,
) -> i32 {
    guard(|| {
        if out.is_null() {
            return Err(null("out"));
        }
        unsafe { *out = std::ptr::null_mut() };
        let plan = unsafe {
            make_plan(
                engine,
                n_arms,
                steps,
                accuracy,
                context_offsets,
                end_step,
                options,
            )?
        };
        let reasons = plan
            .decisions
            .iter()
            .map(|d| CString::new(d.reason.replace('\0', " ")).unwrap_or_default())
            .collect();
        let handle = neuneu_plan_result {
            k: plan.k,
            decisions: plan.decisions,
            reasons,
        };
        unsafe { *out = Box::into_raw(Box::new(handle)) };
        Ok(())
    })
}

/// Number of arms in the plan (the `n_arms` it was made for); 0 if `plan` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_plan_len(plan: *const neuneu_plan_result) -> usize {
    // SAFETY: a non-NULL handle comes from `neuneu_plan_new` and is not yet freed.
    unsafe { plan.as_ref() }.map_or(0, |p| p.decisions.len())
}

/// The `k` of the plan's `p_top_k` (for a stop-fraction policy, the number of arms kept); 0 if
/// `plan` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_plan_k(plan: *const neuneu_plan_result) -> usize {
    unsafe { plan.as_ref() }.map_or(0, |p| p.k)
}

/// Writes arm `index`'s decision (arms in input order) into `*out`; `out->reason` points into
/// the plan (valid until `neuneu_plan_free`). Errors: NULL_POINTER (`plan` or `out`),
/// INVALID_ARGUMENT (`index >= neuneu_plan_len(plan)`; `*out` is left untouched).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_plan_arm(
    plan: *const neuneu_plan_result,
    index: usize,
    out: *mut neuneu_arm_decision,
) -> i32 {
    guard(|| {
        let p = unsafe { plan.as_ref() }.ok_or_else(|| null("plan"))?;
        if out.is_null() {
            return Err(null("out"));
        }
        let d = p.decisions.get(index).ok_or_else(|| {
            invalid(format!(
                "arm index {index} out of range: the plan has {} arms",
                p.decisions.len()
            ))
        })?;
        let decision = neuneu_arm_decision {
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

/// Test hook: panics inside the boundary, to prove panics become NEUNEU_ERR_PANIC.
#[doc(hidden)]
#[unsafe(no_mangle)]
pub extern "C" fn neuneu_test_panic() -> i32 {
    guard(|| panic!("deliberate panic for the test suite"))
}

/// Drops a handle made by `Box::into_raw`; NULL is a no-op. A panic in a destructor must not
/// unwind into C either.
///
/// # Safety
/// `p` is NULL or a live handle from this library, used by no other thread.
unsafe fn free_boxed<T>(p: *mut T) {
    if !p.is_null() {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drop(unsafe { Box::from_raw(p) })
        }));
    }
}
