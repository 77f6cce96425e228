// The seed's scenario (`npm run demo`): run a counting program with a gas
// limit, pause, move its serialized state into a new Executor, run that to
// the end in slices — and prove that every number was printed exactly once,
// in order. Then the same across processes: the state is saved to a file and
// a second Node process (examples/resume.js) finishes the program.
//
//   node examples/demo.js [program.wasm] [gas per slice]
//
// The default program is count.wasm (the seed's example.c counting to
// 100000 instead of 100000000); pass examples/example.wasm for the seed's
// original, which takes minutes.
'use strict'

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const { Executor } = require('..')

const wasmPath = process.argv[2] ?? path.join(__dirname, 'count.wasm')
const cpuLimit = Number(process.argv[3] ?? 10000)
const memLimit = 65536

const wasm = fs.readFileSync(wasmPath)
const printed = []
const env = {
  print: (i) => printed.push(i),
}

/** Throws unless `numbers` is exactly start, start+1, ..., start+n-1. */
function checkConsecutive(numbers, start, what) {
  for (let k = 0; k < numbers.length; k++) {
    if (numbers[k] !== start + k) {
      const kind = numbers[k] > start + k ? 'gap' : 'repeat'
      throw new Error(`${what}: ${kind} at position ${k}: expected ${start + k}, got ${numbers[k]}`)
    }
  }
}

console.log(`Program: ${path.relative(process.cwd(), wasmPath)}, ${cpuLimit} gas per run`)
const instance = new Executor(wasm, memLimit, env)

console.log('Running first instance')
instance.run(cpuLimit)
console.log(`First instance paused (status ${instance.status}) after printing ${printed.length} numbers`)

console.log('Creating new instance and moving serialized state')
const data = instance.serializeMemory()
console.log(`  snapshot: ${data.length} bytes (memory is ${instance.memorySize} bytes; runs of zeros take a few bytes)`)
const newInstance = new Executor(wasm, memLimit, env)
newInstance.deserializeMemory(data)

console.log('Running second instance from first instance memory snapshot')
let stopped = false
let ticks = 0
do {
  stopped = newInstance.run(cpuLimit)
  ticks++
} while (!stopped)
console.log(`Finished execution after ${ticks} more runs (status ${newInstance.status}, ${newInstance.gasUsed} gas used in all)`)

checkConsecutive(printed, 0, 'in-process resume')
console.log(`Printed ${printed.length} numbers: 0..${printed.length - 1}, each exactly once, in order (no gap, no repeat)`)

// Across processes: pause again, save to a file, finish in another process.
console.log('\nSaving a paused state to a file and resuming it in a second Node process')
printed.length = 0
const third = new Executor(wasm, memLimit, env)
third.run(cpuLimit * 3)
const before = printed.slice()
checkConsecutive(before, 0, 'before saving')
const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-sandbox-demo-')), 'state.snapshot')
fs.writeFileSync(file, third.serializeMemory())
console.log(`  this process printed 0..${before.length - 1}, then saved ${path.basename(file)} (${fs.statSync(file).size} bytes)`)

const child = spawnSync(
  process.execPath,
  [path.join(__dirname, 'resume.js'), file, wasmPath, String(cpuLimit)],
  { encoding: 'utf8' },
)
fs.rmSync(path.dirname(file), { recursive: true, force: true })
if (child.status !== 0) {
  throw new Error(`resume.js failed (exit ${child.status}):\n${child.stderr}`)
}
const summary = JSON.parse(child.stdout.trim().split('\n').pop())
console.log(`  the second process printed ${summary.first}..${summary.last} (${summary.count} numbers, consecutive: ${summary.consecutive})`)
if (!summary.consecutive || summary.first !== before.length) {
  throw new Error(`second process did not continue where the first stopped: ${JSON.stringify(summary)}`)
}
console.log(`Together: 0..${summary.last}, each exactly once, in order (no gap, no repeat)`)
