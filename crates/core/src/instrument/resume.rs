//! The per-function pass: gas metering plus asyncify-style unwind/rewind.
//!
//! Every local function is rewritten so that it can stop at a *pause site*
//! and later continue exactly there, in the same or a fresh instance:
//!
//! * **Metering.** Each straight-line run of instructions (a run ends after
//!   `block`/`loop`/`if`/`br_if` and at the end of a sequence) is charged at
//!   its start: `gas -= cost`; the run that enters a `block` also pays the
//!   block's first run ([`FuncPass::first_run_cost`]). Dynamic-cost
//!   operators (`memory.grow`, `memory.fill/copy/init`, table bulk ops) are
//!   charged per unit right before they run. A function keeps the balance
//!   in a local and stores it to the gas global only before calls, at
//!   returns and when it pauses, the points where callees, imports and
//!   the host read it (non-pausing leaves charge the global directly).
//! * **Pause sites.** The function entry, every loop header and every
//!   dynamic-cost operator check `gas < 0`; calls to guest functions are
//!   sites too (the callee may pause), and so is the point right after
//!   such a call (a callee that returns past the budget pauses its caller
//!   there, so a chain of returns runs no caller's tail).
//! * **Normalization.** At every pause-capable instruction (a site, or a
//!   construct containing one) the operand stack of the current frame is
//!   spilled into locals, and constructs become `[] -> []` with params and
//!   results passed through locals. Between two sites the stack is empty, so
//!   code between sites can be skipped as a unit.
//! * **Unwind.** When the check fails: `state = 1; br $unwind (site)`. The
//!   epilogue stores `[func_id][site][locals...]` into the private unwind
//!   memory and returns; each caller sees a negative balance after its call
//!   and branches to the pause path its call sites share, which sees
//!   `state != 0` and unwinds its own frame the same way
//!   ([`FuncPass::pause_after_call`]).
//! * **Rewind.** The host sets `state = 2`, saves the real balance in
//!   `gas_saved` and sets the balance to a large fake value (so no check
//!   fires on the way back), then calls the entry again. Each function entry
//!   sees `state` and pops its frame (locals and the target site `ri`); code
//!   regions are guarded by `ri == 0`, sites and constructs by whether they
//!   contain the target. The paused site finishes the rewind (`state = 0`,
//!   the gas local `= gas_saved`): the function entry for its own site, the loop's
//!   guard (before entering the loop, refunding the header charge that runs
//!   again) for a loop header, the site itself for a dynamic-cost operator.
//!   Charges on the way go to the fake balance and are discarded, so
//!   nothing is charged twice. Check slow paths always leave the function,
//!   so code that stays in a loop never touches VM state.
//! * **Fast copies.** The code after the function entry and after each
//!   loop header is duplicated, the fast copy with every `ri` guard folded
//!   away (see [`FuncPass::split_fast`], [`FuncPass::entry_dispatch`]), so
//!   normal execution pays no guards; the body's fast copy pauses into an
//!   epilogue of its own. The entry's one check of the charged
//!   balance (`gas as u64 >= 2^62`) catches both a pause and a rewind (whose
//!   fake balance is above 2^62), so normal calls read no state.
//!
//! Before/after for `(func $f (loop $l (call $g) (br $l)))`, simplified
//! (the fast copies left out):
//!
//! ```wat
//! (func $f (local $ri i32)
//!   ;; entry site 1: depth check (depth += weight), charge,
//!   ;; slow path (pop frame / pause)
//!   (block $unwind (result i32)
//!     (block $call_pause (result i32)
//!       (block $body
//!         (loop $l
//!           gas -= 3
//!           (if (gas < 0) (then state = 1 (br $unwind (i32.const 2))))
//!           (if (ri == 0 || ri == 3 || ri == 4)   ;; ri == 3: finish, skip
//!             (then ri = 0 (call $g)
//!                   ;; site 3: returned past the budget (state 0);
//!                   ;; site 4: paused below (state 1)
//!                   (if (gas < 0) (then (br $call_pause (i32.const 3))))))
//!           (br $l)))
//!       depth -= weight
//!       (return))
//!     ;; [k] -> [k + (state != 0)]; state = 1
//!     (i32.add (global.get $state) (i32.const 0) (i32.ne))
//!     (global.set $state (i32.const 1)))
//!   ;; epilogue: save [func_id][site][locals] to the unwind memory
//!   ...)
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};

use walrus::ir::*;
use walrus::{
    FunctionId, GlobalId, LocalFunction, LocalId, MemoryId, ModuleLocals, ModuleTypes, TypeId,
    ValType,
};

use super::analyze::FuncStackMap;
use super::costs::CostTable;
use super::liveness;
use super::state as state_code;
use crate::error::{Error, Result};

/// Module-wide ids the pass refers to.
#[derive(Clone, Debug)]
pub struct RuntimeIds {
    pub gas: GlobalId,
    pub gas_saved: GlobalId,
    pub state: GlobalId,
    pub uw_ptr: GlobalId,
    pub depth: GlobalId,
    pub unwind_mem: MemoryId,
    pub trap_call_depth: FunctionId,
    pub trap_corrupt: FunctionId,
    /// Per passive data segment: (mask global, bit).
    pub data_drop_bits: HashMap<DataId, (GlobalId, u32)>,
    /// Per passive element segment: (mask global, bit).
    pub elem_drop_bits: HashMap<ElementId, (GlobalId, u32)>,
}

use walrus::{DataId, ElementId};

/// Where a rewind that targets a guarded site itself is finished.
#[derive(Clone, Copy, Debug)]
enum Finish {
    /// Elsewhere (the function entry, or the site's own code).
    Nowhere,
    /// A loop whose header is the site's first number: before entering
    /// the loop, refunding the header's charge (it is made again).
    BeforeLoop(u64),
    /// A call whose first site number is a pause right after it: the
    /// results are in their locals, so finish and skip the call.
    AfterSite,
}

/// What the pass learned about one function.
#[derive(Clone, Debug)]
pub struct FuncReport {
    /// Bytes of one unwind frame of this function.
    pub frame_bytes: u32,
    /// Weight charged against the call-depth budget (0 for leaves).
    pub depth_weight: u32,
}

/// Static facts about callees, needed at call sites.
pub struct CallInfo<'a> {
    /// Functions that are imports (calls to them are not pause sites).
    pub imported: &'a HashSet<FunctionId>,
    /// Leaf functions that cannot pause (see [`is_non_pausing_leaf`]):
    /// calls to them are plain instructions.
    pub leaves: &'a HashSet<FunctionId>,
    /// Imports the runtime may serve itself (WASI): the exact balance is
    /// stored to the gas global before calls to them (their clock reads it)
    /// and reloaded after (they charge per byte they move).
    pub metered_imports: &'a HashSet<FunctionId>,
}

/// A function without loops, dynamic-cost operators, `call_indirect` and
/// calls to other guest functions runs a bounded number of instructions, so
/// it needs no pause site: it is charged inline and never unwinds. The
/// overshoot this adds is bounded by one such function body.
pub fn is_non_pausing_leaf(func: &LocalFunction, imported: &HashSet<FunctionId>) -> bool {
    !any_instr(func, |i| match i {
        Instr::Loop(_)
        | Instr::CallIndirect(_)
        | Instr::MemoryGrow(_)
        | Instr::MemoryFill(_)
        | Instr::MemoryCopy(_)
        | Instr::MemoryInit(_)
        | Instr::TableCopy(_)
        | Instr::TableInit(_)
        | Instr::TableGrow(_)
        | Instr::TableFill(_) => true,
        Instr::Call(c) => !imported.contains(&c.func),
        _ => false,
    })
}

/// The instruction sequences nested directly in `i` (in program order).
pub fn nested(i: &Instr) -> impl Iterator<Item = InstrSeqId> {
    let (first, second) = match i {
        Instr::Block(b) => (Some(b.seq), None),
        Instr::Loop(l) => (Some(l.seq), None),
        Instr::IfElse(ie) => (Some(ie.consequent), Some(ie.alternative)),
        _ => (None, None),
    };
    first.into_iter().chain(second)
}

/// Whether any instruction of `func` (in any nested sequence) matches.
pub fn any_instr(func: &LocalFunction, mut pred: impl FnMut(&Instr) -> bool) -> bool {
    any_located_instr(func, |i, _| pred(i))
}

/// [`any_instr`], with each instruction's input offset.
fn any_located_instr(
    func: &LocalFunction,
    mut pred: impl FnMut(&Instr, InstrLocId) -> bool,
) -> bool {
    let mut stack = vec![func.entry_block()];
    while let Some(s) = stack.pop() {
        for &(ref i, loc) in func.block(s).instrs.iter() {
            if pred(i, loc) {
                return true;
            }
            stack.extend(nested(i));
        }
    }
    false
}

/// Frame slot size: every saved local takes 8 bytes.
const SLOT: u32 = 8;
/// Frame header: func id + site.
const HEADER: u32 = 8;

#[derive(Clone)]
enum LabelFix {
    /// A normalized label whose branch values go through these locals
    /// (block/if results, or loop params).
    Locals(Vec<LocalId>),
}

enum Item {
    Plain(Vec<(Instr, InstrLocId)>),
    Site(Vec<(Instr, InstrLocId)>),
}

#[derive(Default)]
struct TempPool {
    free: HashMap<ValType, Vec<LocalId>>,
    /// Every temp the pool made, in the order it made them.
    all: Vec<LocalId>,
}

impl TempPool {
    fn get(&mut self, locals: &mut ModuleLocals, ty: ValType) -> LocalId {
        match self.free.get_mut(&ty).and_then(|v| v.pop()) {
            Some(l) => l,
            None => {
                let l = locals.add(ty);
                self.all.push(l);
                l
            }
        }
    }
    /// The temps in use now (taken and not given back).
    fn in_use(&self) -> HashSet<LocalId> {
        let free: HashSet<LocalId> = self.free.values().flatten().copied().collect();
        self.all
            .iter()
            .copied()
            .filter(|l| !free.contains(l))
            .collect()
    }
    fn put(&mut self, locals: &mut ModuleLocals, ids: &[LocalId]) {
        for &id in ids {
            self.free.entry(locals.get(id).ty()).or_default().push(id);
        }
    }
}

fn to_walrus(ty: wasmparser::ValType) -> Result<ValType> {
    Ok(match ty {
        wasmparser::ValType::I32 => ValType::I32,
        wasmparser::ValType::I64 => ValType::I64,
        wasmparser::ValType::F32 => ValType::F32,
        wasmparser::ValType::F64 => ValType::F64,
        wasmparser::ValType::V128 => ValType::V128,
        wasmparser::ValType::Ref(_) => {
            return Err(Error::UnsupportedFeature(
                "reference-typed values on the operand stack".into(),
            ))
        }
    })
}

fn seq_types(types: &ModuleTypes, ty: InstrSeqType) -> (Vec<ValType>, Vec<ValType>) {
    match ty {
        InstrSeqType::Simple(None) => (vec![], vec![]),
        InstrSeqType::Simple(Some(t)) => (vec![], vec![t]),
        InstrSeqType::MultiValue(id) => {
            let t = types.get(id);
            (t.params().to_vec(), t.results().to_vec())
        }
    }
}

fn diverges(instr: &Instr) -> bool {
    matches!(
        instr,
        Instr::Br(_) | Instr::BrTable(_) | Instr::Return(_) | Instr::Unreachable(_)
    )
}

/// The per-function transformer.
pub struct FuncPass<'a> {
    pub ids: &'a RuntimeIds,
    pub costs: &'a CostTable,
    pub calls: &'a CallInfo<'a>,
    pub stack: &'a FuncStackMap,
    pub func_index: u32,
    pub depth_budget: u32,
    /// Parameters/results of every function type, for call sites.
    pub func_types: &'a HashMap<FunctionId, TypeId>,
}

struct State<'f> {
    func: &'f mut LocalFunction,
    locals: &'f mut ModuleLocals,
    types: &'f ModuleTypes,
    pool: TempPool,
    /// Temps never read after a pause site, so never saved in frames: the
    /// arguments of a call to a guest function (a rewind re-runs the call,
    /// and the callee takes its parameters from its own frame) and the
    /// condition of an `if` around sites (a rewind picks the arm by the
    /// target site). Kept apart from `pool` so they are never reused for a
    /// value that lives across a site; out of frames, they are dead during
    /// the call, which keeps registers free on the fast path.
    unsaved: TempPool,
    labels: HashMap<InstrSeqId, LabelFix>,
    has_pci: HashMap<InstrSeqId, bool>,
    next_site: u32,
    ri: LocalId,
    /// The function's copy of the gas balance (not saved in frames): kept
    /// in a local so loops do not go through memory; written back to the
    /// global before calls, unwinds and returns, reloaded after calls.
    gas_tmp: LocalId,
    /// Whether `gas_tmp` is in use (false for non-pausing leaves, which
    /// charge the global directly).
    gas_in_local: bool,
    /// Charge of each loop header's first run (refunded when a rewind
    /// finishes at that header).
    header_cost: HashMap<InstrSeqId, u64>,
    /// Cost of each block's first run, with the first runs of the blocks it
    /// begins with (see [`FuncPass::first_run_cost`]).
    first_run: HashMap<InstrSeqId, u64>,
    /// Blocks whose first run is charged by the run that enters them.
    prepaid: HashSet<InstrSeqId>,
    /// The function label (branches to it become branches to `body`).
    fn_label: InstrSeqId,
    body: Option<InstrSeqId>,
    /// Whether the function counts call depth: its entry adds its weight
    /// to the depth global and every normal exit subtracts it again
    /// (recomputed by a rewind, so nothing is saved).
    counts_depth: bool,
    /// The entry's pause site and charge (see [`FuncPass::entry_dispatch`]).
    entry_site: Option<(u32, u64)>,
    /// Instructions fast copies may still add (see [`FAST_COPY_EXTRA_INSTRS`]).
    fast_copy_budget: u64,
    /// Scratch for the depth check (never saved).
    depth_tmp: LocalId,
    /// The epilogue's block: a branch to it with a site number saves the
    /// frame at that site (the state must be `unwinding` already).
    unwind_label: InstrSeqId,
    /// The block of the pause path shared by the call sites, inside the
    /// epilogue's: a branch to it with a site number `k` sets `state =
    /// unwinding` and saves the frame at `k + (state != 0)`, see
    /// [`FuncPass::pause_after_call`].
    call_pause_label: InstrSeqId,
    /// The same two blocks, `(unwind, call pause)`, for the fast copy of
    /// a body with loops: it pauses into an epilogue of its own. (A body
    /// without loops shares the guarded copy's: the extra register move
    /// a shared one cost was per loop iteration, and libc's code is 0.7 %
    /// smaller and its instructions 1.0 % fewer with it shared there.)
    fast_labels: Option<(InstrSeqId, InstrSeqId)>,
    /// The guest's locals that are dead at each loop header (by the loop's
    /// sequence) and after each call (by its input offset): their pause
    /// paths overwrite them (see [`dead_locals`]).
    loop_dead: HashMap<InstrSeqId, DeadAt>,
    call_dead: BTreeMap<InstrLocId, DeadAt>,
    /// Per pause path that overwrites dead temps (by marker number): the
    /// temps in use at its site and the live guest local of each type
    /// (see [`FuncPass::overwrite_dead_temps`]).
    temp_marks: Vec<TempMark>,
}

impl State<'_> {
    /// Branches to the function label target the body block instead, so
    /// they pass the gas write-back.
    fn retarget(&self, block: InstrSeqId) -> InstrSeqId {
        match self.body {
            Some(b) if block == self.fn_label => b,
            _ => block,
        }
    }
}

fn synth(i: impl Into<Instr>) -> (Instr, InstrLocId) {
    (i.into(), InstrLocId::default())
}

fn const_i32(v: i32) -> (Instr, InstrLocId) {
    synth(Const {
        value: Value::I32(v),
    })
}
fn const_i64(v: i64) -> (Instr, InstrLocId) {
    synth(Const {
        value: Value::I64(v),
    })
}
fn lget(l: LocalId) -> (Instr, InstrLocId) {
    synth(LocalGet { local: l })
}
fn lset(l: LocalId) -> (Instr, InstrLocId) {
    synth(LocalSet { local: l })
}
fn gget(g: GlobalId) -> (Instr, InstrLocId) {
    synth(GlobalGet { global: g })
}
fn gset(g: GlobalId) -> (Instr, InstrLocId) {
    synth(GlobalSet { global: g })
}
fn binop(op: BinaryOp) -> (Instr, InstrLocId) {
    synth(Binop { op })
}
fn unop(op: UnaryOp) -> (Instr, InstrLocId) {
    synth(Unop { op })
}

impl FuncPass<'_> {
    fn instr_cost(&self, instr: &Instr) -> u64 {
        let base = self.costs.instruction as u64;
        match instr {
            Instr::Call(c) if self.calls.imported.contains(&c.func) => {
                base + self.costs.host_call as u64
            }
            Instr::Call(_) | Instr::CallIndirect(_) => base + self.costs.call as u64,
            _ => base,
        }
    }

    /// The cost of the first run of the block `seq` (up to and including
    /// its first `block`/`loop`/`if`/`br_if`), plus, when that is a
    /// `block`, the first run of that block, and so on. Entering a block
    /// does not branch, so its first run always follows the run that
    /// enters it: that run charges both (one charge per chain of nested
    /// blocks, e.g. a `switch`'s). Iterative, memoized per block.
    fn first_run_cost(&self, st: &mut State<'_>, seq: InstrSeqId) -> u64 {
        let mut chain = Vec::new();
        let mut cur = Some(seq);
        while let Some(s) = cur {
            if st.first_run.contains_key(&s) {
                break;
            }
            let mut own = 0;
            let mut next = None;
            for (instr, _) in &st.func.block(s).instrs {
                own += self.instr_cost(instr);
                match instr {
                    Instr::Block(b) => {
                        next = Some(b.seq);
                        break;
                    }
                    Instr::Loop(_) | Instr::IfElse(_) | Instr::BrIf(_) => break,
                    _ => {}
                }
            }
            chain.push((s, own));
            cur = next;
        }
        let mut below = cur.and_then(|s| st.first_run.get(&s).copied()).unwrap_or(0);
        for (s, own) in chain.into_iter().rev() {
            below += own;
            st.first_run.insert(s, below);
        }
        st.first_run.get(&seq).copied().unwrap_or(0)
    }

    /// Dynamic cost per unit, and which operand (counted from the first
    /// input) carries the unit count.
    fn dynamic_cost(&self, instr: &Instr) -> Option<(u64, usize, bool)> {
        let c = self.costs;
        let (unit, arg, bytes) = match instr {
            Instr::MemoryGrow(_) => (c.memory_grow_per_page, 0, false),
            Instr::MemoryFill(_) | Instr::MemoryCopy(_) | Instr::MemoryInit(_) => {
                (c.bulk_memory_per_8_bytes, 2, true)
            }
            Instr::TableCopy(_) | Instr::TableInit(_) | Instr::TableFill(_) => {
                (c.bulk_table_per_element, 2, false)
            }
            Instr::TableGrow(_) => (c.bulk_table_per_element, 1, false),
            _ => return None,
        };
        if unit == 0 {
            None
        } else {
            Some((unit as u64, arg, bytes))
        }
    }

    fn is_call_site(&self, instr: &Instr) -> bool {
        match instr {
            Instr::Call(c) => {
                !self.calls.imported.contains(&c.func) && !self.calls.leaves.contains(&c.func)
            }
            Instr::CallIndirect(_) => true,
            _ => false,
        }
    }

    /// Instruments one function. Returns its frame facts.
    pub fn run(
        &self,
        func: &mut LocalFunction,
        locals: &mut ModuleLocals,
        types: &mut ModuleTypes,
        is_leaf_fn: bool,
    ) -> Result<FuncReport> {
        let entry = func.entry_block();
        // The body moves into a plain block of the function's result type
        // (the entry sequence's own type id is never emitted).
        let fn_results = types.get(func.ty()).results().to_vec();
        let body_ty = InstrSeqType::new(types, &[], &fn_results);
        let types: &ModuleTypes = types;
        let unwind_label = site_label(func);
        let call_pause_label = site_label(func);
        let ri = locals.add(ValType::I32);
        let gas_tmp = locals.add(ValType::I64);
        let depth_tmp = locals.add(ValType::I32);
        let mut st = State {
            func,
            locals,
            types,
            pool: TempPool::default(),
            unsaved: TempPool::default(),
            labels: HashMap::new(),
            has_pci: HashMap::new(),
            next_site: 0,
            ri,
            gas_tmp,
            gas_in_local: !is_leaf_fn,
            fn_label: entry,
            header_cost: HashMap::new(),
            first_run: HashMap::new(),
            prepaid: HashSet::new(),
            body: None,
            counts_depth: false,
            entry_site: None,
            fast_copy_budget: 0,
            depth_tmp,
            unwind_label,
            call_pause_label,
            fast_labels: None,
            loop_dead: HashMap::new(),
            call_dead: BTreeMap::new(),
            temp_marks: Vec::new(),
        };
        truncate_dead_code(st.func, entry);
        let original = code_size(st.func, &st.func.block(entry).instrs);
        st.fast_copy_budget = 2 * original as u64 + FAST_COPY_EXTRA_INSTRS;
        if is_leaf_fn {
            // Charged inline, never pauses: no frame, no prologue.
            let body = self.process_seq(&mut st, entry, SeqKind::Plain, &[], &[])?;
            st.func.block_mut(entry).instrs = body;
            return Ok(FuncReport {
                frame_bytes: 0,
                depth_weight: 0,
            });
        }
        // On the input code, before the body is rewritten.
        (st.loop_dead, st.call_dead) = dead_locals(st.func, st.locals);
        let is_leaf = !any_instr(st.func, |i| self.is_call_site(i));
        if !is_leaf {
            st.counts_depth = true;
        }

        // The body moves into its own block; the entry sequence becomes
        // `block $unwind (block $call_pause (block $body ...) return end;
        // shared pause path) end; epilogue`.
        let body = st.func.builder_mut().dangling_instr_seq(body_ty).id();
        st.body = Some(body);
        let old = std::mem::take(&mut st.func.block_mut(entry).instrs);
        st.func.block_mut(body).instrs = old;
        // Branches to the function label stay valid (they are returns).
        let processed = self.process_seq(&mut st, body, SeqKind::FunctionBody, &[], &[])?;
        st.func.block_mut(body).instrs = processed;
        self.overwrite_dead_temps(&mut st, body);

        let site_count = st.next_site;
        // Collect every local the function uses, in first-use order.
        let mut saved: Vec<LocalId> = st.func.args.clone();
        let mut seen: HashSet<LocalId> = saved.iter().copied().collect();
        collect_locals(st.func, body, &mut saved, &mut seen);
        let unsaved: HashSet<LocalId> = st.unsaved.free.values().flatten().copied().collect();
        // The depth weight estimates native stack: unsaved temps still take
        // a slot or a register there, so they still count in it.
        let unsaved_used = saved.iter().filter(|l| unsaved.contains(l)).count() as u32;
        saved.retain(|l| {
            *l != st.ri && *l != st.gas_tmp && *l != st.depth_tmp && !unsaved.contains(l)
        });
        for l in &saved {
            if matches!(st.locals.get(*l).ty(), ValType::Ref(_)) {
                return Err(Error::UnsupportedFeature(
                    "reference-typed values where the program can pause (a reference-typed \
                     local, or a reference a loop, block or if takes or returns)"
                        .into(),
                ));
            }
            if matches!(st.locals.get(*l).ty(), ValType::V128) {
                return Err(Error::UnsupportedFeature("SIMD (v128 locals)".into()));
            }
        }
        let frame_bytes = HEADER + SLOT * saved.len() as u32;
        let fp = st.locals.add(ValType::I32);

        // Entry sequence.
        let results = fn_results;
        let mut pause_body = vec![synth(Block { seq: body })];
        pause_body.extend(self.gas_write_back(&st));
        pause_body.extend(self.depth_restore(&st));
        pause_body.push(synth(Return {}));
        st.func.block_mut(st.call_pause_label).instrs = pause_body;
        // The call sites' shared pause path: `[k] -> [k + (state != 0)]`,
        // then `state = unwinding` (see `pause_after_call`).
        let call_pause = vec![
            gget(self.ids.state),
            const_i32(state_code::NORMAL),
            binop(BinaryOp::I32Ne),
            binop(BinaryOp::I32Add),
            const_i32(state_code::UNWINDING),
            gset(self.ids.state),
        ];
        // Epilogue: [site] on the stack.
        // The balance goes to the global here, once for every kind of
        // site (checks charge only the local), for the host and the callers.
        let mut entry_instrs = self.gas_write_back(&st);
        entry_instrs.push(lset(st.ri));
        entry_instrs.push(gget(self.ids.uw_ptr));
        entry_instrs.push(lset(fp));
        let mem = self.ids.unwind_mem;
        let store = |kind: StoreKind, offset: u32| {
            synth(Store {
                memory: mem,
                kind,
                arg: MemArg {
                    align: match kind {
                        StoreKind::I64 { .. } | StoreKind::F64 => 8,
                        _ => 4,
                    },
                    offset: offset as u64,
                },
            })
        };
        entry_instrs.push(lget(fp));
        entry_instrs.push(const_i32(self.func_index as i32));
        entry_instrs.push(store(StoreKind::I32 { atomic: false }, 0));
        entry_instrs.push(lget(fp));
        entry_instrs.push(lget(st.ri));
        entry_instrs.push(store(StoreKind::I32 { atomic: false }, 4));
        // Every slot is written in full (32-bit values zero-extended), so a
        // frame's bytes depend only on the guest's state, never on what an
        // earlier frame (or an earlier guest of a recycled instance) left
        // in the unwind memory: snapshots carry the frames verbatim.
        for (i, &l) in saved.iter().enumerate() {
            entry_instrs.push(lget(fp));
            entry_instrs.push(lget(l));
            let kind = match st.locals.get(l).ty() {
                ValType::I32 => {
                    entry_instrs.push(unop(UnaryOp::I64ExtendUI32));
                    StoreKind::I64 { atomic: false }
                }
                ValType::I64 => StoreKind::I64 { atomic: false },
                ValType::F32 => {
                    entry_instrs.push(unop(UnaryOp::I32ReinterpretF32));
                    entry_instrs.push(unop(UnaryOp::I64ExtendUI32));
                    StoreKind::I64 { atomic: false }
                }
                ValType::F64 => StoreKind::F64,
                _ => unreachable!("checked above"),
            };
            entry_instrs.push(store(kind, HEADER + SLOT * i as u32));
        }
        entry_instrs.push(lget(fp));
        entry_instrs.push(const_i32(frame_bytes as i32));
        entry_instrs.push(binop(BinaryOp::I32Add));
        entry_instrs.push(gset(self.ids.uw_ptr));
        for ty in &results {
            entry_instrs.push(zero_of(*ty));
        }
        let epilogue = entry_instrs;
        let mut call_pause_code = vec![synth(Block {
            seq: st.call_pause_label,
        })];
        call_pause_code.extend(call_pause.iter().cloned());
        if let Some((unwind_fast, call_pause_fast)) = st.fast_labels {
            // The fast copy of a body with loops gets its own pause path
            // and epilogue (same code), so the values it saves do not meet those
            // of the guarded copy in one join: with one shared epilogue,
            // Cranelift moved the result of fib's call through an extra
            // register on every iteration of the fast loop. Instructions:
            // fib -2.1 %, sha256 -2.0 %, others -0.1 to -0.7 %; code +2.4 %.
            //
            // $unwind { $unwind_fast { $call_pause_fast { $call_pause {
            //   body } call_pause; br $unwind } call_pause } epilogue;
            //   return } epilogue
            call_pause_code.push(synth(Br {
                block: unwind_label,
            }));
            st.func.block_mut(call_pause_fast).instrs = call_pause_code;
            let mut code = vec![synth(Block {
                seq: call_pause_fast,
            })];
            code.extend(call_pause);
            st.func.block_mut(unwind_fast).instrs = code;
            let mut code = vec![synth(Block { seq: unwind_fast })];
            code.extend(epilogue.iter().cloned());
            code.push(synth(Return {}));
            st.func.block_mut(unwind_label).instrs = code;
        } else {
            st.func.block_mut(unwind_label).instrs = call_pause_code;
        }
        let mut entry_instrs = vec![synth(Block { seq: unwind_label })];
        entry_instrs.extend(epilogue);
        st.func.block_mut(entry).instrs = entry_instrs;

        // The entry site's slow path needs the frame layout: patch it in.
        let pop = self.frame_pop_code(&mut st, &saved, fp, frame_bytes, site_count);
        patch_placeholder(st.func, body, pop);

        let depth_weight = if is_leaf {
            0
        } else {
            frame_bytes + SLOT * (self.stack.max_height + unsaved_used) + 64
        };
        if !is_leaf {
            patch_weight(st.func, depth_weight);
        }
        if any_located_instr(st.func, |i, loc| temp_mark(i, loc).is_some()) {
            return Err(Error::Internal(
                "a pause path's temp overwrites were not placed".into(),
            ));
        }
        Ok(FuncReport {
            frame_bytes,
            depth_weight,
        })
    }

    fn has_pci(&self, st: &mut State<'_>, seq: InstrSeqId) -> bool {
        if let Some(&v) = st.has_pci.get(&seq) {
            return v;
        }
        let instrs: Vec<Instr> = st
            .func
            .block(seq)
            .instrs
            .iter()
            .map(|(i, _)| i.clone())
            .collect();
        let mut found = false;
        for i in &instrs {
            let here = match i {
                Instr::Loop(_) => true,
                Instr::Block(b) => self.has_pci(st, b.seq),
                Instr::IfElse(ie) => {
                    let a = self.has_pci(st, ie.consequent);
                    let b = self.has_pci(st, ie.alternative);
                    a || b
                }
                other => self.is_call_site(other) || self.dynamic_cost(other).is_some(),
            };
            found |= here;
        }
        st.has_pci.insert(seq, found);
        found
    }

    /// The operand types of the current frame at an original instruction:
    /// `(lower, inputs)`.
    fn frame_split(
        &self,
        loc: InstrLocId,
        n_inputs: usize,
    ) -> Result<(Vec<ValType>, Vec<ValType>)> {
        if loc.is_default() {
            return Err(Error::Internal(
                "pause-capable instruction without an offset".into(),
            ));
        }
        let tys = self
            .stack
            .frame_stack
            .get(&loc.data())
            .ok_or_else(|| Error::Internal(format!("no stack map at offset {}", loc.data())))?;
        if tys.len() < n_inputs {
            return Err(Error::Internal(format!(
                "stack map at offset {} has {} values, needs {}",
                loc.data(),
                tys.len(),
                n_inputs
            )));
        }
        let split = tys.len() - n_inputs;
        let lower = tys[..split]
            .iter()
            .map(|t| to_walrus(*t))
            .collect::<Result<_>>()?;
        let inputs = tys[split..]
            .iter()
            .map(|t| to_walrus(*t))
            .collect::<Result<_>>()?;
        Ok((lower, inputs))
    }

    /// `gas -= cost`, on the function's gas local when it keeps one.
    fn charge(&self, st: &State<'_>, cost: u64) -> Vec<(Instr, InstrLocId)> {
        if st.gas_in_local {
            vec![
                lget(st.gas_tmp),
                const_i64(cost as i64),
                binop(BinaryOp::I64Sub),
                lset(st.gas_tmp),
            ]
        } else {
            vec![
                gget(self.ids.gas),
                const_i64(cost as i64),
                binop(BinaryOp::I64Sub),
                gset(self.ids.gas),
            ]
        }
    }

    /// Stores the gas local into the global (before calls and exits).
    fn gas_write_back(&self, st: &State<'_>) -> Vec<(Instr, InstrLocId)> {
        vec![lget(st.gas_tmp), gset(self.ids.gas)]
    }

    /// Takes the function's weight off the call depth again (at every
    /// normal exit of a function that counts depth). Subtracting instead of
    /// storing a copy of the entry's depth keeps that copy from being live
    /// across every call (on fib it was spilled to the native stack at
    /// entry and reloaded at the exit: 2 instructions per call).
    fn depth_restore(&self, st: &State<'_>) -> Vec<(Instr, InstrLocId)> {
        if !st.counts_depth {
            return vec![];
        }
        vec![
            gget(self.ids.depth),
            synth(Const {
                value: Value::I32(WEIGHT_MARKER),
            }),
            binop(BinaryOp::I32Sub),
            gset(self.ids.depth),
        ]
    }

    /// Reloads the gas local from the global (after calls).
    fn gas_reload(&self, st: &State<'_>) -> Vec<(Instr, InstrLocId)> {
        vec![gget(self.ids.gas), lset(st.gas_tmp)]
    }

    /// Code run when the innermost paused site is reached again: normal
    /// mode, the real balance back. `refund` is added to the balance when
    /// the site's own charge will be made again (a loop header's run).
    fn finish_rewind(&self, st: &State<'_>, refund: u64) -> Vec<(Instr, InstrLocId)> {
        let mut v = vec![const_i32(0), gset(self.ids.state), gget(self.ids.gas_saved)];
        if refund > 0 {
            v.extend([const_i64(refund as i64), binop(BinaryOp::I64Add)]);
        }
        v.extend([lset(st.gas_tmp), const_i32(0), lset(st.ri)]);
        v
    }

    /// A sequence that pauses at site `k`: `state = unwinding; br $unwind (k)`,
    /// after overwriting the guest's locals that are dead at `k` (with a
    /// live local of the same type, or zero): the frame saves those, so the
    /// pause exit does not keep the dead values alive around a loop (in
    /// registers or stack slots), and the rewind restores values nothing
    /// reads. A constant is the fallback only: zeros everywhere moved
    /// Cranelift's allocation in quicksort (643.5M -> 665.4M instructions;
    /// copies 641.5M). strcmp's loop: 18 -> 15 instructions per iteration
    /// (its two byte locals are dead at the header).
    fn pause_at(&self, st: &mut State<'_>, k: u32, dead: Option<&DeadAt>) -> InstrSeqId {
        let mut code = match dead {
            Some(dead) => self.overwrite_dead(st, dead),
            None => Vec::new(),
        };
        code.extend([
            const_i32(state_code::UNWINDING),
            gset(self.ids.state),
            const_i32(k as i32),
            synth(Br {
                block: st.unwind_label,
            }),
        ]);
        new_seq(st.func, code)
    }

    /// The overwrites of a pause path: the guest's locals dead at the site,
    /// then a marker that [`Self::overwrite_dead_temps`] replaces with the
    /// overwrites of the temps not in use there, once all the function's
    /// temps are known (a loop body's own temps are made after its header's
    /// pause path). Such temps (a call's results, spilled operands) are
    /// saved with the frame like the guest's locals, so without this a temp
    /// that holds a call's result in a loop stays alive around the loop for
    /// the header's pause exit.
    fn overwrite_dead(&self, st: &mut State<'_>, dead: &DeadAt) -> Vec<(Instr, InstrLocId)> {
        let mut code = overwrite(&dead.guests);
        let mark = st.temp_marks.len() as u32;
        st.temp_marks.push((st.pool.in_use(), dead.live.clone()));
        code.push((
            Instr::Unreachable(Unreachable {}),
            InstrLocId::new(TEMP_MARK + mark),
        ));
        code
    }

    /// Replaces each pause path's marker (see [`Self::overwrite_dead`])
    /// with the overwrites of the temps not in use at its site: with a
    /// guest local of the same type live there, else zero. Fast copies are
    /// clones, so a marker may occur more than once.
    fn overwrite_dead_temps(&self, st: &mut State<'_>, body: InstrSeqId) {
        let codes: Vec<Vec<(Instr, InstrLocId)>> = st
            .temp_marks
            .iter()
            .map(|(in_use, live)| {
                let free = st.pool.all.iter().filter(|t| !in_use.contains(t));
                overwrite(&group_by_type(
                    free.map(|&t| (t, st.locals.get(t).ty())),
                    live,
                ))
            })
            .collect();
        let mut stack = vec![body];
        while let Some(seq) = stack.pop() {
            let instrs = &st.func.block(seq).instrs;
            let marks: Vec<(usize, usize)> = instrs
                .iter()
                .enumerate()
                .filter_map(|(idx, (i, loc))| Some((idx, temp_mark(i, *loc)?)))
                .collect();
            for (i, _) in instrs.iter() {
                stack.extend(nested(i));
            }
            for &(idx, mark) in marks.iter().rev() {
                st.func
                    .block_mut(seq)
                    .instrs
                    .splice(idx..idx + 1, codes[mark].iter().cloned());
            }
        }
    }

    /// The slow path after the call of call site `k` (the balance is
    /// negative): `br $call_pause (k)`, after overwriting the locals dead
    /// after the call (as [`Self::pause_at`] does), which otherwise stay
    /// alive across the call for the pause exit: quicksort 641.5M ->
    /// 539.0M instructions, libc 752.5M -> 745.8M, for 6.9 % more code in
    /// libc's code section (102,172 -> 109,177 bytes).
    ///
    /// The call sites of a function share one pause path, which sets
    /// `state = unwinding` and saves the frame at `k` when the state was
    /// normal (the callee returned past the budget: pause right after the
    /// call) and at `k + 1` when the callee is unwinding (pause below the
    /// call), so each call site's slow path is two instructions instead of
    /// 11. (The other sites keep their own 4: branching to a shared path
    /// from loop headers too moved Cranelift's register allocation, fib
    /// 92.9M -> 94.3M instructions, sha256 516M -> 520M.)
    fn pause_after_call(&self, st: &mut State<'_>, k: u32, dead: &DeadAt) -> InstrSeqId {
        let mut code = overwrite(&dead.guests);
        code.extend([
            const_i32(k as i32),
            synth(Br {
                block: st.call_pause_label,
            }),
        ]);
        new_seq(st.func, code)
    }

    /// The check of pause site `k`:
    /// `gas = new_gas; if (gas < 0) { state = unwinding; br $unwind (k) }`,
    /// on the gas local only: the epilogue stores it to the global when the
    /// function pauses. (Storing it at every site kept the global exact for
    /// a trap, at one store per loop iteration: sieve ran 1.54-1.59x its
    /// uninstrumented time with it, 1.01x without; a trap now uses up the
    /// run's gas instead, see `Executor::run`.)
    ///
    /// The slow path always leaves the function, so the code that stays in
    /// a loop touches no VM state (a path that falls back into the loop
    /// after touching it makes Cranelift reload the memory base on every
    /// iteration). While rewinding, the balance is a large fake value, so
    /// checks never fire; the rewind is finished by the function entry, the
    /// loop guard or the dynamic-cost site that paused
    /// ([`Self::finish_rewind`]).
    ///
    /// `new_gas` leaves the charged balance on the stack.
    fn check_site(
        &self,
        st: &mut State<'_>,
        k: u32,
        new_gas: Vec<(Instr, InstrLocId)>,
        dead: &DeadAt,
    ) -> Vec<(Instr, InstrLocId)> {
        let unwinding = self.pause_at(st, k, Some(dead));
        let empty = new_seq(st.func, vec![]);
        let mut code = new_gas;
        code.extend([
            synth(LocalTee { local: st.gas_tmp }),
            const_i64(0),
            binop(BinaryOp::I64LtS),
            synth(IfElse {
                consequent: unwinding,
                alternative: empty,
            }),
        ]);
        code
    }

    /// The check of loop header `k`, whose run costs `cost`: the same test
    /// as [`Self::check_site`]'s, written `if (gas < cost)` on the balance
    /// before the charge (equal to `gas - cost < 0`: balances stay far from
    /// the ends of the i64 range). Cranelift compiles that to one compare
    /// with the constant and a branch, and the charge itself then merges
    /// with the next run's charge; `gas - cost < 0` kept the charged
    /// balance in a register of its own and tested it separately.
    ///
    /// `extra` is charged after the check: the runs after the header's that
    /// it pays for (see `refund_at` in [`Self::process_seq`]); a pause at
    /// the header saves the balance without it.
    fn check_loop_header(
        &self,
        st: &mut State<'_>,
        k: u32,
        cost: u64,
        extra: u64,
        dead: &DeadAt,
    ) -> Vec<(Instr, InstrLocId)> {
        let unwinding = self.pause_at(st, k, Some(dead));
        let empty = new_seq(st.func, vec![]);
        let mut code = vec![
            lget(st.gas_tmp),
            const_i64(cost as i64),
            binop(BinaryOp::I64LtS),
        ];
        if cost > 0 {
            code.extend(self.charge(st, cost));
        }
        code.push(synth(IfElse {
            consequent: unwinding,
            alternative: empty,
        }));
        if extra > 0 {
            code.extend(self.charge(st, extra));
        }
        code
    }

    /// Gives `amount` back to the balance (the taken path of a `br_if`
    /// whose fall-through runs were charged in advance).
    fn refund(&self, st: &State<'_>, amount: u64) -> Vec<(Instr, InstrLocId)> {
        let (get, set) = if st.gas_in_local {
            (lget(st.gas_tmp), lset(st.gas_tmp))
        } else {
            (gget(self.ids.gas), gset(self.ids.gas))
        };
        vec![get, const_i64(amount as i64), binop(BinaryOp::I64Add), set]
    }

    /// Whether `instr` reads the balance or hands it on (so the runs
    /// before it cannot charge in advance for the runs after it): calls
    /// write it back for the callee, dynamic-cost operators check it, and
    /// a `return` or an unconditional branch ends the sequence's runs.
    fn reads_balance(&self, instr: &Instr) -> bool {
        matches!(
            instr,
            Instr::Call(_)
                | Instr::CallIndirect(_)
                | Instr::ReturnCall(_)
                | Instr::ReturnCallIndirect(_)
                | Instr::Return(_)
                | Instr::Br(_)
                | Instr::BrTable(_)
                | Instr::Unreachable(_)
        ) || self.dynamic_cost(instr).is_some()
    }

    /// Whether a branch to `label` carries no values, so a `br_if` to it
    /// can become `if (refund; br)`.
    fn plain_label(&self, st: &State<'_>, label: InstrSeqId) -> bool {
        let label = st.retarget(label);
        st.labels.contains_key(&label)
            || matches!(st.func.block(label).ty, InstrSeqType::Simple(None))
    }

    /// The balance after charging `cost`, left on the stack: from the
    /// global at function entry, from the gas local elsewhere.
    fn charged_gas(
        &self,
        st: &State<'_>,
        cost: u64,
        from_global: bool,
    ) -> Vec<(Instr, InstrLocId)> {
        let mut v = vec![if from_global {
            gget(self.ids.gas)
        } else {
            lget(st.gas_tmp)
        }];
        if cost > 0 {
            v.extend([const_i64(cost as i64), binop(BinaryOp::I64Sub)]);
        }
        v
    }

    /// A sequence that calls `trap_fn` (one of the functions that always
    /// trap). The `unreachable` after the call tells Cranelift the path
    /// ends, so the normal path does not join it (fib: its argument no
    /// longer kept in a stack slot, no jump over the trap call).
    fn trap_seq(&self, st: &mut State<'_>, trap_fn: FunctionId) -> InstrSeqId {
        new_seq(
            st.func,
            vec![synth(Call { func: trap_fn }), synth(Unreachable {})],
        )
    }

    fn frame_pop_code(
        &self,
        st: &mut State<'_>,
        saved: &[LocalId],
        fp: LocalId,
        frame_bytes: u32,
        site_count: u32,
    ) -> Vec<(Instr, InstrLocId)> {
        let mem = self.ids.unwind_mem;
        let load = |kind: LoadKind, offset: u32| {
            synth(Load {
                memory: mem,
                kind,
                arg: MemArg {
                    align: match kind {
                        LoadKind::I64 { .. } | LoadKind::F64 => 8,
                        _ => 4,
                    },
                    offset: offset as u64,
                },
            })
        };
        let trap = self.trap_seq(st, self.ids.trap_corrupt);
        let empty = new_seq(st.func, vec![]);
        let trap2 = self.trap_seq(st, self.ids.trap_corrupt);
        let empty2 = new_seq(st.func, vec![]);
        let mut code = vec![
            gget(self.ids.uw_ptr),
            const_i32(frame_bytes as i32),
            binop(BinaryOp::I32Sub),
            synth(LocalTee { local: fp }),
            gset(self.ids.uw_ptr),
            lget(fp),
            load(LoadKind::I32 { atomic: false }, 0),
            const_i32(self.func_index as i32),
            binop(BinaryOp::I32Ne),
            synth(IfElse {
                consequent: trap,
                alternative: empty,
            }),
            lget(fp),
            load(LoadKind::I32 { atomic: false }, 4),
            synth(LocalTee { local: st.ri }),
            // ri - 1 >=u site_count  <=> ri == 0 || ri > site_count
            const_i32(1),
            binop(BinaryOp::I32Sub),
            const_i32(site_count as i32),
            binop(BinaryOp::I32GeU),
            synth(IfElse {
                consequent: trap2,
                alternative: empty2,
            }),
        ];
        for (i, &l) in saved.iter().enumerate() {
            let kind = match st.locals.get(l).ty() {
                ValType::I32 => LoadKind::I32 { atomic: false },
                ValType::I64 => LoadKind::I64 { atomic: false },
                ValType::F32 => LoadKind::F32,
                _ => LoadKind::F64,
            };
            code.push(lget(fp));
            code.push(load(kind, HEADER + SLOT * i as u32));
            code.push(lset(l));
        }
        code
    }

    fn process_seq(
        &self,
        st: &mut State<'_>,
        seq: InstrSeqId,
        kind: SeqKind,
        reload: &[LocalId],
        store_results: &[LocalId],
    ) -> Result<Vec<(Instr, InstrLocId)>> {
        let pci = match kind {
            SeqKind::FunctionBody | SeqKind::Loop => true,
            _ => self.has_pci(st, seq),
        };
        let old = std::mem::take(&mut st.func.block_mut(seq).instrs);
        let ends_diverging = old.last().map(|(i, _)| diverges(i)).unwrap_or(false);
        // Runs: (start, cost, whether the next run can be charged with it).
        let mut runs: Vec<(usize, u64, bool)> = Vec::new();
        {
            let mut start = 0usize;
            let mut cost = 0u64;
            let mut quiet = true;
            for (idx, (instr, _)) in old.iter().enumerate() {
                cost += self.instr_cost(instr);
                if let Instr::Block(b) = instr {
                    // The block's first run is paid here (it still ends
                    // this run: its `end` is a branch target).
                    cost += self.first_run_cost(st, b.seq);
                    st.prepaid.insert(b.seq);
                }
                quiet &= !self.reads_balance(instr);
                let ends = matches!(
                    instr,
                    Instr::Block(_) | Instr::Loop(_) | Instr::IfElse(_) | Instr::BrIf(_)
                );
                if ends || idx + 1 == old.len() {
                    let merges =
                        quiet && matches!(instr, Instr::BrIf(b) if self.plain_label(st, b.block));
                    runs.push((start, cost, merges));
                    start = idx + 1;
                    cost = 0;
                    quiet = true;
                }
            }
        }
        // Run starts and their charges. A run that ends in a `br_if` and
        // reads no balance (no call, no dynamic-cost operator) also charges
        // the run after it, and the `br_if`'s taken path gives that back
        // (`refund_at`): the balance is the same as before wherever it is
        // read, and the fall-through path, usually a loop's, has one charge
        // instead of two (Cranelift also kept the first charge's balance in
        // a register of its own for the branch). Not into the entry's or a
        // prepaid first run, whose charges are made elsewhere; a loop
        // header checks its own run's cost and charges the rest after
        // (`header_extra`).
        let mut run_cost: HashMap<usize, u64> = HashMap::new();
        let mut refund_at: HashMap<usize, u64> = HashMap::new();
        let mut header_extra = 0u64;
        {
            let can_lead = |i: usize| {
                i > 0 || !(matches!(kind, SeqKind::FunctionBody) || st.prepaid.contains(&seq))
            };
            let mut i = 0;
            while i < runs.len() {
                let mut j = i;
                let mut total = runs[i].1;
                if can_lead(i) {
                    while runs[j].2 && j + 1 < runs.len() {
                        j += 1;
                        total += runs[j].1;
                    }
                }
                // Each merged `br_if` (the instruction before a merged
                // run's start) refunds what the group charged for the runs
                // from there on.
                let mut rest = total - runs[i].1;
                for &(start, cost, _) in &runs[i + 1..=j] {
                    refund_at.insert(start - 1, rest);
                    rest -= cost;
                }
                if i == 0 && matches!(kind, SeqKind::Loop) {
                    run_cost.insert(0, runs[0].1);
                    header_extra = total - runs[0].1;
                } else {
                    run_cost.insert(runs[i].0, total);
                }
                i = j + 1;
            }
        }

        let mut items: Vec<Item> = Vec::new();
        let mut cur: Vec<(Instr, InstrLocId)> = Vec::new();

        // Sequence prologue: checks (with the first run's charge), then
        // param reloads.
        if st.prepaid.contains(&seq) {
            run_cost.remove(&0);
        }
        let first_cost = run_cost.get(&0).copied().unwrap_or(0);
        match kind {
            SeqKind::FunctionBody => {
                let k = self.alloc_site(st);
                let mut site = Vec::new();
                if st.counts_depth {
                    let trap = self.trap_seq(st, self.ids.trap_call_depth);
                    let empty = new_seq(st.func, vec![]);
                    // `depth_weight` is not known yet; patched later via a
                    // marker constant. We use the frame-independent bound
                    // computed from the stack map instead (see `weight`).
                    // Every normal exit subtracts the weight again (see
                    // `depth_restore`).
                    site.extend([
                        gget(self.ids.depth),
                        synth(Const {
                            value: Value::I32(WEIGHT_MARKER),
                        }),
                        binop(BinaryOp::I32Add),
                        synth(LocalTee {
                            local: st.depth_tmp,
                        }),
                        gset(self.ids.depth),
                        lget(st.depth_tmp),
                        const_i32(self.depth_budget as i32),
                        binop(BinaryOp::I32GtU),
                        synth(IfElse {
                            consequent: trap,
                            alternative: empty,
                        }),
                    ]);
                }
                // The entry check and the rewind dispatch are built around
                // the rest of the body at the end (`entry_dispatch`).
                st.entry_site = Some((k, first_cost));
                items.push(Item::Site(site));
            }
            SeqKind::Loop => {
                let k = self.alloc_site(st);
                st.header_cost.insert(seq, first_cost);
                let dead = st.loop_dead.remove(&seq).unwrap_or_default();
                let code = self.check_loop_header(st, k, first_cost, header_extra, &dead);
                items.push(Item::Site(code));
            }
            _ => {}
        }
        for &l in reload {
            cur.push(lget(l));
        }

        let n_old = old.len();
        for (idx, (instr, loc)) in old.into_iter().enumerate() {
            if idx > 0 || !matches!(kind, SeqKind::FunctionBody | SeqKind::Loop) {
                if let Some(&c) = run_cost.get(&idx) {
                    if c > 0 {
                        cur.extend(self.charge(st, c));
                    }
                }
            }
            let last = idx + 1 == n_old;
            match instr {
                Instr::Block(Block { seq: inner }) => {
                    let (params, results) = seq_types(st.types, st.func.block(inner).ty);
                    if pci && self.has_pci(st, inner) {
                        let (lower, _) = self.frame_split(loc, params.len())?;
                        let p = self.spill(st, &mut cur, &lower, &params, 0);
                        let lower_l = p.0;
                        let param_l = p.1;
                        flush(&mut items, &mut cur);
                        let res_l: Vec<LocalId> =
                            results.iter().map(|t| st.pool.get(st.locals, *t)).collect();
                        if !res_l.is_empty() {
                            st.labels.insert(inner, LabelFix::Locals(res_l.clone()));
                        }
                        let lo = st.next_site + 1;
                        let body = self.process_seq(st, inner, SeqKind::Block, &param_l, &res_l)?;
                        let hi = st.next_site;
                        st.func.block_mut(inner).instrs = body;
                        st.func.block_mut(inner).ty = InstrSeqType::Simple(None);
                        let site = vec![synth(Block { seq: inner })];
                        items.push(Item::Site(self.guarded(st, lo, hi, site, Finish::Nowhere)));
                        st.pool.put(st.locals, &param_l);
                        for &l in lower_l.iter().chain(res_l.iter()) {
                            cur.push(lget(l));
                        }
                        st.pool.put(st.locals, &lower_l);
                        st.pool.put(st.locals, &res_l);
                    } else {
                        let body = self.process_seq(st, inner, SeqKind::Plain, &[], &[])?;
                        st.func.block_mut(inner).instrs = body;
                        cur.push((Instr::Block(Block { seq: inner }), loc));
                    }
                }
                Instr::Loop(Loop { seq: inner }) => {
                    let (params, results) = seq_types(st.types, st.func.block(inner).ty);
                    if pci {
                        let (lower, _) = self.frame_split(loc, params.len())?;
                        let (lower_l, param_l) = self.spill(st, &mut cur, &lower, &params, 0);
                        flush(&mut items, &mut cur);
                        let res_l: Vec<LocalId> =
                            results.iter().map(|t| st.pool.get(st.locals, *t)).collect();
                        if !param_l.is_empty() {
                            st.labels.insert(inner, LabelFix::Locals(param_l.clone()));
                        }
                        let lo = st.next_site + 1;
                        let body = self.process_seq(st, inner, SeqKind::Loop, &param_l, &res_l)?;
                        let hi = st.next_site;
                        st.func.block_mut(inner).instrs = body;
                        st.func.block_mut(inner).ty = InstrSeqType::Simple(None);
                        let site = vec![synth(Loop { seq: inner })];
                        let refund = st.header_cost.get(&inner).copied().unwrap_or(0);
                        items.push(Item::Site(self.guarded(
                            st,
                            lo,
                            hi,
                            site,
                            Finish::BeforeLoop(refund),
                        )));
                        for &l in lower_l.iter().chain(res_l.iter()) {
                            cur.push(lget(l));
                        }
                        st.pool.put(st.locals, &param_l);
                        st.pool.put(st.locals, &lower_l);
                        st.pool.put(st.locals, &res_l);
                    } else {
                        // Cannot happen: a loop always makes its sequence
                        // pause-capable, and non-pause-capable sequences are
                        // only processed as `Plain`, which never contain loops.
                        return Err(Error::Internal("loop in a plain sequence".into()));
                    }
                }
                Instr::IfElse(IfElse {
                    consequent,
                    alternative,
                }) => {
                    let (params, results) = seq_types(st.types, st.func.block(consequent).ty);
                    let pci_if = self.has_pci(st, consequent) || self.has_pci(st, alternative);
                    if pci && pci_if {
                        let (lower, _) = self.frame_split(loc, params.len() + 1)?;
                        let cond = st.unsaved.get(st.locals, ValType::I32);
                        cur.push(lset(cond));
                        let (lower_l, param_l) = self.spill(st, &mut cur, &lower, &params, 0);
                        flush(&mut items, &mut cur);
                        let res_l: Vec<LocalId> =
                            results.iter().map(|t| st.pool.get(st.locals, *t)).collect();
                        if !res_l.is_empty() {
                            st.labels
                                .insert(consequent, LabelFix::Locals(res_l.clone()));
                            st.labels
                                .insert(alternative, LabelFix::Locals(res_l.clone()));
                        }
                        let lo = st.next_site + 1;
                        let then_body =
                            self.process_seq(st, consequent, SeqKind::Block, &param_l, &res_l)?;
                        let then_hi = st.next_site;
                        let else_body =
                            self.process_seq(st, alternative, SeqKind::Block, &param_l, &res_l)?;
                        let hi = st.next_site;
                        st.func.block_mut(consequent).instrs = then_body;
                        st.func.block_mut(consequent).ty = InstrSeqType::Simple(None);
                        st.func.block_mut(alternative).instrs = else_body;
                        st.func.block_mut(alternative).ty = InstrSeqType::Simple(None);
                        // In rewind mode the arm is chosen by the target site.
                        let mut site = vec![lget(cond)];
                        if then_hi >= lo {
                            site.extend([
                                lget(st.ri),
                                const_i32(lo as i32),
                                binop(BinaryOp::I32Sub),
                                const_i32((then_hi - lo) as i32),
                                binop(BinaryOp::I32LeU),
                            ]);
                        } else {
                            site.push(const_i32(0));
                        }
                        site.extend([
                            lget(st.ri),
                            unop(UnaryOp::I32Eqz),
                            synth(Select { ty: None }),
                            synth(IfElse {
                                consequent,
                                alternative,
                            }),
                        ]);
                        items.push(Item::Site(self.guarded(st, lo, hi, site, Finish::Nowhere)));
                        for &l in lower_l.iter().chain(res_l.iter()) {
                            cur.push(lget(l));
                        }
                        st.unsaved.put(st.locals, &[cond]);
                        st.pool.put(st.locals, &param_l);
                        st.pool.put(st.locals, &lower_l);
                        st.pool.put(st.locals, &res_l);
                    } else {
                        let t = self.process_seq(st, consequent, SeqKind::Plain, &[], &[])?;
                        st.func.block_mut(consequent).instrs = t;
                        let e = self.process_seq(st, alternative, SeqKind::Plain, &[], &[])?;
                        st.func.block_mut(alternative).instrs = e;
                        cur.push((
                            Instr::IfElse(IfElse {
                                consequent,
                                alternative,
                            }),
                            loc,
                        ));
                    }
                }
                Instr::Return(_) if st.gas_in_local => {
                    cur.extend(self.gas_write_back(st));
                    cur.extend(self.depth_restore(st));
                    cur.push((instr, loc));
                }
                Instr::Call(ref c)
                    if st.gas_in_local
                        && (self.calls.leaves.contains(&c.func)
                            || self.calls.metered_imports.contains(&c.func)) =>
                {
                    // A leaf charges the global itself; a metered import
                    // reads it and may charge it.
                    cur.extend(self.gas_write_back(st));
                    cur.push((instr, loc));
                    cur.extend(self.gas_reload(st));
                }
                Instr::Br(Br { block }) => {
                    let block = st.retarget(block);
                    if let Some(LabelFix::Locals(ls)) = st.labels.get(&block).cloned() {
                        for &l in ls.iter().rev() {
                            cur.push(lset(l));
                        }
                    }
                    cur.push((Instr::Br(Br { block }), loc));
                }
                Instr::BrIf(BrIf { block }) => {
                    let block = st.retarget(block);
                    if let Some(LabelFix::Locals(ls)) = st.labels.get(&block).cloned() {
                        let c = st.pool.get(st.locals, ValType::I32);
                        cur.push(lset(c));
                        for &l in ls.iter().rev() {
                            cur.push(lset(l));
                        }
                        for &l in ls.iter() {
                            cur.push(lget(l));
                        }
                        cur.push(lget(c));
                        st.pool.put(st.locals, &[c]);
                    }
                    match refund_at.get(&idx) {
                        Some(&amount) => {
                            let mut taken = self.refund(st, amount);
                            taken.push((Instr::Br(Br { block }), loc));
                            let taken = new_seq(st.func, taken);
                            let empty = new_seq(st.func, vec![]);
                            cur.push(synth(IfElse {
                                consequent: taken,
                                alternative: empty,
                            }));
                        }
                        None => cur.push((Instr::BrIf(BrIf { block }), loc)),
                    }
                }
                Instr::BrTable(BrTable { blocks, default }) => {
                    let blocks: Box<[InstrSeqId]> =
                        blocks.iter().map(|b| st.retarget(*b)).collect();
                    let default = st.retarget(default);
                    let fixed: Vec<InstrSeqId> = blocks
                        .iter()
                        .chain(std::iter::once(&default))
                        .filter(|b| st.labels.contains_key(b))
                        .copied()
                        .collect();
                    if fixed.is_empty() {
                        cur.push((Instr::BrTable(BrTable { blocks, default }), loc));
                    } else {
                        self.br_table_trampoline(st, &mut cur, &blocks, default, loc)?;
                    }
                }
                ref i if pci && self.is_call_site(i) => {
                    let (params, results) = match i {
                        Instr::Call(c) => {
                            let t = st.types.get(self.func_types[&c.func]);
                            (t.params().to_vec(), t.results().to_vec())
                        }
                        Instr::CallIndirect(ci) => {
                            let t = st.types.get(ci.ty);
                            let mut p = t.params().to_vec();
                            p.push(ValType::I32);
                            (p, t.results().to_vec())
                        }
                        _ => unreachable!(),
                    };
                    let (lower, _) = self.frame_split(loc, params.len())?;
                    // Every argument but `call_indirect`'s table index
                    // (which a rewind needs to call the same function).
                    let unsaved = match i {
                        Instr::CallIndirect(_) => params.len() - 1,
                        _ => params.len(),
                    };
                    let (lower_l, arg_l) = self.spill(st, &mut cur, &lower, &params, unsaved);
                    flush(&mut items, &mut cur);
                    // Two sites: `k` for a pause right after the call,
                    // `k + 1` for a pause below it (see below).
                    let k = self.alloc_site(st);
                    self.alloc_site(st);
                    let res_l: Vec<LocalId> =
                        results.iter().map(|t| st.pool.get(st.locals, *t)).collect();
                    let mut site = vec![const_i32(0), lset(st.ri)];
                    site.extend(self.gas_write_back(st));
                    site.extend(arg_l.iter().map(|&l| lget(l)));
                    site.push((instr.clone(), loc));
                    for &l in res_l.iter().rev() {
                        site.push(lset(l));
                    }
                    // After the call: a negative balance is either a pause
                    // below (state = unwinding: unwind this frame at
                    // `k + 1`) or a callee that returned past the budget:
                    // pause here, at `k`, with the results in their locals,
                    // so a chain of returns does not run every caller's
                    // tail (the overshoot stays one function's loop-free
                    // path). The shared pause path tells the two apart by
                    // the state (`pause_after_call`).
                    // (Synthetic calls have the default offset, which the
                    // analysis of the input never records.)
                    let dead = st.call_dead.remove(&loc).unwrap_or_default();
                    let negative = self.pause_after_call(st, k, &dead);
                    let not_negative = new_seq(st.func, vec![]);
                    site.extend([
                        gget(self.ids.gas),
                        synth(LocalTee { local: st.gas_tmp }),
                        const_i64(0),
                        binop(BinaryOp::I64LtS),
                        synth(IfElse {
                            consequent: negative,
                            alternative: not_negative,
                        }),
                    ]);
                    items.push(Item::Site(self.guarded(
                        st,
                        k,
                        k + 1,
                        site,
                        Finish::AfterSite,
                    )));
                    st.unsaved.put(st.locals, &arg_l[..unsaved]);
                    st.pool.put(st.locals, &arg_l[unsaved..]);
                    for &l in lower_l.iter().chain(res_l.iter()) {
                        cur.push(lget(l));
                    }
                    st.pool.put(st.locals, &lower_l);
                    st.pool.put(st.locals, &res_l);
                }
                ref i if pci && self.dynamic_cost(i).is_some() => {
                    let (unit, count_arg, bytes) = self.dynamic_cost(i).unwrap();
                    let (params, results) = dynamic_op_types(i);
                    let (lower, _) = self.frame_split(loc, params.len())?;
                    let (lower_l, arg_l) = self.spill(st, &mut cur, &lower, &params, 0);
                    flush(&mut items, &mut cur);
                    let k = self.alloc_site(st);
                    let res_l: Vec<LocalId> =
                        results.iter().map(|t| st.pool.get(st.locals, *t)).collect();
                    let mut site = vec![
                        lget(st.gas_tmp),
                        lget(arg_l[count_arg]),
                        unop(UnaryOp::I64ExtendUI32),
                    ];
                    if bytes {
                        site.extend([
                            const_i64(7),
                            binop(BinaryOp::I64Add),
                            const_i64(3),
                            binop(BinaryOp::I64ShrU),
                        ]);
                    }
                    site.extend([
                        const_i64(unit as i64),
                        binop(BinaryOp::I64Mul),
                        binop(BinaryOp::I64Sub),
                    ]);
                    let check = self.check_site(st, k, site, &DeadAt::default());
                    let mut site = check;
                    // Reached again by a rewind: the charge above went to
                    // the fake balance; finish with the saved one.
                    let finish = self.finish_rewind(st, 0);
                    let finish = new_seq(st.func, finish);
                    let empty = new_seq(st.func, vec![]);
                    site.extend([
                        lget(st.ri),
                        synth(IfElse {
                            consequent: finish,
                            alternative: empty,
                        }),
                    ]);
                    site.extend(arg_l.iter().map(|&l| lget(l)));
                    site.push((instr.clone(), loc));
                    for &l in res_l.iter().rev() {
                        site.push(lset(l));
                    }
                    items.push(Item::Site(self.guarded(st, k, k, site, Finish::Nowhere)));
                    st.pool.put(st.locals, &arg_l);
                    for &l in lower_l.iter().chain(res_l.iter()) {
                        cur.push(lget(l));
                    }
                    st.pool.put(st.locals, &lower_l);
                    st.pool.put(st.locals, &res_l);
                }
                Instr::DataDrop(DataDrop { data }) => {
                    cur.push((Instr::DataDrop(DataDrop { data }), loc));
                    if let Some(&(g, bit)) = self.ids.data_drop_bits.get(&data) {
                        cur.extend(set_bit(g, bit));
                    }
                }
                Instr::ElemDrop(ElemDrop { elem }) => {
                    cur.push((Instr::ElemDrop(ElemDrop { elem }), loc));
                    if let Some(&(g, bit)) = self.ids.elem_drop_bits.get(&elem) {
                        cur.extend(set_bit(g, bit));
                    }
                }
                other => cur.push((other, loc)),
            }
            if last {
                break;
            }
        }
        // Results of a normalized construct go to its locals.
        if !ends_diverging {
            for &l in store_results.iter().rev() {
                cur.push(lset(l));
            }
        }
        flush(&mut items, &mut cur);

        if !pci {
            let mut out = Vec::new();
            for item in items {
                match item {
                    Item::Plain(v) | Item::Site(v) => out.extend(v),
                }
            }
            return Ok(out);
        }
        // The entry or loop-header site: the rest of the sequence may get a
        // fast copy for normal mode (see `split_fast`).
        let header_len = match (&kind, items.first()) {
            (SeqKind::FunctionBody | SeqKind::Loop, Some(Item::Site(v))) => Some(v.len()),
            _ => None,
        };
        // Guard every plain region that is followed by a site.
        let last_site = items.iter().rposition(|i| matches!(i, Item::Site(_)));
        let mut out = Vec::new();
        for (idx, item) in items.into_iter().enumerate() {
            match item {
                Item::Site(v) => out.extend(v),
                Item::Plain(v) => {
                    let before_site = last_site.map(|s| idx < s).unwrap_or(false);
                    if before_site && !v.is_empty() && !self.gas_only(st, &v) {
                        let guarded = new_seq(st.func, v);
                        let empty = new_seq(st.func, vec![]);
                        out.push(lget(st.ri));
                        out.push(unop(UnaryOp::I32Eqz));
                        out.push(synth(IfElse {
                            consequent: guarded,
                            alternative: empty,
                        }));
                    } else {
                        out.extend(v);
                    }
                }
            }
        }
        if let Some(header_len) = header_len {
            let rest = out.split_off(header_len);
            match kind {
                SeqKind::FunctionBody => {
                    let ty = st.func.block(seq).ty;
                    out.extend(self.entry_dispatch(st, rest, ty));
                }
                _ => out.extend(self.split_fast(st, rest, InstrSeqType::Simple(None))),
            }
        }
        Ok(out)
    }

    /// The function entry around the rest of the body (`ty`: the body's
    /// type): one check of the charged balance sends both a pause and a
    /// rewind to the slow path, so normal calls read no state.
    ///
    /// ```text
    /// block $exit (type ty)
    ///   block $to_fast
    ///     gas = gas - cost                    ;; stored to the global too
    ///     if (gas as u64 >= 2^62)             ;; negative, or the rewind's fake
    ///       if (state)                        ;; rewinding
    ///         pop the frame; if (ri == entry site) finish the rewind
    ///       else                              ;; out of gas: pause here
    ///         state = unwinding; br $unwind (entry site)
    ///     else br $to_fast
    ///     guarded rest; br $exit
    ///   end
    ///   fast rest                             ;; every `ri` guard folded away
    /// end
    /// ```
    ///
    /// Without a fast copy (large or guard-free code) the rest follows the
    /// check directly. Real balances stay below 2^62
    /// ([`crate::instrument::MAX_BALANCE`]); the rewind's fake balance
    /// stays above it whatever the frames on the way back charge.
    fn entry_dispatch(
        &self,
        st: &mut State<'_>,
        rest: Vec<(Instr, InstrLocId)>,
        ty: InstrSeqType,
    ) -> Vec<(Instr, InstrLocId)> {
        let (k, cost) = st.entry_site.take().unwrap_or((0, 0));
        // The entry charge went to the fake balance: finishing here
        // restores the saved one, which already paid it.
        let finish = self.finish_rewind(st, 0);
        let then_finish = new_seq(st.func, finish);
        let empty = new_seq(st.func, vec![]);
        let rewinding = new_seq(
            st.func,
            vec![
                // Placeholder, replaced once the frame layout is known.
                synth(Unreachable {}),
                synth(Drop {}),
                lget(st.ri),
                const_i32(k as i32),
                binop(BinaryOp::I32Eq),
                synth(IfElse {
                    consequent: then_finish,
                    alternative: empty,
                }),
            ],
        );
        let pausing = self.pause_at(st, k, None);
        let slow = new_seq(
            st.func,
            vec![
                gget(self.ids.state),
                synth(IfElse {
                    consequent: rewinding,
                    alternative: pausing,
                }),
            ],
        );
        let mut code = self.charged_gas(st, cost, true);
        code.extend([
            synth(LocalTee { local: st.gas_tmp }),
            const_i64(1 << 62),
            binop(BinaryOp::I64GeU),
        ]);
        if !wants_fast_copy(st, &rest) {
            let empty = new_seq(st.func, vec![]);
            code.push(synth(IfElse {
                consequent: slow,
                alternative: empty,
            }));
            code.extend(rest);
            return code;
        }
        // A body with loops: its fast copy pauses into an epilogue of its
        // own (see `fast_labels`). Without loops, into the guarded copy's.
        let mut map = HashMap::new();
        if contains_loop(st.func, &rest) {
            let fast_labels = (site_label(st.func), site_label(st.func));
            st.fast_labels = Some(fast_labels);
            map.extend([
                (st.unwind_label, fast_labels.0),
                (st.call_pause_label, fast_labels.1),
            ]);
        }
        let fast = clone_fast(st.func, st.ri, &rest, &mut map);
        let exit = st.func.builder_mut().dangling_instr_seq(ty).id();
        let to_fast = st
            .func
            .builder_mut()
            .dangling_instr_seq(InstrSeqType::Simple(None))
            .id();
        let go_fast = new_seq(st.func, vec![synth(Br { block: to_fast })]);
        code.push(synth(IfElse {
            consequent: slow,
            alternative: go_fast,
        }));
        code.extend(rest);
        code.push(synth(Br { block: exit }));
        st.func.block_mut(to_fast).instrs = code;
        let mut exit_code = vec![synth(Block { seq: to_fast })];
        exit_code.extend(fast);
        st.func.block_mut(exit).instrs = exit_code;
        vec![synth(Block { seq: exit })]
    }

    /// Gives the code after an entry or loop-header site a second copy for
    /// normal mode: `(if ri (then rest) (else rest with ri = 0))`. In the
    /// copy every `ri` test is folded away, so code that is not rewinding
    /// runs without guards: a function called normally runs its copy, and
    /// a loop runs its copy from the first iteration after a finished
    /// rewind. Only the guarded original handles a rewind, which reaches
    /// the same sites with the same locals. The copy is skipped when the
    /// code is large (it would grow by more than the saving is worth) or
    /// has no guards.
    fn split_fast(
        &self,
        st: &mut State<'_>,
        rest: Vec<(Instr, InstrLocId)>,
        ty: InstrSeqType,
    ) -> Vec<(Instr, InstrLocId)> {
        if !wants_fast_copy(st, &rest) {
            return rest;
        }
        let fast = clone_fast(st.func, st.ri, &rest, &mut HashMap::new());
        let slow = st.func.builder_mut().dangling_instr_seq(ty).id();
        st.func.block_mut(slow).instrs = rest;
        let fast_seq = st.func.builder_mut().dangling_instr_seq(ty).id();
        st.func.block_mut(fast_seq).instrs = fast;
        vec![
            lget(st.ri),
            synth(IfElse {
                consequent: slow,
                alternative: fast_seq,
            }),
        ]
    }

    fn gas_only(&self, st: &State<'_>, v: &[(Instr, InstrLocId)]) -> bool {
        v.iter().all(|(i, loc)| {
            loc.is_default()
                && match i {
                    Instr::GlobalGet(g) => g.global == self.ids.gas,
                    Instr::GlobalSet(g) => g.global == self.ids.gas,
                    Instr::LocalGet(l) => l.local == st.gas_tmp,
                    Instr::LocalSet(l) => l.local == st.gas_tmp,
                    Instr::Const(_) => true,
                    Instr::Binop(b) => matches!(b.op, BinaryOp::I64Sub),
                    _ => false,
                }
        })
    }

    fn alloc_site(&self, st: &mut State<'_>) -> u32 {
        st.next_site += 1;
        st.next_site
    }

    /// Wraps site code in `if (ri == 0 || lo <= ri <= hi)`; `finish` says
    /// where a rewind that targets the site itself ends (see [`Finish`]).
    fn guarded(
        &self,
        st: &mut State<'_>,
        lo: u32,
        hi: u32,
        site: Vec<(Instr, InstrLocId)>,
        finish: Finish,
    ) -> Vec<(Instr, InstrLocId)> {
        if hi < lo {
            // A construct without sites inside: it runs only in normal mode.
            let inner = new_seq(st.func, site);
            let empty = new_seq(st.func, vec![]);
            return vec![
                lget(st.ri),
                unop(UnaryOp::I32Eqz),
                synth(IfElse {
                    consequent: inner,
                    alternative: empty,
                }),
            ];
        }
        // block $skip
        //   (if (ri) (then (br_if $skip (ri - lo >u hi - lo)) finish?))
        //   site
        // end
        // Normal mode pays one test of `ri`.
        let skip = st
            .func
            .builder_mut()
            .dangling_instr_seq(InstrSeqType::Simple(None))
            .id();
        let mut rewinding = if hi == lo {
            vec![lget(st.ri), const_i32(lo as i32), binop(BinaryOp::I32Ne)]
        } else {
            vec![
                lget(st.ri),
                const_i32(lo as i32),
                binop(BinaryOp::I32Sub),
                const_i32((hi - lo) as i32),
                binop(BinaryOp::I32GtU),
            ]
        };
        rewinding.push(synth(BrIf { block: skip }));
        let target = match finish {
            Finish::Nowhere => None,
            Finish::BeforeLoop(refund) => Some((lo, self.finish_rewind(st, refund))),
            Finish::AfterSite => {
                let mut v = self.finish_rewind(st, 0);
                v.push(synth(Br { block: skip }));
                Some((lo, v))
            }
        };
        if let Some((at, code)) = target {
            let code = new_seq(st.func, code);
            let empty = new_seq(st.func, vec![]);
            rewinding.extend([
                lget(st.ri),
                const_i32(at as i32),
                binop(BinaryOp::I32Eq),
                synth(IfElse {
                    consequent: code,
                    alternative: empty,
                }),
            ]);
        }
        let out_of_range = new_seq(st.func, rewinding);
        let empty = new_seq(st.func, vec![]);
        let mut body = vec![
            lget(st.ri),
            synth(IfElse {
                consequent: out_of_range,
                alternative: empty,
            }),
        ];
        body.extend(site);
        st.func.block_mut(skip).instrs = body;
        vec![synth(Block { seq: skip })]
    }

    /// Pops `inputs` then `lower` into fresh temps (the current frame is
    /// then empty). Returns `(lower temps, input temps)` bottom first.
    fn spill(
        &self,
        st: &mut State<'_>,
        cur: &mut Vec<(Instr, InstrLocId)>,
        lower: &[ValType],
        inputs: &[ValType],
        unsaved_inputs: usize,
    ) -> (Vec<LocalId>, Vec<LocalId>) {
        let in_l: Vec<LocalId> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if i < unsaved_inputs {
                    st.unsaved.get(st.locals, *t)
                } else {
                    st.pool.get(st.locals, *t)
                }
            })
            .collect();
        let low_l: Vec<LocalId> = lower.iter().map(|t| st.pool.get(st.locals, *t)).collect();
        for &l in in_l.iter().rev() {
            cur.push(lset(l));
        }
        for &l in low_l.iter().rev() {
            cur.push(lset(l));
        }
        (low_l, in_l)
    }

    /// `br_table` whose targets include normalized labels with values:
    /// dispatch through empty blocks, then deliver the values per target.
    fn br_table_trampoline(
        &self,
        st: &mut State<'_>,
        cur: &mut Vec<(Instr, InstrLocId)>,
        blocks: &[InstrSeqId],
        default: InstrSeqId,
        loc: InstrLocId,
    ) -> Result<()> {
        // Value types: from any normalized target's locals, or the map.
        let (_, inputs) = {
            let arity_from_labels = blocks
                .iter()
                .chain(std::iter::once(&default))
                .find_map(|b| st.labels.get(b).map(|LabelFix::Locals(ls)| ls.len()))
                .unwrap_or(0);
            let (_, tys) = self.frame_split(loc, arity_from_labels + 1)?;
            ((), tys)
        };
        let vals_ty = &inputs[..inputs.len() - 1];
        let idx = st.pool.get(st.locals, ValType::I32);
        let vals: Vec<LocalId> = vals_ty.iter().map(|t| st.pool.get(st.locals, *t)).collect();
        cur.push(lset(idx));
        for &l in vals.iter().rev() {
            cur.push(lset(l));
        }
        // Distinct targets in order of first appearance.
        let mut targets: Vec<InstrSeqId> = Vec::new();
        for b in blocks.iter().chain(std::iter::once(&default)) {
            if !targets.contains(b) {
                targets.push(*b);
            }
        }
        let deliver = |st: &State<'_>, t: InstrSeqId| -> Vec<(Instr, InstrLocId)> {
            let mut code: Vec<(Instr, InstrLocId)> = vals.iter().map(|&l| lget(l)).collect();
            if let Some(LabelFix::Locals(ls)) = st.labels.get(&t) {
                for &l in ls.iter().rev() {
                    code.push(lset(l));
                }
            }
            code.push(synth(Br { block: t }));
            code
        };
        // Innermost block holds the br_table; block i's continuation
        // delivers to target i.
        let mut inner_seqs: Vec<InstrSeqId> = Vec::new();
        for _ in &targets {
            inner_seqs.push(
                st.func
                    .builder_mut()
                    .dangling_instr_seq(InstrSeqType::Simple(None))
                    .id(),
            );
        }
        let pos = |t: &InstrSeqId| targets.iter().position(|x| x == t).unwrap();
        let table: Box<[InstrSeqId]> = blocks.iter().map(|b| inner_seqs[pos(b)]).collect();
        st.func.block_mut(inner_seqs[0]).instrs = vec![
            lget(idx),
            (
                Instr::BrTable(BrTable {
                    blocks: table,
                    default: inner_seqs[pos(&default)],
                }),
                loc,
            ),
        ];
        for i in 1..targets.len() {
            let mut code = vec![synth(Block {
                seq: inner_seqs[i - 1],
            })];
            code.extend(deliver(st, targets[i - 1]));
            st.func.block_mut(inner_seqs[i]).instrs = code;
        }
        cur.push(synth(Block {
            seq: *inner_seqs.last().unwrap(),
        }));
        cur.extend(deliver(st, *targets.last().unwrap()));
        st.pool.put(st.locals, &[idx]);
        st.pool.put(st.locals, &vals);
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SeqKind {
    FunctionBody,
    Loop,
    Block,
    Plain,
}

/// Largest code (instructions, nested ones included) that gets a fast copy
/// for normal mode (see [`FuncPass::split_fast`]).
const FAST_COPY_MAX_INSTRS: usize = 4000;

/// Instructions a function may add in fast copies: twice its own size plus
/// this. Inner loops are processed first, so they get copies first; deeply
/// nested loops (each level copies its children's fast copies again) stop
/// copying when the budget runs out instead of growing the code (and its
/// compile time) quadratically.
const FAST_COPY_EXTRA_INSTRS: u64 = 20_000;

/// Whether `rest` gets a fast copy: it has rewind guards to fold away and
/// is small enough.
fn wants_fast_copy(st: &mut State<'_>, rest: &[(Instr, InstrLocId)]) -> bool {
    // Counting stops past the cap, so nested loops (each header asks about
    // everything inside it) cost linear time, not quadratic.
    let cap = FAST_COPY_MAX_INSTRS.min(st.fast_copy_budget.min(usize::MAX as u64) as usize);
    let size = code_size_capped(st.func, rest, cap);
    if size > cap || !uses_local(st.func, rest, st.ri) {
        return false;
    }
    st.fast_copy_budget -= size as u64;
    true
}

/// Instructions in `instrs`, nested sequences included.
fn code_size(func: &LocalFunction, instrs: &[(Instr, InstrLocId)]) -> usize {
    code_size_capped(func, instrs, usize::MAX)
}

/// [`code_size`], except that counting stops once it exceeds `cap` (the
/// result is then some number above `cap`).
fn code_size_capped(func: &LocalFunction, instrs: &[(Instr, InstrLocId)], cap: usize) -> usize {
    let mut n = instrs.len();
    let mut stack: Vec<InstrSeqId> = instrs.iter().flat_map(|(i, _)| nested(i)).collect();
    while let Some(s) = stack.pop() {
        if n > cap {
            break;
        }
        let seq = &func.block(s).instrs;
        n += seq.len();
        stack.extend(seq.iter().flat_map(|(i, _)| nested(i)));
    }
    n
}

/// Whether `instrs` (nested sequences included) hold a loop.
fn contains_loop(func: &LocalFunction, instrs: &[(Instr, InstrLocId)]) -> bool {
    any_nested(func, instrs, |i| matches!(i, Instr::Loop(_)))
}

/// Whether `instrs` (nested sequences included) read `local`.
fn uses_local(func: &LocalFunction, instrs: &[(Instr, InstrLocId)], local: LocalId) -> bool {
    any_nested(
        func,
        instrs,
        |i| matches!(i, Instr::LocalGet(g) if g.local == local),
    )
}

/// Whether any instruction of `instrs`, nested sequences included, is `hit`.
fn any_nested(
    func: &LocalFunction,
    instrs: &[(Instr, InstrLocId)],
    hit: impl Fn(&Instr) -> bool,
) -> bool {
    let mut stack: Vec<InstrSeqId> = Vec::new();
    for (i, _) in instrs {
        if hit(i) {
            return true;
        }
        stack.extend(nested(i));
    }
    while let Some(s) = stack.pop() {
        for (i, _) in &func.block(s).instrs {
            if hit(i) {
                return true;
            }
            stack.extend(nested(i));
        }
    }
    false
}

fn i32_const_of(item: Option<&(Instr, InstrLocId)>) -> Option<i32> {
    match item {
        Some((
            Instr::Const(Const {
                value: Value::I32(c),
            }),
            _,
        )) => Some(*c),
        _ => None,
    }
}

/// A copy of `instrs` in fresh sequences for the case `ri == 0`: every
/// `local.get ri` becomes `i32.const 0` and what that decides is folded
/// (`i32.eqz`, i32 comparisons and arithmetic on constants, `select`,
/// `if` and `br_if` on a constant). Branches to copied sequences go to
/// their copies (`map`: original → copy).
fn clone_fast(
    func: &mut LocalFunction,
    ri: LocalId,
    instrs: &[(Instr, InstrLocId)],
    map: &mut HashMap<InstrSeqId, InstrSeqId>,
) -> Vec<(Instr, InstrLocId)> {
    let remap = |map: &HashMap<InstrSeqId, InstrSeqId>, b: InstrSeqId| *map.get(&b).unwrap_or(&b);
    let mut out: Vec<(Instr, InstrLocId)> = Vec::with_capacity(instrs.len());
    for (instr, loc) in instrs {
        match instr {
            Instr::LocalGet(g) if g.local == ri => out.push(const_i32(0)),
            // `ri` is 0 throughout the copy, so its stores are dead (a call
            // site's `ri = 0`): only the stack effect stays.
            Instr::LocalSet(s) if s.local == ri => {
                if i32_const_of(out.last()).is_some() {
                    out.pop();
                } else {
                    out.push(synth(Drop {}));
                }
            }
            Instr::LocalTee(t) if t.local == ri => {}
            Instr::Unop(Unop {
                op: UnaryOp::I32Eqz,
            }) if i32_const_of(out.last()).is_some() => {
                let c = i32_const_of(out.pop().as_ref()).unwrap_or(0);
                out.push(const_i32((c == 0) as i32));
            }
            Instr::Binop(Binop { op })
                if out.len() >= 2
                    && i32_const_of(out.last()).is_some()
                    && i32_const_of(out.get(out.len() - 2)).is_some() =>
            {
                let b = i32_const_of(out.last()).unwrap_or(0);
                let a = i32_const_of(out.get(out.len() - 2)).unwrap_or(0);
                let folded = match op {
                    BinaryOp::I32Add => Some(a.wrapping_add(b)),
                    BinaryOp::I32Sub => Some(a.wrapping_sub(b)),
                    BinaryOp::I32Eq => Some((a == b) as i32),
                    BinaryOp::I32Ne => Some((a != b) as i32),
                    BinaryOp::I32LtU => Some(((a as u32) < (b as u32)) as i32),
                    BinaryOp::I32LeU => Some(((a as u32) <= (b as u32)) as i32),
                    BinaryOp::I32GtU => Some(((a as u32) > (b as u32)) as i32),
                    BinaryOp::I32GeU => Some(((a as u32) >= (b as u32)) as i32),
                    _ => None,
                };
                match folded {
                    Some(v) => {
                        out.truncate(out.len() - 2);
                        out.push(const_i32(v));
                    }
                    None => out.push((instr.clone(), *loc)),
                }
            }
            Instr::Select(_)
                if out.len() >= 3
                    && i32_const_of(out.last()).is_some()
                    && out[out.len() - 3..out.len() - 1]
                        .iter()
                        .all(|(i, _)| matches!(i, Instr::Const(_) | Instr::LocalGet(_))) =>
            {
                let c = i32_const_of(out.pop().as_ref()).unwrap_or(0);
                let second = out.pop();
                let first = out.pop();
                let chosen = if c != 0 { first } else { second };
                out.extend(chosen);
            }
            Instr::IfElse(ie) if i32_const_of(out.last()).is_some() => {
                let c = i32_const_of(out.pop().as_ref()).unwrap_or(0);
                let arm = if c != 0 {
                    ie.consequent
                } else {
                    ie.alternative
                };
                if func.block(arm).instrs.is_empty()
                    && matches!(func.block(arm).ty, InstrSeqType::Simple(None))
                {
                    continue;
                }
                let seq = clone_seq(func, ri, arm, map);
                out.push(synth(Block { seq }));
            }
            Instr::IfElse(ie) => {
                let consequent = clone_seq(func, ri, ie.consequent, map);
                let alternative = clone_seq(func, ri, ie.alternative, map);
                out.push((
                    Instr::IfElse(IfElse {
                        consequent,
                        alternative,
                    }),
                    *loc,
                ));
            }
            Instr::BrIf(b) if i32_const_of(out.last()).is_some() => {
                let c = i32_const_of(out.pop().as_ref()).unwrap_or(0);
                if c != 0 {
                    out.push(synth(Br {
                        block: remap(map, b.block),
                    }));
                }
            }
            Instr::BrIf(b) => out.push((
                Instr::BrIf(BrIf {
                    block: remap(map, b.block),
                }),
                *loc,
            )),
            Instr::Br(b) => out.push((
                Instr::Br(Br {
                    block: remap(map, b.block),
                }),
                *loc,
            )),
            Instr::BrTable(t) => out.push((
                Instr::BrTable(BrTable {
                    blocks: t.blocks.iter().map(|b| remap(map, *b)).collect(),
                    default: remap(map, t.default),
                }),
                *loc,
            )),
            Instr::Block(b) => {
                let seq = clone_seq(func, ri, b.seq, map);
                out.push((Instr::Block(Block { seq }), *loc));
            }
            Instr::Loop(l) => {
                let seq = clone_seq(func, ri, l.seq, map);
                out.push((Instr::Loop(Loop { seq }), *loc));
            }
            other => out.push((other.clone(), *loc)),
        }
    }
    out
}

/// A new block that takes a site number (`[] -> [i32]`), for the
/// epilogue and the pause paths.
fn site_label(func: &mut LocalFunction) -> InstrSeqId {
    func.builder_mut()
        .dangling_instr_seq(InstrSeqType::Simple(Some(ValType::I32)))
        .id()
}

/// [`clone_fast`] of the sequence `seq` into a fresh sequence.
fn clone_seq(
    func: &mut LocalFunction,
    ri: LocalId,
    seq: InstrSeqId,
    map: &mut HashMap<InstrSeqId, InstrSeqId>,
) -> InstrSeqId {
    let ty = func.block(seq).ty;
    let copy = func.builder_mut().dangling_instr_seq(ty).id();
    map.insert(seq, copy);
    let instrs = func.block(seq).instrs.clone();
    let body = clone_fast(func, ri, &instrs, map);
    func.block_mut(copy).instrs = body;
    copy
}

/// Placeholder for the depth weight constant (patched after the frame size
/// is known).
pub const WEIGHT_MARKER: i32 = 0x5753_4457;

/// The number of the temp-overwrite marker `(i, loc)` is, if it is one
/// (see [`FuncPass::overwrite_dead`]).
fn temp_mark(i: &Instr, loc: InstrLocId) -> Option<usize> {
    match i {
        Instr::Unreachable(_) if !loc.is_default() && loc.data() >= TEMP_MARK => {
            Some((loc.data() - TEMP_MARK) as usize)
        }
        _ => None,
    }
}

/// Input offsets from here on mark the pause paths' temp overwrites (see
/// [`FuncPass::overwrite_dead`]); a module's offsets stay far below.
const TEMP_MARK: u32 = 0xF000_0000;

fn set_bit(g: GlobalId, bit: u32) -> Vec<(Instr, InstrLocId)> {
    vec![
        gget(g),
        const_i64(1i64 << bit),
        binop(BinaryOp::I64Or),
        gset(g),
    ]
}

fn dynamic_op_types(i: &Instr) -> (Vec<ValType>, Vec<ValType>) {
    use ValType::*;
    match i {
        Instr::MemoryGrow(_) => (vec![I32], vec![I32]),
        Instr::MemoryFill(_) | Instr::MemoryCopy(_) | Instr::MemoryInit(_) => {
            (vec![I32, I32, I32], vec![])
        }
        Instr::TableCopy(_) | Instr::TableInit(_) => (vec![I32, I32, I32], vec![]),
        // table.fill / table.grow need reference types, which are refused.
        _ => (vec![], vec![]),
    }
}

fn flush(items: &mut Vec<Item>, cur: &mut Vec<(Instr, InstrLocId)>) {
    if !cur.is_empty() {
        items.push(Item::Plain(std::mem::take(cur)));
    }
}

fn new_seq(func: &mut LocalFunction, instrs: Vec<(Instr, InstrLocId)>) -> InstrSeqId {
    let id = func
        .builder_mut()
        .dangling_instr_seq(InstrSeqType::Simple(None))
        .id();
    func.block_mut(id).instrs = instrs;
    id
}

/// The zero (or null) of `ty`. A pause path overwrites dead temps with it
/// before the saved locals are checked, so it must exist for every type,
/// even those the check then refuses.
fn zero_of(ty: ValType) -> (Instr, InstrLocId) {
    let value = match ty {
        ValType::I32 => Value::I32(0),
        ValType::I64 => Value::I64(0),
        ValType::F32 => Value::F32(0.0),
        ValType::F64 => Value::F64(0.0),
        ValType::V128 => Value::V128(0),
        ValType::Ref(ty) => return synth(RefNull { ty }),
    };
    synth(Const { value })
}

/// Deletes instructions after an unconditional branch in every sequence.
fn truncate_dead_code(func: &mut LocalFunction, seq: InstrSeqId) {
    let instrs = &mut func.block_mut(seq).instrs;
    if let Some(pos) = instrs.iter().position(|(i, _)| diverges(i)) {
        instrs.truncate(pos + 1);
    }
    let children: Vec<InstrSeqId> = func
        .block(seq)
        .instrs
        .iter()
        .flat_map(|(i, _)| nested(i))
        .collect();
    for c in children {
        truncate_dead_code(func, c);
    }
}

/// The guest's locals of one type that are dead at a pause site, and the
/// live local of that type its pause path copies into them (zero when
/// there is none).
type Overwrite = (ValType, Option<LocalId>, Vec<LocalId>);

/// Overwrites the locals dead at a pause site: one read of each source,
/// then a `local.tee` per local but the last (two bytes each: the call
/// sites of libc's code section add half as much as with a read per
/// local).
fn overwrite(dead: &[Overwrite]) -> Vec<(Instr, InstrLocId)> {
    let mut code = Vec::new();
    for (ty, src, ls) in dead {
        code.push(match src {
            Some(src) => lget(*src),
            None => zero_of(*ty),
        });
        let (last, rest) = ls.split_last().expect("an overwrite has locals");
        code.extend(rest.iter().map(|&l| synth(LocalTee { local: l })));
        code.push(lset(*last));
    }
    code
}

/// `dead` grouped by type, in the order of each type's first local, each
/// group with the local `sources` gives for its type (none: zero).
fn group_by_type(
    dead: impl IntoIterator<Item = (LocalId, ValType)>,
    sources: &[(ValType, LocalId)],
) -> Vec<Overwrite> {
    let mut groups: Vec<Overwrite> = Vec::new();
    for (l, ty) in dead {
        match groups.iter_mut().find(|(t, _, _)| *t == ty) {
            Some((_, _, ls)) => ls.push(l),
            None => {
                let src = sources.iter().find(|(t, _)| *t == ty).map(|(_, s)| *s);
                groups.push((ty, src, vec![l]));
            }
        }
    }
    groups
}

/// A pause path's marker: the temps in use at its site and a live guest
/// local per type there.
type TempMark = (HashSet<LocalId>, Vec<(ValType, LocalId)>);

/// What the liveness analysis tells of one pause site.
#[derive(Clone, Debug, Default)]
struct DeadAt {
    /// The guest's locals dead there (see [`Overwrite`]).
    guests: Vec<Overwrite>,
    /// For each number type, the first guest local of that type live
    /// there, if any: the source for the dead temps of that type.
    live: Vec<(ValType, LocalId)>,
}

/// For each loop header and call of `func` (not yet instrumented), the
/// guest's locals of number types that are dead there, by type in the
/// order of their first dead local, each type with the first live local
/// of that type if there is one (first-use order throughout: the
/// generated code must not depend on hash order).
fn dead_locals(
    func: &LocalFunction,
    locals: &ModuleLocals,
) -> (HashMap<InstrSeqId, DeadAt>, BTreeMap<InstrLocId, DeadAt>) {
    let Some(live) = liveness::analyse(func) else {
        return Default::default();
    };
    let mut all = func.args.clone();
    let mut seen: HashSet<LocalId> = all.iter().copied().collect();
    collect_locals(func, func.entry_block(), &mut all, &mut seen);
    let all: Vec<(LocalId, ValType)> = all
        .into_iter()
        .map(|l| (l, locals.get(l).ty()))
        .filter(|(_, ty)| {
            matches!(
                ty,
                ValType::I32 | ValType::I64 | ValType::F32 | ValType::F64
            )
        })
        .collect();
    let dead_at = |live: &HashSet<LocalId>| -> DeadAt {
        let mut sources: Vec<(ValType, LocalId)> = Vec::new();
        for &(l, ty) in all.iter().filter(|(l, _)| live.contains(l)) {
            if !sources.iter().any(|(t, _)| *t == ty) {
                sources.push((ty, l));
            }
        }
        let dead = all.iter().copied().filter(|(l, _)| !live.contains(l));
        DeadAt {
            guests: group_by_type(dead, &sources),
            live: sources,
        }
    };
    let loops = live
        .loops
        .iter()
        .map(|(seq, l)| (*seq, dead_at(l)))
        .collect();
    let calls = live
        .after_calls
        .iter()
        .map(|(loc, l)| (*loc, dead_at(l)))
        .collect();
    (loops, calls)
}

pub(super) fn collect_locals(
    func: &LocalFunction,
    seq: InstrSeqId,
    out: &mut Vec<LocalId>,
    seen: &mut HashSet<LocalId>,
) {
    for (i, _) in func.block(seq).instrs.iter() {
        let l = match i {
            Instr::LocalGet(x) => Some(x.local),
            Instr::LocalSet(x) => Some(x.local),
            Instr::LocalTee(x) => Some(x.local),
            _ => None,
        };
        if let Some(l) = l {
            if seen.insert(l) {
                out.push(l);
            }
        }
        for child in nested(i) {
            collect_locals(func, child, out, seen);
        }
    }
}

/// Replaces the `unreachable; drop` placeholder of the entry site with the
/// frame pop code.
fn patch_placeholder(func: &mut LocalFunction, seq: InstrSeqId, pop: Vec<(Instr, InstrLocId)>) {
    let mut stack = vec![seq];
    let mut pop = Some(pop);
    while let Some(s) = stack.pop() {
        let instrs = &func.block(s).instrs;
        let hit = instrs.windows(2).position(|w| {
            matches!(w[0].0, Instr::Unreachable(_))
                && w[0].1.is_default()
                && matches!(w[1].0, Instr::Drop(_))
                && w[1].1.is_default()
        });
        if let Some(p) = hit {
            let code = pop.take().expect("one placeholder");
            func.block_mut(s).instrs.splice(p..p + 2, code);
            return;
        }
        for (i, _) in func.block(s).instrs.iter() {
            stack.extend(nested(i));
        }
    }
}

/// Replaces the depth weight marker constants (the entry's and every
/// exit's) with the real weight.
fn patch_weight(func: &mut LocalFunction, weight: u32) {
    let mut stack = vec![func.entry_block()];
    while let Some(s) = stack.pop() {
        let n = func.block(s).instrs.len();
        for idx in 0..n {
            let (i, loc) = &func.block(s).instrs[idx];
            if loc.is_default() {
                if let Instr::Const(Const {
                    value: Value::I32(WEIGHT_MARKER),
                }) = i
                {
                    func.block_mut(s).instrs[idx].0 = Instr::Const(Const {
                        value: Value::I32(weight as i32),
                    });
                }
            }
            stack.extend(nested(&func.block(s).instrs[idx].0));
        }
    }
}
