//! Scale check: N live executors of one program, each run to a pause.
//! `cargo run --release --example many -- 10000`
use wasm_sandbox_core::{Executor, ExecutorConfig, NoHost, Program, ProgramOptions, RunOutcome};

fn status_kb(key: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(10_000);
    let wasm = wat::parse_str(
        r#"(module (memory 1)
             (func (export "entry") (local $i i32)
               (loop $l (i32.store (i32.const 0) (local.get $i))
                 (local.set $i (i32.add (local.get $i) (i32.const 1)))
                 (br_if $l (i32.lt_u (local.get $i) (i32.const 1000000))))))"#,
    )
    .unwrap();
    let p = Program::load(&wasm, &ProgramOptions::default()).unwrap();
    let (vm0, rss0) = (status_kb("VmSize:"), status_kb("VmRSS:"));
    let t = std::time::Instant::now();
    let mut all = Vec::with_capacity(n);
    for _ in 0..n {
        let mut e = Executor::new(
            p.clone(),
            ExecutorConfig {
                memory_limit_pages: 16,
                entry: None,
            },
        )
        .unwrap();
        assert_eq!(e.run(1000, &mut NoHost).unwrap(), RunOutcome::Paused);
        all.push(e);
    }
    let el = t.elapsed();
    let (vm1, rss1) = (status_kb("VmSize:"), status_kb("VmRSS:"));
    println!(
        "{n} executors: {:.1} us each; VmSize +{:.1} GiB ({:.2} GiB each), VmRSS +{:.1} MiB ({:.1} KiB each)",
        el.as_secs_f64() * 1e6 / n as f64,
        (vm1 - vm0) as f64 / 1048576.0,
        (vm1 - vm0) as f64 / 1048576.0 / n as f64,
        (rss1 - rss0) as f64 / 1024.0,
        (rss1 - rss0) as f64 / n as f64
    );
}
