// Thousands of Executors alive at once in one process, each paused at its
// own point, then all continued.
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')

const { Executor, countWasm, assertConsecutive } = require('./helpers')

const LIVE = 5000

test(`${LIVE} live Executors, each paused and resumed independently`, () => {
  const wasm = countWasm()
  const printed = Array.from({ length: LIVE }, () => [])
  const executors = printed.map(
    (list) => new Executor(wasm, 16, { print: (i) => list.push(i) }),
  )
  // Each gets a different amount of gas, so they pause at different points.
  executors.forEach((executor, k) => {
    assert.equal(executor.run(1000 + (k % 97) * 37), false)
  })
  assert.ok(executors.every((e) => e.status === 'paused'))
  const firstCounts = printed.map((list) => list.length)
  assert.ok(new Set(firstCounts).size > 50, 'different pause points')

  // Continue every one of them; each carries on from its own point.
  executors.forEach((executor) => assert.equal(executor.run(20000), false))
  printed.forEach((list, k) => {
    assert.ok(list.length > firstCounts[k])
    assertConsecutive(list)
  })

  // Snapshots of all of them restore into a second set of Executors.
  const restored = executors.map((executor, k) => {
    const next = new Executor(wasm, 16, { print: (i) => printed[k].push(i) })
    next.deserializeMemory(executor.serializeMemory())
    return next
  })
  assert.equal(executors.length + restored.length, 2 * LIVE)
  restored.forEach((executor) => executor.run(5000))
  printed.forEach((list) => assertConsecutive(list))
})

test(`${LIVE} live Executors with the largest memLimit`, () => {
  const wasm = countWasm()
  let calls = 0
  const executors = []
  for (let k = 0; k < LIVE; k++) {
    const executor = new Executor(wasm, 65536, { print: () => calls++ })
    executor.run(500)
    executors.push(executor)
  }
  assert.ok(executors.every((e) => e.status === 'paused'))
  assert.ok(calls >= LIVE)
})
