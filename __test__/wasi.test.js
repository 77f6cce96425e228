// options.wasi: C programs built with clang-16 and wasi-libc (two of them
// also with Emscripten) and a Rust program built with rustc
// (examples/wasi/) run uninterrupted, in slices with a snapshot and a fresh
// Executor at every pause, and under Node's own node:wasi, with
// byte-identical output; the clock and randomness are deterministic;
// hostile WASI calls get errnos; options are validated.
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const v8 = require('node:v8')
const vm = require('node:vm')
const { WASI } = require('node:wasi')

const { Executor, wat, throwsCode } = require('./helpers')

const programs = path.join(__dirname, '..', 'examples', 'wasi')
const wasm = (name) => fs.readFileSync(path.join(programs, `${name}.wasm`))
const PAGES = 256

// Thousands of Executors per sliced run: let the garbage collector free the
// dropped ones now and then (nothing else here allocates enough JS memory
// to trigger it, and each Executor holds address space and mappings).
v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc')
async function collectGarbage() {
  gc()
  await new Promise((resolve) => setImmediate(resolve))
}

/** Runs to the end in one call. */
function runWhole(bytes, wasi) {
  const ex = new Executor(bytes, PAGES, {}, { wasi })
  assert.equal(ex.exitCode, undefined)
  assert.equal(ex.run(2n ** 62n), true)
  return result(ex)
}

function result(ex) {
  assert.equal(ex.status, 'finished')
  return { stdout: ex.stdout.toString('latin1'), stderr: ex.stderr.toString('latin1'), exitCode: ex.exitCode, gasUsed: ex.gasUsed }
}

/**
 * Runs in `slice`-gas steps; at every pause the state moves into a new
 * Executor through serializeMemory (every third pause: snapshotJson).
 */
async function runSliced(bytes, wasi, slice = 1000) {
  let ex = new Executor(bytes, PAGES, {}, { wasi })
  let pauses = 0
  while (!ex.run(slice)) {
    pauses++
    if (pauses % 2000 === 0) await collectGarbage()
    const state = pauses % 3 === 0 ? ex.snapshotJson() : ex.serializeMemory()
    ex = new Executor(bytes, PAGES, {}, { wasi })
    ex.deserializeMemory(state)
    assert.equal(ex.status, 'paused')
  }
  return { ...result(ex), pauses }
}

/** The same program under node:wasi (stdin, stdout, stderr as temp files). */
function runNode(bytes, { args = [], env = {}, stdin = '' } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasi-test-'))
  const file = (name) => path.join(dir, name)
  fs.writeFileSync(file('in'), stdin)
  const fds = { stdin: fs.openSync(file('in'), 'r'), stdout: fs.openSync(file('out'), 'w'), stderr: fs.openSync(file('err'), 'w') }
  try {
    const wasi = new WASI({ version: 'preview1', args, env, ...fds, returnOnExit: true })
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), wasi.getImportObject())
    const exitCode = wasi.start(instance)
    return { stdout: fs.readFileSync(file('out'), 'latin1'), stderr: fs.readFileSync(file('err'), 'latin1'), exitCode }
  } finally {
    for (const fd of Object.values(fds)) fs.closeSync(fd)
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** Asserts uninterrupted = sliced (= node:wasi unless `node` is false). */
async function sameEverywhere(name, options, { node = true, slice = 1000 } = {}) {
  const bytes = wasm(name)
  const whole = runWhole(bytes, options)
  const sliced = await runSliced(bytes, options, slice)
  assert.ok(sliced.pauses >= 10, `${name}: ${sliced.pauses} pauses`)
  assert.equal(sliced.stdout, whole.stdout, `${name}: stdout sliced`)
  assert.equal(sliced.stderr, whole.stderr, `${name}: stderr sliced`)
  assert.equal(sliced.exitCode, whole.exitCode)
  assert.equal(sliced.gasUsed, whole.gasUsed, `${name}: gas sliced`)
  if (node) {
    const reference = runNode(bytes, { args: options.args, env: options.env, stdin: options.stdin })
    assert.equal(whole.stdout, reference.stdout, `${name}: stdout vs node:wasi`)
    assert.equal(whole.stderr, reference.stderr, `${name}: stderr vs node:wasi`)
    assert.equal(whole.exitCode, reference.exitCode, `${name}: exit code vs node:wasi`)
  }
  return whole
}

test('stdio: printf, puts, fwrite, stderr — identical uninterrupted, sliced and under node:wasi', async () => {
  const out = await sameEverywhere('stdio', {})
  assert.match(out.stdout, /^stdio: start\nline {4}0: 00000000 fizz {2}\| {2}0\.00\|a\n/)
  assert.equal(out.stdout.split('\n').length - 1, 1 + 1500 + 8 + 2)
  assert.equal(out.stderr, 'progress 0\nprogress 500\nprogress 1000\nstderr: done\n')
  assert.equal(out.exitCode, 0)
})

test('malloc/free, qsort, string.h, math.h, srand/rand — identical everywhere', async () => {
  const out = await sameEverywhere('compute', {})
  assert.match(out.stdout, /^malloc: 48911 ints, sum 499500\n/)
  assert.match(out.stdout, /\nbrown,dog,fox,jumps,lazy,over,quick,the,the\n/)
})

test('reading stdin (wc + sort): identical everywhere, stdin as a string or bytes', async () => {
  const lines = []
  for (let i = 0; i < 300; i++) lines.push(`w${(i * 7919) % 1009} w${(i * 104729) % 997} ${i % 13 ? 'x' : ''}`)
  const input = lines.join('\n') + '\n'
  const out = await sameEverywhere('lines', { stdin: input })
  const sorted = [...lines].sort((a, b) => (Buffer.compare(Buffer.from(a), Buffer.from(b))))
  const words = input.split(/\s+/).filter(Boolean).length
  assert.equal(out.stdout, `${lines.length} ${words} ${input.length}\n${sorted.join('\n')}\n`)
  const asBytes = runWhole(wasm('lines'), { stdin: new TextEncoder().encode(input) })
  assert.equal(asBytes.stdout, out.stdout)
})

test('argv, environ, exit(n), return n, and exitCode', async () => {
  const env = { HOME: '/home/guest', LANG: 'C' }
  const exit = await sameEverywhere('args', { args: ['args', 'exit', '7'], env })
  assert.equal(exit.exitCode, 7)
  assert.equal(
    exit.stdout,
    'argc=3\nargv[0]=args\nargv[1]=exit\nargv[2]=7\nenv HOME=/home/guest\nenv LANG=C\nHOME=/home/guest\n' +
      'buffered, no newline at the endatexit handler ran\n',
  )
  assert.equal((await sameEverywhere('args', { args: ['args', 'return', '42'], env })).exitCode, 42)
  assert.equal(runWhole(wasm('args'), { env }).exitCode, 0)
  assert.equal(runWhole(wasm('args'), true).stdout.split('\n')[0], 'argc=0')

  // abort() is a trap: no exit code.
  const ex = new Executor(wasm('args'), PAGES, {}, { wasi: { args: ['args', 'abort'] } })
  throwsCode(() => ex.run(1e9), Error, 'ERR_WASM_TRAP')
  assert.equal(ex.status, 'trapped')
  assert.equal(ex.exitCode, undefined)
  // Without WASI there is no exit code or output.
  const plain = new Executor(fs.readFileSync(path.join(__dirname, '..', 'examples', 'count.wasm')), 2, { print() {} })
  plain.run(1e9)
  assert.equal(plain.exitCode, undefined)
  assert.equal(plain.stdout, undefined)
  assert.equal(plain.stderr, undefined)
})

test('the same C programs built by Emscripten (STANDALONE_WASM): what the clang builds print, sliced and under node:wasi', async () => {
  for (const name of ['compute', 'stdio']) {
    // 5,000-gas slices: its memory is 1 MiB (16 pages) from the start.
    const emscripten = await sameEverywhere(`${name}.emscripten`, {}, { slice: 5000 })
    const clang = runWhole(wasm(name), {})
    assert.equal(emscripten.stdout, clang.stdout, name)
    assert.equal(emscripten.stderr, clang.stderr, name)
    assert.equal(emscripten.exitCode, 0)
    assert.notEqual(emscripten.gasUsed, clang.gasUsed, `${name}: another compiler's code`)
  }
})

test('a Rust program (rustc, wasm32-wasip1): what it prints natively, sliced and under node:wasi', async () => {
  const file = (name) => fs.readFileSync(path.join(programs, name))
  const options = { args: ['rust', 'run', 'a', 'b'], env: { LANG: 'C', X: '1' }, stdin: file('rust.stdin') }
  // About 60 moves into a new Executor (the memory is 5 MiB).
  const out = await sameEverywhere('rust', options, { slice: 1_000_000 })
  assert.equal(out.stdout, file('rust.expected').toString('latin1'))
  assert.equal(out.stderr, 'done\n')
  assert.equal(out.exitCode, 0)

  const exit = runWhole(wasm('rust'), { ...options, args: ['rust', 'exit'] })
  assert.equal(exit.exitCode, 3)
  // A panic prints its message and aborts: a trap, no exit code.
  const ex = new Executor(wasm('rust'), PAGES, {}, { wasi: { ...options, args: ['rust', 'panic'] } })
  throwsCode(() => ex.run(1e9), Error, 'ERR_WASM_TRAP')
  assert.equal(ex.status, 'trapped')
  assert.equal(ex.exitCode, undefined)
  assert.match(ex.stderr.toString(), /panicked at rust\.rs:.*\nindex out of bounds: the len is 0 but the index is 7\n/)
})

test('time and randomness are deterministic: same seed, same output and snapshot bytes', async () => {
  const out = await sameEverywhere('clock', {}, { node: false })
  assert.match(out.stdout, /^time 1704067200 2024-01-01 00:00:00\n/)
  assert.match(out.stdout, /\nresolution 1 ns\n/)
  const loopNs = BigInt(/loop took (\d+) ns/.exec(out.stdout)[1])
  assert.ok(loopNs >= 100000n && loopNs < out.gasUsed, `virtual time is gas: ${loopNs}`)

  const snapshotAt = (seed, gas) => {
    const ex = new Executor(wasm('clock'), PAGES, {}, { wasi: { seed } })
    ex.run(gas)
    return { bytes: ex.serializeMemory(), json: ex.snapshotJson(), ex }
  }
  const a = snapshotAt(1234n, 2_000_000)
  const b = snapshotAt(1234, 2_000_000)
  assert.equal(a.ex.status, 'finished')
  assert.deepEqual(a.bytes, b.bytes)
  assert.equal(a.json, b.json)
  const c = snapshotAt(1235, 2_000_000)
  assert.notDeepEqual(a.bytes, c.bytes)
  const lastLine = (ex) => ex.stdout.toString().trim().split('\n').pop()
  assert.notEqual(lastLine(a.ex), lastLine(c.ex), 'another seed, other random bytes')
  assert.match(lastLine(a.ex), /^[0-9a-f]{32}$/)

  const real = runWhole(wasm('clock'), { clock: 'real' })
  const year = Number(/^time \d+ (\d{4})/.exec(real.stdout)[1])
  assert.ok(year >= 2025, `real clock: ${real.stdout.split('\n')[0]}`)
})

test('sleeping advances the virtual clock instead of blocking', async () => {
  const started = Date.now()
  const out = await sameEverywhere('sleep', {}, { node: false })
  assert.ok(Date.now() - started < 60_000)
  assert.match(out.stdout, /nanosleep 250ms: slept >= 250ms: yes\nusleep 1500us: slept >= 1.5ms: yes\nsleep 2s: slept >= 2s: yes\n/)
})

test('a program paused mid-output continues with exactly the rest', () => {
  const bytes = wasm('stdio')
  const full = runWhole(bytes, {}).stdout
  // Pause somewhere in the middle of the output.
  const ex = new Executor(bytes, PAGES, {}, { wasi: {} })
  while (ex.stdout.length < full.length / 3) assert.equal(ex.run(50_000), false)
  const printed = ex.stdout.toString('latin1')
  assert.ok(printed.length < full.length && full.startsWith(printed))
  const state = ex.serializeMemory()

  // Restored with a stdout callback: the callback gets exactly the rest, and
  // the collected part came along in the snapshot.
  const chunks = []
  const next = new Executor(bytes, PAGES, {}, { wasi: { stdout: (chunk) => chunks.push(Buffer.from(chunk)) } })
  next.deserializeMemory(state)
  assert.equal(next.stdout.toString('latin1'), printed)
  assert.equal(next.run(2n ** 62n), true)
  assert.ok(chunks.length > 1)
  assert.ok(chunks.every((c) => Buffer.isBuffer(c)))
  assert.equal(printed + Buffer.concat(chunks).toString('latin1'), full)
})

test('stdin from a function in chunks; stdout and stderr callbacks', () => {
  const pieces = ['b li', 'ne two\na line one\n', '', 'c']
  let calls = 0
  const out = []
  const err = []
  const ex = new Executor(wasm('lines'), PAGES, {}, {
    wasi: {
      stdin: () => {
        calls++
        const piece = pieces.shift()
        return piece === undefined ? null : piece === 'c' ? Buffer.from('c\n') : piece
      },
      stdout: (chunk) => out.push(chunk.toString()),
      stderr: (chunk) => err.push(chunk.toString()),
    },
  })
  assert.equal(ex.run(1e9), true)
  // An empty chunk is end of file for that read: the program stops there.
  assert.equal(out.join(''), '2 6 22\na line one\nb line two\n')
  assert.equal(calls, 3)
  assert.deepEqual(ex.stdout, Buffer.alloc(0))
  assert.deepEqual(err, [])
})

test('a throwing callback makes run throw that value and traps', () => {
  const boom = new Error('stdout is full')
  const ex = new Executor(wasm('stdio'), PAGES, {}, { wasi: { stdout: () => { throw boom } } })
  assert.throws(() => ex.run(1e9), (e) => e === boom)
  assert.equal(ex.status, 'trapped')
  assert.throws(() => ex.run(1e9), (e) => e === boom)

  const bad = new Executor(wasm('lines'), PAGES, {}, { wasi: { stdin: () => 42 } })
  throwsCode(() => bad.run(1e9), TypeError, 'ERR_INVALID_ARG', /options\.wasi\.stdin returned a number/)
  assert.equal(bad.status, 'trapped')
})

test('hostile WASI calls get errnos, never a crash', async () => {
  const calls = [
    // [description, call, expected errno]
    ['fd_write to fd 99', '(call $fd_write (i32.const 99) (i32.const 0x100) (i32.const 1) (i32.const 0x300))', 8],
    ['iovecs outside memory', '(call $fd_write (i32.const 1) (i32.const 0xfffffff8) (i32.const 2) (i32.const 0x300))', 21],
    ['huge iovec count', '(call $fd_write (i32.const 1) (i32.const 0x100) (i32.const 0x7fffffff) (i32.const 0x300))', 28],
    ['iovec buffer outside memory', '(call $fd_write (i32.const 1) (i32.const 0x108) (i32.const 1) (i32.const 0x300))', 21],
    ['nwritten outside memory', '(call $fd_write (i32.const 1) (i32.const 0x100) (i32.const 1) (i32.const -4))', 21],
    ['args_get into out-of-bounds memory', '(call $args_get (i32.const 0xfffffffc) (i32.const 0x400))', 21],
    ['args_get strings past the end', '(call $args_get (i32.const 0x400) (i32.const 0xfffe))', 21],
    ['path_open without preopens', '(call $path_open (i32.const 3) (i32.const 0) (i32.const 0x200) (i32.const 4) (i32.const 0) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 0x300))', 8],
    ['path_open on stdin', '(call $path_open (i32.const 0) (i32.const 0) (i32.const 0x200) (i32.const 4) (i32.const 0) (i64.const -1) (i64.const -1) (i32.const 0) (i32.const 0x300))', 76],
    ['fd_read huge iovec count', '(call $fd_read (i32.const 0) (i32.const 0x100) (i32.const -1) (i32.const 0x300))', 28],
    ['random_get past the end', '(call $random_get (i32.const 0xfff0) (i32.const 0x7fffffff))', 21],
    ['poll_oneoff with 2^28 subscriptions', '(call $poll_oneoff (i32.const 0) (i32.const 0) (i32.const 0x10000000) (i32.const 0x300))', 21],
    ['unknown clock', '(call $clock_time_get (i32.const 9) (i64.const 0) (i32.const 0x300))', 28],
    ['good write', '(call $fd_write (i32.const 1) (i32.const 0x100) (i32.const 1) (i32.const 0x300))', 0],
  ]
  const body = calls.map(([, call], k) => `(i32.store (i32.const ${0x8000 + 4 * k}) ${call})`).join('\n')
  const bytes = await wat(`(module
    (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "path_open"
      (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
    (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 0x100) "\\00\\02\\00\\00\\05\\00\\00\\00\\00\\00\\ff\\ff\\00\\00\\02\\00")
    (data (i32.const 0x200) "hello")
    (func (export "_start") ${body}))`)
  const ex = new Executor(bytes, 1, {}, { wasi: { args: ['prog', 'an argument'] } })
  assert.equal(ex.run(1e7), true)
  const got = ex.readMemory(0x8000, 4 * calls.length)
  calls.forEach(([what, , errno], k) => assert.equal(got.readUInt32LE(4 * k), errno, what))
  assert.equal(ex.stdout.toString(), 'hello')
  assert.equal(ex.exitCode, 0)
})

test('WASI imports without options.wasi are ordinary imports (and the error says so)', () => {
  throwsCode(() => new Executor(wasm('stdio'), PAGES, {}), TypeError, 'ERR_IMPORT_MISSING', /wasi_snapshot_preview1\.\w+.*options\.wasi/)
  throwsCode(() => new Executor(wasm('stdio'), PAGES, {}, { wasi: false }), TypeError, 'ERR_IMPORT_MISSING')
})

test('a WASI snapshot only restores into an executor with WASI on, and vice versa', () => {
  const bytes = wasm('stdio')
  const withWasi = new Executor(bytes, PAGES, {}, { wasi: true })
  withWasi.run(100_000)
  const state = withWasi.serializeMemory()

  const jsWasi = {}
  for (const { name } of WebAssembly.Module.imports(new WebAssembly.Module(bytes))) jsWasi[name] = () => 0
  const plain = new Executor(bytes, PAGES, { wasi_snapshot_preview1: jsWasi })
  throwsCode(() => plain.deserializeMemory(state), Error, 'ERR_SNAPSHOT_MISMATCH', /WASI/)
  throwsCode(() => plain.deserializeMemory(withWasi.snapshotJson()), Error, 'ERR_SNAPSHOT_MISMATCH', /WASI/)
  assert.equal(plain.status, 'ready')
  assert.equal(plain.gasUsed, 0n)

  plain.run(100)
  const plainState = plain.serializeMemory()
  const fresh = new Executor(bytes, PAGES, {}, { wasi: {} })
  throwsCode(() => fresh.deserializeMemory(plainState), Error, 'ERR_SNAPSHOT_MISMATCH', /WASI/)
  assert.equal(fresh.status, 'ready')
  fresh.deserializeMemory(state)
  assert.equal(fresh.run(2n ** 62n), true)
  assert.equal(fresh.stdout.toString(), runWhole(bytes, {}).stdout)
})

test('bad options.wasi values: TypeError/RangeError with ERR_INVALID_ARG naming the option', () => {
  const bytes = wasm('args')
  const make = (wasi) => () => new Executor(bytes, PAGES, {}, { wasi })
  const cases = [
    [5, TypeError, /options\.wasi must be a boolean or an object/],
    ['yes', TypeError, /options\.wasi must be/],
    [[], TypeError, /options\.wasi must be/],
    [{ argz: [] }, TypeError, /unknown options\.wasi field "argz"/],
    [{ args: 'prog' }, TypeError, /options\.wasi\.args must be an array of strings/],
    [{ args: ['prog', 3] }, TypeError, /options\.wasi\.args\[1\] must be a string/],
    [{ args: ['a\0b'] }, TypeError, /options\.wasi\.args\[0\] contains a NUL/],
    [{ args: ['x'.repeat(2 << 20)] }, RangeError, /options\.wasi\.args/],
    [{ env: ['A=1'] }, TypeError, /options\.wasi\.env must be an object of strings/],
    [{ env: { A: 1 } }, TypeError, /options\.wasi\.env\.A must be a string/],
    [{ env: { 'A=B': 'x' } }, TypeError, /options\.wasi\.env: "A=B" is not a valid variable name/],
    [{ env: { A: 'x\0y' } }, TypeError, /options\.wasi\.env\.A contains a NUL/],
    [{ stdin: 5 }, TypeError, /options\.wasi\.stdin must be/],
    [{ stdin: {} }, TypeError, /options\.wasi\.stdin must be/],
    [{ stdout: 'file.txt' }, TypeError, /options\.wasi\.stdout must be a function/],
    [{ stderr: true }, TypeError, /options\.wasi\.stderr must be a function/],
    [{ clock: 'fast' }, RangeError, /options\.wasi\.clock must be 'virtual' or 'real'/],
    [{ clock: 1 }, TypeError, /options\.wasi\.clock must be/],
    [{ seed: -1 }, RangeError, /options\.wasi\.seed must be between/],
    [{ seed: 1.5 }, TypeError, /options\.wasi\.seed must be an integer/],
    [{ seed: 2n ** 64n }, RangeError, /options\.wasi\.seed/],
    [{ seed: '1' }, TypeError, /options\.wasi\.seed must be a number or a bigint/],
  ]
  for (const [wasi, Class, message] of cases) throwsCode(make(wasi), Class, 'ERR_INVALID_ARG', message)
  // Accepted forms.
  for (const wasi of [true, {}, { stdin: null, stdout: undefined, seed: 2n ** 64n - 1n, clock: 'real' }, { stdin: new ArrayBuffer(3) }]) {
    assert.equal(new Executor(bytes, PAGES, {}, { wasi }).status, 'ready')
  }
})

test('an unknown or mistyped WASI import is refused at construction', async () => {
  const unknown = await wat('(module (import "wasi_snapshot_preview1" "fd_teleport" (func)) (func (export "_start")))')
  throwsCode(() => new Executor(unknown, 1, {}, { wasi: true }), TypeError, 'ERR_IMPORT_MISSING', /fd_teleport is not a WASI preview1 function/)
  const mistyped = await wat('(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i64))) (func (export "_start")))')
  throwsCode(() => new Executor(mistyped, 1, {}, { wasi: true }), TypeError, 'ERR_IMPORT_TYPE', /proc_exit is imported as \(i64\) -> \(\)/)
})

test('other imports still come from env next to WASI', async () => {
  const bytes = await wat(`(module
    (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
    (import "env" "answer" (func $answer (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 16) "\\20\\00\\00\\00\\02\\00\\00\\00")
    (func (export "_start")
      (i32.store8 (i32.const 32) (i32.add (i32.const 48) (call $answer)))
      (i32.store8 (i32.const 33) (i32.const 10))
      (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 0)))))`)
  const ex = new Executor(bytes, 1, { answer: () => 7 }, { wasi: true })
  assert.equal(ex.run(1000), true)
  assert.equal(ex.stdout.toString(), '7\n')
})
