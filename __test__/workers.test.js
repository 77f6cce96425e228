// The addon in several Node environments at once: worker_threads each load
// it and run executors, alongside the main thread; a worker terminated in
// the middle of a run, or exiting with executors alive, does not crash the
// process.
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { Worker } = require('node:worker_threads')

const { Executor, countWasm, COUNT, assertConsecutive } = require('./helpers')

const WORKER_SOURCE = `
  const { parentPort, workerData } = require('node:worker_threads')
  const fs = require('node:fs')
  const { Executor } = require(workerData.addon)
  const wasm = fs.readFileSync(workerData.wasm)
  const printed = []
  const env = { print: (i) => printed.push(i) }
  let executor = new Executor(wasm, 65536, env)
  let runs = 0
  while (!executor.run(workerData.gas)) {
    // Move the state to a new Executor now and then.
    if (++runs % 10 === 0) {
      const next = new Executor(wasm, 65536, env)
      next.deserializeMemory(executor.serializeMemory())
      executor = next
    }
    if (workerData.spin) parentPort.postMessage({ runs })
  }
  // Leave executors alive at exit: the environment's teardown frees them.
  globalThis.keep = [executor, new Executor(wasm, 65536, env)]
  parentPort.postMessage({ printed, gasUsed: executor.gasUsed, runs })
`

function startWorker(data) {
  return new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { addon: path.resolve(__dirname, '..'), wasm: path.resolve(__dirname, '../examples/count.wasm'), ...data },
  })
}

/** Resolves with the worker's final message once it exited cleanly. */
function result(worker) {
  return new Promise((resolve, reject) => {
    let last
    worker.on('message', (m) => {
      if (m.printed) last = m
    })
    worker.on('error', reject)
    worker.on('exit', (code) => (code === 0 && last ? resolve(last) : reject(new Error(`worker exit ${code}`))))
  })
}

test('two workers and the main thread run executors at the same time', async () => {
  const workers = [startWorker({ gas: 5000 }), startWorker({ gas: 7919 })]
  const pending = workers.map(result)

  const printed = []
  const executor = new Executor(countWasm(), 65536, { print: (i) => printed.push(i) })
  while (!executor.run(3000)) await new Promise(setImmediate)
  assertConsecutive(printed)
  assert.equal(printed.length, COUNT)

  const outcomes = await Promise.all(pending)
  for (const outcome of outcomes) {
    assert.equal(outcome.printed.length, COUNT)
    assertConsecutive(outcome.printed)
    assert.ok(outcome.runs > 100)
    // Same program, same total gas, whatever the slicing.
    assert.equal(outcome.gasUsed, executor.gasUsed)
  }
})

test('terminating a worker in the middle of its runs leaves the process healthy', async () => {
  const worker = startWorker({ gas: 100, spin: true })
  await new Promise((resolve) => worker.once('message', resolve))
  const code = await worker.terminate()
  assert.equal(code, 1)

  // The addon still works here and in a new worker.
  const printed = []
  const executor = new Executor(countWasm(), 2, { print: (i) => printed.push(i) })
  assert.equal(executor.run(Number.MAX_SAFE_INTEGER), true)
  assert.equal(printed.length, COUNT)
  const again = await result(startWorker({ gas: 100000 }))
  assert.equal(again.printed.length, COUNT)
})

test('instances freed in a worker that has exited serve executors of the main thread correctly', async () => {
  // Executors freed in the worker go to the process-wide instance pool;
  // the main thread's next executors of the same module and limit reuse
  // them, reset to the initial state.
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads')
     const { Executor } = require(workerData.addon)
     let printed = 0
     for (let k = 0; k < 20; k++) {
       const e = new Executor(workerData.wasm, 2, { print: () => printed++ })
       e.run(3000 + k)
       e.free()
     }
     parentPort.postMessage(printed)`,
    { eval: true, workerData: { addon: path.resolve(__dirname, '..'), wasm: countWasm() } },
  )
  const printedThere = await new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  assert.ok(printedThere > 0)
  await worker.terminate()
  for (let k = 0; k < 20; k++) {
    const printed = []
    const executor = new Executor(countWasm(), 2, { print: (i) => printed.push(i) })
    assert.equal(executor.status, 'ready')
    assert.equal(executor.gasUsed, 0n)
    while (!executor.run(50000 + k));
    assertConsecutive(printed)
    assert.equal(printed.length, COUNT)
    executor.free()
  }
})
