// Random arguments to every entry point of Executor, in random order over
// live, finished, trapped and freed executors: the process survives, and
// everything thrown is an Error with an `ERR_*` code (or the value a
// callback or getter of the test threw itself). Seeded, so a failure
// repeats; more seeds: `FUZZ_SEEDS=1-200 node --test __test__/fuzz.test.js`.
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')

const { Executor, defaultCosts, countWasm } = require('./helpers')

const OWN = Symbol('thrown by the test')

function xorshift(seed) {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0
    return s / 4294967296
  }
}

function fuzz(seed, steps) {
  const rnd = xorshift(seed)
  const pick = (a) => a[Math.floor(rnd() * a.length)]
  const count = countWasm()
  const detached = () => {
    const b = new ArrayBuffer(8)
    structuredClone(b, { transfer: [b] })
    return b
  }
  const values = () => [
    undefined, null, 0, -0, 1, -1, 0.5, NaN, Infinity, -Infinity, 2 ** 53, 2 ** 53 + 2, 2 ** 32, 2 ** 31,
    -(2 ** 31), 65536, 65537, 1n, 0n, -1n, 2n ** 64n, 2n ** 63n, 'x', '', '1', '{}', Symbol('s'), {}, [], [1],
    () => 1, () => { throw OWN }, { valueOf() { throw OWN } }, { valueOf: () => 5 },
    { [Symbol.toPrimitive]: () => 7 }, new Proxy({}, { get() { throw OWN } }),
    new Proxy({}, { ownKeys() { throw OWN } }), Buffer.alloc(0), Buffer.alloc(10), new Uint8Array(4),
    new Uint16Array(4), new Float64Array(2), new DataView(new ArrayBuffer(4)), new ArrayBuffer(16), detached(),
    new SharedArrayBuffer(8), new Uint8Array(new SharedArrayBuffer(8)), count, count.subarray(0, 20),
    count.buffer.slice(count.byteOffset, count.byteOffset + count.length), new Date(), /re/, new Map(),
    Promise.resolve(1), new Error('e'), Object.create(null),
  ]
  const envs = () => [
    undefined, null, {}, { env: {} }, { print() {} }, { env: { print() {} } }, { print() { throw OWN } },
    { print: 5 }, { env: 5 }, new Proxy({}, { get() { throw OWN } }), { get print() { throw OWN } },
    { print: () => 2n ** 70n }, { print: () => ({ valueOf() { throw OWN } }) }, pick(values()),
  ]
  const options = () => [
    undefined, null, {}, { entry: 'nope' }, { entry: pick(values()) }, { costs: {} },
    { costs: { instruction: pick(values()) } }, { costs: defaultCosts() }, { wasi: true }, { wasi: pick(values()) },
    pick(values()), { get entry() { throw OWN } }, new Proxy({}, { get() { throw OWN } }),
  ]
  const codes = new Map()
  const call = (f, what) => {
    try {
      return { value: f() }
    } catch (e) {
      if (e === OWN) return {}
      assert.ok(e instanceof Error, `seed ${seed}, ${what}: threw ${String(e)}`)
      assert.match(String(e.code), /^ERR_[A-Z_]+$/, `seed ${seed}, ${what}: ${e.constructor.name}: ${e.message}`)
      codes.set(e.code, (codes.get(e.code) ?? 0) + 1)
      return {}
    }
  }
  const methods = ['run', 'serializeMemory', 'snapshotJson', 'deserializeMemory', 'free', 'readMemory', 'writeMemory']
  const getters = ['status', 'gasUsed', 'gasBalance', 'stdout', 'stderr', 'exitCode', 'memorySize']
  const live = []
  const snapshots = []
  const outcomes = { made: 0, finished: 0, paused: 0 }
  for (let i = 0; i < steps; i++) {
    const r = rnd()
    if (r < 0.15 || live.length === 0) {
      const args = [pick([count, count, pick(values())]), pick([1, 2, 16, pick(values())]), pick(envs()), pick(options())]
      const { value } = call(() => new Executor(...args.slice(0, 1 + Math.floor(rnd() * 4))), 'new Executor')
      if (value) {
        live.push(value)
        outcomes.made++
      }
      if (live.length > 30) live.shift().free()
      continue
    }
    const e = pick(live)
    if (r < 0.25) {
      const name = pick(getters)
      call(() => e[name], name)
      continue
    }
    const m = pick(methods)
    let args
    switch (m) {
      case 'run':
        args = [pick([1, 10, 1000, 100000, 1e8, pick(values())])]
        break
      case 'deserializeMemory': {
        const last = snapshots[snapshots.length - 1]
        const damaged = last && Buffer.from(last).fill(pick([0, 1, 255]), Math.floor(rnd() * 40))
        args = [pick([...snapshots.slice(-3), pick(values()), damaged ?? 1])]
        break
      }
      case 'readMemory':
        args = [pick([0, 1, 65535, pick(values())]), pick([0, 1, 16, pick(values())])]
        break
      case 'writeMemory':
        args = [pick([0, 1, 65535, pick(values())]), pick([Buffer.alloc(3), pick(values())])]
        break
      default:
        args = rnd() < 0.5 ? [] : [pick(values())]
    }
    const { value } = call(() => e[m](...args), m)
    if (m === 'serializeMemory' && value) snapshots.push(value)
    if (m === 'run' && value === true) outcomes.finished++
    if (m === 'run' && value === false) outcomes.paused++
    if (rnd() < 0.01) call(() => Executor.prototype[m].call(pick(values()), ...args), `${m} on another this`)
  }
  for (const e of live) e.free()
  return { outcomes, codes }
}

function seeds() {
  const [from, to] = (process.env.FUZZ_SEEDS ?? '1-4').split('-').map(Number)
  return Array.from({ length: (to ?? from) - from + 1 }, (_, k) => from + k)
}

test('random arguments to every method never crash, and every error has a code', () => {
  const all = new Map()
  const total = { made: 0, finished: 0, paused: 0 }
  for (const seed of seeds()) {
    const { outcomes, codes } = fuzz(seed, 6000)
    for (const k of Object.keys(total)) total[k] += outcomes[k]
    for (const [c, n] of codes) all.set(c, (all.get(c) ?? 0) + n)
  }
  // Not vacuous: executors were made and ran both ways, and the misuse
  // met the argument checks, the freed state and the snapshot checks.
  assert.ok(total.made > 50 && total.paused > 50 && total.finished > 0, JSON.stringify(total))
  for (const c of ['ERR_INVALID_ARG', 'ERR_EXECUTOR_FREED', 'ERR_INVALID_THIS']) {
    assert.ok(all.has(c), `no ${c} among ${[...all.keys()]}`)
  }
  assert.ok([...all.keys()].some((c) => c.startsWith('ERR_SNAPSHOT_')), `no ERR_SNAPSHOT_* among ${[...all.keys()]}`)
})
