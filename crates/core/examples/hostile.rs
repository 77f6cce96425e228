use wasm_sandbox_core::{instrument, InstrumentConfig};
fn main() {
    let mut cases: Vec<(&str, String)> = Vec::new();
    let n = 10_000;
    let mut s = String::from("(module (func (export \"entry\")");
    for _ in 0..n {
        s.push_str("(block ");
    }
    s.push_str("(nop)");
    for _ in 0..n {
        s.push(')');
    }
    s.push_str("))");
    cases.push(("10k nested blocks", s));
    let mut s = String::from("(module (func $f) (func (export \"entry\")");
    for _ in 0..n {
        s.push_str("(block (call $f) ");
    }
    for _ in 0..n {
        s.push(')');
    }
    s.push_str("))");
    cases.push(("10k nested blocks with calls", s));
    let mut s = String::from("(module (func $f) (func (export \"entry\") (local");
    for _ in 0..100_000 {
        s.push_str(" i64");
    }
    s.push_str(") (call $f) (local.set 99999 (i64.const 1))))");
    cases.push(("100k locals", s));
    let mut s = String::from("(module ");
    for i in 0..50_000 {
        s.push_str(&format!("(func $f{i} (call $f{})) ", (i + 1) % 50_000));
    }
    s.push(')');
    cases.push(("50k functions", s));
    let mut s = String::from("(module (func $g (param i32) (result i32) (local.get 0)) (func (export \"entry\") (local i32)");
    for _ in 0..400_000 {
        s.push_str("(local.set 0 (call $g (i32.add (local.get 0) (i32.const 1))))");
    }
    s.push_str("))");
    cases.push(("5MB function", s));
    for (name, wat) in cases {
        let wasm = wat::parse_str(&wat).unwrap();
        let t = std::time::Instant::now();
        let r = instrument(&wasm, &InstrumentConfig::default());
        println!(
            "{name}: {} bytes in, {:?} in {:.2}s",
            wasm.len(),
            r.as_ref().map(|o| o.wasm.len()).map_err(|e| e.to_string()),
            t.elapsed().as_secs_f64()
        );
    }
}
