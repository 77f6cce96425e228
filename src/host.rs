//! The guest's imports as JS functions: looked up once at construction and
//! called synchronously on the JS thread while `run` is on the stack; and
//! the WASI callbacks (stdin function, stdout/stderr), called the same way.

use std::cell::Cell;

use napi::bindgen_prelude::*;
use napi::{sys, JsValue};

use wasm_sandbox_core as core;

use crate::convert::{bytes_arg, describe, results_from_js, to_js, BytesArg};
use crate::error::{
    invalid_type, js_error, thrown_value, ErrorClass, ERR_IMPORT_MISSING, ERR_IMPORT_TYPE,
};

/// `Ok` for a successful Node-API call, else an error with `what`.
fn napi_result(status: sys::napi_status, what: &str) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::new(Status::from(status), what.to_string()))
    }
}

/// A JS function supplying one import, with the import's signature.
pub struct JsImport {
    function: WeakValue,
    signature: core::FuncImport,
    /// `module.name`, for messages.
    name: String,
}

/// A weak reference to a JS object or function that the Executor's JS
/// object keeps alive (see [`Retained`]).
pub struct WeakValue {
    env: sys::napi_env,
    reference: sys::napi_ref,
}

impl WeakValue {
    pub fn new(env: &Env, value: sys::napi_value) -> Result<Self> {
        let mut reference = std::ptr::null_mut();
        // SAFETY: a Node-API call on the current env with a live value.
        let status = unsafe { sys::napi_create_reference(env.raw(), value, 0, &mut reference) };
        napi_result(status, "cannot reference a JS value")?;
        Ok(WeakValue {
            env: env.raw(),
            reference,
        })
    }

    /// The value; alive while the Executor's JS object is, which it is
    /// whenever one of its methods runs.
    fn get(&self, env: &Env) -> Result<sys::napi_value> {
        let mut value = std::ptr::null_mut();
        // SAFETY: a Node-API call on the env that created the reference.
        unsafe { sys::napi_get_reference_value(env.raw(), self.reference, &mut value) };
        if value.is_null() {
            return Err(Error::from_reason(
                "a value owned by the Executor was garbage-collected",
            ));
        }
        Ok(value)
    }
}

impl Drop for WeakValue {
    fn drop(&mut self) {
        // SAFETY: executors are dropped by their JS object's finalizer, on the
        // JS thread of the env that created the reference.
        unsafe { sys::napi_delete_reference(self.env, self.reference) };
    }
}

/// The JS values an Executor holds on to: its import functions and the
/// value its failing import threw. They live in an array stored on the
/// Executor's JS object under a fresh symbol (non-enumerable, read-only),
/// and Rust keeps only weak references, so the garbage collector sees
/// object → array → function → closure → object. An Executor whose imports
/// refer to it (to read its memory, say) is collected once unreachable; a
/// strong reference (a GC root) would keep it alive forever. An Executor
/// without JS functions calls no JS, so nothing can throw: it gets no
/// array (defining the property was most of a `new Executor`'s JS work).
pub struct Retained {
    array: Option<WeakValue>,
    thrown_slot: u32,
}

/// Per JS environment (main thread, each worker): the symbol that keys the
/// retained arrays, in an array held by a strong reference.
struct EnvData {
    key_holder: sys::napi_ref,
}

/// The key of the retained array: one symbol per JS environment, shared by
/// every Executor. (A fresh symbol per Executor gave every object a hidden
/// class of its own: V8 grew the base class's transition list with each
/// one, and `new Executor` spent most of its time there.)
fn retained_key(env: &Env) -> Result<Unknown<'_>> {
    if let Some(data) = env.get_instance_data::<EnvData>()? {
        let mut holder = std::ptr::null_mut();
        let mut key = std::ptr::null_mut();
        // SAFETY: Node-API calls on the env that created the reference; the
        // reference is strong, so the holder array is alive.
        unsafe {
            napi_result(
                sys::napi_get_reference_value(env.raw(), data.key_holder, &mut holder),
                "cannot read the retained-array key",
            )?;
            napi_result(
                sys::napi_get_element(env.raw(), holder, 0, &mut key),
                "cannot read the retained-array key",
            )?;
            return Ok(Unknown::from_raw_unchecked(env.raw(), key));
        }
    }
    let key = env.create_symbol(Some("wasm-sandbox"))?;
    let mut holder = env.create_array(1)?;
    holder.set(0, key)?;
    let mut reference = std::ptr::null_mut();
    // SAFETY: a Node-API call on the current env with a live value.
    napi_result(
        unsafe { sys::napi_create_reference(env.raw(), holder.raw(), 1, &mut reference) },
        "cannot keep the retained-array key",
    )?;
    // The reference lives as long as the env (Node deletes it at teardown).
    env.set_instance_data(
        EnvData {
            key_holder: reference,
        },
        (),
        |_| {},
    )?;
    // SAFETY: `key` is a live value of the current env.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), key.raw()) })
}

impl Retained {
    /// Keeps `functions` alive as long as `owner`.
    pub fn new(env: &Env, owner: &mut Object, functions: &[Unknown]) -> Result<Self> {
        let thrown_slot = functions.len() as u32;
        if functions.is_empty() {
            return Ok(Retained {
                array: None,
                thrown_slot,
            });
        }
        let mut array = env.create_array(thrown_slot + 1)?;
        for (i, function) in functions.iter().enumerate() {
            array.set(i as u32, *function)?;
        }
        let key = retained_key(env)?;
        let raw = array.raw();
        owner.define_properties(&[Property::new()
            .with_name(env, key)?
            .with_napi_value(env, array)?
            .with_property_attributes(PropertyAttributes::Default)])?;
        Ok(Retained {
            array: Some(WeakValue::new(env, raw)?),
            thrown_slot,
        })
    }

    /// The retained array (an Executor without functions has none).
    fn array(&self, env: &Env) -> Result<sys::napi_value> {
        match &self.array {
            Some(array) => array.get(env),
            None => Err(Error::from_reason(
                "this Executor holds no JS values (it has no JS functions)",
            )),
        }
    }

    fn set_thrown(&self, env: &Env, value: sys::napi_value) -> Result<()> {
        let array = self.array(env)?;
        // SAFETY: a Node-API call on the current env with live values.
        let status = unsafe { sys::napi_set_element(env.raw(), array, self.thrown_slot, value) };
        napi_result(status, "cannot keep the thrown value")
    }

    /// Forgets the stored thrown value.
    pub fn clear_thrown(&self, env: &Env) -> Result<()> {
        if self.array.is_none() {
            return Ok(());
        }
        let mut undefined = std::ptr::null_mut();
        // SAFETY: a Node-API call on the current env.
        unsafe { sys::napi_get_undefined(env.raw(), &mut undefined) };
        self.set_thrown(env, undefined)
    }

    /// Throws the stored value again, exactly as the import threw it.
    pub fn rethrow(&self, env: &Env) -> Error {
        let value = match self.array(env) {
            Ok(array) => {
                let mut value = std::ptr::null_mut();
                // SAFETY: a Node-API call on the current env with a live array.
                unsafe { sys::napi_get_element(env.raw(), array, self.thrown_slot, &mut value) };
                value
            }
            Err(e) => return e,
        };
        // SAFETY: throws a value of the current env.
        unsafe { sys::napi_throw(env.raw(), value) };
        Error::new(Status::PendingException, "an import threw")
    }
}

/// The signature of an import as the error messages show it, e.g.
/// `(i32, i64) -> f64`.
fn signature(import: &core::FuncImport) -> String {
    let list = |types: &[core::ValueType]| {
        types
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let results = match import.results.len() {
        0 => "()".to_string(),
        1 => list(&import.results),
        _ => format!("[{}]", list(&import.results)),
    };
    format!("({}) -> {results}", list(&import.params))
}

/// Finds a function for every import of the module: `env[name]` for module
/// `"env"`, `env[module][name]` for any other module; `None` for the WASI
/// imports when `wasi` is on (the core serves them). A missing one is a
/// `TypeError` `ERR_IMPORT_MISSING`, a non-function `ERR_IMPORT_TYPE`; both
/// name the import and its signature. Returns the functions too, for the
/// caller to keep alive with the Executor's JS object (see [`Retained`]).
pub fn resolve_imports<'env>(
    env: &Env,
    imports: Option<Object<'env>>,
    wanted: &[core::FuncImport],
    wasi: bool,
) -> Result<(Vec<Option<JsImport>>, Vec<Unknown<'env>>)> {
    let mut resolved = Vec::with_capacity(wanted.len());
    let mut functions = Vec::with_capacity(wanted.len());
    for import in wanted {
        if wasi && import.module == core::wasi::MODULE {
            resolved.push(None);
            continue;
        }
        let name = format!("{}.{}", import.module, import.name);
        let expected = format!("a function {}", signature(import));
        let hint = if import.module == core::wasi::MODULE {
            "; set options.wasi to have the WASI imports served"
        } else {
            ""
        };
        let missing = |why: String| {
            js_error(
                env,
                ErrorClass::Type,
                ERR_IMPORT_MISSING,
                &format!("missing import {name}: expected {expected}{why}{hint}"),
                &[],
            )
        };
        let Some(root) = imports else {
            return Err(missing(" (no imports object was passed)".into()));
        };
        let holder = if import.module == "env" {
            root
        } else {
            let module: Unknown = root.get_named_property(&import.module)?;
            match module.get_type()? {
                ValueType::Object | ValueType::Function => module.coerce_to_object()?,
                ValueType::Undefined => {
                    return Err(missing(format!(
                        " (env has no object \"{}\" for that import module)",
                        import.module
                    )))
                }
                _ => {
                    let message = format!(
                        "import module \"{}\" must be an object of functions, got {} \
                         (needed for {name}: {expected})",
                        import.module,
                        describe(module)?
                    );
                    return Err(js_error(
                        env,
                        ErrorClass::Type,
                        ERR_IMPORT_TYPE,
                        &message,
                        &[],
                    ));
                }
            }
        };
        let value: Unknown = holder.get_named_property(&import.name)?;
        match value.get_type()? {
            ValueType::Function => {}
            ValueType::Undefined => return Err(missing(String::new())),
            _ => {
                return Err(js_error(
                    env,
                    ErrorClass::Type,
                    ERR_IMPORT_TYPE,
                    &format!("import {name} must be {expected}, got {}", describe(value)?),
                    &[],
                ))
            }
        }
        resolved.push(Some(JsImport {
            function: WeakValue::new(env, value.raw())?,
            signature: import.clone(),
            name,
        }));
        functions.push(value);
    }
    Ok((resolved, functions))
}

/// The WASI callbacks of `options.wasi` (kept alive by [`Retained`]).
#[derive(Default)]
pub struct JsWasi {
    pub stdin: Option<WeakValue>,
    pub stdout: Option<WeakValue>,
    pub stderr: Option<WeakValue>,
}

/// Calls `function` with `argv` and `this` undefined.
/// Import arguments up to this many are passed from the stack.
const INLINE_ARGS: usize = 8;

fn call_function<'env>(
    env: &'env Env,
    function: sys::napi_value,
    argv: &[sys::napi_value],
) -> Result<Unknown<'env>> {
    let mut this = std::ptr::null_mut();
    let mut returned = std::ptr::null_mut();
    // SAFETY: Node-API calls on the current env with values created in the
    // caller's scope. napi-rs's `Function::call` takes a fixed argument
    // tuple, and an import has any number of arguments.
    let status = unsafe {
        sys::napi_get_undefined(env.raw(), &mut this);
        sys::napi_call_function(
            env.raw(),
            this,
            function,
            argv.len(),
            argv.as_ptr(),
            &mut returned,
        )
    };
    napi_result(status, "the call failed")?;
    // SAFETY: `returned` was just produced by a successful call.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), returned) })
}

/// The guest memory while an import runs, so `readMemory`/`writeMemory`
/// work from inside the callback (when `run` holds the executor).
#[derive(Default)]
pub struct CallbackMemory {
    /// The memory lent to the callback in progress.
    pub region: Cell<Option<(*mut u8, usize)>>,
    /// `writeMemory` wrote into it (the core is told after the callback,
    /// so that snapshots include the write; see `GuestMemory::wrote`).
    pub written: Cell<bool>,
}

/// What the core calls for guest imports during one `run`.
pub struct JsHost<'a> {
    pub env: &'a Env,
    pub imports: &'a [Option<JsImport>],
    pub wasi: &'a JsWasi,
    pub memory: &'a CallbackMemory,
    /// Where what a failing import threw is kept, for `run` to rethrow.
    pub retained: &'a Retained,
    /// An import threw (or its return value did not convert) and the value
    /// is in `retained`.
    pub threw: bool,
}

impl JsHost<'_> {
    fn call_js(
        &self,
        import: &JsImport,
        args: &[core::Value],
        results: &mut [core::Value],
    ) -> Result<()> {
        let env = self.env;
        let function = import.function.get(env)?;
        // Up to 8 arguments on the stack (a vector cost a malloc and a
        // free per import call).
        let mut inline = [std::ptr::null_mut(); INLINE_ARGS];
        let heap;
        let argv: &[sys::napi_value] = if args.len() <= INLINE_ARGS {
            for (slot, a) in inline.iter_mut().zip(args) {
                *slot = to_js(env, *a)?.raw();
            }
            &inline[..args.len()]
        } else {
            heap = args
                .iter()
                .map(|a| to_js(env, *a).map(|v| v.raw()))
                .collect::<Result<Vec<_>>>()?;
            &heap
        };
        let returned = call_function(env, function, argv)?;
        results_from_js(
            env,
            returned,
            &import.signature.results,
            results,
            &import.name,
        )
    }
}

impl core::Host for JsHost<'_> {
    fn call(
        &mut self,
        index: usize,
        args: &[core::Value],
        results: &mut [core::Value],
        memory: &mut core::GuestMemory<'_>,
    ) -> std::result::Result<(), core::HostError> {
        let Some(Some(import)) = self.imports.get(index) else {
            return Err(core::HostError(format!("no function for import #{index}")));
        };
        // The label is formatted only for an error message: every import
        // call goes through here.
        let what = format_args!("import {}", import.name);
        // Lent without counting the call as a write: most imports only
        // read the memory, and a run that writes nothing keeps snapshots
        // cheap. `writeMemory` says when it writes.
        let outcome = self.guarded_call(memory.bytes_untracked(), &what, |host| {
            host.call_js(import, args, results)
        });
        if self.memory.written.take() {
            memory.wrote();
        }
        outcome
    }

    fn wasi_output(
        &mut self,
        fd: u32,
        data: &[u8],
        memory: &mut [u8],
    ) -> std::result::Result<(), core::HostError> {
        let wasi = self.wasi;
        let (callback, name) = match fd {
            1 => (&wasi.stdout, "options.wasi.stdout"),
            _ => (&wasi.stderr, "options.wasi.stderr"),
        };
        let Some(callback) = callback else {
            return Err(core::HostError(format!("no callback for WASI fd {fd}")));
        };
        self.guarded_call(memory, &name, |host| {
            let env = host.env;
            let chunk = BufferSlice::copy_from(env, data)?;
            call_function(env, callback.get(env)?, &[chunk.raw()]).map(|_| ())
        })
    }

    fn wasi_stdin(
        &mut self,
        memory: &mut [u8],
    ) -> std::result::Result<Option<Vec<u8>>, core::HostError> {
        let wasi = self.wasi;
        let Some(callback) = &wasi.stdin else {
            return Ok(None);
        };
        let mut chunk = None;
        self.guarded_call(memory, &"options.wasi.stdin", |host| {
            let env = host.env;
            let returned = call_function(env, callback.get(env)?, &[])?;
            chunk = stdin_chunk(env, returned)?;
            Ok(())
        })?;
        Ok(chunk)
    }
}

/// What a stdin function returned: bytes, or `None` for end of file.
fn stdin_chunk(env: &Env, value: Unknown) -> Result<Option<Vec<u8>>> {
    if matches!(value.get_type()?, ValueType::Undefined | ValueType::Null) {
        return Ok(None);
    }
    match bytes_arg(value, true)? {
        Some(BytesArg::Binary(bytes)) => Ok(Some(bytes)),
        Some(BytesArg::Text(text)) => Ok(Some(text.into_bytes())),
        None => Err(invalid_type(
            env,
            &format!(
                "options.wasi.stdin returned {}; expected a Buffer, Uint8Array, \
                 ArrayBuffer, string, null or undefined",
                describe(value)?
            ),
        )),
    }
}

impl JsHost<'_> {
    /// Runs `f` (which calls into JS) in its own handle scope, with
    /// `memory` readable from JS; a failure keeps what JS threw for `run`
    /// to rethrow. `what` names the callback in error messages.
    fn guarded_call(
        &mut self,
        memory: &mut [u8],
        what: &dyn std::fmt::Display,
        f: impl FnOnce(&mut Self) -> Result<()>,
    ) -> std::result::Result<(), core::HostError> {
        let previous = self
            .memory
            .region
            .replace(Some((memory.as_mut_ptr(), memory.len())));
        // A handle scope per call: a long run makes millions of calls inside
        // one `run`, and the values of each must not pile up until it ends.
        let env = self.env;
        let failure = env
            .run_in_scope(|| {
                Ok(f(self).err().map(|error| {
                    let message = format!("{what} threw: {}", error.reason);
                    let value = thrown_value(env, error);
                    self.threw = self.retained.set_thrown(env, value).is_ok();
                    message
                }))
            })
            .unwrap_or_else(|e| Some(format!("{what} failed: {}", e.reason)));
        self.memory.region.set(previous);
        match failure {
            None => Ok(()),
            Some(message) => Err(core::HostError(message)),
        }
    }
}
