// Type-checked by types.test.js with `tsc --noEmit`: how TypeScript users
// write against the package. Lines marked @ts-expect-error must not compile.
import { readFileSync } from 'node:fs'

import { Executor, defaultCosts, type CostTable, type ExecutorOptions, type WasiOptions } from 'wasm-sandbox'

const wasm: Buffer = readFileSync('examples/count.wasm')
const printed: number[] = []

const options: ExecutorOptions = {
  entry: 'entry',
  costs: { hostCall: 20, instruction: 1 },
  canonicalizeNans: false,
}
const executor = new Executor(wasm, 65536, { print: (i: number) => printed.push(i) }, options)
new Executor(new Uint8Array(wasm).buffer, 16)
new Executor(wasm, 16, { env2: { f: () => 0 } })

let finished: boolean = executor.run(10_000)
finished = executor.run(10_000n)

const snapshot: Buffer | undefined = executor.serializeMemory()
const json: string | undefined = executor.snapshotJson()
if (snapshot) executor.deserializeMemory(snapshot)
if (json) executor.deserializeMemory(json)
executor.deserializeMemory(new Uint8Array(8))
executor.deserializeMemory(new ArrayBuffer(8))

const status: 'ready' | 'paused' | 'finished' | 'trapped' | 'running' | 'freed' = executor.status
const used: bigint = executor.gasUsed
const balance: bigint = executor.gasBalance
const size: number = executor.memorySize
const bytes: Buffer = executor.readMemory(0, 16)
executor.writeMemory(0, bytes)
executor.writeMemory(0, new Uint8Array([1, 2, 3]))

const wasi: WasiOptions = {
  args: ['program', 'input'],
  env: { LANG: 'C' },
  stdin: () => (printed.length > 3 ? null : 'more input\n'),
  stdout: (chunk: Buffer) => printed.push(chunk.length),
  clock: 'virtual',
  seed: 42n,
}
const wasiProgram = new Executor(readFileSync('examples/wasi/stdio.wasm'), 256, {}, { wasi })
new Executor(wasm, 16, {}, { wasi: true })
new Executor(wasm, 16, {}, { wasi: { stdin: new Uint8Array(4), seed: 7 } })
const out: Buffer | undefined = wasiProgram.stdout
const err: Buffer | undefined = wasiProgram.stderr
const exitCode: number | undefined = wasiProgram.exitCode

// free() now, or at the end of a scope with `using`.
new Executor(wasm, 16).free()
new Executor(wasm, 16)[Symbol.dispose]()
{
  using scoped = new Executor(wasm, 16)
  scoped.run(1)
}

const compiled: Promise<void> = Executor.precompile(wasm, options)
void compiled.then(() => new Executor(wasm, 16, {}, options).free())

const costs: CostTable = defaultCosts()
const hostCall: number | undefined = costs.hostCall

// @ts-expect-error memLimit is required
new Executor(wasm)
// @ts-expect-error gas is a number or a bigint
executor.run('10')
// @ts-expect-error status is read-only
executor.status = 'ready'
// @ts-expect-error unknown option
new Executor(wasm, 1, {}, { entyr: 'x' })
// @ts-expect-error costs are numbers
new Executor(wasm, 1, {}, { costs: { hostCall: '1' } })
// @ts-expect-error the clock is 'virtual' or 'real'
new Executor(wasm, 1, {}, { wasi: { clock: 'fast' } })
// @ts-expect-error precompile takes the module and the options, not memLimit
void Executor.precompile(wasm, 16)
// @ts-expect-error args are strings
new Executor(wasm, 1, {}, { wasi: { args: [1] } })

export { finished, status, used, balance, size, hostCall, out, err, exitCode }
