//! Runs a module's `entry` N times, uninstrumented (`plain`) or through an
//! Executor with unlimited gas (`inst`), for instruction counting under
//! valgrind: Ir(N=2) - Ir(N=1) is the cost of one run, free of compile time.
//! `cargo run --release --example count -- FILE.wasm plain|inst N`
use wasm_sandbox_core::{
    Executor, ExecutorConfig, Host, HostError, Program, ProgramOptions, Value,
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let wasm = std::fs::read(&args[1]).unwrap();
    let n: usize = args[3].parse().unwrap();
    if args[2] == "plain" {
        let mut config = Config::new();
        config.wasm_features(wasmtime::WasmFeatures::all(), false);
        config.wasm_features(
            wasmtime::WasmFeatures::MUTABLE_GLOBAL
                | wasmtime::WasmFeatures::SATURATING_FLOAT_TO_INT
                | wasmtime::WasmFeatures::SIGN_EXTENSION
                | wasmtime::WasmFeatures::MULTI_VALUE
                | wasmtime::WasmFeatures::BULK_MEMORY
                | wasmtime::WasmFeatures::REFERENCE_TYPES
                | wasmtime::WasmFeatures::FLOATS,
            true,
        );
        let engine = Engine::new(&config).unwrap();
        let module = Module::new(&engine, &wasm).unwrap();
        for _ in 0..n {
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
                    wasmtime::ExternType::Memory(mt) => Memory::new(&mut store, mt).unwrap().into(),
                    other => panic!("unsupported import {other:?}"),
                })
                .collect();
            let inst = Instance::new(&mut store, &module, &imports).unwrap();
            inst.get_typed_func::<(), ()>(&mut store, "entry")
                .unwrap()
                .call(&mut store, ())
                .unwrap();
        }
    } else {
        let program = Program::load(&wasm, &ProgramOptions::default()).unwrap();
        for _ in 0..n {
            let mut e = Executor::new(
                program.clone(),
                ExecutorConfig {
                    memory_limit_pages: 1024,
                    entry: None,
                },
            )
            .unwrap();
            e.run(u64::MAX >> 2, &mut Stub).unwrap();
        }
    }
}
