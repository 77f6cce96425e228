// Scale (issue 6): 10,000 live Executors in one process, create/run/drop
// cycles with stable memory, and 1,000 paused Executors saved and restored.
// Figures go to the test log (t.diagnostic); `npm run soak` runs the long
// version of the cycles (100,000 by default).
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')

const { Executor, wat } = require('./helpers')
const { soak, procStatus } = require('../scripts/soak')

/**
 * Sums fib(k) for k = 0..limit-1 with a recursive fib and a loop, keeps the
 * running sum in memory and reports it through an import at the end. A
 * different `limit` per executor is written to memory before it runs.
 */
const PROGRAM = `(module
  (import "env" "done" (func $done (param i32)))
  (memory (export "memory") 1)
  (func $fib (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
  (func (export "entry") (local $k i32)
    (loop $l
      (i32.store (i32.const 8)
        (i32.add (i32.load (i32.const 8)) (call $fib (local.get $k))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $k) (i32.load (i32.const 0)))))
    (call $done (i32.load (i32.const 8)))))`

function fibSum(limit) {
  const fib = [0, 1]
  for (let k = 2; k < limit; k++) fib.push(fib[k - 1] + fib[k - 2])
  return fib.slice(0, limit).reduce((a, b) => a + b, 0)
}

test('10,000 live Executors of one program (the largest memLimit): RSS and address space per executor', (t) => {
  const LIVE = 10000
  return wat(PROGRAM).then((wasm) => {
    const results = new Map()
    const before = { rss: process.memoryUsage().rss, vm: procStatus('VmSize:') }
    const executors = []
    for (let k = 0; k < LIVE; k++) {
      const executor = new Executor(wasm, 65536, { done: (sum) => results.set(k, sum) })
      executor.writeMemory(0, Buffer.from(new Uint32Array([10 + (k % 8)]).buffer))
      assert.equal(executor.run(200 + (k % 50)), false)
      executors.push(executor)
    }
    const after = { rss: process.memoryUsage().rss, vm: procStatus('VmSize:') }
    const rssPer = (after.rss - before.rss) / LIVE
    const message =
      `${LIVE} live executors: RSS +${((after.rss - before.rss) / 2 ** 20).toFixed(1)} MiB ` +
      `(${(rssPer / 1024).toFixed(1)} KiB each)` +
      (after.vm === undefined
        ? ''
        : `, virtual +${((after.vm - before.vm) / 2 ** 30).toFixed(1)} TiB ` +
          `(${((after.vm - before.vm) / 2 ** 20 / LIVE).toFixed(2)} GiB each)`)
    t.diagnostic(message)
    console.log(message)
    // Generous bounds: a leak or a RAM-backed reservation would blow them.
    assert.ok(rssPer < 256 * 1024, message)
    if (after.vm !== undefined) assert.ok((after.vm - before.vm) / LIVE < 16 * 2 ** 20, message)
    // All of them finish with the right sums.
    for (const executor of executors) while (!executor.run(100000));
    assert.equal(results.size, LIVE)
    for (const [k, sum] of results) assert.equal(sum, fibSum(10 + (k % 8)), `executor ${k}`)
  })
})

test('1,000 Executors paused mid-run, snapshotted, dropped; restored into new Executors they finish correctly', async () => {
  const wasm = await wat(PROGRAM)
  const N = 1000
  const snapshots = []
  const reference = new Map()
  {
    const executors = []
    for (let k = 0; k < N; k++) {
      const limit = 12 + (k % 9)
      const executor = new Executor(wasm, 4, { done: () => assert.fail('finished before the snapshot') })
      executor.writeMemory(0, Buffer.from(new Uint32Array([limit]).buffer))
      // Different budgets: paused at different depths of fib and the loop.
      assert.equal(executor.run(50 + (k % 97) * 13), false)
      executors.push(executor)
    }
    // Snapshot all of them only after all have paused; half as JSON.
    executors.forEach((executor, k) => {
      snapshots.push(k % 2 ? executor.serializeMemory() : executor.snapshotJson())
      reference.set(k, executor.gasUsed)
    })
  }
  // The originals are gone; only the snapshots carry the state.
  const results = new Map()
  const restored = snapshots.map((snapshot, k) => {
    const executor = new Executor(wasm, 4, { done: (sum) => results.set(k, sum) })
    executor.deserializeMemory(snapshot)
    assert.equal(executor.status, 'paused')
    assert.equal(executor.gasUsed, reference.get(k))
    return executor
  })
  // Finish them interleaved, a slice each in turn.
  let running = restored.length
  while (running > 0) {
    running = 0
    for (const executor of restored) if (executor.status !== 'finished' && !executor.run(5000)) running++
  }
  assert.equal(results.size, N)
  for (const [k, sum] of results) assert.equal(sum, fibSum(12 + (k % 9)), `executor ${k}`)
  // Same total gas as an uninterrupted run of the same limit.
  for (let limit = 12; limit < 21; limit++) {
    const straight = new Executor(wasm, 4, { done() {} })
    straight.writeMemory(0, Buffer.from(new Uint32Array([limit]).buffer))
    assert.equal(straight.run(1e12), true)
    restored.forEach((executor, k) => {
      if (12 + (k % 9) === limit) assert.equal(executor.gasUsed, straight.gasUsed)
    })
  }
})

test('20,000 create/run/snapshot/drop cycles keep RSS stable', async (t) => {
  const { growth, start, end } = await soak(20000, { log: (line) => t.diagnostic(line) })
  // A leak of one 64 KiB page per cycle would be 1.2 GiB; allocator noise is
  // a few MiB.
  assert.ok(growth < 32 * 2 ** 20, `RSS ${start.rss} -> ${end.rss}`)
})
