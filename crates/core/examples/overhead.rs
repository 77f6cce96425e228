//! Overhead of metering and pausing: the same module run uninstrumented by
//! wasmtime and through an `Executor`.
//!
//! - `cargo run --release --example overhead -- FILE.wasm` prints median
//!   wall times: uninstrumented, then unlimited gas, 1,000,000- and
//!   10,000-gas slices, and 10,000-gas slices with a move to a new
//!   executor (snapshot bytes) at every pause.
//! - `cargo run --release --example overhead -- FILE.wasm plain|inst|inst1m|inst10k|mig10k N`
//!   runs one variant (inst1m, inst10k: in 1,000,000- and 10,000-gas slices; mig10k: the same
//!   with snapshot -> new executor -> restore at every pause) N times, for
//!   instruction counts under valgrind (stable on a loaded machine):
//!   Ir(N=2) - Ir(N=1) is one run, free of compile time.
//!   `OVERHEAD_VERBOSE=1` also prints the pauses and gas of each run.
//!
//! The module must export `entry` or (a WASI command) `_start`, without
//! params, and may import functions (stubbed to return zeros, WASI's too:
//! libc's counts are of its work with those answers) and a memory.

use std::time::Instant;

use wasm_sandbox_core::{
    Executor, ExecutorConfig, GuestMemory, Host, HostError, Program, ProgramOptions, RunOutcome,
    Snapshot, Value,
};
use wasmtime::{Engine, Extern, Func, Instance, Memory, Module, Store, Val};

struct Stub;
impl Host for Stub {
    fn call(
        &mut self,
        _: usize,
        _: &[Value],
        _: &mut [Value],
        _: &mut GuestMemory<'_>,
    ) -> Result<(), HostError> {
        Ok(())
    }
}

/// The uninstrumented baseline: the original module on the engine the
/// executors use, without metering.
struct Plain {
    module: Module,
}

impl Plain {
    fn new(engine: &Engine, wasm: &[u8]) -> Plain {
        Plain {
            module: Module::new(engine, wasm).unwrap(),
        }
    }

    /// Instantiates and runs `entry`; returns the time of the call alone.
    fn run(&self) -> f64 {
        let mut store = Store::new(self.module.engine(), ());
        let imports: Vec<Extern> = self
            .module
            .imports()
            .map(|i| match i.ty() {
                // (i32) -> i32, the benchmarks' import: typed, as an
                // embedder calling wasmtime directly would write it.
                wasmtime::ExternType::Func(ft)
                    if ft.params().len() == 1
                        && ft.results().len() == 1
                        && ft.params().all(|t| t.is_i32())
                        && ft.results().all(|t| t.is_i32()) =>
                {
                    Func::wrap(&mut store, |x: i32| x ^ 0x55).into()
                }
                wasmtime::ExternType::Func(ft) => Func::new(&mut store, ft, |_, _, r| {
                    for x in r.iter_mut() {
                        *x = Val::I32(0);
                    }
                    Ok(())
                })
                .into(),
                wasmtime::ExternType::Memory(mt) => Memory::new(&mut store, mt).unwrap().into(),
                other => panic!("unsupported import {other:?}"),
            })
            .collect();
        let inst = Instance::new(&mut store, &self.module, &imports).unwrap();
        let f = inst
            .get_func(&mut store, "entry")
            .or_else(|| inst.get_func(&mut store, "_start"))
            .unwrap();
        let mut results = vec![Val::I32(0); f.ty(&store).results().len()];
        let t = Instant::now();
        f.call(&mut store, &[], &mut results).unwrap();
        t.elapsed().as_secs_f64()
    }
}

/// Runs the program to the end in slices of `slice` gas; returns the time
/// of the runs alone.
/// With `migrate`, every pause moves the state through snapshot bytes into
/// a new executor, as the benchmarks' migration figure does.
fn run_executor(program: &std::sync::Arc<Program>, slice: u64, migrate: bool) -> f64 {
    let executor = || {
        Executor::new(
            program.clone(),
            ExecutorConfig {
                memory_limit_pages: 1024,
                entry: None,
            },
        )
        .unwrap()
    };
    let mut e = executor();
    let t = Instant::now();
    let mut pauses = 0u64;
    while e.run(slice, &mut Stub).unwrap() == RunOutcome::Paused {
        pauses += 1;
        if migrate {
            let bytes = e.snapshot().unwrap().to_bytes();
            e = executor();
            e.restore(&Snapshot::from_bytes(&bytes).unwrap()).unwrap();
        }
    }
    let elapsed = t.elapsed().as_secs_f64();
    if std::env::var_os("OVERHEAD_VERBOSE").is_some() {
        eprintln!("slice {slice}: {pauses} pauses, {} gas", e.gas_used());
    }
    elapsed
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let wasm = std::fs::read(
        args.get(1)
            .expect("usage: overhead FILE.wasm [plain|inst|inst10k|mig10k N]"),
    )
    .unwrap();
    let program = Program::load(&wasm, &ProgramOptions::default()).unwrap();
    let plain = Plain::new(program.engine(), &wasm);
    if let (Some(mode), Some(n)) = (args.get(2), args.get(3)) {
        let n: usize = n.parse().unwrap();
        for _ in 0..n {
            match mode.as_str() {
                "plain" => plain.run(),
                "inst" => run_executor(&program, u64::MAX >> 2, false),
                "inst1m" => run_executor(&program, 1_000_000, false),
                "inst10k" => run_executor(&program, 10_000, false),
                "mig10k" => run_executor(&program, 10_000, true),
                other => panic!("unknown mode {other}"),
            };
        }
        return;
    }
    let reps = 7;
    let plain_t = median((0..reps).map(|_| plain.run()).collect());
    let time = |slice: u64, migrate: bool| {
        median(
            (0..reps)
                .map(|_| run_executor(&program, slice, migrate))
                .collect(),
        )
    };
    let unlimited = time(u64::MAX >> 2, false);
    let m1 = time(1_000_000, false);
    let k10 = time(10_000, false);
    let moved = time(10_000, true);
    println!("plain      {:8.2} ms", plain_t * 1e3);
    println!(
        "unlimited  {:8.2} ms  {:.2}x",
        unlimited * 1e3,
        unlimited / plain_t
    );
    println!("1M slices  {:8.2} ms  {:.2}x", m1 * 1e3, m1 / plain_t);
    println!("10k slices {:8.2} ms  {:.2}x", k10 * 1e3, k10 / plain_t);
    println!("10k + move {:8.2} ms  {:.2}x", moved * 1e3, moved / plain_t);
    println!(
        "code: original {} bytes, instrumented {} bytes",
        wasm.len(),
        program.instrumented_wasm().len()
    );
}
