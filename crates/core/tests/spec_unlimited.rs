//! Spec suite, unlimited gas: every module of every core `.wast` file is
//! instrumented (`__ws_gas` patched to a huge balance, the start function put
//! back), precompiled, and the file is run by the unmodified `wasmtime-wast`
//! runner (`precompile_load`), one directive at a time so every assertion is
//! counted. A baseline run loads the same files with the original modules.
//! Every directive must end the same way in both runs.
//!
//! Modules the instrumenter refuses (unsupported feature) run uninstrumented
//! in both runs; they are listed with the reason, and their directives are
//! counted apart.
//!
//! `SPEC_ONLY=i32,fac` limits the run to some files.

mod common;
#[path = "common/spec.rs"]
mod spec;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{standalone, UNLIMITED_GAS};
use spec::{command_file, convert, is_assertion, spec_files, SpecFile};
use wasm_sandbox_core::{instrument, Error, InstrumentConfig};
use wasmtime::{Config, Engine};
use wasmtime_wast::{Async, SpectestConfig, WastContext};

/// Epoch ticks (100 ms each) a file may run before wasmtime interrupts it.
const FILE_DEADLINE_TICKS: u64 = 1200;

/// Prints past the test harness' output capture.
fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.write_all(b"\n");
    let _ = o.flush();
}

fn engine() -> Engine {
    let mut c = Config::new();
    c.epoch_interruption(true);
    // wasmtime's default proposals (as wasmtime-wast runs the suite), so
    // the baseline covers modules outside our feature set too; those are
    // refused by the instrumenter and run uninstrumented in both runs.
    let engine = Engine::new(&c).expect("engine");
    let e = engine.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(100));
        e.increment_epoch();
    });
    engine
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// Acts on an instrumented module.
    Instrumented,
    /// Acts on a module the instrumenter refused (run uninstrumented).
    Refused,
    /// No module, or one that does not compile (invalid on purpose).
    Other,
}

struct Directive {
    ty: String,
    line: u64,
    target: Target,
    base: Result<(), String>,
    inst: Result<(), String>,
}

#[derive(Default)]
struct FileReport {
    label: String,
    fatal: Option<String>,
    modules: usize,
    instrumented: usize,
    refused: Vec<(String, String)>,
    /// Instrumented modules that the engine could not compile (a bug).
    broken: Vec<(String, String)>,
    directives: Vec<Directive>,
}

/// Which module variant goes into the instrumented run's directory.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    Unlimited,
    /// Control: the instrumented module as the instrumenter emits it (gas 0):
    /// the runs must differ, proving the instrumented binaries are the ones
    /// executed.
    ZeroGas,
}

fn run_file_directives(engine: &Engine, dir: &Path, n: usize) -> Vec<Result<(), String>> {
    let mut cx = WastContext::new(engine, Async::No, |store| {
        store.set_epoch_deadline(FILE_DEADLINE_TICKS);
    });
    cx.register_spectest(&SpectestConfig {
        use_shared_memory: false,
        suppress_prints: true,
    })
    .expect("spectest");
    cx.generate_dwarf(false);
    cx.ignore_error_messages(true);
    cx.precompile_load(dir);
    (0..n)
        .map(|i| {
            cx.run_file(Path::new(&format!("c{i}.wast")))
                .map_err(|e| format!("{e:?}"))
        })
        .collect()
}

fn process(engine: &Engine, file: &SpecFile, root: &Path, variant: Variant) -> FileReport {
    let mut rep = FileReport {
        label: file.label.clone(),
        ..Default::default()
    };
    let conv = match convert(&file.name, file.text) {
        Ok(c) => c,
        Err(e) => {
            rep.fatal = Some(format!("json-from-wast conversion failed: {e:#}"));
            return rep;
        }
    };
    let stem = file.name.trim_end_matches(".wast");
    let base_dir = root.join(format!("{stem}.base"));
    let inst_dir = root.join(format!("{stem}.inst"));
    std::fs::create_dir_all(&base_dir).unwrap();
    std::fs::create_dir_all(&inst_dir).unwrap();

    let mut instrumented: HashSet<String> = HashSet::new();
    let mut refused: HashSet<String> = HashSet::new();
    for (name, bytes) in &conv.wasms {
        if !wasmparser::Parser::is_core_wasm(bytes) {
            continue;
        }
        let cwasm = Path::new(name).with_extension("cwasm");
        let base = engine.precompile_module(bytes).ok();
        if let Some(b) = &base {
            rep.modules += 1;
            std::fs::write(base_dir.join(&cwasm), b).unwrap();
        }
        match instrument(bytes, &InstrumentConfig::default()) {
            Ok(i) => {
                let patched = match variant {
                    Variant::Unlimited => standalone(&i.wasm, UNLIMITED_GAS),
                    Variant::ZeroGas => standalone(&i.wasm, 0),
                };
                match engine.precompile_module(&patched) {
                    Ok(c) => {
                        std::fs::write(inst_dir.join(&cwasm), c).unwrap();
                        instrumented.insert(name.clone());
                        rep.instrumented += 1;
                        if base.is_none() {
                            // The instrumenter accepted a module the engine
                            // refuses; the directive comparison will show it.
                            rep.broken.push((
                                name.clone(),
                                "instrumenter accepted a module wasmtime rejects".into(),
                            ));
                        }
                    }
                    Err(e) => rep.broken.push((name.clone(), format!("{e:#}"))),
                }
            }
            Err(e) => {
                if let Some(b) = &base {
                    // Valid module refused: run it uninstrumented in both runs.
                    std::fs::write(inst_dir.join(&cwasm), b).unwrap();
                    refused.insert(name.clone());
                    rep.refused
                        .push((name.clone(), format!("{}: {e}", e.code())));
                    if matches!(e, Error::Internal(_)) {
                        rep.broken.push((name.clone(), format!("{e}")));
                    }
                }
            }
        }
    }

    // One JSON per directive, so the runner reports each one.
    for (i, cmd) in conv.commands.iter().enumerate() {
        let json = serde_json::json!({
            "source_filename": file.name,
            "commands": [cmd],
        });
        let text = serde_json::to_string(&json).unwrap();
        std::fs::write(base_dir.join(format!("c{i}.json")), &text).unwrap();
        std::fs::write(inst_dir.join(format!("c{i}.json")), &text).unwrap();
    }

    // Which module each directive acts on.
    let mut current: Option<String> = None;
    let mut named: HashMap<String, String> = HashMap::new();
    let mut defs: HashMap<Option<String>, String> = HashMap::new();
    let mut targets = Vec::new();
    for cmd in &conv.commands {
        let ty = cmd["type"].as_str().unwrap_or("?").to_string();
        let name = |k: &str| cmd.get(k).and_then(|v| v.as_str()).map(|s| s.to_string());
        let file_of_action = |current: &Option<String>, named: &HashMap<String, String>| match cmd
            ["action"]
            .get("module")
            .and_then(|v| v.as_str())
        {
            Some(m) => named.get(m).cloned(),
            None => current.clone(),
        };
        let target_file = match ty.as_str() {
            "module" => {
                let f = command_file(cmd);
                if let (Some(n), Some(f)) = (name("name"), &f) {
                    named.insert(n, f.clone());
                }
                current = f.clone();
                f
            }
            "module_definition" => {
                let f = command_file(cmd);
                if let Some(f) = &f {
                    defs.insert(name("name"), f.clone());
                }
                f
            }
            "module_instance" => {
                let f = defs.get(&name("module")).cloned();
                if let (Some(n), Some(f)) = (name("instance"), &f) {
                    named.insert(n, f.clone());
                }
                current = f.clone();
                f
            }
            "register" => match name("name") {
                Some(n) => named.get(&n).cloned(),
                None => current.clone(),
            },
            "assert_invalid"
            | "assert_malformed"
            | "assert_unlinkable"
            | "assert_uninstantiable"
            | "assert_invalid_custom"
            | "assert_malformed_custom" => command_file(cmd),
            _ if cmd.get("action").is_some() => file_of_action(&current, &named),
            _ => None,
        };
        let target = match target_file {
            Some(f) if instrumented.contains(&f) => Target::Instrumented,
            Some(f) if refused.contains(&f) => Target::Refused,
            _ => Target::Other,
        };
        targets.push((ty, cmd["line"].as_u64().unwrap_or(0), target));
    }

    let n = conv.commands.len();
    let base = run_file_directives(engine, &base_dir, n);
    let inst = run_file_directives(engine, &inst_dir, n);
    for (((ty, line, target), base), inst) in targets.into_iter().zip(base).zip(inst) {
        rep.directives.push(Directive {
            ty,
            line,
            target,
            base,
            inst,
        });
    }
    let _ = std::fs::remove_dir_all(&base_dir);
    let _ = std::fs::remove_dir_all(&inst_dir);
    rep
}

fn run_all(files: Vec<SpecFile>, variant: Variant) -> Vec<FileReport> {
    let engine = engine();
    let root: PathBuf = std::env::temp_dir().join(format!(
        "ws-spec-unlimited-{}-{}",
        std::process::id(),
        match variant {
            Variant::Unlimited => "u",
            Variant::ZeroGas => "z",
        }
    ));
    std::fs::create_dir_all(&root).unwrap();
    let files = Arc::new(files);
    let next = Arc::new(AtomicUsize::new(0));
    let reports = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (engine, files, next, reports, root, stop) = (
                engine.clone(),
                files.clone(),
                next.clone(),
                reports.clone(),
                root.clone(),
                stop.clone(),
            );
            std::thread::Builder::new()
                .stack_size(64 << 20)
                .spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= files.len() || stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let r = process(&engine, &files[i], &root, variant);
                    reports.lock().unwrap().push((i, r));
                })
                .unwrap()
        })
        .collect();
    for w in workers {
        w.join().expect("spec worker panicked");
    }
    let _ = std::fs::remove_dir_all(&root);
    let mut reports = std::mem::take(&mut *reports.lock().unwrap());
    reports.sort_by_key(|(i, _)| *i);
    reports.into_iter().map(|(_, r)| r).collect()
}

/// `assert_exhaustion` is met by our deterministic call-depth trap instead
/// of the engine's stack overflow: same directive, documented difference.
fn depth_limit_exhaustion(d: &Directive) -> bool {
    d.ty == "assert_exhaustion"
        && d.base.is_ok()
        && matches!(&d.inst, Err(e) if e.contains("__ws_trap_call_depth"))
}

fn first_line(s: &str) -> String {
    let s = s.replace('\n', " | ");
    if s.len() > 400 {
        format!("{}…", &s[..400])
    } else {
        s
    }
}

#[test]
fn spec_suite_unlimited_gas_matches_baseline() {
    let files = spec_files();
    assert!(!files.is_empty());
    let reports = run_all(files, Variant::Unlimited);

    let mut passed = 0usize;
    let mut failed = 0usize;
    let mut base_passed = 0usize;
    let mut base_failed = 0usize;
    let mut refused_dirs = (0usize, 0usize);
    let mut depth_exhaustion = 0usize;
    let mut instrumented_modules = 0usize;
    let mut total_modules = 0usize;
    let mut regressions = Vec::new();
    let mut problems = Vec::new();
    let mut skipped_files = Vec::new();
    let mut partial = Vec::new();
    let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();

    for r in &reports {
        if let Some(f) = &r.fatal {
            problems.push(format!("{}: {f}", r.label));
            continue;
        }
        total_modules += r.modules;
        instrumented_modules += r.instrumented;
        for (m, why) in &r.broken {
            problems.push(format!("{} {m}: {why}", r.label));
        }
        for (_, why) in &r.refused {
            let key: String = why.chars().take(90).collect();
            *by_reason.entry(key).or_default() += 1;
        }
        if !r.refused.is_empty() {
            let reasons: Vec<String> = {
                let mut v: Vec<String> = r.refused.iter().map(|(_, w)| w.clone()).collect();
                v.sort();
                v.dedup();
                v
            };
            let line = format!(
                "{}: {}/{} modules refused: {}",
                r.label,
                r.refused.len(),
                r.modules,
                reasons.join("; ")
            );
            if r.instrumented == 0 {
                skipped_files.push(line);
            } else {
                partial.push(line);
            }
        }
        for d in &r.directives {
            let depth = depth_limit_exhaustion(d);
            if depth {
                depth_exhaustion += 1;
            }
            let inst_ok = d.inst.is_ok() || depth;
            if is_assertion(&d.ty) {
                if d.base.is_ok() {
                    base_passed += 1;
                } else {
                    base_failed += 1;
                }
                if inst_ok {
                    passed += 1;
                } else {
                    failed += 1;
                }
                if d.target == Target::Refused {
                    if inst_ok {
                        refused_dirs.0 += 1;
                    } else {
                        refused_dirs.1 += 1;
                    }
                }
            }
            if let (Err(e), true) = (&d.base, std::env::var("SPEC_SHOW_BASELINE").is_ok()) {
                out(&format!(
                    "BASELINE FAIL: {}:{} {}: {}",
                    r.label,
                    d.line,
                    d.ty,
                    first_line(e)
                ));
            }
            if d.base.is_ok() != inst_ok {
                regressions.push(format!(
                    "{}:{} {} ({:?}): baseline {} / instrumented {}",
                    r.label,
                    d.line,
                    d.ty,
                    d.target,
                    match &d.base {
                        Ok(()) => "ok".to_string(),
                        Err(e) => first_line(e),
                    },
                    match &d.inst {
                        Ok(()) => "ok".to_string(),
                        Err(e) => first_line(e),
                    },
                ));
            }
        }
    }

    out(&format!(
        "spec files: {}, modules: {} valid, {} instrumented, {} refused",
        reports.len(),
        total_modules,
        instrumented_modules,
        by_reason.values().sum::<usize>()
    ));
    out("refusals by reason:");
    for (why, n) in &by_reason {
        out(&format!("  {n:5}  {why}"));
    }
    out(&format!(
        "skipped files (every module refused): {}",
        skipped_files.len()
    ));
    for s in &skipped_files {
        out(&format!("  skipped: {s}"));
    }
    out(&format!(
        "files with some modules refused (run uninstrumented): {}",
        partial.len()
    ));
    for s in &partial {
        out(&format!("  partial: {s}"));
    }
    out(&format!(
        "assertions on refused modules (uninstrumented): {} passed, {} failed",
        refused_dirs.0, refused_dirs.1
    ));
    out(&format!(
        "assert_exhaustion met by the call-depth limit: {depth_exhaustion}"
    ));
    out(&format!(
        "baseline: {base_passed} passed, {base_failed} failed"
    ));
    for p in &problems {
        out(&format!("PROBLEM: {p}"));
    }
    for r in regressions.iter().take(200) {
        out(&format!("REGRESSION: {r}"));
    }
    out(&format!("regressions: {}", regressions.len()));
    out(&format!("{passed} passed, {failed} failed"));

    if std::env::var("SPEC_ONLY").is_err() {
        assert!(
            instrumented_modules > 1000,
            "too few modules instrumented: {instrumented_modules}"
        );
    }
    assert!(
        problems.is_empty(),
        "{} problems (see PROBLEM lines)",
        problems.len()
    );
    assert!(
        regressions.is_empty(),
        "{} directives differ from the baseline (see REGRESSION lines)",
        regressions.len()
    );
    assert_eq!(passed, base_passed);
}

/// Control: with the balance the instrumenter emits (0), the instrumented
/// modules unwind instead of computing, so the runs must differ — proof that
/// the unlimited run really executes the instrumented binaries. (Files with
/// loops and calls: straight-line leaf functions need no pause check.)
#[test]
fn spec_control_zero_gas_is_detected() {
    let files: Vec<SpecFile> = spec_files()
        .into_iter()
        .filter(|f| f.name == "fac.wast" || f.name == "loop.wast")
        .collect();
    assert_eq!(files.len(), 2);
    let reports = run_all(files, Variant::ZeroGas);
    for r in &reports {
        assert!(r.fatal.is_none(), "{:?}", r.fatal);
        assert!(r.instrumented > 0);
        let differing = r
            .directives
            .iter()
            .filter(|d| d.target == Target::Instrumented && d.base.is_ok() != d.inst.is_ok())
            .count();
        assert!(differing > 0, "{}: zero gas changed nothing", r.label);
    }
}
