//! Executor API: limits, errors by code, snapshot validation, host imports.

use std::sync::Arc;

use wasm_sandbox_core::{
    instrument, Error, Executor, ExecutorConfig, GuestMemory, Host, HostError, InstrumentConfig,
    NoHost, Program, ProgramOptions, RunOutcome, Snapshot, Status, Value,
};

fn program(wat: &str) -> Arc<Program> {
    Program::load(&wat::parse_str(wat).unwrap(), &ProgramOptions::default()).unwrap()
}

fn executor(p: &Arc<Program>, pages: u64) -> Executor {
    Executor::new(
        p.clone(),
        ExecutorConfig {
            memory_limit_pages: pages,
            entry: None,
        },
    )
    .unwrap()
}

fn code(r: Result<impl std::fmt::Debug, Error>) -> &'static str {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code(),
    }
}

const COUNTER: &str = r#"(module
  (import "env" "out" (func $out (param i32)))
  (memory 1)
  (func (export "entry") (local $i i32)
    (loop $l (call $out (local.get $i))
      (i32.store (i32.const 0) (local.get $i))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 100))))))"#;

struct Out(Vec<i32>);
impl Host for Out {
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

#[test]
fn refuses_invalid_and_unsupported_modules_with_codes() {
    let opts = ProgramOptions::default();
    assert_eq!(code(Program::load(b"not wasm", &opts)), "ERR_INVALID_WASM");
    assert_eq!(
        code(Program::load(&[0, 97, 115, 109, 1, 0, 0], &opts)),
        "ERR_INVALID_WASM"
    );
    let cases = [
        (
            "simd",
            r#"(module (func (result v128) (v128.const i64x2 0 0)))"#,
        ),
        ("tail calls", r#"(module (func $f (return_call $f)))"#),
        ("threads", r#"(module (memory 1 1 shared))"#),
        ("memory64", r#"(module (memory i64 1))"#),
        ("exceptions", r#"(module (tag $t) (func (throw $t)))"#),
        ("externref params", r#"(module (func (param externref)))"#),
        (
            "funcref locals",
            r#"(module (func (local funcref) (local.set 0 (ref.null func)) (call 0)))"#,
        ),
        ("externref tables", r#"(module (table 1 externref))"#),
        (
            "table.grow",
            r#"(module (table 1 funcref) (func (drop (table.grow (ref.null func) (i32.const 1)))))"#,
        ),
        (
            // The inner loop's result goes through a local the outer
            // loop's pause path overwrites (it once panicked there).
            "funcref loop results in a loop",
            r#"(module (func (local $n i32)
                 (loop $outer
                   (drop (loop (result funcref) (ref.null func)))
                   (local.set $n (i32.add (local.get $n) (i32.const 1)))
                   (br_if $outer (i32.lt_u (local.get $n) (i32.const 3))))))"#,
        ),
    ];
    for (what, wat) in cases {
        let wasm = wat::parse_str(wat).unwrap();
        match Program::load(&wasm, &opts) {
            Err(e @ Error::UnsupportedFeature(_)) => {
                assert_eq!(e.code(), "ERR_UNSUPPORTED_FEATURE");
                assert!(!e.to_string().is_empty());
            }
            other => panic!("{what}: expected UnsupportedFeature, got {other:?}"),
        }
    }
    // The refusal names the function (imports count in its index).
    let wasm = wat::parse_str(
        r#"(module (import "env" "f" (func)) (func $first) (func $looping
             (drop (loop (result funcref) (ref.null func)))))"#,
    )
    .unwrap();
    let e = Program::load(&wasm, &opts).unwrap_err();
    assert_eq!(e.code(), "ERR_UNSUPPORTED_FEATURE");
    assert!(
        e.to_string().contains("reference-typed")
            && e.to_string().ends_with("function 2 \"looping\""),
        "{e}"
    );
    // Invalid (not just unsupported): a type error.
    let bad = wat::parse_str(r#"(module (func (result i32) (i64.const 1)))"#);
    // `wat` refuses to encode some invalid modules; encode by hand then.
    let wasm = bad.unwrap_or_else(|_| vec![]);
    if !wasm.is_empty() {
        assert_eq!(code(Program::load(&wasm, &opts)), "ERR_INVALID_WASM");
    }
    // Truncations of a valid module never panic.
    let good = wat::parse_str(COUNTER).unwrap();
    for n in 0..good.len() {
        let _ = instrument(&good[..n], &InstrumentConfig::default());
    }
}

#[test]
fn entry_and_memory_limit_errors() {
    let p = program(COUNTER);
    let mk = |pages, entry: Option<&str>| {
        Executor::new(
            p.clone(),
            ExecutorConfig {
                memory_limit_pages: pages,
                entry: entry.map(String::from),
            },
        )
    };
    assert_eq!(code(mk(0, None)), "ERR_MEMORY_LIMIT");
    assert_eq!(code(mk(65537, None)), "ERR_MEMORY_LIMIT");
    assert_eq!(code(mk(1, Some("nope"))), "ERR_ENTRY_NOT_FOUND");
    assert!(mk(1, None).is_ok());
    let big = program(r#"(module (memory 5) (func (export "entry")))"#);
    let e = Executor::new(
        big,
        ExecutorConfig {
            memory_limit_pages: 4,
            entry: None,
        },
    );
    assert_eq!(code(e), "ERR_MEMORY_LIMIT");
    let params = program(r#"(module (func (export "entry") (param i32)))"#);
    let e = Executor::new(
        params,
        ExecutorConfig {
            memory_limit_pages: 1,
            entry: None,
        },
    );
    assert_eq!(code(e), "ERR_INVALID_ENTRY");
    let global_import =
        program(r#"(module (import "env" "g" (global i32)) (func (export "entry")))"#);
    let e = Executor::new(
        global_import,
        ExecutorConfig {
            memory_limit_pages: 1,
            entry: None,
        },
    );
    assert_eq!(code(e), "ERR_UNSUPPORTED_MODULE");
}

#[test]
fn memory_grow_past_the_limit_returns_minus_one() {
    let wat = r#"(module
      (import "env" "out" (func $out (param i32)))
      (import "env" "memory" (memory 1))
      (func (export "entry")
        (call $out (memory.grow (i32.const 2)))
        (call $out (memory.grow (i32.const 1)))
        (call $out (memory.size))))"#;
    let p = program(wat);
    let mut e = executor(&p, 3);
    let mut out = Out(vec![]);
    assert_eq!(e.run(1 << 30, &mut out).unwrap(), RunOutcome::Finished);
    assert_eq!(out.0, vec![1, -1, 3]);
    assert_eq!(e.memory_size(), 3 * 65536);
    // Defined memory, same rule.
    let wat = wat.replace(r#"(import "env" "memory" (memory 1))"#, "(memory 1)");
    let p = program(&wat);
    let mut e = executor(&p, 3);
    let mut out = Out(vec![]);
    e.run(1 << 30, &mut out).unwrap();
    assert_eq!(out.0, vec![1, -1, 3]);
}

/// A memory that starts empty obeys the limit from its first grow on (the
/// limiter once let any grow from 0 pages through, as if it were the
/// memory's creation: a guest could take 4 GiB under a 2-page limit).
#[test]
fn memory_grow_from_zero_pages_obeys_the_limit() {
    for memory in [
        "(memory 0)",
        "(memory 0 65536)",
        r#"(import "env" "memory" (memory 0))"#,
    ] {
        let wat = format!(
            r#"(module
              (import "env" "out" (func $out (param i32)))
              {memory}
              (func (export "entry")
                (call $out (memory.grow (i32.const 65536)))
                (call $out (memory.grow (i32.const 3)))
                (call $out (memory.size))
                (call $out (memory.grow (i32.const 2)))
                (call $out (memory.grow (i32.const 1)))
                (call $out (memory.size))))"#
        );
        let p = program(&wat);
        let mut e = executor(&p, 2);
        let mut out = Out(vec![]);
        assert_eq!(e.run(1 << 40, &mut out).unwrap(), RunOutcome::Finished);
        assert_eq!(out.0, vec![-1, -1, 0, 0, -1, 2], "{memory}");
        assert_eq!(e.memory_size(), 2 * 65536, "{memory}");
    }
}

#[test]
fn read_and_write_memory_are_bounds_checked() {
    let p = program(COUNTER);
    let mut e = executor(&p, 2);
    e.write_memory(100, b"hello").unwrap();
    assert_eq!(e.read_memory(100, 5).unwrap(), b"hello");
    assert_eq!(e.read_memory(65531, 5).unwrap().len(), 5);
    assert_eq!(code(e.read_memory(65532, 5)), "ERR_OUT_OF_BOUNDS");
    assert_eq!(code(e.read_memory(u64::MAX, 2)), "ERR_OUT_OF_BOUNDS");
    assert_eq!(code(e.write_memory(65535, b"ab")), "ERR_OUT_OF_BOUNDS");
}

#[test]
fn host_errors_trap_the_executor_for_good() {
    struct Fail;
    impl Host for Fail {
        fn call(
            &mut self,
            _: usize,
            _: &[Value],
            _: &mut [Value],
            _: &mut GuestMemory<'_>,
        ) -> Result<(), HostError> {
            Err(HostError("boom".into()))
        }
    }
    let p = program(COUNTER);
    let mut e = executor(&p, 1);
    match e.run(1000, &mut Fail) {
        Err(Error::HostError(m)) => assert_eq!(m, "boom"),
        other => panic!("{other:?}"),
    }
    assert_eq!(e.status(), Status::Trapped);
    assert_eq!(code(e.run(1000, &mut NoHost)), "ERR_HOST_IMPORT");
    assert_eq!(code(e.snapshot()), "ERR_INVALID_STATE");
}

#[test]
fn finished_executors_do_not_restart() {
    let p = program(COUNTER);
    let mut e = executor(&p, 1);
    let mut out = Out(vec![]);
    assert_eq!(e.run(1 << 20, &mut out).unwrap(), RunOutcome::Finished);
    let used = e.gas_used();
    assert_eq!(e.run(1 << 20, &mut out).unwrap(), RunOutcome::Finished);
    assert_eq!(out.0.len(), 100);
    assert_eq!(e.gas_used(), used);
    // A finished state snapshots and restores as finished.
    let snap = e.snapshot().unwrap();
    let mut f = executor(&p, 1);
    f.restore(&snap).unwrap();
    assert_eq!(f.status(), Status::Finished);
    assert_eq!(f.read_memory(0, 4).unwrap(), 99u32.to_le_bytes());
}

fn paused(p: &Arc<Program>) -> (Executor, Snapshot) {
    let mut e = executor(p, 4);
    assert_eq!(e.run(200, &mut Out(vec![])).unwrap(), RunOutcome::Paused);
    let s = e.snapshot().unwrap();
    (e, s)
}

#[test]
fn snapshot_validation_leaves_the_executor_unchanged() {
    let p = program(COUNTER);
    let (_, snap) = paused(&p);
    let bytes = snap.to_bytes();

    // Another module.
    let other = program(&COUNTER.replace("100", "101"));
    let mut o = executor(&other, 4);
    assert_eq!(code(o.restore(&snap)), "ERR_SNAPSHOT_MISMATCH");
    assert_eq!(o.status(), Status::Ready);

    // Every truncation and a sample of bit flips are refused.
    for n in 0..bytes.len() {
        assert!(
            Snapshot::from_bytes(&bytes[..n]).is_err(),
            "truncation to {n}"
        );
    }
    for i in (0..bytes.len()).step_by(7) {
        for bit in [0, 3, 7] {
            let mut b = bytes.clone();
            b[i] ^= 1 << bit;
            let err = Snapshot::from_bytes(&b).unwrap_err();
            assert!(err.code().starts_with("ERR_SNAPSHOT_"), "{}", err.code());
        }
    }
    assert_eq!(
        code(Snapshot::from_bytes(b"garbage")),
        "ERR_SNAPSHOT_CORRUPT"
    );
    assert_eq!(code(Snapshot::from_json("{}")), "ERR_SNAPSHOT_CORRUPT");
    let mut json: serde_json::Value = serde_json::from_str(&snap.to_json()).unwrap();
    json["gasBalance"] = serde_json::Value::String("12345".into());
    assert_eq!(
        code(Snapshot::from_json(&json.to_string())),
        "ERR_SNAPSHOT_CORRUPT"
    );

    // A memory larger than the target's limit.
    let grower = program(
        r#"(module (memory 1)
             (func (export "entry") (local $i i32)
               (drop (memory.grow (i32.const 3)))
               (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
                 (br_if $l (i32.lt_u (local.get $i) (i32.const 1000))))))"#,
    );
    let mut g = executor(&grower, 8);
    assert_eq!(g.run(300, &mut NoHost).unwrap(), RunOutcome::Paused);
    let big = g.snapshot().unwrap();
    let mut small = executor(&grower, 2);
    small.write_memory(0, b"keep").unwrap();
    assert_eq!(code(small.restore(&big)), "ERR_SNAPSHOT_MEMORY_LIMIT");
    assert_eq!(small.status(), Status::Ready);
    assert_eq!(small.read_memory(0, 4).unwrap(), b"keep");
    let mut ok = executor(&grower, 4);
    ok.restore(&big).unwrap();
    assert_eq!(ok.memory_size(), 4 * 65536);
    while ok.run(1000, &mut NoHost).unwrap() == RunOutcome::Paused {}
}

#[test]
fn restore_into_a_running_executor_replaces_everything() {
    let p = program(COUNTER);
    let (mut a, snap) = paused(&p);
    let mut out_a = Out(vec![]);
    while a.run(50, &mut out_a).unwrap() == RunOutcome::Paused {}
    // `a` finished; rewind it to the snapshot and finish again.
    a.restore(&snap).unwrap();
    assert_eq!(a.status(), Status::Paused);
    let mut out_b = Out(vec![]);
    while a.run(50, &mut out_b).unwrap() == RunOutcome::Paused {}
    assert_eq!(out_a.0, out_b.0);
}

#[test]
fn nan_canonicalization_is_an_option() {
    let wat = r#"(module
      (import "env" "out" (func $out (param i32)))
      (func (export "entry")
        (call $out (i32.reinterpret_f32
          (f32.add (f32.reinterpret_i32 (i32.const 0x7fa00001)) (f32.const 1))))))"#;
    let wasm = wat::parse_str(wat).unwrap();
    let p = Program::load(
        &wasm,
        &ProgramOptions {
            canonicalize_nans: true,
            ..Default::default()
        },
    )
    .unwrap();
    let mut e = executor(&p, 1);
    let mut out = Out(vec![]);
    e.run(1000, &mut out).unwrap();
    assert_eq!(out.0, vec![0x7fc00000]);
    // Snapshots of one setting do not restore under the other.
    let plain = Program::load(&wasm, &ProgramOptions::default()).unwrap();
    let mut q = executor(&plain, 1);
    let snap = e.snapshot().unwrap();
    assert_eq!(code(q.restore(&snap)), "ERR_SNAPSHOT_MISMATCH");
}

#[test]
fn programs_are_cached() {
    let wasm = wat::parse_str(COUNTER).unwrap();
    let a = Program::load(&wasm, &ProgramOptions::default()).unwrap();
    let b = Program::load(&wasm, &ProgramOptions::default()).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    // The same length, one byte apart (the counter's step): another program.
    let other = wat::parse_str(COUNTER.replace("(i32.const 1)", "(i32.const 2)")).unwrap();
    assert_eq!(other.len(), wasm.len());
    assert_ne!(other, wasm);
    let o = Program::load(&other, &ProgramOptions::default()).unwrap();
    assert!(!Arc::ptr_eq(&a, &o));
    assert_ne!(a.fingerprint(), o.fingerprint());
    let costs = wasm_sandbox_core::CostTable {
        instruction: 2,
        ..Default::default()
    };
    let c = Program::load(
        &wasm,
        &ProgramOptions {
            costs,
            canonicalize_nans: false,
        },
    )
    .unwrap();
    assert!(!Arc::ptr_eq(&a, &c));
    assert_ne!(a.fingerprint(), c.fingerprint());
    // Every option is part of the cache key.
    let d = wasm_sandbox_core::DEFAULT_COSTS;
    let variants = [
        wasm_sandbox_core::CostTable {
            call: d.call + 1,
            ..d
        },
        wasm_sandbox_core::CostTable {
            host_call: d.host_call + 1,
            ..d
        },
        wasm_sandbox_core::CostTable {
            memory_grow_per_page: d.memory_grow_per_page + 1,
            ..d
        },
        wasm_sandbox_core::CostTable {
            bulk_memory_per_8_bytes: d.bulk_memory_per_8_bytes + 1,
            ..d
        },
        wasm_sandbox_core::CostTable {
            bulk_table_per_element: d.bulk_table_per_element + 1,
            ..d
        },
    ];
    let mut seen = vec![a.clone(), c.clone()];
    for (costs, canonicalize_nans) in variants.into_iter().map(|c| (c, false)).chain([(d, true)]) {
        let p = Program::load(
            &wasm,
            &ProgramOptions {
                costs: costs.clone(),
                canonicalize_nans,
            },
        )
        .unwrap();
        assert!(
            seen.iter().all(|q| !Arc::ptr_eq(q, &p)),
            "{costs:?} {canonicalize_nans}: shares a cached program"
        );
        assert!(Arc::ptr_eq(
            &p,
            &Program::load(
                &wasm,
                &ProgramOptions {
                    costs,
                    canonicalize_nans
                }
            )
            .unwrap()
        ));
        seen.push(p);
    }
    // Doubling every instruction's cost doubles the gas of a run without
    // host calls charged separately.
    let mut e1 = executor(&a, 1);
    let mut e2 = executor(&c, 1);
    e1.run(1 << 30, &mut Out(vec![])).unwrap();
    e2.run(1 << 30, &mut Out(vec![])).unwrap();
    assert!(e2.gas_used() > e1.gas_used());
}

/// A program that grows its memory, writes every page it has (clearing
/// them again in odd rounds), drops a passive segment after a while and
/// sums what it wrote.
const ROLLBACK: &str = r#"(module
  (memory 1 8)
  (data $seg "\01\02\03\04")
  (global $sum (mut i64) (i64.const 0))
  (func (export "entry") (result i64) (local $i i32) (local $round i32)
    (loop $rounds
      (if (i32.lt_u (memory.size) (i32.const 4)) (then (drop (memory.grow (i32.const 1)))))
      (if (i32.eq (local.get $round) (i32.const 3)) (then
        (memory.init $seg (i32.const 8) (i32.const 0) (i32.const 4))
        (data.drop $seg)))
      (local.set $i (i32.const 0))
      (loop $fill
        ;; odd rounds clear what even rounds wrote
        (i32.store (local.get $i)
          (select (i32.add (local.get $i) (i32.add (local.get $round) (i32.const 1)))
                  (i32.const 0)
                  (i32.eqz (i32.and (local.get $round) (i32.const 1)))))
        (global.set $sum (i64.add (global.get $sum) (i64.load32_u (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 4096)))
        (br_if $fill (i32.lt_u (local.get $i) (i32.mul (memory.size) (i32.const 65536)))))
      (local.set $round (i32.add (local.get $round) (i32.const 1)))
      (br_if $rounds (i32.lt_u (local.get $round) (i32.const 5))))
    (global.get $sum)))"#;

/// The state a finished run leaves: memory, gas.
fn finish(e: &mut Executor) -> (Vec<u8>, u64) {
    while e.run(300, &mut NoHost).unwrap() == RunOutcome::Paused {}
    (e.read_memory(0, e.memory_size()).unwrap(), e.gas_used())
}

#[test]
fn restoring_over_a_used_executor_equals_restoring_into_a_fresh_one() {
    let p = program(ROLLBACK);
    let reference = finish(&mut executor(&p, 8));
    // Snapshots at every pause; each restored (a) into a fresh executor,
    // (b) over an executor that ran further (bigger memory, segment
    // dropped: a new instance), (c) over one that ran less far (its memory
    // is reused in place, dirty), then finished: all equal the reference.
    let mut source = executor(&p, 8);
    let mut snapshots = Vec::new();
    while source.run(300, &mut NoHost).unwrap() == RunOutcome::Paused {
        snapshots.push(Snapshot::from_bytes(&source.snapshot().unwrap().to_bytes()).unwrap());
    }
    assert!(snapshots.len() > 10, "only {} pauses", snapshots.len());
    let mut ahead = executor(&p, 8);
    let mut behind = executor(&p, 8);
    for (k, s) in snapshots.iter().enumerate() {
        let mut fresh = executor(&p, 8);
        fresh.restore(s).unwrap();
        assert_eq!(finish(&mut fresh), reference, "fresh, snapshot {k}");

        // `ahead` finished the whole run: restoring rolls it back (over
        // memory with words the snapshot has as zero, in place once the
        // snapshot has all the pages and the dropped segment).
        finish(&mut ahead);
        ahead.restore(s).unwrap();
        assert_eq!(ahead.status(), Status::Paused);
        assert_eq!(finish(&mut ahead), reference, "rolled back, snapshot {k}");

        // `behind` sits at the previous snapshot: restoring moves it on.
        behind.restore(s).unwrap();
        let copy = behind.snapshot().unwrap();
        assert_eq!(
            copy.to_bytes(),
            s.to_bytes(),
            "restored state differs, snapshot {k}"
        );
    }
    assert_eq!(finish(&mut behind), reference);
}

/// A program that leaves traces everywhere an instance holds state: all of
/// its memory, a global, the table and (optionally) a passive segment drop
/// or a memory grow, a pause in a loop or a trap, chosen by the word at
/// address 8.
const TRACES: &str = r#"(module
  (memory 1 4)
  (global $g (mut i32) (i32.const 5))
  (table 2 funcref)
  (elem (i32.const 0) $a)
  (data (i32.const 100) "initial")
  (data $passive "p")
  (func $a)
  (func (export "entry")
    (memory.fill (i32.const 16) (i32.const 0xab) (i32.const 65000))
    (global.set $g (i32.const 42))
    (table.set (i32.const 1) (ref.func $a))
    (if (i32.eq (i32.load (i32.const 8)) (i32.const 1)) (then (data.drop $passive)))
    (if (i32.eq (i32.load (i32.const 8)) (i32.const 2)) (then (drop (memory.grow (i32.const 1)))))
    (if (i32.eq (i32.load (i32.const 8)) (i32.const 4)) (then unreachable))
    (loop $spin (br_if $spin (i32.eq (i32.load (i32.const 8)) (i32.const 3))))))"#;

#[test]
fn a_recycled_instance_starts_exactly_like_a_fresh_one() {
    // Unique to this test, so no other test shares its pooled instances.
    let p = program(&TRACES.replace("\"initial\"", "\"recycled\""));
    let fresh_state = executor(&p, 4).snapshot().unwrap().to_bytes();
    // Ways to leave an executor: finished, paused mid-loop, trapped.
    for leave in ["finished", "paused", "trapped"] {
        let mut a = executor(&p, 4);
        if leave == "paused" {
            a.write_memory(8, &3u32.to_le_bytes()).unwrap();
            assert_eq!(a.run(100_000, &mut NoHost).unwrap(), RunOutcome::Paused);
        } else if leave == "trapped" {
            a.write_memory(8, &4u32.to_le_bytes()).unwrap();
            assert_eq!(code(a.run(100_000, &mut NoHost)), "ERR_WASM_TRAP");
        } else {
            assert_eq!(a.run(1 << 30, &mut NoHost).unwrap(), RunOutcome::Finished);
        }
        assert_eq!(a.read_memory(16, 1).unwrap(), [0xab]);
        drop(a);
        let mut b = executor(&p, 4);
        assert!(b.is_recycled(), "{leave}: the instance was not reused");
        assert_eq!(b.status(), Status::Ready);
        assert_eq!((b.gas_used(), b.gas_balance()), (0, 0));
        assert_eq!(
            b.snapshot().unwrap().to_bytes(),
            fresh_state,
            "{leave}: the recycled instance differs from a fresh one"
        );
        assert_eq!(b.read_memory(16, 8).unwrap(), [0; 8]);
        assert_eq!(b.read_memory(100, 8).unwrap(), *b"recycled");
        // And it runs like a fresh one.
        assert_eq!(b.run(1 << 30, &mut NoHost).unwrap(), RunOutcome::Finished);
    }
}

#[test]
fn a_recycled_instance_is_reset_before_whatever_uses_it_first() {
    // A recycled instance is reset lazily, by the first call that reads or
    // runs it (a restore writes the whole state itself). Every kind of
    // first call must see the program's initial state, never the traces
    // (0xab over the memory, global 42, table slot 1) of the last executor.
    let p = program(&TRACES.replace("\"initial\"", "\"lazy\""));
    // The first instance of the program is a fresh one.
    let fresh_ready = executor(&p, 4).snapshot().unwrap().to_bytes();
    let recycled = || {
        let mut a = executor(&p, 4);
        assert_eq!(a.run(1 << 30, &mut NoHost).unwrap(), RunOutcome::Finished);
        drop(a);
        let b = executor(&p, 4);
        assert!(b.is_recycled());
        b
    };
    let fresh_finished = {
        let mut f = executor(&p, 4);
        f.write_memory(0, &[0]).unwrap();
        f.run(1 << 30, &mut NoHost).unwrap();
        f.snapshot().unwrap().to_bytes()
    };
    // First call: read_memory.
    let mut b = recycled();
    assert_eq!(b.read_memory(16, 8).unwrap(), [0; 8]);
    assert_eq!(b.read_memory(100, 4).unwrap(), *b"lazy");
    // First call: write_memory; what it wrote stays (no reset after it):
    // mode 3 makes the guest spin, so it pauses.
    let mut b = recycled();
    b.write_memory(8, &3u32.to_le_bytes()).unwrap();
    assert_eq!(b.run(100_000, &mut NoHost).unwrap(), RunOutcome::Paused);
    // First call: run.
    let mut b = recycled();
    b.write_memory(0, &[0]).unwrap();
    assert_eq!(b.run(1 << 30, &mut NoHost).unwrap(), RunOutcome::Finished);
    assert_eq!(b.snapshot().unwrap().to_bytes(), fresh_finished);
    let mut b = recycled();
    assert_eq!(b.run(1 << 30, &mut NoHost).unwrap(), RunOutcome::Finished);
    assert_eq!(b.snapshot().unwrap().to_bytes(), fresh_finished);
    // First call: a restore of a paused state, then the run goes on as in
    // the executor it came from.
    let mut a = executor(&p, 4);
    a.write_memory(8, &3u32.to_le_bytes()).unwrap();
    assert_eq!(a.run(100_000, &mut NoHost).unwrap(), RunOutcome::Paused);
    let paused = a.snapshot().unwrap();
    drop(a);
    let mut b = recycled();
    b.restore(&paused).unwrap();
    assert_eq!(b.snapshot().unwrap().to_bytes(), paused.to_bytes());
    b.write_memory(8, &0u32.to_le_bytes()).unwrap();
    assert_eq!(b.run(1 << 30, &mut NoHost).unwrap(), RunOutcome::Finished);
    // First call: a restore that fails leaves the initial state.
    let other = program(&TRACES.replace("\"initial\"", "\"other\""));
    let foreign = executor(&other, 4).snapshot().unwrap();
    let mut b = recycled();
    assert_eq!(code(b.restore(&foreign)), "ERR_SNAPSHOT_MISMATCH");
    assert_eq!(b.read_memory(16, 8).unwrap(), [0; 8]);
    assert_eq!(b.read_memory(100, 4).unwrap(), *b"lazy");
    // First call: snapshot.
    assert_eq!(recycled().snapshot().unwrap().to_bytes(), fresh_ready);
}

#[test]
fn instances_that_cannot_be_reset_are_not_recycled() {
    let p = program(&TRACES.replace("\"initial\"", "\"not kept\""));
    let fresh_state = executor(&p, 4).snapshot().unwrap().to_bytes();
    // A dropped passive segment cannot be undropped; a grown memory cannot
    // shrink.
    for mode in [1u32, 2] {
        // Take every pooled instance of the program (kept alive meanwhile).
        let mut drained = Vec::new();
        let mut a = executor(&p, 4);
        while a.is_recycled() {
            drained.push(a);
            a = executor(&p, 4);
        }
        a.write_memory(8, &mode.to_le_bytes()).unwrap();
        assert_eq!(a.run(1 << 30, &mut NoHost).unwrap(), RunOutcome::Finished);
        drop(a);
        let mut b = executor(&p, 4);
        assert!(
            !b.is_recycled(),
            "mode {mode}: reused an instance it cannot reset"
        );
        assert_eq!(b.snapshot().unwrap().to_bytes(), fresh_state);
        drop(drained);
    }
    // Another memory limit or entry gets its own instances.
    drop(executor(&p, 4));
    assert!(!executor(&p, 3).is_recycled());
}

#[test]
fn a_restore_over_a_recycled_instance_clears_whatever_changed_its_memory() {
    // A restore over a recycled instance checks, where the snapshot has
    // zeros, only the pages its last snapshot, restore or reset saw
    // nonzero. Whatever changes the memory after that (a run, a
    // write_memory) must make it check everything again.
    let p = program(&TRACES.replace("\"initial\"", "\"dirtied\""));
    let initial = executor(&p, 4).snapshot().unwrap();
    let initial_memory = {
        let mut e = executor(&p, 4);
        e.read_memory(0, 65536).unwrap()
    };
    assert_eq!(&initial_memory[100..107], b"dirtied");
    let ways = [
        "write after restore",
        "run after restore",
        "run, then snapshot",
        "pause, then snapshot",
        "restore, then reset",
    ];
    for way in ways {
        let mut a = executor(&p, 4);
        a.restore(&initial).unwrap();
        match way {
            "write after restore" => a.write_memory(40_000, &[1, 2, 3]).unwrap(),
            "run after restore" => {
                assert_eq!(a.run(1 << 30, &mut NoHost).unwrap(), RunOutcome::Finished)
            }
            "run, then snapshot" => {
                assert_eq!(a.run(1 << 30, &mut NoHost).unwrap(), RunOutcome::Finished);
                a.snapshot().unwrap();
            }
            "pause, then snapshot" => {
                a.write_memory(8, &3u32.to_le_bytes()).unwrap();
                assert_eq!(a.run(100_000, &mut NoHost).unwrap(), RunOutcome::Paused);
                a.snapshot().unwrap();
            }
            _ => {}
        }
        let changed = way != "restore, then reset";
        assert_eq!(
            a.read_memory(0, 65536).unwrap() != initial_memory,
            changed,
            "{way}"
        );
        drop(a);
        let mut b = executor(&p, 4);
        assert!(b.is_recycled(), "{way}: the instance was not reused");
        if way == "restore, then reset" {
            // The lazy reset (first read) over the restored memory.
            assert_eq!(b.read_memory(0, 65536).unwrap(), initial_memory, "{way}");
            continue;
        }
        b.restore(&initial).unwrap();
        assert_eq!(b.read_memory(0, 65536).unwrap(), initial_memory, "{way}");
        assert_eq!(
            b.snapshot().unwrap().to_bytes(),
            initial.to_bytes(),
            "{way}"
        );
        // And the other way: a restore of a paused state over an instance
        // that held the initial one.
        if way == "pause, then snapshot" {
            let mut c = executor(&p, 4);
            c.write_memory(8, &3u32.to_le_bytes()).unwrap();
            assert_eq!(c.run(100_000, &mut NoHost).unwrap(), RunOutcome::Paused);
            let paused = c.snapshot().unwrap();
            b.restore(&paused).unwrap();
            assert_eq!(
                b.read_memory(0, 65536).unwrap(),
                c.read_memory(0, 65536).unwrap()
            );
            assert_eq!(b.snapshot().unwrap().to_bytes(), paused.to_bytes());
        }
    }
}

#[test]
fn unwind_frames_of_a_previous_guest_never_reach_a_snapshot() {
    // `$wide` pauses with i64 locals of all ones in its frame; `$narrow`
    // pauses with i32 and f32 locals in a frame at the same place of the
    // unwind memory. Each 8-byte slot is written in full, so the snapshot of
    // `$narrow`'s pause is the same whether the instance held `$wide`'s
    // frame before (recycled) or not (fresh).
    let p = program(
        r#"(module (memory 1)
          (func $wide (local i64 i64 i64)
            (local.set 0 (i64.const -1)) (local.set 1 (i64.const -1)) (local.set 2 (i64.const -1))
            (loop $l (br $l)))
          (func $narrow (local i32 f32 i32)
            (local.set 0 (i32.const 1)) (local.set 1 (f32.const 2)) (local.set 2 (i32.const 3))
            (loop $l (br $l)))
          (func (export "entry")
            (if (i32.load (i32.const 0)) (then (call $wide)) (else (call $narrow)))))"#,
    );
    let pause = |pages: u64, wide: bool| {
        let mut e = executor(&p, pages);
        e.write_memory(0, &(wide as u32).to_le_bytes()).unwrap();
        assert_eq!(e.run(50, &mut NoHost).unwrap(), RunOutcome::Paused);
        e
    };
    // 3 pages: never used before, so a fresh instance.
    let fresh = pause(3, false);
    assert!(!fresh.is_recycled());
    let mut fresh = fresh;
    let expected = fresh.snapshot().unwrap().to_bytes();
    drop(pause(2, true));
    let mut recycled = pause(2, false);
    assert!(recycled.is_recycled());
    assert_eq!(recycled.snapshot().unwrap().to_bytes(), expected);
}

/// Imports of every shape the runtime builds a call path for: up to 4
/// parameters and 1 result, all `i32` or mixed, and the general path (5
/// parameters, 2 results); the host reads and writes the guest memory.
const SIGNATURES: &str = r#"(module
  (import "env" "none" (func $none))
  (import "env" "inc" (func $inc (param i32) (result i32)))
  (import "env" "sum4" (func $sum4 (param i32 i32 i32 i32) (result i32)))
  (import "env" "mix" (func $mix (param i64 f32 f64 i32) (result f64)))
  (import "env" "neg" (func $neg (param f32) (result f32)))
  (import "env" "big" (func $big (result i64)))
  (import "env" "sum5" (func $sum5 (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "pair" (func $pair (param i32) (result i32 i64)))
  (import "env" "poke" (func $poke (param i32 i32)))
  (import "env" "peek" (func $peek (param i32) (result i32)))
  (memory 1)
  (func (export "entry") (local $a i32) (local $b i64)
    (call $none)
    (i32.store (i32.const 0) (call $inc (i32.const 41)))
    (i32.store (i32.const 4)
      (call $sum4 (i32.const 1) (i32.const 2) (i32.const 3) (i32.const 4)))
    (f64.store (i32.const 8)
      (call $mix (i64.const 1000000000000) (f32.const 0.5) (f64.const 0.25) (i32.const -3)))
    (f32.store (i32.const 16) (call $neg (f32.const 1.5)))
    (i64.store (i32.const 24) (call $big))
    (i32.store (i32.const 32)
      (call $sum5 (i32.const 1) (i32.const 2) (i32.const 3) (i32.const 4) (i32.const 5)))
    (call $pair (i32.const 7))
    (local.set $b)
    (local.set $a)
    (i32.store (i32.const 40) (local.get $a))
    (i64.store (i32.const 48) (local.get $b))
    (call $poke (i32.const 100) (i32.const 0xab))
    (i32.store (i32.const 56) (call $peek (i32.const 100)))))"#;

struct Echo(Vec<(usize, Vec<Value>)>);
impl Host for Echo {
    fn call(
        &mut self,
        index: usize,
        a: &[Value],
        r: &mut [Value],
        memory: &mut GuestMemory<'_>,
    ) -> Result<(), HostError> {
        self.0.push((index, a.to_vec()));
        let i32s = || {
            a.iter().map(|v| match v {
                Value::I32(x) => *x,
                _ => panic!("not i32"),
            })
        };
        match index {
            0 => {}
            1 | 2 | 6 => r[0] = Value::I32(i32s().sum()),
            3 => {
                let (Value::I64(x), Value::F32(y), Value::F64(z), Value::I32(w)) =
                    (a[0], a[1], a[2], a[3])
                else {
                    panic!("{a:?}")
                };
                r[0] = Value::F64(
                    (x as f64 + f32::from_bits(y) as f64 + f64::from_bits(z) + w as f64).to_bits(),
                );
            }
            4 => {
                let Value::F32(x) = a[0] else { panic!() };
                r[0] = Value::F32((-f32::from_bits(x)).to_bits());
            }
            5 => r[0] = Value::I64((1 << 40) + 5),
            7 => {
                let Value::I32(x) = a[0] else { panic!() };
                r[0] = Value::I32(x * 2);
                r[1] = Value::I64(x as i64 * 3);
            }
            8 => {
                let (Value::I32(at), Value::I32(v)) = (a[0], a[1]) else {
                    panic!()
                };
                memory.bytes()[at as usize] = v as u8;
            }
            9 => {
                let Value::I32(at) = a[0] else { panic!() };
                let at = at as usize;
                let word = memory.bytes()[at..at + 4].try_into().unwrap();
                r[0] = Value::I32(i32::from_le_bytes(word) + 1);
            }
            _ => panic!("import #{index}"),
        }
        Ok(())
    }
}

#[test]
fn imports_of_every_signature_shape_pass_values_and_memory() {
    let p = program(SIGNATURES);
    let mut e = executor(&p, 1);
    let mut host = Echo(vec![]);
    assert_eq!(e.run(1 << 20, &mut host).unwrap(), RunOutcome::Finished);
    let order: Vec<usize> = host.0.iter().map(|(i, _)| *i).collect();
    assert_eq!(order, (0..10).collect::<Vec<_>>());
    assert_eq!(
        host.0[3].1,
        [
            Value::I64(1_000_000_000_000),
            Value::F32(0.5f32.to_bits()),
            Value::F64(0.25f64.to_bits()),
            Value::I32(-3)
        ]
    );
    assert_eq!(host.0[6].1, (1..=5).map(Value::I32).collect::<Vec<_>>());
    let m = e.read_memory(0, 64).unwrap();
    let word = |at: usize| i32::from_le_bytes(m[at..at + 4].try_into().unwrap());
    let long = |at: usize| i64::from_le_bytes(m[at..at + 8].try_into().unwrap());
    assert_eq!(word(0), 41);
    assert_eq!(word(4), 10);
    assert_eq!(f64::from_bits(long(8) as u64), 999_999_999_997.75);
    assert_eq!(f32::from_bits(word(16) as u32), -1.5);
    assert_eq!(long(24), (1 << 40) + 5);
    assert_eq!(word(32), 15);
    assert_eq!((word(40), long(48)), (14, 21));
    // poke wrote 0xab at 100; peek read it back (plus one).
    assert_eq!(word(56), 0xac);
}

#[test]
fn an_import_result_of_the_wrong_type_is_a_host_error() {
    /// Answers every result with an `f64`, which none of these expects.
    struct Wrong;
    impl Host for Wrong {
        fn call(
            &mut self,
            _: usize,
            _: &[Value],
            r: &mut [Value],
            _: &mut GuestMemory<'_>,
        ) -> Result<(), HostError> {
            r.fill(Value::F64(0));
            Ok(())
        }
    }
    // All-i32, mixed, and the general path (2 results).
    for (sig, call, expected) in [
        (
            "(param i32) (result i32)",
            "(drop (call $f (i32.const 1)))",
            "i32",
        ),
        (
            "(param f32) (result i64)",
            "(drop (call $f (f32.const 1)))",
            "i64",
        ),
        (
            "(param i32) (result f32 i32)",
            "(call $f (i32.const 1)) (drop) (drop)",
            "f32",
        ),
    ] {
        let p = program(&format!(
            r#"(module (import "env" "f" (func $f {sig}))
                 (func (export "entry") {call}))"#
        ));
        let mut e = executor(&p, 1);
        match e.run(1 << 20, &mut Wrong) {
            Err(Error::HostError(m)) => assert_eq!(
                m,
                format!("import env.f returned f64 for result 0, expected {expected}"),
                "{sig}"
            ),
            other => panic!("{sig}: {other:?}"),
        }
        assert_eq!(e.status(), Status::Trapped);
    }
}

/// Writes its memory every way the guest and its host can, each right after
/// a point where it may pause: after a call that paused inside, at the
/// entry of a callee, after a loop header, bulk operations, an import that
/// writes through [`GuestMemory`]. Every iteration writes 4 KiB pages that
/// were zero.
const WRITES: &str = r#"(module
  (import "env" "poke" (func $poke (param i32)))
  (memory 2)
  (data $seg "segment!")
  (func $burn (param $n i32)
    (loop $l
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n))))
  (func $store_at_entry (param $p i32)
    (i32.store (local.get $p) (i32.const 0x11111111)))
  (func (export "entry") (local $i i32) (local $p i32)
    (loop $l
      (local.set $p (i32.mul (i32.add (local.get $i) (i32.const 1)) (i32.const 4096)))
      (call $burn (i32.const 20))
      (i32.store8 (local.get $p) (i32.const 7))
      (call $store_at_entry (i32.add (local.get $p) (i32.const 8)))
      (call $burn (i32.const 3))
      (memory.fill (i32.add (local.get $p) (i32.const 16)) (i32.const 9) (i32.const 8))
      (memory.copy (i32.add (local.get $p) (i32.const 32)) (local.get $p) (i32.const 4))
      (memory.init $seg (i32.add (local.get $p) (i32.const 48)) (i32.const 0) (i32.const 8))
      (call $poke (i32.add (local.get $p) (i32.const 64)))
      (loop $again
        (i64.store offset=72 (local.get $p) (i64.const -1))
        (br_if $again (i32.eqz (i32.load8_u offset=79 (local.get $p)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 20))))))"#;

/// Writes 0x5a at the address it is given.
struct Poke;
impl Host for Poke {
    fn call(
        &mut self,
        _: usize,
        a: &[Value],
        _: &mut [Value],
        memory: &mut GuestMemory<'_>,
    ) -> Result<(), HostError> {
        let Value::I32(at) = a[0] else {
            return Err(HostError("poke takes an i32".into()));
        };
        memory.bytes()[at as usize] = 0x5a;
        Ok(())
    }
}

#[test]
fn a_snapshot_after_a_run_holds_every_write_of_the_run() {
    // A snapshot reads only the pages it knows may be nonzero when nothing
    // wrote the memory since the last snapshot or restore; the guest's
    // flag and the host's must cover every write. Moving the state to a
    // new executor at every pause loses any write they miss (each
    // iteration writes pages that were zero, never written again).
    let p = program(WRITES);
    let mut whole = executor(&p, 2);
    assert_eq!(whole.run(1 << 40, &mut Poke).unwrap(), RunOutcome::Finished);
    let expected = whole.read_memory(0, 2 << 16).unwrap();
    assert_eq!(
        expected[20 * 4096..][..81],
        {
            let mut v = vec![0u8; 81];
            v[0] = 7;
            v[8..12].copy_from_slice(&[0x11; 4]);
            v[16..24].fill(9);
            v[32..36].copy_from_slice(&[7, 0, 0, 0]);
            v[48..56].copy_from_slice(b"segment!");
            v[64] = 0x5a;
            v[72..80].fill(0xff);
            v
        }[..]
    );
    for slice in [1, 2, 3, 5, 8, 13, 40, 100] {
        let mut e = executor(&p, 2);
        let mut moves = 0;
        while e.run(slice, &mut Poke).unwrap() == RunOutcome::Paused {
            let snapshot = e.snapshot().unwrap();
            let mut next = executor(&p, 2);
            next.restore(&Snapshot::from_bytes(&snapshot.to_bytes()).unwrap())
                .unwrap();
            assert_eq!(
                next.read_memory(0, 2 << 16).unwrap(),
                e.read_memory(0, 2 << 16).unwrap(),
                "slices of {slice}, move {moves}"
            );
            e = next;
            moves += 1;
        }
        assert!(moves > 20, "slices of {slice}: only {moves} pauses");
        assert_eq!(
            e.read_memory(0, 2 << 16).unwrap(),
            expected,
            "slices of {slice}"
        );
    }
}

#[test]
fn reference_typed_block_results_around_calls_pause_and_restore() {
    // A funcref block result computed after a call inside it: accepted
    // (nothing reference-typed is live at the call), and the same at every
    // pause, restored into a fresh executor each time.
    let p = program(
        r#"(module
          (memory 1)
          (elem declare func $g)
          (func $g (i32.store (i32.const 4) (i32.add (i32.load (i32.const 4)) (i32.const 1))))
          (func (export "entry") (local $i i32)
            (loop $l
              (i32.store (i32.const 0)
                (i32.add (i32.load (i32.const 0))
                  (ref.is_null
                    (block (result funcref)
                      (call $g)
                      (if (result funcref) (i32.and (local.get $i) (i32.const 1))
                        (then (ref.null func)) (else (ref.func $g)))))))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))))"#,
    );
    let expected = [5, 0, 0, 0, 10, 0, 0, 0];
    let mut whole = executor(&p, 1);
    assert_eq!(
        whole.run(u64::MAX, &mut NoHost).unwrap(),
        RunOutcome::Finished
    );
    assert_eq!(whole.read_memory(0, 8).unwrap(), expected);
    let mut e = executor(&p, 1);
    let mut pauses = 0;
    while e.run(1, &mut NoHost).unwrap() == RunOutcome::Paused {
        let bytes = e.snapshot().unwrap().to_bytes();
        e = executor(&p, 1);
        e.restore(&Snapshot::from_bytes(&bytes).unwrap()).unwrap();
        pauses += 1;
    }
    assert!(pauses > 20, "only {pauses} pauses");
    assert_eq!(e.read_memory(0, 8).unwrap(), expected);
    assert_eq!(e.gas_used(), whole.gas_used());
}
