//! Errors of the core engine, each with a stable code that the Node binding
//! passes on as `error.code`.

use std::fmt;

/// What kind of problem a [`Error`] reports; the binding maps it to a JS
/// error class (`TypeError`, `RangeError` or `Error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The caller passed a value of the wrong kind (bad module, bad import).
    Type,
    /// A value is out of its allowed range (limits, offsets).
    Range,
    /// Anything else (traps, snapshot mismatches, state errors).
    Generic,
}

/// How a guest trap happened; `as_str` is the `kind` shown to users.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrapKind {
    Unreachable,
    MemoryOutOfBounds,
    TableOutOfBounds,
    IndirectCallToNull,
    BadSignature,
    IntegerOverflow,
    IntegerDivisionByZero,
    BadConversionToInteger,
    StackOverflow,
    /// Our own deterministic call-depth limit (see `InstrumentConfig::stack_budget`).
    CallDepthExceeded,
    /// The unwind buffer did not match the function being rewound (only a
    /// crafted snapshot can cause this).
    CorruptUnwindState,
    Other,
}

impl TrapKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TrapKind::Unreachable => "unreachable",
            TrapKind::MemoryOutOfBounds => "memory out of bounds",
            TrapKind::TableOutOfBounds => "table out of bounds",
            TrapKind::IndirectCallToNull => "indirect call to null",
            TrapKind::BadSignature => "indirect call type mismatch",
            TrapKind::IntegerOverflow => "integer overflow",
            TrapKind::IntegerDivisionByZero => "integer divide by zero",
            TrapKind::BadConversionToInteger => "invalid conversion to integer",
            TrapKind::StackOverflow => "call stack exhausted",
            TrapKind::CallDepthExceeded => "call depth exceeded",
            TrapKind::CorruptUnwindState => "corrupt unwind state",
            TrapKind::Other => "trap",
        }
    }
}

impl fmt::Display for TrapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the message of [`Error::AddressSpace`] begins; an embedder that
/// words the advice after it in its own terms starts with this too.
pub const OUT_OF_ADDRESS_SPACE: &str = "out of address space: the OS refused to reserve address \
     space for a memory; each executor reserves about 8 GiB of it (not RAM)";

/// Every error the core engine reports.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    #[error("not a valid WebAssembly module: {0}")]
    InvalidWasm(String),
    #[error("unsupported WebAssembly feature: {0}")]
    UnsupportedFeature(String),
    #[error("unsupported module: {0}")]
    UnsupportedModule(String),
    #[error("the module has no export named {0}")]
    EntryNotFound(String),
    #[error("{0}")]
    InvalidEntry(String),
    #[error("{0}")]
    MemoryLimit(String),
    /// The OS refused to reserve address space for a memory: too many live
    /// executors (each reserves about 8 GiB of it, not RAM), or a limit on
    /// the process's address space. Its code is `ERR_MEMORY_LIMIT`, as for
    /// other memory that cannot be had; the string is wasmtime's account
    /// (e.g. "mmap failed to reserve 0x104000000 bytes: ...").
    #[error(
        "{}, so drop executors you no longer need ({})",
        OUT_OF_ADDRESS_SPACE,
        .0
    )]
    AddressSpace(String),
    /// An import the runtime serves itself (WASI) does not exist.
    #[error("missing import: {0}")]
    ImportMissing(String),
    /// An import the runtime serves itself (WASI) has the wrong signature.
    #[error("import type mismatch: {0}")]
    ImportType(String),
    #[error("wasm trap: {kind}{}", backtrace_suffix(.backtrace))]
    Trap { kind: TrapKind, backtrace: String },
    /// A host import reported failure; the binding keeps the original error
    /// value on its side and rethrows it.
    #[error("a host import failed: {0}")]
    HostError(String),
    #[error("{0}")]
    InvalidState(String),
    #[error("{0}")]
    OutOfBounds(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("corrupt snapshot: {0}")]
    SnapshotCorrupt(String),
    #[error("unsupported snapshot version {found} (this build reads version {supported})")]
    SnapshotVersion { found: u32, supported: u32 },
    #[error("the snapshot does not fit this executor: {0}")]
    SnapshotMismatch(String),
    #[error("{0}")]
    SnapshotMemoryLimit(String),
    #[error("internal error: {0}")]
    Internal(String),
}

fn backtrace_suffix(bt: &str) -> String {
    if bt.is_empty() {
        String::new()
    } else {
        format!("\n{bt}")
    }
}

impl Error {
    /// The stable code JS sees as `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidWasm(_) => "ERR_INVALID_WASM",
            Error::UnsupportedFeature(_) => "ERR_UNSUPPORTED_FEATURE",
            Error::UnsupportedModule(_) => "ERR_UNSUPPORTED_MODULE",
            Error::EntryNotFound(_) => "ERR_ENTRY_NOT_FOUND",
            Error::InvalidEntry(_) => "ERR_INVALID_ENTRY",
            Error::MemoryLimit(_) | Error::AddressSpace(_) => "ERR_MEMORY_LIMIT",
            Error::ImportMissing(_) => "ERR_IMPORT_MISSING",
            Error::ImportType(_) => "ERR_IMPORT_TYPE",
            Error::Trap { .. } => "ERR_WASM_TRAP",
            Error::HostError(_) => "ERR_HOST_IMPORT",
            Error::InvalidState(_) => "ERR_INVALID_STATE",
            Error::OutOfBounds(_) => "ERR_OUT_OF_BOUNDS",
            Error::InvalidArgument(_) => "ERR_INVALID_ARG",
            Error::SnapshotCorrupt(_) => "ERR_SNAPSHOT_CORRUPT",
            Error::SnapshotVersion { .. } => "ERR_SNAPSHOT_VERSION",
            Error::SnapshotMismatch(_) => "ERR_SNAPSHOT_MISMATCH",
            Error::SnapshotMemoryLimit(_) => "ERR_SNAPSHOT_MEMORY_LIMIT",
            Error::Internal(_) => "ERR_INTERNAL",
        }
    }

    /// Which JS error class fits.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::InvalidWasm(_)
            | Error::UnsupportedFeature(_)
            | Error::UnsupportedModule(_)
            | Error::EntryNotFound(_)
            | Error::InvalidEntry(_)
            | Error::ImportMissing(_)
            | Error::ImportType(_)
            | Error::InvalidArgument(_)
            | Error::SnapshotCorrupt(_)
            | Error::SnapshotVersion { .. } => ErrorClass::Type,
            Error::MemoryLimit(_)
            | Error::AddressSpace(_)
            | Error::OutOfBounds(_)
            | Error::SnapshotMemoryLimit(_) => ErrorClass::Range,
            _ => ErrorClass::Generic,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
