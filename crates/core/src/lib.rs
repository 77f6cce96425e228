//! wasm-sandbox core: run untrusted WebAssembly with deterministic gas
//! metering, pause/resume at any point, and snapshots of the whole running
//! state.
//!
//! * [`instrument`] rewrites a module (walrus passes) so it charges gas
//!   inline and can unwind its whole stack into a private memory and rewind
//!   it later.
//! * [`Program`] + [`Executor`] run instrumented modules in wasmtime with a
//!   memory limit and host imports.
//! * [`Snapshot`] is the versioned, checksummed state format.
//! * [`wasi`] serves WASI preview1 imports deterministically (gas-derived
//!   clocks, seeded randomness, stdio in memory), so C programs built for
//!   `wasm32-wasi` run, pause and snapshot like any other guest.
#![deny(clippy::all)]

pub mod error;
pub mod instrument;
pub mod runtime;
pub mod snapshot;
pub mod value;
pub mod wasi;

pub use error::{Error, ErrorClass, Result, TrapKind, OUT_OF_ADDRESS_SPACE};
pub use instrument::{instrument, CostTable, InstrumentConfig, Instrumented, DEFAULT_COSTS};

pub use instrument::FuncImport;
pub use runtime::{
    Executor, ExecutorConfig, GuestMemory, Host, HostError, NoHost, Program, ProgramOptions,
    RunOutcome, Status,
};
pub use snapshot::Snapshot;
pub use value::{Value, ValueType};
pub use wasi::{ClockMode, WasiConfig, WasiState};
