//! A Rust module without WASI for the JS import tests
//! (`__test__/imports.test.js`): imports from `env` with every value type,
//! one from another import module, strings and records passed through the
//! guest's memory, and an exported `entry`. Built by `build.sh` (rustc,
//! wasm32-unknown-unknown).

use std::fmt::Write as _;

#[link(wasm_import_module = "env")]
extern "C" {
    /// Mixes its arguments on the JS side; the result steers the loop.
    fn mix(tag: i32, a: i64, b: f64, c: f32) -> i64;
    /// Prints `len` bytes at `ptr` (the host reads the guest's memory).
    fn print(ptr: *const u8, len: usize);
    /// Fills `out` with a 16-byte record chosen by `n`.
    fn record(n: u32, out: *mut u8);
}

#[link(wasm_import_module = "game")]
extern "C" {
    /// Another import module: a position that moves by `(dx, dy)`.
    #[link_name = "move"]
    fn move_by(dx: f32, dy: f32) -> f64;
}

fn say(text: &str) {
    unsafe { print(text.as_ptr(), text.len()) }
}

#[no_mangle]
pub extern "C" fn entry() {
    let mut acc: i64 = 0x1234_5678_9abc_def0;
    let mut floats = 0.0f64;
    let mut buf = [0u8; 16];
    let mut words = Vec::new();
    for i in 0..3_000i64 {
        let r = unsafe { mix((i % 7) as i32 - 3, acc ^ (i << 40), i as f64 / 3.0, (i as f32).sqrt()) };
        acc = acc.wrapping_mul(31).wrapping_add(r);
        if r % 5 == 0 {
            floats += unsafe { move_by((i % 3) as f32 - 1.0, 0.5) };
        }
        if i % 300 == 0 {
            unsafe { record(i as u32, buf.as_mut_ptr()) };
            let n = u64::from_le_bytes(buf[..8].try_into().unwrap());
            let word = std::str::from_utf8(&buf[8..]).unwrap_or("?").trim_end_matches('\0').to_string();
            let mut line = String::new();
            write!(line, "i={i} acc={acc:#018x} record={n} {word:?}").unwrap();
            say(&line);
            words.push(word);
        }
    }
    words.sort();
    say(&format!("done acc={acc} floats={floats:.3} words={}", words.join(",")));
}
