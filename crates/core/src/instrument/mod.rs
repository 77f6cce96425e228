//! The instrumenter: feature check → stack-type map → per-function resume
//! pass (metering, normalization, unwind/rewind) → glue (reserved exports,
//! start function, unwind memory) → validation.
//!
//! Everything the host needs to snapshot and restore is exported under names
//! starting with [`RESERVED_PREFIX`]; guest exports with such names are
//! removed, so the guest cannot collide with them.

mod analyze;
mod costs;
mod liveness;
mod pin;
mod resume;

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};
use walrus::ir::{
    BinaryOp, Const, GlobalSet, Instr, InstrLocId, InstrSeqId, LoadSimdKind, UnaryOp, Value,
};
use walrus::{
    ConstExpr, DataKind, ElementKind, FunctionBuilder, FunctionId, FunctionKind, GlobalId,
    ImportKind, MemoryId, ModuleConfig, ValType,
};

pub use analyze::{accepted_features, output_features};
pub use costs::{CostTable, DEFAULT_COSTS};

use crate::error::{Error, Result};
use crate::value::ValueType;
use resume::{CallInfo, FuncPass, RuntimeIds};

/// Prefix of every export the instrumenter adds.
pub const RESERVED_PREFIX: &str = "__ws_";
/// Exported names of the runtime globals and memories.
pub mod names {
    pub const GAS: &str = "__ws_gas";
    pub const GAS_SAVED: &str = "__ws_gas_saved";
    pub const STATE: &str = "__ws_state";
    pub const UNWIND_PTR: &str = "__ws_uw_ptr";
    pub const DEPTH: &str = "__ws_depth";
    /// Set to 1 by the guest before it writes its memory (see
    /// `mark_memory_writes`); the host clears it.
    pub const WROTE: &str = "__ws_wrote";
    pub const UNWIND_MEMORY: &str = "__ws_unwind";
    pub const MEMORY: &str = "__ws_mem";
    pub const START: &str = "__ws_start";
    pub const RESTORE_DROPS: &str = "__ws_restore_drops";
    pub const TRAP_CALL_DEPTH: &str = "__ws_trap_call_depth";
    pub const TRAP_CORRUPT: &str = "__ws_trap_corrupt_unwind";
    /// Prefix of exported mutable guest globals (`__ws_g0`, `__ws_g1`, ...).
    pub const GLOBAL_PREFIX: &str = "__ws_g";
    /// Prefix of the dropped-segment mask globals.
    pub const DROP_MASK_PREFIX: &str = "__ws_drop";
    /// The guest's table.
    pub const TABLE: &str = "__ws_table";
    /// Prefix of functions that can be in the table (`__ws_f0`, ...).
    pub const TABLE_FUNC_PREFIX: &str = "__ws_f";
}

/// Values of `__ws_state`.
pub mod state {
    pub const NORMAL: i32 = 0;
    pub const UNWINDING: i32 = 1;
    pub const REWINDING: i32 = 2;
}

/// The gas balance the host sets while rewinding (the real one waits in
/// `__ws_gas_saved`): no check fires on the way back, and it stays at or
/// above 2^62 (function entries take that as "rewinding").
pub const REWIND_FAKE_GAS: i64 = i64::MAX;

/// Largest gas balance an executor keeps (2^62 - 1, about 4.6e18): function
/// entries treat balances from 2^62 on as a rewind in progress.
pub const MAX_BALANCE: i64 = (1 << 62) - 1;

/// Largest function body wasm implementations accept (wasmparser's and
/// wasmtime's limit).
const MAX_FUNCTION_BODY: usize = 7_654_321;

/// Default call-depth budget in bytes of estimated frame size.
pub const DEFAULT_STACK_BUDGET: u32 = 512 * 1024;

/// Options that change the instrumented code.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InstrumentConfig {
    pub costs: CostTable,
    /// Budget for the call-depth limit, in bytes of estimated frame size
    /// (each non-leaf function counts its unwind frame plus its operand
    /// stack). Exceeding it traps with "call depth exceeded".
    pub stack_budget: u32,
    /// Initial value of the gas global. The runtime sets the balance before
    /// every run, so it leaves this at 0. To run an instrumented module in
    /// another engine (differential tests), set it large and, like the
    /// runtime, call `__ws_start` (the former start function) first and
    /// reset `__ws_depth` to 0 before every call into the module.
    pub initial_gas: i64,
}

impl Default for InstrumentConfig {
    fn default() -> Self {
        InstrumentConfig {
            costs: CostTable::default(),
            stack_budget: DEFAULT_STACK_BUDGET,
            initial_gas: 0,
        }
    }
}

/// A function import of the guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncImport {
    pub module: String,
    pub name: String,
    pub params: Vec<ValueType>,
    pub results: Vec<ValueType>,
}

/// The guest's linear memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryInfo {
    pub initial_pages: u64,
    pub maximum_pages: Option<u64>,
    /// `Some((module, name))` when the guest imports it.
    pub import: Option<(String, String)>,
}

/// Result of [`instrument`].
#[derive(Clone, Debug)]
pub struct Instrumented {
    /// The instrumented module.
    pub wasm: Vec<u8>,
    /// SHA-256 of `wasm`.
    pub fingerprint: [u8; 32],
    pub func_imports: Vec<FuncImport>,
    /// Imports other than functions and the memory, as `module.name (kind)`.
    pub other_imports: Vec<String>,
    pub memory: Option<MemoryInfo>,
    pub has_start: bool,
    /// Number of exported mutable guest globals (`__ws_g0..`).
    pub mutable_globals: u32,
    /// Number of dropped-segment mask globals (`__ws_drop0..`).
    pub drop_masks: u32,
    /// The module changes its table at run time (table.copy/table.init):
    /// snapshots then record the table as indices into the functions
    /// exported as `__ws_f0..__ws_f{table_funcs}`.
    pub mutates_tables: bool,
    /// Number of functions exported for table snapshots.
    pub table_funcs: u32,
    /// Pages of the private unwind memory.
    pub unwind_pages: u64,
}

/// Instruments `wasm` for metered, pausable execution.
///
/// Never panics on any input: malformed modules give
/// [`Error::InvalidWasm`], modules using features outside
/// [`accepted_features`] give [`Error::UnsupportedFeature`]. Runs on a
/// thread with a large stack so deeply nested code cannot overflow it.
pub fn instrument(wasm: &[u8], config: &InstrumentConfig) -> Result<Instrumented> {
    let wasm = wasm.to_vec();
    let config = config.clone();
    let handle = std::thread::Builder::new()
        .name("wasm-sandbox-instrument".into())
        .stack_size(512 * 1024 * 1024)
        .spawn(move || {
            std::panic::catch_unwind(|| instrument_inner(&wasm, &config)).unwrap_or_else(|p| {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                Err(Error::Internal(format!("instrumenter panicked: {msg}")))
            })
        })
        .map_err(|e| Error::Internal(format!("cannot start instrumenter thread: {e}")))?;
    handle
        .join()
        .unwrap_or_else(|_| Err(Error::Internal("instrumenter thread failed".into())))
}

fn value_type(t: ValType) -> Result<ValueType> {
    Ok(match t {
        ValType::I32 => ValueType::I32,
        ValType::I64 => ValueType::I64,
        ValType::F32 => ValueType::F32,
        ValType::F64 => ValueType::F64,
        other => {
            return Err(Error::UnsupportedFeature(format!(
                "value type {other:?} in a function signature"
            )))
        }
    })
}

fn instrument_inner(wasm: &[u8], config: &InstrumentConfig) -> Result<Instrumented> {
    let stack_map = analyze::analyze(wasm)?;
    let mut module = ModuleConfig::new()
        .generate_producers_section(false)
        .generate_dwarf(false)
        .parse(wasm)
        .map_err(|e| Error::InvalidWasm(format!("{e:#}")))?;

    // Only the name section survives (other custom sections would describe
    // code offsets that no longer exist).
    let custom_ids: Vec<_> = module.customs.iter().map(|(id, _)| id).collect();
    for id in custom_ids {
        module.customs.delete(id);
    }
    if module.memories.iter().count() > 1 || module.tables.iter().count() > 1 {
        return Err(Error::UnsupportedFeature(
            "multiple memories or tables".into(),
        ));
    }
    check_references(&module)?;

    // Imports.
    let mut func_imports = Vec::new();
    let mut other_imports = Vec::new();
    let mut memory_import = None;
    for imp in module.imports.iter() {
        match imp.kind {
            ImportKind::Function(f) => {
                let ty = module.types.get(module.funcs.get(f).ty());
                func_imports.push(FuncImport {
                    module: imp.module.clone(),
                    name: imp.name.clone(),
                    params: ty
                        .params()
                        .iter()
                        .map(|t| value_type(*t))
                        .collect::<Result<_>>()?,
                    results: ty
                        .results()
                        .iter()
                        .map(|t| value_type(*t))
                        .collect::<Result<_>>()?,
                });
            }
            ImportKind::Memory(_) => {
                memory_import = Some((imp.module.clone(), imp.name.clone()));
            }
            ImportKind::Global(_) => {
                other_imports.push(format!("{}.{} (global)", imp.module, imp.name))
            }
            ImportKind::Table(_) => {
                other_imports.push(format!("{}.{} (table)", imp.module, imp.name))
            }
            ImportKind::Tag(_) => other_imports.push(format!("{}.{} (tag)", imp.module, imp.name)),
        }
    }
    let guest_memory = module.memories.iter().next().map(|m| {
        (
            m.id(),
            MemoryInfo {
                initial_pages: m.initial,
                maximum_pages: m.maximum,
                import: memory_import.clone(),
            },
        )
    });

    // Runtime globals.
    let g_i64 = |m: &mut walrus::Module, v: i64| {
        m.globals
            .add_local(ValType::I64, true, false, ConstExpr::Value(Value::I64(v)))
    };
    let gas = g_i64(&mut module, config.initial_gas);
    let gas_saved = g_i64(&mut module, 0);
    let g_i32 = |m: &mut walrus::Module| {
        m.globals
            .add_local(ValType::I32, true, false, ConstExpr::Value(Value::I32(0)))
    };
    let state = g_i32(&mut module);
    let uw_ptr = g_i32(&mut module);
    let depth = g_i32(&mut module);
    let wrote = g_i32(&mut module);
    let unwind_mem = module.memories.add_local(false, false, 1, Some(1), None);

    let trap_fn = |m: &mut walrus::Module, name: &str| -> FunctionId {
        let mut b = FunctionBuilder::new(&mut m.types, &[], &[]);
        b.name(name.to_string());
        b.func_body().unreachable();
        b.finish(vec![], &mut m.funcs)
    };
    let trap_call_depth = trap_fn(&mut module, names::TRAP_CALL_DEPTH);
    let trap_corrupt = trap_fn(&mut module, names::TRAP_CORRUPT);

    // Dropped-segment bits.
    let mut drop_masks = Vec::new();
    let mut data_drop_bits = HashMap::new();
    let mut elem_drop_bits = HashMap::new();
    let mut bit = 64u32;
    let passive_data: Vec<_> = module
        .data
        .iter()
        .filter(|d| matches!(d.kind, DataKind::Passive))
        .map(|d| d.id())
        .collect();
    for id in passive_data {
        if bit == 64 {
            drop_masks.push(g_i64(&mut module, 0));
            bit = 0;
        }
        data_drop_bits.insert(id, (*drop_masks.last().unwrap(), bit));
        bit += 1;
    }
    let passive_elems: Vec<_> = module
        .elements
        .iter()
        .filter(|e| matches!(e.kind, ElementKind::Passive))
        .map(|e| e.id())
        .collect();
    for id in passive_elems {
        if bit == 64 {
            drop_masks.push(g_i64(&mut module, 0));
            bit = 0;
        }
        elem_drop_bits.insert(id, (*drop_masks.last().unwrap(), bit));
        bit += 1;
    }

    let ids = RuntimeIds {
        gas,
        gas_saved,
        state,
        uw_ptr,
        depth,
        unwind_mem,
        trap_call_depth,
        trap_corrupt,
        data_drop_bits: data_drop_bits.clone(),
        elem_drop_bits: elem_drop_bits.clone(),
    };

    let imported: HashSet<FunctionId> = module
        .funcs
        .iter()
        .filter(|f| matches!(f.kind, FunctionKind::Import(_)))
        .map(|f| f.id())
        .collect();
    let func_types: HashMap<FunctionId, walrus::TypeId> =
        module.funcs.iter().map(|f| (f.id(), f.ty())).collect();
    let leaves: HashSet<FunctionId> = module
        .funcs
        .iter_local()
        .filter(|(_, f)| resume::is_non_pausing_leaf(f, &imported))
        .map(|(id, _)| id)
        .collect();
    let metered_imports: HashSet<FunctionId> = module
        .funcs
        .iter()
        .filter(|f| match f.kind {
            FunctionKind::Import(ref i) => {
                module.imports.get(i.import).module == crate::wasi::MODULE
            }
            _ => false,
        })
        .map(|f| f.id())
        .collect();
    let calls = CallInfo {
        imported: &imported,
        leaves: &leaves,
        metered_imports: &metered_imports,
    };
    let mut mutates_tables = false;
    // Calls after which no run can start (see `mark_memory_writes`).
    let plain_calls: HashSet<FunctionId> = imported.union(&leaves).copied().collect();

    // The guest's local functions, in index order (matches the stack map).
    let guest_funcs: Vec<FunctionId> = module
        .funcs
        .iter_local()
        .map(|(id, _)| id)
        .filter(|id| *id != trap_call_depth && *id != trap_corrupt)
        .collect();
    if guest_funcs.len() != stack_map.funcs.len() {
        return Err(Error::Internal(format!(
            "stack map has {} functions, module has {}",
            stack_map.funcs.len(),
            guest_funcs.len()
        )));
    }
    let mut max_frame = 0u32;
    let mut max_weight = 0u32;
    let mut pins = pin::PinGlobals::default();
    {
        let walrus::Module {
            funcs,
            locals,
            types,
            globals,
            ..
        } = &mut module;
        for (ordinal, fid) in guest_funcs.iter().enumerate() {
            let pass = FuncPass {
                ids: &ids,
                costs: &config.costs,
                calls: &calls,
                stack: &stack_map.funcs[ordinal],
                func_index: ordinal as u32,
                depth_budget: config.stack_budget,
                func_types: &func_types,
            };
            // The function as a reader of the module knows it: its index
            // (imports first) and its name, if the name section gives one.
            let where_ = match &funcs.get(*fid).name {
                Some(name) => format!("function {} \"{name}\"", imported.len() + ordinal),
                None => format!("function {}", imported.len() + ordinal),
            };
            let func = funcs.get_mut(*fid).kind.unwrap_local_mut();
            mutates_tables |= uses_table_ops(func);
            let is_leaf = leaves.contains(fid);
            // Leaves keep one copy of their code: nothing to pin.
            let stored = if is_leaf {
                Vec::new()
            } else {
                pin::loop_stored_constants(func)
            };
            let report = pass
                .run(func, locals, types, is_leaf)
                .map_err(|e| match e {
                    Error::Internal(m) => Error::Internal(format!("function {ordinal}: {m}")),
                    Error::UnsupportedFeature(m) => {
                        Error::UnsupportedFeature(format!("{m} in {where_}"))
                    }
                    other => other,
                })?;
            if let Some((mem, _)) = &guest_memory {
                mark_memory_writes(func, *mem, wrote, gas_saved, &plain_calls);
            }
            pins.pin(globals, func, &stored);
            max_frame = max_frame.max(report.frame_bytes);
            max_weight = max_weight.max(report.depth_weight);
        }
    }
    if max_weight > config.stack_budget {
        return Err(Error::UnsupportedModule(format!(
            "a function's frame ({max_weight} bytes estimated) exceeds the call-depth budget \
             ({} bytes)",
            config.stack_budget
        )));
    }

    // Unwind memory: every non-leaf frame fits the budget, plus one leaf.
    let unwind_bytes = config.stack_budget as u64 + max_frame as u64 + 64;
    let unwind_pages = unwind_bytes.div_ceil(65536);
    {
        let m = module.memories.get_mut(unwind_mem);
        m.initial = unwind_pages;
        m.maximum = Some(unwind_pages);
    }

    // Start function becomes an export; the host runs it first.
    let start = module.start.take();

    // Segment-drop replay.
    let restore_drops = {
        let mut b = FunctionBuilder::new(&mut module.types, &[], &[]);
        b.name(names::RESTORE_DROPS.to_string());
        let mut body = b.func_body();
        let mut entries: Vec<(GlobalIdBit, Instr)> = Vec::new();
        for (d, (g, bit)) in &data_drop_bits {
            entries.push((
                (*g, *bit),
                Instr::DataDrop(walrus::ir::DataDrop { data: *d }),
            ));
        }
        for (e, (g, bit)) in &elem_drop_bits {
            entries.push((
                (*g, *bit),
                Instr::ElemDrop(walrus::ir::ElemDrop { elem: *e }),
            ));
        }
        entries.sort_by_key(|((g, bit), _)| (g.index(), *bit));
        for ((g, bit), drop) in entries {
            body.global_get(g)
                .i64_const(1i64 << bit)
                .binop(BinaryOp::I64And)
                .unop(UnaryOp::I64Eqz)
                .if_else(
                    None,
                    |_| {},
                    |e| {
                        e.instr(drop);
                    },
                );
        }
        b.finish(vec![], &mut module.funcs)
    };

    // Exports: drop reserved guest names, add ours.
    let reserved: Vec<_> = module
        .exports
        .iter()
        .filter(|e| e.name.starts_with(RESERVED_PREFIX))
        .map(|e| e.id())
        .collect();
    for id in reserved {
        module.exports.delete(id);
    }
    let mut mutable_globals = 0u32;
    let guest_globals: Vec<_> = module
        .globals
        .iter()
        .filter(|g| {
            g.mutable
                && ![gas, gas_saved, state, uw_ptr, depth, wrote].contains(&g.id())
                && !drop_masks.contains(&g.id())
                && !pins.contains(g.id())
        })
        .map(|g| (g.id(), g.ty))
        .collect();
    for (g, ty) in guest_globals {
        if !matches!(
            ty,
            ValType::I32 | ValType::I64 | ValType::F32 | ValType::F64
        ) {
            return Err(Error::UnsupportedFeature(format!(
                "mutable global of type {ty:?}"
            )));
        }
        module
            .exports
            .add(&format!("{}{}", names::GLOBAL_PREFIX, mutable_globals), g);
        mutable_globals += 1;
    }
    for (i, g) in drop_masks.iter().enumerate() {
        module
            .exports
            .add(&format!("{}{}", names::DROP_MASK_PREFIX, i), *g);
    }
    module.exports.add(names::GAS, gas);
    module.exports.add(names::GAS_SAVED, gas_saved);
    module.exports.add(names::STATE, state);
    module.exports.add(names::UNWIND_PTR, uw_ptr);
    module.exports.add(names::DEPTH, depth);
    module.exports.add(names::WROTE, wrote);
    module.exports.add(names::UNWIND_MEMORY, unwind_mem);
    module.exports.add(names::RESTORE_DROPS, restore_drops);
    if let Some((mem, _)) = &guest_memory {
        module.exports.add(names::MEMORY, *mem);
    }
    if let Some(s) = start {
        module.exports.add(names::START, s);
    }
    let mut table_funcs = 0u32;
    if mutates_tables {
        if let Some(t) = module.tables.iter().next().map(|t| t.id()) {
            module.exports.add(names::TABLE, t);
        }
        let mut seen = HashSet::new();
        let mut funcs = Vec::new();
        for el in module.elements.iter() {
            let ids: Vec<FunctionId> = match &el.items {
                walrus::ElementItems::Functions(f) => f.clone(),
                walrus::ElementItems::Expressions(_, exprs) => exprs
                    .iter()
                    .filter_map(|e| match e {
                        ConstExpr::RefFunc(f) => Some(*f),
                        _ => None,
                    })
                    .collect(),
            };
            for f in ids {
                if seen.insert(f) {
                    funcs.push(f);
                }
            }
        }
        for f in funcs {
            module
                .exports
                .add(&format!("{}{table_funcs}", names::TABLE_FUNC_PREFIX), f);
            table_funcs += 1;
        }
    }

    let out = module.emit_wasm();
    // Instrumentation grows function bodies; one past the wasm limit is a
    // module we cannot run, not an internal error.
    let mut ordinal = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(&out) {
        if let Ok(wasmparser::Payload::CodeSectionEntry(body)) = payload {
            let size = body.range().len();
            if size > MAX_FUNCTION_BODY {
                return Err(Error::UnsupportedModule(format!(
                    "function {ordinal} is {size} bytes after instrumentation, over the \
                     {}-byte limit of a wasm function body",
                    MAX_FUNCTION_BODY
                )));
            }
            ordinal += 1;
        }
    }
    wasmparser::Validator::new_with_features(output_features())
        .validate_all(&out)
        .map_err(|e| Error::Internal(format!("instrumented module does not validate: {e}")))?;
    let fingerprint: [u8; 32] = Sha256::digest(&out).into();
    Ok(Instrumented {
        wasm: out,
        fingerprint,
        func_imports,
        other_imports,
        memory: guest_memory.map(|(_, m)| m),
        has_start: start.is_some(),
        mutable_globals,
        drop_masks: drop_masks.len() as u32,
        mutates_tables,
        table_funcs,
        unwind_pages,
    })
}

type GlobalIdBit = (walrus::GlobalId, u32);

/// Refuses the parts of reference types the unwinder and snapshots cannot
/// handle, naming the offending item.
fn check_references(module: &walrus::Module) -> Result<()> {
    for f in module.funcs.iter() {
        let ty = module.types.get(f.ty());
        if ty
            .params()
            .iter()
            .chain(ty.results())
            .any(|t| matches!(t, ValType::Ref(_)))
        {
            let name = f
                .name
                .clone()
                .unwrap_or_else(|| format!("#{}", f.id().index()));
            return Err(Error::UnsupportedFeature(format!(
                "reference-typed parameters or results (function {name})"
            )));
        }
        if let FunctionKind::Local(local) = &f.kind {
            if uses_table_grow_or_fill(local) {
                return Err(Error::UnsupportedFeature(
                    "table.grow / table.fill (reference values cannot be saved at a pause point)"
                        .into(),
                ));
            }
        }
    }
    for g in module.globals.iter() {
        if g.mutable && matches!(g.ty, ValType::Ref(_)) {
            return Err(Error::UnsupportedFeature(
                "mutable reference-typed globals".into(),
            ));
        }
    }
    for t in module.tables.iter() {
        if t.element_ty != walrus::RefType::FUNCREF {
            return Err(Error::UnsupportedFeature(format!(
                "tables of {:?} (only funcref tables are supported)",
                t.element_ty
            )));
        }
    }
    Ok(())
}

/// Puts `global.set $wrote (i32.const 1)` in the instrumented `func` before
/// its writes to the guest memory `mem`: the host clears the flag while the
/// guest is paused, and a snapshot whose memory nothing has written since
/// the last snapshot or restore reads only the pages that may be nonzero
/// (see `Live::nonzero_pages` in the runtime).
///
/// A run starts at the function entry or resumes at a pause site, so every
/// path from such a point to a write must set the flag first. One set
/// covers the writes after it up to the next point where a run may start:
/// the start of the function and of every loop body (entries and loop
/// headers are pause sites), and the point after a call to a guest
/// function that may pause and after any construct holding one of these or
/// a rewind's finish (the only code that reads `gas_saved`): a resumed run
/// continues right there. Blocks and arms without such points continue the
/// enclosing stretch. A loop whose body holds no such point can start a run
/// only at its header, where a rewind finishes before the `loop`: it gets
/// one set in front of it instead of one per iteration. Runs after
/// metering: the sets cost no gas.
fn mark_memory_writes(
    func: &mut walrus::LocalFunction,
    mem: MemoryId,
    wrote: GlobalId,
    gas_saved: GlobalId,
    plain_calls: &HashSet<FunctionId>,
) {
    let pass = WriteFlag {
        mem,
        wrote,
        gas_saved,
        plain_calls,
    };
    let entry = func.entry_block();
    pass.mark(func, entry, false);
}

/// The ids [`mark_memory_writes`] works with.
struct WriteFlag<'a> {
    mem: MemoryId,
    wrote: GlobalId,
    gas_saved: GlobalId,
    /// Calls after which no run can start (imports, non-pausing leaves).
    plain_calls: &'a HashSet<FunctionId>,
}

impl WriteFlag<'_> {
    /// Whether a run may start right after `i` (nested sequences aside):
    /// a loop (its header), a call that may pause, a rewind's finish.
    fn starts_run(&self, i: &Instr) -> bool {
        match i {
            Instr::Loop(_) | Instr::CallIndirect(_) => true,
            Instr::Call(c) => !self.plain_calls.contains(&c.func),
            Instr::GlobalGet(g) => g.global == self.gas_saved,
            _ => false,
        }
    }

    /// `global.set $wrote (i32.const 1)`.
    fn set(&self, out: &mut Vec<(Instr, InstrLocId)>, loc: InstrLocId) {
        out.push((
            Instr::Const(Const {
                value: Value::I32(1),
            }),
            loc,
        ));
        out.push((Instr::GlobalSet(GlobalSet { global: self.wrote }), loc));
    }

    /// Marks the sequence `seq`, entered with the flag set (`flagged`) or
    /// not. Returns whether a run may start inside it.
    fn mark(&self, func: &mut walrus::LocalFunction, seq: InstrSeqId, mut flagged: bool) -> bool {
        let instrs = std::mem::take(&mut func.block_mut(seq).instrs);
        let mut out = Vec::with_capacity(instrs.len());
        let mut starts_inside = false;
        for (instr, loc) in instrs {
            let resumes_after = match &instr {
                Instr::Loop(l) => {
                    let (starts, writes_inside) = self.scan(func, l.seq);
                    if starts {
                        self.mark(func, l.seq, false);
                        true
                    } else {
                        // Only the header can start a run (its finish comes
                        // before the `loop`): one set in front of the loop
                        // covers every iteration.
                        if writes_inside && !flagged {
                            self.set(&mut out, loc);
                            flagged = true;
                        }
                        self.mark(func, l.seq, flagged);
                        false
                    }
                }
                Instr::Block(_) | Instr::IfElse(_) => {
                    let mut inner = false;
                    for s in resume::nested(&instr).collect::<Vec<_>>() {
                        inner |= self.mark(func, s, flagged);
                    }
                    inner
                }
                i if self.starts_run(i) => true,
                i => {
                    if !flagged && writes_memory(i, self.mem) {
                        self.set(&mut out, loc);
                        flagged = true;
                    }
                    false
                }
            };
            out.push((instr, loc));
            if resumes_after {
                flagged = false;
                starts_inside = true;
            }
        }
        func.block_mut(seq).instrs = out;
        starts_inside
    }

    /// Whether a run may start inside the sequence `seq` and whether it
    /// writes the memory; stops looking at the first place a run may start.
    fn scan(&self, func: &walrus::LocalFunction, seq: InstrSeqId) -> (bool, bool) {
        let mut wrote = false;
        let mut stack = vec![seq];
        while let Some(s) = stack.pop() {
            for (i, _) in &func.block(s).instrs {
                if self.starts_run(i) {
                    return (true, wrote);
                }
                wrote |= writes_memory(i, self.mem);
                stack.extend(resume::nested(i));
            }
        }
        (false, wrote)
    }
}

/// Whether `i` writes the memory `mem`.
fn writes_memory(i: &Instr, mem: MemoryId) -> bool {
    match i {
        Instr::Store(x) => x.memory == mem,
        Instr::AtomicRmw(x) => x.memory == mem,
        Instr::Cmpxchg(x) => x.memory == mem,
        Instr::MemoryFill(x) => x.memory == mem,
        Instr::MemoryCopy(x) => x.dst == mem,
        Instr::MemoryInit(x) => x.memory == mem,
        Instr::LoadSimd(x) => {
            x.memory == mem
                && matches!(
                    x.kind,
                    LoadSimdKind::V128Store8Lane(_)
                        | LoadSimdKind::V128Store16Lane(_)
                        | LoadSimdKind::V128Store32Lane(_)
                        | LoadSimdKind::V128Store64Lane(_)
                )
        }
        _ => false,
    }
}

fn uses_table_grow_or_fill(func: &walrus::LocalFunction) -> bool {
    resume::any_instr(func, |i| {
        matches!(i, Instr::TableGrow(_) | Instr::TableFill(_))
    })
}

fn uses_table_ops(func: &walrus::LocalFunction) -> bool {
    resume::any_instr(func, |i| {
        matches!(
            i,
            Instr::TableCopy(_)
                | Instr::TableInit(_)
                | Instr::TableSet(_)
                | Instr::TableGrow(_)
                | Instr::TableFill(_)
        )
    })
}
