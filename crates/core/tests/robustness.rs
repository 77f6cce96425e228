//! Seeded smoke runs of the cargo-fuzz targets' properties (longer runs:
//! `cargo fuzz run instrument|snapshot_reader` in `crates/core/fuzz`):
//! * `instrument` never panics (its panics surface as `Error::Internal`) on
//!   wasm-smith modules of arbitrary configuration — most use features we
//!   refuse — and on corrupted modules; whatever it accepts validates;
//! * `Snapshot::from_bytes`/`from_json` never panic on corrupted snapshots;
//!   whatever they accept round-trips and can be restored and run.
//!
//! `FUZZ_CASES` scales both (default 300); `FUZZ_SEED` changes their
//! seeds (default fixed; a failing case's module is saved under the temp
//! directory, named by its case).

mod common;

use arbitrary::{Arbitrary, Unstructured};
use common::Rng;
use wasm_sandbox_core::{
    instrument, Error, Executor, ExecutorConfig, InstrumentConfig, NoHost, Program, ProgramOptions,
    RunOutcome, Snapshot,
};
use wasmparser::Validator;

fn cases() -> u64 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// `base` mixed with `FUZZ_SEED` when it is set.
fn seed(base: u64) -> u64 {
    std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(base, |s| base ^ s.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// `Err` describes a property violation.
fn check_instrument(wasm: &[u8]) -> Result<bool, String> {
    match instrument(wasm, &InstrumentConfig::default()) {
        Ok(out) => Validator::new_with_features(wasm_sandbox_core::instrument::output_features())
            .validate_all(&out.wasm)
            .map(|_| true)
            .map_err(|e| format!("instrumented module does not validate: {e}")),
        Err(Error::Internal(m)) => Err(format!("internal error: {m}")),
        Err(_) => Ok(false),
    }
}

#[test]
fn instrument_never_panics() {
    let mut rng = Rng::new(seed(0x1257_2026));
    let mut failures = Vec::new();
    let (mut accepted, mut refused) = (0, 0);
    for i in 0..cases() {
        let n = rng.range(16, 8000) as usize;
        let data = rng.bytes(n);
        let mut u = Unstructured::new(&data);
        let Ok(config) = wasm_smith::Config::arbitrary(&mut u) else {
            continue;
        };
        let Ok(m) = wasm_smith::Module::new(config, &mut u) else {
            continue;
        };
        let wasm = m.to_bytes();
        let mut variants = vec![wasm.clone()];
        // Corrupted copies: flipped bytes, truncation.
        let mut flipped = wasm.clone();
        for _ in 0..rng.range(1, 4) {
            let at = rng.range(0, flipped.len() as u64 - 1) as usize;
            flipped[at] ^= 1 << rng.range(0, 7);
        }
        variants.push(flipped);
        variants.push(wasm[..rng.range(0, wasm.len() as u64) as usize].to_vec());
        for (k, v) in variants.iter().enumerate() {
            match check_instrument(v) {
                Ok(true) => accepted += 1,
                Ok(false) => refused += 1,
                Err(e) => {
                    let path = std::env::temp_dir().join(format!("ws-instrument-{i}-{k}.wasm"));
                    let _ = std::fs::write(&path, v);
                    failures.push(format!("case {i}/{k} ({}): {e}", path.display()));
                }
            }
        }
    }
    println!("instrument: {accepted} accepted, {refused} refused");
    for f in failures.iter().take(20) {
        println!("FAIL: {f}");
    }
    assert!(
        failures.is_empty(),
        "{} failures: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(accepted > 0 && refused > 0);
}

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
      (i32.store (i32.mul (global.get $g) (i32.const 1024)) (call $f (i32.const 12)))
      (br_if $l (i32.lt_u (global.get $g) (i32.const 20))))))"#;

#[test]
fn snapshot_reader_never_panics() {
    let wasm = wat::parse_str(GUEST).unwrap();
    let program = Program::load(&wasm, &ProgramOptions::default()).unwrap();
    let new = || {
        Executor::new(
            program.clone(),
            ExecutorConfig {
                memory_limit_pages: 4,
                entry: None,
            },
        )
        .unwrap()
    };
    // Real snapshots at a few pauses.
    let mut ex = new();
    let mut snaps = Vec::new();
    while ex.run(700, &mut NoHost).unwrap() == RunOutcome::Paused {
        snaps.push(ex.snapshot().unwrap());
    }
    assert!(snaps.len() > 3);
    let mut rng = Rng::new(seed(0x5a9_2026));
    let (mut accepted, mut rejected) = (0, 0);
    let mut changed: Vec<String> = Vec::new();
    for _ in 0..cases() * 4 {
        let s = &snaps[rng.range(0, snaps.len() as u64 - 1) as usize];
        let json = rng.chance(4);
        let mut bytes = if json {
            s.to_json().into_bytes()
        } else {
            s.to_bytes()
        };
        match rng.range(0, 3) {
            0 => {
                for _ in 0..rng.range(1, 8) {
                    let at = rng.range(0, bytes.len() as u64 - 1) as usize;
                    bytes[at] ^= 1 << rng.range(0, 7);
                }
            }
            1 => bytes.truncate(rng.range(0, bytes.len() as u64) as usize),
            2 => {
                let at = rng.range(0, bytes.len() as u64) as usize;
                let n = rng.range(1, 64) as usize;
                let junk = rng.bytes(n);
                bytes.splice(at..at, junk);
            }
            _ => {
                let at = rng.range(0, bytes.len() as u64 - 1) as usize;
                bytes[at] = rng.next_u64() as u8;
            }
        }
        let parsed = if json {
            std::str::from_utf8(&bytes)
                .map_err(|e| e.to_string())
                .and_then(|t| Snapshot::from_json(t).map_err(|e| e.to_string()))
        } else {
            Snapshot::from_bytes(&bytes).map_err(|e| e.to_string())
        };
        match parsed {
            Err(_) => rejected += 1,
            Ok(snap) => {
                accepted += 1;
                if snap.to_bytes() != s.to_bytes() {
                    changed.push(format!(
                        "{} snapshot with a mutation accepted with different content",
                        if json { "JSON" } else { "binary" }
                    ));
                }
                let again =
                    Snapshot::from_bytes(&snap.to_bytes()).expect("accepted snapshot re-reads");
                assert_eq!(again.to_bytes(), snap.to_bytes());
                let mut e = new();
                if e.restore(&snap).is_ok() {
                    for _ in 0..4 {
                        if e.run(1000, &mut NoHost).is_err() {
                            break;
                        }
                    }
                }
            }
        }
    }
    println!(
        "snapshot reader: {accepted} mutated snapshots accepted ({} with changed content), {rejected} rejected",
        changed.len()
    );
    for c in changed.iter().take(5) {
        println!("FAIL: {c}");
    }
    assert!(rejected > 0);
    // The checksum must catch every change of content.
    assert!(
        changed.is_empty(),
        "{} corrupted snapshots accepted",
        changed.len()
    );
}
