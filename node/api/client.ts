/**
 * The CLI's side of the control API: JSON requests over the data dir's unix
 * socket, each with a timeout and a one-line error.
 */
import { request as httpRequest, type ClientRequestArgs } from 'node:http'
import { connect } from 'node:net'
import type { DaemonApi, ResetJson, RmpeerResultJson, StatusJson } from './types.js'
import type { Allocation } from '../allocator/types.js'
import { findSocketPath } from '../data-dir.js'
import { checkSocketOwner } from './socket-dir.js'
import type { AllocRequest, ClaimRequest, CopyStoresRequest, PeersRequest, ReleaseRequest, ResetRequest, ResolveRequest, RmpeerRequest } from '../messages.js'

const DEFAULT_TIMEOUT_MS = 10_000
/** `alloc` may wait for readiness and for a donation (~35 s) before answering. */
export const ALLOC_TIMEOUT_MS = 40_000
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024

/** No daemon answers on the data dir's socket (CLI.md: `weft: no peer running in DIR`). */
export class NoPeerRunningError extends Error {
  override name = 'NoPeerRunningError'
  readonly code = 'no-peer'
  constructor (readonly dataDir: string) {
    super(`no peer running in ${dataDir}`)
  }
}

/** The daemon answered with an error, or could not be talked to. */
export class ControlRequestError extends Error {
  override name = 'ControlRequestError'
  constructor (message: string, readonly code: string, readonly status?: number) {
    super(message)
  }
}

export interface RequestOptions {
  timeoutMs?: number
}

export type WaitReadyResult = Awaited<ReturnType<DaemonApi['waitReady']>>

export class ControlClient {
  readonly socketPath: string
  readonly dataDir: string
  readonly timeoutMs: number

  constructor (opts: { socketPath: string, dataDir: string, timeoutMs?: number }) {
    this.socketPath = opts.socketPath
    this.dataDir = opts.dataDir
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
  }

  static forDataDir (dataDir: string, env: NodeJS.ProcessEnv = process.env): ControlClient {
    return new ControlClient({ socketPath: findSocketPath(dataDir, env), dataDir })
  }

  async status (): Promise<StatusJson> {
    return await this.request<StatusJson>('GET', '/status')
  }

  async connect (peers: string[]): Promise<void> {
    await this.request('POST', '/connect', { peers } satisfies PeersRequest)
  }

  async forget (peers: string[]): Promise<void> {
    await this.request('POST', '/forget', { peers } satisfies PeersRequest)
  }

  /** Has the daemon copy its stores into `dir` (absolute, existing, empty). */
  async copyStores (dir: string, opts: RequestOptions = {}): Promise<{ files: string[] }> {
    return await this.request<{ files: string[] }>('POST', '/copy-stores', { dir } satisfies CopyStoresRequest, opts)
  }

  /** Long-polls; the server caps one poll at 10 minutes. */
  async waitReady (timeoutMs: number): Promise<WaitReadyResult> {
    const ms = Math.max(0, Math.round(timeoutMs))
    return await this.request<WaitReadyResult>('GET', `/wait-ready?timeout=${ms}`, undefined, { timeoutMs: ms + DEFAULT_TIMEOUT_MS })
  }

  async stop (): Promise<void> {
    await this.request('POST', '/stop')
  }

  /** Allocates an address for ID (idempotent per ID and subnet). */
  async alloc (id: string, subnet?: string): Promise<Allocation> {
    return await this.request<Allocation>('POST', '/alloc', (subnet === undefined ? { id } : { id, subnet }) satisfies AllocRequest, { timeoutMs: ALLOC_TIMEOUT_MS })
  }

  /** Records ID as the holder of ADDRESS (the prefix, when given, names the subnet). */
  async claim (id: string, address: string, prefix?: number): Promise<Allocation> {
    return await this.request<Allocation>('POST', '/claim', (prefix === undefined ? { id, address } : { id, address, prefix }) satisfies ClaimRequest, { timeoutMs: ALLOC_TIMEOUT_MS })
  }

  /** Frees ID's addresses (or only ADDRESS); returns what was freed. */
  async release (id: string, address?: string): Promise<Allocation[]> {
    const res = await this.request<{ released: Allocation[] }>('POST', '/release', (address === undefined ? { id } : { id, address }) satisfies ReleaseRequest, { timeoutMs: ALLOC_TIMEOUT_MS })
    return this.listIn(res, 'released', 'POST /release')
  }

  /** Takes peers over (a quorum vote each, unless `force` in a minority). */
  async rmpeer (peers: string[], force: boolean): Promise<RmpeerResultJson[]> {
    const res = await this.request<{ results: RmpeerResultJson[] }>('POST', '/rmpeer', { peers, force } satisfies RmpeerRequest, { timeoutMs: ALLOC_TIMEOUT_MS })
    return res.results
  }

  async resolve (dispute: string, owner?: string): Promise<{ id: string, dispute: string, owner: string }> {
    return await this.request('POST', '/resolve', (owner === undefined ? { dispute } : { dispute, owner }) satisfies ResolveRequest, { timeoutMs: ALLOC_TIMEOUT_MS })
  }

  /** Waits for the handover's confirmation (up to 30 s on the daemon's side). */
  async reset (force: boolean): Promise<ResetJson> {
    return await this.request('POST', '/reset', { force } satisfies ResetRequest, { timeoutMs: ALLOC_TIMEOUT_MS })
  }

  async allocations (): Promise<Allocation[]> {
    const res = await this.request<{ allocations: Allocation[] }>('GET', '/allocations', undefined, { timeoutMs: ALLOC_TIMEOUT_MS })
    return this.listIn(res, 'allocations', 'GET /allocations')
  }

  /**
   * Streams every event the peer adopts from now on (one parsed JSON row per
   * call) until the peer stops or `signal` aborts. Resolves when it ends.
   */
  async followEvents (onRow: (row: unknown) => void, signal?: AbortSignal): Promise<void> {
    checkSocketOwner(this.socketPath)
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest({ ...this.connection(), path: '/events', method: 'GET', ...(signal !== undefined ? { signal } : {}) }, res => {
        if (res.statusCode !== 200) {
          let text = ''
          res.on('data', (c: Buffer) => { text += c.toString() })
          res.on('end', () => { reject(this.transportError(new Error(`status ${res.statusCode ?? '?'}: ${text.slice(0, 200)}`), 'GET /events')) })
          return
        }
        let buffered = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          buffered += chunk
          let nl
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl)
            buffered = buffered.slice(nl + 1)
            if (line.trim() !== '') onRow(JSON.parse(line))
          }
        })
        res.on('end', () => { resolve() })
        res.on('error', () => { resolve() })
      })
      req.on('error', err => {
        if ((err as Error).name === 'AbortError') resolve()
        else reject(this.transportError(err, 'GET /events'))
      })
      req.end()
    })
  }

  private listIn<K extends string> (res: Record<K, Allocation[]>, field: K, what: string): Allocation[] {
    const list = (res as Record<string, unknown> | null)?.[field]
    if (!Array.isArray(list)) throw new ControlRequestError(`the peer in ${this.dataDir} sent a malformed answer to ${what} (no "${field}" list)`, 'bad-response')
    return list as Allocation[]
  }

  async testHook (name: string, body: unknown, timeoutMs?: number): Promise<unknown> {
    return await this.request('POST', `/test/${encodeURIComponent(name)}`, body ?? {}, timeoutMs !== undefined ? { timeoutMs } : {})
  }

  async request<T = unknown> (method: 'GET' | 'POST', path: string, body?: unknown, opts: RequestOptions = {}): Promise<T> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const what = `${method} ${path.split('?')[0] ?? path}`
    // Before anything is sent: a socket that another user owns, or could have replaced, gets no request.
    checkSocketOwner(this.socketPath)
    return await new Promise<T>((resolve, reject) => {
      let settled = false
      const finish = (err: Error | undefined, value?: T): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        if (err !== undefined) reject(err)
        else resolve(value as T)
      }
      const req = httpRequest({
        ...this.connection(),
        path,
        method,
        headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
      }, res => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > MAX_RESPONSE_BYTES) {
            finish(new ControlRequestError(`response to ${what} from the peer in ${this.dataDir} is over ${MAX_RESPONSE_BYTES} bytes`, 'response-too-large'))
            req.destroy()
          } else {
            chunks.push(chunk)
          }
        })
        res.on('error', err => { finish(this.transportError(err, what)) })
        res.on('end', () => {
          try {
            finish(undefined, this.decode<T>(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), what))
          } catch (err) {
            finish(err as Error)
          }
        })
      })
      const timer = setTimeout(() => {
        finish(new ControlRequestError(`the peer in ${this.dataDir} did not answer ${what} within ${formatSeconds(timeoutMs)}`, 'timeout'))
        req.destroy()
      }, timeoutMs)
      req.on('error', err => { finish(this.transportError(err, what)) })
      req.end(payload)
    })
  }

  /**
   * One connection per request, straight to the socket: the default agent
   * would work out a TLS server name for it first, whose address regexes cost
   * ~5 ms of a CLI run's first request (bench `cli`). Errors are the socket's,
   * as with `socketPath`.
   */
  private connection (): Pick<ClientRequestArgs, 'createConnection'> {
    return { createConnection: () => connect(this.socketPath) }
  }

  private decode<T> (status: number, text: string, what: string): T {
    let json: unknown
    try {
      json = text === '' ? {} : JSON.parse(text)
    } catch {
      throw new ControlRequestError(`the peer in ${this.dataDir} sent a malformed answer to ${what} (HTTP ${status})`, 'bad-response', status)
    }
    if (status >= 200 && status < 300) return json as T
    const error = (json as { error?: { message?: unknown, code?: unknown } } | null)?.error
    const message = typeof error?.message === 'string' ? error.message : `${what} failed with HTTP ${status}`
    throw new ControlRequestError(message, typeof error?.code === 'string' ? error.code : 'http-error', status)
  }

  private transportError (err: Error, what: string): Error {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ECONNREFUSED') return new NoPeerRunningError(this.dataDir)
    if (code === 'EACCES') {
      return new ControlRequestError(`cannot open control socket ${this.socketPath}: permission denied (is the peer run by another user?)`, 'permission-denied')
    }
    if (code === 'ECONNRESET' || code === 'EPIPE' || err.message === 'socket hang up') {
      return new ControlRequestError(`the peer in ${this.dataDir} closed the connection during ${what} (stopping or crashed?)`, 'connection-reset')
    }
    return new ControlRequestError(`control socket ${this.socketPath}: ${err.message}`, code ?? 'transport')
  }
}

export function formatSeconds (ms: number): string {
  const s = ms / 1000
  return `${Number.isInteger(s) ? s : s.toFixed(1)}s`
}
