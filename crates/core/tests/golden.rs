//! Golden tests: the instrumented output of the fixtures in `tests/golden/`
//! is pinned, because snapshots of format version N must keep resuming with
//! later builds (the instrumentation is part of the snapshot contract).
//! A deliberate change bumps the snapshot version and re-blesses:
//! `BLESS=1 cargo test --release -p wasm-sandbox-core --test golden`.

use std::path::Path;

use wasm_sandbox_core::{instrument, InstrumentConfig};

#[test]
fn instrumented_output_is_pinned() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let bless = std::env::var_os("BLESS").is_some();
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".wat") || name.ends_with(".expected.wat") {
            continue;
        }
        let wasm = wat::parse_file(&path).unwrap();
        let out = instrument(&wasm, &InstrumentConfig::default()).unwrap();
        let printed = wasmprinter::print_bytes(&out.wasm).unwrap();
        let expected_path = path.with_extension("expected.wat");
        if bless {
            std::fs::write(&expected_path, &printed).unwrap();
        } else {
            let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
                panic!("missing {}; run with BLESS=1", expected_path.display())
            });
            assert!(
                expected == printed,
                "instrumented output of {name} changed; if intended, bump the snapshot \
                 version and re-bless (BLESS=1)"
            );
        }
        // Instrumenting twice gives identical bytes (determinism).
        let again = instrument(&wasm, &InstrumentConfig::default()).unwrap();
        assert_eq!(
            again.wasm, out.wasm,
            "{name}: instrumentation is not deterministic"
        );
        checked += 1;
    }
    assert_eq!(checked, 6);
}
