#!/usr/bin/env node
// Set-up shared by `npm test`, `npm run demo` and `npm run bench` on a fresh
// clone: installs the npm dev dependencies if they are missing, then builds
// the native addon (release) unless the built binary is newer than every
// Rust source and manifest it depends on.
'use strict'

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' })
  if (result.error) throw result.error
  if (result.status !== 0) {
    console.error(`ensure-addon: ${command} ${args.join(' ')} failed (exit ${result.status})`)
    process.exit(result.status ?? 1)
  }
}

/** `linux-x64-gnu`, `darwin-arm64`, `win32-x64-msvc`, ... as napi names the binary. */
function platformArchAbi() {
  const base = `${process.platform}-${process.arch}`
  if (process.platform === 'win32') return `${base}-msvc`
  if (process.platform !== 'linux') return base
  const header = process.report?.getReport()?.header
  return `${base}-${header?.glibcVersionRuntime ? 'gnu' : 'musl'}`
}

/** Newest modification time of the files under `dir` (recursively). */
function newestMtime(entry) {
  let stat
  try {
    stat = fs.statSync(entry)
  } catch {
    return 0
  }
  if (!stat.isDirectory()) return stat.mtimeMs
  let newest = 0
  for (const name of fs.readdirSync(entry)) {
    if (name === 'target' || name === 'node_modules') continue
    newest = Math.max(newest, newestMtime(path.join(entry, name)))
  }
  return newest
}

const cli = path.join(root, 'node_modules', '@napi-rs', 'cli', 'package.json')
if (!fs.existsSync(cli)) {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  // `npm install` follows package-lock.json and leaves it unchanged (the
  // lock lists every platform's optional packages of @napi-rs/cli's
  // dependencies; one written without them, npm/cli#4828, made npm 11
  // rewrite it on every fresh clone and refuse `npm ci`).
  run(npm, ['install', '--no-audit', '--no-fund'])
}

const binary = path.join(root, `wasm-sandbox.${platformArchAbi()}.node`)
const sources = [
  'src',
  'build.rs',
  'Cargo.toml',
  'Cargo.lock',
  path.join('crates', 'core', 'src'),
  path.join('crates', 'core', 'Cargo.toml'),
]
const newestSource = Math.max(...sources.map((s) => newestMtime(path.join(root, s))))
let builtAt = 0
try {
  builtAt = fs.statSync(binary).mtimeMs
} catch {}

if (builtAt < newestSource) {
  console.error(
    builtAt
      ? `ensure-addon: ${path.basename(binary)} is older than the Rust sources, rebuilding (release)`
      : `ensure-addon: building ${path.basename(binary)} (release; the first build takes several minutes)`,
  )
  const cliBin = require(cli).bin
  const bin = typeof cliBin === 'string' ? cliBin : cliBin.napi
  run(process.execPath, [path.join(path.dirname(cli), bin), 'build', '--platform', '--release'])
}
