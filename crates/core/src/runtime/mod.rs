//! Running instrumented modules in wasmtime: the process-wide engines, the
//! compiled-program cache, and the [`Executor`] run loop (start, pause,
//! resume, finish, trap), host imports and snapshots.

mod engine;

use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::Arc;

use wasmtime::{
    AsContextMut, Extern, Func, FuncType, Global, Instance, Memory, MemoryType, ResourceLimiter,
    Store, Trap, Val, ValRaw, ValType, WasmBacktrace,
};

pub use engine::{engine_config, Program, ProgramOptions};

use crate::error::{Error, Result, TrapKind};
use crate::instrument::{names, state};
use crate::snapshot::{Phase, Snapshot};
use crate::value::{Value, ValueType};
use crate::wasi::{self, Wasi, WasiConfig, WasiState};

/// Bytes in a wasm page.
pub const PAGE: u64 = 65536;
/// Largest `memLimit` (pages): the whole 32-bit address space.
pub const MAX_MEMORY_PAGES: u64 = 65536;
/// Largest table the guest may have or grow to.
pub const MAX_TABLE_ELEMENTS: usize = 1_000_000;

/// A host import failed; the guest traps and `run` reports
/// [`Error::HostError`] with this message.
#[derive(Clone, Debug)]
pub struct HostError(pub String);

/// A table larger than [`MAX_TABLE_ELEMENTS`] at instantiation.
#[derive(Debug)]
struct TableTooLarge(usize);
impl std::fmt::Display for TableTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the module's table has {} elements initially, more than the limit of {MAX_TABLE_ELEMENTS}",
            self.0
        )
    }
}
impl std::error::Error for TableTooLarge {}

#[derive(Debug)]
struct HostFailure(String);
impl std::fmt::Display for HostFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for HostFailure {}

/// `proc_exit` was called: the run ends with this exit code.
#[derive(Debug)]
struct ProcExit(u32);
impl std::fmt::Display for ProcExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "proc_exit({})", self.0)
    }
}
impl std::error::Error for ProcExit {}

/// The embedder's implementation of the guest's function imports.
pub trait Host {
    /// Called for every guest call of import `index` (an index into
    /// [`Program::imports`]). `results` holds zeros of the right types on
    /// entry; `memory` gives the guest's linear memory (found only when
    /// asked for: an import that does not touch it does not pay for it).
    fn call(
        &mut self,
        index: usize,
        args: &[Value],
        results: &mut [Value],
        memory: &mut GuestMemory<'_>,
    ) -> std::result::Result<(), HostError>;

    /// WASI output the guest wrote to fd `fd` (1 = stdout, 2 = stderr),
    /// when the executor's [`WasiConfig`] sends that stream to the host;
    /// called synchronously at each `fd_write`. An error traps the guest.
    fn wasi_output(
        &mut self,
        fd: u32,
        data: &[u8],
        memory: &mut [u8],
    ) -> std::result::Result<(), HostError> {
        let _ = (data, memory);
        Err(HostError(format!("no host output for WASI fd {fd}")))
    }

    /// The next chunk of WASI stdin, when the executor's [`WasiConfig`]
    /// takes stdin from the host; asked when the guest reads and no unread
    /// bytes are left. `None` or an empty chunk is end of file for this
    /// read (the host is asked again at the next one).
    fn wasi_stdin(&mut self, memory: &mut [u8]) -> std::result::Result<Option<Vec<u8>>, HostError> {
        let _ = memory;
        Ok(None)
    }
}

/// The guest's linear memory during one import call ([`Host::call`]).
pub struct GuestMemory<'a> {
    memory: Option<Memory>,
    store: wasmtime::StoreContextMut<'a, StoreData>,
}

impl GuestMemory<'_> {
    /// The memory's bytes as they are now (empty if the module has none).
    /// Its size changes only when the guest grows it, never during a call.
    ///
    /// The host may write through the slice, so the executor counts the
    /// run as one that may have written the memory: its next snapshot
    /// reads the whole memory (see `docs/engine.md`, "Runs that write
    /// nothing"). A host that does not need the memory should not ask.
    pub fn bytes(&mut self) -> &mut [u8] {
        self.wrote();
        self.bytes_untracked()
    }

    /// [`GuestMemory::bytes`] without counting the run as one that wrote
    /// the memory, for a host that only sometimes writes (the Node binding
    /// lends the memory to every import): when it does write through the
    /// slice, it must call [`GuestMemory::wrote`], or the next snapshot may
    /// miss the write.
    pub fn bytes_untracked(&mut self) -> &mut [u8] {
        match self.memory {
            Some(m) => m.data_mut(&mut self.store),
            None => &mut [],
        }
    }

    /// Counts the run as one that may have written the memory.
    pub fn wrote(&mut self) {
        self.store.data_mut().memory_touched = true;
    }
}

/// A [`Host`] for modules without imports: every call fails.
pub struct NoHost;

impl Host for NoHost {
    fn call(
        &mut self,
        index: usize,
        _: &[Value],
        _: &mut [Value],
        _: &mut GuestMemory<'_>,
    ) -> std::result::Result<(), HostError> {
        Err(HostError(format!("no host function for import #{index}")))
    }
}

/// What a [`Executor::run`] call ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// The entry function returned.
    Finished,
    /// Out of gas at a pause point; call `run` again with more gas.
    Paused,
}

/// Where an executor stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Nothing has run yet.
    Ready,
    /// Stopped at a pause point; `run` continues there.
    Paused,
    /// The entry function returned.
    Finished,
    /// A trap or a failing import ended the run for good.
    Trapped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ready => "ready",
            Status::Paused => "paused",
            Status::Finished => "finished",
            Status::Trapped => "trapped",
        }
    }
}

/// Per-executor settings.
#[derive(Clone, Debug)]
pub struct ExecutorConfig {
    /// Cap of the guest memory in 64 KiB pages (`memory.grow` past it
    /// returns -1).
    pub memory_limit_pages: u64,
    /// Export to run; `None` = `entry`, then `_start`.
    pub entry: Option<String>,
}

/// Returns `Ok(Some(code))` for a `proc_exit(code)` the guest made.
fn proc_exit_code(e: &wasmtime::Error) -> Option<u32> {
    e.downcast_ref::<ProcExit>().map(|p| p.0)
}

struct Limiter {
    memory_limit_bytes: usize,
    /// Set once `Instance::new` returned: every memory is created then, so
    /// every later call is a `memory.grow`.
    instantiated: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Creation is checked by the executor before instantiation (guest
        // minimum <= limit; the unwind memory is ours, larger than small
        // limits). It cannot be told from a grow by `current == 0`: a guest
        // memory that starts with 0 pages grows from 0 too. (No guest code
        // runs during instantiation: the start function is run by the
        // executor, metered.)
        Ok(!self.instantiated || desired <= self.memory_limit_bytes)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if current == 0 && desired > MAX_TABLE_ELEMENTS {
            // Creation: refuse the module with its own error (see
            // `instantiate`), not as a failed grow.
            return Err(wasmtime::Error::new(TableTooLarge(desired)));
        }
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

struct StoreData {
    limiter: Limiter,
    /// The host for the current `run` call only (lifetime erased; set and
    /// cleared around every call into the guest).
    host: Option<NonNull<dyn Host>>,
    memory: Option<Memory>,
    /// The gas global (read and charged by WASI calls).
    gas: Option<Global>,
    /// Gas used and balance when the current guest call started: with the
    /// gas global, the exact gas used at any WASI call.
    run_base: (u64, i64),
    /// The WASI implementation, when on.
    wasi: Option<Box<Wasi>>,
    /// An import or WASI call of the current run had the guest memory
    /// writable (see [`Live::nonzero_pages`]).
    memory_touched: bool,
}

/// Handles into one instance.
struct Live {
    store: Store<StoreData>,
    gas: Global,
    gas_saved: Global,
    state: Global,
    uw_ptr: Global,
    depth: Global,
    unwind: Memory,
    memory: Option<Memory>,
    globals: Vec<Global>,
    drop_masks: Vec<Global>,
    /// The guest table and the functions it may hold, when it can change.
    table: Option<(wasmtime::Table, Vec<Func>)>,
    restore_drops: Func,
    start: Option<Func>,
    entry: Func,
    entry_results: usize,
    /// The 4 KiB pages of the memory that may hold a nonzero byte (see
    /// [`Snapshot::nonzero_pages`]), when known: set by a snapshot, a
    /// restore or a reset, which know the memory exactly, and cleared by
    /// everything that may change it: `write_memory`, and a run in which
    /// the guest (`wrote`) or an import or WASI call
    /// (`StoreData::memory_touched`) may have written the memory. It goes
    /// with the instance into the pool, so a restore over a recycled
    /// instance checks only those pages where the snapshot has zeros, and a
    /// snapshot after runs that wrote nothing reads only these pages,
    /// instead of the whole memory.
    nonzero_pages: Option<Vec<u64>>,
    /// The instrumentation's flag (`__ws_wrote`), which the guest sets
    /// before it writes its memory after a point where a run may start.
    wrote: Global,
    /// `wrote` is known to be 0.
    wrote_clear: bool,
}

/// One running guest: an instance of a [`Program`] with its gas balance,
/// status and memory limit.
pub struct Executor {
    program: Arc<Program>,
    config: ExecutorConfig,
    wasi: Option<WasiConfig>,
    entry_name: String,
    /// Taken out only by `Drop` (to recycle it, see [`pool`]).
    live: ManuallyDrop<Live>,
    /// The instance came from the pool.
    recycled: bool,
    /// A recycled instance still holding its last executor's state: it is
    /// reset to the program's initial state ([`Executor::settle`]) by the
    /// first call that reads or runs it, and never by a `restore`, which
    /// writes every part of the state itself (so moving a snapshot into a
    /// new executor writes its memory once, not twice).
    stale: bool,
    phase: Phase,
    status: Status,
    balance: i64,
    used: u64,
    trap: Option<Error>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("entry", &self.entry_name)
            .field("status", &self.status)
            .field("gas_balance", &self.balance)
            .field("gas_used", &self.used)
            .finish()
    }
}

fn val_i64(v: Val) -> i64 {
    v.i64().unwrap_or(0)
}
fn val_i32(v: Val) -> i32 {
    v.i32().unwrap_or(0)
}

fn to_value(v: &Val) -> Value {
    match v {
        Val::I32(x) => Value::I32(*x),
        Val::I64(x) => Value::I64(*x),
        Val::F32(x) => Value::F32(*x),
        Val::F64(x) => Value::F64(*x),
        _ => Value::I32(0),
    }
}

fn wasm_type(t: ValueType) -> ValType {
    match t {
        ValueType::I32 => ValType::I32,
        ValueType::I64 => ValType::I64,
        ValueType::F32 => ValType::F32,
        ValueType::F64 => ValType::F64,
    }
}

fn global(instance: &Instance, store: &mut Store<StoreData>, name: &str) -> Result<Global> {
    instance
        .get_global(&mut *store, name)
        .ok_or_else(|| Error::Internal(format!("instrumented module lacks export {name}")))
}

impl Executor {
    /// Instantiates `program`. Fails when the guest's initial memory exceeds
    /// the limit, the entry export is missing or takes parameters, or the
    /// module imports something other than functions and one memory.
    pub fn new(program: Arc<Program>, config: ExecutorConfig) -> Result<Executor> {
        Executor::with_wasi(program, config, None)
    }

    /// Like [`Executor::new`], and with `wasi` the imports from
    /// [`wasi::MODULE`] are served by the runtime ([`crate::wasi`]) instead
    /// of the [`Host`]: an unknown WASI function is `ImportMissing`, a wrong
    /// signature `ImportType`.
    pub fn with_wasi(
        program: Arc<Program>,
        config: ExecutorConfig,
        wasi: Option<WasiConfig>,
    ) -> Result<Executor> {
        if let Some(w) = &wasi {
            w.validate()?;
            for fi in program.imports() {
                if fi.module == wasi::MODULE {
                    wasi::check_import(&fi.name, &fi.params, &fi.results)?;
                }
            }
        }
        if config.memory_limit_pages == 0 || config.memory_limit_pages > MAX_MEMORY_PAGES {
            return Err(Error::MemoryLimit(format!(
                "memory limit must be between 1 and {MAX_MEMORY_PAGES} pages, got {}",
                config.memory_limit_pages
            )));
        }
        let info = program.info();
        if let Some(other) = info.other_imports.first() {
            return Err(Error::UnsupportedModule(format!(
                "the module imports {other}; only functions and one memory can be imported"
            )));
        }
        if let Some(mem) = &info.memory {
            if mem.initial_pages > config.memory_limit_pages {
                return Err(Error::MemoryLimit(format!(
                    "the module needs {} pages of memory initially, but the limit is {} pages",
                    mem.initial_pages, config.memory_limit_pages
                )));
            }
        }
        let entry_name = match &config.entry {
            Some(name) => name.clone(),
            None => ["entry", "_start"]
                .iter()
                .find(|n| program.has_export(n))
                .map(|n| n.to_string())
                .ok_or_else(|| {
                    Error::EntryNotFound("\"entry\" or \"_start\" (set options.entry)".into())
                })?,
        };
        if !program.has_export(&entry_name) {
            return Err(Error::EntryNotFound(format!("\"{entry_name}\"")));
        }
        let fresh_wasi = || wasi.as_ref().map(|w| Box::new(Wasi::new(w)));
        let key = pool::Key::new(&program, &config, &entry_name, wasi.is_some());
        // Only programs with an initial state have instances in the pool.
        let recycled = program
            .initial_state()
            .get()
            .and_then(|_| pool::take(&key, fresh_wasi()));
        let (live, fresh) = match recycled {
            Some(live) => (live, false),
            None => {
                let live = match instantiate(&program, &config, &entry_name, fresh_wasi()) {
                    // The pool's instances hold reservations of their own:
                    // give them back to the OS and try once more.
                    Err(Error::AddressSpace(_)) if pool::clear() > 0 => {
                        instantiate(&program, &config, &entry_name, fresh_wasi())
                    }
                    other => other,
                };
                (live?, true)
            }
        };
        let mut executor = Executor {
            wasi,
            phase: if program.info().has_start {
                Phase::Start
            } else {
                Phase::Entry
            },
            program,
            config,
            entry_name,
            live: ManuallyDrop::new(live),
            recycled: !fresh,
            stale: !fresh,
            status: Status::Ready,
            balance: 0,
            used: 0,
            trap: None,
        };
        // Only instances the pool may keep need the initial state (taking
        // it scans the memory).
        if fresh
            && executor.program.initial_state().get().is_none()
            && executor.memory_size() <= pool::MAX_MEMORY_BYTES
        {
            let initial = executor.snapshot()?;
            let _ = executor.program.initial_state().set(initial);
        }
        Ok(executor)
    }

    pub fn program(&self) -> &Arc<Program> {
        &self.program
    }
    /// Whether this executor reuses the reset instance of a dropped one
    /// (see the `pool` module); indistinguishable otherwise.
    pub fn is_recycled(&self) -> bool {
        self.recycled
    }
    pub fn status(&self) -> Status {
        self.status
    }
    /// Total gas consumed so far (all the gas given, once trapped).
    pub fn gas_used(&self) -> u64 {
        self.used
    }
    /// Gas left; negative after an overshoot at a pause point.
    pub fn gas_balance(&self) -> i64 {
        self.balance
    }
    /// The name of the export that runs.
    pub fn entry_name(&self) -> &str {
        &self.entry_name
    }
    /// Whether the runtime serves the WASI imports.
    pub fn wasi_enabled(&self) -> bool {
        self.wasi.is_some()
    }
    /// The WASI state (`None` without WASI).
    pub fn wasi_state(&self) -> Option<&WasiState> {
        self.live.store.data().wasi.as_ref().map(|w| &w.state)
    }
    /// With WASI: the code passed to `proc_exit`, or 0 once the entry
    /// returned; `None` before the program finished or without WASI.
    pub fn exit_code(&self) -> Option<u32> {
        self.wasi_state().and_then(|w| w.exit_code())
    }
    /// With WASI: everything the guest wrote to stdout (unless a host
    /// callback takes it).
    pub fn stdout(&self) -> Option<&[u8]> {
        self.wasi_state().map(|w| w.stdout())
    }
    /// With WASI: everything the guest wrote to stderr (unless a host
    /// callback takes it).
    pub fn stderr(&self) -> Option<&[u8]> {
        self.wasi_state().map(|w| w.stderr())
    }
    /// Current guest memory size in bytes (0 without memory).
    pub fn memory_size(&self) -> u64 {
        self.live
            .memory
            .map(|m| m.data_size(&self.live.store) as u64)
            .unwrap_or(0)
    }

    fn memory_range(&self, offset: u64, len: u64) -> Result<std::ops::Range<usize>> {
        let size = self.memory_size();
        match offset.checked_add(len) {
            Some(end) if end <= size => Ok(offset as usize..end as usize),
            _ => Err(Error::OutOfBounds(format!(
                "range {offset}..{} is outside the guest memory of {size} bytes",
                offset as u128 + len as u128
            ))),
        }
    }

    /// Resets a recycled instance to the program's initial state, once,
    /// before its first use (see `stale`).
    fn settle(&mut self) -> Result<()> {
        if self.stale {
            let initial = self.program.initial_state().get().ok_or_else(|| {
                Error::Internal("a recycled instance without an initial state".into())
            })?;
            let len = self.memory_size() as usize;
            // Nothing may be assumed zero: every byte is written (or
            // checked, on pages that may be nonzero).
            apply(&mut self.live, initial, len)?;
            self.stale = false;
        }
        Ok(())
    }

    /// Copies `len` bytes of guest memory starting at `offset`.
    pub fn read_memory(&mut self, offset: u64, len: u64) -> Result<Vec<u8>> {
        let range = self.memory_range(offset, len)?;
        self.settle()?;
        Ok(match self.live.memory {
            Some(m) => m.data(&self.live.store)[range].to_vec(),
            None => Vec::new(),
        })
    }

    /// Writes `data` into guest memory at `offset`.
    pub fn write_memory(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let range = self.memory_range(offset, data.len() as u64)?;
        self.settle()?;
        self.live.nonzero_pages = None;
        if let Some(m) = self.live.memory {
            m.data_mut(&mut self.live.store)[range].copy_from_slice(data);
        }
        Ok(())
    }

    /// Adds `gas` to the balance and runs until the entry returns or the
    /// balance is negative at a pause point. A run that ends in an error (a
    /// trap, or an error from a host function) uses up the balance it had:
    /// after it `gas_used` is all the gas ever given and the balance is 0.
    pub fn run(&mut self, gas: u64, host: &mut dyn Host) -> Result<RunOutcome> {
        match self.status {
            Status::Trapped => {
                return Err(self
                    .trap
                    .clone()
                    .unwrap_or_else(|| Error::InvalidState("the executor trapped earlier".into())))
            }
            Status::Finished => return Ok(RunOutcome::Finished),
            _ => {}
        }
        self.settle()?;
        // The map of nonzero pages stays true only if the run does not
        // write the memory; the guest says so through `wrote`, imports and
        // WASI through `memory_touched`. On any error it is left unknown.
        let known = self.live.nonzero_pages.take();
        if known.is_some() {
            let live = &mut *self.live;
            if !live.wrote_clear {
                live.wrote
                    .set(&mut live.store, Val::I32(0))
                    .map_err(internal)?;
                live.wrote_clear = true;
            }
            live.store.data_mut().memory_touched = false;
        }
        // The guest may set it (it is read back only when the map is known).
        self.live.wrote_clear = false;
        let outcome = self.run_slices(gas, host)?;
        let live = &mut *self.live;
        if known.is_some() && val_i32(live.wrote.get(&mut live.store)) == 0 {
            live.wrote_clear = true;
            if !live.store.data().memory_touched {
                live.nonzero_pages = known;
            }
        }
        Ok(outcome)
    }

    /// [`Executor::run`] after the checks of its status.
    fn run_slices(&mut self, gas: u64, host: &mut dyn Host) -> Result<RunOutcome> {
        let add = i64::try_from(gas).unwrap_or(i64::MAX);
        // Gas beyond MAX_BALANCE (4.6e18) is not kept: entries take larger
        // balances for a rewind in progress.
        self.balance = self
            .balance
            .saturating_add(add)
            .min(crate::instrument::MAX_BALANCE);
        if self.balance <= 0 {
            return Ok(RunOutcome::Paused);
        }
        loop {
            let resuming = self.status == Status::Paused;
            let func = match self.phase {
                Phase::Start => self.live.start,
                Phase::Entry => Some(self.live.entry),
            };
            let Some(func) = func else {
                self.phase = Phase::Entry;
                continue;
            };
            let before = self.balance;
            let n_results = match self.phase {
                Phase::Start => 0,
                Phase::Entry => self.live.entry_results,
            };
            let result = self.call_guest(&func, n_results, resuming, host);
            let exited = matches!(result, Ok(Some(_)));
            let live = &mut *self.live;
            let st = &mut live.store;
            let guest_state = val_i32(live.state.get(&mut *st));
            // A trap uses up all the gas the run had: functions keep the
            // balance in a local and store it only at calls, returns and
            // pauses, so the global does not say how far the guest got
            // (and keeping it exact cost a store per loop iteration). A
            // trapping run never costs less than one that finishes.
            let after = if result.is_err() {
                0
            } else {
                val_i64(live.gas.get(&mut *st))
            };
            self.used = self
                .used
                .saturating_add(before.saturating_sub(after).max(0) as u64);
            self.balance = after;
            match result {
                Err(e) => {
                    self.status = Status::Trapped;
                    self.trap = Some(e.clone());
                    return Err(e);
                }
                Ok(_) if exited => {
                    // proc_exit: the host function already kept the code.
                    self.status = Status::Finished;
                    return Ok(RunOutcome::Finished);
                }
                Ok(_) if guest_state == state::UNWINDING => {
                    // The state global stays "unwinding": nothing reads it
                    // before the next `call_guest` sets it.
                    self.status = Status::Paused;
                    return Ok(RunOutcome::Paused);
                }
                Ok(_) => match self.phase {
                    Phase::Start => {
                        self.phase = Phase::Entry;
                        self.status = Status::Ready;
                    }
                    Phase::Entry => {
                        if let Some(w) = self.live.store.data_mut().wasi.as_mut() {
                            // Returning from the entry is exit code 0.
                            w.state.exit_code.get_or_insert(0);
                        }
                        self.status = Status::Finished;
                        return Ok(RunOutcome::Finished);
                    }
                },
            }
        }
    }

    /// Calls the guest; `Ok(Some(code))` when it called `proc_exit(code)`.
    fn call_guest(
        &mut self,
        func: &Func,
        n_results: usize,
        resuming: bool,
        host: &mut dyn Host,
    ) -> Result<Option<u32>> {
        let live = &mut *self.live;
        let st = &mut live.store;
        let set = |g: &Global, st: &mut Store<StoreData>, v: Val| g.set(st, v).map_err(internal);
        set(&live.depth, st, Val::I32(0))?;
        if resuming {
            set(&live.state, st, Val::I32(state::REWINDING))?;
            set(&live.gas_saved, st, Val::I64(self.balance))?;
            // A fake balance no charge on the way back can exhaust: no check
            // fires until the paused site restores the real one.
            set(&live.gas, st, Val::I64(crate::instrument::REWIND_FAKE_GAS))?;
        } else {
            set(&live.state, st, Val::I32(state::NORMAL))?;
            set(&live.gas, st, Val::I64(self.balance))?;
            set(&live.uw_ptr, st, Val::I32(0))?;
        }
        // SAFETY: the pointer is only dereferenced by import trampolines
        // while this call is on the stack, and cleared right after it.
        let host_ptr: NonNull<dyn Host + '_> = NonNull::from(host);
        let host_ptr: NonNull<dyn Host> = unsafe { std::mem::transmute(host_ptr) };
        st.data_mut().host = Some(host_ptr);
        st.data_mut().run_base = (self.used, self.balance);
        // Results land here and are dropped.
        let mut inline = [ValRaw::i32(0); INLINE_VALUES];
        let mut heap = Vec::new();
        let results = values_buf(&mut inline, &mut heap, n_results, ValRaw::i32(0));
        // SAFETY: entry and start functions take no parameters and return
        // `n_results` values of number types (the instrumenter refuses
        // reference-typed results), which the buffer holds; `Func::call`
        // would check the types again and allocate on every run.
        let r = unsafe { func.call_unchecked(&mut *st, results as *mut [ValRaw]) };
        st.data_mut().host = None;
        match r {
            Ok(()) => Ok(None),
            Err(e) => match proc_exit_code(&e) {
                Some(code) => Ok(Some(code)),
                None => Err(map_trap(e)),
            },
        }
    }

    /// Captures the whole state. Not available once trapped.
    pub fn snapshot(&mut self) -> Result<Snapshot> {
        if self.status == Status::Trapped {
            return Err(Error::InvalidState(
                "a trapped executor has no state to save".into(),
            ));
        }
        self.settle()?;
        let live = &mut *self.live;
        let st = &mut live.store;
        let globals = live
            .globals
            .iter()
            .map(|g| raw_bits(g.get(&mut *st)))
            .collect();
        let drop_masks = live
            .drop_masks
            .iter()
            .map(|g| val_i64(g.get(&mut *st)) as u64)
            .collect();
        let uw = val_i32(live.uw_ptr.get(&mut *st)) as u32 as usize;
        let unwind = if self.status == Status::Paused {
            live.unwind.data(&*st)[..uw.min(live.unwind.data_size(&*st))].to_vec()
        } else {
            Vec::new()
        };
        let table = match &live.table {
            Some((table, funcs)) => {
                let ptrs: Vec<usize> = funcs.iter().map(|f| f.to_raw(&mut *st) as usize).collect();
                let size = table.size(&*st);
                let mut slots = Vec::with_capacity(size as usize);
                for i in 0..size {
                    let slot = match table.get(&mut *st, i) {
                        Some(wasmtime::Ref::Func(Some(f))) => {
                            let p = f.to_raw(&mut *st) as usize;
                            ptrs.iter()
                                .position(|x| *x == p)
                                .map(|k| k as u32)
                                .ok_or_else(|| {
                                    Error::Internal(
                                        "table holds a function outside the segments".into(),
                                    )
                                })?
                        }
                        _ => u32::MAX,
                    };
                    slots.push(slot);
                }
                Some(slots)
            }
            None => None,
        };
        let wasi = st.data().wasi.as_ref().map(|w| w.state.compacted());
        let memory = live.memory.map(|m| m.data(&*st));
        let snapshot = Snapshot::new(
            self.program.fingerprint(),
            self.program.options().canonicalize_nans,
            self.status,
            self.phase,
            self.entry_name.clone(),
            self.balance,
            self.used,
            memory,
            live.nonzero_pages.as_deref(),
            globals,
            drop_masks,
            unwind,
            table,
            wasi,
        );
        if live.nonzero_pages.is_none() {
            live.nonzero_pages = Some(snapshot.nonzero_pages());
        }
        Ok(snapshot)
    }

    /// Replaces the whole state with `snapshot`, all or nothing: on any
    /// error the executor is unchanged.
    pub fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        let info = self.program.info();
        if snapshot.fingerprint() != self.program.fingerprint()
            || snapshot.canonicalize_nans() != self.program.options().canonicalize_nans
        {
            return Err(Error::SnapshotMismatch(
                "it belongs to another module, other instrumentation options or a \
                 wasm-sandbox build that instruments differently"
                    .into(),
            ));
        }
        if snapshot.entry() != self.entry_name {
            return Err(Error::SnapshotMismatch(format!(
                "it runs entry \"{}\", this executor runs \"{}\"",
                snapshot.entry(),
                self.entry_name
            )));
        }
        match (snapshot.wasi(), &self.wasi) {
            (Some(_), None) => {
                return Err(Error::SnapshotMismatch(
                    "it has WASI state, and this executor has WASI off".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(Error::SnapshotMismatch(
                    "it has no WASI state, and this executor has WASI on".into(),
                ))
            }
            (Some(w), Some(_)) => {
                if (snapshot.status() == Status::Finished) != w.exit_code().is_some() {
                    return Err(Error::SnapshotCorrupt(
                        "exit code does not match the status".into(),
                    ));
                }
            }
            (None, None) => {}
        }
        if snapshot.status() == Status::Trapped {
            return Err(Error::SnapshotCorrupt(
                "status \"trapped\" cannot be restored".into(),
            ));
        }
        // A ready or paused executor never has gas left over (it would have
        // run): a positive balance can only be crafted, to buy gas.
        if snapshot.status() != Status::Finished && snapshot.gas_balance() > 0 {
            return Err(Error::SnapshotCorrupt(
                "a positive gas balance in a ready or paused state".into(),
            ));
        }
        if snapshot.phase() == Phase::Start && !info.has_start {
            return Err(Error::SnapshotCorrupt(
                "start phase in a module without start".into(),
            ));
        }
        let mem_len = snapshot.memory_len();
        match (&info.memory, mem_len) {
            (None, None) => {}
            (Some(m), Some(len)) => {
                if len % PAGE != 0 || len / PAGE < m.initial_pages {
                    return Err(Error::SnapshotCorrupt(format!(
                        "memory of {len} bytes is not a valid size for this module"
                    )));
                }
                if len / PAGE > self.config.memory_limit_pages {
                    return Err(Error::SnapshotMemoryLimit(format!(
                        "the snapshot's memory has {} pages, more than the limit of {} pages",
                        len / PAGE,
                        self.config.memory_limit_pages
                    )));
                }
                if let Some(max) = m.maximum_pages {
                    if len / PAGE > max {
                        return Err(Error::SnapshotCorrupt("memory above its maximum".into()));
                    }
                }
            }
            _ => return Err(Error::SnapshotCorrupt("memory presence mismatch".into())),
        }
        if snapshot.globals().len() != self.live.globals.len()
            || snapshot.drop_masks().len() != self.live.drop_masks.len()
        {
            return Err(Error::SnapshotCorrupt("global count mismatch".into()));
        }
        match (&self.live.table, snapshot.table()) {
            (None, None) => {}
            (Some((t, funcs)), Some(slots)) => {
                if slots.len() as u64 != t.size(&self.live.store)
                    || slots
                        .iter()
                        .any(|s| *s != u32::MAX && *s as usize >= funcs.len())
                {
                    return Err(Error::SnapshotCorrupt(
                        "table does not fit the module".into(),
                    ));
                }
            }
            _ => return Err(Error::SnapshotCorrupt("table presence mismatch".into())),
        }
        let unwind_cap = info.unwind_pages * PAGE;
        if snapshot.unwind().len() as u64 > unwind_cap || !snapshot.unwind().len().is_multiple_of(4)
        {
            return Err(Error::SnapshotCorrupt("unwind data too large".into()));
        }
        if (snapshot.status() == Status::Paused) == snapshot.unwind().is_empty() {
            return Err(Error::SnapshotCorrupt(
                "unwind data does not match the status".into(),
            ));
        }

        let wasi = match (snapshot.wasi(), &self.wasi) {
            (Some(state), Some(config)) => Some(Box::new(Wasi::with_state(config, state.clone()))),
            _ => None,
        };
        // The current instance is reused when the snapshot can be applied
        // over it completely: its memory is not larger (memories do not
        // shrink) and it has dropped no segment the snapshot still has.
        // Otherwise a new instance is built completely before it is
        // swapped in. Either way nothing changes before the last step that
        // can fail (growing the memory); the rest cannot fail on a parsed
        // snapshot that passed the checks above.
        let live = &mut *self.live;
        let st = &mut live.store;
        let reusable = match (live.memory, mem_len) {
            (Some(mem), Some(len)) => mem.data_size(&*st) as u64 <= len,
            _ => true,
        } && live
            .drop_masks
            .iter()
            .zip(snapshot.drop_masks())
            .all(|(g, snap)| val_i64(g.get(&mut *st)) as u64 & !snap == 0);
        if reusable {
            let mut zero_from = 0;
            if let (Some(mem), Some(len)) = (live.memory, mem_len) {
                zero_from = grow_to(mem, st, len)?;
            }
            st.data_mut().wasi = wasi;
            // Writes every part of the state: a stale instance needs no
            // reset first.
            let result = apply(live, snapshot, zero_from);
            self.stale = false;
            if let Err(e) = result {
                // Unreachable for parsed snapshots; never leave a
                // half-applied state usable.
                self.status = Status::Trapped;
                self.trap = Some(e.clone());
                return Err(e);
            }
        } else {
            let mut live = instantiate(&self.program, &self.config, &self.entry_name, wasi)?;
            let mut zero_from = 0;
            if let (Some(mem), Some(len)) = (live.memory, mem_len) {
                zero_from = grow_to(mem, &mut live.store, len)?;
            }
            apply(&mut live, snapshot, zero_from)?;
            // Drops the previous instance.
            *self.live = live;
            self.stale = false;
        }
        self.phase = snapshot.phase();
        self.status = snapshot.status();
        self.balance = snapshot.gas_balance();
        self.used = snapshot.gas_used();
        self.trap = None;
        Ok(())
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        // SAFETY: `live` is never used again; this is its only `take`.
        let live = unsafe { ManuallyDrop::take(&mut self.live) };
        let key = pool::Key::new(
            &self.program,
            &self.config,
            &self.entry_name,
            self.wasi.is_some(),
        );
        pool::give_back(key, live);
    }
}

/// Instances of dropped executors, kept for the next executor of the same
/// program, memory limit, entry and WASI setting: creating and unmapping an
/// instance (two ~4 GiB reservations, page faults on first touch) costs
/// more than resetting one. A recycled instance is reset to the program's
/// state right after instantiation — every byte of its memory, every
/// global, the table, the segment drops, no unwind frames, a new WASI
/// state — so nothing of the previous guest survives. Only instances whose
/// memory never grew (memories do not shrink), no larger than
/// [`pool::MAX_MEMORY_BYTES`], that dropped no segment and kept their table
/// size are kept, at most [`pool::CAPACITY`] in the process.
mod pool {
    use std::sync::{Arc, Mutex, Weak};

    use super::{val_i64, ExecutorConfig, Live, Program, Wasi, PAGE};

    /// Instances kept in the process (each holds its address space
    /// reservation and its touched pages).
    pub const CAPACITY: usize = 16;
    /// Larger memories are not kept: the reset writes every byte (about
    /// 3 µs for 64 KiB), while a fresh instance gets zero pages from the OS
    /// on first touch, so past a few pages a new instance is cheaper (and
    /// pooled pages would stay resident).
    pub const MAX_MEMORY_BYTES: u64 = 256 << 10;

    pub struct Key {
        program: Weak<Program>,
        memory_limit_pages: u64,
        entry: String,
        wasi: bool,
    }

    impl Key {
        pub fn new(p: &Arc<Program>, c: &ExecutorConfig, entry: &str, wasi: bool) -> Key {
            Key {
                program: Arc::downgrade(p),
                memory_limit_pages: c.memory_limit_pages,
                entry: entry.to_string(),
                wasi,
            }
        }
        fn matches(&self, other: &Key) -> bool {
            Weak::ptr_eq(&self.program, &other.program)
                && self.memory_limit_pages == other.memory_limit_pages
                && self.entry == other.entry
                && self.wasi == other.wasi
        }
    }

    struct Pooled {
        key: Key,
        live: Live,
    }

    // SAFETY: the only field of a `Live` that is not `Send` is
    // `StoreData::host`, a pointer to the host of the `run` in progress; it
    // is `None` outside `run`, so always in the pool. Everything else in the
    // store is owned data (wasmtime's `Store<T>` is `Send` for `T: Send`).
    unsafe impl Send for Pooled {}

    static POOL: Mutex<Vec<Pooled>> = Mutex::new(Vec::new());

    /// Drops every kept instance (releasing their reservations); returns
    /// how many there were.
    pub fn clear() -> usize {
        let kept = std::mem::take(&mut *POOL.lock().unwrap_or_else(|e| e.into_inner()));
        kept.len()
    }

    /// A recycled instance for `key`, with `wasi` as its WASI state, still
    /// holding the rest of its last executor's state (the caller resets it
    /// before use, see `Executor::stale`); `None` when the pool has none.
    pub fn take(key: &Key, wasi: Option<Box<Wasi>>) -> Option<Live> {
        let mut live = {
            let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
            let i = pool.iter().position(|p| p.key.matches(key))?;
            pool.swap_remove(i).live
        };
        live.store.data_mut().wasi = wasi;
        Some(live)
    }

    /// Keeps `live` for reuse when it can be reset completely; drops it
    /// otherwise.
    pub fn give_back(key: Key, mut live: Live) {
        let Some(program) = key.program.upgrade() else {
            return;
        };
        let Some(initial) = program.initial_state().get() else {
            return;
        };
        let st = &mut live.store;
        let memory_len = live.memory.map(|m| m.data_size(&*st) as u64);
        let reusable = memory_len == initial.memory_len()
            && memory_len.unwrap_or(0) <= MAX_MEMORY_BYTES
            && memory_len.unwrap_or(0).is_multiple_of(PAGE)
            && live
                .drop_masks
                .iter()
                .all(|g| val_i64(g.get(&mut *st)) == 0)
            && match (&live.table, initial.table()) {
                (Some((t, _)), Some(slots)) => t.size(&*st) == slots.len() as u64,
                (None, None) => true,
                _ => false,
            }
            && st.data().host.is_none();
        if !reusable {
            return;
        }
        st.data_mut().wasi = None;
        drop(program);
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        pool.retain(|p| p.key.program.strong_count() > 0);
        if pool.len() >= CAPACITY {
            // The oldest goes (its instance is dropped outside the lock).
            let old = pool.remove(0);
            pool.push(Pooled { key, live });
            drop(pool);
            drop(old);
        } else {
            pool.push(Pooled { key, live });
        }
    }
}

/// Grows `mem` to `len` bytes (a restore's memory size, already checked
/// against the limits). Returns the size before: the bytes from there on
/// are zero.
fn grow_to(mem: Memory, st: &mut Store<StoreData>, len: u64) -> Result<usize> {
    let cur = mem.data_size(&*st) as u64;
    if len > cur {
        mem.grow(&mut *st, (len - cur) / PAGE).map_err(|e| {
            Error::SnapshotMemoryLimit(format!("cannot grow memory for the snapshot: {e}"))
        })?;
    }
    Ok(cur as usize)
}

/// Writes a checked snapshot over `live` (its memory already has the
/// snapshot's size; bytes from `zero_from` on are zero): memory, globals,
/// dropped segments, table, frames.
fn apply(live: &mut Live, snapshot: &Snapshot, zero_from: usize) -> Result<()> {
    let st = &mut live.store;
    if let Some(mem) = live.memory {
        // Unknown from here until the memory is written completely; then
        // it holds exactly the snapshot's memory.
        let nonzero = live.nonzero_pages.take();
        snapshot.write_memory_over(mem.data_mut(&mut *st), zero_from, nonzero.as_deref())?;
        live.nonzero_pages = Some(snapshot.nonzero_pages());
    }
    for (g, bits) in live.globals.iter().zip(snapshot.globals()) {
        let v = from_bits(g.ty(&*st).content(), *bits);
        g.set(&mut *st, v).map_err(internal)?;
    }
    for (g, mask) in live.drop_masks.iter().zip(snapshot.drop_masks()) {
        g.set(&mut *st, Val::I64(*mask as i64)).map_err(internal)?;
    }
    // The replay only drops the segments whose bits are set (a restore over
    // this instance needs no segment it dropped), so with no bit set there
    // is nothing to call: a call through wasmtime's `Func::call` cost about
    // 730 instructions of the 10k a move of a paused fib takes.
    if snapshot.drop_masks().iter().any(|m| *m != 0) {
        live.restore_drops
            .call(&mut *st, &[], &mut [])
            .map_err(|e| Error::Internal(format!("replaying segment drops: {e}")))?;
    }
    if let (Some((table, funcs)), Some(slots)) = (&live.table, snapshot.table()) {
        for (i, slot) in slots.iter().enumerate() {
            let r = match funcs.get(*slot as usize) {
                Some(f) => wasmtime::Ref::Func(Some(*f)),
                None => wasmtime::Ref::Func(None),
            };
            table.set(&mut *st, i as u64, r).map_err(internal)?;
        }
    }
    let unwind = snapshot.unwind();
    live.unwind.data_mut(&mut *st)[..unwind.len()].copy_from_slice(unwind);
    live.uw_ptr
        .set(&mut *st, Val::I32(unwind.len() as i32))
        .map_err(internal)?;

    Ok(())
}

/// Import arguments and results, and the entry's results, up to this many
/// are kept on the stack.
const INLINE_VALUES: usize = 8;

/// The first `n` slots of `inline`, or of `heap` grown to `n` (filled with
/// `fill`) when more.
fn values_buf<'a, T: Copy>(
    inline: &'a mut [T; INLINE_VALUES],
    heap: &'a mut Vec<T>,
    n: usize,
    fill: T,
) -> &'a mut [T] {
    if n <= INLINE_VALUES {
        &mut inline[..n]
    } else {
        heap.resize(n, fill);
        &mut heap[..]
    }
}

/// The function the guest calls for import `index` (not a WASI one): it
/// hands the arguments to the run's [`Host`] and checks what comes back.
///
/// Signatures of up to 4 `i32` parameters and at most one `i32` result
/// (most imports of C and Rust programs) become typed wasmtime functions
/// (`Func::wrap`): the arguments arrive as values, not in a raw array, and
/// wasmtime's entry into the host is shorter. Other signatures of up to 4
/// parameters and 1 result get a raw version with arrays of exactly their
/// size (the loops unroll, nothing is zeroed or allocated that the call does
/// not use); an import loop spends most of its time here (see
/// docs/engine.md).
fn host_import(
    store: &mut Store<StoreData>,
    ty: FuncType,
    index: usize,
    name: Arc<str>,
    params: &[ValueType],
    results: &[ValueType],
) -> Func {
    fn new<F>(store: &mut Store<StoreData>, ty: FuncType, call: F) -> Func
    where
        F: Fn(
                wasmtime::Caller<'_, StoreData>,
                &mut [std::mem::MaybeUninit<ValRaw>],
            ) -> wasmtime::Result<()>
            + Send
            + Sync
            + 'static,
    {
        // SAFETY: `call_host` reads the parameters and writes the results
        // with exactly the types of `ty` (the import's signature).
        unsafe { Func::new_unchecked(store, ty, call) }
    }
    fn sized<const P: usize, const R: usize>(
        store: &mut Store<StoreData>,
        ty: FuncType,
        index: usize,
        name: Arc<str>,
        params: &[ValueType],
        results: &[ValueType],
    ) -> Func {
        let params: [ValueType; P] = params.try_into().expect("P parameters");
        let results: [ValueType; R] = results.try_into().expect("R results");
        new(store, ty, move |mut caller, raw| {
            let mut args = [Value::I32(0); P];
            let mut out = results.map(ValueType::zero);
            call_host(
                &mut caller,
                index,
                &name,
                &params,
                &results,
                raw,
                &mut args,
                &mut out,
            )
        })
    }
    let all_i32 = params.iter().chain(results).all(|t| *t == ValueType::I32);
    macro_rules! by_arity {
        ($(($($arg:ident)*; $p:literal, $r:literal)),*) => {
            match (params.len(), results.len(), all_i32) {
                $(
                    ($p, $r, true) => {
                        return Func::wrap(
                            store,
                            move |mut caller: wasmtime::Caller<'_, StoreData>, $($arg: i32),*| {
                                call_i32(&mut caller, index, &name, [$($arg),*])
                                    .map(|out: [i32; $r]| unpack(out))
                            },
                        )
                    }
                    ($p, $r, false) => {
                        return sized::<$p, $r>(store, ty, index, name, params, results)
                    }
                )*
                _ => {}
            }
        };
    }
    by_arity!(
        (; 0, 0),
        (a; 1, 0),
        (a b; 2, 0),
        (a b c; 3, 0),
        (a b c d; 4, 0),
        (; 0, 1),
        (a; 1, 1),
        (a b; 2, 1),
        (a b c; 3, 1),
        (a b c d; 4, 1)
    );
    let (params, results): (Box<[ValueType]>, Box<[ValueType]>) = (params.into(), results.into());
    new(store, ty, move |mut caller, raw| {
        let mut arg_inline = [Value::I32(0); INLINE_VALUES];
        let mut out_inline = [Value::I32(0); INLINE_VALUES];
        let (mut arg_heap, mut out_heap) = (Vec::new(), Vec::new());
        let args = values_buf(&mut arg_inline, &mut arg_heap, params.len(), Value::I32(0));
        let out = values_buf(&mut out_inline, &mut out_heap, results.len(), Value::I32(0));
        for (slot, t) in out.iter_mut().zip(results.iter()) {
            *slot = t.zero();
        }
        call_host(&mut caller, index, &name, &params, &results, raw, args, out)
    })
}

/// What a typed import returns for its results: nothing or one `i32`.
trait Unpack {
    type Out;
    fn unpack(self) -> Self::Out;
}
impl Unpack for [i32; 0] {
    type Out = ();
    fn unpack(self) {}
}
impl Unpack for [i32; 1] {
    type Out = i32;
    fn unpack(self) -> i32 {
        self[0]
    }
}
fn unpack<U: Unpack>(out: U) -> U::Out {
    out.unpack()
}

/// One guest call of an all-`i32` import (see `host_import`).
#[inline(always)]
fn call_i32<const P: usize, const R: usize>(
    caller: &mut wasmtime::Caller<'_, StoreData>,
    index: usize,
    name: &Arc<str>,
    args: [i32; P],
) -> wasmtime::Result<[i32; R]> {
    let mut out = [Value::I32(0); R];
    dispatch(caller, index, name, &args.map(Value::I32), &mut out)?;
    let mut results = [0; R];
    #[allow(clippy::needless_range_loop)] // (an iterator did not unroll)
    for i in 0..R {
        results[i] = match out[i] {
            Value::I32(x) => x,
            v => return Err(wrong_result(name, i, v, ValueType::I32)),
        };
    }
    Ok(results)
}

/// One guest call of import `index`: `raw` holds the parameters (typed as
/// `param_types` say) and receives the results; `args` and `out` are
/// scratch of the right lengths, `out` holding zeros of the result types.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn call_host(
    caller: &mut wasmtime::Caller<'_, StoreData>,
    index: usize,
    name: &Arc<str>,
    param_types: &[ValueType],
    result_types: &[ValueType],
    raw: &mut [std::mem::MaybeUninit<ValRaw>],
    args: &mut [Value],
    out: &mut [Value],
) -> wasmtime::Result<()> {
    // Indexed loops: with the sizes constants (see `host_import`) they
    // compile to straight moves.
    for (i, slot) in args.iter_mut().enumerate() {
        // SAFETY: wasmtime passes the parameters initialized and typed as
        // the import's signature says.
        let r = unsafe { raw[i].assume_init() };
        *slot = match param_types[i] {
            ValueType::I32 => Value::I32(r.get_i32()),
            ValueType::I64 => Value::I64(r.get_i64()),
            ValueType::F32 => Value::F32(r.get_f32()),
            ValueType::F64 => Value::F64(r.get_f64()),
        };
    }
    dispatch(caller, index, name, args, out)?;
    for (i, v) in out.iter().enumerate() {
        raw[i] = std::mem::MaybeUninit::new(match (*v, result_types[i]) {
            (Value::I32(x), ValueType::I32) => ValRaw::i32(x),
            (Value::I64(x), ValueType::I64) => ValRaw::i64(x),
            (Value::F32(x), ValueType::F32) => ValRaw::f32(x),
            (Value::F64(x), ValueType::F64) => ValRaw::f64(x),
            (v, t) => return Err(wrong_result(name, i, v, t)),
        });
    }
    Ok(())
}

/// Hands one import call to the run's [`Host`].
#[inline(always)]
fn dispatch(
    caller: &mut wasmtime::Caller<'_, StoreData>,
    index: usize,
    name: &Arc<str>,
    args: &[Value],
    out: &mut [Value],
) -> wasmtime::Result<()> {
    let data = caller.data();
    let (memory, host) = (data.memory, data.host);
    let Some(host) = host else {
        return Err(wasmtime::Error::new(HostFailure(format!(
            "import {name} called outside of run()"
        ))));
    };
    // SAFETY: set by `call_guest` for the duration of the call; the host
    // lives outside the store, so the store borrowed by `memory` is not it.
    let host = unsafe { &mut *host.as_ptr() };
    let mut memory = GuestMemory {
        memory,
        store: caller.as_context_mut(),
    };
    host.call(index, args, out, &mut memory)
        .map_err(|e| wasmtime::Error::new(HostFailure(e.0)))
}

#[cold]
fn wrong_result(name: &str, i: usize, v: Value, t: ValueType) -> wasmtime::Error {
    wasmtime::Error::new(HostFailure(format!(
        "import {name} returned {} for result {i}, expected {}",
        v.ty().as_str(),
        t.as_str()
    )))
}

fn raw_bits(v: Val) -> u64 {
    match v {
        Val::I32(x) => x as u32 as u64,
        Val::I64(x) => x as u64,
        Val::F32(x) => x as u64,
        Val::F64(x) => x,
        _ => 0,
    }
}

fn from_bits(ty: &ValType, bits: u64) -> Val {
    match ty {
        ValType::I32 => Val::I32(bits as u32 as i32),
        ValType::I64 => Val::I64(bits as i64),
        ValType::F32 => Val::F32(bits as u32),
        _ => Val::F64(bits),
    }
}

fn internal(e: wasmtime::Error) -> Error {
    Error::Internal(format!("{e:#}"))
}

fn map_trap(e: wasmtime::Error) -> Error {
    if let Some(h) = e.downcast_ref::<HostFailure>() {
        return Error::HostError(h.0.clone());
    }
    let bt = e.downcast_ref::<WasmBacktrace>();
    let innermost = bt
        .and_then(|b| b.frames().first())
        .and_then(|f| f.func_name().map(|s| s.to_string()));
    let backtrace = bt.map(|b| b.to_string()).unwrap_or_default();
    let kind = match innermost.as_deref() {
        Some(names::TRAP_CALL_DEPTH) => TrapKind::CallDepthExceeded,
        Some(names::TRAP_CORRUPT) => TrapKind::CorruptUnwindState,
        _ => match e.downcast_ref::<Trap>() {
            Some(Trap::UnreachableCodeReached) => TrapKind::Unreachable,
            Some(Trap::MemoryOutOfBounds) => TrapKind::MemoryOutOfBounds,
            Some(Trap::TableOutOfBounds) => TrapKind::TableOutOfBounds,
            Some(Trap::IndirectCallToNull) => TrapKind::IndirectCallToNull,
            Some(Trap::BadSignature) => TrapKind::BadSignature,
            Some(Trap::IntegerOverflow) => TrapKind::IntegerOverflow,
            Some(Trap::IntegerDivisionByZero) => TrapKind::IntegerDivisionByZero,
            Some(Trap::BadConversionToInteger) => TrapKind::BadConversionToInteger,
            Some(Trap::StackOverflow) => TrapKind::StackOverflow,
            Some(_) => TrapKind::Other,
            None => {
                return Error::Internal(format!("{e:#}"));
            }
        },
    };
    Error::Trap { kind, backtrace }
}

/// `Error::AddressSpace` when `e` is the OS refusing to map a memory
/// (wasmtime's context for a failed reservation: "mmap failed to reserve
/// ..." or "... to allocate ..."): the process is out of address space (or
/// under an address-space limit such as `ulimit -v`), which live executors
/// fill first, each reserving about 8 GiB.
fn address_space_error(e: &wasmtime::Error) -> Option<Error> {
    e.chain()
        .any(|cause| cause.to_string().starts_with("mmap failed to "))
        .then(|| Error::AddressSpace(format!("{e:#}")))
}

fn instantiate(
    program: &Arc<Program>,
    config: &ExecutorConfig,
    entry: &str,
    wasi: Option<Box<Wasi>>,
) -> Result<Live> {
    let info = program.info();
    let engine = program.engine();
    let mut store = Store::new(
        engine,
        StoreData {
            limiter: Limiter {
                memory_limit_bytes: (config.memory_limit_pages * PAGE) as usize,
                instantiated: false,
            },
            host: None,
            memory: None,
            gas: None,
            run_base: (0, 0),
            wasi,
            memory_touched: false,
        },
    );
    let serve_wasi = store.data().wasi.is_some();
    store.limiter(|d| &mut d.limiter);
    let module = program.module();
    let mut imports: Vec<Extern> = Vec::new();
    let mut func_index = 0usize;
    for imp in module.imports() {
        match imp.ty() {
            wasmtime::ExternType::Func(_) => {
                let fi = &info.func_imports[func_index];
                let index = func_index;
                func_index += 1;
                let ty = FuncType::new(
                    engine,
                    fi.params.iter().map(|t| wasm_type(*t)),
                    fi.results.iter().map(|t| wasm_type(*t)),
                );
                if serve_wasi && fi.module == wasi::MODULE {
                    let f = wasi::check_import(&fi.name, &fi.params, &fi.results)?;
                    let func = Func::new(&mut store, ty, move |mut caller, args, results| {
                        call_wasi(&mut caller, f, args, results)
                    });
                    imports.push(func.into());
                    continue;
                }
                let name: Arc<str> = format!("{}.{}", fi.module, fi.name).into();
                let func = host_import(&mut store, ty, index, name, &fi.params, &fi.results);
                imports.push(func.into());
            }
            wasmtime::ExternType::Memory(mt) => {
                let limit = config.memory_limit_pages;
                let max = mt.maximum().map(|m| m.min(limit)).unwrap_or(limit);
                let ty = MemoryType::new(mt.minimum() as u32, Some(max as u32));
                let mem = Memory::new(&mut store, ty).map_err(|e| {
                    address_space_error(&e).unwrap_or_else(|| {
                        Error::MemoryLimit(format!("cannot create the guest memory: {e}"))
                    })
                })?;
                imports.push(mem.into());
            }
            other => {
                return Err(Error::UnsupportedModule(format!(
                    "the module imports {}.{} ({other:?})",
                    imp.module(),
                    imp.name()
                )))
            }
        }
    }
    let instance = Instance::new(&mut store, module, &imports).map_err(|e| {
        if e.downcast_ref::<Trap>().is_some() {
            // An active segment out of bounds traps at instantiation.
            map_trap(e)
        } else if let Some(t) = e.downcast_ref::<TableTooLarge>() {
            Error::UnsupportedModule(t.to_string())
        } else if let Some(error) = address_space_error(&e) {
            error
        } else if format!("{e:#}").contains("memory") {
            // A memory limit.
            Error::MemoryLimit(format!("{e:#}"))
        } else {
            Error::Internal(format!("instantiation failed: {e:#}"))
        }
    })?;
    store.data_mut().limiter.instantiated = true;
    let memory = instance.get_memory(&mut store, names::MEMORY);
    store.data_mut().memory = memory;
    store.data_mut().gas = Some(global(&instance, &mut store, names::GAS)?);
    let entry_func = instance
        .get_func(&mut store, entry)
        .ok_or_else(|| Error::EntryNotFound(format!("\"{entry}\"")))?;
    let entry_ty = entry_func.ty(&store);
    if entry_ty.params().len() != 0 {
        return Err(Error::InvalidEntry(format!(
            "the entry export \"{entry}\" takes parameters; it must take none"
        )));
    }
    let entry_results = entry_ty.results().len();
    let globals = (0..info.mutable_globals)
        .map(|i| {
            global(
                &instance,
                &mut store,
                &format!("{}{i}", names::GLOBAL_PREFIX),
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let drop_masks = (0..info.drop_masks)
        .map(|i| {
            global(
                &instance,
                &mut store,
                &format!("{}{i}", names::DROP_MASK_PREFIX),
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let table = if info.mutates_tables {
        match instance.get_table(&mut store, names::TABLE) {
            Some(t) => {
                let funcs = (0..info.table_funcs)
                    .map(|i| {
                        instance
                            .get_func(&mut store, &format!("{}{i}", names::TABLE_FUNC_PREFIX))
                            .ok_or_else(|| Error::Internal("missing table function export".into()))
                    })
                    .collect::<Result<Vec<_>>>()?;
                Some((t, funcs))
            }
            None => None,
        }
    } else {
        None
    };
    Ok(Live {
        table,
        gas: global(&instance, &mut store, names::GAS)?,
        gas_saved: global(&instance, &mut store, names::GAS_SAVED)?,
        state: global(&instance, &mut store, names::STATE)?,
        uw_ptr: global(&instance, &mut store, names::UNWIND_PTR)?,
        depth: global(&instance, &mut store, names::DEPTH)?,
        unwind: instance
            .get_memory(&mut store, names::UNWIND_MEMORY)
            .ok_or_else(|| Error::Internal("no unwind memory".into()))?,
        memory,
        globals,
        drop_masks,
        restore_drops: instance
            .get_func(&mut store, names::RESTORE_DROPS)
            .ok_or_else(|| Error::Internal("no restore function".into()))?,
        start: instance.get_func(&mut store, names::START),
        entry: entry_func,
        entry_results,
        nonzero_pages: None,
        wrote: global(&instance, &mut store, names::WROTE)?,
        wrote_clear: true,
        store,
    })
}

/// The trampoline of a WASI import: runs the runtime's implementation with
/// the exact gas used so far, then charges what it moved.
fn call_wasi(
    caller: &mut wasmtime::Caller<'_, StoreData>,
    func: wasi::Func,
    args: &[Val],
    results: &mut [Val],
) -> wasmtime::Result<()> {
    let fail = |m: &str| wasmtime::Error::new(HostFailure(m.to_string()));
    let gas = caller.data().gas.ok_or_else(|| fail("no gas global"))?;
    // The instrumented caller stored its exact balance before the call.
    let balance = val_i64(gas.get(&mut *caller));
    let (base_used, base_balance) = caller.data().run_base;
    let used = base_used.saturating_add(base_balance.saturating_sub(balance).max(0) as u64);
    let args: Vec<Value> = args.iter().map(to_value).collect();
    let memory = caller.data().memory;
    let (mem, data): (&mut [u8], &mut StoreData) = match memory {
        Some(m) => m.data_and_store_mut(&mut *caller),
        None => (&mut [], caller.data_mut()),
    };
    data.memory_touched = true;
    let Some(host) = data.host else {
        return Err(fail("a WASI function was called outside of run()"));
    };
    // SAFETY: set by `call_guest` for the duration of the call.
    let host = unsafe { &mut *host.as_ptr() };
    let wasi = data.wasi.as_mut().ok_or_else(|| fail("WASI is off"))?;
    let mut call = wasi::Call {
        memory: wasi::memory::GuestMemory::new(mem),
        host,
        gas_used: used,
        moved: 0,
    };
    let done = wasi.call(func, &args, &mut call);
    let charge = call.moved.div_ceil(8);
    if charge > 0 {
        let charged = balance.saturating_sub(i64::try_from(charge).unwrap_or(i64::MAX));
        gas.set(&mut *caller, Val::I64(charged))?;
    }
    match done.map_err(|e| wasmtime::Error::new(HostFailure(e.0)))? {
        wasi::Done::Errno(errno) => {
            if let Some(slot) = results.first_mut() {
                *slot = Val::I32(errno as i32);
            }
            Ok(())
        }
        wasi::Done::Exit(code) => Err(wasmtime::Error::new(ProcExit(code))),
    }
}
