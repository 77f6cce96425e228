//! Errors thrown to JS: a `TypeError`, `RangeError` or `Error` with a stable
//! `code`, built in one place ([`js_error`]); core errors are mapped by
//! [`core_error`].

use napi::bindgen_prelude::*;
use napi::{JsRangeError, JsTypeError};

use wasm_sandbox_core as core;

/// The JS class of a thrown error.
#[derive(Clone, Copy, Debug)]
pub enum ErrorClass {
    Type,
    Range,
    Plain,
}

/// Codes of the errors the binding itself raises (the core's come from
/// `core::Error::code`).
pub const ERR_INVALID_ARG: &str = "ERR_INVALID_ARG";
pub const ERR_IMPORT_MISSING: &str = "ERR_IMPORT_MISSING";
pub const ERR_IMPORT_TYPE: &str = "ERR_IMPORT_TYPE";
pub const ERR_EXECUTOR_BUSY: &str = "ERR_EXECUTOR_BUSY";
pub const ERR_EXECUTOR_FREED: &str = "ERR_EXECUTOR_FREED";
pub const ERR_INTERNAL: &str = "ERR_INTERNAL";
pub const ERR_CONSTRUCT_CALL_REQUIRED: &str = "ERR_CONSTRUCT_CALL_REQUIRED";
pub const ERR_INVALID_THIS: &str = "ERR_INVALID_THIS";

/// Builds a JS error of `class` whose `code` property is `code`, plus extra
/// string properties, and returns it as a napi error that throws that very
/// object when it reaches JS.
pub fn js_error(
    env: &Env,
    class: ErrorClass,
    code: &str,
    message: &str,
    props: &[(&str, &str)],
) -> Error {
    let base = Error::new(code, message);
    let value = match class {
        ErrorClass::Type => JsTypeError::from(base).into_unknown(*env),
        ErrorClass::Range => JsRangeError::from(base).into_unknown(*env),
        ErrorClass::Plain => napi::JsError::from(base).into_unknown(*env),
    };
    if let Ok(mut object) = value.coerce_to_object() {
        for (key, text) in props {
            // Best effort: the error is still useful without the extra property.
            let _ = object.set_named_property(key, *text);
        }
    }
    Error::from_unknown_without_coercion(value)
}

/// `TypeError` with `code: 'ERR_INVALID_ARG'`.
pub fn invalid_type(env: &Env, message: &str) -> Error {
    js_error(env, ErrorClass::Type, ERR_INVALID_ARG, message, &[])
}

/// `RangeError` with `code: 'ERR_INVALID_ARG'`.
pub fn invalid_range(env: &Env, message: &str) -> Error {
    js_error(env, ErrorClass::Range, ERR_INVALID_ARG, message, &[])
}

/// Maps a core error to its JS class and code; a trap also gets `kind`
/// (e.g. `'unreachable'`) and `wasmBacktrace`.
pub fn core_error(env: &Env, error: &core::Error) -> Error {
    let class = match error.class() {
        core::ErrorClass::Type => ErrorClass::Type,
        core::ErrorClass::Range => ErrorClass::Range,
        core::ErrorClass::Generic => ErrorClass::Plain,
    };
    match error {
        core::Error::Trap { kind, backtrace } => js_error(
            env,
            class,
            error.code(),
            &error.to_string(),
            &[("kind", kind.as_str()), ("wasmBacktrace", backtrace)],
        ),
        // What to do about it is said in JS terms: dropping an executor
        // releases nothing until V8 collects it.
        core::Error::AddressSpace(detail) => js_error(
            env,
            class,
            error.code(),
            &format!(
                "{}, so call free() on executors you no longer need (a dropped one keeps its \
                 reservation until V8 collects it, after the event loop turns) ({detail})",
                core::OUT_OF_ADDRESS_SPACE
            ),
            &[],
        ),
        _ => js_error(env, class, error.code(), &error.to_string(), &[]),
    }
}

/// The error for a Rust panic caught at the binding boundary.
pub fn panic_error(env: &Env, payload: &(dyn std::any::Any + Send)) -> Error {
    let detail = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    js_error(
        env,
        ErrorClass::Plain,
        ERR_INTERNAL,
        &format!("internal error in wasm-sandbox (this is a bug): {detail}"),
        &[],
    )
}

/// What a failing import threw, as a JS value: the pending exception if
/// there is one (any value, unchanged), else `error` as a JS error.
pub fn thrown_value(env: &Env, error: Error) -> napi::sys::napi_value {
    let mut value = std::ptr::null_mut();
    let mut pending = false;
    // SAFETY: plain Node-API calls on the current env.
    unsafe {
        napi::sys::napi_is_exception_pending(env.raw(), &mut pending);
        if pending {
            napi::sys::napi_get_and_clear_last_exception(env.raw(), &mut value);
            return value;
        }
        napi::JsError::from(error).into_value(env.raw())
    }
}
