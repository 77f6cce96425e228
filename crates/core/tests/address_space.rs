//! Running out of address space (each executor reserves ~8 GiB of it, see
//! docs/engine.md "Limits"): creating executors until the OS refuses gives a
//! clear `ERR_MEMORY_LIMIT`, never a panic or an internal error, and dropping
//! executors makes room again, also when the dropped ones went to the pool of
//! reset instances (which a refused reservation empties). Alone in its own
//! test binary (process), since it fills the address space for a moment.

use wasm_sandbox_core::{
    Error, Executor, ExecutorConfig, NoHost, Program, ProgramOptions, RunOutcome,
};

#[test]
fn exhausting_the_address_space_is_a_clear_error_and_recoverable() {
    let wasm = wat::parse_str(
        r#"(module (memory 1) (func (export "entry") (local $i i32)
             (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
               (i32.store (i32.const 0) (local.get $i)) (br $l))))"#,
    )
    .unwrap();
    let p = Program::load(&wasm, &ProgramOptions::default()).unwrap();
    // Another program, whose dropped executors the pool keeps.
    let other = wat::parse_str(r#"(module (memory 1) (func (export "entry")))"#).unwrap();
    let other = Program::load(&other, &ProgramOptions::default()).unwrap();
    let config = || ExecutorConfig {
        memory_limit_pages: 16,
        entry: None,
    };
    let new = || Executor::new(p.clone(), config());
    let pooled: Vec<_> = (0..16)
        .map(|_| Executor::new(other.clone(), config()).unwrap())
        .collect();
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
    assert!(matches!(error, Error::AddressSpace(_)), "{error:?}");
    let message = error.to_string();
    for part in [
        "out of address space: the OS refused to reserve address space for a memory",
        "each executor reserves about 8 GiB of it (not RAM)",
        "so drop executors you no longer need",
        "(mmap failed to reserve ",
    ] {
        assert!(message.contains(part), "{part:?} not in {message:?}");
    }
    assert!(live.len() > 1000);
    // Dropped, these go to the pool, reservations and all; the next refusal
    // empties it and tries again.
    drop(pooled);
    let mut made = 0;
    while let Ok(mut e) = new() {
        assert_eq!(e.run(100, &mut NoHost).unwrap(), RunOutcome::Paused);
        live.push(e);
        made += 1;
        assert!(made < 1000, "no limit reached again");
    }
    println!("{made} more after the pool's 16 were dropped");
    // The pooled instances reserved as much as these do.
    assert!((14..=18).contains(&made), "{made}");
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
