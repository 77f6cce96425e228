//! Differential smoke run over wasm-smith modules (see
//! `common/differential.rs` for the oracle): the original in plain wasmtime
//! vs the instrumented module with unlimited gas vs the executor in random
//! gas slices with snapshot/restore into fresh executors at every pause.
//!
//! Two campaigns: the features compilers use without reference types, and
//! with them (40 times the cases, since about 1 % of those modules is
//! accepted and exports a function).
//!
//! Seeded: `FUZZ_SEED` (default fixed) and `FUZZ_CASES` (default 500);
//! `FUZZ_FIRST=i` starts at case `i` (to rerun a failing case alone:
//! `FUZZ_FIRST=i FUZZ_CASES=1` with its run's `FUZZ_SEED`; the reference
//! campaign then runs cases `i..i + 40`).
//! Longer runs: `cargo fuzz run differential` in `crates/core/fuzz`.

mod common;
#[path = "common/differential.rs"]
mod differential;

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::Rng;
use differential::{
    check_module, check_module_with, smith_module, smith_module_with_references, Plain, Stats,
};

fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.write_all(b"\n");
    let _ = o.flush();
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn differential_wasm_smith() {
    campaign(&Campaign {
        label: "differential",
        cases: env_u64("FUZZ_CASES", 500),
        seed: env_u64("FUZZ_SEED", 0x5eed_2026),
        generate: smith_module,
        min_conclusive_per_mille: 700,
    });
}

/// The same with reference types on (the instrumenter accepts them because
/// compilers encode `call_indirect` with them; a module that holds a
/// reference where it could pause is refused, and counted as refused).
#[test]
fn differential_wasm_smith_reference_types() {
    campaign(&Campaign {
        label: "differential (reference types)",
        // About 1 % of these modules has an exported function and is
        // accepted; generating and refusing the rest is cheap.
        cases: env_u64("FUZZ_CASES", 500) * 40,
        seed: env_u64("FUZZ_SEED", 0x5eed_2026) ^ 0x7ef5,
        generate: smith_module_with_references,
        min_conclusive_per_mille: 5,
    });
}

struct Campaign {
    label: &'static str,
    cases: u64,
    seed: u64,
    generate: fn(&[u8]) -> Option<Vec<u8>>,
    /// Share of the cases that must be conclusive, per mille.
    min_conclusive_per_mille: u64,
}

fn campaign(c: &Campaign) {
    let (cases, seed, generate) = (c.cases, c.seed, c.generate);
    let first = env_u64("FUZZ_FIRST", 0);
    let next = Arc::new(AtomicU64::new(first));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let totals = Arc::new(Mutex::new(Stats::default()));
    let started = std::time::Instant::now();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (next, failures, totals) = (next.clone(), failures.clone(), totals.clone());
            std::thread::Builder::new()
                .stack_size(64 << 20)
                .spawn(move || {
                    let plain = Plain::new();
                    let mut stats = Stats::default();
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= first + cases {
                            break;
                        }
                        let case_seed = seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                        let mut rng = Rng::new(case_seed);
                        let len = rng.range(64, 6000) as usize;
                        let data = rng.bytes(len);
                        let Some(wasm) = generate(&data) else {
                            stats.not_generated += 1;
                            continue;
                        };
                        if let Err(e) = check_module(&plain, &wasm, rng.next_u64(), &mut stats) {
                            let path = std::env::temp_dir()
                                .join(format!("ws-differential-{case_seed:016x}.wasm"));
                            let _ = std::fs::write(&path, &wasm);
                            failures.lock().unwrap().push(format!(
                                "case {i} (seed {case_seed:#x}, module saved to {}): {e}",
                                path.display()
                            ));
                        }
                    }
                    let mut t = totals.lock().unwrap();
                    t.checked += stats.checked;
                    t.inconclusive += stats.inconclusive;
                    t.not_generated += stats.not_generated;
                    t.refused += stats.refused;
                    t.calls += stats.calls;
                    t.traps += stats.traps;
                    t.pauses += stats.pauses;
                    t.twice += stats.twice;
                })
                .unwrap()
        })
        .collect();
    for w in workers {
        w.join().expect("differential worker panicked");
    }
    let t = totals.lock().unwrap();
    let failures = failures.lock().unwrap();
    out(&format!(
        "{}: {cases} cases in {:.1}s: {} checked, {} inconclusive (call depth), {} refused, {} not generated, {} export calls, {} runs ending in a trap, {} pauses, {} double restores",
        c.label,
        started.elapsed().as_secs_f64(),
        t.checked, t.inconclusive, t.refused, t.not_generated, t.calls, t.traps, t.pauses, t.twice
    ));
    // One example per kind of failure (first line, digits dropped), then
    // the first 30 in full.
    let mut kinds = std::collections::BTreeMap::new();
    for f in failures.iter() {
        let msg = f.split_once("): ").map(|x| x.1).unwrap_or(f);
        let key: String = msg
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .take(120)
            .collect();
        kinds.entry(key).or_insert((0, f.clone())).0 += 1;
    }
    for (key, (n, example)) in &kinds {
        out(&format!("FAILURE KIND ({n}x): {key}\n  e.g. {example}"));
    }
    for f in failures.iter().take(30) {
        out(&format!("FAIL: {f}"));
    }
    out(&format!("{} passed, {} failed", t.checked, failures.len()));
    assert!(
        failures.is_empty(),
        "{} modules differ (see FAIL lines)",
        failures.len()
    );
    assert!(
        t.checked * 1000 >= cases * c.min_conclusive_per_mille,
        "only {} of {cases} cases were conclusive",
        t.checked
    );
}

/// Control: with a balance of 5 in the standalone instrumented module (it
/// unwinds instead of computing) the oracle must flag modules.
#[test]
fn differential_control_small_gas_is_detected() {
    let plain = Plain::new();
    let mut stats = Stats::default();
    let (mut flagged, mut generated) = (0, 0);
    for i in 0..60u64 {
        let mut rng = Rng::new(0xc0de ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let len = rng.range(64, 6000) as usize;
        let Some(wasm) = smith_module(&rng.bytes(len)) else {
            continue;
        };
        generated += 1;
        if check_module_with(&plain, &wasm, rng.next_u64(), &mut stats, 5).is_err() {
            flagged += 1;
        }
    }
    out(&format!(
        "control: {flagged} of {generated} modules flagged with gas 5"
    ));
    assert!(
        flagged >= 5,
        "the oracle flagged only {flagged} of {generated} modules"
    );
}
