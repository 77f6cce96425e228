//! The differential oracle of `tests/differential.rs` on fuzzer-chosen
//! wasm-smith modules: original vs instrumented (unlimited gas) vs the
//! executor in random slices with snapshot/restore at every pause.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "../../tests/common/differential.rs"]
mod differential;

fn plain() -> &'static differential::Plain {
    static P: OnceLock<differential::Plain> = OnceLock::new();
    P.get_or_init(differential::Plain::new)
}

fuzz_target!(|data: &[u8]| {
    let Some(wasm) = differential::smith_module(data) else {
        return;
    };
    let seed = common::hash_bytes(data);
    let mut stats = differential::Stats::default();
    if let Err(e) = differential::check_module(plain(), &wasm, seed, &mut stats) {
        panic!("differential mismatch: {e}");
    }
});
