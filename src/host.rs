//! The guest's imports as JS functions: looked up once at construction and
//! called synchronously on the JS thread while `run` is on the stack.

use std::cell::Cell;

use napi::bindgen_prelude::*;
use napi::{sys, JsValue};

use wasm_sandbox_core as core;

use crate::convert::{describe, results_from_js, to_js};
use crate::error::{js_error, take_pending, ErrorClass, ERR_IMPORT_MISSING, ERR_IMPORT_TYPE};

/// A JS function supplying one import, with the import's signature.
pub struct JsImport {
    function: WeakFunction,
    signature: core::FuncImport,
    /// `module.name`, for messages.
    name: String,
}

/// A weak reference to an import function. The Executor's JS object keeps
/// the function alive (see [`keep_alive`]), so the garbage collector sees
/// the path object → function → closure → object: an import that refers to
/// its own Executor (to read its memory, say) does not keep it alive
/// forever, as a strong reference (a GC root) would.
struct WeakFunction {
    env: sys::napi_env,
    reference: sys::napi_ref,
}

impl WeakFunction {
    fn new(env: &Env, function: Unknown) -> Result<Self> {
        let mut reference = std::ptr::null_mut();
        // SAFETY: a Node-API call on the current env with a live value.
        let status =
            unsafe { sys::napi_create_reference(env.raw(), function.raw(), 0, &mut reference) };
        if status != sys::Status::napi_ok {
            return Err(Error::new(
                Status::from(status),
                "cannot reference an import",
            ));
        }
        Ok(WeakFunction {
            env: env.raw(),
            reference,
        })
    }

    /// The function; alive while the Executor's JS object is, which it is
    /// whenever one of its methods runs.
    fn get(&self, env: &Env) -> Result<sys::napi_value> {
        let mut value = std::ptr::null_mut();
        // SAFETY: a Node-API call on the env that created the reference.
        unsafe { sys::napi_get_reference_value(env.raw(), self.reference, &mut value) };
        if value.is_null() {
            return Err(Error::from_reason(
                "an import function was garbage-collected",
            ));
        }
        Ok(value)
    }
}

impl Drop for WeakFunction {
    fn drop(&mut self) {
        // SAFETY: executors are dropped by their JS object's finalizer, on the
        // JS thread of the env that created the reference.
        unsafe { sys::napi_delete_reference(self.env, self.reference) };
    }
}

/// Stores `functions` on `owner` under a fresh symbol (non-enumerable,
/// read-only), so they live exactly as long as `owner`.
fn keep_alive(env: &Env, owner: &mut Object, functions: &[Unknown]) -> Result<()> {
    if functions.is_empty() {
        return Ok(());
    }
    let mut list = env.create_array(functions.len() as u32)?;
    for (i, function) in functions.iter().enumerate() {
        list.set(i as u32, *function)?;
    }
    let key = env.create_symbol(Some("wasm-sandbox imports"))?;
    owner.define_properties(&[Property::new()
        .with_name(env, key)?
        .with_napi_value(env, list)?
        .with_property_attributes(PropertyAttributes::Default)])
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
/// `"env"`, `env[module][name]` for any other module. A missing one is a
/// `TypeError` `ERR_IMPORT_MISSING`, a non-function `ERR_IMPORT_TYPE`; both
/// name the import and its signature. The functions are kept alive by
/// `owner`, the Executor's JS object.
pub fn resolve_imports(
    env: &Env,
    owner: &mut Object,
    imports: Option<Object>,
    wanted: &[core::FuncImport],
) -> Result<Vec<JsImport>> {
    let mut resolved = Vec::with_capacity(wanted.len());
    let mut functions = Vec::with_capacity(wanted.len());
    for import in wanted {
        let name = format!("{}.{}", import.module, import.name);
        let expected = format!("a function {}", signature(import));
        let missing = |why: String| {
            js_error(
                env,
                ErrorClass::Type,
                ERR_IMPORT_MISSING,
                &format!("missing import {name}: expected {expected}{why}"),
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
          return Err(js_error(
            env,
            ErrorClass::Type,
            ERR_IMPORT_TYPE,
            &format!(
              "import module \"{}\" must be an object of functions, got {} (needed for {name}: {expected})",
              import.module,
              describe(module)?
            ),
            &[],
          ))
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
        resolved.push(JsImport {
            function: WeakFunction::new(env, value)?,
            signature: import.clone(),
            name,
        });
        functions.push(value);
    }
    keep_alive(env, owner, &functions)?;
    Ok(resolved)
}

/// The guest memory while an import runs, so `readMemory`/`writeMemory`
/// work from inside the callback (when `run` holds the executor).
pub type CallbackMemory = Cell<Option<(*mut u8, usize)>>;

/// What the core calls for guest imports during one `run`.
pub struct JsHost<'a> {
    pub env: &'a Env,
    pub imports: &'a [JsImport],
    pub memory: &'a CallbackMemory,
    /// What the failing import threw (or the conversion error of its return
    /// value), rethrown unchanged by `run`.
    pub thrown: Option<Error>,
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
        let argv = args
            .iter()
            .map(|a| to_js(env, *a).map(|v| v.raw()))
            .collect::<Result<Vec<_>>>()?;
        let mut this = std::ptr::null_mut();
        let mut returned = std::ptr::null_mut();
        // SAFETY: Node-API calls on the current env with values created in this
        // scope. napi-rs's `Function::call` takes a fixed argument tuple, and an
        // import has any number of arguments.
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
        if status != sys::Status::napi_ok {
            return Err(Error::new(
                Status::from(status),
                format!("calling import {} failed", import.name),
            ));
        }
        // SAFETY: `returned` was just produced by a successful call.
        let returned = unsafe { Unknown::from_raw_unchecked(env.raw(), returned) };
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
        memory: &mut [u8],
    ) -> std::result::Result<(), core::HostError> {
        let Some(import) = self.imports.get(index) else {
            return Err(core::HostError(format!("no function for import #{index}")));
        };
        let previous = self
            .memory
            .replace(Some((memory.as_mut_ptr(), memory.len())));
        // A handle scope per call: a long run makes millions of calls inside
        // one `run`, and the values of each must not pile up until it ends.
        let outcome = self.env.run_in_scope(|| {
            self.call_js(import, args, results)
                .map_err(|error| take_pending(self.env, error))
        });
        self.memory.set(previous);
        outcome.map_err(|error| {
            let message = format!("import {} threw: {}", import.name, error.reason);
            self.thrown = Some(error);
            core::HostError(message)
        })
    }
}
