//! `cargo bench -p wasm-sandbox-core`: what metering, pausing and snapshots
//! cost, each figure against the same original module run uninstrumented by
//! the same wasmtime engine in the same process.
//!
//! Programs: `benchmark/programs/*.c` (clang-16 -O2, the `.wasm` files are
//! committed). After criterion's own report, a summary table of medians and
//! ratios is printed and written to `target/criterion/summary.md`, with
//! ratios measured in pairs too (see `paired`), which a machine whose
//! speed drifts between criterion's groups does not skew.
//!
//! `cargo bench -p wasm-sandbox-core -- fib` runs only the matching
//! benchmarks (the summary then lists what ran).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion};
use wasm_sandbox_core::{
    Executor, ExecutorConfig, GuestMemory, Host, HostError, Program, ProgramOptions, RunOutcome,
    Snapshot, Value, WasiConfig,
};
use wasmtime::{Engine, Extern, Func, Instance, Memory, Module, Store};

const PROGRAMS: [&str; 7] = [
    "fib", "sieve", "matmul", "sha256", "sort", "imports", "libc",
];
const MEM_LIMIT: u64 = 1024;
const UNLIMITED: u64 = u64::MAX >> 2;

fn programs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benchmark/programs")
}

/// The host side of `imports.c`: `next(i) = i ^ 0x55`.
fn next(i: i32) -> i32 {
    i ^ 0x55
}

struct BenchHost;
impl Host for BenchHost {
    fn call(
        &mut self,
        _: usize,
        args: &[Value],
        results: &mut [Value],
        _: &mut GuestMemory<'_>,
    ) -> Result<(), HostError> {
        if let (Some(Value::I32(i)), Some(r)) = (args.first(), results.first_mut()) {
            *r = Value::I32(next(*i));
        }
        Ok(())
    }
}

/// The original module on the executors' engine, without instrumentation;
/// or, as a reference, on an engine with the same settings plus wasmtime's
/// own fuel metering (which cannot pause or save the state).
struct Plain {
    module: Module,
    fuel: bool,
}

impl Plain {
    fn new(engine: &Engine, wasm: &[u8]) -> Plain {
        Plain {
            module: Module::new(engine, wasm).expect("benchmark program compiles"),
            fuel: false,
        }
    }

    fn with_fuel(wasm: &[u8]) -> Plain {
        let mut config = wasm_sandbox_core::runtime::engine_config(false);
        config.consume_fuel(true);
        let engine = Engine::new(&config).expect("fuel engine");
        Plain {
            module: Module::new(&engine, wasm).expect("benchmark program compiles"),
            fuel: true,
        }
    }

    /// Instantiates, then runs `entry`; returns the duration of the call,
    /// its result and the final memory.
    fn run(&self) -> (Duration, i32, Vec<u8>) {
        let mut store = Store::new(self.module.engine(), ());
        if self.fuel {
            store.set_fuel(u64::MAX).unwrap();
        }
        let imports: Vec<Extern> = self
            .module
            .imports()
            .map(|i| match (i.module(), i.name(), i.ty()) {
                ("wasi_snapshot_preview1", name, wasmtime::ExternType::Func(ft)) => {
                    wasi_stub(&mut store, name, ft).into()
                }
                (_, _, wasmtime::ExternType::Func(_)) => Func::wrap(&mut store, next).into(),
                (_, _, wasmtime::ExternType::Memory(mt)) => {
                    Memory::new(&mut store, mt).unwrap().into()
                }
                (_, _, other) => panic!("unsupported import {other:?}"),
            })
            .collect();
        let instance = Instance::new(&mut store, &self.module, &imports).unwrap();
        let (elapsed, result) = match instance.get_typed_func::<(), i32>(&mut store, "entry") {
            Ok(entry) => {
                let start = Instant::now();
                let result = entry.call(&mut store, ()).unwrap();
                (start.elapsed(), result)
            }
            Err(_) => {
                // A WASI command: `_start` returns when main returns 0.
                let start_fn = instance
                    .get_typed_func::<(), ()>(&mut store, "_start")
                    .unwrap();
                let start = Instant::now();
                start_fn.call(&mut store, ()).unwrap();
                (start.elapsed(), 0)
            }
        };
        let memory = instance.get_memory(&mut store, "memory").unwrap();
        (elapsed, result, memory.data(&store).to_vec())
    }
}

/// The baseline's WASI: `fd_write` accepts every byte (and throws them
/// away), every other call succeeds without doing anything. The benchmark
/// programs only print their result.
fn wasi_stub(store: &mut Store<()>, name: &str, ty: wasmtime::FuncType) -> Func {
    let fd_write = name == "fd_write";
    Func::new(store, ty, move |mut caller, args, results| {
        if fd_write {
            let memory = caller
                .get_export("memory")
                .and_then(|e| e.into_memory())
                .unwrap();
            let data = memory.data_mut(&mut caller);
            let (iovs, n, out) = (
                args[1].unwrap_i32() as usize,
                args[2].unwrap_i32() as usize,
                args[3].unwrap_i32() as usize,
            );
            let word = |at: usize| u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
            let total: u32 = (0..n).map(|k| word(iovs + 8 * k + 4)).sum();
            data[out..out + 4].copy_from_slice(&total.to_le_bytes());
        }
        if let Some(r) = results.first_mut() {
            *r = wasmtime::Val::I32(0);
        }
        Ok(())
    })
}

fn executor(program: &Arc<Program>) -> Executor {
    let uses_wasi = program
        .imports()
        .iter()
        .any(|i| i.module == "wasi_snapshot_preview1");
    Executor::with_wasi(
        program.clone(),
        ExecutorConfig {
            memory_limit_pages: MEM_LIMIT,
            entry: None,
        },
        uses_wasi.then(WasiConfig::default),
    )
    .unwrap()
}

/// Runs a fresh executor to the end in slices of `slice` gas, optionally
/// moving it through a snapshot into a new executor at every pause; returns
/// the duration of the runs (and moves) and the number of pauses.
fn run_sliced(program: &Arc<Program>, slice: u64, migrate: bool) -> (Duration, u64) {
    let mut e = executor(program);
    let start = Instant::now();
    let mut pauses = 0;
    while e.run(slice, &mut BenchHost).unwrap() == RunOutcome::Paused {
        pauses += 1;
        if migrate {
            let bytes = e.snapshot().unwrap().to_bytes();
            e = executor(program);
            e.restore(&Snapshot::from_bytes(&bytes).unwrap()).unwrap();
        }
    }
    (start.elapsed(), pauses)
}

fn iter_total(iters: u64, mut one: impl FnMut() -> Duration) -> Duration {
    (0..iters).map(|_| one()).sum()
}

/// Rounds of the paired measurement (see [`paired`]).
const PAIRED_ROUNDS: usize = 11;

/// Whether the benchmark filters given on the command line (`cargo bench
/// -- fib`) select `id`; no filter selects everything.
fn selected(id: &str) -> bool {
    // Criterion's options that take a value in the next argument.
    const WITH_VALUE: [&str; 14] = [
        "--save-baseline",
        "--baseline",
        "--load-baseline",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--profile-time",
        "--output-format",
        "--color",
        "--plotting-backend",
    ];
    let mut filters = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if WITH_VALUE.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            filters.push(a);
        }
    }
    filters.is_empty() || filters.iter().any(|f| id.contains(f.as_str()))
}

/// Ratios measured in pairs: each round runs the baseline, then unlimited
/// gas, 1M- and 10k-gas slices back to back, and divides each by that
/// round's baseline; returns the median of each ratio over the rounds.
/// Criterion measures each variant for seconds on its own, so on a
/// machine whose speed drifts (a shared VM) its ratios mix two speeds;
/// these do not.
fn paired(plain: &Plain, program: &Arc<Program>) -> [f64; 3] {
    let mut ratios = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..PAIRED_ROUNDS {
        let base = plain.run().0.as_secs_f64();
        for (k, slice) in [UNLIMITED, 1_000_000, 10_000].into_iter().enumerate() {
            ratios[k].push(run_sliced(program, slice, false).0.as_secs_f64() / base);
        }
    }
    ratios.map(|r| median(r).expect("rounds ran"))
}

fn execution(c: &mut Criterion, sizes: &mut Vec<String>, pairs: &mut Vec<(String, [f64; 3])>) {
    for name in PROGRAMS {
        let wasm = std::fs::read(programs_dir().join(format!("{name}.wasm"))).unwrap();
        let program = Program::load(&wasm, &ProgramOptions::default()).unwrap();
        let plain = Plain::new(program.engine(), &wasm);
        let fuel = Plain::with_fuel(&wasm);
        let (_, expected, memory) = plain.run();
        assert!(fuel.run().2 == memory, "{name}: memory differs with fuel");
        let mut e = executor(&program);
        assert_eq!(
            e.run(UNLIMITED, &mut BenchHost).unwrap(),
            RunOutcome::Finished
        );
        // The same computation leaves the same memory (WASI programs keep
        // what the stub and the real `fd_fdstat_get` answered in libc's
        // state, so they are checked by their output instead).
        match e.stdout() {
            None => assert!(
                e.read_memory(0, e.memory_size()).unwrap() == memory,
                "{name}: memory differs from the uninstrumented run"
            ),
            Some(out) => assert!(
                String::from_utf8_lossy(out).contains("sorted, check"),
                "{name}: unexpected output {:?}",
                String::from_utf8_lossy(out)
            ),
        }
        let gas = e.gas_used();
        let (_, pauses_10k) = run_sliced(&program, 10_000, false);
        sizes.push(format!(
            "| {name} | {} | {} | {:.2}x | {gas} | {pauses_10k} | {expected} |",
            code_size(&wasm),
            code_size(program.instrumented_wasm()),
            code_size(program.instrumented_wasm()) as f64 / code_size(&wasm) as f64,
        ));

        let mut g = c.benchmark_group(format!("exec/{name}"));
        g.sample_size(10);
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(3));
        g.bench_function("plain", |b| {
            b.iter_custom(|n| iter_total(n, || plain.run().0))
        });
        g.bench_function("wasmtime_fuel", |b| {
            b.iter_custom(|n| iter_total(n, || fuel.run().0))
        });
        g.bench_function("unlimited", |b| {
            b.iter_custom(|n| iter_total(n, || run_sliced(&program, UNLIMITED, false).0))
        });
        g.bench_function("slices_1m", |b| {
            b.iter_custom(|n| iter_total(n, || run_sliced(&program, 1_000_000, false).0))
        });
        g.bench_function("slices_10k", |b| {
            b.iter_custom(|n| iter_total(n, || run_sliced(&program, 10_000, false).0))
        });
        // Moving a big memory at every pause measures memory copying, not
        // pausing: (3) runs on the 1-page programs (the snapshot group
        // times bigger memories).
        if program.memory_min_pages().unwrap_or(0) <= 1 {
            g.bench_function("slices_10k_snapshot", |b| {
                b.iter_custom(|n| iter_total(n, || run_sliced(&program, 10_000, true).0))
            });
        }
        g.finish();
        if selected(&format!("exec/{name}")) {
            pairs.push((name.to_string(), paired(&plain, &program)));
        }
    }
}

/// Size of the code section of `wasm` in bytes.
fn code_size(wasm: &[u8]) -> usize {
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let Ok(wasmparser::Payload::CodeSectionStart { size, .. }) = payload {
            return size as usize;
        }
    }
    0
}

/// A guest that recurses `depth` calls deep, then loops forever: every
/// `run(1)` is one resume (rewind `depth` frames), one loop iteration and
/// one pause (unwind them again).
fn deep_loop(depth: u32) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
          (func $down (param $n i32) (result i32)
            (if (result i32) (local.get $n)
              (then (i32.add (call $down (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))
              (else (loop $forever (br $forever)) (i32.const 0))))
          (func (export "entry") (result i32) (call $down (i32.const {depth}))))"#
    ))
    .unwrap()
}

fn pause_resume(c: &mut Criterion) {
    let mut g = c.benchmark_group("pause_resume");
    for depth in [0u32, 50] {
        let program = Program::load(&deep_loop(depth), &ProgramOptions::default()).unwrap();
        let mut e = executor(&program);
        e.run(1000, &mut BenchHost).unwrap();
        g.bench_function(BenchmarkId::new("depth", depth), |b| {
            b.iter(|| black_box(e.run(1, &mut BenchHost).unwrap()))
        });
    }
    g.finish();
}

/// An executor whose memory of `pages` pages is 90 % zero or all random.
fn memory_executor(pages: u32, random: bool) -> Executor {
    let wasm = wat::parse_str(format!(
        r#"(module (memory (export "memory") {pages}) (func (export "entry")))"#
    ))
    .unwrap();
    let program = Program::load(&wasm, &ProgramOptions::default()).unwrap();
    let mut e = Executor::new(
        program,
        ExecutorConfig {
            memory_limit_pages: pages as u64,
            entry: None,
        },
    )
    .unwrap();
    let len = pages as usize * 65536;
    let mut data = vec![0u8; len];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut fill = |chunk: &mut [u8]| {
        for b in chunk {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    };
    if random {
        fill(&mut data);
    } else {
        // Every tenth 4 KiB block random, the rest zero.
        for block in data.chunks_mut(4096).step_by(10) {
            fill(block);
        }
    }
    e.write_memory(0, &data).unwrap();
    e
}

/// The three steps of moving a paused 1-page program (fib) to a new
/// executor: snapshot to bytes, a new executor, restore from bytes.
fn migration(c: &mut Criterion) {
    let wasm = std::fs::read(programs_dir().join("fib.wasm")).unwrap();
    let program = Program::load(&wasm, &ProgramOptions::default()).unwrap();
    let mut e = executor(&program);
    assert_eq!(e.run(100_000, &mut BenchHost).unwrap(), RunOutcome::Paused);
    let bytes = e.snapshot().unwrap().to_bytes();
    let mut g = c.benchmark_group("migrate");
    // Snapshots of an executor nothing has written since its last one read
    // only the pages that held data then (docs/engine.md, "Runs that write
    // nothing"); a `write_memory` of a byte that is there already makes
    // the next one read the whole memory, as after a run that wrote.
    g.bench_function("snapshot_to_bytes", |b| {
        b.iter(|| black_box(e.snapshot().unwrap().to_bytes()))
    });
    g.bench_function("snapshot_to_bytes_after_write", |b| {
        b.iter(|| {
            e.write_memory(32768, &[0]).unwrap();
            black_box(e.snapshot().unwrap().to_bytes())
        })
    });
    g.bench_function("new_executor", |b| b.iter(|| black_box(executor(&program))));
    g.bench_function("new_executor_and_restore", |b| {
        b.iter(|| {
            let mut fresh = executor(&program);
            fresh
                .restore(&Snapshot::from_bytes(black_box(&bytes)).unwrap())
                .unwrap();
            fresh
        })
    });
    g.finish();
}

fn snapshots(c: &mut Criterion, sizes: &mut Vec<String>) {
    let mut g = c.benchmark_group("snapshot");
    g.sample_size(10);
    for (pages, label) in [(16u32, "1MiB"), (1024, "64MiB")] {
        for (random, kind) in [(false, "90pct_zero"), (true, "random")] {
            let mut e = memory_executor(pages, random);
            let bytes = e.snapshot().unwrap().to_bytes();
            sizes.push(format!("| {label} {kind} | {} bytes |", bytes.len()));
            g.bench_function(format!("serialize/{label}_{kind}"), |b| {
                b.iter(|| black_box(e.snapshot().unwrap().to_bytes()))
            });
            // The same after a write (see `migration`).
            let first = e.read_memory(0, 1).unwrap();
            g.bench_function(format!("serialize_after_write/{label}_{kind}"), |b| {
                b.iter(|| {
                    e.write_memory(0, &first).unwrap();
                    black_box(e.snapshot().unwrap().to_bytes())
                })
            });
            let mut target = memory_executor(pages, false);
            g.bench_function(format!("deserialize/{label}_{kind}"), |b| {
                b.iter(|| {
                    target
                        .restore(&Snapshot::from_bytes(black_box(&bytes)).unwrap())
                        .unwrap()
                })
            });
        }
    }
    g.finish();
}

fn construction(c: &mut Criterion) {
    let wasm = std::fs::read(programs_dir().join("sha256.wasm")).unwrap();
    let mut g = c.benchmark_group("new_executor");
    g.sample_size(10);
    let mut n = 0u64;
    g.bench_function("cold", |b| {
        b.iter(|| {
            // A custom section with a fresh number: new cache key, same code.
            n += 1;
            let mut bytes = wasm.clone();
            let name = b"bench";
            let payload = n.to_le_bytes();
            bytes.push(0);
            bytes.push((1 + name.len() + payload.len()) as u8);
            bytes.push(name.len() as u8);
            bytes.extend_from_slice(name);
            bytes.extend_from_slice(&payload);
            executor(&Program::load(&bytes, &ProgramOptions::default()).unwrap())
        })
    });
    let program = Program::load(&wasm, &ProgramOptions::default()).unwrap();
    g.bench_function("cached", |b| {
        b.iter(|| executor(&Program::load(black_box(&wasm), &ProgramOptions::default()).unwrap()))
    });
    drop(program);
    // A real C program (wasi-libc, 133 KB): the cache compares the whole
    // module at every lookup.
    let libc = std::fs::read(programs_dir().join("libc.wasm")).unwrap();
    let program = Program::load(&libc, &ProgramOptions::default()).unwrap();
    g.bench_function("cached_libc", |b| {
        b.iter(|| executor(&Program::load(black_box(&libc), &ProgramOptions::default()).unwrap()))
    });
    drop(program);
    g.finish();
}

/// Criterion's median estimate (ns) for `group/id`, if it ran.
/// (Criterion turns `/` in group and function names into `_`; a
/// parameterized id such as `depth/0` is a directory per part.)
fn median_ns(dir: &Path, group: &str, id: &str) -> Option<f64> {
    let group_dir = dir.join(group.replace('/', "_"));
    let path = [id.to_string(), id.replace('/', "_")]
        .iter()
        .map(|id| group_dir.join(id).join("new/estimates.json"))
        .find(|p| p.exists())?;
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn criterion_dir() -> PathBuf {
    if let Ok(home) = std::env::var("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("criterion")
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

fn summary(sizes: &[String], snapshot_sizes: &[String], pairs: &[(String, [f64; 3])]) {
    let dir = criterion_dir();
    let mut out = String::new();
    out.push_str(
        "## Execution (median time; ratio to the uninstrumented module on the same engine)\n\n",
    );
    out.push_str("| program | plain | wasmtime fuel (reference) | unlimited | 1M slices | 10k slices | 10k slices + snapshot/restore each pause (1-page programs) |\n|---|---|---|---|---|---|---|\n");
    let variants = [
        "wasmtime_fuel",
        "unlimited",
        "slices_1m",
        "slices_10k",
        "slices_10k_snapshot",
    ];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for name in PROGRAMS {
        let group = format!("exec/{name}");
        let Some(plain) = median_ns(&dir, &group, "plain") else {
            continue;
        };
        out.push_str(&format!("| {name} | {} |", fmt_ns(plain)));
        for (k, v) in variants.iter().enumerate() {
            match median_ns(&dir, &group, v) {
                Some(t) => {
                    ratios[k].push(t / plain);
                    out.push_str(&format!(" {} ({:.2}x) |", fmt_ns(t), t / plain));
                }
                None => out.push_str(" |"),
            }
        }
        out.push('\n');
    }
    out.push_str("| **median** | |");
    for r in &ratios {
        match median(r.clone()) {
            Some(m) => out.push_str(&format!(
                " **{m:.2}x** (max {:.2}x) |",
                r.iter().cloned().fold(0.0, f64::max)
            )),
            None => out.push_str(" |"),
        }
    }
    if !pairs.is_empty() {
        out.push_str(&format!(
            "\n\n## Paired ratios (median over {PAIRED_ROUNDS} rounds of baseline, unlimited, 1M and 10k slices run back to back)\n\n| program | unlimited | 1M slices | 10k slices |\n|---|---|---|---|\n"
        ));
        for (name, r) in pairs {
            out.push_str(&format!(
                "| {name} | {:.2}x | {:.2}x | {:.2}x |\n",
                r[0], r[1], r[2]
            ));
        }
        out.push_str("| **median** |");
        for k in 0..3 {
            let v: Vec<f64> = pairs.iter().map(|(_, r)| r[k]).collect();
            let max = v.iter().cloned().fold(0.0, f64::max);
            let m = median(v).expect("pairs is not empty");
            out.push_str(&format!(" **{m:.2}x** (max {max:.2}x) |"));
        }
    }
    out.push_str("\n\n## Code size (wasm code section, bytes) and gas\n\n| program | original | instrumented | ratio | gas used | pauses at 10k |  result |\n|---|---|---|---|---|---|---|\n");
    for s in sizes {
        out.push_str(s);
        out.push('\n');
    }
    out.push_str(
        "\n## Pause + resume, snapshots, construction (median)\n\n| measure | time |\n|---|---|\n",
    );
    let singles = [
        (
            "pause_resume",
            "depth/0",
            "one pause + resume, shallow stack",
        ),
        (
            "pause_resume",
            "depth/50",
            "one pause + resume, 50 frames deep",
        ),
        (
            "migrate",
            "snapshot_to_bytes",
            "snapshot to bytes, paused fib (1 page), nothing written since the last",
        ),
        (
            "migrate",
            "snapshot_to_bytes_after_write",
            "snapshot to bytes, paused fib (1 page), memory written since the last",
        ),
        (
            "migrate",
            "new_executor",
            "new Executor, fib, module cached",
        ),
        (
            "migrate",
            "new_executor_and_restore",
            "new Executor + restore from bytes, paused fib",
        ),
        (
            "new_executor",
            "cold",
            "new Executor, cold (instrument + compile sha256)",
        ),
        (
            "new_executor",
            "cached",
            "new Executor, module cached (sha256, 1.3 KB, 65 pages)",
        ),
        (
            "new_executor",
            "cached_libc",
            "new Executor, module cached (libc, 133 KB)",
        ),
    ];
    for (group, id, label) in singles {
        if let Some(t) = median_ns(&dir, group, id) {
            out.push_str(&format!("| {label} | {} |\n", fmt_ns(t)));
        }
    }
    for (pages, label) in [("1MiB", "1 MiB"), ("64MiB", "64 MiB")] {
        for (kind, kind_label) in [("90pct_zero", "90 % zero"), ("random", "random")] {
            for (dir_name, what) in [
                ("serialize", "serialize, nothing written since the last,"),
                (
                    "serialize_after_write",
                    "serialize, memory written since the last,",
                ),
                ("deserialize", "deserialize,"),
            ] {
                if let Some(t) = median_ns(&dir, "snapshot", &format!("{dir_name}/{pages}_{kind}"))
                {
                    out.push_str(&format!(
                        "| {what} {label} {kind_label} | {} |\n",
                        fmt_ns(t)
                    ));
                }
            }
        }
    }
    out.push_str("\n| snapshot | size |\n|---|---|\n");
    for s in snapshot_sizes {
        out.push_str(s);
        out.push('\n');
    }
    println!("\n{out}");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("summary.md"), &out);
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut sizes = Vec::new();
    let mut snapshot_sizes = Vec::new();
    let mut pairs = Vec::new();
    execution(&mut c, &mut sizes, &mut pairs);
    pause_resume(&mut c);
    migration(&mut c);
    snapshots(&mut c, &mut snapshot_sizes);
    construction(&mut c);
    c.final_summary();
    summary(&sizes, &snapshot_sizes, &pairs);
}
