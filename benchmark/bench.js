// `npm run bench`: what metering, pausing, JS imports and snapshots cost,
// measured in this process against the same modules run by V8's own
// WebAssembly (no metering, no pausing) as the baseline.
'use strict'

const fs = require('node:fs')
const path = require('node:path')
const { performance } = require('node:perf_hooks')

const { Executor } = require('..')

async function wat(text) {
  const wabt = await require('wabt')()
  const module = wabt.parseWat('bench.wat', text)
  try {
    return Buffer.from(module.toBinary({}).buffer)
  } finally {
    module.destroy()
  }
}

/** Median wall time (ms) of `fn` over `repeats` runs, after two warm-ups (V8 tiers up). */
function time(fn, repeats = 7) {
  fn()
  fn()
  const samples = []
  for (let k = 0; k < repeats; k++) {
    const start = performance.now()
    fn()
    samples.push(performance.now() - start)
  }
  samples.sort((a, b) => a - b)
  return samples[Math.floor(samples.length / 2)]
}

const KERNELS = `
(module
  (import "env" "tick" (func $tick (param i32)))
  (memory (export "memory") 1)
  (func $fib (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func (export "fib") (i32.store (i32.const 0) (call $fib (i32.const 30))))
  (func (export "loop") (local $i i32) (local $acc i32)
    (loop $l
      (local.set $acc (i32.add (local.get $acc) (i32.mul (local.get $i) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 100000000))))
    (i32.store (i32.const 0) (local.get $acc)))
  (func (export "imports") (local $i i32)
    (loop $l
      (call $tick (local.get $i))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 1000000)))))
  (func (export "fill") (local $i i32)
    (drop (memory.grow (i32.const 255)))
    (loop $l
      (i32.store (local.get $i) (i32.xor (local.get $i) (i32.const 0x5bd1e995)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 16777216))))
    (loop $forever (br $forever))))
`

async function main() {
  const wasm = await wat(KERNELS)
  const env = { tick() {} }
  const v8 = new WebAssembly.Instance(new WebAssembly.Module(wasm), { env }).exports
  const executor = (entry, memLimit = 256) => new Executor(wasm, memLimit, env, { entry })
  const rows = []
  const row = (name, baseline, measured, note = '') =>
    rows.push({ benchmark: name, 'V8 (ms)': baseline?.toFixed(1) ?? '', 'wasm-sandbox (ms)': measured.toFixed(1), ratio: baseline ? (measured / baseline).toFixed(2) + 'x' : '', note })

  for (const entry of ['fib', 'loop']) {
    const baseline = time(() => v8[entry]())
    let gas = 0n
    const whole = time(() => {
      const e = executor(entry)
      e.run(Number.MAX_SAFE_INTEGER)
      gas = e.gasUsed
    })
    row(`${entry}: one run`, baseline, whole, `${gas} gas`)
    for (const slice of [1_000_000, 10_000]) {
      let runs = 0
      const sliced = time(() => {
        const e = executor(entry)
        runs = 1
        while (!e.run(slice)) runs++
      }, 3)
      row(`${entry}: ${slice} gas per run`, baseline, sliced, `${runs} pauses + resumes`)
    }
  }

  const importsBaseline = time(() => v8.imports())
  const importsRun = time(() => executor('imports').run(Number.MAX_SAFE_INTEGER))
  row('1M calls of a JS import', importsBaseline, importsRun, `${importsRun.toFixed(0)} ns per call`)

  const construct = time(() => {
    for (let k = 0; k < 1000; k++) executor('fib')
  })
  row('1000 × new Executor (compiled module cached)', null, construct, `${construct.toFixed(0)} µs per Executor`)

  const count = fs.readFileSync(path.join(__dirname, '..', 'examples', 'count.wasm'))
  const small = new Executor(count, 65536, { print() {} })
  small.run(10000)
  const smallSnapshot = small.serializeMemory()
  const smallTime = time(() => {
    for (let k = 0; k < 1000; k++) {
      const next = new Executor(count, 65536, { print() {} })
      next.deserializeMemory(small.serializeMemory())
    }
  })
  row('1000 × seed example: serialize, new Executor, deserialize', null, smallTime, `${smallTime.toFixed(0)} µs each; ${smallSnapshot.length} bytes snapshot`)

  const big = executor('fill')
  big.run(1e9)
  let bigSnapshot
  const serialize = time(() => {
    bigSnapshot = big.serializeMemory()
  })
  row(`serializeMemory, ${big.memorySize / 2 ** 20} MiB dense memory`, null, serialize, `${(bigSnapshot.length / 2 ** 20).toFixed(1)} MiB snapshot`)
  const target = executor('fill')
  row(`deserializeMemory, ${big.memorySize / 2 ** 20} MiB dense memory`, null, time(() => target.deserializeMemory(bigSnapshot)))

  console.log(`wasm-sandbox benchmark, node ${process.version}, ${process.platform}-${process.arch}`)
  console.table(rows)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
