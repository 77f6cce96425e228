#!/usr/bin/env node
// Soak run: create / run / snapshot / drop Executors in a loop and watch the
// process's resident memory. Prints RSS (and, on Linux, virtual size) after a
// warm-up and at every tenth of the run, after a full garbage collection.
//
//   node scripts/soak.js [cycles=100000] [gcEvery=1000]     (npm run soak)
//
// gcEvery: a full garbage collection every that many cycles (0: never; see
// the note in the loop).
//
// Exits with status 1 if RSS grew by more than 64 MiB between the warm-up
// and the end. __test__/scale.test.js runs a shorter version of this.
'use strict'

const fs = require('node:fs')
const v8 = require('node:v8')
const vm = require('node:vm')

const { Executor } = require('..')

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc')

/** `VmRSS` / `VmSize` in KiB from /proc/self/status (Linux), else undefined. */
function procStatus(key) {
  try {
    const line = fs.readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith(key))
    return Number(line.split(/\s+/)[1])
  } catch {
    return undefined
  }
}

async function settle() {
  for (let k = 0; k < 4; k++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
  return { rss: process.memoryUsage().rss, vm: procStatus('VmSize:') }
}

/**
 * One cycle: a new Executor, run to a pause, snapshot, restore into a second
 * one, run that to the end; every fourth cycle's import throws instead
 * (a trapped executor). Returns the number printed last.
 */
function cycle(wasm, k) {
  let last = -1
  const env = {
    print: (i) => {
      if (k % 4 === 3 && i === 5) throw new Error('boom')
      last = i
    },
  }
  const executor = new Executor(wasm, 16, env)
  try {
    executor.run(200)
    const next = new Executor(wasm, 16, env)
    next.deserializeMemory(k % 2 ? executor.serializeMemory() : executor.snapshotJson())
    while (!next.run(100000));
  } catch (error) {
    if (error.message !== 'boom') throw error
  }
  return last
}

/** The guest: prints 0..199 through an import, with a loop, a call and memory. */
const PROGRAM = `(module
  (import "env" "print" (func $print (param i32)))
  (memory 1)
  (func $step (param i32) (result i32)
    (i32.store (i32.const 64) (local.get 0))
    (i32.add (local.get 0) (i32.const 1)))
  (func (export "entry") (local $i i32)
    (loop $l
      (call $print (local.get $i))
      (local.set $i (call $step (local.get $i)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 200))))))`

async function program() {
  const wabt = await require('wabt')()
  const parsed = wabt.parseWat('soak.wat', PROGRAM)
  try {
    return Buffer.from(parsed.toBinary({}).buffer)
  } finally {
    parsed.destroy()
  }
}

async function soak(cycles, { log = console.log, gcEvery = 1000 } = {}) {
  const wasm = await program()
  const warmup = Math.min(2000, Math.floor(cycles / 10))
  for (let k = 0; k < warmup; k++) {
    if (k % 500 === 0) await new Promise((resolve) => setImmediate(resolve))
    cycle(wasm, k)
  }
  const start = await settle()
  const samples = [start]
  const t = process.hrtime.bigint()
  const step = Math.max(1, Math.floor(cycles / 10))
  for (let k = 0; k < cycles; k++) {
    // A game server yields to the event loop between ticks; dropped
    // Executors are freed only then (their finalizers run from the event
    // loop), so a synchronous loop of >16,000 new Executors would exhaust
    // the address space (ERR_MEMORY_LIMIT).
    if (k % 500 === 0) await new Promise((resolve) => setImmediate(resolve))
    // V8 does not know how much address space an Executor holds (~8 GiB,
    // reserved, no RAM), so without a collection now and then unreachable
    // Executors pile up until reserving fails (ERR_MEMORY_LIMIT after
    // ~16,000 of them). `gcEvery: 0` shows that.
    if (gcEvery && k % gcEvery === 0) gc()
    const last = cycle(wasm, k)
    if (k % 4 !== 3 && last !== 199) throw new Error(`cycle ${k}: printed up to ${last}`)
    if ((k + 1) % step === 0) {
      const s = await settle()
      samples.push(s)
      log(
        `${k + 1} cycles: RSS ${(s.rss / 2 ** 20).toFixed(1)} MiB` +
          (s.vm === undefined ? '' : `, VmSize ${(s.vm / 2 ** 20).toFixed(2)} GiB`),
      )
    }
  }
  const seconds = Number(process.hrtime.bigint() - t) / 1e9
  const end = samples[samples.length - 1]
  const growth = end.rss - start.rss
  log(
    `${cycles} cycles in ${seconds.toFixed(1)} s (${((seconds / cycles) * 1e6).toFixed(0)} us each); ` +
      `RSS after warm-up ${(start.rss / 2 ** 20).toFixed(1)} MiB, at the end ${(end.rss / 2 ** 20).toFixed(1)} MiB ` +
      `(${growth >= 0 ? '+' : ''}${(growth / 2 ** 20).toFixed(1)} MiB, ${(growth / cycles).toFixed(1)} bytes per cycle)`,
  )
  return { start, end, samples, growth, seconds }
}

module.exports = { soak, procStatus }

if (require.main === module) {
  const cycles = Number(process.argv[2] ?? 100000)
  const gcEvery = Number(process.argv[3] ?? 1000)
  soak(cycles, { gcEvery }).then(({ growth }) => {
    if (growth > 64 * 2 ** 20) {
      console.error(`RSS grew by ${(growth / 2 ** 20).toFixed(1)} MiB`)
      process.exit(1)
    }
  })
}
