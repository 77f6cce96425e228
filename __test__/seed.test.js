// The seed's scenario (../shared/seed: "index.mjs"): run with a gas limit,
// pause, serialize, restore into a new Executor, run to the end in slices.
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')

const { Executor, countWasm, exampleWasm, COUNT, assertConsecutive } = require('./helpers')

test('the seed scenario: pause, move the state to a new Executor, finish; no gap, no repeat', () => {
  const wasm = countWasm()
  const printed = []
  const env = { print: (i) => printed.push(i) }
  const cpuLimit = 10000
  const memLimit = 65536

  const instance = new Executor(wasm, memLimit, env)
  assert.equal(instance.status, 'ready')
  assert.equal(instance.run(cpuLimit), false)
  assert.equal(instance.status, 'paused')
  const firstPart = printed.length
  assert.ok(firstPart > 0 && firstPart < COUNT, `printed ${firstPart} before pausing`)

  const data = instance.serializeMemory()
  assert.ok(Buffer.isBuffer(data))
  const newInstance = new Executor(wasm, memLimit, env)
  newInstance.deserializeMemory(data)
  assert.equal(newInstance.status, 'paused')

  let stopped = false
  let runs = 0
  do {
    stopped = newInstance.run(cpuLimit)
    runs++
  } while (!stopped)
  assert.ok(runs > 10, `${runs} runs`)
  assert.equal(newInstance.status, 'finished')
  assert.equal(printed.length, COUNT)
  assertConsecutive(printed)

  // After the end, run() returns true without running the program again.
  const used = newInstance.gasUsed
  assert.equal(newInstance.run(cpuLimit), true)
  assert.equal(newInstance.gasUsed, used)
  assert.equal(printed.length, COUNT)
  // The original instance is still paused where it was.
  assert.equal(instance.status, 'paused')
})

test("the seed's own example.wasm (counting to 100000000) pauses and resumes across Executors", () => {
  const wasm = exampleWasm()
  const printed = []
  const env = { print: (i) => printed.push(i) }
  let executor = new Executor(wasm, 65536, env)
  for (let slice = 0; slice < 50; slice++) {
    assert.equal(executor.run(10000), false)
    const next = new Executor(wasm, 65536, env)
    next.deserializeMemory(executor.serializeMemory())
    executor = next
  }
  assert.ok(printed.length > 10000)
  assertConsecutive(printed)
})

test('a new Executor per slice, at several slice sizes: same numbers, same total gas', () => {
  const wasm = countWasm()
  let reference
  for (const gas of [997, 4096, 65536, 1_000_000]) {
    const printed = []
    const env = { print: (i) => printed.push(i) }
    let executor = new Executor(wasm, 65536, env)
    let runs = 0
    while (!executor.run(gas)) {
      const next = new Executor(wasm, 65536, env)
      next.deserializeMemory(executor.serializeMemory())
      executor = next
      runs++
    }
    assert.equal(printed.length, COUNT, `slice ${gas}`)
    assertConsecutive(printed)
    assert.ok(gas >= 1_000_000 || runs > 2, `slice ${gas}: ${runs} pauses`)
    // The total gas of a finished run does not depend on how it was sliced.
    reference ??= executor.gasUsed
    assert.equal(executor.gasUsed, reference, `slice ${gas}`)
  }
})

test('one run with enough gas finishes in one go', () => {
  const printed = []
  const executor = new Executor(countWasm(), 65536, { print: (i) => printed.push(i) })
  assert.equal(executor.run(Number.MAX_SAFE_INTEGER), true)
  assert.equal(executor.status, 'finished')
  assertConsecutive(printed)
  assert.equal(printed.length, COUNT)
})
