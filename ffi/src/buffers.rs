//! Reading the caller's buffers: the one place that turns raw pointers and lengths into slices
//! and strings, after checking what can be checked (NULL, impossible lengths, offsets, UTF-8).
//!
//! Safety contract (the header's): every non-NULL pointer points to at least as many valid
//! elements as the lengths and offsets passed alongside it say, and strings are NUL-terminated.

use super::flat;
use super::{AbiError, invalid, neuneu_status, null};
use std::ffi::{CStr, c_char};

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

/// `p[..n]`; NULL only with `n` 0.
pub(crate) unsafe fn slice<'a, T>(p: *const T, n: usize, what: &str) -> Result<&'a [T], AbiError> {
    if n == 0 {
        return Ok(&[]);
    }
    check_buffer::<T>(p.is_null(), n, what)?;
    // SAFETY: the caller promises `p` points to `n` valid elements (the header's contract).
    Ok(unsafe { std::slice::from_raw_parts(p, n) })
}

/// `p[..n]`, writable; NULL only with `n` 0.
pub(crate) unsafe fn slice_mut<'a, T>(
    p: *mut T,
    n: usize,
    what: &str,
) -> Result<&'a mut [T], AbiError> {
    if n == 0 {
        return Ok(&mut []);
    }
    check_buffer::<T>(p.is_null(), n, what)?;
    // SAFETY: as for `slice`, for a writable buffer.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, n) })
}

/// Offsets `[n + 1]`: start at 0 and never decrease. Returns them.
pub(crate) unsafe fn offsets<'a>(
    p: *const usize,
    n: usize,
    what: &str,
) -> Result<&'a [usize], AbiError> {
    let n1 = n
        .checked_add(1)
        .ok_or_else(|| invalid(format!("{what}: too many runs")))?;
    let o = unsafe { slice(p, n1, what)? };
    flat::check_offsets(o, what)?;
    Ok(o)
}

/// A NUL-terminated UTF-8 string.
pub(crate) unsafe fn text<'a>(p: *const c_char, what: &str) -> Result<&'a str, AbiError> {
    if p.is_null() {
        return Err(null(what));
    }
    // SAFETY: the caller passes a NUL-terminated string.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|_| invalid(format!("{what} is not UTF-8")))
}

/// Writes `bytes` and a NUL into `buf[capacity]` the way every sized output of the header
/// works: `*required` (if not NULL) receives the size including the NUL; with `buf` NULL or too
/// small nothing is written and BUFFER_TOO_SMALL is returned (NULL `buf` with `capacity` 0 is
/// the way to ask for the size).
pub(crate) unsafe fn write_sized(
    bytes: &[u8],
    buf: *mut c_char,
    capacity: usize,
    required: *mut usize,
    what: &str,
) -> Result<(), AbiError> {
    let need = bytes.len() + 1;
    if !required.is_null() {
        // SAFETY: a non-NULL `required` points to one size_t.
        unsafe { *required = need };
    }
    if buf.is_null() || capacity < need {
        return Err(AbiError(
            neuneu_status::NEUNEU_ERR_BUFFER_TOO_SMALL,
            format!("{what} needs {need} bytes, capacity {capacity}"),
        ));
    }
    let out = unsafe { slice_mut(buf.cast::<u8>(), need, "buf")? };
    out[..bytes.len()].copy_from_slice(bytes);
    out[bytes.len()] = 0;
    Ok(())
}

/// Drops a handle made by `Box::into_raw`; NULL is a no-op. A panic in a destructor must not
/// unwind into C either.
///
/// # Safety
/// `p` is NULL or a live handle from this library, used by no other thread.
pub(crate) unsafe fn free_boxed<T>(p: *mut T) {
    if !p.is_null() {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            drop(unsafe { Box::from_raw(p) })
        }));
    }
}

/// Stores a new handle in `*out` (checked non-NULL by the caller).
pub(crate) unsafe fn store<T>(out: *mut *mut T, value: T) {
    // SAFETY: `out` was checked non-NULL by the caller.
    unsafe { *out = Box::into_raw(Box::new(value)) };
}

/// Checks an output handle pointer and sets it to NULL, so that it is NULL on every error.
pub(crate) unsafe fn clear_out<T>(out: *mut *mut T) -> Result<(), AbiError> {
    if out.is_null() {
        return Err(null("out"));
    }
    // SAFETY: checked non-NULL; the caller passes a writable pointer.
    unsafe { *out = std::ptr::null_mut() };
    Ok(())
}
