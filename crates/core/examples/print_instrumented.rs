fn main() {
    let wasm = std::fs::read(std::env::args().nth(1).unwrap()).unwrap();
    let out = wasm_sandbox_core::instrument(&wasm, &Default::default()).unwrap();
    println!("{}", wasmprinter::print_bytes(&out.wasm).unwrap());
}
