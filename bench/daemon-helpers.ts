/**
 * Helpers for bench/daemon.ts: a bare control-socket status probe (no
 * client-side timeouts or error mapping, so a 5 ms poll stays cheap), a
 * foreground `weft launch` we spawn and time ourselves, VmRSS from /proc,
 * and weft.log scanning for warnings and errors.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import type { StatusJson } from '../node/api/types.js'
import { findSocketPath } from '../node/data-dir.js'
import { WEFT_BIN } from '../test/helpers/weft-process.js'

export const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

export function log (line: string): void {
  process.stderr.write(`bench daemon: ${line}\n`)
}

export function median (xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** Nearest-rank percentile, p in (0, 100]. */
export function percentile (xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p / 100 * s.length) - 1))]!
}

/**
 * GET /status over the data dir's socket: the parsed body when it answered
 * 200, undefined when nothing answers yet (no socket, refused, reset) or it
 * answered something else.
 */
export async function probeStatus (socketPath: string, timeoutMs = 5_000): Promise<StatusJson | undefined> {
  return await new Promise(resolve => {
    let done = false
    const finish = (v: StatusJson | undefined): void => { if (!done) { done = true; clearTimeout(timer); resolve(v) } }
    const req = request({ socketPath, path: '/status', method: 'GET' }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => { chunks.push(c) })
      res.on('error', () => { finish(undefined) })
      res.on('end', () => {
        if (res.statusCode !== 200) { finish(undefined); return }
        try { finish(JSON.parse(Buffer.concat(chunks).toString('utf8')) as StatusJson) } catch { finish(undefined) }
      })
    })
    const timer = setTimeout(() => { req.destroy(); finish(undefined) }, timeoutMs)
    req.on('error', () => { finish(undefined) })
    req.end()
  })
}

export function socketOf (dataDir: string): string {
  return findSocketPath(dataDir)
}

export interface ForegroundPeer {
  child: ChildProcess
  dataDir: string
  /** The child's stdout+stderr (its log lines) go here, appended. */
  logFile: string
  /** Size of logFile when this process started: its own lines follow. */
  logFrom: number
  /** performance.now() just before spawn. */
  spawnedAt: number
}

/**
 * `node --max-semi-space-size=2 bin/weft.js launch --foreground …`, as the
 * background launcher runs it (without --enable-source-maps). Output goes to
 * DATA_DIR/foreground.log (a file, so no pipe can apply backpressure).
 */
export function spawnForeground (opts: { dataDir: string, port: number, nickname: string, peers?: string[], env?: Record<string, string> }): ForegroundPeer {
  const logFile = join(opts.dataDir, 'foreground.log')
  const logFrom = existsSync(logFile) ? statSync(logFile).size : 0
  const fd = openSync(logFile, 'a', 0o600)
  const env: NodeJS.ProcessEnv = { ...process.env, WEFT_TEST_HOOKS: '1', ...(opts.env ?? {}) }
  delete env.WEFT_DAEMONIZED
  const args = ['--max-semi-space-size=2', WEFT_BIN, 'launch', '--foreground', '--data-dir', opts.dataDir,
    '--listen', `127.0.0.1:${opts.port}`, `--nickname=${opts.nickname}`, ...(opts.peers ?? [])]
  const spawnedAt = performance.now()
  let child: ChildProcess
  try {
    child = spawn(process.execPath, args, { env, stdio: ['ignore', fd, fd] })
  } finally {
    closeSync(fd)
  }
  return { child, dataDir: opts.dataDir, logFile, logFrom, spawnedAt }
}

/** SIGTERM (or `signal`) and wait for the exit; SIGKILL after `timeoutMs`. Returns how it ended. */
export async function stopChild (child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<string> {
  if (child.exitCode !== null || child.signalCode !== null) return `already exited (${child.exitCode ?? child.signalCode})`
  const exited = new Promise<string>(resolve => { child.once('exit', (code, sig) => { resolve(sig !== null ? `signal ${sig}` : `code ${code ?? '?'}`) }) })
  child.kill(signal)
  const timer = new Promise<string>(resolve => { setTimeout(() => { resolve('timeout') }, timeoutMs).unref() })
  const how = await Promise.race([exited, timer])
  if (how === 'timeout') {
    child.kill('SIGKILL')
    return `did not exit within ${timeoutMs} ms of ${signal}: ${await exited}`
  }
  return how
}

/** VmRSS of a process in MB (MiB), from /proc/PID/status. */
export function vmRssMb (pid: number): number {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8')
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(text)
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`)
  return Number(m[1]) / 1024
}

/** The text of `file` from byte `from` on ('' when missing). */
export function readFrom (file: string, from = 0): string {
  try {
    return readFileSync(file).subarray(from).toString('utf8')
  } catch {
    return ''
  }
}

export function fileSize (file: string): number {
  try { return statSync(file).size } catch { return 0 }
}

/** Waits until `file` (from byte `from`) has a line matching `re`; returns the line. */
export async function waitForLogLine (file: string, from: number, re: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const line = readFrom(file, from).split('\n').find(l => re.test(l))
    if (line !== undefined) return line
    if (Date.now() > deadline) throw new Error(`no line matching ${re} in ${file} within ${timeoutMs} ms`)
    await sleep(20)
  }
}

/** WARN/ERROR/FATAL lines and uncaught-error traces of a log file, without timestamps. */
export function problemLines (file: string): string[] {
  return readFrom(file).split('\n')
    .filter(l => /\b(WARN|ERROR|FATAL)\b|Error:|Unhandled|uncaught/i.test(l))
    .map(l => l.replace(/^\S+Z\s+/, '').trim())
}

/** Counts of distinct problem lines over several log files (peer ids and numbers folded). */
export function summariseProblems (files: readonly string[]): Array<{ line: string, count: number, files: string[] }> {
  const seen = new Map<string, { line: string, count: number, files: Set<string> }>()
  for (const f of files) {
    for (const l of problemLines(f)) {
      const key = l.replace(/12D3Koo\w+/g, 'PEER').replace(/\d+/g, 'N').slice(0, 200)
      const e = seen.get(key) ?? { line: l.slice(0, 300), count: 0, files: new Set<string>() }
      e.count++
      e.files.add(f)
      seen.set(key, e)
    }
  }
  return [...seen.values()].map(e => ({ line: e.line, count: e.count, files: [...e.files] })).sort((a, b) => b.count - a.count)
}
