// Garbage collection: an Executor keeps its import functions alive exactly
// as long as itself, so dropped Executors are collected even when their
// imports refer back to them (as imports that read guest memory do).
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const v8 = require('node:v8')
const vm = require('node:vm')

const { Executor, countWasm, COUNT, assertConsecutive, wat } = require('./helpers')

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc')

async function collectGarbage() {
  for (let k = 0; k < 6; k++) {
    gc()
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

test('dropped Executors are collected, also when their imports refer to them', async () => {
  const wasm = countWasm()
  const made = 2000
  let collected = 0
  const registry = new FinalizationRegistry(() => collected++)
  for (let k = 0; k < made; k++) {
    const executor = new Executor(wasm, 65536, {
      print: () => executor.readMemory(0, 4),
    })
    executor.run(500)
    registry.register(executor, k)
  }
  await collectGarbage()
  assert.ok(collected > made * 0.9, `${collected} of ${made} collected`)
})

test('the import functions live as long as the Executor, whoever else drops them', async () => {
  const printed = []
  const executor = (() => new Executor(countWasm(), 65536, { print: (i) => printed.push(i) }))()
  executor.run(5000)
  await collectGarbage()
  while (!executor.run(100000)) await collectGarbage()
  assert.equal(printed.length, COUNT)
  assertConsecutive(printed)
})

test('trapped Executors are collected, also when the error their import threw refers to them', async () => {
  const wasm = countWasm()
  const made = 1000
  let collected = 0
  const registry = new FinalizationRegistry(() => collected++)
  for (let k = 0; k < made; k++) {
    const executor = new Executor(wasm, 2, {
      print: () => {
        const error = new Error('guest failed')
        error.executor = executor
        throw error
      },
    })
    assert.throws(() => executor.run(1000), (e) => e.executor === executor)
    registry.register(executor, k)
  }
  await collectGarbage()
  assert.ok(collected > made * 0.9, `${collected} of ${made} collected`)
})

test('every Executor keeps its functions under one shared hidden symbol, so all share one hidden class', () => {
  // A fresh key per Executor gave each object a hidden class of its own
  // (and made `new Executor` slow as V8's transition list grew).
  v8.setFlagsFromString('--allow-natives-syntax')
  const haveSameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)')
  const wasm = countWasm()
  const a = new Executor(wasm, 16, { print: () => {} })
  const b = new Executor(wasm, 32, { print: () => {} })
  const [keyA, ...moreA] = Object.getOwnPropertySymbols(a)
  const [keyB] = Object.getOwnPropertySymbols(b)
  assert.equal(typeof keyA, 'symbol')
  assert.deepEqual(moreA, [])
  assert.equal(keyA, keyB)
  assert.deepEqual(Object.keys(a), [])
  assert.equal(haveSameMap(a, b), true)
  a.free()
  b.free()
})

test('an Executor without JS functions keeps no JS values and still reports its traps', async () => {
  // It calls no JS, so nothing can throw or need keeping alive.
  const looping = new Executor(await wat('(module (func (export "entry") (loop $l (br $l))))'), 1, {})
  assert.deepEqual(Reflect.ownKeys(looping), [])
  assert.equal(looping.run(1000), false)
  const snapshot = looping.serializeMemory()
  looping.deserializeMemory(snapshot)
  assert.equal(looping.run(1000), false)
  const trapping = new Executor(await wat('(module (func (export "entry") unreachable))'), 1)
  assert.deepEqual(Reflect.ownKeys(trapping), [])
  for (let k = 0; k < 2; k++) {
    assert.throws(
      () => trapping.run(1000),
      (e) => e.code === 'ERR_WASM_TRAP' && e.kind === 'unreachable',
    )
  }
  looping.free()
  trapping.free()
})
