//! `options.wasi`: parsing it into the core's `WasiConfig` plus the JS
//! callbacks (stdin function, stdout/stderr callbacks). The WASI functions
//! themselves are the core's (`wasm_sandbox_core::wasi`); the binding only
//! carries bytes between them and these callbacks (see `host.rs`).

use napi::bindgen_prelude::*;

use core::wasi::{ClockMode, Output, Stdin};
use wasm_sandbox_core as core;

use crate::convert::{bytes_arg, describe, u64_arg, BytesArg};
use crate::error::{invalid_range, invalid_type};

/// The JS functions of `options.wasi`.
#[derive(Default)]
pub struct WasiCallbacks<'env> {
    pub stdin: Option<Unknown<'env>>,
    pub stdout: Option<Unknown<'env>>,
    pub stderr: Option<Unknown<'env>>,
}

const KEYS: [&str; 7] = ["args", "env", "stdin", "stdout", "stderr", "clock", "seed"];

/// Reads `options.wasi`: `undefined`/`false` = off, `true` = on with the
/// defaults, an object = on with these settings. Errors are `TypeError` or
/// `RangeError` with `code: 'ERR_INVALID_ARG'` naming the option.
pub fn parse_wasi<'env>(
    env: &Env,
    value: Unknown<'env>,
) -> Result<Option<(core::WasiConfig, WasiCallbacks<'env>)>> {
    let mut config = core::WasiConfig::default();
    let mut callbacks = WasiCallbacks::default();
    match value.get_type()? {
        ValueType::Undefined => return Ok(None),
        ValueType::Boolean => return Ok(value.coerce_to_bool()?.then_some((config, callbacks))),
        ValueType::Object if !value.is_array()? => {}
        _ => {
            return Err(invalid_type(
                env,
                &format!(
                    "options.wasi must be a boolean or an object, got {}",
                    describe(value)?
                ),
            ))
        }
    }
    let object = value.coerce_to_object()?;
    crate::check_keys(env, &object, &KEYS, "options.wasi field")?;

    let args: Unknown = object.get_named_property("args")?;
    if args.get_type()? != ValueType::Undefined {
        config.args = string_list(env, args, "options.wasi.args")?;
    }

    let vars: Unknown = object.get_named_property("env")?;
    match vars.get_type()? {
        ValueType::Undefined => {}
        ValueType::Object if !vars.is_array()? => {
            let vars = vars.coerce_to_object()?;
            let keys = vars.get_property_names()?;
            for i in 0..keys.get_array_length()? {
                let key: String = keys
                    .get_element::<Unknown>(i)?
                    .coerce_to_string()?
                    .into_utf8()?
                    .into_owned()?;
                let value: Unknown = vars.get_named_property(&key)?;
                let label = format!("options.wasi.env.{key}");
                if value.get_type()? != ValueType::String {
                    return Err(invalid_type(
                        env,
                        &format!("{label} must be a string, got {}", describe(value)?),
                    ));
                }
                if key.is_empty() || key.contains('=') || key.contains('\0') {
                    return Err(invalid_type(
                        env,
                        &format!(
                            "options.wasi.env: {key:?} is not a valid variable name \
                             (empty, or contains '=' or NUL)"
                        ),
                    ));
                }
                // SAFETY: the type was checked just above.
                let value: String = unsafe { value.cast()? };
                if value.contains('\0') {
                    return Err(invalid_type(
                        env,
                        &format!("{label} contains a NUL character"),
                    ));
                }
                config.env.push(format!("{key}={value}"));
            }
        }
        _ => {
            return Err(invalid_type(
                env,
                &format!(
                    "options.wasi.env must be an object of strings, got {}",
                    describe(vars)?
                ),
            ))
        }
    }

    let stdin: Unknown = object.get_named_property("stdin")?;
    match stdin.get_type()? {
        ValueType::Undefined | ValueType::Null => {}
        ValueType::Function => {
            config.stdin = Stdin::Host;
            callbacks.stdin = Some(stdin);
        }
        _ => match bytes_arg(stdin, true)? {
            Some(BytesArg::Binary(bytes)) => config.stdin = Stdin::Bytes(bytes),
            Some(BytesArg::Text(text)) => config.stdin = Stdin::Bytes(text.into_bytes()),
            None => {
                return Err(invalid_type(
                    env,
                    &format!(
                        "options.wasi.stdin must be a Buffer, Uint8Array, ArrayBuffer, string \
                         or a function returning chunks, got {}",
                        describe(stdin)?
                    ),
                ))
            }
        },
    }

    for (name, sink, slot) in [
        ("stdout", &mut config.stdout, &mut callbacks.stdout),
        ("stderr", &mut config.stderr, &mut callbacks.stderr),
    ] {
        let value: Unknown = object.get_named_property(name)?;
        match value.get_type()? {
            ValueType::Undefined | ValueType::Null => {}
            ValueType::Function => {
                *sink = Output::Host;
                *slot = Some(value);
            }
            _ => {
                return Err(invalid_type(
                    env,
                    &format!(
                        "options.wasi.{name} must be a function, got {}",
                        describe(value)?
                    ),
                ))
            }
        }
    }

    let clock: Unknown = object.get_named_property("clock")?;
    match clock.get_type()? {
        ValueType::Undefined => {}
        ValueType::String => {
            // SAFETY: the type was checked in the match.
            let name: String = unsafe { clock.cast()? };
            config.clock = match name.as_str() {
                "virtual" => ClockMode::Virtual,
                "real" => ClockMode::Real,
                _ => {
                    return Err(invalid_range(
                        env,
                        &format!("options.wasi.clock must be 'virtual' or 'real', got {name:?}"),
                    ))
                }
            };
        }
        _ => {
            return Err(invalid_type(
                env,
                &format!(
                    "options.wasi.clock must be 'virtual' or 'real', got {}",
                    describe(clock)?
                ),
            ))
        }
    }

    let seed: Unknown = object.get_named_property("seed")?;
    if seed.get_type()? != ValueType::Undefined {
        config.seed = u64_arg(env, seed, "options.wasi.seed")?;
    }

    config.validate().map_err(|e| {
        // Only the sizes are left to check here (types and NULs are above).
        invalid_range(env, &format!("options.wasi.{e}"))
    })?;
    Ok(Some((config, callbacks)))
}

/// An array of strings without NUL characters.
fn string_list(env: &Env, value: Unknown, name: &str) -> Result<Vec<String>> {
    if !value.is_array()? {
        return Err(invalid_type(
            env,
            &format!(
                "{name} must be an array of strings, got {}",
                describe(value)?
            ),
        ));
    }
    let array = value.coerce_to_object()?;
    let mut list = Vec::new();
    for i in 0..array.get_array_length()? {
        let item: Unknown = array.get_element(i)?;
        if item.get_type()? != ValueType::String {
            return Err(invalid_type(
                env,
                &format!("{name}[{i}] must be a string, got {}", describe(item)?),
            ));
        }
        // SAFETY: the type was checked just above.
        let item: String = unsafe { item.cast()? };
        if item.contains('\0') {
            return Err(invalid_type(
                env,
                &format!("{name}[{i}] contains a NUL character"),
            ));
        }
        list.push(item);
    }
    Ok(list)
}
