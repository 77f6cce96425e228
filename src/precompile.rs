//! `Executor.precompile`: instrumenting and compiling a module on a thread
//! of libuv's pool, so that the `new Executor` after it finds the program
//! in the process's cache instead of compiling on the JS thread.

use std::panic::{catch_unwind, AssertUnwindSafe};

use napi::bindgen_prelude::*;

use wasm_sandbox_core as core;

use crate::error::{core_error, panic_error};

/// The work of one `precompile` call.
pub struct Precompile {
    /// The module (copied: JS may change its buffer meanwhile) and the
    /// options that key the cache; `None` when the arguments were refused.
    input: Option<(Vec<u8>, core::ProgramOptions)>,
    /// Why the arguments were refused (a JS error made on the JS thread;
    /// only touched there, in `reject`).
    refused: Option<Error>,
    /// Why compiling failed, turned into a JS error in `reject`.
    failed: Option<Failure>,
}

enum Failure {
    Core(core::Error),
    Panic(Box<dyn std::any::Any + Send>),
}

impl Precompile {
    pub fn new(wasm: Vec<u8>, options: core::ProgramOptions) -> Self {
        Precompile {
            input: Some((wasm, options)),
            refused: None,
            failed: None,
        }
    }

    /// A task that only rejects its promise with `error`.
    pub fn refused(error: Error) -> Self {
        Precompile {
            input: None,
            refused: Some(error),
            failed: None,
        }
    }
}

impl Task for Precompile {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> Result<()> {
        let Some((wasm, options)) = self.input.take() else {
            return Err(Error::from_reason("refused"));
        };
        let loaded = catch_unwind(AssertUnwindSafe(|| core::Program::load(&wasm, &options)));
        self.failed = match loaded {
            // The cache keeps the program (see `Program::load`).
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => Some(Failure::Core(e)),
            Err(payload) => Some(Failure::Panic(payload)),
        };
        Err(Error::from_reason("failed"))
    }

    fn resolve(&mut self, _: Env, _: ()) -> Result<()> {
        Ok(())
    }

    fn reject(&mut self, env: Env, error: Error) -> Result<()> {
        if let Some(refused) = self.refused.take() {
            return Err(refused);
        }
        Err(match self.failed.take() {
            Some(Failure::Core(e)) => core_error(&env, &e),
            Some(Failure::Panic(payload)) => panic_error(&env, &*payload),
            None => error,
        })
    }
}
