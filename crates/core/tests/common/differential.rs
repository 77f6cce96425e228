//! Differential oracle over wasm-smith modules (shared by the seeded test and
//! the cargo-fuzz target).
//!
//! Per module: the original runs in plain wasmtime; the instrumented module
//! (`__ws_gas` huge, start function back) runs in plain wasmtime too; and a
//! driver around the original (see `common::build_driver`) runs through the
//! `Executor` three times — one unlimited slice, random slices with the state
//! moved into a fresh executor through snapshot bytes at every pause, and
//! random slices in one executor where at one pause the snapshot is restored
//! both into the old executor and a fresh one that then run in lockstep.
//! Every run must give the same results or trap kinds, memory bytes and
//! exported globals, and the executor runs the same total gas.
//!
//! Call-depth / stack-overflow traps are inconclusive (frame sizes differ).
#![allow(dead_code)]

use std::sync::Arc;

use wasm_sandbox_core::{
    instrument, Error, Executor, InstrumentConfig, Program, ProgramOptions, Snapshot, TrapKind,
    Value,
};
use wasmtime::{Engine, Instance, Module, Store, StoreLimits, StoreLimitsBuilder, Val};

use crate::common::{
    build_driver, end_of, executor, migrate, standalone, try_executor, DriverHost, End, Rng,
    Slicing, Step, UNLIMITED_GAS,
};

pub const MEMORY_LIMIT_PAGES: u64 = 64;
/// Slices are sized for at most ~200 pauses; far more means no progress.
const MAX_PAUSES: u64 = 20_000;

/// The wasm-smith configuration of notes/instrumentation.md §4.2, with sizes
/// kept small so a smoke run stays fast.
#[allow(clippy::field_reassign_with_default)]
pub fn smith_config() -> wasm_smith::Config {
    let mut c = wasm_smith::Config::default();
    c.exceptions_enabled = false;
    c.gc_enabled = false;
    c.tail_call_enabled = false;
    c.threads_enabled = false;
    c.shared_everything_threads_enabled = false;
    c.memory64_enabled = false;
    c.relaxed_simd_enabled = false;
    c.wide_arithmetic_enabled = false;
    c.custom_page_sizes_enabled = false;
    c.custom_descriptors_enabled = false;
    c.extended_const_enabled = false;
    c.reference_types_enabled = false;
    c.simd_enabled = false;
    c.multi_value_enabled = true;
    c.bulk_memory_enabled = true;
    c.saturating_float_to_int_enabled = true;
    c.sign_extension_ops_enabled = true;
    c.max_memories = 1;
    c.max_tables = 1;
    c.max_imports = 0;
    c.export_everything = true;
    c.canonicalize_nans = true;
    c.allow_start_export = true;
    c.min_funcs = 1;
    c.max_funcs = 12;
    c.max_instructions = 200;
    c.max_globals = 8;
    c.max_types = 12;
    c.max_data_segments = 4;
    c.max_element_segments = 4;
    c.max_elements = 16;
    c.max_table_elements = 64;
    c.max_memory32_bytes = 16 * 65536;
    c
}

/// A wasm-smith module from `data`, made to terminate.
pub fn smith_module(data: &[u8]) -> Option<Vec<u8>> {
    smith_module_of(smith_config(), data)
}

/// [`smith_module`] with reference types on. Modules the instrumenter
/// refuses for what they do with references (or for the typed references
/// wasm-smith then also writes, which need GC) are not generated: they are
/// outside what the instrumenter promises to run; nor are modules without
/// an exported function to call (most that are left).
pub fn smith_module_with_references(data: &[u8]) -> Option<Vec<u8>> {
    let mut c = smith_config();
    c.reference_types_enabled = true;
    let wasm = smith_module_of(c, data)?;
    let exports_a_function = wasmparser::Parser::new(0)
        .parse_all(&wasm)
        .any(|p| match p {
            Ok(wasmparser::Payload::ExportSection(r)) => r
                .into_iter()
                .any(|e| matches!(e, Ok(e) if e.kind == wasmparser::ExternalKind::Func)),
            _ => false,
        });
    if !exports_a_function {
        return None;
    }
    match instrument(&wasm, &InstrumentConfig::default()) {
        Err(Error::UnsupportedFeature(m)) if m.contains("reference") || m.contains("gc ") => None,
        _ => Some(wasm),
    }
}

fn smith_module_of(config: wasm_smith::Config, data: &[u8]) -> Option<Vec<u8>> {
    let mut u = arbitrary::Unstructured::new(data);
    let mut m = wasm_smith::Module::new(config, &mut u).ok()?;
    m.ensure_termination(10_000).ok()?;
    Some(m.to_bytes())
}

#[derive(Clone, Debug, PartialEq)]
pub enum Res {
    Values(Vec<Value>),
    Trap(TrapKind),
    /// Stack overflow or our call-depth limit: frame sizes differ.
    Inconclusive,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PlainRun {
    /// `Some` when instantiation (the start function) trapped.
    pub start: Option<Res>,
    pub calls: Vec<Res>,
    pub memory: Option<Vec<u8>>,
    pub globals: Vec<(String, Value)>,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub checked: u64,
    pub inconclusive: u64,
    pub not_generated: u64,
    pub refused: u64,
    pub calls: u64,
    pub traps: u64,
    pub pauses: u64,
    pub twice: u64,
}

fn to_value(v: &Val) -> Option<Value> {
    Some(match v {
        Val::I32(x) => Value::I32(*x),
        Val::I64(x) => Value::I64(*x),
        Val::F32(x) => Value::F32(*x),
        Val::F64(x) => Value::F64(*x),
        _ => return None,
    })
}

fn to_val(v: &Value) -> Val {
    match v {
        Value::I32(x) => Val::I32(*x),
        Value::I64(x) => Val::I64(*x),
        Value::F32(x) => Val::F32(*x),
        Value::F64(x) => Val::F64(*x),
    }
}

fn trap_of(e: &wasmtime::Error) -> Res {
    if format!("{e:?}").contains("__ws_trap_call_depth") {
        return Res::Inconclusive;
    }
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::StackOverflow) => Res::Inconclusive,
        Some(t) => Res::Trap(match t {
            wasmtime::Trap::UnreachableCodeReached => TrapKind::Unreachable,
            wasmtime::Trap::MemoryOutOfBounds => TrapKind::MemoryOutOfBounds,
            wasmtime::Trap::TableOutOfBounds => TrapKind::TableOutOfBounds,
            wasmtime::Trap::IndirectCallToNull => TrapKind::IndirectCallToNull,
            wasmtime::Trap::BadSignature => TrapKind::BadSignature,
            wasmtime::Trap::IntegerOverflow => TrapKind::IntegerOverflow,
            wasmtime::Trap::IntegerDivisionByZero => TrapKind::IntegerDivisionByZero,
            wasmtime::Trap::BadConversionToInteger => TrapKind::BadConversionToInteger,
            _ => TrapKind::Other,
        }),
        None => Res::Trap(TrapKind::Other),
    }
}

pub struct Plain {
    engine: Engine,
}

impl Plain {
    pub fn new() -> Plain {
        Plain {
            engine: Engine::default(),
        }
    }

    /// The exported functions (name, param types) of `wasm`, in order.
    pub fn exported_funcs(
        &self,
        wasm: &[u8],
    ) -> Result<Vec<(String, Vec<wasmtime::ValType>)>, String> {
        let m = Module::new(&self.engine, wasm).map_err(|e| format!("{e:#}"))?;
        Ok(m.exports()
            .filter_map(|e| match e.ty() {
                wasmtime::ExternType::Func(f) => {
                    Some((e.name().to_string(), f.params().collect::<Vec<_>>()))
                }
                _ => None,
            })
            .collect())
    }

    /// Instantiates and calls `calls` in order, stopping after the first
    /// trap; then reads the exported memory and numeric globals (names
    /// starting with `__ws_` are ours and skipped).
    pub fn run(&self, wasm: &[u8], calls: &[(String, Vec<Value>)]) -> Result<PlainRun, String> {
        let module = Module::new(&self.engine, wasm).map_err(|e| format!("compile: {e:#}"))?;
        self.run_module(&module, calls)
    }

    pub fn compile(&self, wasm: &[u8]) -> Result<Module, String> {
        Module::new(&self.engine, wasm).map_err(|e| format!("compile: {e:#}"))
    }

    pub fn run_module(
        &self,
        module: &Module,
        calls: &[(String, Vec<Value>)],
    ) -> Result<PlainRun, String> {
        let module = module.clone();
        let limits: StoreLimits = StoreLimitsBuilder::new()
            .memory_size((MEMORY_LIMIT_PAGES * 65536) as usize)
            .build();
        let mut store = Store::new(&self.engine, limits);
        store.limiter(|l| l);
        let instance = match Instance::new(&mut store, &module, &[]) {
            Ok(i) => i,
            Err(e) => {
                return Ok(PlainRun {
                    start: Some(trap_of(&e)),
                    calls: vec![],
                    memory: None,
                    globals: vec![],
                })
            }
        };
        let mut out = Vec::new();
        for (name, args) in calls {
            let f = instance
                .get_func(&mut store, name)
                .ok_or_else(|| format!("no export {name}"))?;
            let ty = f.ty(&store);
            let mut results = vec![Val::I32(0); ty.results().len()];
            let args: Vec<Val> = args.iter().map(to_val).collect();
            match f.call(&mut store, &args, &mut results) {
                Ok(()) => out.push(Res::Values(
                    results
                        .iter()
                        .map(|v| to_value(v).ok_or("non-numeric result"))
                        .collect::<Result<_, _>>()?,
                )),
                Err(e) => {
                    out.push(trap_of(&e));
                    break;
                }
            }
        }
        let mut memory = None;
        let mut globals = Vec::new();
        let exports: Vec<(String, wasmtime::Extern)> = instance
            .exports(&mut store)
            .map(|e| (e.name().to_string(), e.into_extern()))
            .collect();
        for (name, ext) in exports {
            if name.starts_with("__ws_") {
                continue;
            }
            match ext {
                wasmtime::Extern::Memory(m) if memory.is_none() => {
                    memory = Some(m.data(&store).to_vec())
                }
                wasmtime::Extern::Global(g) => {
                    if let Some(v) = to_value(&g.get(&mut store)) {
                        globals.push((name, v));
                    }
                }
                _ => {}
            }
        }
        Ok(PlainRun {
            start: None,
            calls: out,
            memory,
            globals,
        })
    }
}

fn random_arg(rng: &mut Rng, t: &wasmtime::ValType) -> Option<Value> {
    let small = rng.chance(2);
    let x = if small {
        rng.range(0, 40) as i64 - 8
    } else {
        rng.next_u64() as i64
    };
    Some(match t {
        wasmtime::ValType::I32 => Value::I32(x as i32),
        wasmtime::ValType::I64 => Value::I64(x),
        wasmtime::ValType::F32 => Value::F32(if small {
            (x as f32).to_bits()
        } else {
            x as u32
        }),
        wasmtime::ValType::F64 => Value::F64(if small {
            (x as f64).to_bits()
        } else {
            x as u64
        }),
        _ => return None,
    })
}

/// Outcome of one executor run of the driver.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecRun {
    pub end: End,
    pub done: Vec<crate::common::StepResult>,
    pub gas_used: u64,
    /// `gas_used` before the `run` that ended.
    pub used_before_end: u64,
    pub balance: i64,
    pub memory: Option<Vec<u8>>,
}

fn finish(ex: &mut Executor, end: End, host: DriverHost, used_before_end: u64) -> ExecRun {
    let n = ex.memory_size();
    ExecRun {
        end,
        done: host.done,
        gas_used: ex.gas_used(),
        used_before_end,
        balance: ex.gas_balance(),
        memory: if ex.program().memory_min_pages().is_some() {
            ex.read_memory(0, n).ok()
        } else {
            None
        },
    }
}

/// Checks one module; `Ok(false)` = inconclusive or not applicable.
pub fn check_module(
    plain: &Plain,
    wasm: &[u8],
    seed: u64,
    stats: &mut Stats,
) -> Result<bool, String> {
    check_module_with(plain, wasm, seed, stats, UNLIMITED_GAS)
}

/// [`check_module`] with the balance the standalone instrumented module
/// starts with (a small one is the control: the oracle must notice).
pub fn check_module_with(
    plain: &Plain,
    wasm: &[u8],
    seed: u64,
    stats: &mut Stats,
    standalone_gas: i64,
) -> Result<bool, String> {
    let mut rng = Rng::new(seed);
    let funcs = plain.exported_funcs(wasm)?;
    let mut calls = Vec::new();
    for (name, params) in &funcs {
        let args: Option<Vec<Value>> = params.iter().map(|t| random_arg(&mut rng, t)).collect();
        match args {
            Some(a) => calls.push((name.clone(), a)),
            None => return Ok(false),
        }
    }

    // 1. The original.
    let orig = plain.run(wasm, &calls)?;
    let inconclusive =
        |r: &PlainRun| r.start == Some(Res::Inconclusive) || r.calls.contains(&Res::Inconclusive);
    if inconclusive(&orig) {
        stats.inconclusive += 1;
        return Ok(false);
    }
    // The sequence: calls up to and including the first trap.
    let all_calls = calls.clone();
    let calls: Vec<_> = calls.into_iter().take(orig.calls.len()).collect();
    stats.calls += calls.len() as u64;
    let trapped = orig.start.is_some() || matches!(orig.calls.last(), Some(Res::Trap(_)));
    if trapped {
        stats.traps += 1;
    }

    // 2. The instrumented module, standalone, unlimited gas.
    let inst = match instrument(wasm, &InstrumentConfig::default()) {
        Ok(i) => i,
        Err(e @ (Error::UnsupportedFeature(_) | Error::UnsupportedModule(_))) => {
            stats.refused += 1;
            return Err(format!(
                "instrumenter refused a module within our feature set: {e}"
            ));
        }
        Err(e) => return Err(format!("instrument: {} {e}", e.code())),
    };
    let alone = plain.run(&standalone(&inst.wasm, standalone_gas), &calls)?;
    if inconclusive(&alone) {
        stats.inconclusive += 1;
        return Ok(false);
    }
    if alone != orig {
        return Err(format!(
            "standalone instrumented module differs from the original:\n  original:     {}\n  instrumented: {}",
            summary(&orig),
            summary(&alone)
        ));
    }

    // 3. The executor.
    // Steps: every export call (the sequence stops at its first trap by
    // itself), then the globals when the sequence finishes.
    let mut steps: Vec<Step> = all_calls
        .iter()
        .map(|(n, a)| Step::Invoke {
            export: n.clone(),
            args: a.clone(),
        })
        .collect();
    if !trapped {
        steps.extend(
            orig.globals
                .iter()
                .map(|(n, _)| Step::Get { export: n.clone() }),
        );
    }
    let driver = build_driver(wasm, &steps).map_err(|e| format!("driver: {e}"))?;
    let program = Program::load(&driver, &ProgramOptions::default())
        .map_err(|e| format!("Program::load of the driver: {} {e}", e.code()))?;

    let expected_end = match (&orig.start, orig.calls.last()) {
        (Some(Res::Trap(k)), _) => End::Trap(*k),
        (None, Some(Res::Trap(k))) => End::Trap(*k),
        _ => End::Finished,
    };
    let mut expected_done: Vec<Vec<Value>> = Vec::new();
    if orig.start.is_none() {
        for r in &orig.calls {
            expected_done.push(match r {
                Res::Values(v) => v.clone(),
                _ => vec![],
            });
        }
        if !trapped {
            expected_done.extend(orig.globals.iter().map(|(_, v)| vec![*v]));
        }
    }

    // Instantiation (active segments) can trap before any code runs.
    match try_executor(&program, MEMORY_LIMIT_PAGES) {
        Ok(_) => {}
        Err(Error::Trap { kind, .. }) => {
            return if End::Trap(kind) == expected_end && orig.start.is_some() {
                stats.checked += 1;
                Ok(true)
            } else {
                Err(format!(
                    "Executor::new trapped {kind:?}, original: {:?}",
                    orig.start
                ))
            };
        }
        Err(e) => {
            return Err(format!(
                "Executor::new failed with {} ({e}); original instantiation: {:?}",
                e.code(),
                orig.start
            ))
        }
    }
    let a = run_unlimited(&program, steps.len())?;
    if is_depth(&a.end) {
        stats.inconclusive += 1;
        return Ok(false);
    }
    let check = |what: &str, r: &ExecRun| -> Result<(), String> {
        if r.end != expected_end {
            return Err(format!(
                "{what}: ended {:?}, original {:?}",
                r.end, expected_end
            ));
        }
        let got: Vec<Vec<Value>> = r.done.iter().map(|d| d.values.clone()).collect();
        if got != expected_done {
            return Err(format!(
                "{what}: results differ\n  original: {expected_done:?}\n  executor: {got:?}"
            ));
        }
        if expected_end == End::Finished && orig.memory.is_some() && r.memory != orig.memory {
            let (a, b) = (
                orig.memory.as_deref().unwrap(),
                r.memory.as_deref().unwrap_or(&[]),
            );
            let first = a.iter().zip(b).position(|(x, y)| x != y);
            return Err(format!(
                "{what}: memory differs from the original: {} vs {} bytes, first difference at {first:?}",
                a.len(),
                b.len()
            ));
        }
        Ok(())
    };
    check("executor (one slice)", &a)?;

    let target_pauses = rng.range(3, 200);
    let total = match a.end {
        End::Finished => a.gas_used,
        // A trap uses up the run's gas: how far the guest got shows only
        // in slices.
        _ => {
            let mut sl = Slicing::escalating(Rng::new(rng.next_u64()), 16, 16);
            run_migrating(&program, steps.len(), &mut sl, None, &mut Stats::default())?
                .used_before_end
        }
    };
    let max_slice = (2 * total / target_pauses).max(2);
    // Escalating, in case the estimate of a trapping run is far too low.
    let mut slicing = Slicing::escalating(Rng::new(rng.next_u64()), max_slice, 64);
    let b = run_migrating(
        &program,
        steps.len(),
        &mut slicing.clone(),
        Some(&mut rng),
        stats,
    )?;
    check("executor (slices, fresh executor at every pause)", &b)?;
    same_gas(&format!("one slice, slices of <= {max_slice}"), &[&a, &b])?;
    if b.memory != a.memory {
        return Err("memory differs between one slice and slices".into());
    }

    slicing.rng = Rng::new(rng.next_u64());
    slicing.reset();
    let c = run_twice(&program, steps.len(), &mut slicing, &mut rng, stats)?;
    check("executor (slices, same snapshot restored twice)", &c)?;
    same_gas("one slice, slices, slices restored twice", &[&a, &b, &c])?;

    // 4. Every export on its own (a fresh instance each): the sequence above
    // stops at the first trap, this reaches the functions after it.
    let original = plain.compile(wasm)?;
    for (j, call) in all_calls.iter().enumerate() {
        let o = plain.run_module(&original, std::slice::from_ref(call))?;
        let Some(res) = o.calls.first() else { continue };
        if *res == Res::Inconclusive {
            continue;
        }
        stats.calls += 1;
        let expected_end = match res {
            Res::Trap(k) => End::Trap(*k),
            _ => End::Finished,
        };
        let one = run_isolated(
            &program,
            steps.len(),
            j,
            &mut Slicing::new(Rng::new(0), 1 << 62),
            None,
            stats,
        )?;
        let mut sl = Slicing::escalating(Rng::new(rng.next_u64()), rng.range(2, 64), 64);
        let many = run_isolated(&program, steps.len(), j, &mut sl, Some(&mut rng), stats)?;
        if is_depth(&one.end) || is_depth(&many.end) {
            continue;
        }
        for (what, r) in [("one slice", &one), ("slices", &many)] {
            let got: Vec<Vec<Value>> = r.done.iter().map(|d| d.values.clone()).collect();
            let want: Vec<Vec<Value>> = match res {
                Res::Values(v) => vec![v.clone()],
                _ => vec![vec![]],
            };
            if r.end != expected_end || (expected_end == End::Finished && got != want) {
                return Err(format!(
                    "export {:?} alone ({what}): executor {:?} {got:?}, original {res:?}",
                    call.0, r.end
                ));
            }
            if expected_end == End::Finished && o.memory.is_some() && r.memory != o.memory {
                return Err(format!(
                    "export {:?} alone ({what}): memory differs",
                    call.0
                ));
            }
        }
        same_gas(&format!("export {:?} alone", call.0), &[&one, &many])?;
    }
    stats.checked += 1;
    Ok(true)
}

/// Runs only step `j` of the driver (a fresh executor), migrating at every
/// pause when `rng` is given.
fn run_isolated(
    program: &Arc<Program>,
    n: usize,
    j: usize,
    slicing: &mut Slicing,
    mut rng: Option<&mut Rng>,
    stats: &mut Stats,
) -> Result<ExecRun, String> {
    let mut ex = executor(program, MEMORY_LIMIT_PAGES);
    let mut host = new_host(program, n);
    host.pos = j;
    host.stop_before = j + 1;
    for _ in 0..MAX_PAUSES {
        let used = ex.gas_used();
        match end_of(ex.run(slicing.next(), &mut host)) {
            None => {
                stats.pauses += 1;
                if let Some(r) = rng.as_deref_mut() {
                    ex = migrate(&mut ex, MEMORY_LIMIT_PAGES, r.chance(8))?;
                }
            }
            Some(end) => return Ok(finish(&mut ex, end, host, used)),
        }
    }
    Err("too many pauses".into())
}

/// Gas of one program's runs in different slicings. A finished run's
/// `gas_used` is the same in every slicing. A run that traps uses up the gas
/// it had (balance 0), so of a trap the gas shows only a window: the
/// guest's charges up to the last pause point it passed before the trap
/// are at least `used_before_end` (the run started at or before that point)
/// and at most `gas_used` (the point's check passed). That point is the
/// same in every slicing, so the windows must overlap.
fn same_gas(what: &str, runs: &[&ExecRun]) -> Result<(), String> {
    let gas: Vec<_> = runs
        .iter()
        .map(|r| (r.used_before_end, r.gas_used))
        .collect();
    if runs[0].end == End::Finished {
        if runs.iter().any(|r| r.gas_used != runs[0].gas_used) {
            return Err(format!(
                "gas used depends on slicing (finished run, {what}): {gas:?}"
            ));
        }
        return Ok(());
    }
    for r in runs {
        if r.balance != 0 || r.gas_used <= r.used_before_end {
            return Err(format!(
                "a trap left a balance of {} ({what}): {gas:?}",
                r.balance
            ));
        }
    }
    let lo = runs.iter().map(|r| r.used_before_end).max().unwrap_or(0);
    let hi = runs.iter().map(|r| r.gas_used).min().unwrap_or(0);
    if lo > hi {
        return Err(format!(
            "the trap comes at another point in another slicing ({what}): \
             [gas before the last run, gas after] = {gas:?}"
        ));
    }
    Ok(())
}

fn is_depth(e: &End) -> bool {
    matches!(
        e,
        End::Trap(TrapKind::CallDepthExceeded | TrapKind::StackOverflow)
    )
}

fn summary(r: &PlainRun) -> String {
    format!(
        "start {:?}, calls {:?}, globals {:?}, memory {}",
        r.start,
        r.calls,
        r.globals,
        match &r.memory {
            Some(m) => format!("{} bytes, fnv {:x}", m.len(), crate::common::hash_bytes(m)),
            None => "none".into(),
        }
    )
}

fn new_host(program: &Program, n: usize) -> DriverHost {
    DriverHost::new(program, n).expect("driver host")
}

fn run_unlimited(program: &Arc<Program>, n: usize) -> Result<ExecRun, String> {
    let mut ex = executor(program, MEMORY_LIMIT_PAGES);
    let mut host = new_host(program, n);
    match end_of(ex.run(1 << 62, &mut host)) {
        Some(end) => Ok(finish(&mut ex, end, host, 0)),
        None => Err("paused with 2^62 gas".into()),
    }
}

/// Runs the driver in slices, migrating at every pause when `rng` is given.
fn run_migrating(
    program: &Arc<Program>,
    n: usize,
    slicing: &mut Slicing,
    mut rng: Option<&mut Rng>,
    stats: &mut Stats,
) -> Result<ExecRun, String> {
    let mut ex = executor(program, MEMORY_LIMIT_PAGES);
    let mut host = new_host(program, n);
    for _ in 0..MAX_PAUSES {
        let used = ex.gas_used();
        match end_of(ex.run(slicing.next(), &mut host)) {
            None => {
                stats.pauses += 1;
                if let Some(r) = rng.as_deref_mut() {
                    ex = migrate(&mut ex, MEMORY_LIMIT_PAGES, r.chance(8))?;
                }
            }
            Some(end) => return Ok(finish(&mut ex, end, host, used)),
        }
    }
    Err("too many pauses".into())
}

/// Slices in one executor; at one random pause, the snapshot is restored
/// into this executor and into a fresh one, which then run in lockstep.
fn run_twice(
    program: &Arc<Program>,
    n: usize,
    slicing: &mut Slicing,
    rng: &mut Rng,
    stats: &mut Stats,
) -> Result<ExecRun, String> {
    let mut x = executor(program, MEMORY_LIMIT_PAGES);
    let mut hx = new_host(program, n);
    let fork_at = rng.range(1, 8);
    let mut y: Option<(Executor, DriverHost)> = None;
    let mut pauses = 0u64;
    for _ in 0..MAX_PAUSES {
        let g = slicing.next();
        let used = x.gas_used();
        let rx = end_of(x.run(g, &mut hx));
        if let Some((ey, hy)) = &mut y {
            let ry = end_of(ey.run(g, hy));
            if rx != ry {
                return Err(format!("restored twice: outcomes differ {rx:?} / {ry:?}"));
            }
            if (x.gas_used(), x.gas_balance(), x.status())
                != (ey.gas_used(), ey.gas_balance(), ey.status())
            {
                return Err("restored twice: gas or status differ".into());
            }
            if rx.is_none() {
                let a = x.snapshot().map_err(|e| e.to_string())?.to_bytes();
                let b = ey.snapshot().map_err(|e| e.to_string())?.to_bytes();
                if a != b {
                    return Err("restored twice: snapshots at the same pause differ".into());
                }
            } else if hx.done != hy.done {
                return Err("restored twice: results differ".into());
            } else {
                let (rx_mem, ry_mem) = (
                    x.read_memory(0, x.memory_size()).ok(),
                    ey.read_memory(0, ey.memory_size()).ok(),
                );
                if rx_mem != ry_mem {
                    return Err("restored twice: memory differs".into());
                }
            }
        }
        match rx {
            None => {
                pauses += 1;
                stats.pauses += 1;
                if pauses == fork_at && y.is_none() {
                    stats.twice += 1;
                    let snap = x.snapshot().map_err(|e| format!("snapshot: {e}"))?;
                    let snap = Snapshot::from_bytes(&snap.to_bytes())
                        .map_err(|e| format!("from_bytes: {e}"))?;
                    x.restore(&snap)
                        .map_err(|e| format!("restore into the same executor: {e}"))?;
                    let mut fresh = executor(program, MEMORY_LIMIT_PAGES);
                    fresh.restore(&snap).map_err(|e| format!("restore: {e}"))?;
                    y = Some((fresh, hx.clone()));
                }
            }
            Some(end) => return Ok(finish(&mut x, end, hx, used)),
        }
    }
    Err("too many pauses".into())
}
