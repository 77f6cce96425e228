//! The process-wide wasmtime engines and the compiled-program cache.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, Weak};

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
    /// The module as it was passed in (the cache compares it in full).
    original: Box<[u8]>,
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

/// Compiled programs by the bytes and options they were compiled from.
///
/// A lookup hashes the bytes with a fast keyed hash (foldhash, seeded at
/// random per process) and then compares them in full with each program
/// under that hash: a hash match alone is never trusted, so no crafted
/// module can be mistaken for another, and no lookup pays for a
/// cryptographic hash of the whole module (with SHA-256 as the key, a
/// cached `new Executor` of a 133 KB module took 99 us from JS on a CPU
/// with SHA instructions; 14-22 us now).
struct Cache {
    weak: HashMap<u64, Vec<Weak<Program>>>,
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

/// The cache's hash of a module and its options (a bucket, not an
/// identity: see [`Cache`]).
fn cache_hash(wasm: &[u8], options: &ProgramOptions) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    static SEED: OnceLock<foldhash::fast::RandomState> = OnceLock::new();
    let mut h = SEED.get_or_init(Default::default).build_hasher();
    options.hash(&mut h);
    h.write(wasm);
    h.finish()
}

impl Cache {
    /// The live program compiled from exactly these bytes and options.
    fn find(&self, hash: u64, wasm: &[u8], options: &ProgramOptions) -> Option<Arc<Program>> {
        self.weak
            .get(&hash)?
            .iter()
            .filter_map(Weak::upgrade)
            .find(|p| p.options == *options && *p.original == *wasm)
    }
}

impl Program {
    /// Instruments and compiles `wasm`, or returns the cached program for
    /// the same bytes and options.
    pub fn load(wasm: &[u8], options: &ProgramOptions) -> Result<Arc<Program>> {
        let hash = cache_hash(wasm, options);
        let found = cache()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .find(hash, wasm, options);
        if let Some(p) = found {
            return Ok(p);
        }
        let program = Arc::new(Program::compile(wasm, options)?);
        let mut c = cache().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = c.find(hash, wasm, options) {
            return Ok(existing);
        }
        c.weak.retain(|_, programs| {
            programs.retain(|w| w.strong_count() > 0);
            !programs.is_empty()
        });
        c.weak
            .entry(hash)
            .or_default()
            .push(Arc::downgrade(&program));
        c.recent.push_back(program.clone());
        if c.recent.len() > RECENT {
            c.recent.pop_front();
        }
        Ok(program)
    }

    fn compile(wasm: &[u8], options: &ProgramOptions) -> Result<Program> {
        // Compiled from the copy the cache compares with later (the caller's
        // bytes may be a view of memory another thread can change).
        let original: Box<[u8]> = wasm.into();
        let info = instrument(
            &original,
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
            original,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_match_alone_never_finds_a_program() {
        let wasm = wat::parse_str(r#"(module (func (export "entry")))"#).unwrap();
        let options = ProgramOptions::default();
        let program = Program::load(&wasm, &options).unwrap();
        let mut cache = Cache {
            weak: HashMap::new(),
            recent: VecDeque::new(),
        };
        // As if other bytes or options had hashed the same.
        cache.weak.insert(7, vec![Arc::downgrade(&program)]);
        let found = cache.find(7, &wasm, &options).unwrap();
        assert!(Arc::ptr_eq(&found, &program));
        let mut other = wasm.clone();
        *other.last_mut().unwrap() ^= 1;
        assert!(cache.find(7, &other, &options).is_none());
        assert!(cache.find(7, &wasm[..wasm.len() - 1], &options).is_none());
        let nans = ProgramOptions {
            canonicalize_nans: true,
            ..Default::default()
        };
        assert!(cache.find(7, &wasm, &nans).is_none());
        assert!(cache.find(8, &wasm, &options).is_none());
    }
}
