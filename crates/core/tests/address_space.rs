//! Running out of address space (each executor reserves ~8 GiB of it, see
//! docs/engine.md "Limits"): creating executors until the OS refuses gives a
//! clear `ERR_MEMORY_LIMIT`, never a panic or an internal error, and dropping
//! executors makes room again. Alone in its own test binary (process), since
//! it fills the address space for a moment.

use wasm_sandbox_core::{Executor, ExecutorConfig, NoHost, Program, ProgramOptions, RunOutcome};

#[test]
fn exhausting_the_address_space_is_a_clear_error_and_recoverable() {
    let wasm = wat::parse_str(
        r#"(module (memory 1) (func (export "entry") (local $i i32)
             (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (i32.store (i32.const 0) (local.get $i)) (br $l))))"#,
    )
    .unwrap();
    let p = Program::load(&wasm, &ProgramOptions::default()).unwrap();
    let new = || {
        Executor::new(
            p.clone(),
            ExecutorConfig {
                memory_limit_pages: 16,
                entry: None,
            },
        )
    };
    let mut live = Vec::new();
    let error = loop {
        match new() {
            Ok(mut e) => {
                assert_eq!(e.run(100, &mut NoHost).unwrap(), RunOutcome::Paused);
                live.push(e);
                // 128 TiB / 8 GiB is 16,384; stop long after that if the
                // platform reserves less per executor.
                assert!(live.len() < 1_000_000, "no limit reached");
            }
            Err(e) => break e,
        }
    };
    println!(
        "{} live executors, then: {} {error}",
        live.len(),
        error.code()
    );
    assert_eq!(error.code(), "ERR_MEMORY_LIMIT", "{error}");
    assert!(live.len() > 1000);
    // The live ones are unharmed.
    for e in live.iter_mut().step_by(97) {
        assert_eq!(e.run(1000, &mut NoHost).unwrap(), RunOutcome::Paused);
    }
    live.truncate(live.len() - 100);
    for _ in 0..100 {
        let mut e = new().expect("room again after dropping executors");
        assert_eq!(e.run(100, &mut NoHost).unwrap(), RunOutcome::Paused);
        live.push(e);
    }
}
