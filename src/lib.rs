//! Node binding of wasm-sandbox: the `Executor` class over
//! `wasm_sandbox_core`. Only argument conversion, JS imports and error
//! mapping live here; the engine is the core crate.
#![deny(clippy::all)]

mod convert;
mod error;
mod fast;
mod host;
mod precompile;
mod wasi;

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};

use napi::bindgen_prelude::*;
use napi::JsValue;
use napi_derive::napi;

use wasm_sandbox_core as core;

use convert::{bytes_view, describe, gas_arg, integer_arg, BytesView, JsBytes};
use error::{
    core_error, invalid_type, js_error, panic_error, ErrorClass, ERR_CONSTRUCT_CALL_REQUIRED,
};
use host::{resolve_imports, CallbackMemory, JsHost, JsImport, JsWasi, Retained, WeakValue};

/// Runs when the module loads, after napi-rs has defined the classes: puts
/// the direct method callbacks on `Executor.prototype` (see `fast.rs`).
#[napi(module_exports)]
pub fn install_entry_points(exports: Object, env: Env) -> Result<()> {
    convert::keep_alloc_unsafe(&env)?;
    fast::install(&env, &exports)
}

/// Gas costs of the metered operations. In `options.costs` every field is
/// optional and a missing one keeps its default; `defaultCosts()` returns
/// the defaults.
#[napi(object)]
#[derive(Clone, Debug, Default)]
pub struct CostTable {
    /// Every wasm instruction (default 1).
    pub instruction: Option<u32>,
    /// Extra for a call to another guest function, on top of `instruction`
    /// (default 0).
    pub call: Option<u32>,
    /// Extra for a call to a JS import, on top of `instruction` (default 10).
    pub host_call: Option<u32>,
    /// `memory.grow`, per page requested (default 64).
    pub memory_grow_per_page: Option<u32>,
    /// `memory.fill`, `memory.copy` and `memory.init`, per started 8 bytes
    /// (default 1).
    #[napi(js_name = "bulkMemoryPer8Bytes")]
    pub bulk_memory_per_8_bytes: Option<u32>,
    /// `table.copy` and `table.init`, per element (default 1).
    pub bulk_table_per_element: Option<u32>,
}

impl CostTable {
    const FIELDS: [&'static str; 6] = [
        "instruction",
        "call",
        "hostCall",
        "memoryGrowPerPage",
        "bulkMemoryPer8Bytes",
        "bulkTablePerElement",
    ];

    fn slots(&mut self) -> [&mut Option<u32>; 6] {
        [
            &mut self.instruction,
            &mut self.call,
            &mut self.host_call,
            &mut self.memory_grow_per_page,
            &mut self.bulk_memory_per_8_bytes,
            &mut self.bulk_table_per_element,
        ]
    }

    fn to_core(&self) -> core::CostTable {
        let d = core::CostTable::default();
        core::CostTable {
            instruction: self.instruction.unwrap_or(d.instruction),
            call: self.call.unwrap_or(d.call),
            host_call: self.host_call.unwrap_or(d.host_call),
            memory_grow_per_page: self.memory_grow_per_page.unwrap_or(d.memory_grow_per_page),
            bulk_memory_per_8_bytes: self
                .bulk_memory_per_8_bytes
                .unwrap_or(d.bulk_memory_per_8_bytes),
            bulk_table_per_element: self
                .bulk_table_per_element
                .unwrap_or(d.bulk_table_per_element),
        }
    }

    fn from_core(c: &core::CostTable) -> Self {
        CostTable {
            instruction: Some(c.instruction),
            call: Some(c.call),
            host_call: Some(c.host_call),
            memory_grow_per_page: Some(c.memory_grow_per_page),
            bulk_memory_per_8_bytes: Some(c.bulk_memory_per_8_bytes),
            bulk_table_per_element: Some(c.bulk_table_per_element),
        }
    }
}

/// Options of `new Executor(wasm, memLimit, env, options)`.
#[napi(object)]
#[derive(Clone, Debug, Default)]
pub struct ExecutorOptions {
    /// The export to run: a function without parameters (its results are
    /// ignored). Default: `entry`, then `_start`.
    pub entry: Option<String>,
    /// Gas cost overrides; missing fields keep their defaults.
    pub costs: Option<CostTable>,
    /// Canonicalize the NaNs produced by float operations, so floats are
    /// bit-identical on every CPU (slower on float-heavy code). Default false.
    pub canonicalize_nans: Option<bool>,
    /// Serve the module's `wasi_snapshot_preview1` imports (WASI preview1,
    /// deterministic: see `WasiOptions`). `true` = on with the defaults.
    /// Default off: WASI imports are then looked up in `env` like any other.
    #[napi(ts_type = "boolean | WasiOptions")]
    pub wasi: Option<WasiOptions>,
}

impl ExecutorOptions {
    /// The options that make the program (and key its cache entry).
    fn program(&self) -> core::ProgramOptions {
        core::ProgramOptions {
            costs: self.costs.clone().unwrap_or_default().to_core(),
            canonicalize_nans: self.canonicalize_nans.unwrap_or(false),
        }
    }
}

// The shape for index.d.ts only: `wasi::parse_wasi` reads the values
// (functions and byte buffers have no `napi(object)` field type, so the Rust
// types of `stdin`, `stdout`, `stderr` and `seed` are placeholders).
/// `options.wasi`: WASI preview1 served by wasm-sandbox itself, for
/// programs built for `wasm32-wasi` (C with wasi-libc, ...). Deterministic
/// by default: the clocks count gas (1 gas = 1 ns; `CLOCK_REALTIME` starts
/// at 2024-01-01T00:00:00Z; sleeps advance the clock instead of blocking)
/// and `random_get` is a seeded xoshiro256**, so the same program, inputs
/// and gas slices give byte-identical output and snapshots everywhere.
/// Files, directories, sockets and the host environment are never reached:
/// those calls fail with a WASI errno. The WASI state (unread stdin, random
/// generator, clock, exit code, collected output, args and env) is part of
/// the snapshot.
#[napi(object)]
#[derive(Clone, Debug, Default)]
pub struct WasiOptions {
    /// The arguments, `args[0]` being the program name (as in `node:wasi`).
    /// Default `[]`.
    pub args: Option<Vec<String>>,
    /// Environment variables. Default `{}` (nothing from the host's).
    pub env: Option<std::collections::HashMap<String, String>>,
    /// What fd 0 reads: bytes or a string (then end of file), or a function
    /// called whenever the program reads and everything before was consumed,
    /// returning the next chunk (`null`, `undefined` or empty = end of file
    /// for that read). Default: empty.
    #[napi(
        ts_type = "Uint8Array | ArrayBuffer | string | (() => Uint8Array | ArrayBuffer | string | null | undefined)"
    )]
    pub stdin: Option<String>,
    /// Called synchronously with a `Buffer` at each write to fd 1. Default:
    /// collected into `executor.stdout`.
    #[napi(ts_type = "(chunk: Buffer) => void")]
    pub stdout: Option<String>,
    /// Called synchronously with a `Buffer` at each write to fd 2. Default:
    /// collected into `executor.stderr`.
    #[napi(ts_type = "(chunk: Buffer) => void")]
    pub stderr: Option<String>,
    /// `'virtual'` (default): time derived from gas, deterministic.
    /// `'real'`: the host's clocks (sleeps still never block).
    #[napi(ts_type = "'virtual' | 'real'")]
    pub clock: Option<String>,
    /// Seed of `random_get` (a non-negative safe integer or a bigint below
    /// 2^64). Default 0.
    #[napi(ts_type = "number | bigint")]
    pub seed: Option<i64>,
}

/// The default gas costs (see `CostTable`).
#[napi]
pub fn default_costs() -> CostTable {
    CostTable::from_core(&core::CostTable::default())
}

/// Rejects keys outside `allowed`, so a misspelt option is an error rather
/// than silently ignored.
pub(crate) fn check_keys(env: &Env, object: &Object, allowed: &[&str], what: &str) -> Result<()> {
    let keys = object.get_property_names()?;
    for i in 0..keys.get_array_length()? {
        let key: String = keys
            .get_element::<Unknown>(i)?
            .coerce_to_string()?
            .into_utf8()?
            .into_owned()?;
        if !allowed.contains(&key.as_str()) {
            return Err(invalid_type(
                env,
                &format!("unknown {what} \"{key}\" (known: {})", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

/// An optional object argument: `None` for undefined/null, `TypeError`
/// unless an object.
fn object_arg<'env>(
    env: &Env,
    value: Option<Unknown<'env>>,
    name: &str,
) -> Result<Option<Object<'env>>> {
    let Some(value) = value else { return Ok(None) };
    match value.get_type()? {
        ValueType::Undefined | ValueType::Null => Ok(None),
        ValueType::Object | ValueType::Function => Ok(Some(value.coerce_to_object()?)),
        _ => Err(invalid_type(
            env,
            &format!("{name} must be an object, got {}", describe(value)?),
        )),
    }
}

/// The parsed options; `wasi` is read by `wasi::parse_wasi`.
type ParsedOptions<'env> = (
    ExecutorOptions,
    Option<(core::WasiConfig, wasi::WasiCallbacks<'env>)>,
);

fn parse_options<'env>(env: &Env, value: Option<Unknown<'env>>) -> Result<ParsedOptions<'env>> {
    let mut options = ExecutorOptions::default();
    let Some(object) = object_arg(env, value, "options")? else {
        return Ok((options, None));
    };
    check_keys(
        env,
        &object,
        &["entry", "costs", "canonicalizeNans", "wasi"],
        "option",
    )?;
    let entry: Unknown = object.get_named_property("entry")?;
    match entry.get_type()? {
        ValueType::Undefined => {}
        // SAFETY: the type was checked in the match.
        ValueType::String => options.entry = Some(unsafe { entry.cast()? }),
        _ => {
            return Err(invalid_type(
                env,
                &format!("options.entry must be a string, got {}", describe(entry)?),
            ))
        }
    }
    let nans: Unknown = object.get_named_property("canonicalizeNans")?;
    match nans.get_type()? {
        ValueType::Undefined => {}
        ValueType::Boolean => options.canonicalize_nans = Some(nans.coerce_to_bool()?),
        _ => {
            return Err(invalid_type(
                env,
                &format!(
                    "options.canonicalizeNans must be a boolean, got {}",
                    describe(nans)?
                ),
            ))
        }
    }
    let costs: Option<Unknown> = Some(object.get_named_property("costs")?);
    if let Some(costs) = object_arg(env, costs, "options.costs")? {
        check_keys(env, &costs, &CostTable::FIELDS, "cost")?;
        let mut table = CostTable::default();
        for (name, slot) in CostTable::FIELDS.iter().zip(table.slots()) {
            let value: Unknown = costs.get_named_property(name)?;
            if value.get_type()? != ValueType::Undefined {
                let label = format!("options.costs.{name}");
                *slot = Some(integer_arg(env, value, &label, 0.0, u32::MAX as f64)? as u32);
            }
        }
        options.costs = Some(table);
    }
    let wasi = wasi::parse_wasi(env, object.get_named_property("wasi")?)?;
    Ok((options, wasi))
}

/// A guest program: WebAssembly with gas metering that pauses when its gas
/// runs out, resumes exactly where it stopped, and saves its whole running
/// state as a snapshot (`serializeMemory`) that another Executor — in this
/// or another process — can continue (`deserializeMemory`).
#[napi]
pub struct Executor {
    /// `None` once freed (`free()`). Boxed, so that `free()` gives its
    /// memory back at once: the rest of this struct waits for V8 to collect
    /// the JS object.
    inner: RefCell<Option<Box<core::Executor>>>,
    /// Per guest import: its JS function (`None` when WASI serves it).
    imports: Vec<Option<JsImport>>,
    /// The `options.wasi` callbacks.
    wasi: JsWasi,
    /// Set while one of our imports runs (see `readMemory`).
    callback_memory: CallbackMemory,
    /// The import functions and what a failing import threw (kept by the
    /// JS object, see `Retained`).
    retained: Retained,
    /// The executor trapped because an import threw: every later `run`
    /// throws that value again.
    import_threw: Cell<bool>,
    /// A Rust panic was caught: the state is unknown, every call fails.
    poisoned: Cell<bool>,
    /// The copy of the addon that made it (see `fast::checked`).
    home: usize,
    /// Where it was when `fast::checked` took its address (0: not taken).
    /// napi-rs's finalizer moves it out of its box before dropping it, so
    /// that address is kept rather than taken from `self` then.
    pub(crate) checked_at: Cell<usize>,
}

impl Drop for Executor {
    fn drop(&mut self) {
        // Its address may be reused by another allocation now.
        fast::checked::forget(self);
    }
}

impl Executor {
    /// Not freed (and not busy freeing).
    fn is_live(&self) -> bool {
        matches!(self.inner.try_borrow(), Ok(inner) if inner.is_some())
    }

    /// Runs `f`, turning a Rust panic into an `ERR_INTERNAL` error (and the
    /// executor unusable) instead of letting it cross into Node.
    fn guarded<T>(&self, env: &Env, f: impl FnOnce() -> Result<T>) -> Result<T> {
        if self.poisoned.get() {
            return Err(js_error(
                env,
                ErrorClass::Plain,
                error::ERR_INTERNAL,
                "this executor hit an internal error earlier and cannot be used",
                &[],
            ));
        }
        catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
            self.poisoned.set(true);
            Err(panic_error(env, &*payload))
        })
    }

    fn busy(env: &Env, what: &str) -> Error {
        let message = format!(
            "cannot call {what} while this executor is running \
             (from inside one of its imports)"
        );
        js_error(
            env,
            ErrorClass::Plain,
            error::ERR_EXECUTOR_BUSY,
            &message,
            &[],
        )
    }

    fn freed(env: &Env, what: &str) -> Error {
        let message =
            format!("cannot call {what}: this executor was freed (free() or [Symbol.dispose]())");
        js_error(
            env,
            ErrorClass::Plain,
            error::ERR_EXECUTOR_FREED,
            &message,
            &[],
        )
    }

    fn inner_mut(&self, env: &Env, what: &str) -> Result<std::cell::RefMut<'_, core::Executor>> {
        let inner = self
            .inner
            .try_borrow_mut()
            .map_err(|_| Self::busy(env, what))?;
        std::cell::RefMut::filter_map(inner, |inner| inner.as_deref_mut())
            .map_err(|_| Self::freed(env, what))
    }

    fn inner_ref(&self, env: &Env, what: &str) -> Result<std::cell::Ref<'_, core::Executor>> {
        let inner = self.inner.try_borrow().map_err(|_| Self::busy(env, what))?;
        std::cell::Ref::filter_map(inner, |inner| inner.as_deref())
            .map_err(|_| Self::freed(env, what))
    }

    /// Runs `f` on the guest memory of the import callback in progress;
    /// `None` outside import callbacks.
    fn with_callback_memory<R>(&self, f: impl FnOnce(&mut [u8]) -> R) -> Option<R> {
        let (ptr, len) = self.callback_memory.region.get()?;
        // SAFETY: set by `JsHost::call` from the `&mut [u8]` the core lends for
        // the duration of the import call, cleared before that call returns;
        // the guest is suspended meanwhile, and JS is single-threaded, so no
        // other reference to the memory is used while `f` runs.
        Some(f(unsafe { std::slice::from_raw_parts_mut(ptr, len) }))
    }
}

fn memory_range(offset: u64, len: u64, size: usize) -> core::Result<std::ops::Range<usize>> {
    match offset.checked_add(len) {
        Some(end) if end <= size as u64 => Ok(offset as usize..end as usize),
        _ => Err(core::Error::OutOfBounds(format!(
            "range {offset}..{} is outside the guest memory of {size} bytes",
            offset as u128 + len as u128
        ))),
    }
}

/// Whether `object` already carries a native value (an `Executor` whose
/// constructor is called again on it with `Executor.call(executor, ...)`).
fn is_wrapped(env: &Env, object: &Object) -> bool {
    let mut native = std::ptr::null_mut();
    // SAFETY: a plain Node-API query on the current env; it sets no
    // exception when nothing is wrapped.
    let status = unsafe { napi::sys::napi_unwrap(env.raw(), object.raw(), &mut native) };
    status == napi::sys::Status::napi_ok
}

/// The `TypeError` for a `wasm` argument that is not bytes.
fn not_a_module(env: &Env, wasm: Unknown) -> Error {
    match describe(wasm) {
        Ok(what) => invalid_type(
            env,
            &format!(
                "wasm must be a Uint8Array, Buffer or ArrayBuffer with a WebAssembly module, got {what}"
            ),
        ),
        Err(e) => e,
    }
}

/// Largest offset or length `readMemory`/`writeMemory` take.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

#[napi]
impl Executor {
    /// Instruments and compiles `wasm` (cached per process by content and
    /// options) and instantiates it.
    ///
    /// - `memLimit`: the most memory the guest may have, in 64 KiB pages
    ///   (1..65536, like `WebAssembly.Memory`'s `maximum`); `memory.grow` past
    ///   it returns -1.
    /// - `env`: the imports. Functions for import module `"env"`; a nested
    ///   object supplies another import module by name. Values convert as in
    ///   the WebAssembly JS API: i32, f32 and f64 are numbers, i64 is a
    ///   bigint; an import with several results returns an array. `env.memory`
    ///   is created by the Executor.
    /// - `options.wasi`: serve the `wasi_snapshot_preview1` imports
    ///   (deterministic WASI preview1, see `WasiOptions`).
    ///
    /// Throws a `TypeError` (`ERR_INVALID_ARG`, `ERR_INVALID_WASM`,
    /// `ERR_UNSUPPORTED_FEATURE`, `ERR_UNSUPPORTED_MODULE`,
    /// `ERR_IMPORT_MISSING`, `ERR_IMPORT_TYPE`, `ERR_ENTRY_NOT_FOUND`,
    /// `ERR_INVALID_ENTRY`) or a `RangeError` (`ERR_INVALID_ARG`,
    /// `ERR_MEMORY_LIMIT` when the module needs more memory than `memLimit`,
    /// or when the process is out of address space: "out of address
    /// space: ...").
    #[napi(
        constructor,
        ts_args_type = "wasm: Uint8Array | ArrayBuffer, memLimit: number, env?: Record<string, ((...args: any[]) => any) | Record<string, (...args: any[]) => any>>, options?: ExecutorOptions"
    )]
    pub fn new(
        env: Env,
        mut this: This,
        wasm: Unknown,
        mem_limit: Unknown,
        imports: Option<Unknown>,
        options: Option<Unknown>,
    ) -> Result<Self> {
        // Without `new`, `this` is the caller's receiver (globalThis, a plain
        // object, undefined or an existing Executor): refuse as JS classes do.
        if !fast::inherits_prototype(&env, &this.object)? || is_wrapped(&env, &this.object) {
            return Err(js_error(
                &env,
                ErrorClass::Type,
                ERR_CONSTRUCT_CALL_REQUIRED,
                "Class constructor Executor cannot be invoked without 'new'",
                &[],
            ));
        }
        // The bytes are checked here and read in place below, after the
        // other arguments (whose getters and `valueOf` may run JS).
        // SAFETY: the view is dropped at once.
        if !matches!(
            unsafe { bytes_view(&wasm, false)? },
            Some(BytesView::Binary(_))
        ) {
            return Err(not_a_module(&env, wasm));
        }
        let mem_limit = integer_arg(&env, mem_limit, "memLimit (pages of 64 KiB)", 1.0, 65536.0)?;
        let imports = object_arg(&env, imports, "env")?;
        let (options, wasi) = parse_options(&env, options)?;
        let program_options = options.program();
        let config = core::ExecutorConfig {
            memory_limit_pages: mem_limit as u64,
            entry: options.entry,
        };
        let attempt = catch_unwind(AssertUnwindSafe(|| -> Result<Self> {
            // SAFETY: no JS runs while the view is alive. (JS that ran
            // since the check may have detached the buffer: it is empty
            // then, and not a module.)
            let program = match unsafe { bytes_view(&wasm, false)? } {
                Some(BytesView::Binary(bytes)) => core::Program::load(bytes, &program_options),
                _ => core::Program::load(&[], &program_options),
            }
            .map_err(|e| core_error(&env, &e))?;
            let (imports, mut functions) =
                resolve_imports(&env, imports, program.imports(), wasi.is_some())?;
            let (wasi_config, callbacks) = match wasi {
                Some((config, callbacks)) => (Some(config), callbacks),
                None => (None, wasi::WasiCallbacks::default()),
            };
            let weak = |f: Option<Unknown>| f.map(|f| WeakValue::new(&env, f.raw())).transpose();
            let js_wasi = JsWasi {
                stdin: weak(callbacks.stdin)?,
                stdout: weak(callbacks.stdout)?,
                stderr: weak(callbacks.stderr)?,
            };
            functions.extend(
                [callbacks.stdin, callbacks.stdout, callbacks.stderr]
                    .into_iter()
                    .flatten(),
            );
            let retained = Retained::new(&env, &mut this.object, &functions)?;
            let inner = core::Executor::with_wasi(program, config, wasi_config)
                .map_err(|e| core_error(&env, &e))?;
            Ok(Executor {
                inner: RefCell::new(Some(Box::new(inner))),
                imports,
                wasi: js_wasi,
                callback_memory: CallbackMemory::default(),
                retained,
                import_threw: Cell::new(false),
                poisoned: Cell::new(false),
                home: fast::checked::home(),
                checked_at: Cell::new(0),
            })
        }));
        attempt.unwrap_or_else(|payload| Err(panic_error(&env, &*payload)))
    }

    /// Instruments and compiles `wasm` on a thread of libuv's pool instead
    /// of the JS thread, and keeps the program in the process's cache: a
    /// `new Executor` with the same bytes and the same `costs` and
    /// `canonicalizeNans` options then finds it compiled (the other options
    /// do not matter to the program; they are checked all the same). The
    /// cache keeps a program while an executor of it lives and as one of
    /// the 16 programs loaded last, so create the executor soon after.
    ///
    /// Resolves with `undefined`; rejects with the errors `new Executor`
    /// throws for the same arguments (`ERR_INVALID_ARG`, `ERR_INVALID_WASM`,
    /// `ERR_UNSUPPORTED_FEATURE`, `ERR_UNSUPPORTED_MODULE`, ...); import,
    /// entry and memory errors come only from `new Executor`.
    #[napi(
        ts_args_type = "wasm: Uint8Array | ArrayBuffer, options?: ExecutorOptions",
        ts_return_type = "Promise<void>"
    )]
    pub fn precompile(
        env: Env,
        wasm: Unknown,
        options: Option<Unknown>,
    ) -> AsyncTask<precompile::Precompile> {
        let task = catch_unwind(AssertUnwindSafe(|| -> Result<precompile::Precompile> {
            // SAFETY: the view is read only here, before any JS runs.
            let Some(BytesView::Binary(bytes)) = (unsafe { bytes_view(&wasm, false)? }) else {
                return Err(not_a_module(&env, wasm));
            };
            // Copied before the options' getters can run JS.
            let bytes = bytes.to_vec();
            let (options, _) = parse_options(&env, options)?;
            Ok(precompile::Precompile::new(bytes, options.program()))
        }))
        .unwrap_or_else(|payload| Err(panic_error(&env, &*payload)));
        AsyncTask::new(task.unwrap_or_else(precompile::Precompile::refused))
    }

    /// Adds `gas` (a non-negative safe integer or a bigint) to the balance
    /// and runs until the program finishes (`true`) or the balance is
    /// negative at a pause point (`false`). With a balance of 0 or less (debt
    /// from an overshoot) it returns `false` without running; once finished
    /// it returns `true` without running again. With `options.wasi`, a
    /// `proc_exit` finishes the program too (see `exitCode`). The balance
    /// keeps at most 2^62 - 1 (about 4.6e18) gas; more is not kept.
    ///
    /// A trap throws an `Error` with `code: 'ERR_WASM_TRAP'`, `kind` (e.g.
    /// `'unreachable'`) and `wasmBacktrace`; an import that throws makes `run`
    /// throw that same value. Either way the run uses up all its gas
    /// (`gasUsed` becomes all the gas given, `gasBalance` 0), the executor is
    /// then `'trapped'` and every later `run` throws the same again.
    /// `ERR_EXECUTOR_BUSY` when called from inside one of this executor's
    /// imports.
    #[napi(ts_args_type = "gas: number | bigint")]
    pub fn run(&self, env: Env, gas: Unknown) -> Result<bool> {
        let gas = gas_arg(&env, gas)?;
        let mut inner = self.inner_mut(&env, "run()")?;
        let mut host = JsHost {
            env: &env,
            imports: &self.imports,
            wasi: &self.wasi,
            memory: &self.callback_memory,
            retained: &self.retained,
            threw: false,
        };
        let outcome = self.guarded(&env, || Ok(inner.run(gas, &mut host)))?;
        match outcome {
            Ok(core::RunOutcome::Finished) => Ok(true),
            Ok(core::RunOutcome::Paused) => Ok(false),
            Err(e @ core::Error::HostError(_)) => {
                if host.threw {
                    self.import_threw.set(true);
                }
                if self.import_threw.get() {
                    Err(self.retained.rethrow(&env))
                } else {
                    Err(core_error(&env, &e))
                }
            }
            Err(e) => Err(core_error(&env, &e)),
        }
    }

    /// The whole running state (memory, globals, the paused stack, gas,
    /// status) as a binary snapshot, to continue with `deserializeMemory` in
    /// any Executor of the same module and options, in this or another
    /// process. `undefined` once trapped. `ERR_EXECUTOR_BUSY` from inside an
    /// import. A snapshot of up to 4 KiB is a slice of Node's shared Buffer
    /// pool, like a small `Buffer.from(...)`: its `.buffer` is the pool, so
    /// read it with `byteOffset` and `length`.
    #[napi(ts_return_type = "Buffer | undefined")]
    pub fn serialize_memory(&self, env: &Env) -> Result<Either<JsBytes, ()>> {
        let mut inner = self.inner_mut(env, "serializeMemory()")?;
        self.guarded(env, || {
            if inner.status() == core::Status::Trapped {
                return Ok(Either::B(()));
            }
            let snapshot = inner.snapshot().map_err(|e| core_error(env, &e))?;
            Ok(Either::A(JsBytes(snapshot.to_bytes())))
        })
    }

    /// The same snapshot as `serializeMemory`, as JSON text (memory in
    /// base64); `deserializeMemory` takes it too. `undefined` once trapped.
    #[napi(ts_return_type = "string | undefined")]
    pub fn snapshot_json(&self, env: Env) -> Result<Either<String, ()>> {
        let mut inner = self.inner_mut(&env, "snapshotJson()")?;
        self.guarded(&env, || {
            if inner.status() == core::Status::Trapped {
                return Ok(Either::B(()));
            }
            let snapshot = inner.snapshot().map_err(|e| core_error(&env, &e))?;
            Ok(Either::A(snapshot.to_json()))
        })
    }

    /// Replaces the whole state with a snapshot from `serializeMemory` (bytes)
    /// or `snapshotJson` (string). All or nothing: a snapshot of another
    /// module or options (`ERR_SNAPSHOT_MISMATCH`), a corrupt or truncated one
    /// (`ERR_SNAPSHOT_CORRUPT`, `ERR_SNAPSHOT_VERSION`) or one whose memory
    /// exceeds `memLimit` (`ERR_SNAPSHOT_MEMORY_LIMIT`) throws and leaves the
    /// executor unchanged. `ERR_EXECUTOR_BUSY` from inside an import.
    #[napi(ts_args_type = "data: Uint8Array | ArrayBuffer | string")]
    pub fn deserialize_memory(&self, env: Env, data: Unknown) -> Result<()> {
        // SAFETY: the bytes are read (decoded into a snapshot) before any
        // JS runs.
        let Some(view) = (unsafe { bytes_view(&data, true)? }) else {
            let message = format!(
                "data must be a Uint8Array, Buffer or ArrayBuffer from serializeMemory() \
                 or a string from snapshotJson(), got {}",
                describe(data)?
            );
            return Err(invalid_type(&env, &message));
        };
        let mut inner = self.inner_mut(&env, "deserializeMemory()")?;
        self.guarded(&env, || {
            let snapshot = match &view {
                BytesView::Binary(bytes) => core::Snapshot::from_bytes(bytes),
                BytesView::Text(text) => core::Snapshot::from_json(text),
            }
            .and_then(|snapshot| inner.restore(&snapshot));
            snapshot.map_err(|e| core_error(&env, &e))?;
            if self.import_threw.replace(false) {
                self.retained.clear_thrown(&env)?;
            }
            Ok(())
        })
    }

    /// `'ready'` (nothing ran yet), `'paused'`, `'finished'` or `'trapped'`;
    /// `'running'` when read from inside one of its imports, `'freed'` after
    /// `free()`.
    #[napi(
        getter,
        ts_return_type = "'ready' | 'paused' | 'finished' | 'trapped' | 'running' | 'freed'"
    )]
    pub fn status(&self) -> &'static str {
        match self.inner.try_borrow().as_deref() {
            Ok(Some(inner)) => inner.status().as_str(),
            Ok(None) => "freed",
            Err(_) => "running",
        }
    }

    /// Releases the instance now: its memory and its ~8 GiB address space
    /// reservation, which otherwise wait until V8 collects the object (a
    /// host that discards many executors should free them). Small instances
    /// (up to 256 KiB of memory) are reset and kept instead for the next
    /// `new Executor` of the same module and options (at most 16 in the
    /// process), which makes that one cheaper. Every later call throws `ERR_EXECUTOR_FREED` (`status` is
    /// `'freed'`); freeing again does nothing. Take a snapshot first to keep
    /// the state. `ERR_EXECUTOR_BUSY` from inside one of its imports.
    /// `executor[Symbol.dispose]()` is the same, for `using`.
    #[napi]
    pub fn free(&self, env: Env) -> Result<()> {
        let mut inner = self
            .inner
            .try_borrow_mut()
            .map_err(|_| Self::busy(&env, "free()"))?;
        let freed = inner.take();
        drop(inner);
        // Executors freed but not yet collected would crowd the set (a
        // loop that moves a guest frees one per pause); calls on a freed one
        // are errors, which may take the longer check.
        fast::checked::forget(self);
        self.guarded(&env, || {
            drop(freed);
            Ok(())
        })
    }

    /// The same as `free()`, so `using executor = new Executor(...)` frees it
    /// at the end of the scope.
    #[napi(well_known_symbol = "dispose")]
    pub fn dispose(&self, env: Env) -> Result<()> {
        self.free(env)
    }

    /// Total gas consumed so far (across snapshots: a restored executor
    /// continues the count). A `run` that throws (a trap or an import's
    /// error) uses up all the gas it had: once trapped, `gasUsed` is all
    /// the gas ever given and `gasBalance` is 0. `ERR_EXECUTOR_BUSY` from
    /// inside an import.
    #[napi(getter)]
    pub fn gas_used(&self, env: Env) -> Result<BigInt> {
        Ok(BigInt::from(self.inner_ref(&env, "gasUsed")?.gas_used()))
    }

    /// Gas left; negative after an overshoot at a pause point (the debt is
    /// paid from the next `run`'s gas). `ERR_EXECUTOR_BUSY` from inside an
    /// import.
    #[napi(getter)]
    pub fn gas_balance(&self, env: Env) -> Result<BigInt> {
        Ok(BigInt::from(
            self.inner_ref(&env, "gasBalance")?.gas_balance(),
        ))
    }

    /// With `options.wasi`: everything the program wrote to stdout (fd 1),
    /// unless `options.wasi.stdout` takes it (then empty). Part of the
    /// snapshot. `undefined` without WASI. `ERR_EXECUTOR_BUSY` from inside
    /// an import.
    #[napi(getter, ts_return_type = "Buffer | undefined")]
    pub fn stdout(&self, env: Env) -> Result<Either<JsBytes, ()>> {
        let inner = self.inner_ref(&env, "stdout")?;
        Ok(match inner.stdout() {
            Some(bytes) => Either::A(JsBytes(bytes.to_vec())),
            None => Either::B(()),
        })
    }

    /// With `options.wasi`: everything the program wrote to stderr (fd 2),
    /// unless `options.wasi.stderr` takes it (then empty). Part of the
    /// snapshot. `undefined` without WASI. `ERR_EXECUTOR_BUSY` from inside
    /// an import.
    #[napi(getter, ts_return_type = "Buffer | undefined")]
    pub fn stderr(&self, env: Env) -> Result<Either<JsBytes, ()>> {
        let inner = self.inner_ref(&env, "stderr")?;
        Ok(match inner.stderr() {
            Some(bytes) => Either::A(JsBytes(bytes.to_vec())),
            None => Either::B(()),
        })
    }

    /// With `options.wasi`, once finished: the status the program passed to
    /// `proc_exit` (C's `exit(n)`, or returning `n` from `main`), or 0 when
    /// the entry (`_start`) returned. `undefined` before the program
    /// finished, after a trap, and without WASI. `ERR_EXECUTOR_BUSY` from
    /// inside an import.
    #[napi(getter, ts_return_type = "number | undefined")]
    pub fn exit_code(&self, env: Env) -> Result<Either<u32, ()>> {
        Ok(match self.inner_ref(&env, "exitCode")?.exit_code() {
            Some(code) => Either::A(code),
            None => Either::B(()),
        })
    }

    /// Size of the guest's linear memory in bytes (0 if it has none).
    #[napi(getter)]
    pub fn memory_size(&self, env: Env) -> Result<f64> {
        if let Some(len) = self.with_callback_memory(|memory| memory.len()) {
            return Ok(len as f64);
        }
        Ok(self.inner_ref(&env, "memorySize")?.memory_size() as f64)
    }

    /// A copy of `length` bytes of guest memory from `offset`. Works inside
    /// import callbacks too (e.g. to read a string the guest passes).
    /// `RangeError` `ERR_OUT_OF_BOUNDS` when the range is outside the memory.
    /// Up to 4 KiB are a slice of Node's shared Buffer pool, as with
    /// `serializeMemory`.
    #[napi(
        ts_args_type = "offset: number, length: number",
        ts_return_type = "Buffer"
    )]
    pub fn read_memory(&self, env: Env, offset: Unknown, length: Unknown) -> Result<JsBytes> {
        let offset = integer_arg(&env, offset, "offset", 0.0, MAX_SAFE_INTEGER)? as u64;
        let length = integer_arg(&env, length, "length", 0.0, MAX_SAFE_INTEGER)? as u64;
        self.guarded(&env, || {
            let inside = self.with_callback_memory(|memory| {
                memory_range(offset, length, memory.len()).map(|r| memory[r].to_vec())
            });
            let bytes = match inside {
                Some(bytes) => bytes,
                None => self
                    .inner_mut(&env, "readMemory()")?
                    .read_memory(offset, length),
            };
            bytes.map(JsBytes).map_err(|e| core_error(&env, &e))
        })
    }

    /// Copies `bytes` into guest memory at `offset`. Works inside import
    /// callbacks too. `RangeError` `ERR_OUT_OF_BOUNDS` when it does not fit.
    #[napi(ts_args_type = "offset: number, bytes: Uint8Array | ArrayBuffer")]
    pub fn write_memory(&self, env: Env, offset: Unknown, value: Unknown) -> Result<()> {
        let offset = integer_arg(&env, offset, "offset", 0.0, MAX_SAFE_INTEGER)? as u64;
        // SAFETY: the bytes are copied into the guest memory before any JS
        // runs.
        let Some(BytesView::Binary(bytes)) = (unsafe { bytes_view(&value, false)? }) else {
            return Err(invalid_type(
                &env,
                &format!(
                    "bytes must be a Uint8Array, Buffer or ArrayBuffer, got {}",
                    describe(value)?
                ),
            ));
        };
        self.guarded(&env, || {
            let inside = self.with_callback_memory(|memory| {
                memory_range(offset, bytes.len() as u64, memory.len())
                    .map(|r| memory[r].copy_from_slice(bytes))
            });
            if matches!(inside, Some(Ok(()))) {
                self.callback_memory.written.set(true);
            }
            let written = match inside {
                Some(written) => written,
                None => self
                    .inner_mut(&env, "writeMemory()")?
                    .write_memory(offset, bytes),
            };
            written.map_err(|e| core_error(&env, &e))
        })
    }
}
