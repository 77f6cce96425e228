// The package as users get it: `npm pack` the root package and this
// platform's binary package (npm/<platform>, as `napi prepublish` publishes
// them), install both tarballs into an empty project with no Rust toolchain
// on PATH, and run the seed scenario from there (require and import).
'use strict'

const test = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const rootPackage = require('../package.json')
const isWindows = process.platform === 'win32'

/** `linux-x64-gnu`, `darwin-arm64`, `win32-x64-msvc`, ... as napi names the binary. */
function platformArchAbi() {
  const base = `${process.platform}-${process.arch}`
  if (isWindows) return `${base}-msvc`
  if (process.platform !== 'linux') return base
  return `${base}-${process.report.getReport().header.glibcVersionRuntime ? 'gnu' : 'musl'}`
}

/** PATH without any directory holding cargo or rustc. */
function pathWithoutRust() {
  const names = isWindows ? ['cargo.exe', 'rustc.exe'] : ['cargo', 'rustc']
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((dir) => dir && !names.some((name) => fs.existsSync(path.join(dir, name))))
    .join(path.delimiter)
}

function run(command, args, options) {
  const result = spawnSync(command, args, { encoding: 'utf8', shell: isWindows, ...options })
  assert.equal(result.status, 0, `${command} ${args.join(' ')}\n${result.stdout}\n${result.stderr}`)
  return result.stdout
}

const SEED_SCENARIO = `
  const fs = require('node:fs')
  const { Executor } = require('wasm-sandbox')
  const wasm = fs.readFileSync('count.wasm')
  const printed = []
  const env = { print: (i) => printed.push(i) }
  const cpuLimit = 10000
  const memLimit = 65536
  const instance = new Executor(wasm, memLimit, env)
  instance.run(cpuLimit)
  const data = instance.serializeMemory()
  const newInstance = new Executor(wasm, memLimit, env)
  newInstance.deserializeMemory(data)
  let stopped = false
  do {
    stopped = newInstance.run(cpuLimit)
  } while (!stopped)
  const ok = printed.length === 100000 && printed.every((n, k) => n === k)
  console.log(JSON.stringify({ ok, count: printed.length, binding: require.resolve('wasm-sandbox-${platformArchAbi()}') }))
`

const ESM_IMPORT = `
  import { readFileSync } from 'node:fs'
  import { Executor } from 'wasm-sandbox'
  const executor = new Executor(readFileSync('count.wasm'), 2, { print() {} })
  console.log(JSON.stringify({ finished: executor.run(1e9), status: executor.status }))
`

test('npm pack + install into an empty project without Rust, then the seed scenario', (t) => {
  const platform = platformArchAbi()
  const binaryName = `${rootPackage.napi.binaryName}.${platform}.node`
  const binary = path.join(root, binaryName)
  assert.ok(fs.existsSync(binary), `${binaryName} must be built first (npm run build)`)
  const platformDir = path.join(root, 'npm', platform)
  assert.ok(fs.existsSync(path.join(platformDir, 'package.json')), `npm/${platform} (napi create-npm-dirs)`)

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'wasm-sandbox-pack-'))
  t.after(() => fs.rmSync(work, { recursive: true, force: true }))
  const tarballs = path.join(work, 'tarballs')
  fs.mkdirSync(tarballs)
  const npm = isWindows ? 'npm.cmd' : 'npm'
  const quiet = ['--no-audit', '--no-fund', '--loglevel=error']

  // The platform package, with its binary (what `napi artifacts` puts there).
  const staged = path.join(work, 'platform')
  fs.cpSync(platformDir, staged, { recursive: true })
  fs.copyFileSync(binary, path.join(staged, binaryName))
  run(npm, ['pack', '--pack-destination', tarballs, ...quiet], { cwd: staged })

  // The root package, with the optionalDependencies `napi prepublish` adds.
  const stagedRoot = path.join(work, 'root')
  fs.mkdirSync(stagedRoot)
  for (const file of ['package.json', 'index.js', 'index.d.ts', 'README.md', 'LICENSE']) {
    if (fs.existsSync(path.join(root, file))) fs.copyFileSync(path.join(root, file), path.join(stagedRoot, file))
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(stagedRoot, 'package.json'), 'utf8'))
  manifest.optionalDependencies = { [`${manifest.name}-${platform}`]: manifest.version }
  delete manifest.devDependencies
  delete manifest.scripts
  fs.writeFileSync(path.join(stagedRoot, 'package.json'), JSON.stringify(manifest, null, 2))
  const [packedRoot] = JSON.parse(run(npm, ['pack', '--json', '--pack-destination', tarballs, ...quiet], { cwd: stagedRoot }))
  const contents = packedRoot.files.map((f) => f.path).sort()
  assert.deepEqual(contents.filter((f) => f.endsWith('.node')), [], 'the root package carries no binary')
  for (const file of ['index.d.ts', 'index.js', 'package.json']) assert.ok(contents.includes(file), file)

  const packed = fs.readdirSync(tarballs).map((name) => path.join(tarballs, name))
  assert.equal(packed.length, 2, packed.join(', '))
  const rootTarball = packed.find((file) => path.basename(file) === `${manifest.name}-${manifest.version}.tgz`)
  assert.ok(rootTarball, packed.join(', '))

  // An empty project, no Rust toolchain on PATH.
  const project = path.join(work, 'project')
  fs.mkdirSync(project)
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }))
  fs.copyFileSync(path.join(root, 'examples', 'count.wasm'), path.join(project, 'count.wasm'))
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !['path', 'napi_rs_native_library_path'].includes(key.toLowerCase())),
  )
  env.PATH = pathWithoutRust()
  const cargo = spawnSync(isWindows ? 'cargo.exe' : 'cargo', ['--version'], { env })
  assert.ok(cargo.error, 'cargo must not be on the PATH of the install')
  run(npm, ['install', '--offline', ...quiet, ...packed], { cwd: project, env })

  const installed = path.join(project, 'node_modules', 'wasm-sandbox')
  assert.ok(fs.existsSync(path.join(installed, 'index.js')))
  assert.deepEqual(fs.readdirSync(installed).filter((f) => f.endsWith('.node')), [])

  const seed = JSON.parse(run(process.execPath, ['-e', SEED_SCENARIO], { cwd: project, env, shell: false }))
  assert.equal(seed.ok, true, JSON.stringify(seed))
  assert.equal(seed.count, 100000)
  assert.ok(seed.binding.startsWith(path.join(project, 'node_modules')), seed.binding)

  fs.writeFileSync(path.join(project, 'esm.mjs'), ESM_IMPORT)
  const esm = JSON.parse(run(process.execPath, ['esm.mjs'], { cwd: project, env, shell: false }))
  assert.deepEqual(esm, { finished: true, status: 'finished' })
})
