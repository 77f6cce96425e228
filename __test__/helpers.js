// Shared by the tests: the addon, WAT → wasm via the `wabt` package, the
// example programs, and error assertions.
'use strict'

const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

const addon = require('..')

const root = path.resolve(__dirname, '..')
const examples = path.join(root, 'examples')

let wabtModule
/** Compiles WebAssembly text to a binary module (a Buffer). */
async function wat(text) {
  wabtModule ??= await require('wabt')()
  const features = { multi_value: true, bulk_memory: true, sign_extension: true, sat_float_to_int: true, simd: true, threads: true }
  const parsed = wabtModule.parseWat('test.wat', text, features)
  try {
    parsed.resolveNames()
    parsed.validate(features)
    return Buffer.from(parsed.toBinary({ write_debug_names: true }).buffer)
  } finally {
    parsed.destroy()
  }
}

/** The seed's example program (counts to 100000000). */
const exampleWasm = () => fs.readFileSync(path.join(examples, 'example.wasm'))
/** The same program counting to 100000. */
const countWasm = () => fs.readFileSync(path.join(examples, 'count.wasm'))
const COUNT = 100000

/**
 * Asserts that `fn` throws an instance of `Class` with `error.code === code`
 * (and a message matching `message`, if given); returns the error.
 */
function throwsCode(fn, Class, code, message) {
  let caught
  assert.throws(fn, (error) => {
    caught = error
    return true
  })
  assert.ok(caught instanceof Class, `expected a ${Class.name}, got ${caught?.constructor?.name}: ${caught?.message}`)
  assert.equal(caught.code, code, `wrong code; message: ${caught.message}`)
  if (message) assert.match(caught.message, message)
  return caught
}

/** Asserts that `numbers` is exactly start, start+1, ..., in order. */
function assertConsecutive(numbers, start = 0) {
  for (let k = 0; k < numbers.length; k++) {
    if (numbers[k] !== start + k) {
      assert.fail(`position ${k}: expected ${start + k}, got ${numbers[k]} (${numbers[k] > start + k ? 'gap' : 'repeat'})`)
    }
  }
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})
/** CRC-32 (IEEE), as the snapshot format uses. */
function crc32(bytes) {
  let c = 0xffffffff
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

module.exports = {
  ...addon,
  addon,
  wat,
  exampleWasm,
  countWasm,
  COUNT,
  throwsCode,
  assertConsecutive,
  crc32,
  root,
  examples,
}
