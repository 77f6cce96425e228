//! `instrument` never panics, on arbitrary bytes and on wasm-smith modules
//! (with an arbitrary configuration, so refused features are exercised
//! too); whatever it accepts validates.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use wasm_sandbox_core::{instrument, Error, InstrumentConfig};
use wasmparser::Validator;


fn check(wasm: &[u8]) {
    match instrument(wasm, &InstrumentConfig::default()) {
        Ok(out) => {
            if let Err(e) = Validator::new_with_features(wasm_sandbox_core::instrument::output_features()).validate_all(&out.wasm) {
                panic!("instrumented module does not validate: {e}");
            }
        }
        // The instrumenter turns its own panics into Internal errors.
        Err(Error::Internal(m)) => panic!("internal error: {m}"),
        Err(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut u = Unstructured::new(data);
    if let Ok(config) = wasm_smith::Config::arbitrary(&mut u) {
        if let Ok(m) = wasm_smith::Module::new(config, &mut u) {
            check(&m.to_bytes());
        }
    }
});
