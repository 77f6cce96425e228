//! Figures for hostile programs (the assertions are in tests/hostile.rs):
//! instrumenter time and output size for modules of extreme shape, and the
//! largest overshoot one `run` call can be driven to by a chain of returns
//! without pause points in between.
//!
//! `cargo run --release -p wasm-sandbox-core --example hostile [-- DEPTH TAIL]`
use std::time::Instant;

use wasm_sandbox_core::{
    instrument, Executor, ExecutorConfig, InstrumentConfig, NoHost, Program, ProgramOptions,
    RunOutcome,
};

fn instrumenter_cases() {
    let mut cases: Vec<(&str, String)> = Vec::new();
    let n = 10_000;
    let nest = |open: &str, inner: &str, close: &str| {
        format!(
            "(module (func $f) (func (export \"entry\") {}{inner}{}))",
            open.repeat(n),
            close.repeat(n)
        )
    };
    cases.push(("10k nested blocks", nest("(block ", "(nop)", ")")));
    cases.push((
        "10k nested blocks with calls",
        nest("(block (call $f) ", "", ")"),
    ));
    cases.push((
        "10k nested loops with calls",
        nest("(loop (call $f) ", "", ")"),
    ));
    let mut s = String::from("(module (func $f) (func (export \"entry\") (local");
    s.push_str(&" i64".repeat(50_000));
    s.push_str(") (call $f) (local.set 49999 (i64.const 1))))");
    cases.push(("50k locals", s));
    let mut s = String::from("(module (func (export \"entry\") (local");
    s.push_str(&" i64".repeat(100_000));
    s.push_str(")))");
    cases.push(("100k locals", s));
    let mut s = String::from("(module ");
    for i in 0..50_000 {
        s.push_str(&format!("(func $f{i} (call $f{})) ", (i + 1) % 50_000));
    }
    s.push(')');
    cases.push(("50k functions", s));
    for (name, groups) in [("3.6 MB function", 400_000), ("5 MB function", 560_000)] {
        let mut s = String::from(
            "(module (func $g (param i32) (result i32) (local.get 0)) (func (export \"entry\") (local i32)",
        );
        s.push_str(&"(local.set 0 (call $g (i32.add (local.get 0) (i32.const 1))))".repeat(groups));
        s.push_str("))");
        cases.push((name, s));
    }
    for (name, wat) in cases {
        let wasm = wat::parse_str(&wat).unwrap();
        let t = Instant::now();
        let r = instrument(&wasm, &InstrumentConfig::default());
        let instrumented = t.elapsed().as_secs_f64();
        let compiled = match &r {
            Ok(_) => {
                let t = Instant::now();
                Program::load(&wasm, &ProgramOptions::default())
                    .map(|_| format!(", compiled in {:.2}s", t.elapsed().as_secs_f64()))
                    .unwrap_or_else(|e| format!(", compile error {}", e.code()))
            }
            Err(_) => String::new(),
        };
        println!(
            "{name}: {} bytes in, {} in {instrumented:.2}s{compiled}",
            wasm.len(),
            match &r {
                Ok(o) => format!("{} bytes out", o.wasm.len()),
                Err(e) => format!("refused ({}: {e})", e.code()),
            }
        );
    }
}

/// `rec(n)` recurses to depth `depth`, and every frame runs a loop-free
/// tail of `tail` instructions after its call returns. The innermost frame
/// spins until a little gas is left, so every tail runs after the last pause
/// point passed with a non-negative balance.
fn return_chain(depth: u32, tail: usize) {
    // A dependent chain (5 instructions a step) the compiler cannot fold.
    let body =
        "(local.set $x (i32.xor (i32.mul (local.get $x) (i32.const 0x9e3779b1)) (local.get $n)))"
            .repeat(tail / 7);
    let wat = format!(
        r#"(module (global $g (mut i32) (i32.const 0))
          (func $rec (param $n i32) (local $x i32)
            (if (i32.eqz (local.get $n))
              (then (return)))
            (call $rec (i32.sub (local.get $n) (i32.const 1)))
            (block {body})
            (global.set $g (local.get $x)))
          (func (export "entry") (loop $l (call $rec (i32.const {depth})) (br $l))))"#
    );
    let wasm = wat::parse_str(&wat).unwrap();
    let p = Program::load(&wasm, &ProgramOptions::default()).unwrap();
    // Find the budget that runs the descent plus the bottom and pauses at
    // the next entry check after the tails: the cost of one descent.
    let mut worst = (0u64, 0u64, 0f64);
    for budget in [
        depth as u64 * 8,
        depth as u64 * 10,
        depth as u64 * 12,
        depth as u64 * 16,
    ] {
        let mut e = Executor::new(
            p.clone(),
            ExecutorConfig {
                memory_limit_pages: 1,
                entry: None,
            },
        )
        .unwrap();
        let t = Instant::now();
        let r = e.run(budget, &mut NoHost);
        let secs = t.elapsed().as_secs_f64();
        if let Ok(RunOutcome::Paused) = r {
            let over = e.gas_used() - budget;
            if over > worst.1 {
                worst = (budget, over, secs);
            }
        }
    }
    println!(
        "return chain, depth {depth}, tails of {tail} instructions: run({}) overshot by {} gas \
         ({:.0}x the budget) in {:.3}s",
        worst.0,
        worst.1,
        worst.1 as f64 / worst.0.max(1) as f64,
        worst.2
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() == 2 {
        return_chain(args[0].parse().unwrap(), args[1].parse().unwrap());
        return;
    }
    instrumenter_cases();
    for (depth, tail) in [(8, 800), (1000, 4000), (4000, 40_000)] {
        return_chain(depth, tail);
    }
}
