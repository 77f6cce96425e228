// Continues a program saved by `serializeMemory()` in another process:
//
//   node examples/resume.js <state.snapshot> [program.wasm] [gas per slice]
//
// It restores the snapshot into a fresh Executor, runs it to the end in
// slices and prints, as its last line, a JSON summary of the numbers the
// program printed here: {"first", "last", "count", "consecutive", "runs"}.
'use strict'

const fs = require('node:fs')
const path = require('node:path')

const { Executor } = require('..')

const [snapshotPath, wasmPath = path.join(__dirname, 'count.wasm'), gas = '10000'] =
  process.argv.slice(2)
if (!snapshotPath) {
  console.error('usage: node examples/resume.js <state.snapshot> [program.wasm] [gas per slice]')
  process.exit(2)
}

const printed = []
const executor = new Executor(fs.readFileSync(wasmPath), 65536, {
  print: (i) => printed.push(i),
})
executor.deserializeMemory(fs.readFileSync(snapshotPath))

let runs = 0
while (!executor.run(Number(gas))) runs++
runs++

const first = printed.length ? printed[0] : null
const consecutive = printed.every((n, k) => n === first + k)
console.log(
  JSON.stringify({
    first,
    last: printed.length ? printed[printed.length - 1] : null,
    count: printed.length,
    consecutive,
    runs,
  }),
)
