//! Crafted snapshots: a real snapshot of a paused guest, edited where the
//! fuzzer says (bytes set, ranges spliced in or cut out) and re-sealed with
//! a valid checksum, as an attacker would (a CRC is not a signature).
//! Whatever comes out: restoring either fails with `ERR_SNAPSHOT_*` and the
//! executor is unchanged, or succeeds and every later `run(1000)` spends at
//! most 1000 gas plus a small overshoot and ends in a pause, the end or a
//! trap — never an internal error, a panic or a hang (libFuzzer -timeout).
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use wasm_sandbox_core::{
    Error, Executor, ExecutorConfig, NoHost, Program, ProgramOptions, RunOutcome, Snapshot,
};

/// Loops forever (so a crafted balance would show as gas spent), with a
/// recursion under every iteration (unwind frames several deep), memory,
/// a mutable global and a dropped segment.
const GUEST: &str = r#"(module
  (memory 1 4)
  (global $g (mut i32) (i32.const 0))
  (data $d "hello")
  (func $f (param i32) (result i32)
    (if (result i32) (i32.lt_s (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $f (i32.sub (local.get 0) (i32.const 1)))
                     (call $f (i32.sub (local.get 0) (i32.const 2)))))))
  (func (export "entry")
    (memory.init $d (i32.const 200) (i32.const 0) (i32.const 5))
    (data.drop $d)
    (loop $l
      (global.set $g (i32.add (global.get $g) (i32.const 1)))
      (i32.store (i32.and (i32.mul (global.get $g) (i32.const 4)) (i32.const 0xfffc))
        (call $f (i32.const 10)))
      (br $l))))"#;

/// fib(10)'s return chain is 10 frames of ~20 instructions; 5,000 is far
/// above any honest overshoot of this guest.
const SLACK: u64 = 5000;

fn program() -> &'static Arc<Program> {
    static P: OnceLock<Arc<Program>> = OnceLock::new();
    P.get_or_init(|| {
        let wasm = wat::parse_str(GUEST).expect("guest parses");
        Program::load(&wasm, &ProgramOptions::default()).expect("guest loads")
    })
}

fn executor() -> Executor {
    Executor::new(
        program().clone(),
        ExecutorConfig {
            memory_limit_pages: 4,
            entry: None,
        },
    )
    .expect("executor")
}

/// Snapshots of the guest paused at a few points.
fn bases() -> &'static Vec<Vec<u8>> {
    static B: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    B.get_or_init(|| {
        [1u64, 37, 500, 2345, 10_000]
            .iter()
            .map(|gas| {
                let mut e = executor();
                assert_eq!(e.run(*gas, &mut NoHost).unwrap(), RunOutcome::Paused);
                e.snapshot().unwrap().to_bytes()
            })
            .collect()
    })
}

fn reseal(b: &mut Vec<u8>) {
    if b.len() < 24 {
        return;
    }
    let n = b.len() - 4;
    let payload = (n - 20) as u64;
    b[12..20].copy_from_slice(&payload.to_le_bytes());
    let crc = crc32(&b[..n]);
    b[n..].copy_from_slice(&crc.to_le_bytes());
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &byte in data {
        c ^= byte as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, mut rest)) = data.split_first() else {
        return;
    };
    let base = &bases()[pick as usize % bases().len()];
    let mut b = base.clone();
    // Edits: [op, offset lo, offset hi, len, bytes...]
    while rest.len() >= 4 && !b.is_empty() {
        let (op, at, len) = (
            rest[0] % 3,
            u16::from_le_bytes([rest[1], rest[2]]) as usize % b.len(),
            rest[3] as usize % 16,
        );
        rest = &rest[4..];
        let bytes: Vec<u8> = rest.iter().take(len).copied().collect();
        rest = &rest[bytes.len()..];
        match op {
            0 => {
                for (k, v) in bytes.iter().enumerate() {
                    if at + k < b.len() {
                        b[at + k] = *v;
                    }
                }
            }
            1 => {
                b.splice(at..at, bytes);
            }
            _ => {
                let end = (at + len).min(b.len());
                b.drain(at..end);
            }
        }
    }
    reseal(&mut b);
    let Ok(snap) = Snapshot::from_bytes(&b) else {
        return;
    };
    let mut target = executor();
    target.run(777, &mut NoHost).unwrap();
    let before = target.snapshot().unwrap().to_bytes();
    match target.restore(&snap) {
        Err(e) => {
            assert!(e.code().starts_with("ERR_SNAPSHOT_"), "restore: {e}");
            assert_eq!(target.snapshot().unwrap().to_bytes(), before, "half applied");
        }
        Ok(()) => {
            for _ in 0..8 {
                let used = target.gas_used();
                match target.run(1000, &mut NoHost) {
                    Ok(RunOutcome::Paused) => {}
                    Ok(RunOutcome::Finished) | Err(Error::Trap { .. }) => break,
                    Err(e) => panic!("run after a crafted restore: {} {e}", e.code()),
                }
                let spent = target.gas_used().saturating_sub(used);
                assert!(spent <= 1000 + SLACK, "run(1000) spent {spent} gas");
            }
        }
    }
});
