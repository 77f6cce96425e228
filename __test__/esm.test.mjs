// `import { Executor } from 'wasm-sandbox'` works from ES modules.
import test from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'

import { Executor, defaultCosts } from 'wasm-sandbox'
import defaultExport from 'wasm-sandbox'
import cjs from '../index.js'

test('named ESM imports of the package', () => {
  const wasm = readFileSync(new URL('../examples/count.wasm', import.meta.url))
  const printed = []
  const executor = new Executor(wasm, 65536, { print: (i) => printed.push(i) })
  assert.equal(executor.run(1e9), true)
  assert.equal(printed.length, 100000)
  assert.equal(defaultCosts().hostCall, 10)
  assert.equal(defaultExport.Executor, Executor)
  assert.equal(cjs.Executor, Executor)
})
