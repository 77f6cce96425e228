//! JS ⇄ Rust conversions: argument checks and the WebAssembly JS API value
//! rules (ToWebAssemblyValue / ToJSValue).

use napi::bindgen_prelude::*;
use napi::{sys, JsValue};

use wasm_sandbox_core as core;

use crate::error::{invalid_range, invalid_type, js_error, ErrorClass, ERR_IMPORT_TYPE};

/// Largest integer a JS number holds exactly (2^53 - 1).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Bytes passed from JS, or text when a string is allowed.
pub enum BytesArg {
    Binary(Vec<u8>),
    Text(String),
}

/// Bytes of a JS value borrowed in place, or text when a string is allowed.
pub enum BytesView<'a> {
    Binary(&'a [u8]),
    Text(String),
}

/// Copies the bytes of an `ArrayBuffer` or any view of one (`Uint8Array`,
/// `Buffer`, other typed arrays, `DataView`); with `allow_text`, also takes
/// a string. `None` for any other value.
pub fn bytes_arg(value: Unknown, allow_text: bool) -> Result<Option<BytesArg>> {
    // SAFETY: the bytes are copied before anything else runs.
    Ok(match unsafe { bytes_view(&value, allow_text)? } {
        Some(BytesView::Binary(bytes)) => Some(BytesArg::Binary(bytes.to_vec())),
        Some(BytesView::Text(text)) => Some(BytesArg::Text(text)),
        None => None,
    })
}

/// The bytes of an `ArrayBuffer` or any view of one, without copying them
/// (a snapshot or a `writeMemory` of megabytes is read in place), as
/// [`bytes_arg`] takes them.
///
/// # Safety
/// The slice points into the JS value's buffer: the caller must be done
/// with it before any JS runs (JS could detach or resize the buffer).
pub unsafe fn bytes_view<'a>(
    value: &'a Unknown,
    allow_text: bool,
) -> Result<Option<BytesView<'a>>> {
    match value.get_type()? {
        ValueType::String if allow_text => {
            // SAFETY: the type was checked just above.
            let text: String = unsafe { value.cast()? };
            return Ok(Some(BytesView::Text(text)));
        }
        ValueType::Object => {}
        _ => return Ok(None),
    }
    let (env, raw) = (value.value().env, value.raw());
    let mut data = std::ptr::null_mut();
    let mut len = 0usize;
    // SAFETY: each info call runs only after the matching type check; the
    // returned pointer stays valid until JS runs again (the caller's
    // promise).
    unsafe {
        if value.is_arraybuffer()? {
            sys::napi_get_arraybuffer_info(env, raw, &mut data, &mut len);
        } else if value.is_typedarray()? {
            let (mut kind, mut count, mut offset) = (0, 0usize, 0usize);
            let mut buffer = std::ptr::null_mut();
            sys::napi_get_typedarray_info(
                env,
                raw,
                &mut kind,
                &mut count,
                &mut data,
                &mut buffer,
                &mut offset,
            );
            len = count * typed_array_element_size(kind);
        } else if value.is_dataview()? {
            let mut buffer = std::ptr::null_mut();
            let mut offset = 0usize;
            sys::napi_get_dataview_info(env, raw, &mut len, &mut data, &mut buffer, &mut offset);
        } else {
            return Ok(None);
        }
        let bytes: &[u8] = if data.is_null() || len == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(data as *const u8, len)
        };
        Ok(Some(BytesView::Binary(bytes)))
    }
}

fn typed_array_element_size(kind: sys::napi_typedarray_type) -> usize {
    match kind {
        sys::TypedarrayType::int8_array
        | sys::TypedarrayType::uint8_array
        | sys::TypedarrayType::uint8_clamped_array => 1,
        sys::TypedarrayType::int16_array | sys::TypedarrayType::uint16_array => 2,
        sys::TypedarrayType::int32_array
        | sys::TypedarrayType::uint32_array
        | sys::TypedarrayType::float32_array => 4,
        _ => 8,
    }
}

/// A JS number that must be an integer in `min..=max` (`TypeError` when not
/// a number or not an integer, `RangeError` when out of range).
pub fn integer_arg(env: &Env, value: Unknown, name: &str, min: f64, max: f64) -> Result<f64> {
    let Some(number) = number_value(&value) else {
        return Err(invalid_type(
            env,
            &format!("{name} must be a number, got {}", describe(value)?),
        ));
    };
    integral(env, number, name)?;
    if !(min..=max).contains(&number) {
        return Err(invalid_range(
            env,
            &format!("{name} must be between {min} and {max}, got {number}"),
        ));
    }
    Ok(number)
}

/// `TypeError` unless `number` is an integer (NaN is not; the infinities
/// are, and are left to the range checks).
fn integral(env: &Env, number: f64, name: &str) -> Result<()> {
    if number.is_nan() || (number.is_finite() && number.fract() != 0.0) {
        return Err(invalid_type(
            env,
            &format!("{name} must be an integer, got {number}"),
        ));
    }
    Ok(())
}

/// The value of `value` when it is a number (`None` for every other type;
/// no exception is set).
fn number_value(value: &Unknown) -> Option<f64> {
    let mut number = 0.0;
    // SAFETY: a plain query on the value's env; it fails with
    // `napi_number_expected` for a value that is not a number.
    let status = unsafe { sys::napi_get_value_double(value.env(), value.raw(), &mut number) };
    (status == sys::Status::napi_ok).then_some(number)
}

/// Gas for `run`: a non-negative safe integer, or a bigint in `0..2^64`.
pub fn gas_arg(env: &Env, value: Unknown) -> Result<u64> {
    u64_arg(env, value, "gas")
}

/// A `u64` argument named `name`: a non-negative safe integer, or a bigint
/// in `0..2^64` (`TypeError` for other types and fractions, `RangeError`
/// out of range).
pub fn u64_arg(env: &Env, value: Unknown, name: &str) -> Result<u64> {
    // A number is read at once (the common case: one query instead of a
    // type query, a conversion and a read).
    let Some(number) = number_value(&value) else {
        if value.get_type()? != ValueType::BigInt {
            return Err(invalid_type(
                env,
                &format!(
                    "{name} must be a number or a bigint, got {}",
                    describe(value)?
                ),
            ));
        }
        // SAFETY: the type was checked just above.
        let big: BigInt = unsafe { value.cast()? };
        let low = big.words.first().copied().unwrap_or(0);
        let high_zero = big.words.iter().skip(1).all(|w| *w == 0);
        if (big.sign_bit && low != 0) || !high_zero {
            return Err(invalid_range(
                env,
                &format!("{name} must be between 0n and 2n ** 64n - 1n"),
            ));
        }
        return Ok(low);
    };
    integral(env, number, name)?;
    if !(0.0..=MAX_SAFE_INTEGER).contains(&number) {
        let message = format!(
            "{name} must be between 0 and 2^53-1 (Number.MAX_SAFE_INTEGER; \
             use a bigint for more), got {number}"
        );
        return Err(invalid_range(env, &message));
    }
    Ok(number as u64)
}

/// A short description of a value's type for error messages.
pub fn describe(value: Unknown) -> Result<&'static str> {
    Ok(match value.get_type()? {
        ValueType::Undefined => "undefined",
        ValueType::Null => "null",
        ValueType::Boolean => "a boolean",
        ValueType::Number => "a number",
        ValueType::String => "a string",
        ValueType::Symbol => "a symbol",
        ValueType::Function => "a function",
        ValueType::BigInt => "a bigint",
        ValueType::Object if value.is_array()? => "an array",
        _ => "an object",
    })
}

/// wasm → JS (ToJSValue): i32, f32 and f64 become numbers, i64 a bigint.
pub fn to_js(env: &Env, value: core::Value) -> Result<Unknown<'_>> {
    match value {
        core::Value::I32(x) => x.into_unknown(env),
        core::Value::I64(x) => BigInt::from(x).into_unknown(env),
        core::Value::F32(bits) => (f32::from_bits(bits) as f64).into_unknown(env),
        core::Value::F64(bits) => f64::from_bits(bits).into_unknown(env),
    }
}

/// JS → wasm (ToWebAssemblyValue): ToInt32 for i32, ToNumber for f32/f64
/// (rounded to f32), ToBigInt64 for i64. Exceptions from `valueOf` and the
/// like propagate; a non-bigint for i64 is a `TypeError` as in
/// `BigInt.asIntN(64, v)`.
pub fn from_js(env: &Env, value: Unknown, ty: core::ValueType) -> Result<core::Value> {
    // A number is read as it is (the usual return value of an import);
    // anything else goes through ToNumber first (`valueOf`, strings, ...).
    Ok(match ty {
        core::ValueType::I32 => core::Value::I32(match number_i32(env, &value) {
            Some(x) => x,
            None => value.coerce_to_number()?.get_int32()?,
        }),
        core::ValueType::F32 => core::Value::F32((number_f64(env, &value)? as f32).to_bits()),
        core::ValueType::F64 => core::Value::F64(number_f64(env, &value)?.to_bits()),
        core::ValueType::I64 => {
            let value = if value.get_type()? == ValueType::BigInt {
                value
            } else {
                // ToBigInt (booleans, numeric strings, objects with valueOf; a
                // TypeError for numbers and undefined) done by JS itself.
                // Constructors are functions: read them as plain objects.
                let big_int: Object = env.get_global()?.get_named_property_unchecked("BigInt")?;
                let as_int_n: Function<FnArgs<(u32, Unknown)>, Unknown> =
                    big_int.get_named_property("asIntN")?;
                as_int_n.apply(big_int, (64u32, value).into())?
            };
            // SAFETY: `BigInt.asIntN` returns a bigint; the other branch checked.
            let big: BigInt = unsafe { value.cast()? };
            let low = big.words.first().copied().unwrap_or(0);
            core::Value::I64(if big.sign_bit {
                low.wrapping_neg()
            } else {
                low
            } as i64)
        }
    })
}

/// ToInt32 of `value` if it is a number (Node-API's `napi_get_value_int32`
/// wraps to 32 bits and maps NaN and infinities to 0, as ToInt32 does);
/// `None` for any other type.
fn number_i32(env: &Env, value: &Unknown) -> Option<i32> {
    let mut out = 0;
    // SAFETY: a plain Node-API query; for a non-number it returns
    // `napi_number_expected` without throwing.
    let status = unsafe { sys::napi_get_value_int32(env.raw(), value.raw(), &mut out) };
    (status == sys::Status::napi_ok).then_some(out)
}

/// ToNumber of `value`: read directly if it is a number, else coerced.
fn number_f64(env: &Env, value: &Unknown) -> Result<f64> {
    let mut out = 0.0;
    // SAFETY: as in `number_i32`.
    let status = unsafe { sys::napi_get_value_double(env.raw(), value.raw(), &mut out) };
    if status == sys::Status::napi_ok {
        return Ok(out);
    }
    value.coerce_to_number()?.get_double()
}

/// Converts what an import returned into its wasm results: ignored for no
/// results, converted for one, and for several it must be iterable with
/// exactly that many values.
pub fn results_from_js(
    env: &Env,
    returned: Unknown,
    types: &[core::ValueType],
    results: &mut [core::Value],
    import_name: &str,
) -> Result<()> {
    match types {
        [] => Ok(()),
        [ty] => {
            results[0] = from_js(env, returned, *ty)?;
            Ok(())
        }
        _ => {
            let not_iterable = || {
                let message = format!(
                    "import {import_name} has {n} results and must return \
                     an iterable (e.g. an array) of {n} values",
                    n = types.len()
                );
                js_error(env, ErrorClass::Type, ERR_IMPORT_TYPE, &message, &[])
            };
            if matches!(returned.get_type()?, ValueType::Undefined | ValueType::Null) {
                return Err(not_iterable());
            }
            let global = env.get_global()?;
            let symbol: Object = global.get_named_property_unchecked("Symbol")?;
            let iterator: Unknown = symbol.get_named_property("iterator")?;
            let method: Unknown = returned.coerce_to_object()?.get_property(iterator)?;
            if method.get_type()? != ValueType::Function {
                return Err(not_iterable());
            }
            let array_ctor: Object = global.get_named_property_unchecked("Array")?;
            let from: Function<Unknown, Object> = array_ctor.get_named_property("from")?;
            let list = from.apply(array_ctor, returned)?;
            let count = list.get_array_length()?;
            if count as usize != types.len() {
                return Err(js_error(
                    env,
                    ErrorClass::Type,
                    ERR_IMPORT_TYPE,
                    &format!(
                        "import {import_name} returned {count} values, expected {}",
                        types.len()
                    ),
                    &[],
                ));
            }
            for (i, ty) in types.iter().enumerate() {
                let item: Unknown = list.get_element(i as u32)?;
                results[i] = from_js(env, item, *ty)?;
            }
            Ok(())
        }
    }
}

/// Bytes handed to JS as a `Buffer`, the way Node allocates them: up to
/// [`POOLED_BYTES`] are copied into Node's shared Buffer pool with
/// `Buffer.allocUnsafe`, as `Buffer.from` does; larger ones up to
/// [`COPIED_BYTES`] into a Buffer of their own; larger still are handed
/// over without a copy (an external Buffer that frees them when collected).
///
/// A Buffer of its own costs a V8 backing store (allocated, registered and
/// later swept by a background thread): about 1 µs for a 600-byte snapshot
/// in a loop that moves a paused guest at every pause, against about 0.2 µs
/// for a slice of the pool.
pub struct JsBytes(pub Vec<u8>);

/// Largest Buffer taken from Node's pool (Node pools allocations below
/// half its 8 KiB `Buffer.poolSize`).
pub const POOLED_BYTES: usize = 4096;
/// Largest Buffer copied; larger ones are external.
pub const COPIED_BYTES: usize = 64 * 1024;

thread_local! {
    /// `Buffer.prototype` and `Buffer.allocUnsafe` as this thread's env
    /// found them when the module loaded (each env — the main thread's, a
    /// worker's — runs on a thread of its own): the env and references to
    /// both.
    static ALLOC_UNSAFE: std::cell::Cell<Option<(sys::napi_env, sys::napi_ref, sys::napi_ref)>> =
        const { std::cell::Cell::new(None) };
}

/// Keeps `Buffer.allocUnsafe` for [`JsBytes`]. Without it (no global
/// `Buffer`, or not a function) every Buffer is allocated on its own.
pub fn keep_alloc_unsafe(env: &Env) -> Result<()> {
    // Forget an earlier env's references first: a later env can get the
    // same address on this thread (an embedder that reloads), and its
    // references would be stale.
    ALLOC_UNSAFE.with(|cell| cell.set(None));
    let global = env.get_global()?;
    let buffer: Unknown = global.get_named_property("Buffer")?;
    if buffer.get_type()? != ValueType::Function {
        return Ok(());
    }
    let buffer = buffer.coerce_to_object()?;
    let alloc: Unknown = buffer.get_named_property("allocUnsafe")?;
    let prototype: Unknown = buffer.get_named_property("prototype")?;
    if alloc.get_type()? != ValueType::Function || prototype.get_type()? != ValueType::Object {
        return Ok(());
    }
    let (mut prototype_ref, mut function) = (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: strong references to live values of this env; they are never
    // deleted (they live as long as the env, like the class itself).
    let status = unsafe {
        (
            sys::napi_create_reference(env.raw(), prototype.raw(), 1, &mut prototype_ref),
            sys::napi_create_reference(env.raw(), alloc.raw(), 1, &mut function),
        )
    };
    if status == (sys::Status::napi_ok, sys::Status::napi_ok) {
        ALLOC_UNSAFE.with(|cell| cell.set(Some((env.raw(), prototype_ref, function))));
    }
    Ok(())
}

/// A Buffer of `bytes.len()` bytes from Node's pool, filled with `bytes`;
/// `None` when the pool is not available or `Buffer.allocUnsafe` did not
/// return a `Buffer` of that size (then nothing was thrown: it may have been
/// replaced by JS that ran before the module loaded). A `Buffer` here is a
/// `Uint8Array` whose prototype is `Buffer.prototype`, as Node's are; that
/// is what `instanceof Buffer` tests too, without a call of
/// `Buffer[Symbol.hasInstance]` (about 0.2 µs).
///
/// # Safety
/// `env` is the env of the callback in progress.
unsafe fn pooled_buffer(env: sys::napi_env, bytes: &[u8]) -> Option<sys::napi_value> {
    let (owner, prototype, function) = ALLOC_UNSAFE.with(|cell| cell.get())?;
    if owner != env {
        return None;
    }
    // SAFETY: plain Node-API calls on the current env; the buffer's data
    // is written before any other JS runs.
    let buffer = unsafe { call_alloc_unsafe(env, prototype, function, bytes) };
    if buffer.is_none() {
        // A replaced `Buffer.allocUnsafe` may have thrown: the caller
        // allocates another way instead.
        let mut pending = false;
        // SAFETY: as above.
        unsafe {
            sys::napi_is_exception_pending(env, &mut pending);
            if pending {
                let mut ignored = std::ptr::null_mut();
                sys::napi_get_and_clear_last_exception(env, &mut ignored);
            }
        }
    }
    buffer
}

/// The steps of [`pooled_buffer`] that may fail.
///
/// # Safety
/// As [`pooled_buffer`]; `prototype` and `function` are references of `env`.
unsafe fn call_alloc_unsafe(
    env: sys::napi_env,
    prototype: sys::napi_ref,
    function: sys::napi_ref,
    bytes: &[u8],
) -> Option<sys::napi_value> {
    let ok = |status| status == sys::Status::napi_ok;
    // SAFETY: the caller's promise.
    unsafe {
        let mut alloc = std::ptr::null_mut();
        let mut buffer_prototype = std::ptr::null_mut();
        let mut undefined = std::ptr::null_mut();
        let mut size = std::ptr::null_mut();
        let mut buffer = std::ptr::null_mut();
        let mut is_typed_array = false;
        let mut its_prototype = std::ptr::null_mut();
        let mut is_buffer = false;
        let called = ok(sys::napi_get_reference_value(env, function, &mut alloc))
            && ok(sys::napi_get_reference_value(env, prototype, &mut buffer_prototype))
            && ok(sys::napi_get_undefined(env, &mut undefined))
            && ok(sys::napi_create_uint32(env, bytes.len() as u32, &mut size))
            && ok(sys::napi_call_function(env, undefined, alloc, 1, &size, &mut buffer))
            // Tested first: `napi_get_prototype` converts a primitive to an
            // object (and throws for undefined and null).
            && ok(sys::napi_is_typedarray(env, buffer, &mut is_typed_array))
            && is_typed_array
            && ok(sys::napi_get_prototype(env, buffer, &mut its_prototype))
            && ok(sys::napi_strict_equals(env, its_prototype, buffer_prototype, &mut is_buffer));
        if !called || !is_buffer {
            return None;
        }
        let mut kind = sys::TypedarrayType::int8_array;
        let mut len = 0usize;
        let mut data = std::ptr::null_mut();
        if !ok(sys::napi_get_typedarray_info(
            env,
            buffer,
            &mut kind,
            &mut len,
            &mut data,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )) || kind != sys::TypedarrayType::uint8_array
            || len != bytes.len()
            || (data.is_null() && len != 0)
        {
            return None;
        }
        if len != 0 {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), data.cast::<u8>(), len);
        }
        Some(buffer)
    }
}

impl TypeName for JsBytes {
    fn type_name() -> &'static str {
        "Buffer"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for JsBytes {
    unsafe fn to_napi_value(env: sys::napi_env, value: Self) -> Result<sys::napi_value> {
        let bytes = value.0;
        if bytes.len() <= POOLED_BYTES {
            // SAFETY: the caller's env (this function's contract).
            if let Some(buffer) = unsafe { pooled_buffer(env, &bytes) } {
                return Ok(buffer);
            }
        }
        if bytes.len() <= COPIED_BYTES {
            let env = Env::from_raw(env);
            let slice = BufferSlice::copy_from(&env, &bytes)?;
            // SAFETY: as above.
            return unsafe { BufferSlice::to_napi_value(env.raw(), slice) };
        }
        // SAFETY: as above.
        unsafe { Buffer::to_napi_value(env, Buffer::from(bytes)) }
    }
}
