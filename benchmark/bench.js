// `npm run bench`: what metering, pausing, JS imports and snapshots cost on
// the JS path, each program measured in this process against the same
// module run by V8's own WebAssembly (no metering, no pausing).
//
// Programs: benchmark/programs/*.c (clang-16 -O2; the .wasm files are
// committed, rebuilt by benchmark/programs/build.sh). Figures are medians
// of repeated runs; the machine this runs on is usually shared, so compare
// ratios from the same run only. `node benchmark/bench.js fib sieve` runs
// only the named programs.
'use strict'

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { performance } = require('node:perf_hooks')

const v8flags = require('node:v8')

const { Executor } = require('..')

// Each Executor reserves about 8 GiB of address space (no RAM) until the
// garbage collector finalizes it, which needs the event loop to turn:
// between samples that create thousands of them, collect and yield.
v8flags.setFlagsFromString('--expose-gc')
const collect = () => {
  require('node:vm').runInNewContext('gc')()
  return new Promise((resolve) => setImmediate(resolve))
}

const PROGRAMS = ['fib', 'sieve', 'matmul', 'sha256', 'sort', 'imports', 'libc']
// Programs for wasm32-wasi: run with `{ wasi: true }`, and by V8 with
// Node's own WASI (node:wasi) as the baseline.
const WASI_PROGRAMS = new Set(['libc'])
const MEM_LIMIT = 1024
const UNLIMITED = Number.MAX_SAFE_INTEGER

const env = { next: (i) => i ^ 0x55 }

/** Median of the numbers in `v`. */
const med = (v) => {
  const s = [...v].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

/** Median of `fn()`'s return value (ms) over `repeats` runs, after one warm-up. */
function median(fn, repeats = 7) {
  fn()
  const samples = []
  for (let k = 0; k < repeats; k++) samples.push(fn())
  return med(samples)
}

/** Wall time (ms) of one call of `fn`. */
function timed(fn) {
  const start = performance.now()
  fn()
  return performance.now() - start
}

/**
 * Runs a fresh executor to the end in slices of `slice` gas; returns ms.
 * `migrate`: at every pause, snapshot → new Executor → restore; `free`: and
 * free the old executor first (instead of leaving it to the GC).
 */
function sliced(wasm, options, slice, migrate, free = false) {
  let e = new Executor(wasm, MEM_LIMIT, env, options)
  const start = performance.now()
  while (!e.run(slice)) {
    if (migrate) {
      const bytes = e.serializeMemory()
      if (free) e.free()
      e = new Executor(wasm, MEM_LIMIT, env, options)
      e.deserializeMemory(bytes)
    }
  }
  return performance.now() - start
}

/**
 * The baseline: `wasm` run to the end by V8 in a fresh instance (of one
 * compiled module, as the executors share one compiled program); returns
 * ms. WASI programs run with node:wasi, their output to `output` (a file
 * descriptor).
 */
function v8Runner(name, wasm, output) {
  const module = new WebAssembly.Module(wasm)
  if (!WASI_PROGRAMS.has(name)) {
    return () => {
      const fresh = new WebAssembly.Instance(module, { env }).exports
      return timed(() => fresh.entry())
    }
  }
  const { WASI } = require('node:wasi')
  return () => {
    const wasi = new WASI({ version: 'preview1', args: [name], env: {}, stdout: output, returnOnExit: true })
    const instance = new WebAssembly.Instance(module, wasi.getImportObject())
    return timed(() => {
      if (wasi.start(instance) !== 0) throw new Error(`${name} exited with an error under node:wasi`)
    })
  }
}

async function wat(text) {
  const wabt = await require('wabt')()
  const module = wabt.parseWat('bench.wat', text)
  try {
    return Buffer.from(module.toBinary({}).buffer)
  } finally {
    module.destroy()
  }
}

/** Code section size of a wasm module in bytes. */
function codeSize(wasm) {
  let p = 8
  const leb = () => {
    let result = 0
    let shift = 0
    for (;;) {
      const b = wasm[p++]
      result += (b & 0x7f) * 2 ** shift
      shift += 7
      if (b < 0x80) return result
    }
  }
  while (p < wasm.length) {
    const id = wasm[p++]
    const size = leb()
    if (id === 10) return size
    p += size
  }
  return 0
}

const ratio = (x, base) => `${(x / base).toFixed(2)}x`
const ms = (x) => `${x.toFixed(2)} ms`
const us = (x) => `${(x * 1000).toFixed(2)} µs`

async function main() {
  const only = process.argv.slice(2)
  const programs = only.length ? PROGRAMS.filter((p) => only.includes(p)) : PROGRAMS
  const execution = []
  const paired = []
  const ratios = { unlimited: [], m1: [], k10: [], k10s: [], k10f: [] }
  const pairedRatios = { unlimited: [], m1: [], k10: [], k10f: [] }
  const sizes = []
  const devNull = fs.openSync(os.devNull, 'w')
  for (const name of programs) {
    const wasm = fs.readFileSync(path.join(__dirname, 'programs', `${name}.wasm`))
    const wasi = WASI_PROGRAMS.has(name)
    const options = wasi ? { wasi: true } : {}
    const check = new Executor(wasm, MEM_LIMIT, env, options)
    check.run(UNLIMITED)
    if (check.status !== 'finished') throw new Error(`${name} did not finish`)
    let expected
    let onePage = false
    if (wasi) {
      // The same output as under node:wasi.
      const file = path.join(os.tmpdir(), `wasm-sandbox-bench-${process.pid}.txt`)
      const out = fs.openSync(file, 'w')
      v8Runner(name, wasm, out)()
      fs.closeSync(out)
      expected = fs.readFileSync(file, 'utf8')
      fs.unlinkSync(file)
      if (check.stdout.toString() !== expected) throw new Error(`${name}: output differs from node:wasi's`)
      expected = expected.trim()
    } else {
      // The same computation leaves the same memory.
      const v8 = new WebAssembly.Instance(new WebAssembly.Module(wasm), { env }).exports
      expected = v8.entry() >>> 0
      const v8memory = Buffer.from(v8.memory.buffer)
      if (!check.readMemory(0, check.memorySize).equals(v8memory)) throw new Error(`${name}: memory differs from V8's`)
      onePage = v8.memory.buffer.byteLength <= 65536
    }
    const v8run = v8Runner(name, wasm, devNull)
    // Rounds of the baseline and the three variants back to back (after
    // one warm-up round): the medians of each, and the median of the
    // rounds' ratios, which a drift of the machine's speed skews less.
    const rounds = []
    for (let k = 0; k <= 7; k++) {
      rounds.push({
        base: v8run(),
        unlimited: sliced(wasm, options, UNLIMITED, false),
        m1: sliced(wasm, options, 1_000_000, false),
        k10: sliced(wasm, options, 10_000, false),
      })
    }
    rounds.shift()
    const medianOf = (key) => med(rounds.map((r) => r[key]))
    const pairedOf = (key) => med(rounds.map((r) => r[key] / r.base))
    const base = medianOf('base')
    const unlimited = medianOf('unlimited')
    const m1 = medianOf('m1')
    const k10 = medianOf('k10')
    // (3) only for the 1-page programs: with bigger memories it measures
    // memory copying (timed separately below). Each sample is paired with
    // a baseline run right before it.
    let k10s = NaN
    let k10f = NaN
    let k10fPaired = NaN
    if (onePage) {
      const migrated = async (free) => {
        const samples = []
        for (let k = 0; k < 4; k++) {
          await collect()
          const before = v8run()
          const time = sliced(wasm, options, 10_000, true, free)
          samples.push({ ms: time, ratio: time / before })
        }
        samples.shift()
        return { ms: med(samples.map((x) => x.ms)), ratio: med(samples.map((x) => x.ratio)) }
      }
      k10s = (await migrated(false)).ms
      const withFree = await migrated(true)
      k10f = withFree.ms
      k10fPaired = withFree.ratio
    }
    ratios.unlimited.push(unlimited / base)
    ratios.m1.push(m1 / base)
    ratios.k10.push(k10 / base)
    if (!Number.isNaN(k10s)) ratios.k10s.push(k10s / base)
    if (!Number.isNaN(k10f)) ratios.k10f.push(k10f / base)
    execution.push({
      program: name,
      'V8': ms(base),
      unlimited: `${ms(unlimited)} (${ratio(unlimited, base)})`,
      '1M slices': `${ms(m1)} (${ratio(m1, base)})`,
      '10k slices': `${ms(k10)} (${ratio(k10, base)})`,
      '10k + snapshot each pause': Number.isNaN(k10s) ? '' : `${ms(k10s)} (${ratio(k10s, base)})`,
      '... and free()': Number.isNaN(k10f) ? '' : `${ms(k10f)} (${ratio(k10f, base)})`,
    })
    const pair = { unlimited: pairedOf('unlimited'), m1: pairedOf('m1'), k10: pairedOf('k10'), k10f: k10fPaired }
    for (const key of Object.keys(pair)) if (!Number.isNaN(pair[key])) pairedRatios[key].push(pair[key])
    paired.push({
      program: name,
      unlimited: `${pair.unlimited.toFixed(2)}x`,
      '1M slices': `${pair.m1.toFixed(2)}x`,
      '10k slices': `${pair.k10.toFixed(2)}x`,
      '10k + snapshot + free()': Number.isNaN(pair.k10f) ? '' : `${pair.k10f.toFixed(2)}x`,
    })
    sizes.push({ program: name, 'code section bytes': codeSize(wasm), 'gas used': String(check.gasUsed), result: expected })
  }
  fs.closeSync(devNull)
  const summary = (v) => (v.length ? `median ${med(v).toFixed(2)}x, max ${Math.max(...v).toFixed(2)}x` : '')

  await collect()
  // One pause + resume cycle from JS: run(1) resumes (rewinding `depth`
  // frames), runs one loop iteration and pauses again.
  const cycles = []
  for (const depth of [0, 50]) {
    const loop = await wat(`(module
      (func $down (param $n i32) (result i32)
        (if (result i32) (local.get $n)
          (then (i32.add (call $down (i32.sub (local.get $n) (i32.const 1))) (i32.const 1)))
          (else (loop $forever (br $forever)) (i32.const 0))))
      (func (export "entry") (result i32) (call $down (i32.const ${depth}))))`)
    const e = new Executor(loop, 1)
    e.run(1000)
    const n = 20000
    const t = median(() => timed(() => {
      for (let k = 0; k < n; k++) e.run(1)
    }))
    cycles.push({ measure: `one pause + resume from JS, ${depth} frames deep`, value: us(t / n) })
  }

  await collect()
  // Construction, cold (a new custom section each time: instrument +
  // compile) and with the module cached.
  const sha = fs.readFileSync(path.join(__dirname, 'programs', 'sha256.wasm'))
  let serial = 0
  const coldModule = () => {
    const name = Buffer.from('bench')
    const payload = Buffer.alloc(8)
    payload.writeBigUInt64LE(BigInt(++serial) + BigInt(Date.now()) * 1000n)
    const section = Buffer.concat([Buffer.from([0, 1 + name.length + payload.length, name.length]), name, payload])
    return Buffer.concat([sha, section])
  }
  const cold = median(() => {
    const bytes = coldModule()
    return timed(() => new Executor(bytes, MEM_LIMIT))
  }, 5)
  cycles.push({ measure: 'new Executor, cold (instrument + compile sha256)', value: ms(cold) })
  // The same through Executor.precompile: the JS thread's share (the call,
  // then the new Executor once it resolved) and the wait.
  const precompiled = { call: [], wait: [], construct: [] }
  for (let k = 0; k < 6; k++) {
    const bytes = coldModule()
    let start = performance.now()
    const done = Executor.precompile(bytes)
    precompiled.call.push(performance.now() - start)
    start = performance.now()
    await done
    precompiled.wait.push(performance.now() - start)
    precompiled.construct.push(timed(() => new Executor(bytes, MEM_LIMIT)))
  }
  for (const [key, what] of [['call', 'Executor.precompile() call'], ['wait', 'until it resolves'], ['construct', 'new Executor after it']]) {
    const value = med(precompiled[key].slice(1))
    cycles.push({ measure: `cold sha256 precompiled: ${what}`, value: key === 'wait' ? ms(value) : us(value) })
  }
  const cached = median(() => timed(() => {
    for (let k = 0; k < 1000; k++) new Executor(sha, MEM_LIMIT)
  }))
  cycles.push({ measure: 'new Executor, module cached (sha256, 1.3 KB, 65 pages)', value: us(cached / 1000) })
  // A real C program (wasi-libc, 133 KB): the cache compares the whole
  // module at every lookup.
  const libc = fs.readFileSync(path.join(__dirname, 'programs', 'libc.wasm'))
  new Executor(libc, MEM_LIMIT, {}, { wasi: true }).free()
  const cachedLibc = median(() => timed(() => {
    for (let k = 0; k < 1000; k++) new Executor(libc, MEM_LIMIT, {}, { wasi: true }).free()
  }))
  cycles.push({ measure: 'new Executor, module cached (libc, 133 KB), and free()', value: us(cachedLibc / 1000) })

  await collect()
  // JS import calls: a loop of 1M calls, minus the same loop without the
  // call (both instrumented).
  const calls = await wat(`(module
    (import "env" "next" (func $next (param i32) (result i32)))
    (func (export "entry") (local $i i32) (local $acc i32)
      (loop $l
        (local.set $acc (i32.add (local.get $acc) (call $next (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const 1000000)))))
    (func (export "empty") (local $i i32) (local $acc i32)
      (loop $l
        (local.set $acc (i32.add (local.get $acc) (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const 1000000))))))`)
  const withCalls = median(() => timed(() => new Executor(calls, 1, env).run(UNLIMITED)))
  const without = median(() => timed(() => new Executor(calls, 1, env, { entry: 'empty' }).run(UNLIMITED)))
  const v8calls = new WebAssembly.Instance(new WebAssembly.Module(calls), { env }).exports
  const v8with = median(() => timed(() => v8calls.entry()))
  const v8without = median(() => timed(() => v8calls.empty()))
  cycles.push({ measure: 'one JS import call from the guest', value: `${us((withCalls - without) / 1e6)} (V8: ${us((v8with - v8without) / 1e6)})` })

  await collect()
  // Snapshots of 1 MiB and 64 MiB memories, 90 % zero or random.
  const snapshots = []
  for (const pages of [16, 1024]) {
    const mem = await wat(`(module (memory (export "memory") ${pages}) (func (export "entry")))`)
    for (const random of [false, true]) {
      const e = new Executor(mem, pages)
      const data = Buffer.alloc(pages * 65536)
      let x = 0x9e3779b9
      const fill = (from, to) => {
        for (let i = from; i < to; i++) {
          x ^= x << 13
          x ^= x >>> 17
          x ^= x << 5
          data[i] = x & 0xff
        }
      }
      if (random) fill(0, data.length)
      else for (let off = 0; off < data.length; off += 40960) fill(off, off + 4096)
      e.writeMemory(0, data)
      let snapshot
      // Nothing writes the memory between these snapshots, so all but the
      // first read only the pages that held data (docs/engine.md, "Runs
      // that write nothing"); rewriting a byte that is there already makes
      // the next one read everything, as after a run that wrote.
      const save = median(() => timed(() => {
        snapshot = e.serializeMemory()
      }), 5)
      const first = data.subarray(0, 1)
      const saveWritten = median(() => {
        e.writeMemory(0, first)
        return timed(() => {
          snapshot = e.serializeMemory()
        })
      }, 5)
      const target = new Executor(mem, pages)
      const load = median(() => timed(() => target.deserializeMemory(snapshot)), 5)
      snapshots.push({
        memory: `${pages * 64 / 1024} MiB, ${random ? 'random' : '90 % zero'}`,
        'snapshot size': `${(snapshot.length / 2 ** 20).toFixed(2)} MiB`,
        serializeMemory: ms(save),
        'serializeMemory after a write': ms(saveWritten),
        deserializeMemory: ms(load),
      })
    }
  }

  console.log(`wasm-sandbox benchmark, node ${process.version}, ${process.platform}-${process.arch}, ${new Date().toISOString().slice(0, 10)}`)
  console.log('\nExecution (median wall time; ratio to V8 running the original module)')
  console.table(execution)
  console.log(`unlimited: ${summary(ratios.unlimited)}; 1M slices: ${summary(ratios.m1)}; 10k slices: ${summary(ratios.k10)}; 10k + snapshot: ${summary(ratios.k10s)}; 10k + snapshot + free: ${summary(ratios.k10f)}`)
  console.log('\nThe same, median of the ratios of rounds that run the baseline and each variant back to back')
  console.table(paired)
  console.log(`unlimited: ${summary(pairedRatios.unlimited)}; 1M slices: ${summary(pairedRatios.m1)}; 10k slices: ${summary(pairedRatios.k10)}; 10k + snapshot + free: ${summary(pairedRatios.k10f)}`)
  console.table(sizes)
  console.table(cycles)
  console.table(snapshots)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
