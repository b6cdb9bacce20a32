/**
 * `weft launch` without --foreground: start `weft launch --foreground` as a
 * detached child whose output appends to DATA_DIR/weft.log, and return once
 * it is listening. The child says so over an IPC channel from its onReady
 * (the control socket alone is not enough: it answers while the log loads).
 */
import { spawn } from 'node:child_process'
import { closeSync, openSync, readSync, rmSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { StatusJson } from './api/types.js'
import { ControlClient, formatSeconds } from './api/client.js'
import { dataDirPaths, ensureDataDir, readPidFile } from './data-dir.js'

export const LAUNCH_TIMEOUT_MS = 30_000
const LOG_TAIL_LINES = 10

/** What the foreground child sends its launcher once ready. */
export interface ReadyMessage {
  type: 'weft-ready'
  name: string
  nickname: string
}

export function isReadyMessage (m: unknown): m is ReadyMessage {
  return typeof m === 'object' && m !== null && (m as ReadyMessage).type === 'weft-ready'
}

export class LaunchError extends Error {
  override name = 'LaunchError'
}

export interface BackgroundLaunchOptions {
  dataDir: string
  /** `launch` options and PEERs, without `--foreground`. */
  args: string[]
  env?: NodeJS.ProcessEnv
  timeoutMs?: number
}

const weftBin = fileURLToPath(new URL('../../bin/weft.js', import.meta.url))

export async function launchInBackground (opts: BackgroundLaunchOptions): Promise<StatusJson> {
  const timeoutMs = opts.timeoutMs ?? LAUNCH_TIMEOUT_MS
  const paths = dataDirPaths(opts.dataDir, opts.env)
  ensureDataDir(opts.dataDir)
  const logFd = openSync(paths.log, 'a', 0o600)
  const logStart = statSync(paths.log).size
  // A small young generation: a daemon's allocations are short-lived and
  // small, and V8's default semi-spaces are mostly slack (~40 MB of RSS).
  const nodeArgs = [...process.execArgv.filter(a => a === '--enable-source-maps'), '--max-semi-space-size=2']
  let child
  try {
    child = spawn(process.execPath, [...nodeArgs, weftBin, 'launch', '--foreground', ...opts.args], {
      detached: true,
      cwd: opts.dataDir,
      env: { ...(opts.env ?? process.env), WEFT_DAEMONIZED: '1' },
      stdio: ['ignore', logFd, logFd, 'ipc']
    })
  } finally {
    closeSync(logFd)
  }
  const pid = child.pid ?? 0

  const outcome = await new Promise<{ ready: true } | { ready: false, error: Error }>(resolve => {
    const timer = setTimeout(() => {
      resolve({ ready: false, error: new LaunchError(`the peer (pid ${pid}) did not become ready within ${formatSeconds(timeoutMs)}; it may still be starting: see ${paths.log}`) })
    }, timeoutMs)
    const done = (result: { ready: true } | { ready: false, error: Error }): void => { clearTimeout(timer); resolve(result) }
    child.on('message', m => { if (isReadyMessage(m)) done({ ready: true }) })
    child.once('error', err => { done({ ready: false, error: new LaunchError(`cannot start the peer: ${err.message}`) }) })
    child.once('exit', (code, signal) => {
      // A child killed by a signal (SIGBUS, SIGKILL) could not remove its pid file.
      if (readPidFile(paths.pid) === pid) rmSync(paths.pid, { force: true })
      const how = signal !== null ? `signal ${signal}` : `exit code ${code ?? '?'}`
      done({ ready: false, error: exitError(how, readLogTail(paths.log, logStart), paths.log) })
    })
  })
  child.removeAllListeners()
  if (child.connected) child.disconnect()
  child.unref()
  if (!outcome.ready) throw outcome.error
  return await new ControlClient({ socketPath: paths.socket, dataDir: opts.dataDir }).status()
}

/**
 * One line (the contract for every error): the child's own `weft: …` error,
 * else its last ERROR line. The rest of what it logged stays in the log file.
 */
function exitError (how: string, tail: string[], logPath: string): LaunchError {
  const cause = [...tail].reverse().find(l => l.startsWith('weft: ')) ??
    [...tail].reverse().find(l => /\b(ERROR|FATAL)\b/.test(l)) ?? tail.at(-1)
  return new LaunchError(`the peer exited during launch (${how})` + (cause !== undefined ? `: ${cause.replace(/^weft: /, '')}` : `; see ${logPath}`))
}

/** The last lines the child wrote to the log (from `from`, so older runs do not show). */
function readLogTail (file: string, from: number): string[] {
  try {
    const size = statSync(file).size
    const start = Math.max(from, size - 64 * 1024)
    const buf = Buffer.alloc(size - start)
    const fd = openSync(file, 'r')
    try {
      readSync(fd, buf, 0, buf.length, start)
    } finally {
      closeSync(fd)
    }
    return buf.toString('utf8').split('\n').map(l => l.trimEnd())
      .filter(l => l !== '' && !/^\s+at \S/.test(l)).slice(-LOG_TAIL_LINES)
  } catch {
    return []
  }
}
