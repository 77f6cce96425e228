// Modules from compilers other than clang, with JS imports: rustc
// (wasm32-unknown-unknown, examples/rust/) and AssemblyScript
// (examples/assemblyscript/). Each makes the same import calls with the
// same arguments and results as under V8, run whole and in slices moved
// into a new Executor at every pause. (Rust programs with WASI are in
// wasi.test.js.)
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

const { Executor } = require('./helpers')

const example = (...parts) => fs.readFileSync(path.join(__dirname, '..', 'examples', ...parts))

/**
 * Runs export `entry` of `bytes` under V8, then in one Executor, then in
 * `slice`-gas slices with serialize → free → new Executor → deserialize at
 * every pause. `imports(memory)` returns `{ log, modules }`: imports (by
 * module name) that log their calls and reach the guest's memory through
 * `memory.read(ptr, len)` and `memory.write(at, bytes)`. Asserts that the
 * three logs are equal; returns V8's log, the pauses and the memory size.
 */
function sameAsV8(bytes, pages, imports, slice, entry = 'entry') {
  let instance
  const reference = imports({
    read: (ptr, len) => Buffer.from(instance.exports.memory.buffer, ptr, len),
    write: (at, data) => new Uint8Array(instance.exports.memory.buffer).set(data, at),
  })
  instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), reference.modules)
  instance.exports[entry]()

  let ex
  const memory = { read: (ptr, len) => ex.readMemory(ptr, len), write: (at, data) => ex.writeMemory(at, data) }
  const executor = (mine) => {
    const { env, ...others } = mine.modules
    return new Executor(bytes, pages, { ...env, ...others }, { entry })
  }
  const whole = imports(memory)
  ex = executor(whole)
  assert.equal(ex.run(1e12), true)
  assert.deepEqual(whole.log, reference.log)
  assert.equal(ex.memorySize, instance.exports.memory.buffer.byteLength)
  ex.free()

  const moved = imports(memory)
  ex = executor(moved)
  let pauses = 0
  while (!ex.run(slice)) {
    pauses++
    const state = ex.serializeMemory()
    ex.free()
    ex = executor(moved)
    ex.deserializeMemory(state)
  }
  assert.deepEqual(moved.log, reference.log)
  assert.equal(ex.memorySize, instance.exports.memory.buffer.byteLength)
  ex.free()
  return { log: reference.log, pauses }
}

test('a Rust module (rustc, wasm32-unknown-unknown): i32/i64/f32/f64 arguments and results, another import module, strings and records through memory', () => {
  const WORDS = ['sword', 'shield', 'potion', 'map', 'rope', 'lantern', 'key', 'bow', 'gem', 'scroll']
  const imports = (memory) => {
    const log = []
    let x = 0
    let y = 0
    const env = {
      mix(tag, a, b, c) {
        log.push(['mix', tag, a, b, c])
        return BigInt.asIntN(64, a * 0x9e3779b97f4a7c15n + BigInt(tag) * BigInt(Math.floor(b * 1000)) + BigInt(Math.round(c * 1e6)))
      },
      print(ptr, len) {
        log.push(['print', memory.read(ptr, len).toString()])
      },
      record(n, out) {
        const record = Buffer.alloc(16)
        record.writeBigUInt64LE(BigInt(n) * 1_000_003n, 0)
        record.write(WORDS[(n / 300) % WORDS.length], 8)
        memory.write(out, record)
        log.push(['record', n, out])
      },
    }
    const game = {
      move(dx, dy) {
        x += dx
        y += dy
        log.push(['move', dx, dy])
        return Math.hypot(x, y)
      },
    }
    return { log, modules: { env, game } }
  }
  const { log, pauses } = sameAsV8(example('rust', 'imports.wasm'), 32, imports, 2000)
  assert.ok(pauses > 100, `${pauses} pauses`)
  const prints = log.filter(([kind]) => kind === 'print').map(([, text]) => text)
  assert.equal(prints.length, 11)
  assert.match(prints[0], /^i=0 acc=0x[0-9a-f]{16} record=0 "sword"$/)
  assert.match(prints[10], /^done acc=-?\d+ floats=\d+\.\d{3} words=bow,gem,key,lantern,map,potion,rope,scroll,shield,sword$/)
  assert.ok(log.filter(([kind]) => kind === 'move').length > 100)
  assert.equal(log.filter(([kind]) => kind === 'mix').length, 3000)
})

/** AssemblyScript's imports: strings are UTF-16, their byte length at ptr - 4. */
function assemblyScriptImports(memory) {
  const log = []
  const string = (ptr) => memory.read(ptr, memory.read(ptr - 4, 4).readUInt32LE(0)).toString('utf16le')
  const env = {
    print: (ptr) => log.push(['print', string(ptr)]),
    abort(message, file, line, column) {
      const text = `${string(message)} (${string(file)}:${line}:${column})`
      log.push(['abort', text])
      throw new Error(`abort: ${text}`)
    },
  }
  const game = {
    sense(x, y) {
      const seen = (Math.floor(x * 3) ^ Math.floor(y * 5)) & 63
      log.push(['sense', x, y])
      return seen
    },
  }
  return { log, modules: { env, game } }
}

test('an AssemblyScript module (classes, Map, strings, the incremental GC): the same as under V8', () => {
  const { log, pauses } = sameAsV8(example('assemblyscript', 'game.wasm'), 64, assemblyScriptImports, 3000)
  assert.ok(pauses > 1000, `${pauses} pauses`)
  const prints = log.filter(([kind]) => kind === 'print').map(([, text]) => text)
  assert.deepEqual(prints.slice(0, 4), [
    'tick 0 total 1601 keys 50',
    'tick 100 total 164204 keys 64',
    'tick 200 total 326718 keys 64',
    'tick 300 total 489405 keys 64',
  ])
  assert.match(prints[4], /^done 650361 7\.91\d+ keys: 0=\d+ 1=\d+ 2=\d+ 3=\d+ 4=\d+ 5=\d+ 6=\d+ 7=\d+$/)
  assert.equal(log.filter(([kind]) => kind === 'sense').length, 50 * 400)
})

test('an AssemblyScript assertion calls env.abort: run throws what abort threw, as under V8', () => {
  const bytes = example('assemblyscript', 'game.wasm')
  let instance
  const reference = assemblyScriptImports({ read: (ptr, len) => Buffer.from(instance.exports.memory.buffer, ptr, len) })
  instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), reference.modules)
  let expected
  assert.throws(() => instance.exports.fail(), (e) => (expected = e) instanceof Error)
  assert.match(expected.message, /^abort: robot out of energy \(game\.ts:\d+:\d+\)$/)

  let ex
  const mine = assemblyScriptImports({ read: (ptr, len) => ex.readMemory(ptr, len) })
  ex = new Executor(bytes, 64, { ...mine.modules.env, game: mine.modules.game }, { entry: 'fail' })
  let thrown
  assert.throws(() => ex.run(1e9), (e) => (thrown = e) instanceof Error)
  assert.equal(thrown.message, expected.message)
  assert.equal(ex.status, 'trapped')
  assert.deepEqual(mine.log, reference.log)
  // Every later run throws the same value again.
  assert.throws(() => ex.run(1), (e) => e === thrown)
})
