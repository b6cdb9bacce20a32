/**
 * Real `weft` processes for multi-process tests: each WeftPeer is launched in
 * the background (the user's path) on 127.0.0.1 with WEFT_TEST_HOOKS=1, its
 * own temp data dir and, unless told otherwise, this test file's cluster key
 * (one per process: testKeyFile()). Call cleanup() from an `after` hook: it
 * kills every process launched here and removes the temp dirs.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ControlClient } from '../../node/api/client.js'
import type { StatusJson } from '../../node/api/types.js'
import { isProcessAlive, readPidFile } from '../../node/data-dir.js'
import { newClusterKey, writeClusterKeyFile } from '../../node/cluster-key.js'

export const WEFT_BIN = fileURLToPath(new URL('../../../bin/weft.js', import.meta.url))
const RUN_TIMEOUT_MS = 60_000

const launchedPids = new Set<number>()
const tempDirs = new Set<string>()

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

/** A TCP port free on 127.0.0.1 right now (the OS picks it). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => { resolve(port) })
    })
  })
}

/** A fresh data dir under the temp dir, removed by cleanup(). Short, so the socket fits. */
export function tempDataDir (prefix = 'weft-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  tempDirs.add(dir)
  return dir
}

let keyDir: string | undefined

/**
 * A new cluster key file (mode 0600, as `weft key --out` writes it) in a temp
 * dir of its own, removed when this process exits (not by cleanup(): a file
 * that calls cleanup() between tests still launches peers with its key).
 */
export function newKeyFile (): string {
  if (keyDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'weft-key-'))
    keyDir = dir
    process.once('exit', () => { rmSync(dir, { recursive: true, force: true }) })
  }
  const file = join(mkdtempSync(join(keyDir, 'k')), 'cluster.key')
  writeClusterKeyFile(file, newClusterKey().text)
  return file
}

let fileKey: string | undefined

/** This test file's cluster key: every WeftPeer uses it unless given another (or `keyFile: null`). */
export function testKeyFile (): string {
  fileKey ??= newKeyFile()
  return fileKey
}

/** Runs `node bin/weft.js ARGS`; never throws on a non-zero exit, only on a hang. */
export async function runWeft (args: string[], env: Record<string, string> = {}, timeoutMs = RUN_TIMEOUT_MS): Promise<RunResult> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, WEFT_TEST_HOOKS: '1', ...env }
  delete childEnv.NODE_TEST_CONTEXT // the test runner's; a child must not report to it
  // Keys are given explicitly (WeftPeer's --key-file): never one from the caller's shell.
  if (env.WEFT_KEY_FILE === undefined) delete childEnv.WEFT_KEY_FILE
  const child = spawn(process.execPath, ['--enable-source-maps', WEFT_BIN, ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`weft ${args.join(' ')} did not finish within ${timeoutMs} ms; stderr: ${stderr.trim()}`))
    }, timeoutMs)
    child.once('error', err => { clearTimeout(timer); reject(err) })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code: code ?? (signal !== null ? 128 : 1), stdout, stderr })
    })
  })
}

export interface WeftPeerOptions {
  nickname: string
  peers?: string[]
  extraArgs?: string[]
  env?: Record<string, string>
  /** Reuse a data dir (default: a new temp dir). */
  dataDir?: string
  port?: number
  /** The cluster key file: default this test file's (testKeyFile()); null launches without a key. */
  keyFile?: string | null
}

export class WeftPeer {
  name = ''
  pid = 0

  private constructor (readonly opts: WeftPeerOptions, readonly dataDir: string, readonly port: number) {}

  static async launch (opts: WeftPeerOptions): Promise<WeftPeer> {
    const peer = new WeftPeer(opts, opts.dataDir ?? tempDataDir(), opts.port ?? await freePort())
    await peer.relaunch()
    return peer
  }

  get nickname (): string {
    return this.opts.nickname
  }

  /** This peer's address on 127.0.0.1, as other peers dial it. */
  get addr (): string {
    return `/ip4/127.0.0.1/tcp/${this.port}`
  }

  /** addr with /p2p/NAME. */
  get fullAddr (): string {
    return `${this.addr}/p2p/${this.name}`
  }

  /** Launches (again) with the same data dir, port and options. */
  async relaunch (): Promise<void> {
    const keyFile = this.opts.keyFile === undefined ? testKeyFile() : this.opts.keyFile
    const args = ['launch', '--listen', `127.0.0.1:${this.port}`, `--nickname=${this.opts.nickname}`,
      ...(keyFile !== null ? ['--key-file', keyFile] : []), ...(this.opts.extraArgs ?? []), ...(this.opts.peers ?? [])]
    const result = await this.run(args)
    if (result.code !== 0) throw new Error(`weft launch (${this.opts.nickname}) exited ${result.code}: ${result.stderr.trim()}`)
    this.name = result.stdout.trim().split(/\s+/)[0] ?? ''
    this.pid = readPidFile(join(this.dataDir, 'weft.pid')) ?? 0
    if (this.pid !== 0) launchedPids.add(this.pid)
  }

  /** `weft COMMAND --data-dir DIR ARGS…` with this peer's environment. */
  async run (args: string[]): Promise<RunResult> {
    const [command, ...rest] = args
    return await runWeft([...(command !== undefined ? [command] : []), '--data-dir', this.dataDir, ...rest], this.opts.env)
  }

  get client (): ControlClient {
    return ControlClient.forDataDir(this.dataDir)
  }

  async status (): Promise<StatusJson> {
    return await this.client.status()
  }

  async testHook (name: string, body: unknown = {}, timeoutMs?: number): Promise<unknown> {
    return await this.client.testHook(name, body, timeoutMs)
  }

  /** `weft stop`; throws unless it exits 0. */
  async stop (): Promise<void> {
    const result = await this.run(['stop'])
    if (result.code !== 0) throw new Error(`weft stop (${this.opts.nickname}) exited ${result.code}: ${result.stderr.trim()}`)
    launchedPids.delete(this.pid)
  }

  /** Signals the daemon and waits (up to 10 s) until it is gone. */
  async kill (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.pid === 0) return
    await killAndWait(this.pid, signal)
    launchedPids.delete(this.pid)
  }

  get running (): boolean {
    return this.pid !== 0 && isProcessAlive(this.pid)
  }
}

async function killAndWait (pid: number, signal: NodeJS.Signals, timeoutMs = 10_000): Promise<void> {
  try {
    process.kill(pid, signal)
  } catch {
    return
  }
  const deadline = Date.now() + timeoutMs
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} still alive ${timeoutMs} ms after ${signal}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** Kills every daemon launched through this module and removes the temp dirs. */
export async function cleanup (): Promise<void> {
  await Promise.all([...launchedPids].map(async pid => { await killAndWait(pid, 'SIGKILL').catch(() => {}) }))
  launchedPids.clear()
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
  tempDirs.clear()
}
