//! The hard cases of the transform (notes/instrumentation.md §3h), each run
//! uninterrupted and in small gas slices with snapshot → bytes → fresh
//! executor → restore at every pause. Every variant must print the same
//! values and consume the same total gas.

use std::sync::Arc;

use wasm_sandbox_core::{
    Error, Executor, ExecutorConfig, GuestMemory, Host, HostError, Program, ProgramOptions,
    RunOutcome, Snapshot, Status, TrapKind, Value,
};

/// Records every `env.out*` call.
#[derive(Default)]
struct Recorder {
    out: Vec<Value>,
}

impl Host for Recorder {
    fn call(
        &mut self,
        _index: usize,
        args: &[Value],
        results: &mut [Value],
        _memory: &mut GuestMemory<'_>,
    ) -> Result<(), HostError> {
        self.out.extend_from_slice(args);
        for r in results.iter_mut() {
            *r = match r {
                Value::I32(_) => Value::I32(7),
                Value::I64(_) => Value::I64(-7),
                Value::F32(_) => Value::F32(1.5f32.to_bits()),
                Value::F64(_) => Value::F64(2.5f64.to_bits()),
            };
        }
        Ok(())
    }
}

fn program(wat: &str) -> Arc<Program> {
    let wasm = wat::parse_str(wat).expect("test WAT parses");
    Program::load(&wasm, &ProgramOptions::default()).expect("instruments")
}

fn executor(p: &Arc<Program>) -> Executor {
    Executor::new(
        p.clone(),
        ExecutorConfig {
            memory_limit_pages: 16,
            entry: None,
        },
    )
    .expect("instantiates")
}

struct Outcome {
    out: Vec<Value>,
    gas_used: u64,
    pauses: usize,
}

fn run_unlimited(p: &Arc<Program>) -> Outcome {
    let mut e = executor(p);
    let mut host = Recorder::default();
    assert_eq!(e.run(1 << 40, &mut host).unwrap(), RunOutcome::Finished);
    assert_eq!(e.status(), Status::Finished);
    Outcome {
        out: host.out,
        gas_used: e.gas_used(),
        pauses: 0,
    }
}

/// Runs in slices of `slice` gas; at every pause the state moves into a
/// fresh executor through the binary (or JSON) snapshot form.
fn run_sliced(p: &Arc<Program>, slice: u64, json: bool) -> Outcome {
    let mut e = executor(p);
    let mut host = Recorder::default();
    let mut pauses = 0;
    loop {
        match e.run(slice, &mut host).unwrap() {
            RunOutcome::Finished => break,
            RunOutcome::Paused => {
                pauses += 1;
                assert!(pauses < 1_000_000, "does not finish");
                let snap = e.snapshot().unwrap();
                let snap = if json {
                    Snapshot::from_json(&snap.to_json()).unwrap()
                } else {
                    Snapshot::from_bytes(&snap.to_bytes()).unwrap()
                };
                let mut fresh = executor(p);
                fresh.restore(&snap).unwrap();
                assert_eq!(fresh.gas_balance(), e.gas_balance());
                assert_eq!(fresh.gas_used(), e.gas_used());
                e = fresh;
            }
        }
    }
    Outcome {
        out: host.out,
        gas_used: e.gas_used(),
        pauses,
    }
}

/// The oracle: uninterrupted and sliced runs agree on output and gas.
fn check(wat: &str, expected: &[Value]) {
    let p = program(wat);
    let full = run_unlimited(&p);
    assert_eq!(full.out, expected, "uninterrupted output");
    let mut paused_somewhere = false;
    for slice in [1, 2, 3, 5, 8, 13, 40, 100] {
        for json in [false, true] {
            if json && slice > 3 {
                continue;
            }
            let s = run_sliced(&p, slice, json);
            assert_eq!(s.out, expected, "output with slices of {slice}");
            assert_eq!(
                s.gas_used, full.gas_used,
                "total gas with slices of {slice}"
            );
            paused_somewhere |= s.pauses > 0;
        }
    }
    assert!(paused_somewhere, "the test never paused");
}

fn i32s(v: &[i32]) -> Vec<Value> {
    v.iter().map(|x| Value::I32(*x)).collect()
}

#[test]
fn seed_print_loop() {
    let wat = r#"(module
      (import "env" "print" (func $print (param i32)))
      (memory 1)
      (func (export "entry") (local $i i32)
        (loop $l
          (call $print (local.get $i))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_s (local.get $i) (i32.const 200))))))"#;
    check(wat, &i32s(&(0..200).collect::<Vec<_>>()));
}

#[test]
fn value_under_a_call() {
    let wat = r#"(module
      (import "env" "out" (func $out (param i32)))
      (func $f (result i32) (local $i i32)
        (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))
        (local.get $i))
      (func (export "entry")
        (call $out (i32.add (i32.const 5) (call $f)))
        (call $out (i32.sub (i32.mul (i32.const 3) (i32.const 4)) (call $f)))))"#;
    check(wat, &i32s(&[15, 2]));
}

#[test]
fn value_under_a_pausing_block() {
    let wat = r#"(module
      (import "env" "out" (func $out (param i32)))
      (func $f (result i32) (local $i i32)
        (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 6))))
        (local.get $i))
      (func (export "entry")
        (call $out (i32.add (i32.const 5) (block (result i32) (call $f))))
        (call $out (i32.add (i32.const 100)
                   (block (result i32) (drop (call $f)) (br 0 (i32.const 9)))))))"#;
    check(wat, &i32s(&[11, 109]));
}

#[test]
fn loop_with_params() {
    let wat = r#"(module
      (import "env" "out" (func $out (param i32)))
      (func $id (param i32) (result i32) (local.get 0))
      (func (export "entry") (local $t i32)
        (call $out
          (i32.const 0)
          (loop $L (param i32) (result i32)
            (call $id) (i32.const 1) (i32.add)))
        (call $out
          (i32.const 1)
          (loop $M (param i32) (result i32)
            (call $id) (i32.const 2) (i32.mul)
            (local.tee $t)
            (br_if $M (i32.lt_u (call $id (local.get $t)) (i32.const 500)))))))"#;
    check(wat, &i32s(&[1, 512]));
}

#[test]
fn pause_in_one_if_arm() {
    let wat = r#"(module
      (import "env" "out" (func $out (param i32)))
      (func $f (param i32) (result i32) (local $i i32)
        (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 4))))
        (i32.add (local.get 0) (local.get $i)))
      (func $g (param i32) (result i32) (i32.mul (local.get 0) (i32.const 10)))
      (func (export "entry") (local $k i32)
        (loop $l
          (call $out
            (i32.add (i32.const 1000)
              (if (result i32) (i32.and (local.get $k) (i32.const 1))
                (then (call $f (local.get $k)))
                (else (call $g (local.get $k))))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $k) (i32.const 6))))))"#;
    check(wat, &i32s(&[1000, 1005, 1020, 1007, 1040, 1009]));
}

#[test]
fn br_table_with_values_into_pausing_and_plain_blocks() {
    let wat = r#"(module
      (import "env" "out" (func $out (param i32)))
      (func $f (param i32) (result i32) (local $i i32)
        (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 3))))
        (i32.add (local.get 0) (local.get $i)))
      (func $pick (param $x i32) (result i32)
        (block $pausing (result i32)
          (drop (call $f (i32.const 0)))
          (block $plain (result i32)
            (br_table $pausing $plain $pausing
              (i32.const 40) (local.get $x)))
          (i32.const 1) (i32.add)
          (return))
        (call $f) )
      (func (export "entry")
        (call $out (call $pick (i32.const 0)))
        (call $out (call $pick (i32.const 1)))
        (call $out (call $pick (i32.const 2)))
        (call $out (call $pick (i32.const 7)))))"#;
    check(wat, &i32s(&[43, 41, 43, 43]));
}

#[test]
fn locals_dead_at_a_pause_site_are_not_needed_by_a_resume() {
    // A pause at a loop header or after a call saves a copy of another
    // local (or zero) for the locals dead there. strcmp's byte locals are
    // dead at its header but read after the loop; in $mix, $t is dead at
    // the inner header and live at the outer one, and $j is dead at the
    // outer header; in $calls, $t is dead after the first call (written
    // again before it is read) and live after the second.
    let wat = r#"(module
      (import "env" "out" (func $out (param i32)))
      (memory 1)
      (data (i32.const 0) "key-00042\00key-00043\00")
      (func $strcmp (param $p i32) (param $q i32) (result i32) (local $a i32) (local $b i32)
        (block $done
          (loop $next
            (local.set $a (i32.load8_u (local.get $p)))
            (local.set $b (i32.load8_u (local.get $q)))
            (br_if $done (i32.eqz (local.get $a)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (br_if $next (i32.eq (local.get $a) (local.get $b)))))
        (i32.sub (local.get $a) (local.get $b)))
      (func $mix (param $n i32) (result i32) (local $i i32) (local $j i32) (local $t i32) (local $acc i32)
        (local.set $t (i32.const 5))
        (block $out
          (loop $outer
            (local.set $acc (i32.add (local.get $acc) (local.get $t)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $out (i32.gt_u (local.get $i) (local.get $n)))
            (local.set $j (i32.const 0))
            (loop $inner
              (local.set $t (i32.add (i32.mul (local.get $j) (i32.const 3)) (local.get $i)))
              (local.set $acc (i32.xor (i32.mul (local.get $acc) (i32.const 31)) (local.get $t)))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br_if $inner (i32.lt_u (local.get $j) (local.get $i))))
            (br $outer)))
        (i32.add (local.get $acc) (local.get $t)))
      (func $twice (param $x i32) (result i32) (local $i i32)
        (loop $l
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 3))))
        (i32.add (local.get $x) (local.get $x)))
      (func $calls (param $n i32) (result i32) (local $a i32) (local $b i32) (local $t i32)
        (local.set $t (i32.mul (local.get $n) (i32.const 7)))
        (local.set $a (call $twice (local.get $t)))
        (local.set $t (i32.add (local.get $a) (local.get $n)))
        (local.set $b (call $twice (local.get $t)))
        (i32.add (i32.add (local.get $a) (local.get $b)) (local.get $t)))
      (func (export "entry")
        (call $out (call $strcmp (i32.const 0) (i32.const 10)))
        (call $out (call $strcmp (i32.const 10) (i32.const 10)))
        (call $out (call $mix (i32.const 6)))
        (call $out (call $calls (i32.const 5)))))"#;
    check(wat, &i32s(&[-1, 0, -622082570, 295]));
}

#[test]
fn temps_in_use_at_a_loop_header_are_saved_and_free_ones_are_not_needed() {
    // The pass's own temps are saved with the frame too, and a loop
    // header's pause path overwrites those not in use there. In $fib the
    // call's result goes through a temp that is free at the header (fib's
    // loop as clang writes it); in $under the values below a block that
    // holds a loop (5, and the multiplier 3 under the inner call) are
    // spilled to temps in use across the loop; in $nested the values under
    // a block holding a call are kept in temps in a loop that iterates
    // while they are in use. Every slicing,
    // moving the state into a fresh executor at every pause.
    let wat = r#"(module
      (import "env" "out" (func $out (param i32)))
      (func $fib (param $n i32) (result i32) (local $acc i32)
        (if (i32.ge_u (local.get $n) (i32.const 2))
          (then
            (loop $l
              (local.set $acc (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                                       (local.get $acc)))
              (local.set $n (i32.sub (local.get $n) (i32.const 2)))
              (br_if $l (i32.gt_u (local.get $n) (i32.const 1))))))
        (i32.add (local.get $n) (local.get $acc)))
      (func $count (param $k i32) (result i32) (local $i i32)
        (loop $l
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (local.get $k))))
        (local.get $i))
      (func $under (param $k i32) (result i32) (local $i i32)
        (i32.add (i32.const 5)
          (block (result i32)
            (loop $l
              (local.set $i (i32.add (local.get $i)
                (i32.mul (i32.const 3) (call $count (local.get $k)))))
              (br_if $l (i32.lt_u (local.get $i) (i32.const 60))))
            (local.get $i))))
      (func $nested (result i32) (local $o i32) (local $sum i32)
        (loop $outer
          (local.set $sum (i32.add (local.get $sum)
            (i32.mul (local.get $o)
              (block (result i32)
                (call $count (i32.add (local.get $o) (i32.const 2)))))))
          (local.set $o (i32.add (local.get $o) (i32.const 1)))
          (br_if $outer (i32.lt_u (local.get $o) (i32.const 7))))
        (local.get $sum))
      (func (export "entry")
        (call $out (call $fib (i32.const 12)))
        (call $out (call $under (i32.const 4)))
        (call $out (call $nested))))"#;
    check(wat, &i32s(&[144, 65, 133]));
}

#[test]
fn constants_stored_in_loops_are_pinned_without_changing_anything() {
    // $fill stores a constant of each type in its loops, so the pass pins
    // them at its entry (`const; global.set` to globals of its own, see
    // instrument/pin.rs): the stores, a guest global beside the pins' and
    // every pause inside the loops must come out as without them. -0.0
    // and a NaN with a payload are stored bit for bit.
    let wat = r#"(module
      (import "env" "out" (func $out (param i64)))
      (memory 1)
      (global $g (mut i32) (i32.const 0))
      (func $fill (param $n i32) (local $i i32) (local $j i32)
        (loop $outer
          (local.set $j (local.get $i))
          (loop $inner
            (i32.store8 (local.get $j) (i32.const 1))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br_if $inner (i32.lt_u (local.get $j) (i32.const 64))))
          (i64.store offset=1024 (i32.shl (local.get $i) (i32.const 3))
            (i64.const -81985529216486896))
          (f32.store offset=2048 (i32.shl (local.get $i) (i32.const 2)) (f32.const -0))
          (f64.store offset=4096 (i32.shl (local.get $i) (i32.const 3))
            (f64.const nan:0x8000000000001))
          (global.set $g (i32.add (global.get $g) (i32.const 1)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $outer (i32.lt_u (local.get $i) (local.get $n)))))
      (func (export "entry") (local $k i32) (local $sum i64)
        (call $fill (i32.const 3))
        (loop $l
          (local.set $sum (i64.add (local.get $sum) (i64.load8_u (local.get $k))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $k) (i32.const 64))))
        (call $out (local.get $sum))
        (call $out (i64.load offset=1024 (i32.const 16)))
        (call $out (i64.extend_i32_u (i32.load offset=2048 (i32.const 8))))
        (call $out (i64.load offset=4096 (i32.const 16)))
        (call $out (i64.extend_i32_u (global.get $g)))))"#;
    check(
        wat,
        &[
            // Bytes 0..64 in steps of 4 from 0, 1 and 2: 48 of them are 1.
            Value::I64(48),
            Value::I64(-81985529216486896),
            Value::I64(0x8000_0000),
            Value::I64(0x7ff8_0000_0000_0001),
            Value::I64(3),
        ],
    );
}

#[test]
fn call_indirect_paused_inside_callee() {
    let wat = r#"(module
      (import "env" "out" (func $out (param i32)))
      (type $t (func (param i32) (result i32)))
      (table 3 funcref)
      (elem (i32.const 0) $a $b $c)
      (func $a (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
      (func $b (param i32) (result i32) (local $i i32)
        (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 5))))
        (i32.mul (local.get 0) (local.get $i)))
      (func $c (param i32) (result i32)
        (call_indirect (type $t) (local.get 0) (i32.const 1)))
      (func (export "entry") (local $k i32)
        (loop $l
          (call $out (i32.add (i32.const 3)
             (call_indirect (type $t) (i32.add (local.get $k) (i32.const 10))
                             (i32.rem_u (local.get $k) (i32.const 3)))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $k) (i32.const 6))))))"#;
    check(wat, &i32s(&[14, 58, 63, 17, 73, 78]));
}

#[test]
fn deep_recursion_fib() {
    let wat = r#"(module
      (import "env" "out" (func $out (param i32)))
      (func $fib (param i32) (result i32)
        (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
          (then (local.get 0))
          (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                         (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
      (func $deep (param i32) (result i32)
        (if (result i32) (i32.eqz (local.get 0))
          (then (i32.const 0))
          (else (i32.add (i32.const 1) (call $deep (i32.sub (local.get 0) (i32.const 1)))))))
      (func (export "entry")
        (call $out (call $fib (i32.const 12)))
        (call $out (call $deep (i32.const 300)))))"#;
    check(wat, &i32s(&[144, 300]));
}

#[test]
fn call_depth_limit_traps_deterministically() {
    let wat = r#"(module
      (func $r (param i32) (result i32) (i32.add (i32.const 1) (call $r (local.get 0))))
      (func (export "entry") (drop (call $r (i32.const 0)))))"#;
    let p = program(wat);
    for _ in 0..2 {
        let mut e = executor(&p);
        match e.run(1 << 40, &mut Recorder::default()) {
            Err(Error::Trap { kind, .. }) => assert_eq!(kind, TrapKind::CallDepthExceeded),
            other => panic!("expected call depth trap, got {other:?}"),
        }
        assert_eq!(e.status(), Status::Trapped);
        // Trapped stays trapped.
        assert!(matches!(
            e.run(10, &mut Recorder::default()),
            Err(Error::Trap {
                kind: TrapKind::CallDepthExceeded,
                ..
            })
        ));
    }
}

#[test]
fn pause_inside_the_start_function() {
    let wat = r#"(module
      (import "env" "out" (func $out (param i32)))
      (global $g (mut i32) (i32.const 0))
      (func $start (local $i i32)
        (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (global.set $g (i32.add (global.get $g) (local.get $i)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 20))))
        (call $out (global.get $g)))
      (start $start)
      (func (export "entry") (call $out (i32.add (global.get $g) (i32.const 1)))))"#;
    check(wat, &i32s(&[210, 211]));
}

#[test]
fn pause_at_memory_fill_is_charged_before_it_runs() {
    let wat = r#"(module
      (import "env" "out" (func $out (param i32)))
      (memory 2)
      (func (export "entry")
        (memory.fill (i32.const 0) (i32.const 7) (i32.const 65536))
        (call $out (i32.load8_u (i32.const 65535)))
        (memory.copy (i32.const 65536) (i32.const 0) (i32.const 100))
        (call $out (i32.load8_u (i32.const 65635)))
        (call $out (memory.grow (i32.const 1)))
        (call $out (memory.size))))"#;
    check(wat, &i32s(&[7, 7, 2, 3]));
    // 65536 bytes cost 8192 units: a 100-gas budget cannot run the fill.
    let p = program(wat);
    let mut e = executor(&p);
    let mut host = Recorder::default();
    assert_eq!(e.run(100, &mut host).unwrap(), RunOutcome::Paused);
    assert!(host.out.is_empty());
    assert_eq!(e.read_memory(0, 1).unwrap(), vec![0]);
    assert!(e.gas_balance() < -8000);
}

#[test]
fn multi_value_results_under_values() {
    let wat = r#"(module
      (import "env" "out" (func $out (param i32 i64)))
      (func $two (param i32) (result i32 i64) (local $i i32)
        (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 3))))
        (local.get 0) (i64.extend_i32_u (i32.add (local.get 0) (local.get $i))))
      (func (export "entry")
        (i32.const 100)
        (call $two (i32.const 5))
        (i64.const 1) (i64.add)
        (call $out)
        (i32.const 5)
        (i32.add)
        (i64.const 9)
        (call $out)))"#;
    check(
        wat,
        &[
            Value::I32(5),
            Value::I64(9),
            Value::I32(100 + 5),
            Value::I64(9),
        ],
    );
}

#[test]
fn pause_right_after_resume_without_gas_does_not_run() {
    let wat = r#"(module
      (import "env" "out" (func $out (param i32)))
      (func (export "entry") (local $i i32)
        (loop $l (call $out (local.get $i))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 50))))))"#;
    let p = program(wat);
    let mut e = executor(&p);
    let mut host = Recorder::default();
    assert_eq!(e.run(30, &mut host).unwrap(), RunOutcome::Paused);
    let balance = e.gas_balance();
    let used = e.gas_used();
    let printed = host.out.len();
    assert!(balance < 0);
    for _ in 0..3 {
        assert_eq!(e.run(0, &mut host).unwrap(), RunOutcome::Paused);
        assert_eq!(e.gas_balance(), balance);
        assert_eq!(e.gas_used(), used);
        assert_eq!(host.out.len(), printed);
    }
    // Paying off the debt exactly still does not run (balance must be > 0).
    assert_eq!(
        e.run((-balance) as u64, &mut host).unwrap(),
        RunOutcome::Paused
    );
    assert_eq!(e.gas_balance(), 0);
    assert_eq!(host.out.len(), printed);
    while e.run(7, &mut host).unwrap() == RunOutcome::Paused {}
    assert_eq!(host.out, i32s(&(0..50).collect::<Vec<_>>()));
}

#[test]
fn deterministic_pause_points_and_double_restore() {
    let wat = r#"(module
      (import "env" "out" (func $out (param i32)))
      (memory 1)
      (func $f (param i32) (result i32) (local $i i32)
        (loop $l (local.set $i (i32.add (local.get $i) (local.get 0)))
          (i32.store (i32.const 64) (local.get $i))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 90))))
        (local.get $i))
      (func (export "entry") (local $k i32)
        (local.set $k (i32.const 1))
        (loop $l (call $out (call $f (local.get $k)))
          (local.set $k (i32.add (local.get $k) (i32.const 7)))
          (br_if $l (i32.lt_u (local.get $k) (i32.const 60))))))"#;
    let p = program(wat);
    // Two runs pause at identical points (same balances, same snapshots).
    let trace = |p: &Arc<Program>| {
        let mut e = executor(p);
        let mut host = Recorder::default();
        let mut points = Vec::new();
        while e.run(23, &mut host).unwrap() == RunOutcome::Paused {
            points.push((e.gas_balance(), e.snapshot().unwrap().to_bytes()));
            if points.len() > 50 {
                break;
            }
        }
        points
    };
    let a = trace(&p);
    let b = trace(&p);
    assert!(!a.is_empty());
    assert_eq!(a, b);

    // A paused state restored twice continues identically.
    let snap = Snapshot::from_bytes(&a[2].1).unwrap();
    let finish = |snap: &Snapshot| {
        let mut e = executor(&p);
        e.restore(snap).unwrap();
        let mut host = Recorder::default();
        let mut n = 0;
        while e.run(11, &mut host).unwrap() == RunOutcome::Paused && n < 200 {
            n += 1;
        }
        (host.out, e.gas_used(), e.read_memory(0, 65536).unwrap())
    };
    assert_eq!(finish(&snap), finish(&snap));
}

#[test]
fn table_changed_before_a_pause_is_restored() {
    // table.init/table.copy change the table; after the pause the
    // call_indirect must see the changed table in the fresh executor.
    let wat = r#"(module
      (import "env" "out" (func $out (param i32)))
      (type $t (func (result i32)))
      (table 4 funcref)
      (elem (i32.const 0) $one $two)
      (elem $late func $three $four)
      (func $one (result i32) (i32.const 1))
      (func $two (result i32) (i32.const 2))
      (func $three (result i32) (i32.const 3))
      (func $four (result i32) (i32.const 4))
      (func $spin (local $i i32)
        (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 30)))))
      (func (export "entry")
        (table.init $late (i32.const 2) (i32.const 0) (i32.const 2))
        (table.copy (i32.const 0) (i32.const 2) (i32.const 1))
        (elem.drop $late)
        (call $spin)
        (call $out (call_indirect (type $t) (i32.const 0)))
        (call $out (call_indirect (type $t) (i32.const 1)))
        (call $out (call_indirect (type $t) (i32.const 3)))))"#;
    check(wat, &i32s(&[3, 2, 4]));
}

#[test]
fn dropped_data_segment_stays_dropped_after_restore() {
    let wat = r#"(module
      (import "env" "out" (func $out (param i32)))
      (memory 1)
      (data $d "\2a\2b")
      (func $spin (local $i i32)
        (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 30)))))
      (func (export "entry")
        (memory.init $d (i32.const 10) (i32.const 0) (i32.const 2))
        (data.drop $d)
        (call $spin)
        (call $out (i32.load8_u (i32.const 11)))
        (memory.init $d (i32.const 10) (i32.const 0) (i32.const 1))))"#;
    let p = program(wat);
    for slice in [1u64 << 40, 5, 17] {
        let mut e = executor(&p);
        let mut host = Recorder::default();
        let err = loop {
            match e.run(slice, &mut host) {
                Ok(RunOutcome::Paused) => {
                    let snap = Snapshot::from_bytes(&e.snapshot().unwrap().to_bytes()).unwrap();
                    let mut fresh = executor(&p);
                    fresh.restore(&snap).unwrap();
                    e = fresh;
                }
                Ok(RunOutcome::Finished) => panic!("memory.init after data.drop must trap"),
                Err(err) => break err,
            }
        };
        assert_eq!(host.out, i32s(&[0x2b]));
        assert!(
            matches!(
                err,
                Error::Trap {
                    kind: TrapKind::MemoryOutOfBounds,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

/// A trap right after a pause site, after a call and after a dynamic-cost
/// operator: it uses up the gas its run had (gas used = all the gas given,
/// balance 0), and it comes at the same point in every slicing: the gas
/// before the last run and after it bound the charges up to the last check
/// passed before the trap, so those windows overlap in all slicings, and
/// the memory is the same.
#[test]
fn a_trap_uses_up_its_runs_gas_and_comes_at_the_same_point_in_every_slicing() {
    // `calls`: a loop calling a function; the trap comes after the loop.
    // `divides`: a division that traps right after the loop header.
    // `fills`: a `memory.fill` that goes out of bounds right after the
    // header (the memory shows how far it got).
    let bodies = [
        (
            "calls",
            "(loop $l
            (local.set 1 (i32.add (local.get 1) (call $id (i32.const 1))))
            (br_if $l (i32.lt_u (local.get 1) (local.get 0))))
          (drop (i32.div_u (i32.const 7) (i32.sub (local.get 1) (local.get 0))))",
        ),
        (
            "divides",
            "(loop $l
            (local.set 2 (i32.add (local.get 2)
              (i32.div_u (i32.const 10) (i32.sub (local.get 0) (local.get 1)))))
            (local.set 1 (i32.add (local.get 1) (i32.const 1)))
            (br_if $l (i32.const 1)))",
        ),
        (
            "fills",
            "(loop $l
            (memory.fill (i32.mul (local.get 1) (i32.const 13107)) (i32.add (local.get 1) (i32.const 1)) (i32.const 8))
            (local.set 1 (i32.add (local.get 1) (i32.const 1)))
            (br_if $l (i32.const 1)))",
        ),
    ];
    for (name, body) in bodies {
        let wat = format!(
            r#"(module
              (memory 1 1)
              (func $id (param i32) (result i32) (local.get 0))
              (func $f (param i32) (local i32 i32) {body})
              (func (export "entry") (call $f (i32.const 6))))"#
        );
        let p = program(&wat);
        let mut e = executor(&p);
        let kind = |r: Result<RunOutcome, Error>| match r {
            Err(Error::Trap { kind, .. }) => kind,
            other => panic!("{name}: expected a trap, got {other:?}"),
        };
        let trap = kind(e.run(1 << 40, &mut Recorder::default()));
        assert_eq!((e.gas_used(), e.gas_balance()), (1 << 40, 0), "{name}");
        let memory = e.read_memory(0, 65536).unwrap();
        // Trapped for good: the same error, no more gas used.
        assert_eq!(kind(e.run(1000, &mut Recorder::default())), trap);
        assert_eq!((e.gas_used(), e.gas_balance()), (1 << 40, 0), "{name}");
        // [gas before the last run, gas after it], narrowed over slicings.
        let (mut lo, mut hi) = (0u64, u64::MAX);
        let mut slice = 1;
        while slice <= lo.max(20) + 2 {
            let mut e = executor(&p);
            let mut runs = 0;
            let end = loop {
                let before = e.gas_used();
                runs += 1;
                match e.run(slice, &mut Recorder::default()) {
                    Ok(RunOutcome::Paused) => {}
                    other => break (other, before),
                }
                assert!(runs < 100_000, "{name}: slice {slice} does not end");
            };
            assert_eq!(kind(end.0), trap, "{name}: slice {slice}");
            assert_eq!(e.gas_used(), runs * slice, "{name}: slice {slice}");
            assert_eq!(e.gas_balance(), 0, "{name}: slice {slice}");
            assert_eq!(
                e.read_memory(0, 65536).unwrap(),
                memory,
                "{name}: slice {slice}"
            );
            lo = lo.max(end.1);
            hi = hi.min(e.gas_used());
            assert!(
                lo <= hi,
                "{name}: slice {slice}: windows apart, [{lo}, {hi}]"
            );
            slice += 1;
        }
        assert!(lo > 20, "{name}: {lo}");
    }
}

/// A finished run's gas is the count of the instructions it ran (1 each,
/// +10 per host call), also where a `br_if` leaves runs the instrumenter
/// charged in advance: a run that ends in a `br_if` charges the run after
/// it too, and the branch's taken path gives that back. Counted by hand
/// below; in every slicing (`check`).
#[test]
fn gas_of_br_if_exits_is_the_instructions_run() {
    let wat = r#"(module
      (import "env" "out" (func $out (param i32)))
      (memory 1)
      (data (i32.const 0) "ab\00")
      (data (i32.const 8) "ab\00")
      (data (i32.const 16) "abd\00")
      (data (i32.const 24) "abc\00")
      ;; Runs: body 2 (block, loop); loop 9 up to `br_if $done`, then 12
      ;; (charged with the 9); after the block 3.
      ;; "ab" vs "ab": 2 + 21 + 21 + 9 (taken) + 3 = 56.
      ;; "abd" vs "abc": 2 + 21 + 21 + 21 (falls out) + 3 = 68.
      (func $strcmp (param $p i32) (param $q i32) (result i32) (local $a i32) (local $b i32)
        (block $done
          (loop $next
            (local.set $a (i32.load8_u (local.get $p)))
            (local.set $b (i32.load8_u (local.get $q)))
            (br_if $done (i32.eqz (local.get $a)))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (br_if $next (i32.eq (local.get $a) (local.get $b)))))
        (i32.sub (local.get $a) (local.get $b)))
      ;; A leaf (charges the gas global): block + its first run 8, `then` 2,
      ;; the run of the br_if 4 (charged with the next 4), last run 1.
      ;; -1: 8 + 2 = 10; -5: 8 + 4 + 1 = 13; 3: 8 + 4 + 4 + 1 = 17.
      (func $clamp (param $x i32) (result i32)
        (block $b
          (local.set $x (i32.add (local.get $x) (i32.const 1)))
          (if (i32.eqz (local.get $x)) (then (return (i32.const 99))))
          (br_if $b (i32.lt_s (local.get $x) (i32.const 0)))
          (local.set $x (i32.mul (local.get $x) (i32.const 2))))
        (local.get $x))
      ;; A br_if that carries a value (charged on its own): 8, then 5 for
      ;; the br_if's run, 2 after it. 20: 8 + 5 = 13; 0: 8 + 5 + 2 = 15.
      (func $pick (param $x i32) (result i32)
        (block $b (result i32)
          (local.set $x (i32.add (local.get $x) (i32.const 1)))
          (if (i32.eqz (local.get $x)) (then (return (i32.const 77))))
          (br_if $b (i32.const 5) (i32.gt_s (local.get $x) (i32.const 10)))
          (drop)
          (i32.const 6)))
      (func (export "entry")
        (call $out (call $strcmp (i32.const 0) (i32.const 8)))
        (call $out (call $strcmp (i32.const 16) (i32.const 24)))
        (call $out (call $clamp (i32.const -1)))
        (call $out (call $clamp (i32.const -5)))
        (call $out (call $clamp (i32.const 3)))
        (call $out (call $pick (i32.const 20)))
        (call $out (call $pick (i32.const 0)))))"#;
    check(wat, &i32s(&[0, 1, 99, -4, 8, 5, 6]));
    let full = run_unlimited(&program(wat));
    // entry 2 * (4 + 10) + 5 * (3 + 10) = 93; strcmp 56 + 68; clamp
    // 10 + 13 + 17; pick 13 + 15.
    assert_eq!(full.gas_used, 93 + 56 + 68 + 10 + 13 + 17 + 13 + 15);
}
