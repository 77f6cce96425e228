//! Shared helpers of the spec and differential tests: a seeded RNG, the
//! "standalone" patch of instrumented modules (unlimited gas, start section
//! back), the test driver module built around an original module, and the
//! pause loop that moves the state into a fresh executor at every pause.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use walrus::ir::{BinaryOp, UnaryOp, Value as WValue};
use walrus::{ConstExpr, ExportItem, FunctionBuilder, GlobalKind, ModuleConfig, ValType};
use wasm_sandbox_core::{
    Error, Executor, ExecutorConfig, GuestMemory, Host, HostError, Program, RunOutcome, Snapshot,
    Status, TrapKind, Value, ValueType,
};

// ---------------------------------------------------------------- RNG

/// SplitMix64: small, seeded, reproducible.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
    pub fn chance(&mut self, one_in: u64) -> bool {
        self.next_u64().is_multiple_of(one_in)
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// FNV-1a, to derive per-item seeds from names.
pub fn hash_str(s: &str) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

// ------------------------------------------------- standalone instrumented

/// Gas given to instrumented modules run outside the executor.
pub const UNLIMITED_GAS: i64 = i64::MAX / 2;

/// Makes an instrumented module runnable by a plain engine, doing what the
/// executor does around every run:
/// * the exported `__ws_gas` global starts at `gas`;
/// * the start function (moved to the `__ws_start` export by the
///   instrumenter) is the start function again;
/// * every guest function export resets `__ws_depth` to 0 before calling the
///   function (the executor resets it before every entry; without this, a
///   trap leaves the depth counter high and every later call of the same
///   instance can trap with "call depth exceeded" — see the report on
///   standalone use of instrumented modules).
pub fn standalone(instrumented: &[u8], gas: i64) -> Vec<u8> {
    let mut m = ModuleConfig::new()
        .generate_producers_section(false)
        .parse(instrumented)
        .expect("walrus parses the instrumented module");
    let mut gas_global = None;
    let mut depth_global = None;
    let mut start = None;
    let mut func_exports = Vec::new();
    for e in m.exports.iter() {
        match (e.name.as_str(), e.item) {
            ("__ws_gas", ExportItem::Global(g)) => gas_global = Some(g),
            ("__ws_depth", ExportItem::Global(g)) => depth_global = Some(g),
            ("__ws_start", ExportItem::Function(f)) => start = Some(f),
            (n, ExportItem::Function(f)) if !n.starts_with("__ws_") => {
                func_exports.push((e.id(), f))
            }
            _ => {}
        }
    }
    let g = gas_global.expect("instrumented module exports __ws_gas");
    m.globals.get_mut(g).kind = GlobalKind::Local(ConstExpr::Value(WValue::I64(gas)));
    if let Some(f) = start {
        assert!(
            m.start.is_none(),
            "instrumented module kept a start section"
        );
        m.start = Some(f);
    }
    let depth = depth_global.expect("instrumented module exports __ws_depth");
    let mut wrappers: HashMap<walrus::FunctionId, walrus::FunctionId> = HashMap::new();
    for (export, f) in func_exports {
        let w = match wrappers.get(&f) {
            Some(w) => *w,
            None => {
                let ty = m.types.get(m.funcs.get(f).ty()).clone();
                let args: Vec<walrus::LocalId> =
                    ty.params().iter().map(|t| m.locals.add(*t)).collect();
                let mut b = FunctionBuilder::new(&mut m.types, ty.params(), ty.results());
                {
                    let mut body = b.func_body();
                    body.i32_const(0).global_set(depth);
                    for a in &args {
                        body.local_get(*a);
                    }
                    body.call(f);
                }
                let w = b.finish(args, &mut m.funcs);
                wrappers.insert(f, w);
                w
            }
        };
        m.exports.get_mut(export).item = ExportItem::Function(w);
    }
    m.emit_wasm()
}

// ---------------------------------------------------------- driver module

/// Import module of the driver's host functions (not `__ws_`: the
/// instrumenter removes guest exports with that prefix and we keep imports
/// apart from it too).
pub const DRIVER_MODULE: &str = "ws_test";
/// Export name of the driver's entry function.
pub const DRIVER_ENTRY: &str = "ws_test_entry";

/// `next()` returns this when all invocations are done (the entry returns).
pub const SEL_DONE: i32 = -1;
/// `next()` returns this to make the driver spin (in a loop calling
/// `spin()`) until it pauses there, so the host can take a snapshot
/// between two invocations.
pub const SEL_SPIN: i32 = -2;

/// One thing the driver does: call an exported function with constant
/// arguments and report its results, or report an exported global.
#[derive(Clone, Debug)]
pub enum Step {
    Invoke { export: String, args: Vec<Value> },
    Get { export: String },
}

/// Builds the driver: the original module plus imports
/// `ws_test.{next,spin,r_i32,r_i64,r_f32,r_f64}` and an exported function
/// `ws_test_entry` that loops `sel = next()`: -1 returns, -2 spins, `k` runs
/// step `k` and reports each result (floats as their bit patterns) in order.
/// Returns `Err` when walrus cannot parse the module or a step does not
/// match an export (wrong kind, unsupported value types).
pub fn build_driver(original: &[u8], steps: &[Step]) -> Result<Vec<u8>, String> {
    let mut m = ModuleConfig::new()
        .generate_producers_section(false)
        .parse(original)
        .map_err(|e| format!("walrus: {e}"))?;
    let exports: HashMap<String, ExportItem> =
        m.exports.iter().map(|e| (e.name.clone(), e.item)).collect();
    let t_next = m.types.add(&[], &[ValType::I32]);
    let (next, _) = m.add_import_func(DRIVER_MODULE, "next", t_next);
    let (spin, _) = m.add_import_func(DRIVER_MODULE, "spin", t_next);
    let mut report = HashMap::new();
    for (name, ty) in [
        ("r_i32", ValType::I32),
        ("r_i64", ValType::I64),
        ("r_f32", ValType::I32),
        ("r_f64", ValType::I64),
    ] {
        let t = m.types.add(&[ty], &[]);
        report.insert(name, m.add_import_func(DRIVER_MODULE, name, t).0);
    }

    // Resolve every step first (types of args/results).
    struct Resolved {
        push: Vec<WValue>,
        target: Target,
        results: Vec<ValType>,
    }
    enum Target {
        Call(walrus::FunctionId),
        Global(walrus::GlobalId),
    }
    let mut resolved = Vec::new();
    for step in steps {
        match step {
            Step::Invoke { export, args } => {
                let Some(ExportItem::Function(f)) = exports.get(export) else {
                    return Err(format!("no exported function {export:?}"));
                };
                let ty = m.types.get(m.funcs.get(*f).ty());
                if ty.params().len() != args.len() {
                    return Err(format!("{export}: arity mismatch"));
                }
                let mut push = Vec::new();
                for (p, a) in ty.params().iter().zip(args) {
                    push.push(match (p, a) {
                        (ValType::I32, Value::I32(x)) => WValue::I32(*x),
                        (ValType::I64, Value::I64(x)) => WValue::I64(*x),
                        (ValType::F32, Value::F32(x)) => WValue::F32(f32::from_bits(*x)),
                        (ValType::F64, Value::F64(x)) => WValue::F64(f64::from_bits(*x)),
                        _ => return Err(format!("{export}: argument type mismatch")),
                    });
                }
                let results = ty.results().to_vec();
                resolved.push(Resolved {
                    push,
                    target: Target::Call(*f),
                    results,
                });
            }
            Step::Get { export } => {
                let Some(ExportItem::Global(g)) = exports.get(export) else {
                    return Err(format!("no exported global {export:?}"));
                };
                let ty = m.globals.get(*g).ty;
                resolved.push(Resolved {
                    push: vec![],
                    target: Target::Global(*g),
                    results: vec![ty],
                });
            }
        }
        for r in &resolved.last().unwrap().results {
            if !matches!(r, ValType::I32 | ValType::I64 | ValType::F32 | ValType::F64) {
                return Err(format!("unsupported result type {r:?}"));
            }
        }
    }

    let sel = m.locals.add(ValType::I32);
    // One scratch local per (type, position) as needed.
    let mut scratch: HashMap<(u8, usize), walrus::LocalId> = HashMap::new();
    let type_key = |t: ValType| match t {
        ValType::I32 => 0u8,
        ValType::I64 => 1,
        ValType::F32 => 2,
        _ => 3,
    };
    for r in &resolved {
        for (i, t) in r.results.iter().enumerate() {
            scratch
                .entry((type_key(*t), i))
                .or_insert_with(|| m.locals.add(*t));
        }
    }

    let mut b = FunctionBuilder::new(&mut m.types, &[], &[]);
    b.name(DRIVER_ENTRY.to_string());
    {
        let mut body = b.func_body();
        body.loop_(None, |drive| {
            let drive_id = drive.id();
            drive.call(next).local_set(sel);
            drive
                .local_get(sel)
                .i32_const(SEL_DONE)
                .binop(BinaryOp::I32Eq)
                .if_else(
                    None,
                    |t| {
                        t.return_();
                    },
                    |_| {},
                );
            drive
                .local_get(sel)
                .i32_const(SEL_SPIN)
                .binop(BinaryOp::I32Eq)
                .if_else(
                    None,
                    |t| {
                        t.loop_(None, |s| {
                            let sid = s.id();
                            s.call(spin).br_if(sid);
                        });
                        t.br(drive_id);
                    },
                    |_| {},
                );
            // Dispatch by binary search on `sel` (log2(n) comparisons: a
            // br_table over n nested blocks would charge n `block`s).
            if !resolved.is_empty() {
                let case = |t: &mut walrus::InstrSeqBuilder, k: usize| {
                    let r = &resolved[k];
                    for v in &r.push {
                        t.const_(*v);
                    }
                    match r.target {
                        Target::Call(f) => {
                            t.call(f);
                        }
                        Target::Global(g) => {
                            t.global_get(g);
                        }
                    }
                    for (i, ty) in r.results.iter().enumerate().rev() {
                        t.local_set(scratch[&(type_key(*ty), i)]);
                    }
                    for (i, ty) in r.results.iter().enumerate() {
                        t.local_get(scratch[&(type_key(*ty), i)]);
                        match ty {
                            ValType::I32 => {
                                t.call(report["r_i32"]);
                            }
                            ValType::I64 => {
                                t.call(report["r_i64"]);
                            }
                            ValType::F32 => {
                                t.unop(UnaryOp::I32ReinterpretF32).call(report["r_f32"]);
                            }
                            _ => {
                                t.unop(UnaryOp::I64ReinterpretF64).call(report["r_f64"]);
                            }
                        }
                    }
                    t.br(drive_id);
                };
                fn tree(
                    b: &mut walrus::InstrSeqBuilder,
                    lo: usize,
                    hi: usize,
                    sel: walrus::LocalId,
                    case: &dyn Fn(&mut walrus::InstrSeqBuilder, usize),
                ) {
                    if hi - lo == 1 {
                        case(b, lo);
                        return;
                    }
                    let mid = (lo + hi) / 2;
                    b.local_get(sel)
                        .i32_const(mid as i32)
                        .binop(BinaryOp::I32LtS)
                        .if_else(
                            None,
                            |t| tree(t, lo, mid, sel, case),
                            |e| tree(e, mid, hi, sel, case),
                        );
                }
                // Out-of-range selectors fall through to the trap below.
                drive
                    .local_get(sel)
                    .i32_const(resolved.len() as i32)
                    .binop(BinaryOp::I32LtU)
                    .if_else(None, |t| tree(t, 0, resolved.len(), sel, &case), |_| {});
            }
            drive.unreachable();
        });
    }
    let f = b.finish(vec![], &mut m.funcs);
    m.exports.add(DRIVER_ENTRY, f);
    Ok(m.emit_wasm())
}

// ------------------------------------------------------------- the host

/// What the driver reported for one step.
#[derive(Clone, Debug, PartialEq)]
pub struct StepResult {
    pub step: usize,
    pub values: Vec<Value>,
}

/// Host of a driver program: hands out steps, spins at fork points,
/// records results; `spectest.*` imports do nothing.
#[derive(Clone, Debug)]
pub struct DriverHost {
    kinds: Vec<ImportKind>,
    pub n_steps: usize,
    /// Next step to hand out.
    pub pos: usize,
    /// Steps before which the driver spins once (so the host can snapshot).
    pub fork_at: Vec<bool>,
    /// The fork at `pos` was taken (next `next()` hands out `pos`).
    pub forked: bool,
    pub spinning: bool,
    /// Hand out no step at or after this one.
    pub stop_before: usize,
    pub current: Option<usize>,
    pub done: Vec<StepResult>,
    pub calls: u64,
}

#[derive(Clone, Copy, Debug)]
enum ImportKind {
    Nop,
    Next,
    Spin,
    Report(ValueType),
}

impl DriverHost {
    pub fn new(program: &Program, n_steps: usize) -> Result<DriverHost, String> {
        let mut kinds = Vec::new();
        for imp in program.imports() {
            kinds.push(match (imp.module.as_str(), imp.name.as_str()) {
                (DRIVER_MODULE, "next") => ImportKind::Next,
                (DRIVER_MODULE, "spin") => ImportKind::Spin,
                (DRIVER_MODULE, "r_i32") => ImportKind::Report(ValueType::I32),
                (DRIVER_MODULE, "r_i64") => ImportKind::Report(ValueType::I64),
                (DRIVER_MODULE, "r_f32") => ImportKind::Report(ValueType::F32),
                (DRIVER_MODULE, "r_f64") => ImportKind::Report(ValueType::F64),
                ("spectest", n) if n.starts_with("print") && imp.results.is_empty() => {
                    ImportKind::Nop
                }
                (m, n) => return Err(format!("unexpected import {m}.{n}")),
            });
        }
        Ok(DriverHost {
            kinds,
            n_steps,
            pos: 0,
            fork_at: vec![false; n_steps],
            forked: false,
            spinning: false,
            stop_before: n_steps,
            current: None,
            done: Vec::new(),
            calls: 0,
        })
    }

    fn finish_current(&mut self) {
        if let Some(k) = self.current.take() {
            // The step's values were pushed to `pending` below.
            let _ = k;
        }
    }
}

impl Host for DriverHost {
    fn call(
        &mut self,
        index: usize,
        args: &[Value],
        results: &mut [Value],
        _memory: &mut GuestMemory<'_>,
    ) -> Result<(), HostError> {
        self.calls += 1;
        let kind = *self
            .kinds
            .get(index)
            .ok_or_else(|| HostError(format!("import index {index} out of range")))?;
        match kind {
            ImportKind::Nop => {}
            ImportKind::Spin => {
                results[0] = Value::I32(self.spinning as i32);
            }
            ImportKind::Next => {
                if self.spinning {
                    return Err(HostError("next() called while spinning".into()));
                }
                self.finish_current();
                let sel = if self.pos >= self.stop_before || self.pos >= self.n_steps {
                    SEL_DONE
                } else if self.fork_at[self.pos] && !self.forked {
                    self.spinning = true;
                    SEL_SPIN
                } else {
                    let k = self.pos;
                    self.pos += 1;
                    self.forked = false;
                    self.current = Some(k);
                    self.done.push(StepResult {
                        step: k,
                        values: vec![],
                    });
                    k as i32
                };
                results[0] = Value::I32(sel);
            }
            ImportKind::Report(ty) => {
                let Some(k) = self.current else {
                    return Err(HostError("report outside a step".into()));
                };
                let v = match (ty, args[0]) {
                    (ValueType::I32, Value::I32(x)) => Value::I32(x),
                    (ValueType::I64, Value::I64(x)) => Value::I64(x),
                    (ValueType::F32, Value::I32(x)) => Value::F32(x as u32),
                    (ValueType::F64, Value::I64(x)) => Value::F64(x as u64),
                    (t, v) => return Err(HostError(format!("report {t:?} got {v:?}"))),
                };
                let last = self.done.last_mut().unwrap();
                assert_eq!(last.step, k);
                last.values.push(v);
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------ pause loop

pub fn try_executor(program: &Arc<Program>, memory_limit_pages: u64) -> Result<Executor, Error> {
    Executor::new(
        program.clone(),
        ExecutorConfig {
            memory_limit_pages,
            entry: Some(DRIVER_ENTRY.to_string()),
        },
    )
}

pub fn executor(program: &Arc<Program>, memory_limit_pages: u64) -> Executor {
    try_executor(program, memory_limit_pages).expect("driver executor instantiates")
}

/// Moves a paused executor's state into a fresh executor through the
/// serialized snapshot (binary, or JSON when `json`), checking that the
/// observable state survived.
pub fn migrate(
    old: &mut Executor,
    memory_limit_pages: u64,
    json: bool,
) -> Result<Executor, String> {
    let snap = old.snapshot().map_err(|e| format!("snapshot: {e}"))?;
    let snap = if json {
        Snapshot::from_json(&snap.to_json()).map_err(|e| format!("from_json: {e}"))?
    } else {
        let bytes = snap.to_bytes();
        let back = Snapshot::from_bytes(&bytes).map_err(|e| format!("from_bytes: {e}"))?;
        if back.to_bytes() != bytes {
            return Err("snapshot bytes do not round-trip".into());
        }
        back
    };
    let mut fresh = executor(old.program(), memory_limit_pages);
    fresh
        .restore(&snap)
        .map_err(|e| format!("restore into a fresh executor: {e}"))?;
    if fresh.status() != old.status()
        || fresh.gas_used() != old.gas_used()
        || fresh.gas_balance() != old.gas_balance()
        || fresh.memory_size() != old.memory_size()
    {
        return Err(format!(
            "restored state differs: status {:?}/{:?} used {}/{} balance {}/{} mem {}/{}",
            fresh.status(),
            old.status(),
            fresh.gas_used(),
            old.gas_used(),
            fresh.gas_balance(),
            old.gas_balance(),
            fresh.memory_size(),
            old.memory_size()
        ));
    }
    // Memory: all of it up to 32 MiB, else 64 evenly spaced 4 KiB windows
    // (spec tests grow memories to gigabytes).
    let n = old.memory_size();
    let windows: Vec<(u64, u64)> = if n <= 32 << 20 {
        vec![(0, n)]
    } else {
        (0..64).map(|i| ((n - 4096) / 63 * i, 4096)).collect()
    };
    for (at, len) in windows {
        if len == 0 {
            continue;
        }
        let a = old.read_memory(at, len).map_err(|e| e.to_string())?;
        let b = fresh.read_memory(at, len).map_err(|e| e.to_string())?;
        if a != b {
            return Err(format!("restored memory differs in [{at}, {})", at + len));
        }
    }
    Ok(fresh)
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum End {
    Finished,
    Trap(TrapKind),
    Error(String),
}

pub fn end_of(r: Result<RunOutcome, Error>) -> Option<End> {
    match r {
        Ok(RunOutcome::Paused) => None,
        Ok(RunOutcome::Finished) => Some(End::Finished),
        Err(Error::Trap { kind, .. }) => Some(End::Trap(kind)),
        Err(e) => Some(End::Error(format!("{} ({})", e, e.code()))),
    }
}

/// Gas slicing policy of one run: random slices in `1..=max_slice`. With
/// `escalate_every > 0`, `max_slice` doubles after that many slices since
/// the last `reset` (bounds the pauses of long computations).
#[derive(Clone, Debug)]
pub struct Slicing {
    pub rng: Rng,
    pub max_slice: u64,
    pub base_slice: u64,
    pub escalate_every: u64,
    pub count: u64,
}

impl Slicing {
    pub fn new(rng: Rng, max_slice: u64) -> Slicing {
        Slicing {
            rng,
            max_slice,
            base_slice: max_slice,
            escalate_every: 0,
            count: 0,
        }
    }
    pub fn escalating(rng: Rng, max_slice: u64, every: u64) -> Slicing {
        Slicing {
            escalate_every: every,
            ..Slicing::new(rng, max_slice)
        }
    }
    pub fn reset(&mut self) {
        self.max_slice = self.base_slice;
        self.count = 0;
    }
    pub fn next(&mut self) -> u64 {
        if self.escalate_every > 0 {
            self.count += 1;
            if self.count.is_multiple_of(self.escalate_every) {
                self.max_slice = self.max_slice.saturating_mul(2);
            }
        }
        self.rng.range(1, self.max_slice)
    }
}

pub fn status_ok_after(end: &End, ex: &Executor) -> Result<(), String> {
    let want = match end {
        End::Finished => Status::Finished,
        _ => Status::Trapped,
    };
    if ex.status() != want {
        return Err(format!("status {:?} after {:?}", ex.status(), end));
    }
    Ok(())
}

/// FNV-1a of bytes (for short summaries of memories).
pub fn hash_bytes(b: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for x in b {
        h ^= *x as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}
