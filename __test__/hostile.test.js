// Hostile programs and misuse through the Node API (issue 6): the limits
// hold, errors are clear, the process survives.
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { Worker } = require('node:worker_threads')

const { Executor, countWasm, wat, throwsCode, assertConsecutive, COUNT } = require('./helpers')

const noop = { print() {} }

test('a 4 GiB memory.fill or memory.copy cannot run on 100 gas: charged per byte first', async () => {
  const cost = Math.ceil((2 ** 32 - 1) / 8)
  for (const op of ['(memory.fill (i32.const 0) (i32.const 0xab) (i32.const -1))', '(memory.copy (i32.const 0) (i32.const 1) (i32.const -1))']) {
    const wasm = await wat(`(module (memory 65536) (func (export "entry") ${op}))`)
    const executor = new Executor(wasm, 65536)
    assert.equal(executor.memorySize, 2 ** 32)
    executor.writeMemory(1, Buffer.from([0x55]))
    assert.equal(executor.run(100), false)
    assert.equal(executor.status, 'paused')
    assert.ok(executor.gasBalance <= BigInt(100 - cost), `${executor.gasBalance}`)
    assert.deepEqual([...executor.readMemory(0, 2)], [0, 0x55])
    assert.deepEqual([...executor.readMemory(2 ** 32 - 1, 1)], [0])
    // More small slices only pay the debt back.
    for (let k = 0; k < 10; k++) assert.equal(executor.run(100), false)
    assert.deepEqual([...executor.readMemory(0, 2)], [0, 0x55])
  }
})

test('infinite loops return from every run within the budget plus the overshoot', async () => {
  const programs = {
    'empty loop': '(loop $l (br $l))',
    'loop with a JS import': '(loop $l (call $f) (br $l))',
    'loop around a fill': '(loop $l (memory.fill (i32.const 0) (i32.const 1) (i32.const 65536)) (br $l))',
  }
  for (const [name, body] of Object.entries(programs)) {
    const wasm = await wat(`(module (import "env" "f" (func $f)) (memory 1) (func (export "entry") ${body}))`)
    let calls = 0
    const executor = new Executor(wasm, 1, { f: () => calls++ })
    let given = 0n
    for (const gas of [1, 10, 1000, 100000]) {
      given += BigInt(gas)
      assert.equal(executor.run(gas), false, name)
      // One fill (8192) plus a few instructions is this program's largest
      // overshoot.
      assert.ok(executor.gasUsed <= given + 8192n + 20n, `${name}: ${executor.gasUsed} used of ${given}`)
    }
    assert.ok(executor.gasUsed >= given)
  }
})

/** Recursion in several shapes; each stores its depth at address 0. */
const DEPTH_SHAPES = {
  direct: `(func $r (param $d i32) (result i32)
             (i32.store (i32.const 0) (local.get $d))
             (i32.add (i32.const 1) (call $r (i32.add (local.get $d) (i32.const 1)))))
           (func (export "entry") (drop (call $r (i32.const 1))))`,
  mutual: `(func $a (param $d i32) (i32.store (i32.const 0) (local.get $d)) (call $b (i32.add (local.get $d) (i32.const 1))))
           (func $b (param $d i32) (i32.store (i32.const 0) (local.get $d)) (call $a (i32.add (local.get $d) (i32.const 1))))
           (func (export "entry") (call $a (i32.const 1)))`,
  call_indirect: `(type $t (func (param i32)))
           (table 1 funcref) (elem (i32.const 0) $r)
           (func $r (param $d i32) (i32.store (i32.const 0) (local.get $d))
             (call_indirect (type $t) (i32.add (local.get $d) (i32.const 1)) (i32.const 0)))
           (func (export "entry") (call $r (i32.const 1)))`,
  'big frames': `(func $r (param $d i32) (result i64) (local $a i64) (local $b i64) (local $c i64) (local $e i64)
             ${Array.from({ length: 200 }, (_, k) => `(local $x${k} i64)`).join(' ')}
             (i32.store (i32.const 0) (local.get $d))
             ${Array.from({ length: 200 }, (_, k) => `(local.set $x${k} (i64.extend_i32_u (i32.add (local.get $d) (i32.const ${k}))))`).join(' ')}
             ${Array.from({ length: 200 }, () => '(i64.add').join(' ')}
             (call $r (i32.add (local.get $d) (i32.const 1)))
             ${Array.from({ length: 200 }, (_, k) => `(local.get $x${k}))`).join(' ')})
           (func (export "entry") (drop (call $r (i32.const 1))))`,
  'a JS import at every level': `(import "env" "f" (func $f (param i32)))
           (func $r (param $d i32) (i32.store (i32.const 0) (local.get $d)) (call $f (local.get $d))
             (call $r (i32.add (local.get $d) (i32.const 1))))
           (func (export "entry") (call $r (i32.const 1)))`,
}

async function depthModules() {
  const out = {}
  for (const [name, body] of Object.entries(DEPTH_SHAPES)) out[name] = await wat(`(module ${body} (memory 1))`)
  return out
}

test('unbounded recursion: ERR_WASM_TRAP "call depth exceeded" at the same depth every time', async () => {
  for (const [name, wasm] of Object.entries(await depthModules())) {
    const depths = new Set()
    let calls = 0
    for (const slice of [1e12, 777]) {
      const executor = new Executor(wasm, 1, { f: () => calls++ })
      const error = throwsCode(() => {
        while (!executor.run(slice));
      }, Error, 'ERR_WASM_TRAP')
      assert.equal(error.kind, 'call depth exceeded', name)
      assert.equal(executor.status, 'trapped')
      assert.equal(throwsCode(() => executor.run(1), Error, 'ERR_WASM_TRAP').kind, 'call depth exceeded')
      depths.add(executor.readMemory(0, 4).readUInt32LE(0))
    }
    assert.equal(depths.size, 1, `${name}: ${[...depths]}`)
    assert.ok([...depths][0] > 10)
  }
})

test('deep guest recursion from a nearly exhausted JS stack is still a clean trap', async () => {
  const wasm = (await depthModules()).direct
  // Unwind from the deepest JS frame until a run can start: that run has
  // the least native stack any JS caller can leave it.
  let outcome
  let attempts = 0
  function descend(d) {
    try {
      descend(d + 1)
    } catch {}
    if (outcome) return
    attempts++
    try {
      new Executor(wasm, 1).run(1e12)
      outcome = 'finished'
    } catch (error) {
      if (error.code === 'ERR_WASM_TRAP') outcome = error
      // Otherwise V8's own RangeError: try one frame up.
    }
  }
  descend(0)
  assert.ok(outcome instanceof Error, String(outcome))
  assert.equal(outcome.kind, 'call depth exceeded')
  assert.ok(attempts >= 1)
})

const WORKER_DEPTH = `
  const { parentPort, workerData } = require('node:worker_threads')
  const { Executor } = require(workerData.addon)
  const results = []
  for (const [name, wasm] of Object.entries(workerData.modules)) {
    const executor = new Executor(wasm, 1, { f() {} })
    try { executor.run(1e12); results.push([name, 'finished']) }
    catch (error) { results.push([name, error.code, error.kind, executor.readMemory(0, 4).readUInt32LE(0)]) }
  }
  parentPort.postMessage(results)
`

test('call depth in a worker thread (smaller native stack) traps the same way', async () => {
  const modules = await depthModules()
  const expected = Object.entries(modules).map(([name, wasm]) => {
    const executor = new Executor(wasm, 1, { f() {} })
    throwsCode(() => executor.run(1e12), Error, 'ERR_WASM_TRAP')
    return [name, 'ERR_WASM_TRAP', 'call depth exceeded', executor.readMemory(0, 4).readUInt32LE(0)]
  })
  for (const stackSizeMb of [undefined, 1]) {
    const worker = new Worker(WORKER_DEPTH, {
      eval: true,
      workerData: { addon: path.resolve(__dirname, '..'), modules },
      resourceLimits: stackSizeMb ? { stackSizeMb } : undefined,
    })
    // The worker ends by itself once its script is done (listening before
    // the message, so the exit cannot be missed); calling terminate() here
    // raced with that exit (code 1 or 0).
    const exited = new Promise((resolve) => worker.once('exit', resolve))
    const results = await new Promise((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    assert.deepEqual(results, expected)
    assert.equal(await exited, 0)
  }
})

test('every method of a finished executor', () => {
  const printed = []
  const executor = new Executor(countWasm(), 2, { print: (i) => printed.push(i) })
  assert.equal(executor.run(Number.MAX_SAFE_INTEGER), true)
  const used = executor.gasUsed
  for (const gas of [0, 1, 1e9, 0n, 2n ** 64n - 1n]) assert.equal(executor.run(gas), true)
  assert.equal(executor.gasUsed, used)
  assert.equal(printed.length, COUNT)
  // Arguments are still checked.
  throwsCode(() => executor.run(-1), RangeError, 'ERR_INVALID_ARG')
  throwsCode(() => executor.run('1'), TypeError, 'ERR_INVALID_ARG')
  assert.equal(executor.status, 'finished')
  const bytes = executor.serializeMemory()
  assert.ok(Buffer.isBuffer(bytes))
  assert.equal(JSON.parse(executor.snapshotJson()).status, 'finished')
  assert.ok(executor.memorySize >= 131072)
  executor.writeMemory(0, Buffer.from('x'))
  assert.equal(executor.readMemory(0, 1).toString(), 'x')
  throwsCode(() => executor.readMemory(executor.memorySize, 1), RangeError, 'ERR_OUT_OF_BOUNDS')
  // A finished state restores as finished; a paused one makes it run again.
  const other = new Executor(countWasm(), 2, noop)
  other.deserializeMemory(bytes)
  assert.equal(other.status, 'finished')
  assert.equal(other.run(10), true)
  const paused = new Executor(countWasm(), 2, noop)
  paused.run(5000)
  executor.deserializeMemory(paused.serializeMemory())
  assert.equal(executor.status, 'paused')
  while (!executor.run(100000));
  // It printed the rest of the other executor's count.
  const rest = printed.slice(COUNT)
  assert.ok(rest.length > 0 && rest.length < COUNT)
  assertConsecutive(rest, COUNT - rest.length)
})

test('every method of a trapped executor', async () => {
  const wasm = await wat(`(module (memory 1) (func (export "entry") (i32.store (i32.const 0) (i32.const 9)) unreachable))`)
  const executor = new Executor(wasm, 1)
  const first = throwsCode(() => executor.run(100), Error, 'ERR_WASM_TRAP')
  assert.equal(first.kind, 'unreachable')
  for (const gas of [0, 1, 100n]) {
    assert.equal(throwsCode(() => executor.run(gas), Error, 'ERR_WASM_TRAP').kind, 'unreachable')
  }
  throwsCode(() => executor.run(NaN), TypeError, 'ERR_INVALID_ARG')
  assert.equal(executor.status, 'trapped')
  assert.equal(executor.serializeMemory(), undefined)
  assert.equal(executor.snapshotJson(), undefined)
  assert.equal(executor.readMemory(0, 4).readInt32LE(0), 9)
  executor.writeMemory(4, Buffer.from([1]))
  assert.equal(typeof executor.gasUsed, 'bigint')
  assert.equal(typeof executor.gasBalance, 'bigint')
  // A corrupt snapshot leaves it trapped; a good one revives it.
  throwsCode(() => executor.deserializeMemory(Buffer.from('junk')), TypeError, 'ERR_SNAPSHOT_CORRUPT')
  assert.equal(executor.status, 'trapped')
  const fresh = new Executor(wasm, 1)
  executor.deserializeMemory(fresh.serializeMemory())
  assert.equal(executor.status, 'ready')
  assert.equal(throwsCode(() => executor.run(100), Error, 'ERR_WASM_TRAP').kind, 'unreachable')
})

test('every method of a freed executor throws ERR_EXECUTOR_FREED; free() again and [Symbol.dispose]() do nothing', () => {
  const printed = []
  const executor = new Executor(countWasm(), 2, { print: (i) => printed.push(i) })
  assert.equal(executor.run(5000), false)
  const snapshot = executor.serializeMemory()
  executor.free()
  assert.equal(executor.status, 'freed')
  const calls = {
    'run()': () => executor.run(100),
    'serializeMemory()': () => executor.serializeMemory(),
    'snapshotJson()': () => executor.snapshotJson(),
    'deserializeMemory()': () => executor.deserializeMemory(snapshot),
    'readMemory()': () => executor.readMemory(0, 1),
    'writeMemory()': () => executor.writeMemory(0, Buffer.from('x')),
    gasUsed: () => executor.gasUsed,
    gasBalance: () => executor.gasBalance,
    memorySize: () => executor.memorySize,
    stdout: () => executor.stdout,
    stderr: () => executor.stderr,
    exitCode: () => executor.exitCode,
  }
  for (const [name, call] of Object.entries(calls)) {
    const error = throwsCode(call, Error, 'ERR_EXECUTOR_FREED')
    assert.ok(error.message.includes(`cannot call ${name}: this executor was freed`), error.message)
  }
  // Arguments are checked first, as on a live executor.
  throwsCode(() => executor.run(-1), RangeError, 'ERR_INVALID_ARG')
  executor.free()
  executor[Symbol.dispose]()
  assert.equal(executor.status, 'freed')
  // The snapshot taken before free() continues in a new executor.
  const revived = new Executor(countWasm(), 2, { print: (i) => printed.push(i) })
  revived.deserializeMemory(snapshot)
  while (!revived.run(100000));
  assertConsecutive(printed)
  assert.equal(printed.length, COUNT)
  // [Symbol.dispose]() frees too (what `using` calls at the end of a scope).
  const disposed = new Executor(countWasm(), 2, noop)
  disposed[Symbol.dispose]()
  assert.equal(disposed.status, 'freed')
  throwsCode(() => disposed.run(1), Error, 'ERR_EXECUTOR_FREED')
})

test('30,000 create/run/free cycles in one synchronous loop: free() returns the address space at once', () => {
  // Each executor reserves ~8 GiB of address space; dropped ones are only
  // finalized after the event loop turns, so without free() this loop runs
  // out of address space (ERR_MEMORY_LIMIT) after ~16,000 executors.
  const wasm = countWasm()
  for (let i = 0; i < 30000; i++) {
    const executor = new Executor(wasm, 2, noop)
    assert.equal(executor.run(50), false)
    executor.free()
  }
})

test('out of address space: a RangeError that says so, the live executors unharmed, and free() makes room, also for another module', async () => {
  const other = Buffer.from(await wat('(module (memory 1) (func (export "entry")))')).toString('hex')
  const { spawnSync } = require('node:child_process')
  // In a child process, which fills its address space with live executors
  // (~8 GiB each, no RAM) until the OS refuses one.
  const script = `
    const assert = require('node:assert/strict')
    const { Executor } = require(${JSON.stringify(path.resolve(__dirname, '..'))})
    const wasm = require('node:fs').readFileSync(${JSON.stringify(path.join(__dirname, '..', 'examples', 'count.wasm'))})
    const noop = { print() {} }
    const live = []
    let error
    for (;;) {
      try {
        const executor = new Executor(wasm, 2, noop)
        assert.equal(executor.run(50), false)
        live.push(executor)
      } catch (e) {
        error = e
        break
      }
      assert.ok(live.length < 1000000, 'no limit reached')
    }
    assert.ok(error instanceof RangeError, String(error))
    assert.equal(error.code, 'ERR_MEMORY_LIMIT')
    assert.match(error.message, /^out of address space: the OS refused to reserve address space for a memory; each executor reserves about 8 GiB of it \\(not RAM\\), so call free\\(\\) on executors you no longer need \\(a dropped one keeps its reservation until V8 collects it, after the event loop turns\\) \\(mmap failed /)
    for (let i = 0; i < live.length; i += 997) assert.equal(live[i].run(50), false)
    // Freed, small instances are kept for the next executor of their
    // module (reservations and all): that one gets one of them, and an
    // executor of another module gets the room they held.
    for (let i = 0; i < 16; i++) live.pop().free()
    live.push(new Executor(wasm, 2, noop))
    const other = new Executor(Buffer.from('${other}', 'hex'), 1, {})
    assert.equal(other.run(10), true)
    process.stdout.write(String(live.length))
  `
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' })
  assert.equal(child.status, 0, child.stderr)
  assert.ok(Number(child.stdout) > 1000, child.stdout)
})

test('gas of every wrong type is refused and runs nothing', () => {
  const executor = new Executor(countWasm(), 2, noop)
  const typeErrors = [undefined, null, '10', '', {}, [], [5], true, Symbol('gas'), () => 5, Object(5), Object(5n), new Date(0), NaN, 1.5, -0.5, Number.EPSILON]
  for (const bad of typeErrors) {
    throwsCode(() => executor.run(bad), TypeError, 'ERR_INVALID_ARG')
  }
  const rangeErrors = [-1, -Infinity, Infinity, 2 ** 53, 2 ** 64, Number.MAX_VALUE, -1n, 2n ** 64n, -(2n ** 64n), 2n ** 100n]
  for (const bad of rangeErrors) {
    throwsCode(() => executor.run(bad), RangeError, 'ERR_INVALID_ARG')
  }
  assert.equal(executor.status, 'ready')
  assert.equal(executor.gasUsed, 0n)
  assert.equal(executor.gasBalance, 0n)
  // -0 and 0 are zero gas: nothing runs either.
  assert.equal(executor.run(-0), false)
  assert.equal(executor.run(0n), false)
  assert.equal(executor.gasUsed, 0n)
  assert.equal(executor.run(Number.MAX_SAFE_INTEGER), true)
})

test('methods called on something that is not an Executor throw ERR_INVALID_THIS, nothing crashes', () => {
  const fakes = [{}, Object.create(Executor.prototype), 5, null, undefined, structuredClone(new Executor(countWasm(), 2, noop))]
  // An object that is another class's (a Map's internals are not ours),
  // dressed as an Executor.
  fakes.push(Object.setPrototypeOf(new Map(), Executor.prototype))
  const methods = ['run', 'serializeMemory', 'snapshotJson', 'deserializeMemory', 'readMemory', 'writeMemory', 'free']
  const getters = ['status', 'gasUsed', 'gasBalance', 'memorySize', 'stdout', 'stderr', 'exitCode']
  for (const fake of fakes) {
    for (const name of methods) {
      throwsCode(() => Executor.prototype[name].call(fake, 0, 0), TypeError, 'ERR_INVALID_THIS', new RegExp(`^Executor\\.prototype\\.${name}\\(\\) called on a value that is not an Executor`))
    }
    for (const name of getters) {
      const getter = Object.getOwnPropertyDescriptor(Executor.prototype, name).get
      throwsCode(() => getter.call(fake), TypeError, 'ERR_INVALID_THIS', new RegExp(`getter ${name} called on a value that is not an Executor`))
    }
  }
  // The real ones still work, also as instances of a subclass.
  assert.equal(new Executor(countWasm(), 2, noop).run(Number.MAX_SAFE_INTEGER), true)
  class Computer extends Executor {}
  const computer = new Computer(countWasm(), 2, noop)
  assert.equal(computer.run(1000), false)
  assert.equal(computer.status, 'paused')
  const copy = new Computer(countWasm(), 2, noop)
  copy.deserializeMemory(computer.serializeMemory())
  assert.equal(copy.gasUsed, computer.gasUsed)
})

/** The test addon of crates/foreign-addon, built (cargo) and copied to a .node file. */
function foreignAddon() {
  const { spawnSync } = require('node:child_process')
  const fs = require('node:fs')
  const os = require('node:os')
  const root = path.resolve(__dirname, '..')
  const built = spawnSync('cargo', ['build', '--release', '--quiet', '-p', 'foreign-addon'], { cwd: root, encoding: 'utf8' })
  assert.equal(built.status, 0, built.stderr)
  const file = { linux: 'libforeign_addon.so', darwin: 'libforeign_addon.dylib', win32: 'foreign_addon.dll' }[process.platform]
  const target = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'foreign-addon-')), 'foreign.node')
  fs.copyFileSync(path.join(root, 'target', 'release', file), target)
  return target
}

test("another addon's wrapped objects throw ERR_INVALID_THIS, also at the addresses of collected executors", () => {
  const { spawnSync } = require('node:child_process')
  // In a child process with the garbage collector exposed. Each round makes
  // executors and calls a method on each (which remembers them as checked),
  // lets them be collected (finalizers run on the event loop), then wraps
  // objects of the other addon with native blocks of every size from 16
  // bytes to 1 KiB, which reuse the freed executors' memory: every method
  // on every one must see it is not an Executor.
  const script = `
    const assert = require('node:assert/strict')
    const { Executor } = require(${JSON.stringify(path.resolve(__dirname, '..'))})
    const foreign = require(${JSON.stringify(foreignAddon())})
    const wasm = require('node:fs').readFileSync(${JSON.stringify(path.join(__dirname, '..', 'examples', 'count.wasm'))})
    const noop = { print() {} }
    const getters = ['status', 'gasUsed', 'memorySize']
    const tick = () => new Promise((resolve) => setImmediate(resolve))
    ;(async () => {
      let checked = 0
      for (let round = 0; round < 10; round++) {
        let executors = []
        for (let k = 0; k < 100; k++) {
          const e = new Executor(wasm, 2, noop)
          assert.equal(e.run(10), false)
          assert.equal(e.status, 'paused')
          executors.push(e)
        }
        executors = null
        for (let k = 0; k < 3; k++) { gc(); await tick() }
        const impostors = []
        for (let size = 16; size <= 1024; size += 8) {
          for (let k = 0; k < 8; k++) {
            const object = Object.setPrototypeOf({}, Executor.prototype)
            foreign.wrap(object, size)
            impostors.push(object)
          }
        }
        for (const object of impostors) {
          for (const name of getters) {
            const getter = Object.getOwnPropertyDescriptor(Executor.prototype, name).get
            assert.throws(() => getter.call(object), (e) => e.code === 'ERR_INVALID_THIS', name)
          }
          assert.throws(() => object.run(1), (e) => e.code === 'ERR_INVALID_THIS', 'run')
          assert.throws(() => object.serializeMemory(), (e) => e.code === 'ERR_INVALID_THIS', 'serializeMemory')
          assert.throws(() => object.free(), (e) => e.code === 'ERR_INVALID_THIS', 'free')
          checked++
        }
      }
      // Executors made afterwards work.
      const e = new Executor(wasm, 2, noop)
      assert.equal(e.run(Number.MAX_SAFE_INTEGER), true)
      process.stdout.write(String(checked))
    })().catch((error) => { console.error(error); process.exit(1) })
  `
  const child = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' })
  assert.equal(child.status, 0, child.stderr)
  assert.equal(child.stdout, String(10 * 8 * ((1024 - 16) / 8 + 1)))
})

test('the methods look like class methods: named, writable, configurable', () => {
  for (const name of ['run', 'serializeMemory', 'snapshotJson', 'deserializeMemory', 'readMemory', 'writeMemory', 'free']) {
    const descriptor = Object.getOwnPropertyDescriptor(Executor.prototype, name)
    assert.equal(typeof descriptor.value, 'function', name)
    assert.equal(descriptor.value.name, name)
    assert.equal(descriptor.writable, true)
    assert.equal(descriptor.configurable, true)
  }
  for (const name of ['status', 'gasUsed', 'gasBalance', 'memorySize', 'stdout', 'stderr', 'exitCode']) {
    const descriptor = Object.getOwnPropertyDescriptor(Executor.prototype, name)
    assert.equal(typeof descriptor.get, 'function', name)
    assert.equal(descriptor.set, undefined)
    assert.equal(descriptor.configurable, true)
  }
})

// What the WebAssembly JS API does with each value an import returns, per
// result type: our conversions must agree exactly (same value, or an error
// of the same class and message). Promises are not awaited anywhere: for
// numbers they convert through ToNumber (NaN, so 0 for i32), for i64
// through ToBigInt (a SyntaxError).
test('imports returning Promises or wrong types convert exactly like WebAssembly', async () => {
  const wasm = await wat(`(module
    (import "env" "r" (func $ri32 (result i32)))
    (import "env" "r" (func $ri64 (result i64)))
    (import "env" "r" (func $rf32 (result f32)))
    (import "env" "r" (func $rf64 (result f64)))
    (import "env" "r" (func $multi (result i32 i64)))
    (memory (export "memory") 1)
    (func (export "i32") (i32.store (i32.const 0) (call $ri32)))
    (func (export "i64") (i64.store (i32.const 0) (call $ri64)))
    (func (export "f32") (f32.store (i32.const 0) (call $rf32)))
    (func (export "f64") (f64.store (i32.const 0) (call $rf64)))
    (func (export "multi") (local i64) (call $multi) (local.set 0) (drop) (i64.store (i32.const 0) (local.get 0))))`)
  const rejected = Promise.reject(new Error('rejected'))
  rejected.catch(() => {})
  const returns = {
    'Promise.resolve(5)': () => Promise.resolve(5),
    'async function': async () => 5,
    'rejected Promise': () => rejected,
    thenable: () => ({ then: (ok) => ok(5) }),
    Symbol: () => Symbol('s'),
    '5n': () => 5n,
    5: () => 5,
    '{}': () => ({}),
    'valueOf -> 5n': () => ({ valueOf: () => 5n }),
    'valueOf -> Promise': () => ({ valueOf: () => Promise.resolve(1) }),
    '[1, 2n]': () => [1, 2n],
    'a function': () => () => 1,
  }
  const read = {
    i32: (b) => b.readInt32LE(0),
    i64: (b) => b.readBigInt64LE(0),
    f32: (b) => b.readFloatLE(0),
    f64: (b) => b.readDoubleLE(0),
    multi: (b) => b.readBigInt64LE(0),
  }
  const describe = (fn) => {
    try {
      return { value: fn() }
    } catch (error) {
      return { error: `${error.constructor.name}: ${error.message}` }
    }
  }
  let compared = 0
  for (const [entry, reader] of Object.entries(read)) {
    for (const [name, r] of Object.entries(returns)) {
      const reference = describe(() => {
        const instance = new WebAssembly.Instance(new WebAssembly.Module(wasm), { env: { r } })
        instance.exports[entry]()
        return reader(Buffer.from(instance.exports.memory.buffer, 0, 8))
      })
      const executor = new Executor(wasm, 1, { r }, { entry })
      const ours = describe(() => {
        executor.run(1000)
        return reader(executor.readMemory(0, 8))
      })
      if (entry === 'multi' && reference.error) {
        // Same class; V8's message names its own call site.
        assert.equal(ours.error?.split(':')[0], reference.error.split(':')[0], `${entry} <- ${name}: ${ours.error}`)
      } else {
        assert.deepEqual(ours, reference, `${entry} <- ${name}`)
      }
      assert.equal(executor.status, ours.error ? 'trapped' : 'finished')
      compared++
    }
  }
  assert.equal(compared, 5 * Object.keys(returns).length)
})

test('every bit flip and truncation of a snapshot is refused with ERR_SNAPSHOT_*, the executor unchanged', async () => {
  const wasm = await wat(`(module (import "env" "print" (func $p (param i32))) (memory 1)
    (global $g (mut i32) (i32.const 0))
    (func (export "entry") (loop $l (global.set $g (i32.add (global.get $g) (i32.const 1)))
      (call $p (global.get $g)) (br_if $l (i32.lt_u (global.get $g) (i32.const 1000))))))`)
  const source = new Executor(wasm, 1, noop)
  source.run(3000)
  const good = source.serializeMemory()
  const printed = []
  const target = new Executor(wasm, 1, { print: (i) => printed.push(i) })
  target.run(1000)
  const before = target.serializeMemory()
  let refused = 0
  for (let i = 0; i < good.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const bad = Buffer.from(good)
      bad[i] ^= 1 << bit
      assert.throws(() => target.deserializeMemory(bad), (e) => /^ERR_SNAPSHOT_/.test(e.code), `byte ${i} bit ${bit}`)
      refused++
    }
  }
  for (let n = 0; n < good.length; n++) {
    throwsCode(() => target.deserializeMemory(good.subarray(0, n)), TypeError, 'ERR_SNAPSHOT_CORRUPT')
  }
  const json = source.snapshotJson()
  for (let i = 0; i < json.length; i++) {
    for (let bit = 0; bit < 7; bit++) {
      const bad = json.slice(0, i) + String.fromCharCode(json.charCodeAt(i) ^ (1 << bit)) + json.slice(i + 1)
      assert.throws(() => target.deserializeMemory(bad), (e) => /^ERR_SNAPSHOT_/.test(e.code), `char ${i} bit ${bit}`)
    }
  }
  assert.deepEqual(target.serializeMemory(), before)
  assert.equal(refused, good.length * 8)
  // It carries on from where it was, not from the snapshot.
  while (!target.run(1000));
  assertConsecutive(printed, 1)
  assert.equal(printed.length, 1000)
})

test('a snapshot cannot hand gas to the guest (a crafted positive balance is refused)', async () => {
  const wasm = await wat(`(module (func (export "entry") (loop $l (br $l))))`)
  const executor = new Executor(wasm, 1)
  executor.run(1000)
  const json = JSON.parse(executor.snapshotJson())
  assert.ok(BigInt(json.gasBalance) <= 0n)
  // Edit the balance and fix up the checksum the way an attacker would: the
  // JSON form's CRC is the binary form's, so edit the binary form.
  const bytes = Buffer.from(executor.serializeMemory())
  const entryLength = bytes.readUInt32LE(55)
  bytes.writeBigInt64LE(10n ** 15n, 59 + entryLength)
  const { crc32 } = require('./helpers')
  bytes.writeUInt32LE(crc32(bytes.subarray(0, bytes.length - 4)), bytes.length - 4)
  const target = new Executor(wasm, 1)
  throwsCode(() => target.deserializeMemory(bytes), TypeError, 'ERR_SNAPSHOT_CORRUPT', /positive gas balance/)
  assert.equal(target.status, 'ready')
})

test('wasm bytes detached or changed by an option getter while the Executor is made: read as they are then', async () => {
  // The module is read in place after the options (whose getters run JS).
  const module = await wat('(module (func (export "entry")))')
  const detaching = new Uint8Array(module)
  const detach = {
    get entry() {
      structuredClone(detaching.buffer, { transfer: [detaching.buffer] })
      return undefined
    },
  }
  throwsCode(() => new Executor(detaching, 1, {}, detach), TypeError, 'ERR_INVALID_WASM')
  assert.equal(detaching.byteLength, 0)
  // Bytes swapped for another module's: the one there at the time is the
  // one compiled.
  const looping = await wat('(module (func (export "entry") (loop $l (br $l))))')
  const other = await wat('(module (func (export "entry") (nop) (nop) (nop) (nop) (nop)))')
  assert.equal(other.length, looping.length)
  const changing = new Uint8Array(other)
  const swap = {
    get entry() {
      changing.set(looping)
      return undefined
    },
  }
  const e = new Executor(changing, 1, {}, swap)
  assert.equal(e.run(1000), false, 'the looping module runs')
  e.free()
})
