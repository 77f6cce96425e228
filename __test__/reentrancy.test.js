// Calls into the same Executor from inside one of its imports: run and the
// snapshot methods are refused with ERR_EXECUTOR_BUSY (nothing corrupted);
// memory access works.
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')

const { Executor, countWasm, COUNT, throwsCode, assertConsecutive } = require('./helpers')

// count.wasm (clang -O0) keeps its loop counter `i` in its stack frame:
// __stack_pointer starts at 66560, entry's frame is 16 bytes, `i` at +12.
const COUNTER_ADDRESS = 66560 - 16 + 12

test('run, serializeMemory, snapshotJson and deserializeMemory from inside an import throw ERR_EXECUTOR_BUSY', () => {
  const wasm = countWasm()
  const snapshot = new Executor(wasm, 65536, { print() {} }).serializeMemory()
  const printed = []
  const refusals = []
  const executor = new Executor(wasm, 65536, {
    print: (i) => {
      printed.push(i)
      if (i !== 3) return
      for (const call of [
        () => executor.run(1000),
        () => executor.run(0),
        () => executor.serializeMemory(),
        () => executor.snapshotJson(),
        () => executor.deserializeMemory(snapshot),
        () => executor.gasUsed,
        () => executor.gasBalance,
        () => executor.free(),
        () => executor[Symbol.dispose](),
      ]) {
        refusals.push(throwsCode(call, Error, 'ERR_EXECUTOR_BUSY'))
      }
      assert.equal(executor.status, 'running')
    },
  })
  while (!executor.run(100000));
  assert.equal(refusals.length, 9)
  assert.match(refusals[0].message, /run\(\).*from inside one of its imports/)
  assert.match(refusals[7].message, /free\(\).*from inside one of its imports/)
  // The refused calls changed nothing: the program counted to the end.
  assert.equal(executor.status, 'finished')
  assert.equal(printed.length, COUNT)
  assertConsecutive(printed)
})

test('an uncaught ERR_EXECUTOR_BUSY inside an import is rethrown by the outer run', () => {
  const executor = new Executor(countWasm(), 65536, {
    print: () => executor.run(1),
  })
  const error = throwsCode(() => executor.run(1000), Error, 'ERR_EXECUTOR_BUSY')
  assert.equal(executor.status, 'trapped')
  assert.equal(error.code, 'ERR_EXECUTOR_BUSY')
})

test('readMemory, writeMemory and memorySize work inside an import', () => {
  const printed = []
  const executor = new Executor(countWasm(), 65536, {
    print: (i) => {
      printed.push(i)
      assert.equal(executor.memorySize, 131072)
      // The guest's counter is the number being printed.
      assert.equal(executor.readMemory(COUNTER_ADDRESS, 4).readInt32LE(0), i)
      if (i === 10) {
        // Skip ahead: the loop continues from the value written here.
        const bytes = Buffer.alloc(4)
        bytes.writeInt32LE(COUNT - 10)
        executor.writeMemory(COUNTER_ADDRESS, bytes)
      }
      throwsCode(() => executor.readMemory(131070, 4), RangeError, 'ERR_OUT_OF_BOUNDS')
      throwsCode(() => executor.writeMemory(131072, new Uint8Array(1)), RangeError, 'ERR_OUT_OF_BOUNDS')
    },
  })
  while (!executor.run(10000));
  const expected = [...Array(11).keys(), ...Array.from({ length: 9 }, (_, k) => COUNT - 9 + k)]
  assert.deepEqual(printed, expected)
})

test('memory read inside an import is the live memory, and writes are visible after run', () => {
  let seenInside
  const executor = new Executor(countWasm(), 65536, {
    print: (i) => {
      if (i === 0) {
        executor.writeMemory(1024, Buffer.from('hello'))
        seenInside = executor.readMemory(1024, 5).toString()
      }
    },
  })
  executor.run(200)
  assert.equal(seenInside, 'hello')
  assert.equal(executor.readMemory(1024, 5).toString(), 'hello')
})

test('an import may run a different Executor (nested guests)', () => {
  const wasm = countWasm()
  const inner = []
  const innerExecutor = new Executor(wasm, 65536, { print: (i) => inner.push(i) })
  const outer = []
  const outerExecutor = new Executor(wasm, 65536, {
    print: (i) => {
      outer.push(i)
      if (i % 100 === 0) innerExecutor.run(500)
    },
  })
  while (!outerExecutor.run(50000));
  while (!innerExecutor.run(1e9));
  assert.equal(outer.length, COUNT)
  assertConsecutive(outer)
  assert.equal(inner.length, COUNT)
  assertConsecutive(inner)
})
