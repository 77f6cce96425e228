//! Writes the compiled code of a module, uninstrumented and instrumented,
//! as ELF files for `objdump -d`. `cargo run --release --example dump -- FILE.wasm OUTDIR`
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let wasm = std::fs::read(&args[1]).unwrap();
    let out = std::path::Path::new(&args[2]);
    let mut config = wasmtime::Config::new();
    config.wasm_features(wasmtime::WasmFeatures::GC_TYPES, false);
    let engine = wasmtime::Engine::new(&config).unwrap();
    std::fs::write(
        out.join("plain.cwasm"),
        engine.precompile_module(&wasm).unwrap(),
    )
    .unwrap();
    let inst = wasm_sandbox_core::instrument(&wasm, &Default::default()).unwrap();
    std::fs::write(
        out.join("inst.cwasm"),
        engine.precompile_module(&inst.wasm).unwrap(),
    )
    .unwrap();
}
