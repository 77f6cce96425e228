// Every error the API documents: its class (TypeError/RangeError/Error),
// its stable `code` and a message naming the problem.
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')

const { Executor, countWasm, wat, throwsCode, crc32 } = require('./helpers')

const noop = { print() {} }

test('wasm: not bytes is ERR_INVALID_ARG, not a module ERR_INVALID_WASM', () => {
  for (const bad of [undefined, null, 'wasm', 42, {}, [0, 97, 115, 109]]) {
    throwsCode(() => new Executor(bad, 1), TypeError, 'ERR_INVALID_ARG', /wasm must be a Uint8Array/)
  }
  throwsCode(() => new Executor(new Uint8Array([1, 2, 3, 4]), 1), TypeError, 'ERR_INVALID_WASM')
  throwsCode(() => new Executor(Buffer.alloc(0), 1), TypeError, 'ERR_INVALID_WASM')
  const truncated = countWasm().subarray(0, 100)
  throwsCode(() => new Executor(truncated, 65536, noop), TypeError, 'ERR_INVALID_WASM')
})

test('Executor called without new is a TypeError (ERR_CONSTRUCT_CALL_REQUIRED), nothing is wrapped', () => {
  const wasm = countWasm()
  const message = /Class constructor Executor cannot be invoked without 'new'/
  // Sloppy mode (this = globalThis), strict mode (this = undefined), another
  // receiver, and an existing executor.
  // eslint-disable-next-line new-cap
  throwsCode(() => Executor(wasm, 2, noop), TypeError, 'ERR_CONSTRUCT_CALL_REQUIRED', message)
  ;(() => {
    'use strict'
    // eslint-disable-next-line new-cap
    throwsCode(() => Executor(wasm, 2, noop), TypeError, 'ERR_CONSTRUCT_CALL_REQUIRED', message)
  })()
  throwsCode(() => Executor.call({}, wasm, 2, noop), TypeError, 'ERR_CONSTRUCT_CALL_REQUIRED', message)
  const existing = new Executor(wasm, 2, noop)
  throwsCode(() => Executor.call(existing, wasm, 2, noop), TypeError, 'ERR_CONSTRUCT_CALL_REQUIRED', message)
  assert.equal(globalThis.run, undefined)
  // The existing executor is untouched; `new` and subclasses still work.
  assert.equal(existing.run(Number.MAX_SAFE_INTEGER), true)
  class Sub extends Executor {}
  assert.equal(new Sub(wasm, 2, noop).run(Number.MAX_SAFE_INTEGER), true)
  // Receivers whose prototype chains end without Executor.prototype.
  throwsCode(() => Executor.call(Object.create(null), wasm, 2, noop), TypeError, 'ERR_CONSTRUCT_CALL_REQUIRED', message)
  const far = Array.from({ length: 12 }).reduce((proto) => Object.create(proto), Object.create(null))
  throwsCode(() => Executor.call(far, wasm, 2, noop), TypeError, 'ERR_CONSTRUCT_CALL_REQUIRED', message)
  throwsCode(() => Executor.call(() => {}, wasm, 2, noop), TypeError, 'ERR_CONSTRUCT_CALL_REQUIRED', message)
  // A subclass 12 levels down (the constructor looks a few prototypes up
  // itself, then asks instanceof).
  let Deep = Executor
  for (let k = 0; k < 12; k++) Deep = class extends Deep {}
  const deep = new Deep(wasm, 2, noop)
  assert.ok(deep instanceof Executor)
  assert.equal(deep.run(Number.MAX_SAFE_INTEGER), true)
})

test('unsupported features and modules', async () => {
  const simd = await wat(`(module (func (export "entry") (drop (v128.const i64x2 0 0))))`)
  throwsCode(() => new Executor(simd, 1), TypeError, 'ERR_UNSUPPORTED_FEATURE', /SIMD|simd/)
  const threads = await wat(`(module (memory 1 1 shared) (func (export "entry")))`)
  throwsCode(() => new Executor(threads, 1), TypeError, 'ERR_UNSUPPORTED_FEATURE')
  const importsGlobal = await wat(`(module (import "env" "g" (global i32)) (func (export "entry")))`)
  throwsCode(() => new Executor(importsGlobal, 1, { g: 1 }), TypeError, 'ERR_UNSUPPORTED_MODULE', /env\.g/)
})

test('entry: missing export ERR_ENTRY_NOT_FOUND, entry with parameters ERR_INVALID_ENTRY', async () => {
  const wasm = await wat(`(module (func (export "main")) (func (export "withArg") (param i32)))`)
  throwsCode(() => new Executor(wasm, 1), TypeError, 'ERR_ENTRY_NOT_FOUND', /entry/)
  throwsCode(() => new Executor(wasm, 1, {}, { entry: 'nope' }), TypeError, 'ERR_ENTRY_NOT_FOUND', /nope/)
  throwsCode(() => new Executor(wasm, 1, {}, { entry: 'withArg' }), TypeError, 'ERR_INVALID_ENTRY', /withArg/)
  assert.equal(new Executor(wasm, 1, {}, { entry: 'main' }).run(10), true)
})

test('memLimit: an integer number of pages in 1..65536, at least the module minimum', () => {
  const wasm = countWasm() // needs 2 pages
  for (const bad of [undefined, '2', 2n, null, {}]) {
    throwsCode(() => new Executor(wasm, bad, noop), TypeError, 'ERR_INVALID_ARG', /memLimit/)
  }
  for (const bad of [1.5, NaN]) {
    throwsCode(() => new Executor(wasm, bad, noop), TypeError, 'ERR_INVALID_ARG', /memLimit.*integer/)
  }
  for (const bad of [0, -1, 65537, 2 ** 40, Infinity, -Infinity]) {
    throwsCode(() => new Executor(wasm, bad, noop), RangeError, 'ERR_INVALID_ARG', /memLimit.*between 1 and 65536/)
  }
  throwsCode(() => new Executor(wasm, 1, noop), RangeError, 'ERR_MEMORY_LIMIT', /2 pages.*limit is 1/)
  assert.equal(new Executor(wasm, 2, noop).status, 'ready')
  assert.equal(new Executor(wasm, 65536, noop).status, 'ready')
})

test('gas: a non-negative safe integer or a bigint below 2^64', () => {
  const executor = new Executor(countWasm(), 2, noop)
  for (const bad of [undefined, null, '10', {}, true]) {
    throwsCode(() => executor.run(bad), TypeError, 'ERR_INVALID_ARG', /gas must be a number or a bigint/)
  }
  for (const bad of [NaN, 1.5, -0.5]) {
    throwsCode(() => executor.run(bad), TypeError, 'ERR_INVALID_ARG', /gas must be an integer/)
  }
  for (const bad of [-1, 2 ** 53, Number.MAX_VALUE, Infinity, -Infinity]) {
    throwsCode(() => executor.run(bad), RangeError, 'ERR_INVALID_ARG', /gas must be between 0 and 2\^53-1/)
  }
  for (const bad of [-1n, 2n ** 64n, -(2n ** 64n)]) {
    throwsCode(() => executor.run(bad), RangeError, 'ERR_INVALID_ARG', /2n \*\* 64n/)
  }
  // None of the rejected calls ran anything.
  assert.equal(executor.status, 'ready')
  assert.equal(executor.gasUsed, 0n)
  assert.equal(executor.run(Number.MAX_SAFE_INTEGER), true)
  assert.equal(new Executor(countWasm(), 2, noop).run(2n ** 64n - 1n), true)
})

test('env and options: wrong types are ERR_INVALID_ARG', () => {
  const wasm = countWasm()
  throwsCode(() => new Executor(wasm, 2, 'env'), TypeError, 'ERR_INVALID_ARG', /env must be an object/)
  throwsCode(() => new Executor(wasm, 2, noop, 5), TypeError, 'ERR_INVALID_ARG', /options must be an object/)
  throwsCode(() => new Executor(wasm, 2, noop, { entry: 5 }), TypeError, 'ERR_INVALID_ARG', /options\.entry must be a string/)
  throwsCode(() => new Executor(wasm, 2, noop, { canonicalizeNans: 1 }), TypeError, 'ERR_INVALID_ARG', /canonicalizeNans must be a boolean/)
  throwsCode(() => new Executor(wasm, 2, noop, { entyr: 'x' }), TypeError, 'ERR_INVALID_ARG', /unknown option "entyr"/)
  throwsCode(() => new Executor(wasm, 2, noop, { costs: 3 }), TypeError, 'ERR_INVALID_ARG', /options\.costs must be an object/)
  throwsCode(() => new Executor(wasm, 2, noop, { costs: { instructions: 1 } }), TypeError, 'ERR_INVALID_ARG', /unknown cost "instructions"/)
  throwsCode(() => new Executor(wasm, 2, noop, { costs: { hostCall: '1' } }), TypeError, 'ERR_INVALID_ARG', /options\.costs\.hostCall must be a number/)
  throwsCode(() => new Executor(wasm, 2, noop, { costs: { hostCall: 0.5 } }), TypeError, 'ERR_INVALID_ARG', /options\.costs\.hostCall must be an integer/)
  throwsCode(() => new Executor(wasm, 2, noop, { costs: { call: -1 } }), RangeError, 'ERR_INVALID_ARG', /options\.costs\.call/)
  throwsCode(() => new Executor(wasm, 2, noop, { costs: { call: 2 ** 32 } }), RangeError, 'ERR_INVALID_ARG', /options\.costs\.call/)
  // undefined and null mean "not given".
  assert.equal(new Executor(wasm, 2, noop, undefined).status, 'ready')
  assert.equal(new Executor(wasm, 2, noop, null).status, 'ready')
  assert.equal(new Executor(wasm, 2, noop, { entry: undefined, costs: undefined }).status, 'ready')
})

test('traps: ERR_WASM_TRAP with kind and the guest backtrace; every later run throws the same', async () => {
  const wasm = await wat(`
    (module
      (memory 1)
      (func $crash (export "unreachable") unreachable)
      (func (export "nested") (call $crash))
      (func (export "divide") (drop (i32.div_s (i32.const 1) (i32.const 0))))
      (func (export "overflow") (drop (i32.div_s (i32.const 0x80000000) (i32.const -1))))
      (func (export "oob") (drop (i32.load (i32.const 65536))))
      (func (export "convert") (drop (i32.trunc_f64_s (f64.const nan))))
      (func $deep (export "deep") (call $deep)))`)
  const cases = {
    unreachable: 'unreachable',
    nested: 'unreachable',
    divide: 'integer divide by zero',
    overflow: 'integer overflow',
    oob: 'memory out of bounds',
    convert: 'invalid conversion to integer',
    deep: 'call depth exceeded',
  }
  for (const [entry, kind] of Object.entries(cases)) {
    const executor = new Executor(wasm, 1, {}, { entry })
    const error = throwsCode(() => executor.run(1e9), Error, 'ERR_WASM_TRAP')
    assert.equal(error.kind, kind, entry)
    assert.match(error.message, new RegExp(kind))
    assert.equal(typeof error.wasmBacktrace, 'string')
    assert.equal(executor.status, 'trapped')
    const again = throwsCode(() => executor.run(1e9), Error, 'ERR_WASM_TRAP')
    assert.equal(again.kind, kind)
    assert.equal(executor.serializeMemory(), undefined)
  }
  const executor = new Executor(wasm, 1, {}, { entry: 'nested' })
  const error = throwsCode(() => executor.run(100), Error, 'ERR_WASM_TRAP')
  assert.match(error.wasmBacktrace, /crash/)
})

test('readMemory/writeMemory: bad arguments ERR_INVALID_ARG, outside the memory ERR_OUT_OF_BOUNDS', () => {
  const executor = new Executor(countWasm(), 2, noop)
  const size = executor.memorySize
  throwsCode(() => executor.readMemory(size - 3, 4), RangeError, 'ERR_OUT_OF_BOUNDS', /outside the guest memory/)
  throwsCode(() => executor.readMemory(size + 1, 0), RangeError, 'ERR_OUT_OF_BOUNDS')
  throwsCode(() => executor.readMemory(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER), RangeError, 'ERR_OUT_OF_BOUNDS')
  throwsCode(() => executor.writeMemory(size - 1, Buffer.alloc(2)), RangeError, 'ERR_OUT_OF_BOUNDS')
  throwsCode(() => executor.readMemory(-1, 1), RangeError, 'ERR_INVALID_ARG', /offset/)
  throwsCode(() => executor.readMemory(0, 1.5), TypeError, 'ERR_INVALID_ARG', /length/)
  throwsCode(() => executor.readMemory('0', 1), TypeError, 'ERR_INVALID_ARG', /offset/)
  throwsCode(() => executor.writeMemory(0, 'text'), TypeError, 'ERR_INVALID_ARG', /bytes/)
  throwsCode(() => executor.writeMemory(0, [1, 2]), TypeError, 'ERR_INVALID_ARG', /bytes/)
  assert.equal(executor.readMemory(size, 0).length, 0)
})

test('snapshots: corrupt, truncated, foreign, newer version, another module, too large', async () => {
  const wasm = countWasm()
  const executor = new Executor(wasm, 65536, noop)
  executor.run(5000)
  const good = executor.serializeMemory()
  const target = new Executor(wasm, 65536, noop)

  throwsCode(() => target.deserializeMemory(good.subarray(0, good.length - 1)), TypeError, 'ERR_SNAPSHOT_CORRUPT')
  throwsCode(() => target.deserializeMemory(good.subarray(0, 10)), TypeError, 'ERR_SNAPSHOT_CORRUPT')
  throwsCode(() => target.deserializeMemory(new Uint8Array(0)), TypeError, 'ERR_SNAPSHOT_CORRUPT')
  throwsCode(() => target.deserializeMemory(Buffer.from('not a snapshot at all')), TypeError, 'ERR_SNAPSHOT_CORRUPT', /magic/)
  const flipped = Buffer.from(good)
  flipped[flipped.length - 20] ^= 0xff
  throwsCode(() => target.deserializeMemory(flipped), TypeError, 'ERR_SNAPSHOT_CORRUPT', /checksum/)
  throwsCode(() => target.deserializeMemory('{"not": "a snapshot"}'), TypeError, 'ERR_SNAPSHOT_CORRUPT')
  throwsCode(() => target.deserializeMemory('not json'), TypeError, 'ERR_SNAPSHOT_CORRUPT')
  throwsCode(() => target.deserializeMemory(42), TypeError, 'ERR_INVALID_ARG', /data must be/)

  // A snapshot from a newer format version (header field at byte 8).
  const newer = Buffer.from(good)
  newer.writeUInt32LE(99, 8)
  newer.writeUInt32LE(crc32(newer.subarray(0, newer.length - 4)), newer.length - 4)
  throwsCode(() => target.deserializeMemory(newer), TypeError, 'ERR_SNAPSHOT_VERSION', /99/)

  // Another module, or the same module with other costs.
  const other = await wat(`(module (import "env" "print" (func (param i32))) (import "env" "memory" (memory 2)) (func (export "entry")))`)
  throwsCode(() => new Executor(other, 65536, noop).deserializeMemory(good), Error, 'ERR_SNAPSHOT_MISMATCH')
  const costly = new Executor(wasm, 65536, noop, { costs: { hostCall: 11 } })
  throwsCode(() => costly.deserializeMemory(good), Error, 'ERR_SNAPSHOT_MISMATCH')

  // A memory larger than the target's memLimit.
  const grower = await wat(`
    (module (memory 1)
      (func (export "entry") (drop (memory.grow (i32.const 3))) (loop $l (br $l))))`)
  const big = new Executor(grower, 8)
  assert.equal(big.run(100000), false)
  assert.equal(big.memorySize, 4 * 65536)
  const small = new Executor(grower, 2)
  throwsCode(() => small.deserializeMemory(big.serializeMemory()), RangeError, 'ERR_SNAPSHOT_MEMORY_LIMIT', /4 pages.*limit of 2/)

  // Every failure left the target unchanged: it still runs from the start.
  assert.equal(target.status, 'ready')
  assert.equal(small.status, 'ready')
  target.deserializeMemory(good)
  assert.equal(target.status, 'paused')
})

test('a failed restore leaves a paused executor exactly as it was', () => {
  const wasm = countWasm()
  const printed = []
  const executor = new Executor(wasm, 65536, { print: (i) => printed.push(i) })
  executor.run(5000)
  const before = executor.serializeMemory()
  const gas = [executor.gasUsed, executor.gasBalance]
  const truncated = before.subarray(0, before.length - 8)
  throwsCode(() => executor.deserializeMemory(truncated), TypeError, 'ERR_SNAPSHOT_CORRUPT')
  assert.deepEqual(executor.serializeMemory(), before)
  assert.deepEqual([executor.gasUsed, executor.gasBalance], gas)
  while (!executor.run(100000));
  assert.equal(printed.length, 100000)
})
