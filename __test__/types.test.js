// TypeScript users get full typings: __test__/types.ts (a usage file,
// importing 'wasm-sandbox' by name) type-checks with `tsc --noEmit`, and
// its @ts-expect-error lines prove misuse is rejected.
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')

test('tsc --noEmit accepts the usage file against index.d.ts', () => {
  const tsc = require.resolve('typescript/bin/tsc')
  const result = spawnSync(process.execPath, [tsc, '-p', path.join(__dirname, 'tsconfig.json')], {
    cwd: root,
    encoding: 'utf8',
  })
  assert.equal(result.status, 0, result.stdout + result.stderr)
})

test('index.d.ts documents every export', () => {
  const dts = fs.readFileSync(path.join(root, 'index.d.ts'), 'utf8')
  for (const item of ['class Executor', 'function defaultCosts', 'interface CostTable', 'interface ExecutorOptions']) {
    assert.ok(dts.includes(item), item)
  }
  // Every declaration (and every member of the class) is preceded by a doc comment.
  const lines = dts.split('\n')
  lines.forEach((line, k) => {
    const declaration = /^export declare |^export interface |^  (constructor|get |static |[a-z][A-Za-z]*\(|[a-z][A-Za-z]*\?:)/.test(line)
    if (declaration && !line.includes('__napiBindingTarget')) {
      assert.match(lines[k - 1], /\*\/\s*$/, `no doc comment before: ${line.trim()}`)
    }
  })
})
