// The API beyond the seed: status, gasUsed, gasBalance, memorySize,
// readMemory/writeMemory, snapshotJson, options.entry, options.costs,
// options.canonicalizeNans, defaultCosts.
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')

const { Executor, defaultCosts, countWasm, COUNT, wat, assertConsecutive } = require('./helpers')

const noop = { print() {} }

test('the balance keeps at most 2^62 - 1 gas; a run with more finishes and counts only what ran', () => {
  const executor = new Executor(countWasm(), 2, noop)
  executor.run(1000)
  const used = executor.gasUsed
  assert.equal(executor.run(2n ** 64n - 1n), true)
  assert.equal(executor.status, 'finished')
  assert.equal(executor.gasUsed + executor.gasBalance, 2n ** 62n - 1n + used)
  const whole = new Executor(countWasm(), 2, noop)
  assert.equal(whole.run(2n ** 63n), true)
  assert.equal(whole.gasUsed, executor.gasUsed)
  assert.equal(whole.gasBalance, 2n ** 62n - 1n - whole.gasUsed)
})

test('status: ready → paused → finished', () => {
  const executor = new Executor(countWasm(), 2, noop)
  assert.equal(executor.status, 'ready')
  assert.equal(executor.run(0), false) // no gas: nothing runs
  assert.equal(executor.status, 'ready')
  assert.equal(executor.gasUsed, 0n)
  assert.equal(executor.run(1000), false)
  assert.equal(executor.status, 'paused')
  assert.equal(executor.run(1e9), true)
  assert.equal(executor.status, 'finished')
})

test('gasUsed and gasBalance are bigints; an overshoot is a debt paid by the next run', () => {
  const executor = new Executor(countWasm(), 2, noop)
  assert.equal(executor.gasBalance, 0n)
  executor.run(1000)
  const used = executor.gasUsed
  const balance = executor.gasBalance
  assert.equal(typeof used, 'bigint')
  assert.ok(balance < 0n, `balance ${balance}`)
  // Everything given was used, plus the overshoot.
  assert.equal(used, 1000n - balance)
  // Gas smaller than the debt: returns false without running.
  const debt = -balance
  assert.equal(executor.run(Number(debt) - 1 > 0 ? Number(debt) - 1 : 0), false)
  assert.equal(executor.gasUsed, used)
  assert.equal(executor.gasBalance, -1n)
  // bigint gas works like number gas.
  assert.equal(executor.run(10n ** 9n), true)
  assert.ok(executor.gasBalance > 0n)
  assert.equal(executor.gasUsed + executor.gasBalance, 1000n + (debt - 1n) + 10n ** 9n)
})

test('a run that traps uses up its gas: gasUsed is all the gas given, gasBalance 0', async () => {
  // Counts down from 100000, then divides by zero.
  const wasm = await wat(`(module (memory 1) (func (export "entry") (local i32)
    (local.set 0 (i32.const 100000))
    (loop $l (local.set 0 (i32.sub (local.get 0) (i32.const 1))) (br_if $l (local.get 0)))
    (drop (i32.div_u (i32.const 1) (local.get 0)))))`)
  const sliced = new Executor(wasm, 1, {})
  let given = 0n
  let before = 0n
  assert.throws(() => {
    for (;;) {
      before = sliced.gasUsed
      given += 7000n
      sliced.run(7000)
    }
  }, { code: 'ERR_WASM_TRAP', kind: 'integer divide by zero' })
  assert.equal(sliced.status, 'trapped')
  assert.deepEqual([sliced.gasUsed, sliced.gasBalance], [given, 0n])
  // The loop ran to the end before the trap: far more than one slice.
  assert.ok(before > 100000n, `${before}`)
  const whole = new Executor(wasm, 1, {})
  assert.throws(() => whole.run(10n ** 12n), { code: 'ERR_WASM_TRAP' })
  assert.deepEqual([whole.gasUsed, whole.gasBalance], [10n ** 12n, 0n])
  assert.throws(() => whole.run(5), { code: 'ERR_WASM_TRAP' })
  assert.deepEqual([whole.gasUsed, whole.gasBalance], [10n ** 12n, 0n])
})

test('memorySize follows memory.grow, capped by memLimit (grow returns -1 past it)', async () => {
  const wasm = await wat(`
    (module (memory (export "memory") 1)
      (func (export "entry")
        (i32.store (i32.const 0) (memory.grow (i32.const 2)))
        (i32.store (i32.const 4) (memory.grow (i32.const 2)))
        (i32.store (i32.const 8) (memory.size))))`)
  const executor = new Executor(wasm, 4)
  assert.equal(executor.memorySize, 65536)
  assert.equal(executor.run(1e6), true)
  assert.equal(executor.memorySize, 3 * 65536)
  const results = executor.readMemory(0, 12)
  assert.deepEqual([results.readInt32LE(0), results.readInt32LE(4), results.readInt32LE(8)], [1, -1, 3])
})

test('a memory that starts with 0 pages is capped by memLimit from its first grow on', async () => {
  const results = []
  const wasm = await wat(`
    (module (import "env" "out" (func $out (param i32))) (memory (export "memory") 0)
      (func (export "entry")
        (call $out (memory.grow (i32.const 65536)))
        (call $out (memory.grow (i32.const 2)))
        (call $out (memory.grow (i32.const 1)))
        (call $out (memory.size))))`)
  const executor = new Executor(wasm, 2, { out: (x) => results.push(x) })
  assert.equal(executor.memorySize, 0)
  assert.equal(executor.run(1e9), true)
  assert.deepEqual(results, [-1, 0, -1, 2])
  assert.equal(executor.memorySize, 2 * 65536)
})

test('a module without memory has memorySize 0', async () => {
  const executor = new Executor(await wat(`(module (func (export "entry")))`), 1)
  assert.equal(executor.memorySize, 0)
  assert.equal(executor.readMemory(0, 0).length, 0)
  assert.equal(executor.run(10), true)
})

test('readMemory and writeMemory copy bytes in and out; the guest sees the writes', async () => {
  const wasm = await wat(`
    (module
      (import "env" "report" (func $report (param i32)))
      (memory (export "memory") 1)
      (func (export "entry") (call $report (i32.load (i32.const 100)))))`)
  const reports = []
  const executor = new Executor(wasm, 1, { report: (v) => reports.push(v) })
  executor.writeMemory(100, new Uint8Array([0x78, 0x56, 0x34, 0x12]))
  executor.writeMemory(200, new Uint16Array([1, 2]).buffer) // an ArrayBuffer
  executor.writeMemory(300, new DataView(new Uint8Array([9, 8, 7]).buffer, 1, 2))
  assert.deepEqual([...executor.readMemory(98, 8)], [0, 0, 0x78, 0x56, 0x34, 0x12, 0, 0])
  assert.deepEqual([...executor.readMemory(200, 4)], [1, 0, 2, 0])
  assert.deepEqual([...executor.readMemory(300, 3)], [8, 7, 0])
  const copy = executor.readMemory(100, 4)
  assert.ok(Buffer.isBuffer(copy))
  copy[0] = 0 // a copy: the guest memory is unchanged
  assert.equal(executor.run(100), true)
  assert.deepEqual(reports, [0x12345678])
})

test('readMemory returns the bytes at every size (pooled, copied and external Buffers)', async () => {
  const executor = new Executor(await wat('(module (memory (export "memory") 4) (func (export "entry")))'), 4)
  const pattern = Buffer.alloc(3 * 65536)
  for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 7 + (i >> 8)) & 0xff
  executor.writeMemory(0, pattern)
  const reads = []
  for (const length of [0, 1, 600, 4095, 4096, 4097, 65535, 65536, 65537, 2 * 65536]) {
    const offset = 13
    const bytes = executor.readMemory(offset, length)
    assert.ok(Buffer.isBuffer(bytes))
    assert.equal(bytes.length, length)
    assert.ok(bytes.equals(pattern.subarray(offset, offset + length)), `length ${length}`)
    reads.push([bytes, Buffer.from(bytes)])
  }
  // Small reads share Node's pool: none overwrote another.
  for (const [bytes, copy] of reads) assert.ok(bytes.equals(copy))
})

test('small snapshots come from Node\'s Buffer pool and never alias each other', () => {
  const wasm = countWasm()
  const executor = new Executor(wasm, 2, noop)
  const taken = []
  for (let k = 0; k < 50; k++) {
    executor.run(997)
    const snapshot = executor.serializeMemory()
    assert.ok(Buffer.isBuffer(snapshot))
    taken.push([snapshot, Buffer.from(snapshot), executor.gasUsed])
  }
  for (const [snapshot, copy, gasUsed] of taken) {
    assert.ok(snapshot.equals(copy))
    const target = new Executor(wasm, 2, noop)
    target.deserializeMemory(snapshot)
    assert.equal(target.gasUsed, gasUsed)
  }
})

test('a Buffer.allocUnsafe replaced before the addon loads is not trusted', () => {
  const { spawnSync } = require('node:child_process')
  const path = require('node:path')
  // The replacement misbehaves only while the executors are used (Node's
  // own module loading needs a working allocUnsafe).
  const throwingInstanceof = `(Object.defineProperty(Buffer, Symbol.hasInstance, {
    configurable: true,
    value(v) { if (broken) throw new Error('no'); return Function.prototype[Symbol.hasInstance].call(this, v) },
  }), original(n))`
  // A Buffer is a Uint8Array with Buffer.prototype; a view of another type
  // or a Proxy with that prototype is not one.
  const notBuffers = [
    'Object.setPrototypeOf(new Uint16Array(n), Buffer.prototype)',
    'Object.setPrototypeOf(new Uint16Array(n / 2), Buffer.prototype)',
    'new Proxy(original(n), {})',
    'Object.create(Buffer.prototype)',
    'undefined',
    'n',
  ]
  for (const bad of ['Buffer.alloc(1)', '(() => { throw new Error("no") })()', 'new Uint8Array(n)', throwingInstanceof, ...notBuffers]) {
    const script = `
      const original = Buffer.allocUnsafe
      let broken = false
      Buffer.allocUnsafe = (n) => (broken ? ${bad} : original(n))
      const { Executor } = require(${JSON.stringify(path.resolve(__dirname, '..'))})
      const wasm = require('node:fs').readFileSync(${JSON.stringify(path.join(__dirname, '..', 'examples', 'count.wasm'))})
      const printed = []
      broken = true
      const a = new Executor(wasm, 2, { print: (n) => printed.push(n) })
      a.run(5000)
      const snapshot = a.serializeMemory()
      const b = new Executor(wasm, 2, { print: (n) => printed.push(n) })
      b.deserializeMemory(snapshot)
      while (!b.run(100000));
      const read = b.readMemory(0, 8)
      broken = false
      // (Buffer.isBuffer is instanceof: true for any view with Buffer.prototype.)
      const bytes = (b) => Buffer.isBuffer(b) && Object.prototype.toString.call(b) === '[object Uint8Array]'
      if (!bytes(snapshot) || !bytes(read) || read.length !== 8) throw new Error('not Buffers')
      process.stdout.write(String(printed.length))
    `
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' })
    assert.equal(child.status, 0, child.stderr)
    assert.equal(child.stdout, '100000')
  }
})

test('snapshotJson: the same state as JSON text, accepted by deserializeMemory', () => {
  const wasm = countWasm()
  const printed = []
  const env = { print: (i) => printed.push(i) }
  const executor = new Executor(wasm, 65536, env)
  executor.run(5000)
  const json = executor.snapshotJson()
  assert.equal(typeof json, 'string')
  const parsed = JSON.parse(json)
  assert.equal(typeof parsed, 'object')
  const resumed = new Executor(wasm, 65536, env)
  resumed.deserializeMemory(json)
  assert.equal(resumed.status, 'paused')
  assert.equal(resumed.gasUsed, executor.gasUsed)
  assert.equal(resumed.gasBalance, executor.gasBalance)
  while (!resumed.run(100000));
  assert.equal(printed.length, COUNT)
  assertConsecutive(printed)
})

test('deserializeMemory takes a Buffer, Uint8Array, ArrayBuffer, DataView or other view', () => {
  const wasm = countWasm()
  const executor = new Executor(wasm, 65536, noop)
  executor.run(5000)
  const snapshot = executor.serializeMemory()
  const arrayBuffer = snapshot.buffer.slice(snapshot.byteOffset, snapshot.byteOffset + snapshot.length)
  const padded = new Uint8Array(snapshot.length + 8)
  padded.set(snapshot, 4)
  for (const form of [
    snapshot,
    new Uint8Array(snapshot),
    arrayBuffer,
    new DataView(arrayBuffer),
    padded.subarray(4, 4 + snapshot.length),
  ]) {
    const target = new Executor(wasm, 65536, noop)
    target.deserializeMemory(form)
    assert.equal(target.status, 'paused')
    assert.deepEqual(target.serializeMemory(), snapshot)
  }
})

test('snapshots of ready and finished executors restore to the same status', () => {
  const wasm = countWasm()
  const fresh = new Executor(wasm, 65536, noop)
  const target = new Executor(wasm, 65536, noop)
  target.deserializeMemory(fresh.serializeMemory())
  assert.equal(target.status, 'ready')
  assert.equal(fresh.run(1e9), true)
  target.deserializeMemory(fresh.serializeMemory())
  assert.equal(target.status, 'finished')
  assert.equal(target.gasUsed, fresh.gasUsed)
  assert.equal(target.run(1), true)
})

test('options.entry picks the export to run; the default is entry, then _start', async () => {
  const wasm = await wat(`
    (module
      (import "env" "log" (func $log (param i32)))
      (func (export "_start") (call $log (i32.const 1)))
      (func (export "other") (call $log (i32.const 2)))
      (func (export "withResult") (result i32) (call $log (i32.const 3)) (i32.const 9)))`)
  const run = (options) => {
    const calls = []
    assert.equal(new Executor(wasm, 1, { log: (v) => calls.push(v) }, options).run(1000), true)
    return calls
  }
  assert.deepEqual(run(undefined), [1])
  assert.deepEqual(run({ entry: 'other' }), [2])
  assert.deepEqual(run({ entry: 'withResult' }), [3])
  const withEntry = await wat(`
    (module
      (import "env" "log" (func $log (param i32)))
      (func (export "_start") (call $log (i32.const 1)))
      (func (export "entry") (call $log (i32.const 5))))`)
  const calls = []
  new Executor(withEntry, 1, { log: (v) => calls.push(v) }).run(1000)
  assert.deepEqual(calls, [5])
})

test('a snapshot only restores into an Executor with the same entry', async () => {
  const wasm = await wat(`(module (func (export "a") (loop $l (br $l))) (func (export "b")))`)
  const a = new Executor(wasm, 1, {}, { entry: 'a' })
  a.run(1000)
  assert.throws(() => new Executor(wasm, 1, {}, { entry: 'b' }).deserializeMemory(a.serializeMemory()), { code: 'ERR_SNAPSHOT_MISMATCH' })
})

test('the start function runs first, as part of the pausable run', async () => {
  const wasm = await wat(`
    (module
      (import "env" "log" (func $log (param i32)))
      (func $init (local $i i32)
        (loop $l
          (call $log (local.get $i))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 100)))))
      (start $init)
      (func (export "entry") (call $log (i32.const -1))))`)
  const calls = []
  const executor = new Executor(wasm, 1, { log: (v) => calls.push(v) })
  assert.deepEqual(calls, []) // construction runs nothing
  assert.equal(executor.run(100), false)
  assert.ok(calls.length > 0 && calls.length < 100)
  const resumed = new Executor(wasm, 1, { log: (v) => calls.push(v) })
  resumed.deserializeMemory(executor.serializeMemory())
  while (!resumed.run(100));
  assert.deepEqual(calls, [...Array(100).keys(), -1])
})

test('defaultCosts() returns the default cost table', () => {
  assert.deepEqual(defaultCosts(), {
    instruction: 1,
    call: 0,
    hostCall: 10,
    memoryGrowPerPage: 64,
    bulkMemoryPer8Bytes: 1,
    bulkTablePerElement: 1,
  })
})

/** Total gas of count.wasm run to the end with `costs`. */
function totalGas(costs) {
  const executor = new Executor(countWasm(), 2, noop, costs && { costs })
  assert.equal(executor.run(Number.MAX_SAFE_INTEGER), true)
  return executor.gasUsed
}

test('options.costs: hostCall is charged per import call, instruction per instruction', () => {
  const base = totalGas(undefined)
  assert.equal(totalGas(defaultCosts()), base)
  // 100000 calls of print: each costs hostCall more.
  assert.equal(totalGas({ hostCall: 0 }), base - 10n * BigInt(COUNT))
  assert.equal(totalGas({ hostCall: 25 }), base + 15n * BigInt(COUNT))
  // Doubling the instruction cost doubles everything but the host calls.
  const instructions = totalGas({ hostCall: 0 })
  assert.equal(totalGas({ hostCall: 0, instruction: 2 }), 2n * instructions)
  assert.equal(totalGas({ hostCall: 0, instruction: 0 }), 0n)
})

test('options.costs: memory.grow is charged per page, call per guest call', async () => {
  const wasm = await wat(`
    (module (memory 1)
      (func $f)
      (func (export "grow") (drop (memory.grow (i32.const 5))))
      (func (export "calls") (call $f) (call $f) (call $f)))`)
  const gas = (entry, costs) => {
    const executor = new Executor(wasm, 16, {}, { entry, costs })
    assert.equal(executor.run(1e9), true)
    return executor.gasUsed
  }
  assert.equal(gas('grow', { memoryGrowPerPage: 100 }) - gas('grow', { memoryGrowPerPage: 0 }), 500n)
  assert.equal(gas('calls', { call: 7 }) - gas('calls', { call: 0 }), 21n)
})

test('options.canonicalizeNans: runs the same program; snapshots do not cross the setting', async () => {
  const wasm = await wat(`
    (module (memory (export "memory") 1)
      (func (export "entry")
        (f64.store (i32.const 0) (f64.div (f64.const 0) (f64.const 0)))
        (loop $l (br $l))))`)
  const canonical = new Executor(wasm, 1, {}, { canonicalizeNans: true })
  canonical.run(1000)
  assert.ok(Number.isNaN(canonical.readMemory(0, 8).readDoubleLE(0)))
  const plain = new Executor(wasm, 1, {}, { canonicalizeNans: false })
  assert.throws(() => plain.deserializeMemory(canonical.serializeMemory()), { code: 'ERR_SNAPSHOT_MISMATCH' })
  const same = new Executor(wasm, 1, {}, { canonicalizeNans: true })
  same.deserializeMemory(canonical.serializeMemory())
  assert.equal(same.status, 'paused')
})

test('Executors of one module are independent', () => {
  const wasm = countWasm()
  const a = []
  const b = []
  const ea = new Executor(wasm, 2, { print: (i) => a.push(i) })
  const eb = new Executor(wasm, 2, { print: (i) => b.push(i) })
  ea.run(3000)
  eb.run(10000)
  ea.writeMemory(1024, Buffer.from('only in a'))
  assert.notDeepEqual(eb.readMemory(1024, 9), Buffer.from('only in a'))
  while (!ea.run(1e6));
  while (!eb.run(1e6));
  assert.equal(a.length, COUNT)
  assert.equal(b.length, COUNT)
  assertConsecutive(a)
  assertConsecutive(b)
})
