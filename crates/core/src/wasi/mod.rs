//! Deterministic WASI preview1: the `wasi_snapshot_preview1` imports of a
//! guest, served by the runtime itself when an executor has WASI on.
//!
//! What a C program compiled for `wasm32-wasi` needs works: arguments and
//! environment, stdin/stdout/stderr (fds 0, 1, 2), clocks, random bytes,
//! `proc_exit`, `sched_yield` and `poll_oneoff` (sleeps). Everything that
//! would reach the host's files, sockets or processes is refused with an
//! errno and never touches the host OS: there are no preopened directories,
//! so `path_*` calls and any fd other than 0–2 fail (`EBADF`), and stdio
//! fds refuse what a terminal cannot do (`ESPIPE` for offsets,
//! `ENOTCAPABLE` otherwise).
//!
//! **Determinism.** With [`ClockMode::Virtual`] (the default) time is gas:
//! the clocks read [`NS_PER_GAS`] nanoseconds per unit of gas used when the
//! call is made (exact: the instrumented caller stores its balance before
//! a WASI call), plus the time slept in `poll_oneoff`, which advances the
//! clock instead of blocking; `CLOCK_REALTIME` starts at [`VIRTUAL_EPOCH_NS`]
//! (2024-01-01T00:00:00Z). `random_get` is xoshiro256** seeded from
//! [`WasiConfig::seed`]. So the same module, inputs and gas slices give
//! byte-identical output and snapshots on every machine. [`ClockMode::Real`]
//! reads the host clocks instead (sleeps still do not block: they advance
//! an offset added to the host time).
//!
//! **Gas.** A WASI call costs what any host import call costs
//! (`CostTable::host_call`) plus 1 per started 8 bytes of guest memory it
//! reads or writes (iovec arrays and subscriptions included), charged from
//! the balance when the call returns; the call itself never pauses.
//!
//! **Memory safety.** Every guest pointer and length is checked
//! ([`memory::GuestMemory`]): a range outside the memory is `EFAULT`, more
//! than [`IOV_MAX`] iovecs is `EINVAL`, and all arithmetic is overflow-safe.

pub mod errno;
pub mod memory;
pub mod rng;

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::runtime::{Host, HostError};
use crate::value::{Value, ValueType};
use errno::*;
use memory::GuestMemory;
use rng::Xoshiro256;

/// `?` for an errno in a function returning [`Done`].
macro_rules! check {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(errno) => return Done::Errno(errno),
        }
    };
}

/// `?` for an errno in a function returning `Result<Done, HostError>`.
macro_rules! check_io {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(errno) => return Ok(Done::Errno(errno)),
        }
    };
}

/// The import module WASI preview1 functions come from.
pub const MODULE: &str = "wasi_snapshot_preview1";
/// Virtual nanoseconds per unit of gas.
pub const NS_PER_GAS: u64 = 1;
/// `CLOCK_REALTIME` of the virtual clock at gas 0: 2024-01-01T00:00:00Z.
pub const VIRTUAL_EPOCH_NS: u64 = 1_704_067_200 * 1_000_000_000;
/// Most iovecs one `fd_read`/`fd_write` takes (wasi-libc's `IOV_MAX`).
pub const IOV_MAX: u32 = 1024;
/// Most bytes one `fd_write` transfers; a longer write is partial (the
/// guest's libc writes the rest with the next call).
pub const MAX_WRITE: u64 = 1 << 20;
/// Most output collected per stream (when no callback takes it); a write
/// beyond it writes what fits, then fails with `ENOSPC`.
pub const MAX_COLLECTED: usize = 64 << 20;
/// Most bytes of arguments (or of environment), NUL terminators included.
pub const MAX_ARGS_BYTES: usize = 1 << 20;
/// Most arguments (or environment entries).
pub const MAX_ARGS: usize = 65536;

/// Where the clocks get their time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClockMode {
    /// Time derived from gas used (deterministic).
    #[default]
    Virtual,
    /// The host's clocks (not deterministic).
    Real,
}

/// Where fd 0 reads from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stdin {
    /// These bytes, then end of file.
    Bytes(Vec<u8>),
    /// [`Host::wasi_stdin`], asked for a chunk whenever the guest reads
    /// and no unread bytes are left.
    Host,
}

/// Where fd 1 or 2 writes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Output {
    /// Kept by the executor ([`crate::Executor::stdout`]) and saved in
    /// snapshots.
    #[default]
    Collect,
    /// Passed to [`Host::wasi_output`] at each write.
    Host,
}

/// WASI settings of an executor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WasiConfig {
    /// The arguments, `args[0]` being the program name (as in `node:wasi`).
    pub args: Vec<String>,
    /// The environment as `KEY=VALUE` strings.
    pub env: Vec<String>,
    pub stdin: Stdin,
    pub stdout: Output,
    pub stderr: Output,
    pub clock: ClockMode,
    /// Seed of the `random_get` generator.
    pub seed: u64,
}

impl Default for WasiConfig {
    fn default() -> Self {
        WasiConfig {
            args: Vec::new(),
            env: Vec::new(),
            stdin: Stdin::Bytes(Vec::new()),
            stdout: Output::Collect,
            stderr: Output::Collect,
            clock: ClockMode::Virtual,
            seed: 0,
        }
    }
}

/// Checks a list of C strings (arguments or environment).
pub(crate) fn check_strings(list: &[String], what: &str) -> Result<()> {
    if list.len() > MAX_ARGS {
        return Err(Error::InvalidArgument(format!(
            "{what}: at most {MAX_ARGS} entries, got {}",
            list.len()
        )));
    }
    if let Some(s) = list.iter().find(|s| s.contains('\0')) {
        return Err(Error::InvalidArgument(format!(
            "{what}: {s:?} contains a NUL character"
        )));
    }
    let total = list.iter().map(|s| s.len() + 1).sum::<usize>();
    if total > MAX_ARGS_BYTES {
        return Err(Error::InvalidArgument(format!(
            "{what}: {total} bytes, more than the limit of {MAX_ARGS_BYTES}"
        )));
    }
    Ok(())
}

impl WasiConfig {
    /// Checks the arguments and environment (no NUL characters, within
    /// [`MAX_ARGS`] and [`MAX_ARGS_BYTES`], every environment entry has a
    /// `=`).
    pub fn validate(&self) -> Result<()> {
        check_strings(&self.args, "args")?;
        check_strings(&self.env, "env")?;
        if let Some(e) = self.env.iter().find(|e| !e.contains('=')) {
            return Err(Error::InvalidArgument(format!(
                "env: entry {e:?} is not KEY=VALUE"
            )));
        }
        Ok(())
    }
}

/// The WASI part of a guest's state, saved in snapshots: what it was
/// started with, what it has not read yet, what it wrote (when collected),
/// the random generator, the time it slept and how it exited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WasiState {
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<String>,
    /// Stdin bytes received but not read yet (from `stdin_pos` on).
    pub(crate) stdin: Vec<u8>,
    pub(crate) stdin_pos: usize,
    pub(crate) rng: Xoshiro256,
    /// Nanoseconds slept in `poll_oneoff`, added to the clocks.
    pub(crate) clock_offset: u64,
    /// Bit `fd` set: stdio fd `fd` was closed by the guest.
    pub(crate) closed: u8,
    pub(crate) exit_code: Option<u32>,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
}

impl WasiState {
    /// The state a fresh executor starts with.
    pub fn new(config: &WasiConfig) -> WasiState {
        WasiState {
            args: config.args.clone(),
            env: config.env.clone(),
            stdin: match &config.stdin {
                Stdin::Bytes(b) => b.clone(),
                Stdin::Host => Vec::new(),
            },
            stdin_pos: 0,
            rng: Xoshiro256::from_seed(config.seed),
            clock_offset: 0,
            closed: 0,
            exit_code: None,
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }

    /// Builds a state from its saved parts (snapshot readers); checks them.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        args: Vec<String>,
        env: Vec<String>,
        stdin: Vec<u8>,
        rng: [u64; 4],
        clock_offset: u64,
        closed: u8,
        exit_code: Option<u32>,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
    ) -> Result<WasiState> {
        let corrupt = |m: &str| Error::SnapshotCorrupt(format!("WASI state: {m}"));
        check_strings(&args, "args").map_err(|_| corrupt("invalid arguments"))?;
        check_strings(&env, "env").map_err(|_| corrupt("invalid environment"))?;
        if closed > 0b111 {
            return Err(corrupt("invalid closed-fd mask"));
        }
        if stdout.len() > MAX_COLLECTED || stderr.len() > MAX_COLLECTED {
            return Err(corrupt("collected output above the limit"));
        }
        let rng = Xoshiro256::from_state(rng).ok_or_else(|| corrupt("zero random state"))?;
        Ok(WasiState {
            args,
            env,
            stdin,
            stdin_pos: 0,
            rng,
            clock_offset,
            closed,
            exit_code,
            stdout,
            stderr,
        })
    }

    /// The same state with the read stdin bytes dropped (what snapshots
    /// hold).
    pub(crate) fn compacted(&self) -> WasiState {
        let mut s = self.clone();
        s.stdin = self.unread_stdin().to_vec();
        s.stdin_pos = 0;
        s
    }

    pub fn args(&self) -> &[String] {
        &self.args
    }
    pub fn env(&self) -> &[String] {
        &self.env
    }
    /// Stdin bytes not read yet.
    pub fn unread_stdin(&self) -> &[u8] {
        self.stdin.get(self.stdin_pos..).unwrap_or(&[])
    }
    pub fn random_state(&self) -> [u64; 4] {
        self.rng.state()
    }
    /// Nanoseconds the guest slept (added to its clocks).
    pub fn clock_offset(&self) -> u64 {
        self.clock_offset
    }
    /// Bit `fd` set: stdio fd `fd` was closed.
    pub fn closed_fds(&self) -> u8 {
        self.closed
    }
    /// The status passed to `proc_exit`, or 0 once the entry returned.
    pub fn exit_code(&self) -> Option<u32> {
        self.exit_code
    }
    /// Collected stdout.
    pub fn stdout(&self) -> &[u8] {
        &self.stdout
    }
    /// Collected stderr.
    pub fn stderr(&self) -> &[u8] {
        &self.stderr
    }
}

/// A WASI preview1 function the runtime implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Func {
    ArgsGet,
    ArgsSizesGet,
    EnvironGet,
    EnvironSizesGet,
    ClockResGet,
    ClockTimeGet,
    FdClose,
    FdFdstatGet,
    FdFilestatGet,
    FdPrestatGet,
    FdPrestatDirName,
    FdRead,
    FdSeek,
    FdTell,
    FdWrite,
    PollOneoff,
    ProcExit,
    ProcRaise,
    RandomGet,
    SchedYield,
    /// Refused: `EBADF` unless every fd argument (at these positions) is an
    /// open stdio fd, then `stdio`.
    Refused {
        fds: &'static [usize],
        stdio: Errno,
    },
}

const I: ValueType = ValueType::I32;
const L: ValueType = ValueType::I64;

const fn refused(fds: &'static [usize], stdio: Errno) -> Func {
    Func::Refused { fds, stdio }
}

/// Every WASI preview1 function: name, parameters, implementation. All
/// return an errno (`i32`) except `proc_exit`.
const FUNCTIONS: &[(&str, &[ValueType], Func)] = &[
    ("args_get", &[I, I], Func::ArgsGet),
    ("args_sizes_get", &[I, I], Func::ArgsSizesGet),
    ("environ_get", &[I, I], Func::EnvironGet),
    ("environ_sizes_get", &[I, I], Func::EnvironSizesGet),
    ("clock_res_get", &[I, I], Func::ClockResGet),
    ("clock_time_get", &[I, L, I], Func::ClockTimeGet),
    ("fd_advise", &[I, L, L, I], refused(&[0], ESPIPE)),
    ("fd_allocate", &[I, L, L], refused(&[0], ESPIPE)),
    ("fd_close", &[I], Func::FdClose),
    ("fd_datasync", &[I], refused(&[0], ENOTCAPABLE)),
    ("fd_fdstat_get", &[I, I], Func::FdFdstatGet),
    ("fd_fdstat_set_flags", &[I, I], refused(&[0], ENOTCAPABLE)),
    (
        "fd_fdstat_set_rights",
        &[I, L, L],
        refused(&[0], ENOTCAPABLE),
    ),
    ("fd_filestat_get", &[I, I], Func::FdFilestatGet),
    ("fd_filestat_set_size", &[I, L], refused(&[0], ENOTCAPABLE)),
    (
        "fd_filestat_set_times",
        &[I, L, L, I],
        refused(&[0], ENOTCAPABLE),
    ),
    ("fd_pread", &[I, I, I, L, I], refused(&[0], ESPIPE)),
    ("fd_prestat_get", &[I, I], Func::FdPrestatGet),
    ("fd_prestat_dir_name", &[I, I, I], Func::FdPrestatDirName),
    ("fd_pwrite", &[I, I, I, L, I], refused(&[0], ESPIPE)),
    ("fd_read", &[I, I, I, I], Func::FdRead),
    ("fd_readdir", &[I, I, I, L, I], refused(&[0], ENOTCAPABLE)),
    ("fd_renumber", &[I, I], refused(&[0, 1], ENOTCAPABLE)),
    ("fd_seek", &[I, L, I, I], Func::FdSeek),
    ("fd_sync", &[I], refused(&[0], ENOTCAPABLE)),
    ("fd_tell", &[I, I], Func::FdTell),
    ("fd_write", &[I, I, I, I], Func::FdWrite),
    (
        "path_create_directory",
        &[I, I, I],
        refused(&[0], ENOTCAPABLE),
    ),
    (
        "path_filestat_get",
        &[I, I, I, I, I],
        refused(&[0], ENOTCAPABLE),
    ),
    (
        "path_filestat_set_times",
        &[I, I, I, I, L, L, I],
        refused(&[0], ENOTCAPABLE),
    ),
    (
        "path_link",
        &[I, I, I, I, I, I, I],
        refused(&[0, 4], ENOTCAPABLE),
    ),
    (
        "path_open",
        &[I, I, I, I, I, L, L, I, I],
        refused(&[0], ENOTCAPABLE),
    ),
    (
        "path_readlink",
        &[I, I, I, I, I, I],
        refused(&[0], ENOTCAPABLE),
    ),
    (
        "path_remove_directory",
        &[I, I, I],
        refused(&[0], ENOTCAPABLE),
    ),
    (
        "path_rename",
        &[I, I, I, I, I, I],
        refused(&[0, 3], ENOTCAPABLE),
    ),
    ("path_symlink", &[I, I, I, I, I], refused(&[2], ENOTCAPABLE)),
    ("path_unlink_file", &[I, I, I], refused(&[0], ENOTCAPABLE)),
    ("poll_oneoff", &[I, I, I, I], Func::PollOneoff),
    ("proc_exit", &[I], Func::ProcExit),
    ("proc_raise", &[I], Func::ProcRaise),
    ("random_get", &[I, I], Func::RandomGet),
    ("sched_yield", &[], Func::SchedYield),
    ("sock_accept", &[I, I, I], refused(&[0], ENOTCAPABLE)),
    ("sock_recv", &[I, I, I, I, I, I], refused(&[0], ENOTCAPABLE)),
    ("sock_send", &[I, I, I, I, I], refused(&[0], ENOTCAPABLE)),
    ("sock_shutdown", &[I, I], refused(&[0], ENOTCAPABLE)),
];

/// The function named `name` with its parameter and result types.
pub(crate) fn lookup(name: &str) -> Option<(Func, &'static [ValueType], &'static [ValueType])> {
    FUNCTIONS
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|(_, p, f)| {
            let results: &'static [ValueType] = if *f == Func::ProcExit { &[] } else { &[I] };
            (*f, *p, results)
        })
}

/// The names of all WASI preview1 functions (all are served).
pub fn function_names() -> impl Iterator<Item = &'static str> {
    FUNCTIONS.iter().map(|(n, ..)| *n)
}

/// The parameter and result types of the WASI preview1 function `name`.
pub fn signature(name: &str) -> Option<(&'static [ValueType], &'static [ValueType])> {
    lookup(name).map(|(_, params, results)| (params, results))
}

/// Checks an import from [`MODULE`]: a known function with its signature.
pub(crate) fn check_import(
    name: &str,
    params: &[ValueType],
    results: &[ValueType],
) -> Result<Func> {
    let show = |p: &[ValueType], r: &[ValueType]| {
        let list = |t: &[ValueType]| t.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ");
        format!("({}) -> ({})", list(p), list(r))
    };
    let Some((func, want_params, want_results)) = lookup(name) else {
        return Err(Error::ImportMissing(format!(
            "{MODULE}.{name} is not a WASI preview1 function"
        )));
    };
    if params != want_params || results != want_results {
        return Err(Error::ImportType(format!(
            "{MODULE}.{name} is imported as {}, but WASI preview1 defines it as {}",
            show(params, results),
            show(want_params, want_results)
        )));
    }
    Ok(func)
}

/// How a WASI call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Done {
    /// Returned this errno to the guest.
    Errno(Errno),
    /// `proc_exit(code)`: the run ends.
    Exit(u32),
}

/// What one WASI call works with.
pub(crate) struct Call<'a, 'm> {
    pub memory: GuestMemory<'m>,
    pub host: &'a mut dyn Host,
    /// Gas used by the guest when it made the call (exact).
    pub gas_used: u64,
    /// Bytes of guest memory the call read or wrote (its gas charge is one
    /// per started 8).
    pub moved: u64,
}

/// The WASI implementation of one executor: its modes and its state.
#[derive(Debug)]
pub(crate) struct Wasi {
    pub clock: ClockMode,
    pub stdin_from_host: bool,
    pub stdout_to_host: bool,
    pub stderr_to_host: bool,
    pub state: WasiState,
}

// Clock ids.
const CLOCK_REALTIME: u32 = 0;
const CLOCK_MONOTONIC: u32 = 1;
const CLOCK_PROCESS_CPUTIME_ID: u32 = 2;
const CLOCK_THREAD_CPUTIME_ID: u32 = 3;

// File types and rights (fdstat).
const FILETYPE_CHARACTER_DEVICE: u8 = 2;
const RIGHT_FD_READ: u64 = 1 << 1;
const RIGHT_FD_WRITE: u64 = 1 << 6;
const RIGHT_POLL_FD_READWRITE: u64 = 1 << 27;

// poll_oneoff.
const EVENTTYPE_CLOCK: u8 = 0;
const EVENTTYPE_FD_READ: u8 = 1;
const EVENTTYPE_FD_WRITE: u8 = 2;
const SUBCLOCKFLAG_ABSTIME: u16 = 1;
const SUBSCRIPTION_SIZE: u64 = 48;
const EVENT_SIZE: u64 = 32;

fn process_start() -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now)
}

fn arg_u32(args: &[Value], i: usize) -> u32 {
    match args.get(i) {
        Some(Value::I32(v)) => *v as u32,
        _ => 0,
    }
}

fn strings_sizes(cx: &mut Call, list: &[String], count_ptr: u32, size_ptr: u32) -> Done {
    let size: usize = list.iter().map(|s| s.len() + 1).sum();
    check!(cx.memory.range(count_ptr, 4));
    check!(cx.memory.range(size_ptr, 4));
    check!(cx.memory.write_u32(count_ptr, list.len() as u32));
    check!(cx.memory.write_u32(size_ptr, size as u32));
    cx.moved += 8;
    Done::Errno(SUCCESS)
}

fn strings_get(cx: &mut Call, list: &[String], ptrs: u32, buf: u32) -> Done {
    let size: u64 = list.iter().map(|s| s.len() as u64 + 1).sum();
    check!(cx.memory.check_array(ptrs, list.len() as u64, 4));
    check!(cx.memory.range(buf, size));
    let mut at = buf;
    for (i, s) in list.iter().enumerate() {
        // In range: checked above, so none of these fail or overflow.
        check!(cx.memory.write_u32(ptrs + 4 * i as u32, at));
        check!(cx.memory.write(at, s.as_bytes()));
        check!(cx.memory.write(at + s.len() as u32, &[0]));
        at += s.len() as u32 + 1;
    }
    cx.moved += size + 4 * list.len() as u64;
    Done::Errno(SUCCESS)
}

impl Wasi {
    pub fn new(config: &WasiConfig) -> Wasi {
        Wasi::with_state(config, WasiState::new(config))
    }

    /// The implementation for `config` continuing from `state` (restored
    /// from a snapshot: its arguments, unread stdin, generator, clock and
    /// output replace the configured ones).
    pub fn with_state(config: &WasiConfig, state: WasiState) -> Wasi {
        Wasi {
            clock: config.clock,
            stdin_from_host: config.stdin == Stdin::Host,
            stdout_to_host: config.stdout == Output::Host,
            stderr_to_host: config.stderr == Output::Host,
            state,
        }
    }

    fn is_open(&self, fd: u32) -> bool {
        fd <= 2 && self.state.closed & (1 << fd) == 0
    }

    /// Runs `func` with the guest's `args`.
    pub fn call(
        &mut self,
        func: Func,
        args: &[Value],
        cx: &mut Call<'_, '_>,
    ) -> std::result::Result<Done, HostError> {
        let a = |i| arg_u32(args, i);
        match func {
            Func::ArgsGet => Ok(strings_get(cx, &self.state.args, a(0), a(1))),
            Func::ArgsSizesGet => Ok(strings_sizes(cx, &self.state.args, a(0), a(1))),
            Func::EnvironGet => Ok(strings_get(cx, &self.state.env, a(0), a(1))),
            Func::EnvironSizesGet => Ok(strings_sizes(cx, &self.state.env, a(0), a(1))),
            Func::ClockResGet => Ok(self.clock_res_get(cx, a(0), a(1))),
            Func::ClockTimeGet => Ok(self.clock_time_get(cx, a(0), a(2))),
            Func::FdClose => Ok(Done::Errno(self.fd_close(a(0)))),
            Func::FdFdstatGet => Ok(self.fd_fdstat_get(cx, a(0), a(1))),
            Func::FdFilestatGet => Ok(self.fd_filestat_get(cx, a(0), a(1))),
            // No preopened directories: the guest's libc scans from fd 3
            // until EBADF.
            Func::FdPrestatGet | Func::FdPrestatDirName => Ok(Done::Errno(EBADF)),
            Func::FdRead => self.fd_read(cx, a(0), a(1), a(2), a(3)),
            Func::FdSeek => Ok(Done::Errno(self.seek_errno(a(0), a(2)))),
            Func::FdTell => Ok(Done::Errno(self.seek_errno(a(0), 1))),
            Func::FdWrite => self.fd_write(cx, a(0), a(1), a(2), a(3)),
            Func::PollOneoff => Ok(self.poll_oneoff(cx, a(0), a(1), a(2), a(3))),
            Func::ProcExit => {
                self.state.exit_code = Some(a(0));
                Ok(Done::Exit(a(0)))
            }
            Func::ProcRaise => Ok(Done::Errno(ENOSYS)),
            Func::RandomGet => Ok(self.random_get(cx, a(0), a(1))),
            Func::SchedYield => Ok(Done::Errno(SUCCESS)),
            Func::Refused { fds, stdio } => {
                let all_open = fds.iter().all(|&i| self.is_open(a(i)));
                Ok(Done::Errno(if all_open { stdio } else { EBADF }))
            }
        }
    }

    /// The time of clock `id` when the call was made.
    fn now(&self, id: u32, gas_used: u64) -> std::result::Result<u64, Errno> {
        let offset = self.state.clock_offset;
        let gas_ns = gas_used.saturating_mul(NS_PER_GAS);
        match (id, self.clock) {
            (CLOCK_REALTIME, ClockMode::Virtual) => Ok(VIRTUAL_EPOCH_NS
                .saturating_add(gas_ns)
                .saturating_add(offset)),
            (CLOCK_MONOTONIC, ClockMode::Virtual) => Ok(gas_ns.saturating_add(offset)),
            (CLOCK_REALTIME, ClockMode::Real) => {
                let host = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_nanos().min(u64::MAX as u128) as u64)
                    .unwrap_or(0);
                Ok(host.saturating_add(offset))
            }
            (CLOCK_MONOTONIC, ClockMode::Real) => {
                let host = process_start().elapsed().as_nanos().min(u64::MAX as u128) as u64;
                Ok(host.saturating_add(offset))
            }
            // CPU time is the gas the guest used, in both modes.
            (CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID, _) => Ok(gas_ns),
            _ => Err(EINVAL),
        }
    }

    fn clock_res_get(&self, cx: &mut Call, id: u32, ptr: u32) -> Done {
        check!(self.now(id, 0));
        check!(cx.memory.write_u64(ptr, NS_PER_GAS));
        cx.moved += 8;
        Done::Errno(SUCCESS)
    }

    fn clock_time_get(&self, cx: &mut Call, id: u32, ptr: u32) -> Done {
        let t = check!(self.now(id, cx.gas_used));
        check!(cx.memory.write_u64(ptr, t));
        cx.moved += 8;
        Done::Errno(SUCCESS)
    }

    fn fd_close(&mut self, fd: u32) -> Errno {
        if !self.is_open(fd) {
            return EBADF;
        }
        self.state.closed |= 1 << fd;
        SUCCESS
    }

    fn fd_fdstat_get(&self, cx: &mut Call, fd: u32, ptr: u32) -> Done {
        if !self.is_open(fd) {
            return Done::Errno(EBADF);
        }
        let rights = RIGHT_POLL_FD_READWRITE
            | if fd == 0 {
                RIGHT_FD_READ
            } else {
                RIGHT_FD_WRITE
            };
        let mut stat = [0u8; 24];
        stat[0] = FILETYPE_CHARACTER_DEVICE;
        stat[8..16].copy_from_slice(&rights.to_le_bytes());
        check!(cx.memory.write(ptr, &stat));
        cx.moved += 24;
        Done::Errno(SUCCESS)
    }

    fn fd_filestat_get(&self, cx: &mut Call, fd: u32, ptr: u32) -> Done {
        if !self.is_open(fd) {
            return Done::Errno(EBADF);
        }
        let mut stat = [0u8; 64];
        stat[16] = FILETYPE_CHARACTER_DEVICE;
        check!(cx.memory.write(ptr, &stat));
        cx.moved += 64;
        Done::Errno(SUCCESS)
    }

    fn seek_errno(&self, fd: u32, whence: u32) -> Errno {
        if !self.is_open(fd) {
            EBADF
        } else if whence > 2 {
            EINVAL
        } else {
            ESPIPE
        }
    }

    fn fd_read(
        &mut self,
        cx: &mut Call,
        fd: u32,
        iovs: u32,
        iovs_len: u32,
        nread_ptr: u32,
    ) -> std::result::Result<Done, HostError> {
        if fd != 0 || !self.is_open(fd) {
            return Ok(Done::Errno(EBADF));
        }
        if iovs_len > IOV_MAX {
            return Ok(Done::Errno(EINVAL));
        }
        let list = check_io!(cx.memory.iovecs(iovs, iovs_len));
        check_io!(cx.memory.range(nread_ptr, 4));
        cx.moved += iovs_len as u64 * 8 + 4;
        let wanted: u64 = list.iter().map(|(_, len)| *len as u64).sum();
        if wanted > 0 && self.state.unread_stdin().is_empty() && self.stdin_from_host {
            if let Some(chunk) = cx.host.wasi_stdin(cx.memory.bytes_mut())? {
                self.state.stdin = chunk;
                self.state.stdin_pos = 0;
            }
        }
        let mut total = 0u64;
        for (buf, len) in list {
            let unread = self.state.unread_stdin();
            if unread.is_empty() {
                break;
            }
            let n = (len as usize).min(unread.len());
            let (start, end) = (self.state.stdin_pos, self.state.stdin_pos + n);
            check_io!(cx.memory.write(buf, &self.state.stdin[start..end]));
            self.state.stdin_pos = end;
            total += n as u64;
        }
        if self.state.unread_stdin().is_empty() {
            self.state.stdin = Vec::new();
            self.state.stdin_pos = 0;
        }
        check_io!(cx.memory.write_u32(nread_ptr, total as u32));
        cx.moved += total;
        Ok(Done::Errno(SUCCESS))
    }

    fn fd_write(
        &mut self,
        cx: &mut Call,
        fd: u32,
        iovs: u32,
        iovs_len: u32,
        nwritten_ptr: u32,
    ) -> std::result::Result<Done, HostError> {
        if !(1..=2).contains(&fd) || !self.is_open(fd) {
            return Ok(Done::Errno(EBADF));
        }
        if iovs_len > IOV_MAX {
            return Ok(Done::Errno(EINVAL));
        }
        let list = check_io!(cx.memory.iovecs(iovs, iovs_len));
        check_io!(cx.memory.range(nwritten_ptr, 4));
        cx.moved += iovs_len as u64 * 8 + 4;
        let to_host = if fd == 1 {
            self.stdout_to_host
        } else {
            self.stderr_to_host
        };
        let room = if to_host {
            MAX_WRITE
        } else {
            let kept = if fd == 1 {
                &self.state.stdout
            } else {
                &self.state.stderr
            };
            MAX_WRITE.min(MAX_COLLECTED.saturating_sub(kept.len()) as u64)
        };
        let wanted: u64 = list.iter().map(|(_, len)| *len as u64).sum();
        let mut data = Vec::new();
        for (buf, len) in list {
            let take = (len as u64).min(room - data.len() as u64);
            data.extend_from_slice(check_io!(cx.memory.slice(buf, take)));
            if data.len() as u64 == room {
                break;
            }
        }
        if data.is_empty() && wanted > 0 {
            // Only a full collection buffer leaves no room at all.
            return Ok(Done::Errno(ENOSPC));
        }
        cx.moved += data.len() as u64;
        if !data.is_empty() {
            if to_host {
                cx.host.wasi_output(fd, &data, cx.memory.bytes_mut())?;
            } else if fd == 1 {
                self.state.stdout.extend_from_slice(&data);
            } else {
                self.state.stderr.extend_from_slice(&data);
            }
        }
        check_io!(cx.memory.write_u32(nwritten_ptr, data.len() as u32));
        Ok(Done::Errno(SUCCESS))
    }

    fn random_get(&mut self, cx: &mut Call, buf: u32, len: u32) -> Done {
        let out = check!(cx.memory.slice_mut(buf, len as u64));
        self.state.rng.fill(out);
        cx.moved += len as u64;
        Done::Errno(SUCCESS)
    }

    /// Clock subscriptions sleep: the clocks jump to the earliest deadline
    /// (nothing blocks). Fd subscriptions are answered at once: stdin is
    /// readable (with the bytes buffered so far), stdout and stderr are
    /// writable, other fds get `EBADF`.
    fn poll_oneoff(
        &mut self,
        cx: &mut Call,
        input: u32,
        output: u32,
        n: u32,
        nev_ptr: u32,
    ) -> Done {
        if n == 0 {
            return Done::Errno(EINVAL);
        }
        check!(cx.memory.check_array(input, n as u64, SUBSCRIPTION_SIZE));
        check!(cx.memory.check_array(output, n as u64, EVENT_SIZE));
        check!(cx.memory.range(nev_ptr, 4));
        cx.moved += n as u64 * (SUBSCRIPTION_SIZE + EVENT_SIZE) + 4;

        struct Event {
            userdata: u64,
            error: Errno,
            kind: u8,
            nbytes: u64,
        }
        // Ready events, and clock subscriptions with their remaining time.
        let mut ready: Vec<Event> = Vec::new();
        let mut clocks: Vec<(u64, u64)> = Vec::new();
        for i in 0..n as u64 {
            // In range: checked above.
            let at = (input as u64 + i * SUBSCRIPTION_SIZE) as u32;
            let userdata = check!(cx.memory.read_u64(at));
            let tag = check!(cx.memory.read_u8(at + 8));
            match tag {
                EVENTTYPE_CLOCK => {
                    let id = check!(cx.memory.read_u32(at + 16));
                    let timeout = check!(cx.memory.read_u64(at + 24));
                    let flags = check!(cx.memory.read_u16(at + 40));
                    match self.now(id, cx.gas_used) {
                        Ok(now) => {
                            let remaining = if flags & SUBCLOCKFLAG_ABSTIME != 0 {
                                timeout.saturating_sub(now)
                            } else {
                                timeout
                            };
                            clocks.push((userdata, remaining));
                        }
                        Err(e) => ready.push(Event {
                            userdata,
                            error: e,
                            kind: tag,
                            nbytes: 0,
                        }),
                    }
                }
                EVENTTYPE_FD_READ | EVENTTYPE_FD_WRITE => {
                    let fd = check!(cx.memory.read_u32(at + 16));
                    let ok = self.is_open(fd) && ((fd == 0) == (tag == EVENTTYPE_FD_READ));
                    ready.push(Event {
                        userdata,
                        error: if ok { SUCCESS } else { EBADF },
                        kind: tag,
                        nbytes: if ok && fd == 0 {
                            self.state.unread_stdin().len() as u64
                        } else {
                            0
                        },
                    });
                }
                _ => ready.push(Event {
                    userdata,
                    error: EINVAL,
                    kind: tag,
                    nbytes: 0,
                }),
            }
        }
        // Sleep until the earliest clock, unless something is ready now.
        let wait = if ready.is_empty() {
            clocks.iter().map(|(_, r)| *r).min().unwrap_or(0)
        } else {
            0
        };
        self.state.clock_offset = self.state.clock_offset.saturating_add(wait);
        for (userdata, remaining) in clocks {
            if remaining <= wait {
                ready.push(Event {
                    userdata,
                    error: SUCCESS,
                    kind: EVENTTYPE_CLOCK,
                    nbytes: 0,
                });
            }
        }
        for (i, e) in ready.iter().enumerate() {
            let mut event = [0u8; EVENT_SIZE as usize];
            event[0..8].copy_from_slice(&e.userdata.to_le_bytes());
            event[8..10].copy_from_slice(&e.error.to_le_bytes());
            event[10] = e.kind;
            event[16..24].copy_from_slice(&e.nbytes.to_le_bytes());
            check!(cx
                .memory
                .write((output as u64 + i as u64 * EVENT_SIZE) as u32, &event));
        }
        check!(cx.memory.write_u32(nev_ptr, ready.len() as u32));
        Done::Errno(SUCCESS)
    }
}
