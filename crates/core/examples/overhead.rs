//! Quick overhead check: the same module run uninstrumented by wasmtime and
//! through an `Executor` (unlimited gas, then 1,000,000- and 10,000-gas
//! slices). `cargo run --release --example overhead -- file.wasm`
//!
//! The module must export `entry` (no params) and may import functions
//! from `env` (stubbed to return zeros) and a memory.

use std::time::Instant;

use wasm_sandbox_core::{
    Executor, ExecutorConfig, Host, HostError, Program, ProgramOptions, RunOutcome, Value,
};
use wasmtime::{Config, Engine, Extern, Func, Instance, Memory, Module, Store, Val};

struct Stub;
impl Host for Stub {
    fn call(
        &mut self,
        _: usize,
        _: &[Value],
        _: &mut [Value],
        _: &mut [u8],
    ) -> Result<(), HostError> {
        Ok(())
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: overhead FILE.wasm");
    let wasm = std::fs::read(&path).unwrap();
    let reps = 7;

    let mut config = Config::new();
    config.wasm_features(wasmtime::WasmFeatures::all(), false);
    config.wasm_features(
        wasmtime::WasmFeatures::MUTABLE_GLOBAL
            | wasmtime::WasmFeatures::SATURATING_FLOAT_TO_INT
            | wasmtime::WasmFeatures::SIGN_EXTENSION
            | wasmtime::WasmFeatures::MULTI_VALUE
            | wasmtime::WasmFeatures::BULK_MEMORY
            | wasmtime::WasmFeatures::FLOATS,
        true,
    );
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(&engine, &wasm).unwrap();
    let plain = median(
        (0..reps)
            .map(|_| {
                let mut store = Store::new(&engine, ());
                let imports: Vec<Extern> = module
                    .imports()
                    .map(|i| match i.ty() {
                        wasmtime::ExternType::Func(ft) => Func::new(&mut store, ft, |_, _, r| {
                            for x in r.iter_mut() {
                                *x = Val::I32(0);
                            }
                            Ok(())
                        })
                        .into(),
                        wasmtime::ExternType::Memory(mt) => {
                            Memory::new(&mut store, mt).unwrap().into()
                        }
                        other => panic!("unsupported import {other:?}"),
                    })
                    .collect();
                let inst = Instance::new(&mut store, &module, &imports).unwrap();
                let f = inst.get_typed_func::<(), ()>(&mut store, "entry").unwrap();
                let t = Instant::now();
                f.call(&mut store, ()).unwrap();
                t.elapsed().as_secs_f64()
            })
            .collect(),
    );

    let program = Program::load(&wasm, &ProgramOptions::default()).unwrap();
    let run = |slice: u64| {
        median(
            (0..reps)
                .map(|_| {
                    let mut e = Executor::new(
                        program.clone(),
                        ExecutorConfig {
                            memory_limit_pages: 1024,
                            entry: None,
                        },
                    )
                    .unwrap();
                    let t = Instant::now();
                    while e.run(slice, &mut Stub).unwrap() == RunOutcome::Paused {}
                    t.elapsed().as_secs_f64()
                })
                .collect(),
        )
    };
    let unlimited = run(u64::MAX >> 2);
    let m1 = run(1_000_000);
    let k10 = run(10_000);
    println!("plain      {:8.2} ms", plain * 1e3);
    println!(
        "unlimited  {:8.2} ms  {:.2}x",
        unlimited * 1e3,
        unlimited / plain
    );
    println!("1M slices  {:8.2} ms  {:.2}x", m1 * 1e3, m1 / plain);
    println!("10k slices {:8.2} ms  {:.2}x", k10 * 1e3, k10 / plain);
    println!(
        "code: original {} bytes, instrumented {} bytes",
        wasm.len(),
        program.instrumented_wasm().len()
    );
}
