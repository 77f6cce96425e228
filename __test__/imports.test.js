// JS imports: lookup (env and nested modules), the WebAssembly JS API value
// conversions for i32/i64/f32/f64 in both directions, multiple results.
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')

const { Executor, wat, throwsCode } = require('./helpers')

const MODULE = `
(module
  (import "env" "args" (func $args (param i32 i64 f32 f64)))
  (import "env" "ri32" (func $ri32 (result i32)))
  (import "env" "ri64" (func $ri64 (result i64)))
  (import "env" "rf32" (func $rf32 (result f32)))
  (import "env" "rf64" (func $rf64 (result f64)))
  (import "math" "echo" (func $echo (param i32 i64 f32 f64) (result i32 i64 f32 f64)))
  (memory (export "memory") 1)
  (func (export "args")
    (call $args (i32.const -7) (i64.const -9007199254740993) (f32.const 1.5) (f64.const -2.25))
    (call $args (i32.const 2147483647) (i64.const 0x8000000000000000) (f32.const -0) (f64.const inf)))
  (func (export "i32") (i32.store (i32.const 0) (call $ri32)))
  (func (export "i64") (i64.store (i32.const 0) (call $ri64)))
  (func (export "f32") (f32.store (i32.const 0) (call $rf32)))
  (func (export "f64") (f64.store (i32.const 0) (call $rf64)))
  (func (export "echo")
    (local $a i32) (local $b i64) (local $c f32) (local $d f64)
    (call $echo (i32.const 11) (i64.const 12) (f32.const 13.5) (f64.const 14.25))
    (local.set $d) (local.set $c) (local.set $b) (local.set $a)
    (i32.store (i32.const 0) (local.get $a))
    (i64.store (i32.const 8) (local.get $b))
    (f32.store (i32.const 16) (local.get $c))
    (f64.store (i32.const 24) (local.get $d))))
`

let wasm
test.before(async () => {
  wasm = await wat(MODULE)
})

/** Imports that fail the test if an unexpected one is called. */
function env(overrides = {}, math = {}) {
  const fail = (name) => () => assert.fail(`unexpected call of ${name}`)
  return {
    args: fail('args'),
    ri32: fail('ri32'),
    ri64: fail('ri64'),
    rf32: fail('rf32'),
    rf64: fail('rf64'),
    ...overrides,
    math: { echo: fail('echo'), ...math },
  }
}

/** Runs export `entry` with `imports`; returns the executor. */
function runEntry(entry, imports) {
  const executor = new Executor(wasm, 1, imports, { entry })
  assert.equal(executor.run(1_000_000), true)
  return executor
}

test('arguments: i32 and f32/f64 as numbers, i64 as bigint', () => {
  const calls = []
  runEntry('args', env({ args: (...a) => calls.push(a) }))
  assert.deepEqual(calls, [
    [-7, -9007199254740993n, 1.5, -2.25],
    [2147483647, -9223372036854775808n, -0, Infinity],
  ])
  assert.ok(Object.is(calls[1][2], -0))
})

test('arguments: 8 (passed from the stack) and 10 (from the heap), in order and converted', async () => {
  const params = (n) => Array.from({ length: n }, (_, i) => ['i32', 'i64', 'f32', 'f64'][i % 4]).join(' ')
  const args = (n) =>
    Array.from({ length: n }, (_, i) => `(${['i32', 'i64', 'f32', 'f64'][i % 4]}.const ${i % 4 === 2 ? i + 0.5 : -i})`).join(' ')
  const module = await wat(`(module
    (import "env" "eight" (func $eight (param ${params(8)}) (result i32)))
    (import "env" "ten" (func $ten (param ${params(10)}) (result i32)))
    (memory (export "memory") 1)
    (func (export "entry")
      (i32.store (i32.const 0) (call $eight ${args(8)}))
      (i32.store (i32.const 4) (call $ten ${args(10)}))))`)
  const calls = []
  const executor = new Executor(module, 1, {
    eight: (...a) => calls.push(a) * 100 + a.length,
    ten: (...a) => calls.push(a) * 100 + a.length,
  })
  assert.equal(executor.run(1_000_000), true)
  const expected = (n) => Array.from({ length: n }, (_, i) => [0 - i, BigInt(-i), i + 0.5, 0 - i][i % 4])
  assert.deepEqual(calls, [expected(8), expected(10)])
  const stored = executor.readMemory(0, 8)
  assert.deepEqual([stored.readInt32LE(0), stored.readInt32LE(4)], [108, 210])
})

/** Runs export `ty` with the `r<ty>` import returning `value`; reads the stored result. */
function result(ty, value) {
  const executor = runEntry(ty, env({ [`r${ty}`]: () => value }))
  const bytes = executor.readMemory(0, 8)
  return { i32: () => bytes.readInt32LE(0), i64: () => bytes.readBigInt64LE(0), f32: () => bytes.readFloatLE(0), f64: () => bytes.readDoubleLE(0) }[ty]()
}

test('i32 results: ToInt32 of the returned value', () => {
  assert.equal(result('i32', 42), 42)
  assert.equal(result('i32', -1), -1)
  assert.equal(result('i32', 2 ** 32 + 5), 5)
  assert.equal(result('i32', 2 ** 31), -(2 ** 31))
  assert.equal(result('i32', 3.9), 3)
  assert.equal(result('i32', -3.9), -3)
  assert.equal(result('i32', NaN), 0)
  assert.equal(result('i32', Infinity), 0)
  assert.equal(result('i32', '12'), 12)
  assert.equal(result('i32', true), 1)
  assert.equal(result('i32', undefined), 0)
  assert.equal(result('i32', { valueOf: () => 77 }), 77)
})

test('i64 results: ToBigInt64 (a bigint, wrapped to 64 bits)', () => {
  assert.equal(result('i64', 5n), 5n)
  assert.equal(result('i64', -1n), -1n)
  assert.equal(result('i64', 2n ** 64n + 3n), 3n)
  assert.equal(result('i64', 2n ** 63n), -(2n ** 63n))
  assert.equal(result('i64', -(2n ** 63n) - 1n), 2n ** 63n - 1n)
  assert.equal(result('i64', 9007199254740993n), 9007199254740993n)
  // ToBigInt also takes booleans and numeric strings.
  assert.equal(result('i64', true), 1n)
  assert.equal(result('i64', '-42'), -42n)
})

test('i64 results: a number is a TypeError, thrown out of run', () => {
  const executor = new Executor(wasm, 1, env({ ri64: () => 5 }), { entry: 'i64' })
  assert.throws(() => executor.run(1_000_000), TypeError)
  assert.equal(executor.status, 'trapped')
})

test('f32 and f64 results: ToNumber (f32 rounded to nearest)', () => {
  assert.equal(result('f32', 0.1), Math.fround(0.1))
  assert.equal(result('f32', 1e40), Infinity)
  assert.equal(result('f32', '2.5'), 2.5)
  assert.ok(Number.isNaN(result('f32', undefined)))
  assert.equal(result('f64', 0.1), 0.1)
  assert.equal(result('f64', -1e300), -1e300)
  assert.equal(result('f64', '7'), 7)
  assert.equal(result('f64', null), 0)
  assert.ok(Number.isNaN(result('f64', 'x')))
})

test('several results: an array or any iterable, from a nested import module', () => {
  const check = (returned) => {
    const seen = []
    const executor = runEntry('echo', env({}, { echo: (...a) => (seen.push(a), returned(a)) }))
    assert.deepEqual(seen, [[11, 12n, 13.5, 14.25]])
    const b = executor.readMemory(0, 32)
    return [b.readInt32LE(0), b.readBigInt64LE(8), b.readFloatLE(16), b.readDoubleLE(24)]
  }
  assert.deepEqual(check(([a, b, c, d]) => [a + 1, b + 1n, c + 1, d + 1]), [12, 13n, 14.5, 15.25])
  assert.deepEqual(
    check(function* () {
      yield 1
      yield 2n
      yield 3
      yield 4
    }),
    [1, 2n, 3, 4],
  )
  assert.deepEqual(check(() => new Set(['5', 6n, 7.5, '8'])), [5, 6n, 7.5, 8])
})

test('several results: not iterable or the wrong count is a TypeError', () => {
  for (const [returned, message] of [
    [undefined, /must return an iterable/],
    [42, /must return an iterable/],
    [{ length: 4, 0: 1, 1: 2n, 2: 3, 3: 4 }, /must return an iterable/],
    [[1, 2n, 3], /returned 3 values, expected 4/],
    [[1, 2n, 3, 4, 5], /returned 5 values, expected 4/],
  ]) {
    const executor = new Executor(wasm, 1, env({}, { echo: () => returned }), { entry: 'echo' })
    throwsCode(() => executor.run(1_000_000), TypeError, 'ERR_IMPORT_TYPE', message)
    assert.equal(executor.status, 'trapped')
  }
})

test('the return value of an import without results is ignored', () => {
  runEntry('args', env({ args: () => ({ anything: 1 }) }))
})

test('imports are called with this === undefined, synchronously, once per guest call', () => {
  const thisValues = []
  runEntry('args', env({
    args: function () {
      'use strict'
      thisValues.push(this)
    },
  }))
  assert.deepEqual(thisValues, [undefined, undefined])
})

test('a missing import is a TypeError naming module.name and the signature', () => {
  const missing = env()
  delete missing.ri64
  throwsCode(() => new Executor(wasm, 1, missing, { entry: 'i64' }), TypeError, 'ERR_IMPORT_MISSING', /env\.ri64.*\(\) -> i64/)
  const noModule = env()
  delete noModule.math
  throwsCode(() => new Executor(wasm, 1, noModule), TypeError, 'ERR_IMPORT_MISSING', /math\.echo.*\(i32, i64, f32, f64\) -> \[i32, i64, f32, f64\]/)
  throwsCode(() => new Executor(wasm, 1), TypeError, 'ERR_IMPORT_MISSING', /env\.args.*\(i32, i64, f32, f64\) -> \(\)/)
  throwsCode(() => new Executor(wasm, 1, {}), TypeError, 'ERR_IMPORT_MISSING', /env\.args/)
})

test('a non-function import is a TypeError naming module.name and the signature', () => {
  throwsCode(() => new Executor(wasm, 1, env({ rf32: 1.5 })), TypeError, 'ERR_IMPORT_TYPE', /env\.rf32.*\(\) -> f32.*got a number/)
  throwsCode(() => new Executor(wasm, 1, env({ args: {} })), TypeError, 'ERR_IMPORT_TYPE', /env\.args/)
  throwsCode(() => new Executor(wasm, 1, { ...env(), math: 'nope' }), TypeError, 'ERR_IMPORT_TYPE', /import module "math".*math\.echo/)
})

test('imports are looked up once, at construction', () => {
  let calls = 0
  const imports = env({ ri32: () => ++calls })
  const executor = new Executor(wasm, 1, imports, { entry: 'i32' })
  imports.ri32 = () => assert.fail('replaced import called')
  assert.equal(executor.run(1_000_000), true)
  assert.equal(calls, 1)
})

test('getters on the imports object run once and their exceptions propagate', () => {
  const boom = new Error('getter')
  const imports = env()
  Object.defineProperty(imports, 'rf64', {
    get() {
      throw boom
    },
    enumerable: true,
  })
  assert.throws(() => new Executor(wasm, 1, imports), (e) => e === boom)
})

test('what an import writes with writeMemory is in every snapshot after it, when the guest writes nothing', async () => {
  // Snapshots read only the pages known to be nonzero when nothing wrote
  // the memory since the last snapshot or restore; imports only reading it
  // (peek) keep that, writeMemory (poke) must not. Each poke writes a page
  // that was zero, and the state moves to a new executor at every pause.
  const moving = await wat(`
    (module
      (import "env" "poke" (func $poke (param i32)))
      (import "env" "peek" (func $peek (param i32) (result i32)))
      (memory (export "memory") 2)
      (func (export "entry") (local $i i32)
        (loop $l
          (call $poke (i32.mul (i32.add (local.get $i) (i32.const 1)) (i32.const 4096)))
          (drop (call $peek (i32.const 4096)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 30))))))`)
  let current
  const seen = []
  const imports = {
    poke: (at) => current.writeMemory(at, Uint8Array.of(0x5a, at >> 12)),
    peek: (at) => seen.push(current.readMemory(at, 1)[0]),
  }
  current = new Executor(moving, 2, imports)
  let moves = 0
  while (!current.run(40)) {
    // The new executor is made before the old one is freed, so it never
    // gets the old one's instance, whose memory would still hold the write.
    const next = new Executor(moving, 2, imports)
    next.deserializeMemory(current.serializeMemory())
    current.free()
    current = next
    moves++
  }
  assert.ok(moves >= 20, `only ${moves} pauses`)
  assert.deepEqual(seen, Array(30).fill(0x5a))
  for (let i = 1; i <= 30; i++) {
    assert.deepEqual([...current.readMemory(i * 4096, 2)], [0x5a, i], `page ${i}`)
  }
})

test('conversions agree with V8 on odd results and on random argument bits, NaN payloads included', async () => {
  const wasm = await wat(`(module
    (import "env" "r" (func $ri32 (result i32)))
    (import "env" "r" (func $ri64 (result i64)))
    (import "env" "r" (func $rf32 (result f32)))
    (import "env" "r" (func $rf64 (result f64)))
    (import "env" "a" (func $a (param i32 i64 f32 f64)))
    (memory (export "memory") 1)
    (func (export "i32") (i32.store (i32.const 0) (call $ri32)))
    (func (export "i64") (i64.store (i32.const 0) (call $ri64)))
    (func (export "f32") (f32.store (i32.const 0) (call $rf32)))
    (func (export "f64") (f64.store (i32.const 0) (call $rf64)))
    (func (export "args")
      (call $a (i32.load (i32.const 8)) (i64.load (i32.const 16)) (f32.load (i32.const 24)) (f64.load (i32.const 32)))))`)
  const odd = [
    0, -0, 1, -1, 0.5, -0.5, 1.5, 2.5, -2.5, 2 ** 31, 2 ** 31 - 1, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32, 2 ** 32 + 1,
    2 ** 53, 2 ** 63, -(2 ** 63), 2 ** 64, 1e300, -1e300, NaN, Infinity, -Infinity, 3.4028235e38, 3.4028236e38,
    1e-45, 1.4e-45, 7e-46, 5e-324, true, false, null, undefined, '', ' ', '12', ' 12 ', '0x10', '0b11', '0o7',
    '1e3', '-0', 'abc', '12n', '9007199254740993', '18446744073709551615', '-9223372036854775809', 0n, 1n, -1n,
    2n ** 63n, 2n ** 64n, -(2n ** 63n) - 1n, 2n ** 100n, [], [5], [1, 2], {}, { valueOf: () => 3 },
    { toString: () => '4' }, { valueOf: () => '7' }, { valueOf: () => 8n }, new Number(9), new String('10'),
    Object(11n), new Date(0), { [Symbol.toPrimitive]: (hint) => (hint === 'number' ? 12 : '13') },
  ]
  // The stored bits (so -0 and NaN payloads count), or the error's class.
  const read = {
    i32: (b) => b.readInt32LE(0),
    i64: (b) => b.readBigInt64LE(0),
    f32: (b) => b.readUInt32LE(0),
    f64: (b) => b.readBigUInt64LE(0),
  }
  const outcome = (fn) => {
    try {
      return { value: fn() }
    } catch (error) {
      return { error: error.constructor.name }
    }
  }
  const v8 = (env, entry, memory) => {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(wasm), { env })
    if (memory) Buffer.from(instance.exports.memory.buffer).set(memory)
    instance.exports[entry]()
    return Buffer.from(instance.exports.memory.buffer, 0, 8)
  }
  const ours = (env, entry, memory) => {
    const executor = new Executor(wasm, 1, env, { entry })
    if (memory) executor.writeMemory(0, memory)
    executor.run(1000)
    return executor.readMemory(0, 8)
  }
  let compared = 0
  for (const [entry, reader] of Object.entries(read)) {
    for (const v of odd) {
      const env = { r: () => v, a() {} }
      const label = typeof v === 'bigint' ? `${v}n` : String(v)
      assert.deepEqual(outcome(() => reader(ours(env, entry))), outcome(() => reader(v8(env, entry))), `${entry} <- ${label}`)
      compared++
    }
  }
  // Arguments: random bit patterns, every seventh f32 a NaN with a payload.
  let s = 12345
  const next = () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0
    return s
  }
  const shown = (args) => args.map((x) => (typeof x === 'bigint' ? `${x}n` : Object.is(x, -0) ? '-0' : String(x)))
  const memory = Buffer.alloc(40)
  for (let k = 0; k < 2000; k++) {
    for (let j = 8; j < 40; j += 4) memory.writeUInt32LE(next(), j)
    if (k % 7 === 0) memory.writeUInt32LE(0x7fc00001 + (next() & 0xff), 24)
    let theirs, mine
    v8({ r() {}, a: (...x) => { theirs = x } }, 'args', memory)
    ours({ r() {}, a: (...x) => { mine = x } }, 'args', memory)
    assert.deepEqual(shown(mine), shown(theirs), `arguments from ${memory.subarray(8).toString('hex')}`)
    compared++
  }
  assert.equal(compared, 4 * odd.length + 2000)
})
