//! Snapshots are untrusted input: the readers never panic, whatever they
//! accept round-trips, and restoring it into an executor and running can at
//! worst make the guest trap.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use wasm_sandbox_core::{
    Executor, ExecutorConfig, NoHost, Program, ProgramOptions, Snapshot,
};

const GUEST: &str = r#"(module
  (memory 1 4)
  (global $g (mut i32) (i32.const 0))
  (func $f (param i32) (result i32)
    (if (result i32) (i32.lt_s (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $f (i32.sub (local.get 0) (i32.const 1)))
                     (call $f (i32.sub (local.get 0) (i32.const 2)))))))
  (func (export "entry")
    (loop $l
      (global.set $g (i32.add (global.get $g) (i32.const 1)))
      (i32.store (i32.const 16) (call $f (i32.const 12)))
      (br_if $l (i32.lt_u (global.get $g) (i32.const 20))))))"#;

fn program() -> &'static Arc<Program> {
    static P: OnceLock<Arc<Program>> = OnceLock::new();
    P.get_or_init(|| {
        let wasm = wat::parse_str(GUEST).expect("guest parses");
        Program::load(&wasm, &ProgramOptions::default()).expect("guest loads")
    })
}

fn exercise(snap: Snapshot) {
    let bytes = snap.to_bytes();
    let back = Snapshot::from_bytes(&bytes).expect("an accepted snapshot re-reads");
    assert_eq!(back.to_bytes(), bytes, "snapshot bytes do not round-trip");
    let mut ex = Executor::new(
        program().clone(),
        ExecutorConfig { memory_limit_pages: 4, entry: None },
    )
    .expect("executor");
    if ex.restore(&snap).is_ok() {
        for _ in 0..4 {
            if ex.run(1000, &mut NoHost).is_err() {
                break;
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = Snapshot::from_bytes(data) {
        exercise(s);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(s) = Snapshot::from_json(text) {
            exercise(s);
        }
    }
});
