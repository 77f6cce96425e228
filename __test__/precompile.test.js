// Executor.precompile: instrumenting and compiling on libuv's pool, the
// program then found by new Executor; every refusal is a rejected promise
// with the constructor's error; workers exiting with a compile in flight.
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { Worker } = require('node:worker_threads')

const { Executor, wat, countWasm, COUNT, assertConsecutive } = require('./helpers')

const wasiProgram = (name) => fs.readFileSync(path.join(__dirname, '..', 'examples', 'wasi', name))

/** Asserts that `promise` rejects with an instance of `Class` with `code`. */
async function rejectsCode(promise, Class, code, message) {
  assert.ok(promise instanceof Promise, 'precompile returns a promise')
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof Class, `expected a ${Class.name}, got ${error?.constructor?.name}: ${error?.message}`)
    assert.equal(error.code, code, `wrong code; message: ${error.message}`)
    if (message) assert.match(error.message, message)
    return true
  })
}

test('precompile compiles off the JS thread; the program then runs in a new Executor', async () => {
  // The Rust program takes most of a second to instrument and compile: a
  // 2 ms interval keeps firing meanwhile. (A compile on the JS thread would
  // block it: one late tick at most before the promise resolves.)
  const wasm = wasiProgram('rust.wasm')
  let ticks = 0
  const interval = setInterval(() => ticks++, 2)
  const done = Executor.precompile(wasm, { wasi: {} })
  assert.ok(done instanceof Promise)
  try {
    assert.equal(await done, undefined)
  } finally {
    clearInterval(interval)
  }
  assert.ok(ticks >= 5, `the event loop ran during the compile: ${ticks} ticks`)

  const ex = new Executor(wasm, 256, {}, {
    wasi: { args: ['rust', 'run', 'a', 'b'], env: { LANG: 'C', X: '1' }, stdin: wasiProgram('rust.stdin') },
  })
  assert.equal(ex.run(1e10), true)
  assert.equal(ex.stdout.toString('latin1'), wasiProgram('rust.expected').toString('latin1'))
  ex.free()
})

test('the bytes are copied at the call: changing the buffer afterwards changes nothing', async () => {
  const bytes = Buffer.from(countWasm())
  const done = Executor.precompile(bytes)
  bytes.fill(0)
  await done
  const printed = []
  const ex = new Executor(countWasm(), 16, { print: (n) => printed.push(n) })
  assert.equal(ex.run(1e9), true)
  assertConsecutive(printed)
  assert.equal(printed.length, COUNT)
})

test('several at once, of the same and of different modules and options, all resolve', async () => {
  const count = countWasm()
  const loop = await wat('(module (func (export "entry") (local i32) (loop (br_if 0 (i32.lt_u (local.tee 0 (i32.add (local.get 0) (i32.const 1))) (i32.const 1000))))))')
  const jobs = []
  for (let k = 0; k < 12; k++) {
    const options = [undefined, { canonicalizeNans: true }, { costs: { instruction: 2 } }][k % 3]
    jobs.push(Executor.precompile(k % 2 ? count : loop, options))
  }
  assert.deepEqual(await Promise.all(jobs), new Array(12).fill(undefined))
  const doubled = new Executor(loop, 1, {}, { costs: { instruction: 2 } })
  const plain = new Executor(loop, 1)
  assert.equal(doubled.run(1e9), true)
  assert.equal(plain.run(1e9), true)
  assert.ok(doubled.gasUsed > plain.gasUsed * 19n / 10n, `${doubled.gasUsed} vs ${plain.gasUsed}`)
})

test('bad arguments and bad modules reject with the errors new Executor throws', async () => {
  const wasm = countWasm()
  await rejectsCode(Executor.precompile(), TypeError, 'ERR_INVALID_ARG', /^wasm must be a Uint8Array, Buffer or ArrayBuffer .*got undefined$/)
  await rejectsCode(Executor.precompile(42), TypeError, 'ERR_INVALID_ARG', /got a number$/)
  await rejectsCode(Executor.precompile('(module)'), TypeError, 'ERR_INVALID_ARG', /got a string$/)
  await rejectsCode(Executor.precompile(wasm, 5), TypeError, 'ERR_INVALID_ARG', /^options must be an object, got a number$/)
  await rejectsCode(Executor.precompile(wasm, { costs: { bogus: 1 } }), TypeError, 'ERR_INVALID_ARG', /unknown cost "bogus"/)
  await rejectsCode(Executor.precompile(wasm, { costs: { instruction: -1 } }), RangeError, 'ERR_INVALID_ARG', /options\.costs\.instruction/)
  await rejectsCode(Executor.precompile(wasm, { wasi: { args: 'x' } }), TypeError, 'ERR_INVALID_ARG', /options\.wasi\.args/)
  await rejectsCode(Executor.precompile(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 99])), TypeError, 'ERR_INVALID_WASM', /not a valid WebAssembly module/)
  const simd = await wat('(module (func (export "entry") (drop (v128.const i32x4 0 0 0 0))))')
  await rejectsCode(Executor.precompile(simd), TypeError, 'ERR_UNSUPPORTED_FEATURE', /SIMD/)
  // The same refusals from the constructor, for comparison.
  for (const [args, Class, code] of [[[simd, 1], TypeError, 'ERR_UNSUPPORTED_FEATURE'], [[wasm, 1, {}, { costs: { bogus: 1 } }], TypeError, 'ERR_INVALID_ARG']]) {
    assert.throws(() => new Executor(...args), (e) => e instanceof Class && e.code === code)
  }
})

test('a worker that exits or is terminated with a precompile in flight leaves the process healthy', async () => {
  const source = `
    const { workerData } = require('node:worker_threads')
    const fs = require('node:fs')
    const { Executor } = require(workerData.addon)
    Executor.precompile(fs.readFileSync(workerData.wasm), { canonicalizeNans: workerData.nans })
    if (workerData.exit) process.exit(0)
  `
  const wasm = path.resolve(__dirname, '../examples/wasi/rust.wasm')
  const start = (data) => new Worker(source, { eval: true, workerData: { addon: path.resolve(__dirname, '..'), wasm, ...data } })
  const exited = (worker) => new Promise((resolve, reject) => {
    worker.on('error', reject)
    worker.on('exit', resolve)
  })
  const a = start({ exit: true, nans: true })
  const b = start({ exit: false, nans: false })
  b.on('online', () => setTimeout(() => b.terminate(), 50))
  const [codeA, codeB] = await Promise.all([exited(a), exited(b)])
  assert.equal(codeA, 0)
  assert.equal(typeof codeB, 'number')
  // The main thread still compiles and runs.
  await Executor.precompile(countWasm())
  const printed = []
  const ex = new Executor(countWasm(), 16, { print: (n) => printed.push(n) })
  assert.equal(ex.run(1e9), true)
  assert.equal(printed.length, COUNT)
})
