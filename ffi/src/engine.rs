//! Engines: creating one from a bundle, its settings and what it says about its model.

use super::buffers::{clear_out, free_boxed, slice, slice_mut, store, text, write_sized};
use super::{AbiError, guard, invalid, neuneu_status, null};
use neuneu::cuda::Backend;
use neuneu::inference::engine::{DEFAULT_BUNDLE, Engine, RowBatching};
use std::sync::Arc;

/// A loaded model. Immutable after creation but for its row batching setting (an atomic): one
/// engine may be shared by any number of threads calling any functions concurrently. Sweeps
/// made from it share the model and keep it alive: the engine may be freed before them.
pub struct neuneu_engine(pub(crate) Arc<Engine>);

/// How forecaster rows run (`neuneu_engine_set_row_batching`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum neuneu_row_batching {
    /// A run's forecast never depends on the rest of its request (default): rows of the same
    /// short context length go several at a time once the engine has checked, on the first
    /// such batch, that this keeps every row's bits (the default model's batched plans do),
    /// else one at a time.
    NEUNEU_ROW_BATCHING_EXACT = 0,
    /// Short rows several at a time without that check: with a model whose batched plans fail
    /// it, a forecast may differ in its last bits (about 1e-7) with the rest of its request.
    NEUNEU_ROW_BATCHING_THROUGHPUT = 1,
}

/// Where the loss encoder runs (`neuneu_engine_new`'s `backend`, as `int32_t`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum neuneu_backend {
    /// CUDA when a driver and a device are present, else the CPU.
    NEUNEU_BACKEND_AUTO = 0,
    NEUNEU_BACKEND_CPU = 1,
    /// CUDA or an error (`NEUNEU_ERR_CUDA`).
    NEUNEU_BACKEND_CUDA = 2,
}

pub(crate) fn engine<'a>(e: *const neuneu_engine) -> Result<&'a Arc<Engine>, AbiError> {
    // SAFETY: a non-NULL handle comes from `neuneu_engine_new*` and is not yet freed.
    unsafe { e.as_ref() }
        .map(|h| &h.0)
        .ok_or_else(|| null("engine"))
}

/// The backend a `neuneu_backend` code means (C and C++ pass it as an int).
pub(crate) fn backend(code: i32) -> Result<Backend, AbiError> {
    match code {
        0 => Ok(Backend::Auto),
        1 => Ok(Backend::Cpu),
        2 => Ok(Backend::Cuda),
        other => Err(invalid(format!(
            "backend {other} is unknown (0 auto, 1 cpu, 2 cuda)"
        ))),
    }
}

/// Creates an engine from a bundle in memory (`bundle` NULL and `len` 0: the embedded default
/// model) with the loss encoder on `backend`, a `neuneu_backend` value. On success `*out` owns
/// a new engine: free it with `neuneu_engine_free`; on error `*out` is NULL. The bundle bytes
/// are copied; the caller keeps ownership of them.
/// Errors: NULL_POINTER, INVALID_ARGUMENT (`backend` out of range), BUNDLE (corrupt or wrong
/// version), CUDA (CUDA asked for and unavailable).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_engine_new(
    out: *mut *mut neuneu_engine,
    bundle: *const u8,
    len: usize,
    backend: i32,
) -> i32 {
    guard(|| {
        unsafe { clear_out(out)? };
        let backend = self::backend(backend)?;
        let bytes = if bundle.is_null() && len == 0 {
            DEFAULT_BUNDLE
        } else {
            unsafe { slice(bundle, len, "bundle")? }
        };
        let engine = Engine::from_bytes_with_backend(bytes, backend)?;
        unsafe { store(out, neuneu_engine(Arc::new(engine))) };
        Ok(())
    })
}

/// Creates an engine from the embedded default model (backend AUTO). See `neuneu_engine_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_engine_new_default(out: *mut *mut neuneu_engine) -> i32 {
    unsafe { neuneu_engine_new(out, std::ptr::null(), 0, 0) }
}

/// Creates an engine from a bundle in memory (backend AUTO; `bundle` may not be NULL). See
/// `neuneu_engine_new`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_engine_new_from_memory(
    out: *mut *mut neuneu_engine,
    bundle: *const u8,
    len: usize,
) -> i32 {
    if bundle.is_null() {
        return guard(|| {
            unsafe { clear_out(out)? };
            Err(null("bundle"))
        });
    }
    unsafe { neuneu_engine_new(out, bundle, len, 0) }
}

/// Creates an engine from a bundle file (`path`: UTF-8, NUL-terminated; backend AUTO); on error
/// `*out` is NULL. Errors: NULL_POINTER, INVALID_ARGUMENT (not UTF-8), IO, BUNDLE, CUDA.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_engine_new_from_path(
    out: *mut *mut neuneu_engine,
    path: *const std::ffi::c_char,
) -> i32 {
    guard(|| {
        unsafe { clear_out(out)? };
        let p = unsafe { text(path, "path")? };
        unsafe { store(out, neuneu_engine(Arc::new(Engine::from_path(p)?))) };
        Ok(())
    })
}

/// Frees an engine. NULL is a no-op. No other thread may be using it. Sweeps made from it stay
/// valid (they share the model).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_engine_free(engine: *mut neuneu_engine) {
    unsafe { free_boxed(engine) }
}

/// Sets how `engine` runs forecaster rows from now on: a `neuneu_row_batching` value (EXACT
/// until set). Safe while other threads use the engine; each forecast call reads the setting
/// once. Errors: NULL_POINTER, INVALID_ARGUMENT (`mode` is not a `neuneu_row_batching` value).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_engine_set_row_batching(
    engine: *mut neuneu_engine,
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
    self::engine(engine).map_or(0, |e| e.levels().len())
}

/// The fewest observed points a run needs to be forecast (2 for the default model); a sweep or
/// plan keeps younger arms without judging them. 0 if `engine` is NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn neuneu_engine_min_context(engine: *const neuneu_engine) -> usize {
    self::engine(engine).map_or(0, |e| e.manifest().preparation.min_context)
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
    buf: *mut std::ffi::c_char,
    capacity: usize,
    required: *mut usize,
) -> i32 {
    guard(|| {
        let e = self::engine(engine)?;
        let json = serde_json::to_string(e.manifest()).map_err(|err| invalid(err.to_string()))?;
        unsafe { write_sized(json.as_bytes(), buf, capacity, required, "the manifest") }
    })
}
