/**
 * The data dir (DESIGN.md §4): where a peer keeps its identity, store, control
 * socket, pid file and log. One running daemon per data dir, enforced by the
 * pid file.
 */
import { createHash } from 'node:crypto'
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { WeftError } from '../crdt/errors.js'

export interface DataDirPaths {
  dir: string
  identity: string
  store: string
  /** The local allocations (node/allocator/store.ts). */
  allocations: string
  /** The control socket clients should use (DATA_DIR/weft.sock unless that is too long). */
  socket: string
  /** Written when the socket falls back outside the data dir, so clients find it. */
  socketPathFile: string
  pid: string
  log: string
}

/** Usable bytes in a unix socket path (sun_path is 108 bytes including the NUL). */
export const MAX_SOCKET_PATH_BYTES = 107

export type DataDirErrorCode = 'io' | 'socket-path'

export class DataDirError extends WeftError<DataDirErrorCode> {
  override name = 'DataDirError'
  constructor (message: string, code: DataDirErrorCode = 'io', options?: ErrorOptions) {
    super(code, message, options)
  }
}

export class PeerAlreadyRunningError extends WeftError<'running'> {
  override name = 'PeerAlreadyRunningError'
  constructor (readonly dir: string, readonly pid: number) {
    super('running', `a peer is already running in ${dir} (pid ${pid})`)
  }
}

/**
 * `--data-dir`, else $WEFT_DATA_DIR, else $XDG_DATA_HOME/weft, else
 * ~/.local/share/weft (/var/lib/weft for root when neither XDG_DATA_HOME nor
 * WEFT_DATA_DIR is set). Always returned absolute: a daemonized child may not
 * share the caller's working directory.
 */
export function resolveDataDir (opt?: string, env: NodeJS.ProcessEnv = process.env, isRoot = process.getuid?.() === 0): string {
  const given = nonEmpty(opt) ?? nonEmpty(env.WEFT_DATA_DIR)
  if (given !== undefined) return resolve(given)
  const xdg = nonEmpty(env.XDG_DATA_HOME)
  if (xdg !== undefined) return resolve(xdg, 'weft')
  if (isRoot) return '/var/lib/weft'
  return join(nonEmpty(env.HOME) ?? homedir(), '.local', 'share', 'weft')
}

function nonEmpty (s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s
}

export function dataDirPaths (dir: string, env: NodeJS.ProcessEnv = process.env): DataDirPaths {
  return {
    dir,
    identity: join(dir, 'identity.key'),
    store: join(dir, 'store.mdb'),
    allocations: join(dir, 'allocations.mdb'),
    socket: chooseSocketPath(dir, env),
    socketPathFile: join(dir, 'weft.sock.path'),
    pid: join(dir, 'weft.pid'),
    log: join(dir, 'weft.log')
  }
}

/**
 * DATA_DIR/weft.sock when it fits the unix limit, else a name derived from the
 * data dir in weft-UID, this user's own 0700 directory under $XDG_RUNTIME_DIR
 * (or the temp dir, where anyone could otherwise plant a socket by that name:
 * node/api/socket-dir.ts). Deterministic, so a client with the same
 * environment computes the same path even without weft.sock.path.
 */
export function chooseSocketPath (dir: string, env: NodeJS.ProcessEnv = process.env, uid = process.geteuid?.()): string {
  const inDir = join(dir, 'weft.sock')
  if (Buffer.byteLength(inDir) <= MAX_SOCKET_PATH_BYTES) return inDir
  const digest = createHash('sha256').update(dir).digest('hex').slice(0, 16)
  const fallback = join(nonEmpty(env.XDG_RUNTIME_DIR) ?? tmpdir(), `weft-${uid ?? 'user'}`, `weft-${digest}.sock`)
  if (Buffer.byteLength(fallback) > MAX_SOCKET_PATH_BYTES) {
    throw new DataDirError(`control socket path ${fallback} is longer than ${MAX_SOCKET_PATH_BYTES} bytes; use a shorter data dir or XDG_RUNTIME_DIR`, 'socket-path')
  }
  return fallback
}

/** The socket a client should dial: the path the daemon published, else the computed one. */
export function findSocketPath (dir: string, env: NodeJS.ProcessEnv = process.env): string {
  const paths = dataDirPaths(dir, env)
  if (paths.socket === join(dir, 'weft.sock')) return paths.socket
  try {
    const published = readFileSync(paths.socketPathFile, 'utf8').trim()
    if (published !== '') return published
  } catch {}
  return paths.socket
}

/** Records a fallback socket path for clients; removes a stale record when not needed. */
export function publishSocketPath (paths: DataDirPaths): void {
  if (paths.socket === join(paths.dir, 'weft.sock')) {
    rmSync(paths.socketPathFile, { force: true })
    return
  }
  const tmp = `${paths.socketPathFile}.tmp-${process.pid}`
  writeFileSync(tmp, paths.socket + '\n', { mode: 0o600 })
  renameSync(tmp, paths.socketPathFile)
}

/**
 * The files an LMDB store leaves in a data dir once a peer has launched
 * there: the two stores and their lock files (which outlive a deleted store).
 */
export const STORE_TRACES = ['store.mdb', 'store.mdb-lock', 'allocations.mdb', 'allocations.mdb-lock'] as const

/** Which of STORE_TRACES the data dir holds: a peer ran here when any does. */
export function storeTraces (dir: string): string[] {
  return STORE_TRACES.filter(name => {
    try {
      statSync(join(dir, name))
      return true
    } catch (err) {
      // Unreadable is not absent: count it, so that nothing is created beside it.
      return (err as NodeJS.ErrnoException).code !== 'ENOENT' && (err as NodeJS.ErrnoException).code !== 'ENOTDIR'
    }
  })
}

/** Creates the data dir (mode 0700) if missing. */
export function ensureDataDir (dir: string): void {
  makeDirs(dir, 0o700, 'data dir')
}

/**
 * `mkdir -p` that always ends. Node's recursive mkdir loops forever where
 * mkdir says ENOENT although the parent exists (`/proc/nope`: Node 20 retries
 * the parent, finds it, and retries the child, for ever); here every
 * component is created once, top down, and any refusal is an error.
 */
export function makeDirs (dir: string, mode: number, what = 'directory'): void {
  const fail = (err: unknown): never => {
    throw new DataDirError(`cannot create ${what} ${dir}: ${(err as Error).message}`, 'io', { cause: err })
  }
  const absolute = resolve(dir)
  const missing: string[] = []
  for (let d = absolute; ; d = dirname(d)) {
    let isDir: boolean
    try {
      isDir = statSync(d).isDirectory()
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') fail(err)
      if (dirname(d) === d) fail(err)
      missing.push(d)
      continue
    }
    if (!isDir) fail(new Error(`${d} is not a directory`))
    break
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d, { mode })
    } catch (err) {
      // Made meanwhile by another process: fine if it is a directory.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !isDirectory(d)) fail(err)
    }
  }
}

function isDirectory (path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

/**
 * The pid in DIR/weft.pid if a live weft daemon holds it. A pid file outlives
 * a daemon killed with SIGKILL (or SIGBUS), and its pid may then be reused by
 * any process: one that is not a weft daemon does not count.
 */
export function runningPid (dir: string): number | undefined {
  const pid = readPidFile(join(dir, 'weft.pid'))
  return pid !== undefined && isProcessAlive(pid) && isWeftDaemon(pid) ? pid : undefined
}

/**
 * Whether a live process looks like a weft daemon: its command line runs
 * weft (bin/weft.js, or an installed `weft`) with `launch`. Without /proc
 * (not Linux) nothing tells, so any live process counts, as before.
 */
export function isWeftDaemon (pid: number): boolean {
  let cmdline: string
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    // ENOENT with /proc present: the process just went away.
    return !(code === 'ENOENT' && isDirectory('/proc/self'))
  }
  const args = cmdline.split('\0')
  return args.some((a, i) => /^weft(\.js)?$/.test(basename(a)) && args[i + 1] === 'launch')
}

export function readPidFile (file: string): number | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
  const pid = Number(text.trim())
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
}

export function isProcessAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    // EPERM: it exists but belongs to someone else; still alive.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
  return !isZombie(pid)
}

/**
 * A process that exited but was not reaped still answers kill(pid, 0). That
 * happens to detached daemons where PID 1 does not reap (some containers).
 */
function isZombie (pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')
  } catch {
    return false // no /proc (not Linux), or it vanished: trust kill(pid, 0)
  }
}

/**
 * Takes DIR/weft.pid for this process (exclusive create). A file left by a dead process
 * is replaced; a live one is a PeerAlreadyRunningError. Returns the release,
 * which removes the file only while it still names this process.
 */
export function acquirePidLock (dir: string, pid = process.pid): () => void {
  ensureDataDir(dir)
  const file = join(dir, 'weft.pid')
  for (let attempt = 0; attempt < 3; attempt++) {
    // link() is the exclusive create; the file appears with its content, so a
    // concurrent reader never sees an empty pid file and calls it stale.
    const tmp = `${file}.${pid}.tmp`
    try {
      writeFileSync(tmp, `${pid}\n`, { mode: 0o644 })
      linkSync(tmp, file)
      return () => {
        if (readPidFile(file) === pid) rmSync(file, { force: true })
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new DataDirError(`cannot create pid file ${file}: ${(err as Error).message}`)
      }
    } finally {
      rmSync(tmp, { force: true })
    }
    const holder = readPidFile(file)
    if (holder !== undefined && holder !== pid && isProcessAlive(holder) && isWeftDaemon(holder)) throw new PeerAlreadyRunningError(dir, holder)
    // Stale (dead holder, not a weft daemon, unreadable, or this pid from an earlier run): remove it
    // unless another process replaced it meanwhile, then retry the exclusive create.
    if (readPidFile(file) === holder) rmSync(file, { force: true })
  }
  throw new DataDirError(`cannot take pid file ${file}: another process keeps recreating it`)
}
