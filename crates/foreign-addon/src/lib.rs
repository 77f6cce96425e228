//! A Node addon for the tests only: it wraps JS objects with native data of
//! its own (`napi_wrap`, no type tag), as another addon loaded beside
//! wasm-sandbox may, so the tests can call `Executor` methods on them.
#![deny(clippy::all)]

use std::ffi::c_void;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

/// Frees the `size` zero bytes `wrap` made (`size` is the hint).
unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, size: *mut c_void) {
    let bytes = std::ptr::slice_from_raw_parts_mut(data.cast::<u8>(), size as usize);
    // SAFETY: `data` is the box `wrap` leaked, of `size` bytes.
    drop(unsafe { Box::from_raw(bytes) });
}

/// Wraps `object` with `size` zero bytes (1..=65536) of native memory,
/// freed when the object is collected.
#[napi]
pub fn wrap(env: Env, object: Object, size: u32) -> Result<()> {
    if !(1..=65536).contains(&size) {
        return Err(Error::new(Status::InvalidArg, "size must be 1..=65536"));
    }
    let data = Box::into_raw(vec![0u8; size as usize].into_boxed_slice());
    // SAFETY: a live object of this env; the finalizer frees `data`.
    let status = unsafe {
        sys::napi_wrap(
            env.raw(),
            object.raw(),
            data.cast::<c_void>(),
            Some(finalize),
            size as usize as *mut c_void,
            std::ptr::null_mut(),
        )
    };
    if status != sys::Status::napi_ok {
        // SAFETY: not adopted by a finalizer.
        drop(unsafe { Box::from_raw(data) });
        return Err(Error::new(
            Status::InvalidArg,
            "napi_wrap failed (already wrapped?)",
        ));
    }
    Ok(())
}
