//! Hostile programs against the core engine (issue 6): CPU (infinite loops,
//! recursion, giant bulk operations), memory and table limits, the call-depth
//! limit, and instrumenter inputs of extreme shape.
//!
//! The overshoot assertions check the documented bound exactly as written in
//! docs/engine.md ("Gas"): a run that pauses overshoots its budget by at most
//! the longest loop-free path through one function, plus one leaf call, plus
//! the dynamic cost of one operator. [`documented_bound`] computes that from
//! the module with generous but sound per-function sums (every instruction of
//! the function counted once). That holds at any call depth: a callee that
//! returns past the budget pauses its caller right after the call, so a
//! chain of returns runs no caller's tail (`examples/hostile.rs` measures
//! the deep case).

use std::sync::Arc;
use std::time::Instant;

use wasm_sandbox_core::{
    Error, Executor, ExecutorConfig, GuestMemory, Host, HostError, NoHost, Program, ProgramOptions,
    RunOutcome, Status, TrapKind, Value, DEFAULT_COSTS,
};
use wasmparser::{Operator, Parser, Payload};

fn program(wat: &str) -> Arc<Program> {
    let wasm = wat::parse_str(wat).expect("test WAT parses");
    Program::load(&wasm, &ProgramOptions::default()).expect("instruments")
}

fn executor(p: &Arc<Program>, pages: u64) -> Executor {
    Executor::new(
        p.clone(),
        ExecutorConfig {
            memory_limit_pages: pages,
            entry: None,
        },
    )
    .expect("instantiates")
}

fn code<T: std::fmt::Debug>(r: Result<T, Error>) -> &'static str {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code(),
    }
}

fn trap_kind<T: std::fmt::Debug>(r: Result<T, Error>) -> TrapKind {
    match r {
        Err(Error::Trap { kind, .. }) => kind,
        other => panic!("expected a trap, got {other:?}"),
    }
}

/// Counts calls; i32 results are 1.
#[derive(Default)]
struct Counter(u64);
impl Host for Counter {
    fn call(
        &mut self,
        _: usize,
        _: &[Value],
        results: &mut [Value],
        _: &mut GuestMemory<'_>,
    ) -> Result<(), HostError> {
        self.0 += 1;
        for r in results.iter_mut() {
            if let Value::I32(_) = r {
                *r = Value::I32(1);
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------ the bound

/// Static gas of every instruction of each local function (default costs)
/// and whether the function is a "leaf" in the instrumenter's sense (no
/// loop, no `call_indirect`, no dynamic-cost operator, no call to another
/// guest function).
fn function_costs(wasm: &[u8]) -> Vec<(u64, bool)> {
    let mut imported_funcs = 0u32;
    let mut bodies = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.unwrap() {
            Payload::ImportSection(r) => {
                for imp in r.into_imports() {
                    if matches!(imp.unwrap().ty, wasmparser::TypeRef::Func(_)) {
                        imported_funcs += 1;
                    }
                }
            }
            Payload::CodeSectionEntry(body) => bodies.push(body),
            _ => {}
        }
    }
    let c = DEFAULT_COSTS;
    bodies
        .iter()
        .map(|body| {
            let mut sum = 0u64;
            let mut leaf = true;
            let mut ops = body.get_operators_reader().unwrap();
            while !ops.eof() {
                let op = ops.read().unwrap();
                let cost = match &op {
                    // Structure markers, not instructions.
                    Operator::End | Operator::Else => 0,
                    Operator::Call { function_index } if *function_index < imported_funcs => {
                        (c.instruction + c.host_call) as u64
                    }
                    Operator::Call { .. } => {
                        leaf = false;
                        (c.instruction + c.call) as u64
                    }
                    Operator::CallIndirect { .. } => {
                        leaf = false;
                        (c.instruction + c.call) as u64
                    }
                    Operator::Loop { .. }
                    | Operator::MemoryGrow { .. }
                    | Operator::MemoryFill { .. }
                    | Operator::MemoryCopy { .. }
                    | Operator::MemoryInit { .. }
                    | Operator::TableCopy { .. }
                    | Operator::TableInit { .. } => {
                        leaf = false;
                        c.instruction as u64
                    }
                    _ => c.instruction as u64,
                };
                sum += cost;
            }
            (sum, leaf)
        })
        .collect()
}

/// The documented overshoot bound of a module: the largest function's
/// instruction cost (an upper bound of its longest loop-free path), plus
/// the largest leaf's, plus `max_dynamic` (the largest dynamic cost one
/// operator of this program can have).
fn documented_bound(wasm: &[u8], max_dynamic: u64) -> u64 {
    let costs = function_costs(wasm);
    let longest = costs.iter().map(|c| c.0).max().unwrap_or(0);
    let leaf = costs.iter().filter(|c| c.1).map(|c| c.0).max().unwrap_or(0);
    longest + leaf + max_dynamic
}

/// Runs `wat` with every budget in `budgets` (a fresh executor each) and
/// with repeated slices; every run must pause, within the budget plus the
/// documented bound. Returns the largest overshoot seen.
fn check_overshoot(name: &str, wat: &str, pages: u64, max_dynamic: u64) -> u64 {
    let wasm = wat::parse_str(wat).unwrap();
    let p = Program::load(&wasm, &ProgramOptions::default()).unwrap();
    let bound = documented_bound(&wasm, max_dynamic);
    let mut worst = 0u64;
    let budgets = (1..=1500u64).chain([4096, 10_007, 100_000, 1_000_003]);
    for budget in budgets {
        let mut e = executor(&p, pages);
        let mut host = Counter::default();
        let outcome = e.run(budget, &mut host);
        assert_eq!(
            outcome.unwrap(),
            RunOutcome::Paused,
            "{name}: budget {budget}"
        );
        assert_eq!(e.status(), Status::Paused);
        let overshoot = e.gas_used() - budget;
        assert!(e.gas_used() >= budget, "{name}: paused before the budget");
        assert_eq!(-e.gas_balance(), overshoot as i64, "{name}: balance");
        assert!(
            overshoot <= bound,
            "{name}: budget {budget} overshot by {overshoot}, documented bound {bound}"
        );
        worst = worst.max(overshoot);
    }
    // Repeated slices in one executor: the debt is paid back, so the total
    // never exceeds what was handed out plus one overshoot.
    for slice in [1u64, 7, 100, 3000] {
        let mut e = executor(&p, pages);
        let mut host = Counter::default();
        let mut given = 0u64;
        for _ in 0..200 {
            given += slice;
            assert_eq!(e.run(slice, &mut host).unwrap(), RunOutcome::Paused);
            assert!(
                e.gas_used() <= given + bound,
                "{name}: slices of {slice}: used {} of {given} given, bound {bound}",
                e.gas_used()
            );
        }
        assert!(e.gas_used() >= given, "{name}: the budget was not used");
    }
    println!("{name}: worst overshoot {worst}, documented bound {bound}");
    worst
}

#[test]
fn infinite_loops_pause_within_budget_plus_the_documented_bound() {
    let cases: &[(&str, &str, u64, u64)] = &[
        (
            "empty loop",
            r#"(module (func (export "entry") (loop $l (br $l))))"#,
            1,
            0,
        ),
        (
            "arithmetic loop, no calls",
            r#"(module (memory 1) (func (export "entry") (local $i i32)
                 (loop $l
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (i32.store (i32.const 0) (local.get $i))
                   (br_if $l (i32.const 1)))))"#,
            1,
            0,
        ),
        (
            "loop calling a leaf",
            r#"(module
                 (func $leaf (param i32) (result i32)
                   (i32.mul (i32.add (local.get 0) (i32.const 3)) (i32.const 5)))
                 (func (export "entry") (local $i i32)
                   (loop $l (local.set $i (call $leaf (local.get $i))) (br $l))))"#,
            1,
            0,
        ),
        (
            "loop calling a host import",
            r#"(module (import "env" "f" (func $f (param i32) (result i32)))
                 (func (export "entry") (local $i i32)
                   (loop $l (local.set $i (call $f (local.get $i))) (br $l))))"#,
            1,
            0,
        ),
        (
            "loop around mutual recursion",
            r#"(module
                 (func $even (param i32) (result i32)
                   (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 1))
                     (else (call $odd (i32.sub (local.get 0) (i32.const 1))))))
                 (func $odd (param i32) (result i32)
                   (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0))
                     (else (call $even (i32.sub (local.get 0) (i32.const 1))))))
                 (func (export "entry") (loop $l (drop (call $even (i32.const 200))) (br $l))))"#,
            1,
            0,
        ),
        (
            "loop around call_indirect",
            r#"(module (type $t (func (param i32) (result i32)))
                 (table 2 funcref) (elem (i32.const 0) $a $b)
                 (func $a (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
                 (func $b (param i32) (result i32) (i32.sub (local.get 0) (i32.const 1)))
                 (func (export "entry") (local $i i32)
                   (loop $l
                     (local.set $i (call_indirect (type $t) (local.get $i)
                       (i32.and (local.get $i) (i32.const 1))))
                     (br $l))))"#,
            1,
            0,
        ),
        (
            // 100 frames, each with a 60-statement loop-free tail after its
            // recursive call: without the pause right after a call that
            // returns past the budget, unwinding the chain would run all
            // 100 tails (about 30,000 gas) before the next pause point.
            "chain of returns through long loop-free tails",
            r#"(module (global $sink (mut i32) (i32.const 0))
                 (func $rec (param $n i32) (local $t i32)
                   (if (i32.eqz (local.get $n)) (then (return)))
                   (call $rec (i32.sub (local.get $n) (i32.const 1)))
                   (local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))(local.set $t (i32.xor (i32.add (local.get $t) (i32.const 7)) (local.get $n)))
                   (global.set $sink (local.get $t)))
                 (func (export "entry") (loop $l (call $rec (i32.const 100)) (br $l))))"#,
            1,
            0,
        ),
        (
            "infinite loop in the start function",
            r#"(module (func $s (loop $l (br $l))) (start $s) (func (export "entry")))"#,
            1,
            0,
        ),
        (
            // 16 pages filled per iteration: 1 MiB / 8 = 131072 gas.
            "loop around a 1 MiB memory.fill",
            r#"(module (memory 16) (func (export "entry") (local $i i32)
                 (loop $l
                   (memory.fill (i32.const 0) (local.get $i) (i32.const 1048576))
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br $l))))"#,
            16,
            131072,
        ),
        (
            "loop around a memory.copy of the whole memory but one byte",
            r#"(module (memory 16) (func (export "entry")
                 (loop $l
                   (memory.copy (i32.const 1) (i32.const 0) (i32.sub (i32.shl (memory.size) (i32.const 16)) (i32.const 1)))
                   (br $l))))"#,
            16,
            131072,
        ),
        (
            "loop around memory.init",
            r#"(module (memory 1) (data $d "0123456789abcdef0123456789abcdef")
                 (func (export "entry")
                   (loop $l (memory.init $d (i32.const 100) (i32.const 0) (i32.const 32)) (br $l))))"#,
            1,
            4,
        ),
        (
            "loop around memory.grow (fails at the limit)",
            r#"(module (memory 1) (func (export "entry")
                 (loop $l (drop (memory.grow (i32.const 3))) (br $l))))"#,
            8,
            3 * 64,
        ),
    ];
    for (name, wat, pages, dynamic) in cases {
        check_overshoot(name, wat, *pages, *dynamic);
    }
}

/// A 4 GiB memory and a fill of all of it on a 100-gas budget: charged per
/// byte before it runs, so it pauses without writing a byte.
#[test]
fn a_4_gib_fill_or_copy_cannot_run_on_100_gas() {
    let fill = program(
        r#"(module (memory 65536) (func (export "entry")
             (memory.fill (i32.const 0) (i32.const 0xab) (i32.const -1))))"#,
    );
    let mut e = executor(&fill, 65536);
    assert_eq!(e.memory_size(), 1 << 32);
    let t = Instant::now();
    assert_eq!(e.run(100, &mut NoHost).unwrap(), RunOutcome::Paused);
    println!("4 GiB fill on 100 gas: paused after {:?}", t.elapsed());
    let cost = (u32::MAX as i64 + 7) / 8;
    // Only the few instructions before the fill ran, then the fill's charge.
    assert!(e.gas_balance() <= 100 - cost, "{}", e.gas_balance());
    assert!(e.gas_balance() > 100 - cost - 10, "{}", e.gas_balance());
    for at in [0u64, 1 << 20, (1 << 32) - 2] {
        assert_eq!(e.read_memory(at, 1).unwrap(), [0], "byte {at} written");
    }
    // More small budgets only pay back the debt; nothing runs.
    for _ in 0..10 {
        assert_eq!(e.run(100, &mut NoHost).unwrap(), RunOutcome::Paused);
    }
    assert_eq!(e.read_memory(0, 1).unwrap(), [0]);

    let copy = program(
        r#"(module (memory 65536) (func (export "entry")
             (memory.copy (i32.const 0) (i32.const 1) (i32.const -1))))"#,
    );
    let mut e = executor(&copy, 65536);
    e.write_memory(1, &[0x55]).unwrap();
    assert_eq!(e.run(100, &mut NoHost).unwrap(), RunOutcome::Paused);
    assert!(e.gas_balance() <= 100 - cost);
    assert_eq!(e.read_memory(0, 2).unwrap(), [0, 0x55]);

    // Growing to 4 GiB: 64 gas per page, charged first.
    let grow = program(
        r#"(module (memory 1) (func (export "entry")
             (drop (memory.grow (i32.const 65535)))))"#,
    );
    let mut e = executor(&grow, 65536);
    assert_eq!(e.run(100, &mut NoHost).unwrap(), RunOutcome::Paused);
    assert_eq!(e.memory_size(), 65536);
    assert!(e.gas_balance() <= 100 - 64 * 65535);
}

/// Once paid, a large fill does run (the charge is not a refusal).
#[test]
fn a_paid_for_fill_runs_after_the_debt_is_paid() {
    let p = program(
        r#"(module (memory 257) (func (export "entry")
             (memory.fill (i32.const 0) (i32.const 0xab) (i32.const 16777216))))"#,
    );
    let mut e = executor(&p, 257);
    assert_eq!(e.run(100, &mut NoHost).unwrap(), RunOutcome::Paused);
    assert_eq!(e.read_memory(16777215, 1).unwrap(), [0]);
    let debt = -e.gas_balance() as u64;
    assert_eq!(e.run(debt + 1, &mut NoHost).unwrap(), RunOutcome::Finished);
    assert_eq!(e.read_memory(0, 1).unwrap(), [0xab]);
    assert_eq!(e.read_memory(16777215, 1).unwrap(), [0xab]);
    assert_eq!(e.read_memory(16777216, 1).unwrap(), [0]);
}

// ------------------------------------------------------------ memory

#[test]
fn memory_grow_past_the_limit_returns_minus_one_and_the_program_continues() {
    // Reports every grow result and the size after it.
    let wat = r#"(module
      (import "env" "out" (func $out (param i32)))
      (memory 1)
      (func (export "entry")
        (call $out (memory.grow (i32.const 0x7fffffff)))
        (call $out (memory.grow (i32.const -1)))
        (call $out (memory.grow (i32.const 65536)))
        (call $out (memory.grow (i32.const 4)))
        (call $out (memory.grow (i32.const 1)))
        (call $out (memory.grow (i32.const 0)))
        (call $out (memory.size))
        (i32.store (i32.const 0) (i32.const 42))))"#;
    let p = program(wat);
    let mut e = executor(&p, 5);
    let mut out = Printed(vec![]);
    // grow(-1) asks for 2^32-1 pages: 64 gas each, charged before it fails.
    assert_eq!(e.run(1 << 40, &mut out).unwrap(), RunOutcome::Finished);
    assert_eq!(out.0, vec![-1, -1, -1, 1, -1, 5, 5]);
    assert_eq!(e.memory_size(), 5 * 65536);
    assert_eq!(e.read_memory(0, 4).unwrap(), 42i32.to_le_bytes());
    assert!(e.gas_used() > 64 * (u32::MAX as u64 + 0x7fff_ffff));

    // The largest limit: growing to exactly 4 GiB works, one page more not.
    let wat = r#"(module
      (import "env" "out" (func $out (param i32)))
      (memory 1)
      (func (export "entry")
        (call $out (memory.grow (i32.const 65535)))
        (call $out (memory.grow (i32.const 1)))
        (i32.store8 (i32.const -1) (i32.const 7))))"#;
    let p = program(wat);
    let mut e = executor(&p, 65536);
    let mut out = Printed(vec![]);
    assert_eq!(e.run(1 << 40, &mut out).unwrap(), RunOutcome::Finished);
    assert_eq!(out.0, vec![1, -1]);
    assert_eq!(e.memory_size(), 1 << 32);
    assert_eq!(e.read_memory((1 << 32) - 1, 1).unwrap(), [7]);

    // A declared maximum below memLimit is the tighter one.
    let p = program(
        r#"(module (import "env" "out" (func $out (param i32))) (memory 1 2)
             (func (export "entry") (call $out (memory.grow (i32.const 2)))
               (call $out (memory.grow (i32.const 1)))))"#,
    );
    let mut e = executor(&p, 100);
    let mut out = Printed(vec![]);
    e.run(1 << 40, &mut out).unwrap();
    assert_eq!(out.0, vec![-1, 1]);
}

#[test]
fn modules_exceeding_the_limits_are_refused_at_construction() {
    let new = |wat: &str, pages: u64| -> Result<Executor, Error> {
        let p = Program::load(&wat::parse_str(wat).unwrap(), &ProgramOptions::default())?;
        Executor::new(
            p,
            ExecutorConfig {
                memory_limit_pages: pages,
                entry: None,
            },
        )
    };
    // Initial memory above memLimit, defined or imported.
    assert_eq!(
        code(new(r#"(module (memory 10) (func (export "entry")))"#, 9)),
        "ERR_MEMORY_LIMIT"
    );
    assert_eq!(
        code(new(
            r#"(module (import "env" "memory" (memory 10)) (func (export "entry")))"#,
            9
        )),
        "ERR_MEMORY_LIMIT"
    );
    assert!(new(r#"(module (memory 10) (func (export "entry")))"#, 10).is_ok());
    // The whole 32-bit space is fine with the largest limit; more is not
    // valid wasm32.
    assert!(new(r#"(module (memory 65536) (func (export "entry")))"#, 65536).is_ok());
    let too_big = {
        // (memory 65537) hand-encoded: wat refuses it.
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend_from_slice(&[5, 4, 1, 0, 0x81, 0x80, 0x04]);
        m
    };
    assert_eq!(
        code(Program::load(&too_big, &ProgramOptions::default())),
        "ERR_INVALID_WASM"
    );
    // Tables: up to 1,000,000 elements.
    assert!(new(
        r#"(module (table 1000000 funcref) (func (export "entry")))"#,
        1
    )
    .is_ok());
    let e = new(
        r#"(module (table 1000001 funcref) (func (export "entry")))"#,
        1,
    );
    let err = e.unwrap_err();
    assert_eq!(err.code(), "ERR_UNSUPPORTED_MODULE", "{err}");
    assert!(err.to_string().contains("1000001"), "{err}");
    // An active data segment outside the initial memory: instantiation
    // fails as in the wasm spec (an instantiation trap), nothing runs.
    let e = new(
        r#"(module (memory 1) (data (i32.const 65530) "0123456789") (func (export "entry")))"#,
        100,
    );
    assert_eq!(trap_kind(e), TrapKind::MemoryOutOfBounds);
    // An active element segment outside the table, likewise.
    let e = new(
        r#"(module (table 1 funcref) (func $f) (elem (i32.const 1) $f) (func (export "entry")))"#,
        1,
    );
    assert_eq!(trap_kind(e), TrapKind::TableOutOfBounds);
}

// ------------------------------------------------------------ call depth

/// Recursion shapes that never end: each must trap with "call depth
/// exceeded" (never wasmtime's native stack overflow), at the same depth on
/// every run and whatever the gas slicing. Every function stores its depth
/// at address 0 before recursing, so the depth reached is in memory after
/// the trap.
const DEPTH_SHAPES: &[(&str, &str)] = &[
    (
        "direct",
        r#"(func $r (param $d i32) (result i32)
             (i32.store (i32.const 0) (local.get $d))
             (i32.add (i32.const 1) (call $r (i32.add (local.get $d) (i32.const 1)))))
           (func (export "entry") (drop (call $r (i32.const 1))))"#,
    ),
    (
        "mutual",
        r#"(func $a (param $d i32)
             (i32.store (i32.const 0) (local.get $d))
             (call $b (i32.add (local.get $d) (i32.const 1))))
           (func $b (param $d i32)
             (i32.store (i32.const 0) (local.get $d))
             (call $a (i32.add (local.get $d) (i32.const 1))))
           (func (export "entry") (call $a (i32.const 1)))"#,
    ),
    (
        "call_indirect",
        r#"(type $t (func (param i32)))
           (table 1 funcref) (elem (i32.const 0) $r)
           (func $r (param $d i32)
             (i32.store (i32.const 0) (local.get $d))
             (call_indirect (type $t) (i32.add (local.get $d) (i32.const 1)) (i32.const 0)))
           (func (export "entry") (call $r (i32.const 1)))"#,
    ),
    (
        "a loop in every frame",
        r#"(func $r (param $d i32) (local $i i32)
             (i32.store (i32.const 0) (local.get $d))
             (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (br_if $l (i32.lt_u (local.get $i) (i32.const 3))))
             (call $r (i32.add (local.get $d) (i32.const 1))))
           (func (export "entry") (call $r (i32.const 1)))"#,
    ),
    (
        "a huge leaf at every level",
        // The leaf has no pause point and weighs nothing in the budget.
        "LEAF",
    ),
    ("big frames (1000 live i64 locals)", "BIG_FRAME"),
    (
        "64 values on the operand stack under each call",
        "STACK_VALUES",
    ),
    ("100 parameters", "PARAMS"),
];

fn depth_module(shape: &str) -> String {
    let body = match shape {
        "LEAF" => {
            let n = 20_000;
            let mut leaf = String::from("(func $leaf (param $x i64) (result i64) (local");
            for _ in 0..n {
                leaf.push_str(" i64");
            }
            leaf.push(')');
            for k in 0..n {
                leaf.push_str(&format!(
                    "(local.set {} (i64.add (local.get {k}) (i64.const {k})))",
                    k + 1
                ));
            }
            leaf.push_str(&format!("(local.get {n}))"));
            format!(
                r#"{leaf}
                (func $r (param $d i32)
                  (i32.store (i32.const 0) (local.get $d))
                  (i64.store (i32.const 8) (call $leaf (i64.extend_i32_u (local.get $d))))
                  (call $r (i32.add (local.get $d) (i32.const 1))))
                (func (export "entry") (call $r (i32.const 1)))"#
            )
        }
        "BIG_FRAME" => {
            let n = 1000;
            let mut f = String::from("(func $r (param $d i32) (result i64) (local");
            for _ in 0..n {
                f.push_str(" i64");
            }
            f.push_str(") (i32.store (i32.const 0) (local.get $d))");
            for k in 1..=n {
                f.push_str(&format!(
                    "(local.set {k} (i64.extend_i32_u (i32.add (local.get $d) (i32.const {k}))))"
                ));
            }
            f.push_str("(i64.add (call $r (i32.add (local.get $d) (i32.const 1)))");
            // Every local is read after the call: all are live across it.
            for k in 1..=n {
                f.push_str(&format!("(i64.add (local.get {k})"));
            }
            f.push_str("(i64.const 0)");
            for _ in 0..=n {
                f.push(')');
            }
            f.push(')');
            format!(r#"{f} (func (export "entry") (drop (call $r (i32.const 1))))"#)
        }
        "STACK_VALUES" => {
            let mut f = String::from(
                "(func $r (param $d i32) (result i64) (i32.store (i32.const 0) (local.get $d))",
            );
            for k in 0..64 {
                f.push_str(&format!("(i64.const {k})"));
            }
            f.push_str("(call $r (i32.add (local.get $d) (i32.const 1)))");
            for _ in 0..64 {
                f.push_str("(i64.add)");
            }
            f.push(')');
            format!(r#"{f} (func (export "entry") (drop (call $r (i32.const 1))))"#)
        }
        "PARAMS" => {
            let n = 100;
            let mut f = String::from("(func $r (param $d i32)");
            for _ in 1..n {
                f.push_str(" (param f64)");
            }
            f.push_str(" (i32.store (i32.const 0) (local.get $d))");
            f.push_str("(call $r (i32.add (local.get $d) (i32.const 1))");
            for k in 1..n {
                f.push_str(&format!("(local.get {k})"));
            }
            f.push_str("))");
            let mut entry = String::from(r#"(func (export "entry") (call $r (i32.const 1)"#);
            for k in 1..n {
                entry.push_str(&format!("(f64.const {k})"));
            }
            entry.push_str("))");
            format!("{f} {entry}")
        }
        other => other.to_string(),
    };
    format!("(module (memory 1) {body})")
}

fn depth_reached(e: &mut Executor) -> u32 {
    u32::from_le_bytes(e.read_memory(0, 4).unwrap().try_into().unwrap())
}

#[test]
fn unbounded_recursion_traps_with_call_depth_exceeded_in_every_shape() {
    for (name, shape) in DEPTH_SHAPES {
        let wat = depth_module(shape);
        let p = program(&wat);
        let mut depths = Vec::new();
        for _ in 0..2 {
            let mut e = executor(&p, 1);
            assert_eq!(
                trap_kind(e.run(1 << 40, &mut NoHost)),
                TrapKind::CallDepthExceeded,
                "{name}"
            );
            assert_eq!(e.status(), Status::Trapped);
            // Trapped for good, same error.
            assert_eq!(
                trap_kind(e.run(1, &mut NoHost)),
                TrapKind::CallDepthExceeded
            );
            depths.push(depth_reached(&mut e));
        }
        // Sliced, with the state moved through snapshot bytes at every
        // pause: same trap at the same depth. (A trap uses up its run's
        // gas: the gas used before the last of 1000-gas runs estimates how
        // far the guest got; slices aim at ~20 and ~150 pauses.)
        let total = {
            let mut e = executor(&p, 1);
            let mut before = 0;
            while let Ok(RunOutcome::Paused) = e.run(1000, &mut NoHost) {
                before = e.gas_used();
            }
            before
        };
        for slice in [total / 20 + 1, total / 150 + 1] {
            let mut e = executor(&p, 1);
            let mut pauses = 0;
            let kind = loop {
                match e.run(slice, &mut NoHost) {
                    Ok(RunOutcome::Paused) => {
                        pauses += 1;
                        let bytes = e.snapshot().unwrap().to_bytes();
                        let mut fresh = executor(&p, 1);
                        fresh
                            .restore(&wasm_sandbox_core::Snapshot::from_bytes(&bytes).unwrap())
                            .unwrap();
                        e = fresh;
                    }
                    other => break trap_kind(other),
                }
            };
            assert_eq!(
                kind,
                TrapKind::CallDepthExceeded,
                "{name}, slices of {slice}"
            );
            assert!(pauses > 0, "{name}: never paused with slices of {slice}");
            depths.push(depth_reached(&mut e));
        }
        assert!(
            depths.iter().all(|d| *d == depths[0]),
            "{name}: depth differs between runs: {depths:?}"
        );
        assert!(depths[0] > 10, "{name}: depth {}", depths[0]);
        println!("{name}: call depth exceeded at depth {}", depths[0]);
    }
}

/// The same on a thread with only 1 MiB of native stack: the deterministic
/// limit trips before any native overflow (wasmtime's own 2 MiB limit is
/// measured from where wasm was entered, so this also proves the frames
/// use less than 1 MiB of native stack at the limit).
#[test]
fn call_depth_limit_trips_within_one_mib_of_native_stack() {
    let handle = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(|| {
            for (name, shape) in DEPTH_SHAPES {
                let p = program(&depth_module(shape));
                let mut e = executor(&p, 1);
                assert_eq!(
                    trap_kind(e.run(1 << 40, &mut NoHost)),
                    TrapKind::CallDepthExceeded,
                    "{name}"
                );
            }
        })
        .unwrap();
    handle.join().unwrap();
}

// ------------------------------------------------------------ instrumenter

/// What an extreme module must do once instrumented: the i32 it stores at
/// address 0 by the end of `entry`.
struct Extreme {
    name: &'static str,
    wat: String,
    /// `None`: must be refused (with a clear, non-internal error).
    expect: Option<i32>,
}

fn extremes() -> Vec<Extreme> {
    let n = 10_000;
    let mut v = Vec::new();
    let nested = |open: &str, close: &str, inner: &str| {
        let mut s = String::new();
        for _ in 0..n {
            s.push_str(open);
        }
        s.push_str(inner);
        for _ in 0..n {
            s.push_str(close);
        }
        s
    };
    let store7 = "(i32.store (i32.const 0) (i32.const 7))";
    v.push(Extreme {
        name: "10,000 nested blocks",
        wat: format!(
            r#"(module (memory 1) (func (export "entry") {}))"#,
            nested("(block ", ")", store7)
        ),
        expect: Some(7),
    });
    v.push(Extreme {
        name: "10,000 nested blocks, each calling a function",
        wat: format!(
            r#"(module (memory 1) (global $g (mut i32) (i32.const 0))
                 (func $inc (global.set $g (i32.add (global.get $g) (i32.const 1))))
                 (func (export "entry") {} (i32.store (i32.const 0) (global.get $g))))"#,
            nested("(block (call $inc) ", ")", "")
        ),
        expect: Some(n),
    });
    v.push(Extreme {
        name: "10,000 nested loops (10,000 pause sites deep)",
        wat: format!(
            r#"(module (memory 1) (global $g (mut i32) (i32.const 0))
                 (func (export "entry") {} (i32.store (i32.const 0) (global.get $g))))"#,
            nested(
                "(loop (global.set $g (i32.add (global.get $g) (i32.const 1))) ",
                ")",
                ""
            )
        ),
        expect: Some(n),
    });
    v.push(Extreme {
        name: "10,000 nested loops, each calling a function",
        wat: format!(
            r#"(module (memory 1) (global $g (mut i32) (i32.const 0))
                 (func $inc (global.set $g (i32.add (global.get $g) (i32.const 1))))
                 (func (export "entry") {} (i32.store (i32.const 0) (global.get $g))))"#,
            nested("(loop (call $inc) ", ")", "")
        ),
        expect: Some(n),
    });
    v.push(Extreme {
        name: "10,000 nested ifs",
        wat: format!(
            r#"(module (memory 1) (func (export "entry") {}))"#,
            nested("(if (i32.const 1) (then ", "))", store7)
        ),
        expect: Some(7),
    });
    // 50,000 locals is wasmparser's (and browsers') maximum per function.
    let many_locals = |call: bool| {
        let mut s = String::from(
            r#"(module (memory 1) (func $f) (func (export "entry") (local $a i64) (local"#,
        );
        for _ in 1..50_000 {
            s.push_str(" i64");
        }
        s.push(')');
        if call {
            s.push_str("(call $f)");
        }
        s.push_str("(local.set 49999 (i64.const 5)) (local.set 0 (i64.const 2))");
        s.push_str(
            "(i32.store (i32.const 0) (i32.wrap_i64 (i64.add (local.get 0) (local.get 49999))))))",
        );
        s
    };
    v.push(Extreme {
        name: "50,000 locals (a leaf)",
        wat: many_locals(false),
        expect: Some(7),
    });
    v.push(Extreme {
        name: "50,000 locals (saved in unwind frames)",
        wat: many_locals(true),
        expect: Some(7),
    });
    let mut s = String::from(r#"(module (func (export "entry") (local"#);
    for _ in 0..100_000 {
        s.push_str(" i32");
    }
    s.push_str(")))");
    v.push(Extreme {
        name: "100,000 locals",
        wat: s,
        expect: None,
    });
    let funcs = 50_000;
    let mut s = String::from(
        "(module (memory 1) (global $g (mut i32) (i32.const 0)) (global $go (mut i32) (i32.const 0))",
    );
    for i in 0..funcs {
        // Every function may call the next (never does), so none is a leaf.
        s.push_str(&format!(
            "(func $f{i} (global.set $g (i32.add (global.get $g) (i32.const 1))) (if (global.get $go) (then (call $f{}))))",
            (i + 1) % funcs
        ));
    }
    s.push_str(r#"(func (export "entry") (local $i i32)"#);
    s.push_str("(call $f0) (call $f49999) (i32.store (i32.const 0) (global.get $g))))");
    v.push(Extreme {
        name: "50,000 functions",
        wat: s,
        expect: Some(2),
    });
    // 3.6 MB runs. At 5 MB (560,000 groups) the instrumented body exceeds
    // the wasm limit of 7,654,321 bytes: refused as ERR_UNSUPPORTED_MODULE.
    for (groups, expect) in [(400_000, Some(400_000)), (560_000, None)] {
        let mut s = String::from(
            r#"(module (memory 1) (func $g (param i32) (result i32) (local.get 0))
                 (func (export "entry") (local i32)"#,
        );
        for _ in 0..groups {
            s.push_str("(local.set 0 (call $g (i32.add (local.get 0) (i32.const 1))))");
        }
        s.push_str("(i32.store (i32.const 0) (local.get 0))))");
        v.push(Extreme {
            name: if groups == 400_000 {
                "a 3.6 MB function body"
            } else {
                "a 5 MB function body"
            },
            wat: s,
            expect,
        });
    }
    for (targets, expect) in [(65_000, Some(2)), (100_000, None)] {
        // Valid wasm; cranelift handles up to 65,520 targets, so 100,000
        // must be refused clearly.
        let mut s = String::from(r#"(module (memory 1) (func (export "entry")"#);
        s.push_str("(block $b (block $a (br_table $a");
        for k in 0..targets {
            s.push_str(if k % 2 == 0 { " $a" } else { " $b" });
        }
        // Index `targets` is the last listed target (odd, so $b).
        s.push_str(&format!(" $b (i32.const {targets})))"));
        s.push_str("(i32.store (i32.const 0) (i32.const 1)) (return))");
        s.push_str("(i32.store (i32.const 0) (i32.const 2))))");
        v.push(Extreme {
            name: if targets == 65_000 {
                "br_table with 65,000 targets"
            } else {
                "br_table with 100,000 targets"
            },
            wat: s,
            expect,
        });
    }
    v
}

/// Instruments, compiles and runs extreme module `index` (uninterrupted and
/// in ~40 slices through snapshots), or checks that it is refused clearly.
/// (`examples/hostile.rs` times the instrumenter alone.)
fn check_extreme(index: usize) {
    let x = extremes().swap_remove(index);
    let wasm = wat::parse_str(&x.wat).expect("test WAT parses");
    // Instrumenting and compiling (Program::load does both, once).
    let t = Instant::now();
    let loaded = Program::load(&wasm, &ProgramOptions::default());
    let load_time = t.elapsed().as_secs_f64();
    let (p, expected) = match (loaded, x.expect) {
        (Ok(p), Some(expected)) => (p, expected),
        (Ok(_), None) => panic!("{}: accepted, expected a refusal", x.name),
        (Err(e), None) => {
            assert!(
                matches!(
                    e.code(),
                    "ERR_INVALID_WASM" | "ERR_UNSUPPORTED_FEATURE" | "ERR_UNSUPPORTED_MODULE"
                ),
                "{}: {} {e}",
                x.name,
                e.code()
            );
            println!("{}: refused in {load_time:.2}s: {} {e}", x.name, e.code());
            return;
        }
        (Err(e), Some(_)) => panic!("{}: refused: {} {e}", x.name, e.code()),
    };
    wasmparser::Validator::new_with_features(wasm_sandbox_core::instrument::output_features())
        .validate_all(p.instrumented_wasm())
        .unwrap_or_else(|e| panic!("{}: output does not validate: {e}", x.name));
    let mut e = executor(&p, 1);
    let t = Instant::now();
    assert_eq!(
        e.run(1 << 40, &mut NoHost).unwrap(),
        RunOutcome::Finished,
        "{}",
        x.name
    );
    let run_time = t.elapsed().as_secs_f64();
    let got = i32::from_le_bytes(e.read_memory(0, 4).unwrap().try_into().unwrap());
    assert_eq!(got, expected, "{}: wrong result", x.name);
    let total = e.gas_used();
    // Sliced into ~40 runs through snapshot bytes: same result and the same
    // total gas.
    let slice = total / 40 + 1;
    let mut e = executor(&p, 1);
    let mut pauses = 0;
    while e.run(slice, &mut NoHost).unwrap() == RunOutcome::Paused {
        pauses += 1;
        let bytes = e.snapshot().unwrap().to_bytes();
        let mut fresh = executor(&p, 1);
        fresh
            .restore(&wasm_sandbox_core::Snapshot::from_bytes(&bytes).unwrap())
            .unwrap();
        e = fresh;
    }
    let got = i32::from_le_bytes(e.read_memory(0, 4).unwrap().try_into().unwrap());
    assert_eq!(got, expected, "{}: wrong result when sliced", x.name);
    assert_eq!(e.gas_used(), total, "{}: gas differs when sliced", x.name);
    println!(
        "{}: {} bytes -> {} bytes, instrumented and compiled in {load_time:.2}s, \
         ran in {run_time:.3}s ({total} gas; {pauses} pauses when sliced)",
        x.name,
        wasm.len(),
        p.instrumented_wasm().len(),
    );
}

// ------------------------------------------------------------ snapshots

/// Pauses deep in a recursion, with a mutable global, memory contents and a
/// dropped data segment in its state; prints 30 at the end and leaves
/// fib(10) = 55 at 4, 8, ..., 120 and "hello" at 200.
const SNAP_GUEST: &str = r#"(module
  (import "env" "out" (func $out (param i32)))
  (memory 1)
  (global $g (mut i32) (i32.const 0))
  (data $d "hello")
  (func $f (param i32) (result i32)
    (if (result i32) (i32.lt_s (local.get 0) (i32.const 2)) (then (local.get 0))
      (else (i32.add (call $f (i32.sub (local.get 0) (i32.const 1)))
                     (call $f (i32.sub (local.get 0) (i32.const 2)))))))
  (func (export "entry")
    (memory.init $d (i32.const 200) (i32.const 0) (i32.const 5))
    (data.drop $d)
    (loop $l
      (global.set $g (i32.add (global.get $g) (i32.const 1)))
      (i32.store (i32.mul (global.get $g) (i32.const 4)) (call $f (i32.const 10)))
      (br_if $l (i32.lt_u (global.get $g) (i32.const 30))))
    (call $out (global.get $g))))"#;

#[derive(Default)]
struct Printed(Vec<i32>);
impl Host for Printed {
    fn call(
        &mut self,
        _: usize,
        a: &[Value],
        _: &mut [Value],
        _: &mut GuestMemory<'_>,
    ) -> Result<(), HostError> {
        if let Value::I32(v) = a[0] {
            self.0.push(v);
        }
        Ok(())
    }
}

fn finish_and_check(mut e: Executor) {
    let mut out = Printed::default();
    let mut runs = 0;
    while e.run(997, &mut out).unwrap() == RunOutcome::Paused {
        runs += 1;
        assert!(runs < 100_000, "does not finish");
    }
    assert_eq!(out.0, vec![30]);
    for k in 1..=30u64 {
        assert_eq!(e.read_memory(4 * k, 4).unwrap(), 55i32.to_le_bytes());
    }
    assert_eq!(e.read_memory(200, 5).unwrap(), b"hello");
}

/// A paused guest and its snapshot bytes (small: one mostly-zero page).
fn paused_guest(p: &Arc<Program>, gas: u64) -> (Executor, Vec<u8>) {
    let mut e = executor(p, 2);
    assert_eq!(
        e.run(gas, &mut Printed::default()).unwrap(),
        RunOutcome::Paused
    );
    let bytes = e.snapshot().unwrap().to_bytes();
    (e, bytes)
}

/// The executor's whole state as bytes (to compare before/after).
fn state_of(e: &mut Executor) -> Vec<u8> {
    e.snapshot().unwrap().to_bytes()
}

#[test]
fn every_bit_flip_and_truncation_of_a_snapshot_is_rejected() {
    use wasm_sandbox_core::Snapshot;
    let p = program(SNAP_GUEST);
    let (_, bytes) = paused_guest(&p, 5000);
    let snap = Snapshot::from_bytes(&bytes).unwrap();
    assert!(!snap.unwind().is_empty());
    // The target: paused elsewhere; it must come out of every failed
    // restore exactly as it was.
    let (mut target, _) = paused_guest(&p, 1234);
    let before = state_of(&mut target);

    let mut flips = 0;
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            match Snapshot::from_bytes(&b) {
                Ok(_) => panic!("flip of bit {bit} of byte {i} accepted"),
                Err(e) => assert!(e.code().starts_with("ERR_SNAPSHOT_"), "{}", e.code()),
            }
            flips += 1;
        }
    }
    for n in 0..bytes.len() {
        let e = Snapshot::from_bytes(&bytes[..n]).unwrap_err();
        assert_eq!(e.code(), "ERR_SNAPSHOT_CORRUPT", "truncation to {n}");
    }
    // With bytes appended too.
    for extra in [&[0u8][..], &[0, 0, 0, 0], b"trailing"] {
        let mut b = bytes.clone();
        b.extend_from_slice(extra);
        assert!(Snapshot::from_bytes(&b).is_err());
    }

    // The JSON form: every single-bit flip of every character.
    let json = snap.to_json();
    let mut json_flips = 0;
    for i in 0..json.len() {
        for bit in 0..8 {
            let mut b = json.clone().into_bytes();
            b[i] ^= 1 << bit;
            let Ok(text) = String::from_utf8(b) else {
                continue; // not a string any more: JS could not pass it
            };
            match Snapshot::from_json(&text) {
                Ok(s) => panic!(
                    "JSON flip of bit {bit} of char {i} accepted ({}): {:?} -> {:?}",
                    if s == snap {
                        "same content"
                    } else {
                        "DIFFERENT content"
                    },
                    json.as_bytes()[i] as char,
                    text.as_bytes()[i] as char,
                ),
                Err(e) => assert!(e.code().starts_with("ERR_SNAPSHOT_"), "{}", e.code()),
            }
            json_flips += 1;
        }
    }
    for n in 0..json.len() {
        if let Some(t) = json.get(..n) {
            assert!(Snapshot::from_json(t).is_err(), "JSON truncated to {n}");
        }
    }
    assert_eq!(state_of(&mut target), before);
    println!(
        "{flips} bit flips and {} truncations of a {}-byte snapshot rejected; \
         {json_flips} flips of its {}-byte JSON form",
        bytes.len(),
        bytes.len(),
        json.len()
    );
    // The original restores and finishes correctly.
    target.restore(&snap).unwrap();
    finish_and_check(target);
}

/// Little helpers to edit a binary snapshot and fix up its CRC-32, as an
/// attacker would.
mod craft {
    pub const HEADER: usize = 20;
    pub const FLAGS: usize = HEADER + 32;
    pub const STATUS: usize = FLAGS + 1;
    pub const PHASE: usize = STATUS + 1;
    pub const ENTRY_LEN: usize = PHASE + 1;

    pub fn entry_end(b: &[u8]) -> usize {
        ENTRY_LEN + 4 + u32::from_le_bytes(b[ENTRY_LEN..ENTRY_LEN + 4].try_into().unwrap()) as usize
    }
    pub fn gas_balance_at(b: &[u8]) -> usize {
        entry_end(b)
    }
    pub fn gas_used_at(b: &[u8]) -> usize {
        entry_end(b) + 8
    }
    pub fn reseal(b: &mut [u8]) {
        let n = b.len() - 4;
        let payload = (n - HEADER) as u64;
        b[12..20].copy_from_slice(&payload.to_le_bytes());
        let crc = crc32fast::hash(&b[..n]);
        b[n..].copy_from_slice(&crc.to_le_bytes());
    }
    /// Offset of `needle` in `hay` (the first match).
    pub fn find(hay: &[u8], needle: &[u8]) -> usize {
        hay.windows(needle.len())
            .position(|w| w == needle)
            .expect("field found")
    }
}

/// Snapshots edited and re-sealed with a valid checksum (anyone can compute
/// a CRC): each is refused with `ERR_SNAPSHOT_*`, leaving the target as it
/// was, or accepted and then runs within the gas it is given and at worst
/// traps — never an internal error, never more gas than handed out.
#[test]
fn crafted_snapshots_cannot_escape_the_limits() {
    use wasm_sandbox_core::Snapshot;
    let p = program(SNAP_GUEST);
    let (_, bytes) = paused_guest(&p, 5000);
    let snap = Snapshot::from_bytes(&bytes).unwrap();
    let (_, other_point) = paused_guest(&p, 1234);

    let mut variants: Vec<(String, Vec<u8>)> = Vec::new();
    let mut edit = |name: String, f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = bytes.clone();
        f(&mut b);
        craft::reseal(&mut b);
        variants.push((name, b));
    };
    for status in 0..=3u8 {
        for phase in 0..=1u8 {
            edit(format!("status {status} phase {phase}"), &|b| {
                b[craft::STATUS] = status;
                b[craft::PHASE] = phase;
            });
        }
    }
    edit("NaN flag".into(), &|b| b[craft::FLAGS] = 1);
    for balance in [
        i64::MAX,
        i64::MAX / 2,
        1 << 40,
        1_000_000,
        1,
        0,
        -1,
        i64::MIN,
    ] {
        edit(format!("gas balance {balance}"), &|b| {
            let at = craft::gas_balance_at(b);
            b[at..at + 8].copy_from_slice(&balance.to_le_bytes());
        });
    }
    for used in [0u64, u64::MAX] {
        edit(format!("gas used {used}"), &|b| {
            let at = craft::gas_used_at(b);
            b[at..at + 8].copy_from_slice(&used.to_le_bytes());
        });
    }
    // Every byte of the unwind frames, set to a few values.
    let unwind = snap.unwind().to_vec();
    let mut with_len = (unwind.len() as u32).to_le_bytes().to_vec();
    with_len.extend_from_slice(&unwind);
    let unwind_at = craft::find(&bytes, &with_len) + 4;
    for i in 0..unwind.len() {
        for v in [0u8, 1, 0x7f, 0xff] {
            if unwind[i] != v {
                edit(format!("unwind byte {i} = {v:#x}"), &|b| {
                    b[unwind_at + i] = v
                });
            }
        }
    }
    // Unwind frames cut short or doubled (length field adjusted).
    for keep in (0..unwind.len()).step_by(4) {
        edit(format!("unwind cut to {keep} bytes"), &|b| {
            b.splice(unwind_at - 4..unwind_at + unwind.len(), {
                let mut f = (keep as u32).to_le_bytes().to_vec();
                f.extend_from_slice(&unwind[..keep]);
                f
            });
        });
    }
    edit("unwind frames twice".into(), &|b| {
        b.splice(unwind_at - 4..unwind_at + unwind.len(), {
            let mut f = (2 * unwind.len() as u32).to_le_bytes().to_vec();
            f.extend_from_slice(&unwind);
            f.extend_from_slice(&unwind);
            f
        });
    });
    // The mutable global (the loop counter) and the dropped-segment mask.
    let globals_at = {
        let mut g = (snap.globals().len() as u32).to_le_bytes().to_vec();
        for v in snap.globals() {
            g.extend_from_slice(&v.to_le_bytes());
        }
        craft::find(&bytes, &g)
    };
    for k in 0..(snap.globals().len() + snap.drop_masks().len() + 1) {
        for v in [0u64, u32::MAX as u64, u64::MAX] {
            edit(format!("global/mask word {k} = {v:#x}"), &|b| {
                let at = globals_at + 4 + 8 * k + if k >= snap.globals().len() { 4 } else { 0 };
                b[at..at + 8].copy_from_slice(&v.to_le_bytes());
            });
        }
    }

    let (mut refused, mut accepted, mut trapped) = (0, 0, 0);
    let mut escapes = Vec::new();
    for (name, b) in &variants {
        let parsed = match Snapshot::from_bytes(b) {
            Ok(s) => s,
            Err(e) => {
                assert!(
                    e.code().starts_with("ERR_SNAPSHOT_"),
                    "{name}: {}",
                    e.code()
                );
                refused += 1;
                continue;
            }
        };
        let mut target = executor(&p, 2);
        target
            .restore(&Snapshot::from_bytes(&other_point).unwrap())
            .unwrap();
        let before = state_of(&mut target);
        match target.restore(&parsed) {
            Err(e) => {
                assert!(e.code().starts_with("ERR_SNAPSHOT_"), "{name}: {e}");
                assert_eq!(state_of(&mut target), before, "{name}: half applied");
                refused += 1;
            }
            Ok(()) => {
                accepted += 1;
                let mut out = Printed::default();
                for _ in 0..50 {
                    let used = target.gas_used();
                    match target.run(1000, &mut out) {
                        Ok(RunOutcome::Finished) => break,
                        Ok(RunOutcome::Paused) => {}
                        Err(Error::Trap { .. }) => {
                            trapped += 1;
                            break;
                        }
                        Err(e) => panic!("{name}: {} {e}", e.code()),
                    }
                    // The guest's longest return chain is fib's depth (10)
                    // times its body; 5,000 is far above any honest
                    // overshoot of this program.
                    if target.gas_used().saturating_sub(used) > 1000 + 5000 {
                        escapes.push(format!(
                            "{name}: one run(1000) used {} gas",
                            target.gas_used() - used
                        ));
                        break;
                    }
                }
            }
        }
    }
    println!(
        "{} crafted snapshots: {refused} refused, {accepted} accepted ({trapped} of those trapped)",
        variants.len()
    );
    assert!(escapes.is_empty(), "{escapes:#?}");
}

#[test]
fn snapshots_of_other_modules_entries_or_larger_memories_are_refused_unchanged() {
    use wasm_sandbox_core::Snapshot;
    let p = program(SNAP_GUEST);
    let (_, bytes) = paused_guest(&p, 5000);
    let snap = Snapshot::from_bytes(&bytes).unwrap();
    // Another module (one constant differs).
    let other = program(&SNAP_GUEST.replace("(i32.const 30)", "(i32.const 31)"));
    let mut o = executor(&other, 2);
    o.run(300, &mut Printed::default()).unwrap();
    let before = state_of(&mut o);
    assert_eq!(code(o.restore(&snap)), "ERR_SNAPSHOT_MISMATCH");
    assert_eq!(state_of(&mut o), before);
    // The same module with another cost table.
    let costly = Program::load(
        &wat::parse_str(SNAP_GUEST).unwrap(),
        &ProgramOptions {
            costs: wasm_sandbox_core::CostTable {
                host_call: 11,
                ..Default::default()
            },
            canonicalize_nans: false,
        },
    )
    .unwrap();
    assert_eq!(
        code(executor(&costly, 2).restore(&snap)),
        "ERR_SNAPSHOT_MISMATCH"
    );
    // The same module run from another entry.
    let two = program(&SNAP_GUEST.replace(
        r#"(func (export "entry")"#,
        r#"(func (export "other") (nop)) (func (export "entry")"#,
    ));
    let mut from_other = Executor::new(
        two.clone(),
        ExecutorConfig {
            memory_limit_pages: 2,
            entry: Some("other".into()),
        },
    )
    .unwrap();
    let mut e = executor(&two, 2);
    e.run(5000, &mut Printed::default()).unwrap();
    assert_eq!(
        code(from_other.restore(&e.snapshot().unwrap())),
        "ERR_SNAPSHOT_MISMATCH"
    );
    assert_eq!(from_other.status(), Status::Ready);

    // A memory above the target's memLimit; exactly at it is fine.
    let grower = program(
        r#"(module (memory 1) (func (export "entry")
             (drop (memory.grow (i32.const 7)))
             (i32.store (i32.const 0x7fff0) (i32.const 9))
             (loop $l (br $l))))"#,
    );
    let mut big = executor(&grower, 16);
    assert_eq!(big.run(10_000, &mut NoHost).unwrap(), RunOutcome::Paused);
    assert_eq!(big.memory_size(), 8 * 65536);
    let big = big.snapshot().unwrap();
    for limit in 1..8 {
        let mut small = executor(&grower, limit);
        small.write_memory(0, b"keep").unwrap();
        let before = state_of(&mut small);
        assert_eq!(code(small.restore(&big)), "ERR_SNAPSHOT_MEMORY_LIMIT");
        assert_eq!(state_of(&mut small), before);
    }
    let mut exact = executor(&grower, 8);
    exact.restore(&big).unwrap();
    assert_eq!(exact.read_memory(0x7fff0, 4).unwrap(), 9i32.to_le_bytes());
    // ...and it cannot grow past its own limit afterwards.
    assert_eq!(exact.run(100, &mut NoHost).unwrap(), RunOutcome::Paused);
    assert_eq!(exact.memory_size(), 8 * 65536);
}

/// The balance in a crafted snapshot must not buy gas: a paused (or ready)
/// executor always has a balance <= 0, so a positive one is corrupt. Were
/// it accepted, `run(1000)` would run for as long as the crafted balance
/// lasts (here: to the end of a long loop).
#[test]
fn a_crafted_gas_balance_cannot_buy_gas() {
    use wasm_sandbox_core::Snapshot;
    let p = program(
        r#"(module (memory 1) (func (export "entry") (local $i i32)
             (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (i32.store (i32.const 0) (local.get $i))
               (br_if $l (i32.lt_u (local.get $i) (i32.const 20000000))))))"#,
    );
    let mut e = executor(&p, 1);
    assert_eq!(e.run(1000, &mut NoHost).unwrap(), RunOutcome::Paused);
    let bytes = e.snapshot().unwrap().to_bytes();
    for balance in [1i64, 1000, 1 << 40, i64::MAX] {
        for status in [0u8, 1] {
            let mut b = bytes.clone();
            b[craft::STATUS] = status;
            let at = craft::gas_balance_at(&b);
            b[at..at + 8].copy_from_slice(&balance.to_le_bytes());
            craft::reseal(&mut b);
            let what = format!("status {status}, balance {balance}");
            let Ok(snap) = Snapshot::from_bytes(&b) else {
                continue;
            };
            let mut target = executor(&p, 1);
            match target.restore(&snap) {
                Err(e) => {
                    assert_eq!(e.code(), "ERR_SNAPSHOT_CORRUPT", "{what}");
                    assert_eq!(target.status(), Status::Ready);
                }
                Ok(()) => {
                    let used = target.gas_used();
                    let r = target.run(1000, &mut NoHost);
                    let spent = target.gas_used() - used;
                    assert!(
                        spent <= 1000 + 20,
                        "{what}: run(1000) after restore spent {spent} gas ({r:?})"
                    );
                }
            }
        }
    }
}

macro_rules! extreme_tests {
    ($($name:ident = $index:expr;)*) => {$(
        #[test]
        fn $name() {
            check_extreme($index);
        }
    )*};
}

extreme_tests! {
    extreme_10000_nested_blocks = 0;
    extreme_10000_nested_blocks_with_calls = 1;
    extreme_10000_nested_loops = 2;
    extreme_10000_nested_loops_with_calls = 3;
    extreme_10000_nested_ifs = 4;
    extreme_50000_locals_leaf = 5;
    extreme_50000_locals_saved_in_frames = 6;
    extreme_100000_locals_refused = 7;
    extreme_50000_functions = 8;
    extreme_3_6_mb_function_body = 9;
    extreme_5_mb_function_body_refused = 10;
    extreme_br_table_65000_targets = 11;
    extreme_br_table_100000_targets_refused = 12;
}

#[test]
fn every_extreme_case_has_a_test() {
    assert_eq!(extremes().len(), 13);
}
