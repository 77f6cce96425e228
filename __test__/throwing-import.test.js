// An import that throws: run() rethrows the very value, the executor is
// trapped, and every later run() throws it again.
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')

const { Executor, countWasm, wat, assertConsecutive } = require('./helpers')

/** Calls `fn`, returns what it threw (fails if it did not throw). */
function thrownBy(fn) {
  try {
    fn()
  } catch (value) {
    return value
  }
  assert.fail('expected a throw')
}

test('the same error object comes out of run(), then the executor is trapped', () => {
  const boom = new Error('boom from print')
  boom.extra = { detail: 1 }
  const printed = []
  const executor = new Executor(countWasm(), 65536, {
    print: (i) => {
      if (i === 500) throw boom
      printed.push(i)
    },
  })
  assert.equal(executor.run(1000), false)
  let given = 1000n
  const first = thrownBy(() => {
    for (;;) {
      given += 1000n
      if (executor.run(1000)) break
    }
  })
  assert.equal(first, boom)
  assert.equal(executor.status, 'trapped')
  assert.equal(printed.length, 500)
  assertConsecutive(printed)

  // The run that threw used up its gas.
  assert.equal(executor.gasUsed, given)
  assert.equal(executor.gasBalance, 0n)
  // Every later run throws the same value and runs nothing.
  const used = executor.gasUsed
  assert.equal(thrownBy(() => executor.run(1000)), boom)
  assert.equal(thrownBy(() => executor.run(10n ** 6n)), boom)
  assert.equal(executor.gasUsed, used)
  assert.equal(printed.length, 500)

  // A trapped executor has no state to save.
  assert.equal(executor.serializeMemory(), undefined)
  assert.equal(executor.snapshotJson(), undefined)
  // Its memory can still be inspected.
  assert.equal(executor.memorySize, 131072)
})

test('non-Error values are rethrown unchanged (primitives and plain objects)', () => {
  const object = { not: 'an Error' }
  const symbol = Symbol('thrown')
  for (const value of [42, 'text', object, null, undefined, symbol, 7n, false]) {
    const executor = new Executor(countWasm(), 2, {
      print: () => {
        throw value
      },
    })
    const caught = thrownBy(() => executor.run(10000))
    assert.ok(Object.is(caught, value), `threw ${String(value)}, got ${String(caught)}`)
    assert.equal(executor.status, 'trapped')
    assert.ok(Object.is(thrownBy(() => executor.run(1)), value))
  }
})

test('a throwing import in a nested import module, and error subclasses', async () => {
  class GameError extends RangeError {}
  const boom = new GameError('out of ammo')
  const wasm = await wat(`
    (module
      (import "game" "fire" (func $fire (param i32) (result i32)))
      (func (export "entry") (drop (call $fire (i32.const 3)))))`)
  const executor = new Executor(wasm, 1, {
    game: {
      fire: (n) => {
        throw boom
      },
    },
  })
  const caught = thrownBy(() => executor.run(100))
  assert.equal(caught, boom)
  assert.ok(caught instanceof GameError)
  assert.equal(executor.status, 'trapped')
})

test('restoring a snapshot into a trapped executor makes it usable again', () => {
  const wasm = countWasm()
  const printed = []
  const healthy = new Executor(wasm, 65536, { print: (i) => printed.push(i) })
  healthy.run(5000)
  const saved = healthy.serializeMemory()
  const savedCount = printed.length

  let fail = true
  const boom = new Error('transient')
  const executor = new Executor(wasm, 65536, {
    print: (i) => {
      if (fail) throw boom
      printed.push(i)
    },
  })
  assert.equal(thrownBy(() => executor.run(5000)), boom)
  assert.equal(executor.status, 'trapped')

  fail = false
  executor.deserializeMemory(saved)
  assert.equal(executor.status, 'paused')
  while (!executor.run(100000));
  assert.equal(executor.status, 'finished')
  assertConsecutive(printed.slice(savedCount), savedCount)
})

test('an exception in a valueOf called during result conversion propagates unchanged', async () => {
  const wasm = await wat(`
    (module
      (import "env" "get" (func $get (result i32)))
      (func (export "entry") (drop (call $get))))`)
  const boom = new Error('valueOf')
  const executor = new Executor(wasm, 1, {
    get: () => ({
      valueOf() {
        throw boom
      },
    }),
  })
  assert.equal(thrownBy(() => executor.run(100)), boom)
  assert.equal(executor.status, 'trapped')
})
