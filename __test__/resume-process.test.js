// Save to a file, resume in a second Node process: the numbers continue
// exactly where this process stopped. Also runs the demo end to end.
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { Executor, countWasm, COUNT, examples, assertConsecutive } = require('./helpers')

function tempFile(name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-sandbox-test-'))
  test.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return path.join(dir, name)
}

/** Runs `node <script> ...args`; returns the parsed JSON of its last output line. */
function nodeJson(args) {
  const child = spawnSync(process.execPath, args, { encoding: 'utf8' })
  assert.equal(child.status, 0, child.stderr)
  return JSON.parse(child.stdout.trim().split('\n').pop())
}

test('a binary snapshot saved to a file finishes in another process', () => {
  const printed = []
  const executor = new Executor(countWasm(), 65536, { print: (i) => printed.push(i) })
  assert.equal(executor.run(25000), false)
  assertConsecutive(printed)
  const file = tempFile('state.snapshot')
  fs.writeFileSync(file, executor.serializeMemory())

  const summary = nodeJson([path.join(examples, 'resume.js'), file])
  assert.deepEqual(summary, {
    first: printed.length,
    last: COUNT - 1,
    count: COUNT - printed.length,
    consecutive: true,
    runs: summary.runs,
  })
  assert.ok(summary.runs > 1)
})

test('a JSON snapshot saved to a file finishes in another process, with the same total gas', () => {
  const wasm = countWasm()
  const executor = new Executor(wasm, 65536, { print() {} })
  executor.run(40000)
  const file = tempFile('state.json')
  fs.writeFileSync(file, executor.snapshotJson())

  const script = `
    const fs = require('node:fs')
    const { Executor } = require(${JSON.stringify(path.resolve(__dirname, '..'))})
    const printed = []
    const executor = new Executor(fs.readFileSync(process.argv[1]), 65536, { print: (i) => printed.push(i) })
    executor.deserializeMemory(fs.readFileSync(process.argv[2], 'utf8'))
    while (!executor.run(12345));
    console.log(JSON.stringify({ first: printed[0], count: printed.length, gasUsed: String(executor.gasUsed) }))
  `
  const summary = nodeJson(['-e', script, path.join(examples, 'count.wasm'), file])

  const whole = new Executor(wasm, 65536, { print() {} })
  assert.equal(whole.run(Number.MAX_SAFE_INTEGER), true)
  assert.equal(summary.first + summary.count, COUNT)
  assert.equal(BigInt(summary.gasUsed), whole.gasUsed)
})

test('the demo (npm run demo) proves no gap and no repeat, in one process and across two', () => {
  const demo = spawnSync(process.execPath, [path.join(examples, 'demo.js')], { encoding: 'utf8' })
  assert.equal(demo.status, 0, demo.stderr)
  assert.match(demo.stdout, /Printed 100000 numbers: 0\.\.99999, each exactly once, in order \(no gap, no repeat\)/)
  assert.match(demo.stdout, /Together: 0\.\.99999, each exactly once, in order \(no gap, no repeat\)/)
})
