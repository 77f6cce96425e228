//! Spec suite, pause path: every `invoke`/`get` of `assert_return`,
//! `assert_trap`, `assert_exhaustion` and plain actions on modules that
//! import only `spectest` print functions runs through
//! `Program`/`Executor` in small random gas slices; at every pause the state
//! goes snapshot → bytes (sometimes JSON) → `Snapshot::from_bytes` → a fresh
//! executor → `restore` → continue.
//!
//! The executor runs one param-less entry, so each module instance gets a
//! *driver*: the original module plus an exported `ws_test_entry` that asks
//! the host (`ws_test.next`) which invocation to run next, calls it with its
//! constant arguments and reports every result back (`ws_test.r_*`). All
//! invocations of an instance run in one guest, in order, so state carries
//! over exactly as in the `.wast` file. Before an invocation that must trap
//! (and before a random sample of others) the host makes the driver spin
//! until it pauses, snapshots there, and forks: the trapping invocation runs
//! in one fresh executor and the rest continues from the same snapshot in
//! another; for the sampled ones the snapshot is restored into the old
//! executor and a fresh one, both run the invocation with the same slices and
//! must pause identically (same snapshot bytes) and report the same results.
//!
//! `SPEC_ONLY=i32,fac` limits the run to some files.

mod common;
#[path = "common/spec.rs"]
mod spec;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{
    build_driver, end_of, executor, hash_str, migrate, DriverHost, End, Rng, Slicing, Step,
};
use serde_json::Value as Json;
use spec::{command_file, convert, spec_files, SpecFile};
use wasm_sandbox_core::{Error, Executor, Program, ProgramOptions, Snapshot, TrapKind, Value};

const MEMORY_LIMIT_PAGES: u64 = 65536;
/// A run of one instance that pauses more often than this is a failure.
const MAX_PAUSES: u64 = 2_000_000;

fn out(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.write_all(b"\n");
    let _ = o.flush();
}

#[derive(Clone, Debug)]
enum Exp {
    I32(i32),
    I64(i64),
    F32(Option<u32>, NanKind),
    F64(Option<u64>, NanKind),
    Either(Vec<Exp>),
}

#[derive(Clone, Copy, Debug)]
enum NanKind {
    No,
    Canonical,
    Arithmetic,
}

#[derive(Clone, Debug)]
enum Expect {
    Return(Vec<Exp>),
    Trap(String),
    Exhaustion,
    /// A plain action: must not trap.
    Action,
}

#[derive(Clone, Debug)]
struct Inv {
    line: u64,
    step: Step,
    expect: Expect,
}

fn parse_int(v: &Json) -> Option<i128> {
    v.as_str()?.parse::<i128>().ok()
}

fn parse_exp(v: &Json) -> Result<Exp, String> {
    let ty = v["type"].as_str().unwrap_or("?");
    let val = &v["value"];
    Ok(match ty {
        "i32" => Exp::I32(parse_int(val).ok_or("bad i32")? as i32),
        "i64" => Exp::I64(parse_int(val).ok_or("bad i64")? as i64),
        "f32" | "f64" => {
            let s = val.as_str().ok_or("bad float")?;
            let (bits, nan) = match s {
                "nan:canonical" => (None, NanKind::Canonical),
                "nan:arithmetic" => (None, NanKind::Arithmetic),
                s => (
                    Some(s.parse::<u64>().map_err(|e| e.to_string())?),
                    NanKind::No,
                ),
            };
            if ty == "f32" {
                Exp::F32(bits.map(|b| b as u32), nan)
            } else {
                Exp::F64(bits, nan)
            }
        }
        "either" => Exp::Either(
            v["values"]
                .as_array()
                .ok_or("bad either")?
                .iter()
                .map(parse_exp)
                .collect::<Result<_, _>>()?,
        ),
        other => return Err(format!("value type {other}")),
    })
}

fn parse_arg(v: &Json) -> Result<Value, String> {
    Ok(match parse_exp(v)? {
        Exp::I32(x) => Value::I32(x),
        Exp::I64(x) => Value::I64(x),
        Exp::F32(Some(b), _) => Value::F32(b),
        Exp::F64(Some(b), _) => Value::F64(b),
        other => return Err(format!("argument {other:?}")),
    })
}

fn matches(e: &Exp, v: &Value) -> bool {
    match (e, v) {
        (Exp::I32(a), Value::I32(b)) => a == b,
        (Exp::I64(a), Value::I64(b)) => a == b,
        (Exp::F32(Some(a), NanKind::No), Value::F32(b)) => a == b,
        (Exp::F32(_, NanKind::Canonical), Value::F32(b)) => b & 0x7fff_ffff == 0x7fc0_0000,
        (Exp::F32(_, NanKind::Arithmetic), Value::F32(b)) => b & 0x7fc0_0000 == 0x7fc0_0000,
        (Exp::F64(Some(a), NanKind::No), Value::F64(b)) => a == b,
        (Exp::F64(_, NanKind::Canonical), Value::F64(b)) => {
            b & 0x7fff_ffff_ffff_ffff == 0x7ff8_0000_0000_0000
        }
        (Exp::F64(_, NanKind::Arithmetic), Value::F64(b)) => {
            b & 0x7ff8_0000_0000_0000 == 0x7ff8_0000_0000_0000
        }
        (Exp::Either(alts), v) => alts.iter().any(|a| matches(a, v)),
        _ => false,
    }
}

/// The trap kinds that satisfy an `assert_trap` message.
fn trap_kinds(text: &str) -> Vec<TrapKind> {
    let t = text;
    if t.contains("unreachable") {
        vec![TrapKind::Unreachable]
    } else if t.contains("out of bounds memory access") || t.contains("memory access out of bounds")
    {
        vec![TrapKind::MemoryOutOfBounds]
    } else if t.contains("undefined element") || t.contains("out of bounds table access") {
        vec![TrapKind::TableOutOfBounds]
    } else if t.contains("uninitialized element") {
        vec![TrapKind::IndirectCallToNull]
    } else if t.contains("indirect call type mismatch") {
        vec![TrapKind::BadSignature]
    } else if t.contains("integer overflow") {
        vec![TrapKind::IntegerOverflow]
    } else if t.contains("integer divide by zero") {
        vec![TrapKind::IntegerDivisionByZero]
    } else if t.contains("invalid conversion to integer") {
        vec![TrapKind::BadConversionToInteger]
    } else if t.contains("call stack exhausted") {
        vec![TrapKind::CallDepthExceeded, TrapKind::StackOverflow]
    } else {
        vec![]
    }
}

struct Instance {
    label: String,
    bytes: Vec<u8>,
    /// Why the instance is not run (imports other than spectest functions).
    ineligible: Option<String>,
    /// No more invocations once another module may import from it.
    closed: bool,
    invs: Vec<Inv>,
}

#[derive(Default)]
struct Report {
    passed: usize,
    failed: Vec<String>,
    /// (reason, invocations not run)
    skipped: Vec<(String, usize)>,
    pauses: u64,
    forks: u64,
    twice_checks: u64,
    instances_run: usize,
    gas: u64,
}

fn spectest_only(bytes: &[u8]) -> Result<(), String> {
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        if let Ok(wasmparser::Payload::ImportSection(reader)) = payload {
            for imp in reader.into_imports() {
                let imp = imp.map_err(|e| e.to_string())?;
                let ok = imp.module == "spectest"
                    && imp.name.starts_with("print")
                    && matches!(imp.ty, wasmparser::TypeRef::Func(_));
                if !ok {
                    return Err(format!("imports {}.{}", imp.module, imp.name));
                }
            }
        }
    }
    Ok(())
}

fn collect(file: &SpecFile) -> Result<Vec<Instance>, String> {
    let conv = convert(&file.name, file.text).map_err(|e| format!("{e:#}"))?;
    let wasms: HashMap<String, Vec<u8>> = conv.wasms.into_iter().collect();
    let mut instances: Vec<Instance> = Vec::new();
    let mut current: Option<usize> = None;
    let mut named: HashMap<String, usize> = HashMap::new();
    let mut defs: HashMap<Option<String>, String> = HashMap::new();
    let new_instance = |instances: &mut Vec<Instance>, f: &str, line: u64| -> Option<usize> {
        let bytes = wasms.get(f)?.clone();
        let ineligible = spectest_only(&bytes).err();
        instances.push(Instance {
            label: format!("{}:{line}", file.label),
            bytes,
            ineligible,
            closed: false,
            invs: vec![],
        });
        Some(instances.len() - 1)
    };
    for cmd in &conv.commands {
        let ty = cmd["type"].as_str().unwrap_or("?");
        let line = cmd["line"].as_u64().unwrap_or(0);
        let name = |k: &str| cmd.get(k).and_then(|v| v.as_str()).map(|s| s.to_string());
        match ty {
            "module" => {
                current = command_file(cmd).and_then(|f| new_instance(&mut instances, &f, line));
                if let (Some(n), Some(i)) = (name("name"), current) {
                    named.insert(n, i);
                }
            }
            "module_definition" => {
                if let Some(f) = command_file(cmd) {
                    defs.insert(name("name"), f);
                }
            }
            "module_instance" => {
                current = defs
                    .get(&name("module"))
                    .cloned()
                    .and_then(|f| new_instance(&mut instances, &f, line));
                if let (Some(n), Some(i)) = (name("instance"), current) {
                    named.insert(n, i);
                }
            }
            "register" => {
                let i = match name("name") {
                    Some(n) => named.get(&n).copied(),
                    None => current,
                };
                if let Some(i) = i {
                    instances[i].closed = true;
                }
            }
            "action" | "assert_return" | "assert_trap" | "assert_exhaustion" => {
                let action = &cmd["action"];
                let target = match action.get("module").and_then(|v| v.as_str()) {
                    Some(m) => named.get(m).copied(),
                    None => current,
                };
                let Some(t) = target else { continue };
                if instances[t].closed {
                    continue;
                }
                let field = action["field"].as_str().unwrap_or("").to_string();
                let step = match action["type"].as_str() {
                    Some("invoke") => {
                        let args: Result<Vec<Value>, String> = action["args"]
                            .as_array()
                            .map(|a| a.iter().map(parse_arg).collect())
                            .unwrap_or(Ok(vec![]));
                        match args {
                            Ok(args) => Step::Invoke {
                                export: field,
                                args,
                            },
                            Err(e) => {
                                instances[t]
                                    .ineligible
                                    .get_or_insert(format!("argument: {e}"));
                                continue;
                            }
                        }
                    }
                    _ => Step::Get { export: field },
                };
                let expect = match ty {
                    "assert_return" => {
                        let exp: Result<Vec<Exp>, String> = cmd["expected"]
                            .as_array()
                            .map(|a| a.iter().map(parse_exp).collect())
                            .unwrap_or(Ok(vec![]));
                        match exp {
                            Ok(e) => Expect::Return(e),
                            Err(e) => {
                                instances[t]
                                    .ineligible
                                    .get_or_insert(format!("result: {e}"));
                                continue;
                            }
                        }
                    }
                    "assert_trap" => Expect::Trap(cmd["text"].as_str().unwrap_or("").to_string()),
                    "assert_exhaustion" => Expect::Exhaustion,
                    _ => Expect::Action,
                };
                instances[t].invs.push(Inv { line, step, expect });
            }
            _ => {}
        }
    }
    Ok(instances)
}

/// Drives `ex` to the end, migrating into a fresh executor at every pause.
fn drive(
    mut ex: Executor,
    host: &mut DriverHost,
    slicing: &mut Slicing,
    rng: &mut Rng,
    report: &mut Report,
) -> Result<(End, Executor), String> {
    let mut pauses = 0u64;
    loop {
        match end_of(ex.run(slicing.next(), host)) {
            None => {
                pauses += 1;
                report.pauses += 1;
                if pauses > MAX_PAUSES {
                    return Err("too many pauses".into());
                }
                if host.spinning {
                    return Err("unexpected spin in a forked run".into());
                }
                ex = migrate(&mut ex, MEMORY_LIMIT_PAGES, rng.chance(8))?;
            }
            Some(end) => return Ok((end, ex)),
        }
    }
}

fn restore_fresh(program: &Arc<Program>, snap: &Snapshot) -> Result<Executor, String> {
    let mut e = executor(program, MEMORY_LIMIT_PAGES);
    e.restore(snap).map_err(|e| format!("restore: {e}"))?;
    Ok(e)
}

fn check_step(inv: &Inv, values: Option<&Vec<Value>>) -> Result<(), String> {
    match (&inv.expect, values) {
        (Expect::Return(exp), Some(vals)) => {
            if exp.len() == vals.len() && exp.iter().zip(vals).all(|(e, v)| matches(e, v)) {
                Ok(())
            } else {
                Err(format!("expected {exp:?}, got {vals:?}"))
            }
        }
        (Expect::Action, Some(_)) => Ok(()),
        (_, None) => Err("did not run".into()),
        (Expect::Trap(t), Some(v)) => Err(format!("expected trap {t:?}, got {v:?}")),
        (Expect::Exhaustion, Some(v)) => Err(format!("expected exhaustion, got {v:?}")),
    }
}

fn run_instance(inst: &Instance, seed: u64, report: &mut Report) {
    let steps: Vec<Step> = inst.invs.iter().map(|i| i.step.clone()).collect();
    let n = steps.len();
    let skip = |report: &mut Report, why: String| report.skipped.push((why, n));
    let driver = match build_driver(&inst.bytes, &steps) {
        Ok(d) => d,
        Err(e) => return skip(report, format!("driver: {e}")),
    };
    let program = match Program::load(&driver, &ProgramOptions::default()) {
        Ok(p) => p,
        Err(e @ (Error::UnsupportedFeature(_) | Error::UnsupportedModule(_))) => {
            return skip(report, format!("{}: {e}", e.code()))
        }
        Err(e) => {
            report
                .failed
                .push(format!("{}: Program::load: {} {e}", inst.label, e.code()));
            return;
        }
    };
    report.instances_run += 1;
    let mut rng = Rng::new(seed);
    let max_slice = [3u64, 10, 40, 200, 3000][rng.range(0, 4) as usize];
    // Small slices, doubling every 16 pauses of one invocation (long loops
    // and deep recursion would otherwise take millions of pauses).
    let mut slicing = Slicing::escalating(Rng::new(rng.next_u64()), max_slice, 16);
    let mut steps_seen = 0usize;
    let mut host = DriverHost::new(&program, n).expect("driver host");
    let mut twice = vec![false; n];
    for (k, inv) in inst.invs.iter().enumerate() {
        match inv.expect {
            Expect::Trap(_) | Expect::Exhaustion => host.fork_at[k] = true,
            _ if rng.chance(12) => {
                host.fork_at[k] = true;
                twice[k] = true;
            }
            _ => {}
        }
    }
    // Per-step outcome: Ok(values) or a trap checked at its fork.
    let mut trap_results: HashMap<usize, Result<(), String>> = HashMap::new();
    let fail_all = |report: &mut Report, msg: String| {
        report.failed.push(format!("{}: {msg}", inst.label));
    };

    let mut ex = executor(&program, MEMORY_LIMIT_PAGES);
    let mut pauses = 0u64;
    let end = loop {
        if host.done.len() != steps_seen {
            steps_seen = host.done.len();
            slicing.reset();
        }
        match end_of(ex.run(slicing.next(), &mut host)) {
            None if host.spinning => {
                report.forks += 1;
                let k = host.pos;
                let snap = match ex.snapshot() {
                    Ok(s) => s,
                    Err(e) => break End::Error(format!("snapshot at fork: {e}")),
                };
                let bytes = snap.to_bytes();
                let snap = match Snapshot::from_bytes(&bytes) {
                    Ok(s) => s,
                    Err(e) => break End::Error(format!("from_bytes at fork: {e}")),
                };
                host.spinning = false;
                host.forked = true;
                match &inst.invs[k].expect {
                    Expect::Trap(_) | Expect::Exhaustion => {
                        let want = match &inst.invs[k].expect {
                            Expect::Trap(t) => trap_kinds(t),
                            _ => trap_kinds("call stack exhausted"),
                        };
                        let mut h = host.clone();
                        h.stop_before = k + 1;
                        slicing.reset();
                        let r = restore_fresh(&program, &snap)
                            .and_then(|a| drive(a, &mut h, &mut slicing.clone(), &mut rng, report));
                        let res = match r {
                            Ok((End::Trap(kind), _)) if want.contains(&kind) => Ok(()),
                            Ok((End::Trap(kind), _)) => {
                                Err(format!("expected trap {want:?}, got trap {kind:?}"))
                            }
                            Ok((other, _)) => Err(format!(
                                "expected trap {want:?}, got {other:?} with results {:?}",
                                h.done.last()
                            )),
                            Err(e) => Err(e),
                        };
                        trap_results.insert(k, res);
                        host.pos = k + 1;
                        host.forked = false;
                    }
                    _ => {
                        debug_assert!(twice[k]);
                        report.twice_checks += 1;
                        if let Err(e) = restore_twice(&program, &mut ex, &snap, &host, k, &slicing)
                        {
                            report.failed.push(format!(
                                "{}: line {}: restoring the same snapshot twice: {e}",
                                inst.label, inst.invs[k].line
                            ));
                        }
                    }
                }
                ex = match restore_fresh(&program, &snap) {
                    Ok(e) => e,
                    Err(e) => break End::Error(e),
                };
            }
            None => {
                pauses += 1;
                report.pauses += 1;
                if pauses > MAX_PAUSES {
                    break End::Error("too many pauses".into());
                }
                ex = match migrate(&mut ex, MEMORY_LIMIT_PAGES, rng.chance(8)) {
                    Ok(e) => e,
                    Err(e) => break End::Error(e),
                };
            }
            Some(end) => break end,
        }
    };

    report.gas += ex.gas_used();
    let done: HashMap<usize, &Vec<Value>> = host.done.iter().map(|d| (d.step, &d.values)).collect();
    let last = host.done.last().map(|d| d.step);
    if end != End::Finished {
        let at = last
            .map(|k| format!("line {}", inst.invs[k].line))
            .unwrap_or_else(|| "start".into());
        fail_all(report, format!("run ended with {end:?} at {at}"));
    }
    for (k, inv) in inst.invs.iter().enumerate() {
        let r = match trap_results.remove(&k) {
            Some(r) => r,
            None => {
                // A step that ended the run with a trap did not finish.
                let finished = end == End::Finished || Some(k) != last;
                check_step(
                    inv,
                    if finished {
                        done.get(&k).copied()
                    } else {
                        None
                    },
                )
            }
        };
        match r {
            Ok(()) => report.passed += 1,
            Err(e) => report
                .failed
                .push(format!("{} line {}: {e}", inst.label, inv.line)),
        }
    }
}

/// Restores `snap` into the old executor and into a fresh one and runs step
/// `k` in both with the same gas slices: every pause must give identical
/// snapshots, and both must report the same results and gas.
fn restore_twice(
    program: &Arc<Program>,
    old: &mut Executor,
    snap: &Snapshot,
    host: &DriverHost,
    k: usize,
    slicing: &Slicing,
) -> Result<(), String> {
    old.restore(snap)
        .map_err(|e| format!("restore into the old executor: {e}"))?;
    let mut fresh = restore_fresh(program, snap)?;
    let (mut hx, mut hy) = (host.clone(), host.clone());
    hx.stop_before = k + 1;
    hy.stop_before = k + 1;
    let mut s = slicing.clone();
    for _ in 0..MAX_PAUSES {
        let g = s.next();
        let rx = end_of(old.run(g, &mut hx));
        let ry = end_of(fresh.run(g, &mut hy));
        if rx != ry {
            return Err(format!("outcomes differ: {rx:?} / {ry:?}"));
        }
        if (old.gas_used(), old.gas_balance(), old.status())
            != (fresh.gas_used(), fresh.gas_balance(), fresh.status())
        {
            return Err(format!(
                "gas/status differ: {}/{}/{:?} vs {}/{}/{:?}",
                old.gas_used(),
                old.gas_balance(),
                old.status(),
                fresh.gas_used(),
                fresh.gas_balance(),
                fresh.status()
            ));
        }
        match rx {
            None => {
                let a = old.snapshot().map_err(|e| e.to_string())?.to_bytes();
                let b = fresh.snapshot().map_err(|e| e.to_string())?.to_bytes();
                if a != b {
                    return Err("snapshots at the same pause differ".into());
                }
            }
            Some(_) => {
                if hx.done != hy.done {
                    return Err(format!(
                        "results differ: {:?} / {:?}",
                        hx.done.last(),
                        hy.done.last()
                    ));
                }
                return Ok(());
            }
        }
    }
    Err("too many pauses".into())
}

fn process(file: &SpecFile) -> Report {
    let mut report = Report::default();
    let instances = match collect(file) {
        Ok(i) => i,
        Err(e) => {
            report
                .failed
                .push(format!("{}: conversion: {e}", file.label));
            return report;
        }
    };
    for (i, inst) in instances.iter().enumerate() {
        if inst.invs.is_empty() {
            continue;
        }
        if let Some(why) = &inst.ineligible {
            report.skipped.push((why.clone(), inst.invs.len()));
            continue;
        }
        let seed = hash_str(&file.label) ^ (i as u64).wrapping_mul(0x9e37_79b9);
        run_instance(inst, seed, &mut report);
    }
    report
}

#[test]
fn spec_suite_pause_path() {
    let files = Arc::new(spec_files());
    let next = Arc::new(AtomicUsize::new(0));
    let reports = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (files, next, reports) = (files.clone(), next.clone(), reports.clone());
            std::thread::Builder::new()
                .stack_size(64 << 20)
                .spawn(move || loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= files.len() {
                        break;
                    }
                    let t = std::time::Instant::now();
                    let r = process(&files[i]);
                    if std::env::var("SPEC_PROGRESS").is_ok() {
                        out(&format!(
                            "  {}: {} ok, {} failed, {} pauses, {} gas, {:.1}s",
                            files[i].label,
                            r.passed,
                            r.failed.len(),
                            r.pauses,
                            r.gas,
                            t.elapsed().as_secs_f64()
                        ));
                    }
                    reports
                        .lock()
                        .unwrap()
                        .push((i, files[i].label.clone(), r, t.elapsed()));
                })
                .unwrap()
        })
        .collect();
    for w in workers {
        w.join().expect("worker panicked");
    }
    let mut reports = std::mem::take(&mut *reports.lock().unwrap());
    reports.sort_by_key(|r| r.0);

    let mut passed = 0;
    let mut failed = Vec::new();
    let mut skipped: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut pauses, mut forks, mut twice, mut instances) = (0, 0, 0, 0);
    for (_, label, r, took) in &reports {
        passed += r.passed;
        failed.extend(r.failed.iter().cloned());
        pauses += r.pauses;
        forks += r.forks;
        twice += r.twice_checks;
        instances += r.instances_run;
        for (why, n) in &r.skipped {
            let key: String = format!("{label}: {}", why.chars().take(100).collect::<String>());
            let e = skipped.entry(key).or_default();
            e.0 += 1;
            e.1 += n;
        }
        if took.as_secs() >= 5 {
            out(&format!(
                "slow file: {label} took {:.1}s",
                took.as_secs_f64()
            ));
        }
    }
    out(&format!(
        "pause path: {} files, {instances} module instances, {pauses} pauses (each into a fresh executor), {forks} forks, {twice} double restores",
        reports.len()
    ));
    out(&format!(
        "skipped instances: {}",
        skipped.values().map(|v| v.0).sum::<usize>()
    ));
    for (why, (inst, invs)) in &skipped {
        out(&format!(
            "  skipped: {why} ({inst} instances, {invs} invocations)"
        ));
    }
    for f in failed.iter().take(300) {
        out(&format!("FAIL: {f}"));
    }
    out(&format!("{passed} passed, {} failed", failed.len()));
    if std::env::var("SPEC_ONLY").is_err() {
        assert!(passed > 10_000, "too few invocations checked: {passed}");
        assert!(pauses > 10_000, "too few pauses: {pauses}");
    }
    assert!(
        failed.is_empty(),
        "{} invocations failed (see FAIL lines)",
        failed.len()
    );
}
