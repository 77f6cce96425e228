//! The process-wide wasmtime engines and the compiled-program cache.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use sha2::{Digest, Sha256};
use wasmtime::{Config, Engine, Module, OptLevel, WasmFeatures};

use crate::error::{Error, Result};
use crate::instrument::{instrument, CostTable, InstrumentConfig, Instrumented};
use crate::FuncImport;

/// Options that change how a program is instrumented or compiled (part of
/// the cache key and of the snapshot fingerprint check).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ProgramOptions {
    pub costs: CostTable,
    /// Canonicalize NaNs produced by float operations (bit-exact results
    /// across CPU architectures; slower on float-heavy code).
    pub canonicalize_nans: bool,
}

/// Native stack wasm may use, beyond which wasmtime traps. Our own
/// call-depth budget (512 KiB of estimated frames) trips well before.
const MAX_WASM_STACK: usize = 2 * 1024 * 1024;

/// The wasmtime settings of the executors' engines. Benchmarks build
/// reference engines from it (the original module with wasmtime's own fuel
/// metering, say) that differ from ours in nothing else.
pub fn engine_config(canonicalize_nans: bool) -> Config {
    let mut c = Config::new();
    c.cranelift_opt_level(OptLevel::Speed);
    c.cranelift_nan_canonicalization(canonicalize_nans);
    c.max_wasm_stack(MAX_WASM_STACK);
    // Only what the instrumented code uses (multi-memory: the private
    // unwind memory).
    c.wasm_features(WasmFeatures::all(), false);
    c.wasm_features(
        WasmFeatures::MUTABLE_GLOBAL
            | WasmFeatures::REFERENCE_TYPES
            | WasmFeatures::SATURATING_FLOAT_TO_INT
            | WasmFeatures::SIGN_EXTENSION
            | WasmFeatures::MULTI_VALUE
            | WasmFeatures::BULK_MEMORY
            | WasmFeatures::FLOATS
            | WasmFeatures::MULTI_MEMORY,
        true,
    );
    c
}

fn make_engine(canonicalize_nans: bool) -> Engine {
    Engine::new(&engine_config(canonicalize_nans)).expect("static engine configuration is valid")
}

fn engine(canonicalize_nans: bool) -> &'static Engine {
    static PLAIN: OnceLock<Engine> = OnceLock::new();
    static CANONICAL: OnceLock<Engine> = OnceLock::new();
    if canonicalize_nans {
        CANONICAL.get_or_init(|| make_engine(true))
    } else {
        PLAIN.get_or_init(|| make_engine(false))
    }
}

/// An instrumented and compiled module, shared by all executors of it.
pub struct Program {
    info: Instrumented,
    module: Module,
    options: ProgramOptions,
    exports: Vec<String>,
    /// The state right after instantiation, taken from the first executor:
    /// what a recycled instance is reset to (see `runtime::pool`).
    initial: std::sync::OnceLock<crate::snapshot::Snapshot>,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("imports", &self.info.func_imports)
            .field("options", &self.options)
            .finish()
    }
}

struct Cache {
    weak: HashMap<[u8; 32], Weak<Program>>,
    /// Recently used programs stay compiled even without live executors.
    recent: VecDeque<Arc<Program>>,
}

const RECENT: usize = 16;

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(|| {
        Mutex::new(Cache {
            weak: HashMap::new(),
            recent: VecDeque::new(),
        })
    })
}

fn cache_key(wasm: &[u8], options: &ProgramOptions) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"wasm-sandbox program v2\0");
    // Every option as a fixed-width field (formatting them as a `Debug`
    // string cost more than hashing a small module). The pattern names
    // every field, so a new option cannot be left out of the key.
    let ProgramOptions {
        costs:
            CostTable {
                instruction,
                call,
                host_call,
                memory_grow_per_page,
                bulk_memory_per_8_bytes,
                bulk_table_per_element,
            },
        canonicalize_nans,
    } = options;
    for field in [
        instruction,
        call,
        host_call,
        memory_grow_per_page,
        bulk_memory_per_8_bytes,
        bulk_table_per_element,
    ] {
        h.update(field.to_le_bytes());
    }
    h.update([*canonicalize_nans as u8]);
    h.update((wasm.len() as u64).to_le_bytes());
    h.update(wasm);
    h.finalize().into()
}

impl Program {
    /// Instruments and compiles `wasm`, or returns the cached program for
    /// the same bytes and options.
    pub fn load(wasm: &[u8], options: &ProgramOptions) -> Result<Arc<Program>> {
        let key = cache_key(wasm, options);
        if let Some(p) = lookup(&key) {
            return Ok(p);
        }
        let program = Arc::new(Program::compile(wasm, options)?);
        let mut c = cache().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = c.weak.get(&key).and_then(Weak::upgrade) {
            return Ok(existing);
        }
        c.weak.retain(|_, w| w.strong_count() > 0);
        c.weak.insert(key, Arc::downgrade(&program));
        c.recent.push_back(program.clone());
        if c.recent.len() > RECENT {
            c.recent.pop_front();
        }
        Ok(program)
    }

    fn compile(wasm: &[u8], options: &ProgramOptions) -> Result<Program> {
        let info = instrument(
            wasm,
            &InstrumentConfig {
                costs: options.costs.clone(),
                ..InstrumentConfig::default()
            },
        )?;
        let engine = engine(options.canonicalize_nans);
        let module = Module::new(engine, &info.wasm).map_err(|e| {
            let message = format!("{e:#}");
            if message.contains("implementation limit") {
                // Valid wasm beyond what the compiler handles (e.g. a
                // `br_table` with more than 65,520 targets).
                Error::UnsupportedModule(message)
            } else {
                Error::Internal(format!("compiling the instrumented module: {message}"))
            }
        })?;
        let exports = module.exports().map(|e| e.name().to_string()).collect();
        Ok(Program {
            info,
            module,
            options: options.clone(),
            exports,
            initial: std::sync::OnceLock::new(),
        })
    }

    /// The guest's function imports, in import order.
    pub fn imports(&self) -> &[FuncImport] {
        &self.info.func_imports
    }
    /// Initial pages of the guest memory (`None` without memory).
    pub fn memory_min_pages(&self) -> Option<u64> {
        self.info.memory.as_ref().map(|m| m.initial_pages)
    }
    /// Declared maximum pages of the guest memory.
    pub fn memory_max_pages(&self) -> Option<u64> {
        self.info.memory.as_ref().and_then(|m| m.maximum_pages)
    }
    /// SHA-256 of the instrumented module.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.info.fingerprint
    }
    pub fn instrumented_wasm(&self) -> &[u8] {
        &self.info.wasm
    }
    pub fn options(&self) -> &ProgramOptions {
        &self.options
    }
    pub(crate) fn info(&self) -> &Instrumented {
        &self.info
    }
    pub(crate) fn initial_state(&self) -> &std::sync::OnceLock<crate::snapshot::Snapshot> {
        &self.initial
    }
    pub(crate) fn module(&self) -> &Module {
        &self.module
    }
    /// The process-wide engine this program is compiled for (benchmarks run
    /// the original module on it, with exactly the same settings).
    pub fn engine(&self) -> &Engine {
        self.module.engine()
    }
    pub(crate) fn has_export(&self, name: &str) -> bool {
        self.exports.iter().any(|e| e == name)
    }
}

fn lookup(key: &[u8; 32]) -> Option<Arc<Program>> {
    let c = cache().lock().unwrap_or_else(|e| e.into_inner());
    c.weak.get(key).and_then(Weak::upgrade)
}
