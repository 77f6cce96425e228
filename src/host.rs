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
    function: FunctionRef<Unknown<'static>, Unknown<'static>>,
    signature: core::FuncImport,
    /// `module.name`, for messages.
    name: String,
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
/// name the import and its signature.
pub fn resolve_imports(
    env: &Env,
    imports: Option<Object>,
    wanted: &[core::FuncImport],
) -> Result<Vec<JsImport>> {
    let mut resolved = Vec::with_capacity(wanted.len());
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
        // SAFETY: the type was checked just above.
        let function: Function<Unknown<'static>, Unknown<'static>> = unsafe { value.cast()? };
        resolved.push(JsImport {
            function: function.create_ref()?,
            signature: import.clone(),
            name,
        });
    }
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
        let function = import.function.borrow_back(env)?;
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
                function.raw(),
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
