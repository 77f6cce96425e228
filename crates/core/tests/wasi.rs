//! WASI preview1: the C programs and the Rust program of `examples/wasi/`
//! run, pause, snapshot and resume with identical output (the Rust one's
//! the same as natively); the clock is exact gas; hostile calls get
//! errnos; the WASI state round-trips through both snapshot forms.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::Rng;

use wasm_sandbox_core::wasi::{ClockMode, Output, Stdin, WasiConfig, NS_PER_GAS, VIRTUAL_EPOCH_NS};
use wasm_sandbox_core::{
    Executor, ExecutorConfig, GuestMemory, Host, HostError, NoHost, Program, ProgramOptions,
    RunOutcome, Snapshot, Status, TrapKind, Value, ValueType,
};

fn example(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/wasi")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load(wasm: &[u8]) -> Arc<Program> {
    Program::load(wasm, &ProgramOptions::default()).unwrap()
}

fn wat_program(text: &str) -> Arc<Program> {
    load(&wat::parse_str(text).unwrap())
}

fn config() -> ExecutorConfig {
    ExecutorConfig {
        memory_limit_pages: 256,
        entry: None,
    }
}

fn wasi_executor(program: &Arc<Program>, wasi: &WasiConfig) -> Executor {
    Executor::with_wasi(program.clone(), config(), Some(wasi.clone())).unwrap()
}

/// What a finished run left behind.
#[derive(Debug, PartialEq, Eq)]
struct Finished {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    exit_code: Option<u32>,
    gas_used: u64,
}

fn finished(ex: &Executor) -> Finished {
    assert_eq!(ex.status(), Status::Finished);
    Finished {
        stdout: ex.stdout().unwrap().to_vec(),
        stderr: ex.stderr().unwrap().to_vec(),
        exit_code: ex.exit_code(),
        gas_used: ex.gas_used(),
    }
}

fn run_whole(program: &Arc<Program>, wasi: &WasiConfig) -> Finished {
    let mut ex = wasi_executor(program, wasi);
    assert_eq!(
        ex.run(u64::MAX / 4, &mut NoHost).unwrap(),
        RunOutcome::Finished
    );
    finished(&ex)
}

/// Runs in `slice`-gas steps; at every pause the state moves through a
/// binary (odd pauses: JSON) snapshot into a fresh executor. Returns the
/// result and the number of pauses.
fn run_sliced(program: &Arc<Program>, wasi: &WasiConfig, slice: u64) -> (Finished, usize) {
    let mut ex = wasi_executor(program, wasi);
    let mut pauses = 0;
    while ex.run(slice, &mut NoHost).unwrap() == RunOutcome::Paused {
        pauses += 1;
        let snap = ex.snapshot().unwrap();
        let back = if pauses % 2 == 0 {
            Snapshot::from_bytes(&snap.to_bytes()).unwrap()
        } else {
            Snapshot::from_json(&snap.to_json()).unwrap()
        };
        assert_eq!(back, snap);
        let mut next = wasi_executor(program, wasi);
        next.restore(&back).unwrap();
        ex = next;
    }
    (finished(&ex), pauses)
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Each program gives the same output, exit code and gas uninterrupted
/// and in 1,000-gas slices with a snapshot at every pause.
fn same_sliced(name: &str, wasi: WasiConfig) -> Finished {
    let program = load(&example(name));
    let whole = run_whole(&program, &wasi);
    let (sliced, pauses) = run_sliced(&program, &wasi, 1000);
    assert!(pauses >= 10, "{name}: only {pauses} pauses");
    assert_eq!(
        String::from_utf8_lossy(&sliced.stdout),
        String::from_utf8_lossy(&whole.stdout),
        "{name}: stdout differs"
    );
    assert_eq!(sliced, whole, "{name}");
    whole
}

#[test]
fn stdio_program_prints_the_same_sliced() {
    let out = same_sliced("stdio", WasiConfig::default());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("stdio: start\nline    0: 00000000 fizz  |  0.00|a\n"));
    assert!(text.ends_with("stdio: end\n"));
    assert_eq!(text.lines().count(), 1 + 1500 + 8 + 2);
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "progress 0\nprogress 500\nprogress 1000\nstderr: done\n"
    );
    assert_eq!(out.exit_code, Some(0));
}

#[test]
fn compute_program_is_the_same_sliced() {
    let out = same_sliced("compute", WasiConfig::default());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("malloc: 48911 ints, sum 499500\n"), "{text}");
    assert!(text.contains("brown,dog,fox,jumps,lazy,over,quick,the,the\n"));
    assert!(text.contains("strtod 3.1416 atoi -42 strtol 255\n"));
    assert_eq!(out.exit_code, Some(0));
}

/// The Rust program (`examples/wasi/rust.rs`, rustc's `wasm32-wasip1`) with
/// the arguments, environment and stdin `build-rust.sh` ran it with natively.
fn rust_config(mode: &str) -> WasiConfig {
    let stdin = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/wasi/rust.stdin"),
    )
    .unwrap();
    let mut argv = args(&["rust", mode]);
    if mode == "run" {
        argv.extend(args(&["a", "b"]));
    }
    WasiConfig {
        args: argv,
        env: args(&["LANG=C", "X=1"]),
        stdin: Stdin::Bytes(stdin),
        ..WasiConfig::default()
    }
}

/// What the program printed natively (`examples/wasi/rust.expected`).
fn rust_expected() -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/wasi/rust.expected"),
    )
    .unwrap()
}

#[test]
fn rust_program_prints_what_it_prints_natively() {
    let program = load(&example("rust"));
    let wasi = rust_config("run");
    let whole = run_whole(&program, &wasi);
    assert_eq!(String::from_utf8_lossy(&whole.stdout), rust_expected());
    assert_eq!(String::from_utf8_lossy(&whole.stderr), "done\n");
    assert_eq!(whole.exit_code, Some(0));
    // About a hundred moves into a new executor, alternating the forms.
    let slice = whole.gas_used / 97;
    let (sliced, pauses) = run_sliced(&program, &wasi, slice);
    assert_eq!(pauses as u64, (whole.gas_used - 1) / slice);
    assert_eq!(sliced, whole);
    // Thousands of pauses resumed in place, at an odd slice.
    let mut ex = wasi_executor(&program, &wasi);
    let mut pauses = 0;
    while ex.run(10_007, &mut NoHost).unwrap() == RunOutcome::Paused {
        pauses += 1;
    }
    assert_eq!(pauses as u64, (whole.gas_used - 1) / 10_007);
    assert_eq!(finished(&ex), whole);
}

/// Runs `mode` to its trap whole, in slices of a twentieth of the gas of
/// the program's normal run with a move to a new executor at every pause,
/// and in the same slices in one executor: the same trap after the same
/// number of slices, the same output and memory size. A trapping run uses
/// up the gas it was given (docs/engine.md, "Gas after a trap"). Returns
/// the stderr and the memory size in pages.
fn rust_trap(mode: &str, pages: u64) -> (String, u64) {
    let program = load(&example("rust"));
    let wasi = rust_config(mode);
    let config = ExecutorConfig {
        memory_limit_pages: pages,
        entry: None,
    };
    let new = || Executor::with_wasi(program.clone(), config.clone(), Some(wasi.clone())).unwrap();
    let kind = |r: Result<RunOutcome, wasm_sandbox_core::Error>| match r {
        Err(wasm_sandbox_core::Error::Trap { kind, .. }) => kind,
        other => panic!("{mode}: {other:?}"),
    };
    let mut whole = new();
    assert_eq!(
        kind(whole.run(u64::MAX / 4, &mut NoHost)),
        TrapKind::Unreachable
    );
    assert_eq!(whole.status(), Status::Trapped);
    assert_eq!(whole.gas_used(), u64::MAX / 4);
    let slice = run_whole(&program, &rust_config("run")).gas_used / 20;
    let sliced = |moving: bool| {
        let mut ex = new();
        let mut pauses = 0u64;
        loop {
            match ex.run(slice, &mut NoHost) {
                Ok(RunOutcome::Paused) => {
                    pauses += 1;
                    if moving {
                        let bytes = ex.snapshot().unwrap().to_bytes();
                        ex = new();
                        ex.restore(&Snapshot::from_bytes(&bytes).unwrap()).unwrap();
                    }
                }
                other => {
                    assert_eq!(kind(other), TrapKind::Unreachable);
                    break (ex, pauses);
                }
            }
        }
    };
    let (moved, pauses) = sliced(true);
    let (in_place, same_pauses) = sliced(false);
    assert!(pauses >= 18, "{mode}: {pauses} pauses");
    assert_eq!(same_pauses, pauses, "{mode}");
    for ex in [&moved, &in_place] {
        assert_eq!(ex.status(), Status::Trapped);
        assert_eq!(ex.gas_used(), (pauses + 1) * slice, "{mode}");
        assert_eq!(ex.stdout().unwrap(), whole.stdout().unwrap(), "{mode}");
        assert_eq!(ex.stderr().unwrap(), whole.stderr().unwrap(), "{mode}");
        assert_eq!(ex.memory_size(), whole.memory_size(), "{mode}");
    }
    let stdout = String::from_utf8_lossy(whole.stdout().unwrap()).into_owned();
    let expected = rust_expected();
    let (common, _) = expected.rsplit_once("args:").unwrap();
    assert_eq!(
        stdout,
        format!("{common}args: [\"{mode}\"]; env: [(\"LANG\", \"C\"), (\"X\", \"1\")]\n")
    );
    (
        String::from_utf8_lossy(whole.stderr().unwrap()).into_owned(),
        whole.memory_size() / 65536,
    )
}

#[test]
fn rust_program_panics_and_allocation_failures_trap_alike_sliced() {
    // A panic prints its message and aborts (rustc's wasm targets abort).
    let (stderr, _) = rust_trap("panic", 256);
    assert!(
        stderr.contains("panicked at rust.rs:")
            && stderr.contains("\nindex out of bounds: the len is 0 but the index is 7\n"),
        "{stderr}"
    );
    // 1 MiB blocks until the memory limit: memory.grow fails, the allocator
    // reports it and Rust aborts.
    let (stderr, pages) = rust_trap("alloc", 160);
    assert!(pages <= 160 && pages > 140, "{pages} pages");
    let blocks = stderr
        .lines()
        .filter(|l| l.starts_with("allocated "))
        .count();
    assert!((5..10).contains(&blocks), "{stderr}");
    assert!(
        stderr.contains("\nmemory allocation of 1048576 bytes failed\n"),
        "{stderr}"
    );
}

#[test]
fn rust_program_exits_with_its_code() {
    let program = load(&example("rust"));
    let wasi = rust_config("exit");
    let whole = run_whole(&program, &wasi);
    assert_eq!(whole.exit_code, Some(3));
    assert!(whole.stderr.is_empty());
    let slice = whole.gas_used / 10;
    let (sliced, pauses) = run_sliced(&program, &wasi, slice);
    assert_eq!(pauses as u64, (whole.gas_used - 1) / slice);
    assert_eq!(sliced, whole);
}

#[test]
fn stdin_program_reads_bytes_and_sorts() {
    let input = "pear apple\nbanana\n\ncherry kiwi fig\napple\n";
    let out = run_whole(
        &load(&example("lines")),
        &WasiConfig {
            stdin: Stdin::Bytes(input.as_bytes().to_vec()),
            ..WasiConfig::default()
        },
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "5 7 41\napple\nbanana\ncherry kiwi fig\npear apple\n"
    );
    // A larger input, sliced: like `wc` and `sort`.
    let mut input = String::new();
    for i in 0..400u32 {
        let word = |k: u32| format!("w{:x}", (i * 2654435761u32.wrapping_add(k)) % 9973);
        input.push_str(&format!("{} {} {}\n", word(1), word(2), word(3)));
    }
    let out = same_sliced(
        "lines",
        WasiConfig {
            stdin: Stdin::Bytes(input.as_bytes().to_vec()),
            ..WasiConfig::default()
        },
    );
    let mut sorted: Vec<&str> = input.lines().collect();
    sorted.sort();
    let expected = format!(
        "{} {} {}\n{}\n",
        input.lines().count(),
        input.split_whitespace().count(),
        input.len(),
        sorted.join("\n")
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
}

#[test]
fn args_env_and_exit_codes() {
    let base = WasiConfig {
        env: args(&["HOME=/home/guest", "LANG=C"]),
        ..WasiConfig::default()
    };
    let exit = same_sliced(
        "args",
        WasiConfig {
            args: args(&["args", "exit", "7"]),
            ..base.clone()
        },
    );
    assert_eq!(exit.exit_code, Some(7));
    assert_eq!(
        String::from_utf8(exit.stdout).unwrap(),
        "argc=3\nargv[0]=args\nargv[1]=exit\nargv[2]=7\nenv HOME=/home/guest\nenv LANG=C\n\
         HOME=/home/guest\nbuffered, no newline at the endatexit handler ran\n"
    );
    let ret = run_whole(
        &load(&example("args")),
        &WasiConfig {
            args: args(&["args", "return", "42"]),
            ..base.clone()
        },
    );
    assert_eq!(ret.exit_code, Some(42));
    let zero = run_whole(&load(&example("args")), &base);
    assert_eq!(zero.exit_code, Some(0));
    assert!(String::from_utf8(zero.stdout)
        .unwrap()
        .starts_with("argc=0\nenv HOME"));

    // abort() is a trap, not an exit.
    let program = load(&example("args"));
    let mut ex = wasi_executor(
        &program,
        &WasiConfig {
            args: args(&["args", "abort"]),
            ..base
        },
    );
    let err = ex.run(u64::MAX / 4, &mut NoHost).unwrap_err();
    assert_eq!(err.code(), "ERR_WASM_TRAP");
    assert_eq!(ex.status(), Status::Trapped);
    assert_eq!(ex.exit_code(), None);
}

#[test]
fn clock_and_random_are_deterministic_and_follow_gas() {
    let out = same_sliced("clock", WasiConfig::default());
    let text = String::from_utf8(out.stdout).unwrap();
    // Virtual time starts at the epoch (2024-01-01) plus the gas used.
    assert!(
        text.starts_with("time 1704067200 2024-01-01 00:00:00\n"),
        "{text}"
    );
    assert!(text.contains("resolution 1 ns\n"));
    let loop_ns: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("loop took "))
        .and_then(|l| l.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    // The loop of 100,000 iterations costs at least one gas per iteration.
    assert!(
        (100_000..out.gas_used).contains(&loop_ns),
        "loop {loop_ns} ns"
    );
    // Another seed: other random bytes, same time.
    let other = run_whole(
        &load(&example("clock")),
        &WasiConfig {
            seed: 99,
            ..WasiConfig::default()
        },
    );
    let other_text = String::from_utf8(other.stdout).unwrap();
    let last = |t: &str| t.lines().last().unwrap().to_string();
    assert_ne!(last(&text), last(&other_text));
    assert_eq!(text.lines().next(), other_text.lines().next());
}

#[test]
fn sleeping_advances_the_virtual_clock() {
    let out = same_sliced("sleep", WasiConfig::default());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("nanosleep 250ms: slept >= 250ms: yes\n"),
        "{text}"
    );
    assert!(text.contains("usleep 1500us: slept >= 1.5ms: yes\n"));
    assert!(text.contains("sleep 2s: slept >= 2s: yes\n"));
    let total: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("total "))
        .and_then(|l| l.strip_suffix(" ns"))
        .unwrap()
        .parse()
        .unwrap();
    let slept = 2_251_500_000;
    assert!(
        total >= slept && total - slept < out.gas_used,
        "total {total}"
    );
}

#[test]
fn same_seed_same_snapshot_bytes() {
    let program = load(&example("clock"));
    let snap = |seed| {
        let mut ex = wasi_executor(
            &program,
            &WasiConfig {
                seed,
                ..WasiConfig::default()
            },
        );
        while ex.run(5000, &mut NoHost).unwrap() == RunOutcome::Paused {}
        ex.snapshot().unwrap().to_bytes()
    };
    assert_eq!(snap(5), snap(5));
    assert_ne!(snap(5), snap(6));
}

const CLOCK_GAS: &str = r#"(module
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func $work (param $n i32)
    (loop $l
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n))))
  (func (export "entry")
    (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 0)))
    (call $work (i32.const 1000))
    (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 8)))
    (call $work (i32.const 1000))
    (drop (call $clock (i32.const 0) (i64.const 0) (i32.const 16)))))"#;

fn read_u64(ex: &mut Executor, at: u64) -> u64 {
    u64::from_le_bytes(ex.read_memory(at, 8).unwrap().try_into().unwrap())
}

#[test]
fn virtual_clock_is_the_exact_gas_at_the_call() {
    let program = wat_program(CLOCK_GAS);
    let mut whole = wasi_executor(&program, &WasiConfig::default());
    whole.run(1_000_000, &mut NoHost).unwrap();
    let t = [
        read_u64(&mut whole, 0),
        read_u64(&mut whole, 8),
        read_u64(&mut whole, 16),
    ];
    // Between two clock reads: one call of $work (1000 iterations).
    let per_work = t[1] - t[0];
    assert!(per_work >= 1000 * NS_PER_GAS, "{t:?}");
    assert_eq!(t[2] - VIRTUAL_EPOCH_NS - t[1], per_work);
    assert!(t[2] - VIRTUAL_EPOCH_NS < whole.gas_used());
    // Every slicing reads the same times.
    for slice in [1, 7, 100, 1000] {
        let mut ex = wasi_executor(&program, &WasiConfig::default());
        let mut rounds = 0;
        while ex.run(slice, &mut NoHost).unwrap() == RunOutcome::Paused {
            rounds += 1;
            let snap = ex.snapshot().unwrap();
            ex = wasi_executor(&program, &WasiConfig::default());
            ex.restore(&snap).unwrap();
        }
        assert!(slice == 1000 || rounds > 0);
        let got = [
            read_u64(&mut ex, 0),
            read_u64(&mut ex, 8),
            read_u64(&mut ex, 16),
        ];
        assert_eq!(got, t, "slice {slice}");
        assert_eq!(ex.gas_used(), whole.gas_used(), "slice {slice}");
    }
}

#[test]
fn real_clock_reads_the_host_time() {
    let program = wat_program(CLOCK_GAS);
    let mut ex = wasi_executor(
        &program,
        &WasiConfig {
            clock: ClockMode::Real,
            ..WasiConfig::default()
        },
    );
    ex.run(1_000_000, &mut NoHost).unwrap();
    let host_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let realtime = read_u64(&mut ex, 16);
    assert!(realtime <= host_now && host_now - realtime < 60_000_000_000);
}

/// Hostile calls: every WASI function a guest can reach with bad
/// arguments. Each result lands at `results + 4 * k`.
const HOSTILE: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_accept" (func $sock_accept (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_readdir" (func $fd_readdir (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_raise" (func $proc_raise (param i32) (result i32)))
  (memory (export "memory") 1)
  (global $k (mut i32) (i32.const 0))
  (func $r (param i32)
    (i32.store (i32.add (i32.const 0x8000) (i32.mul (global.get $k) (i32.const 4))) (local.get 0))
    (global.set $k (i32.add (global.get $k) (i32.const 1))))
  (func (export "entry")
    ;; iovec at 0x100: { buf 0x200, len 4 }; "abcd" at 0x200
    (i32.store (i32.const 0x100) (i32.const 0x200))
    (i32.store (i32.const 0x104) (i32.const 4))
    (i32.store (i32.const 0x200) (i32.const 0x64636261))
    ;; 0: fd_write to fd 99
    (call $r (call $fd_write (i32.const 99) (i32.const 0x100) (i32.const 1) (i32.const 0x300)))
    ;; 1: iovec array outside the memory
    (call $r (call $fd_write (i32.const 1) (i32.const 0xfffffff8) (i32.const 1) (i32.const 0x300)))
    ;; 2: huge iovec count
    (call $r (call $fd_write (i32.const 1) (i32.const 0x100) (i32.const 0x7fffffff) (i32.const 0x300)))
    ;; 3: iovec pointing outside the memory
    (i32.store (i32.const 0x108) (i32.const 0xffff0000))
    (i32.store (i32.const 0x10c) (i32.const 0x20000))
    (call $r (call $fd_write (i32.const 1) (i32.const 0x108) (i32.const 1) (i32.const 0x300)))
    ;; 4: nwritten pointer outside the memory
    (call $r (call $fd_write (i32.const 1) (i32.const 0x100) (i32.const 1) (i32.const 0x10000)))
    ;; 5: a good write ("abcd")
    (call $r (call $fd_write (i32.const 1) (i32.const 0x100) (i32.const 1) (i32.const 0x300)))
    ;; 6: args_get into out-of-bounds memory
    (call $r (call $args_get (i32.const 0xfffffffc) (i32.const 0x400)))
    ;; 7: argv strings out of bounds
    (call $r (call $args_get (i32.const 0x400) (i32.const 0xfffe)))
    ;; 8: sizes into out-of-bounds memory
    (call $r (call $args_sizes_get (i32.const 0x400) (i32.const 0x10000)))
    ;; 9: environ_get at the very end
    (call $r (call $environ_get (i32.const 0xffff) (i32.const 0xffff)))
    ;; 10: path_open on fd 3 (no preopens)
    (call $r (call $path_open (i32.const 3) (i32.const 0) (i32.const 0x200) (i32.const 4)
      (i32.const 0) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 0x300)))
    ;; 11: path_open on stdin
    (call $r (call $path_open (i32.const 0) (i32.const 0) (i32.const 0x200) (i32.const 4)
      (i32.const 0) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 0x300)))
    ;; 12: fd_prestat_get 3
    (call $r (call $fd_prestat_get (i32.const 3) (i32.const 0x300)))
    ;; 13: poll_oneoff with no subscriptions
    (call $r (call $poll (i32.const 0x400) (i32.const 0x800) (i32.const 0) (i32.const 0x300)))
    ;; 14: poll_oneoff with subscriptions outside the memory
    (call $r (call $poll (i32.const 0x400) (i32.const 0x800) (i32.const 0x10000000) (i32.const 0x300)))
    ;; 15: random_get past the end
    (call $r (call $random_get (i32.const 0xfff0) (i32.const 0x20)))
    ;; 16: unknown clock
    (call $r (call $clock (i32.const 77) (i64.const 0) (i32.const 0x300)))
    ;; 17: clock result outside the memory
    (call $r (call $clock (i32.const 0) (i64.const 0) (i32.const 0xfffffff9)))
    ;; 18: fd_seek on stdout
    (call $r (call $fd_seek (i32.const 1) (i64.const 0) (i32.const 0) (i32.const 0x300)))
    ;; 19: fd_read from stdout
    (call $r (call $fd_read (i32.const 1) (i32.const 0x100) (i32.const 1) (i32.const 0x300)))
    ;; 20: sock_accept on fd 1
    (call $r (call $sock_accept (i32.const 1) (i32.const 0) (i32.const 0x300)))
    ;; 21: fd_readdir on fd 5
    (call $r (call $fd_readdir (i32.const 5) (i32.const 0x400) (i32.const 100) (i64.const 0) (i32.const 0x300)))
    ;; 22: proc_raise
    (call $r (call $proc_raise (i32.const 9)))
    ;; 23, 24: close stdout, then write to it
    (call $r (call $fd_close (i32.const 1)))
    (call $r (call $fd_write (i32.const 1) (i32.const 0x100) (i32.const 1) (i32.const 0x300)))
    ;; 25: close it again
    (call $r (call $fd_close (i32.const 1)))))"#;

#[test]
fn hostile_calls_get_errnos() {
    let program = wat_program(HOSTILE);
    let mut ex = wasi_executor(
        &program,
        &WasiConfig {
            args: args(&["prog", "x"]),
            env: args(&["A=1"]),
            ..WasiConfig::default()
        },
    );
    assert_eq!(
        ex.run(10_000_000, &mut NoHost).unwrap(),
        RunOutcome::Finished
    );
    let raw = ex.read_memory(0x8000, 26 * 4).unwrap();
    let got: Vec<u32> = raw
        .chunks(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    const EBADF: u32 = 8;
    const EFAULT: u32 = 21;
    const EINVAL: u32 = 28;
    const ENOSYS: u32 = 52;
    const ESPIPE: u32 = 70;
    const ENOTCAPABLE: u32 = 76;
    let expected = [
        EBADF,
        EFAULT,
        EINVAL,
        EFAULT,
        EFAULT,
        0,
        EFAULT,
        EFAULT,
        EFAULT,
        EFAULT,
        EBADF,
        ENOTCAPABLE,
        EBADF,
        EINVAL,
        EFAULT,
        EFAULT,
        EINVAL,
        EFAULT,
        ESPIPE,
        EBADF,
        ENOTCAPABLE,
        EBADF,
        ENOSYS,
        0,
        EBADF,
        EBADF,
    ];
    assert_eq!(got, expected);
    assert_eq!(ex.stdout().unwrap(), b"abcd");
    assert_eq!(ex.wasi_state().unwrap().closed_fds(), 0b010);
}

const WRITER: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "env" "mark" (func $mark (param i32)))
  (memory (export "memory") 1)
  (func $write (param $len i32)
    (i32.store (i32.const 0) (i32.const 0x1000))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "entry") (local $n i32)
    (call $mark (i32.const 1))
    (call $write (i32.const 8))
    (call $mark (i32.const 2))
    (call $write (i32.const 800))
    (call $mark (i32.const 3))
    ;; read stdin in 3-byte pieces, echoing each piece
    (i32.store (i32.const 16) (i32.const 0x1000))
    (i32.store (i32.const 20) (i32.const 3))
    (loop $l
      (drop (call $fd_read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 24)))
      (local.set $n (i32.load (i32.const 24)))
      (if (local.get $n) (then (call $write (local.get $n)) (br $l))))
    (call $exit (i32.const 3))
    (unreachable)))"#;

/// Records `env.mark` calls with the gas used at each, and takes WASI
/// output and stdin as a host.
#[derive(Default)]
struct Recorder {
    marks: Vec<i32>,
    output: Vec<(u32, Vec<u8>)>,
    stdin: Vec<Vec<u8>>,
    asked: usize,
}

impl Host for Recorder {
    fn call(
        &mut self,
        _: usize,
        a: &[Value],
        _: &mut [Value],
        _: &mut GuestMemory<'_>,
    ) -> Result<(), HostError> {
        if let Value::I32(v) = a[0] {
            self.marks.push(v);
        }
        Ok(())
    }
    fn wasi_output(&mut self, fd: u32, data: &[u8], _: &mut [u8]) -> Result<(), HostError> {
        self.output.push((fd, data.to_vec()));
        Ok(())
    }
    fn wasi_stdin(&mut self, _: &mut [u8]) -> Result<Option<Vec<u8>>, HostError> {
        self.asked += 1;
        if self.stdin.is_empty() {
            Ok(None)
        } else {
            Ok(Some(self.stdin.remove(0)))
        }
    }
}

#[test]
fn io_is_charged_per_byte_and_proc_exit_finishes() {
    let program = wat_program(WRITER);
    let wasi = WasiConfig {
        stdin: Stdin::Bytes(b"hello world".to_vec()),
        ..WasiConfig::default()
    };
    let mut ex = wasi_executor(&program, &wasi);
    let mut host = Recorder::default();
    assert_eq!(ex.run(1_000_000, &mut host).unwrap(), RunOutcome::Finished);
    assert_eq!(ex.status(), Status::Finished);
    assert_eq!(ex.exit_code(), Some(3));
    let mut expected = vec![0u8; 808];
    expected.extend_from_slice(b"hello world");
    assert_eq!(ex.stdout().unwrap(), &expected[..]);
    // A finished executor stays finished; its snapshot keeps the code.
    assert_eq!(ex.run(10, &mut host).unwrap(), RunOutcome::Finished);
    let snap = ex.snapshot().unwrap();
    assert_eq!(snap.wasi().unwrap().exit_code(), Some(3));

    // The gas of a run writing 8 bytes and one writing 800 differ by the
    // per-byte charge: (800 - 8) / 8 = 99.
    let gas_with = |len_bytes: &str| {
        let text = WRITER.replace("(call $write (i32.const 800))", len_bytes);
        let p = wat_program(&text);
        let mut ex = wasi_executor(&p, &wasi);
        ex.run(1_000_000, &mut Recorder::default()).unwrap();
        ex.gas_used()
    };
    assert_eq!(
        gas_with("(call $write (i32.const 800))") - gas_with("(call $write (i32.const 8))"),
        99
    );

    // The same gas in every slicing, proc_exit included.
    for slice in [1, 3, 50] {
        let mut sliced = wasi_executor(&program, &wasi);
        let mut h = Recorder::default();
        while sliced.run(slice, &mut h).unwrap() == RunOutcome::Paused {
            let snap = sliced.snapshot().unwrap();
            sliced = wasi_executor(&program, &wasi);
            sliced.restore(&snap).unwrap();
        }
        assert_eq!(sliced.gas_used(), ex.gas_used(), "slice {slice}");
        assert_eq!(sliced.stdout(), ex.stdout());
        assert_eq!(sliced.exit_code(), Some(3));
        assert_eq!(h.marks, [1, 2, 3]);
    }
}

#[test]
fn host_callbacks_take_output_and_give_stdin() {
    let program = wat_program(WRITER);
    let wasi = WasiConfig {
        stdin: Stdin::Host,
        stdout: Output::Host,
        ..WasiConfig::default()
    };
    let mut ex = wasi_executor(&program, &wasi);
    let mut host = Recorder {
        stdin: vec![b"abcdefg".to_vec(), b"hi".to_vec()],
        ..Recorder::default()
    };
    assert_eq!(ex.run(1_000_000, &mut host).unwrap(), RunOutcome::Finished);
    assert_eq!(ex.stdout().unwrap(), b"", "nothing collected");
    let writes: Vec<&[u8]> = host.output.iter().map(|(_, d)| &d[..]).collect();
    assert_eq!(writes[2..], [&b"abc"[..], b"def", b"g", b"hi"]);
    assert!(host.output.iter().all(|(fd, _)| *fd == 1));
    // Asked for chunk 1, chunk 2, then EOF.
    assert_eq!(host.asked, 3);

    // A host that fails traps the guest.
    struct Failing;
    impl Host for Failing {
        fn call(
            &mut self,
            _: usize,
            _: &[Value],
            _: &mut [Value],
            _: &mut GuestMemory<'_>,
        ) -> Result<(), HostError> {
            Ok(())
        }
        fn wasi_output(&mut self, _: u32, _: &[u8], _: &mut [u8]) -> Result<(), HostError> {
            Err(HostError("no".into()))
        }
    }
    let mut ex = wasi_executor(&program, &wasi);
    let err = ex.run(1_000_000, &mut Failing).unwrap_err();
    assert_eq!(err.code(), "ERR_HOST_IMPORT");
    assert_eq!(ex.status(), Status::Trapped);
}

#[test]
fn unread_stdin_travels_in_the_snapshot() {
    let program = wat_program(WRITER);
    let wasi = WasiConfig {
        stdin: Stdin::Bytes(b"0123456789".to_vec()),
        ..WasiConfig::default()
    };
    let mut ex = wasi_executor(&program, &wasi);
    let mut host = Recorder::default();
    // Run until some of stdin is read.
    while ex.wasi_state().unwrap().unread_stdin().len() == 10 {
        assert_eq!(ex.run(5, &mut host).unwrap(), RunOutcome::Paused);
    }
    let snap = ex.snapshot().unwrap();
    let unread = snap.wasi().unwrap().unread_stdin().to_vec();
    assert!(unread.len() < 10 && b"0123456789".ends_with(&unread));
    // Restored into an executor configured with other stdin: the
    // snapshot's unread bytes win.
    let mut other = wasi_executor(
        &program,
        &WasiConfig {
            stdin: Stdin::Bytes(b"something else".to_vec()),
            ..WasiConfig::default()
        },
    );
    other.restore(&snap).unwrap();
    other.run(1_000_000, &mut host).unwrap();
    assert!(other.stdout().unwrap().ends_with(b"0123456789"));
}

#[test]
fn wasi_snapshots_only_restore_into_wasi_executors() {
    let program = wat_program(WRITER);
    let mut wasi_ex = wasi_executor(&program, &WasiConfig::default());
    wasi_ex.run(20, &mut Recorder::default()).unwrap();
    let wasi_snap = wasi_ex.snapshot().unwrap();

    let mut plain = Executor::new(program.clone(), config()).unwrap();
    let before = plain.snapshot().unwrap();
    let err = plain.restore(&wasi_snap).unwrap_err();
    assert_eq!(err.code(), "ERR_SNAPSHOT_MISMATCH");
    assert!(err.to_string().contains("WASI"), "{err}");
    assert_eq!(plain.snapshot().unwrap(), before, "unchanged");

    let err = wasi_ex.restore(&before).unwrap_err();
    assert_eq!(err.code(), "ERR_SNAPSHOT_MISMATCH");
    assert_eq!(wasi_ex.snapshot().unwrap(), wasi_snap, "unchanged");
}

#[test]
fn snapshot_forms_round_trip_the_wasi_state() {
    let program = load(&example("lines"));
    let wasi = WasiConfig {
        args: args(&["lines", "ünïcode"]),
        env: args(&["K=V"]),
        stdin: Stdin::Bytes(b"b\na\n".to_vec()),
        seed: 42,
        ..WasiConfig::default()
    };
    let mut ex = wasi_executor(&program, &wasi);
    while ex.run(3000, &mut NoHost).unwrap() == RunOutcome::Paused {
        let snap = ex.snapshot().unwrap();
        assert_eq!(Snapshot::from_bytes(&snap.to_bytes()).unwrap(), snap);
        assert_eq!(Snapshot::from_json(&snap.to_json()).unwrap(), snap);
        let w = snap.wasi().unwrap();
        assert_eq!(w.args(), &args(&["lines", "ünïcode"])[..]);
        assert_eq!(w.env(), &args(&["K=V"])[..]);
    }
    let snap = ex.snapshot().unwrap();
    let json: serde_json::Value = serde_json::from_str(&snap.to_json()).unwrap();
    assert_eq!(json["version"], 2);
    assert_eq!(json["wasi"]["exitCode"], 0);
    assert_eq!(json["wasi"]["stdout"], "MiAyIDQKYQpiCg==");

    // Every byte of the WASI section is covered by the checksum, and any
    // truncation is refused.
    let bytes = snap.to_bytes();
    for cut in [1, 10, 100] {
        let e = Snapshot::from_bytes(&bytes[..bytes.len() - cut]).unwrap_err();
        assert_eq!(e.code(), "ERR_SNAPSHOT_CORRUPT");
    }
    let mut edited = bytes.clone();
    let at = edited.len() - 20;
    edited[at] ^= 1;
    assert_eq!(
        Snapshot::from_bytes(&edited).unwrap_err().code(),
        "ERR_SNAPSHOT_CORRUPT"
    );
    let text = snap.to_json().replace("\"K=V\"", "\"K=W\"");
    assert_eq!(
        Snapshot::from_json(&text).unwrap_err().code(),
        "ERR_SNAPSHOT_CORRUPT"
    );
}

/// A version-1 snapshot (no WASI section) of a program without WASI is
/// still read, in both forms.
#[test]
fn version_1_snapshots_are_still_read() {
    let program = wat_program(
        r#"(module (memory 1) (func (export "entry") (local $i i32)
          (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $l (i32.lt_u (local.get $i) (i32.const 1000))))))"#,
    );
    let mut ex = Executor::new(program.clone(), config()).unwrap();
    ex.run(100, &mut NoHost).unwrap();
    let snap = ex.snapshot().unwrap();
    let v2 = snap.to_bytes();
    // Version 1 = version 2 without the trailing WASI flag byte.
    assert_eq!(v2[v2.len() - 5], 0, "no WASI");
    let mut v1 = v2[..v2.len() - 5].to_vec();
    v1[8..12].copy_from_slice(&1u32.to_le_bytes());
    let len = (v1.len() - 20) as u64;
    v1[12..20].copy_from_slice(&len.to_le_bytes());
    let crc = crc32fast::hash(&v1);
    v1.extend_from_slice(&crc.to_le_bytes());
    let read = Snapshot::from_bytes(&v1).unwrap();
    assert_eq!(read, snap);

    let mut json: serde_json::Value = serde_json::from_str(&snap.to_json()).unwrap();
    json["version"] = 1.into();
    json.as_object_mut().unwrap().remove("wasi");
    json["checksum"] = crc.into();
    assert_eq!(Snapshot::from_json(&json.to_string()).unwrap(), snap);

    let mut fresh = Executor::new(program, config()).unwrap();
    fresh.restore(&read).unwrap();
    assert_eq!(
        fresh.run(1_000_000, &mut NoHost).unwrap(),
        RunOutcome::Finished
    );
    assert_eq!(
        Snapshot::from_bytes(&{
            let mut v3 = v1.clone();
            v3[8..12].copy_from_slice(&3u32.to_le_bytes());
            let n = v3.len() - 4;
            let crc = crc32fast::hash(&v3[..n]);
            v3[n..].copy_from_slice(&crc.to_le_bytes());
            v3
        })
        .unwrap_err()
        .code(),
        "ERR_SNAPSHOT_VERSION"
    );
}

#[test]
fn wasi_imports_are_checked() {
    let missing = wat_program(
        r#"(module (import "wasi_snapshot_preview1" "open_the_pod_bay_doors" (func))
          (func (export "entry")))"#,
    );
    let err = Executor::with_wasi(missing, config(), Some(WasiConfig::default())).unwrap_err();
    assert_eq!(err.code(), "ERR_IMPORT_MISSING");
    assert!(err.to_string().contains("open_the_pod_bay_doors"));

    let mistyped = wat_program(
        r#"(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32) (result i32)))
          (func (export "entry")))"#,
    );
    let err = Executor::with_wasi(mistyped, config(), Some(WasiConfig::default())).unwrap_err();
    assert_eq!(err.code(), "ERR_IMPORT_TYPE");
    assert!(
        err.to_string().contains("(i32, i32, i32, i32) -> (i32)"),
        "{err}"
    );

    let bad_args = WasiConfig {
        args: args(&["a\0b"]),
        ..WasiConfig::default()
    };
    let err = Executor::with_wasi(load(&example("args")), config(), Some(bad_args)).unwrap_err();
    assert_eq!(err.code(), "ERR_INVALID_ARG");
    let bad_env = WasiConfig {
        env: args(&["NOEQUALS"]),
        ..WasiConfig::default()
    };
    let err = Executor::with_wasi(load(&example("args")), config(), Some(bad_env)).unwrap_err();
    assert_eq!(err.code(), "ERR_INVALID_ARG");

    // Without WASI, the imports go to the host like any other.
    let ex = Executor::new(load(&example("args")), config());
    assert!(ex.is_ok());
}

#[test]
fn collected_output_is_capped() {
    // 64 MiB + 1 MiB of output in 1 MiB writes: the last write is refused.
    let program = wat_program(
        r#"(module
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 17)
          (func (export "entry") (local $i i32)
            (i32.store (i32.const 0) (i32.const 0x10000))
            (i32.store (i32.const 4) (i32.const 0x100000))
            (loop $l
              (i32.store (i32.const 16) (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $l (i32.lt_u (local.get $i) (i32.const 65))))))"#,
    );
    let mut ex = wasi_executor(&program, &WasiConfig::default());
    ex.run(u64::MAX / 4, &mut NoHost).unwrap();
    assert_eq!(ex.stderr().unwrap().len(), 64 << 20);
    assert_eq!(
        ex.read_memory(16, 4).unwrap(),
        51u32.to_le_bytes(),
        "ENOSPC"
    );
    // 64 MiB moved: 8 Mi gas.
    assert!(ex.gas_used() > 8 << 20);
}

/// The C sources build with clang-16 and wasi-libc
/// (`examples/wasi/build.sh`; `.ci/run` installs them), and the fresh
/// builds behave like the committed `.wasm` files.
#[test]
fn c_sources_build_and_behave_like_the_committed_programs() {
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/wasi");
    let out = std::env::temp_dir().join(format!("wasm-sandbox-wasi-build-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let status = std::process::Command::new("bash")
        .arg(examples.join("build.sh"))
        .env("OUT", &out)
        .status()
        .expect("bash runs");
    assert!(
        status.success(),
        "examples/wasi/build.sh failed: it needs clang-16, lld-16, wasi-libc and \
         libclang-rt-16-dev-wasm32 (.ci/run installs them)"
    );
    let configs = [
        ("stdio", WasiConfig::default()),
        ("compute", WasiConfig::default()),
        (
            "lines",
            WasiConfig {
                stdin: Stdin::Bytes(b"b c\na\n".to_vec()),
                ..WasiConfig::default()
            },
        ),
        (
            "args",
            WasiConfig {
                args: args(&["args", "exit", "3"]),
                env: args(&["X=1"]),
                ..WasiConfig::default()
            },
        ),
        ("clock", WasiConfig::default()),
        ("sleep", WasiConfig::default()),
    ];
    for (name, wasi) in configs {
        let fresh = std::fs::read(out.join(format!("{name}.wasm"))).unwrap();
        let committed = example(name);
        let a = run_whole(&load(&fresh), &wasi);
        let b = run_whole(&load(&committed), &wasi);
        assert_eq!(a.exit_code, b.exit_code, "{name}");
        assert_eq!(a.stderr, b.stderr, "{name}");
        if fresh == committed {
            assert_eq!(a, b, "{name}");
        } else {
            // Another compiler build: the same output, except what depends
            // on the gas the code takes (the times).
            let lines = |f: &Finished| -> Vec<String> {
                String::from_utf8_lossy(&f.stdout)
                    .lines()
                    .filter(|l| !l.starts_with("loop took") && !l.starts_with("total "))
                    .map(String::from)
                    .collect()
            };
            assert_eq!(lines(&a), lines(&b), "{name}");
        }
    }
    std::fs::remove_dir_all(&out).unwrap();
}

/// What one call left: the outcome (or the error's code), the memory, the
/// streams, the exit code and the gas.
#[derive(Debug, PartialEq, Eq)]
struct CallResult {
    outcome: Result<RunOutcome, &'static str>,
    memory: Vec<u8>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    exit_code: Option<u32>,
    gas_used: u64,
}

fn call_result(ex: &mut Executor, outcome: Result<RunOutcome, &'static str>) -> CallResult {
    CallResult {
        outcome,
        memory: ex.read_memory(0, ex.memory_size()).unwrap(),
        stdout: ex.stdout().unwrap().to_vec(),
        stderr: ex.stderr().unwrap().to_vec(),
        exit_code: ex.exit_code(),
        gas_used: ex.gas_used(),
    }
}

/// Every WASI function, called with random arguments (small numbers, fds,
/// pointers into memory that holds random iovecs and strings, and random
/// 32/64-bit values): never an internal error, and the same result when
/// the same call runs in 1-gas slices with the state moved into a fresh
/// executor at every pause. `FUZZ_CASES` sets the calls per function
/// (default 40), `FUZZ_SEED` the seed.
#[test]
fn every_wasi_function_takes_random_arguments_alike_whole_and_sliced() {
    let cases: u64 = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5a5a);
    let mut rng = Rng::new(seed);
    let wasi = WasiConfig {
        args: vec!["prog".into(), "an argument".into()],
        env: vec!["KEY=value".into()],
        stdin: Stdin::Bytes(b"some input\nmore".to_vec()),
        ..WasiConfig::default()
    };
    let (mut calls, mut errnos, mut successes, mut traps) = (0u64, 0u64, 0u64, 0u64);
    for name in wasm_sandbox_core::wasi::function_names() {
        let (params, results) = wasm_sandbox_core::wasi::signature(name).unwrap();
        let ty = |t: &ValueType| t.as_str();
        let loads: String = params
            .iter()
            .enumerate()
            .map(|(j, t)| format!("({}.load (i32.const {}))", ty(t), 8 * j))
            .collect();
        let call = if results.is_empty() {
            format!("(call $f {loads})")
        } else {
            format!("(i32.store (i32.const 120) (call $f {loads}))")
        };
        let text = format!(
            r#"(module
              (import "wasi_snapshot_preview1" "{name}" (func $f (param {}) (result {})))
              (memory (export "memory") 1)
              (func (export "_start") {call}))"#,
            params.iter().map(ty).collect::<Vec<_>>().join(" "),
            results.iter().map(ty).collect::<Vec<_>>().join(" "),
        );
        let program = wat_program(&text);
        for _ in 0..cases {
            // The arguments at 0, 8, 16, ...; iovecs (pointer, length) at
            // 256..1024; random bytes up to 4096.
            let mut memory = rng.bytes(4096);
            for at in (256..1024).step_by(8) {
                let ptr = rng.range(0, 65535) as u32;
                let len = rng.range(0, 600) as u32;
                memory[at..at + 4].copy_from_slice(&ptr.to_le_bytes());
                memory[at + 4..at + 8].copy_from_slice(&len.to_le_bytes());
            }
            for (j, t) in params.iter().enumerate() {
                let v: u64 = match rng.range(0, 5) {
                    0 => rng.range(0, 8),
                    1 => rng.range(0, 4096),
                    2 => 256 + 8 * rng.range(0, 95),
                    3 => rng.range(0, 70000),
                    4 => u64::MAX - rng.range(0, 16),
                    _ => rng.next_u64(),
                };
                let bytes = if *t == ValueType::I64 {
                    v.to_le_bytes().to_vec()
                } else {
                    (v as u32).to_le_bytes().to_vec()
                };
                memory[8 * j..8 * j + bytes.len()].copy_from_slice(&bytes);
            }
            memory[120..124].fill(0xee);
            let code = |r: Result<RunOutcome, wasm_sandbox_core::Error>| {
                r.map_err(|e| {
                    assert_ne!(e.code(), "ERR_INTERNAL", "{name}: {e}");
                    e.code()
                })
            };

            let mut whole = wasi_executor(&program, &wasi);
            whole.write_memory(0, &memory).unwrap();
            let outcome = code(whole.run(1 << 40, &mut NoHost));
            let expected = call_result(&mut whole, outcome);

            let mut ex = wasi_executor(&program, &wasi);
            ex.write_memory(0, &memory).unwrap();
            let outcome = loop {
                match code(ex.run(1, &mut NoHost)) {
                    Ok(RunOutcome::Paused) => {
                        let bytes = ex.snapshot().unwrap().to_bytes();
                        ex = wasi_executor(&program, &wasi);
                        ex.restore(&Snapshot::from_bytes(&bytes).unwrap()).unwrap();
                    }
                    other => break other,
                }
            };
            assert_eq!(
                call_result(&mut ex, outcome),
                expected,
                "{name} with {:?}",
                &memory[..72]
            );
            calls += 1;
            match expected.outcome {
                Ok(_) if !results.is_empty() && memory[120..124] != expected.memory[120..124] => {
                    errnos += 1;
                    if expected.memory[120..124] == [0; 4] {
                        successes += 1;
                    }
                }
                Err(_) => traps += 1,
                _ => {}
            }
        }
    }
    println!(
        "wasi: {calls} calls, {errnos} returned an errno ({successes} of them 0), {traps} trapped"
    );
    assert!(
        calls >= 40 * cases && errnos * 2 >= calls && successes * 20 >= calls,
        "{calls} calls, {errnos} errnos, {successes} successes"
    );
}
