/**
 * The control API (DESIGN.md §4): HTTP/JSON on DATA_DIR/weft.sock, mode 0600.
 * Routes live in one table; a route validates its input, calls the DaemonApi
 * and returns JSON. Errors are `{ error: { message, code } }` with an HTTP
 * status; no input can crash the server.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { connect } from 'node:net'
import { chmodSync, lstatSync, rmSync } from 'node:fs'
import type { DaemonApi } from './types.js'
import type { AllocErrorCode, AllocatorApi } from '../allocator/types.js'
import { errorCode, WeftError } from '../../crdt/errors.js'
import { silentLogger, type Logger } from '../logger.js'
import { allocIdProblem } from './alloc-id.js'
import { prepareSocketDir } from './socket-dir.js'
import { MAX_KNOWN_ADDRESSES } from '../log-service/types.js'
import { MAX_ADDRESS_CHARS, PeerAddrError, peerToMultiaddr } from '../peer-addr.js'
import { printable } from '../../packages/printable/index.js'
import { allocRequestShape, claimRequestShape, copyStoresRequestShape, peersRequestShape, releaseRequestShape, resetRequestShape, resolveRequestShape, rmpeerRequestShape } from '../messages.js'
import { checkShape, ShapeError, type Shape } from '../shape.js'

export { allocIdProblem, MAX_ALLOC_ID_CHARS } from './alloc-id.js'

export const MAX_BODY_BYTES = 1024 * 1024
/** A full list of addresses, escaped, with room to spare. */
const ADDRESS_LIST_BYTES = MAX_KNOWN_ADDRESSES * (MAX_ADDRESS_CHARS + 16) * 2
export const MAX_WAIT_READY_MS = 10 * 60_000
const DEFAULT_WAIT_READY_MS = 60_000
const CLOSE_GRACE_MS = 2_000

/** A route's answer that is not JSON (Prometheus text). */
export class TextResponse {
  constructor (readonly contentType: string, readonly body: string) {}
}

/**
 * A route's answer that stays open: `start` gets a writer and a way to learn
 * when the client goes away (history --follow).
 */
export class StreamResponse {
  constructor (readonly contentType: string, readonly start: (write: (chunk: string) => void, onClose: (fn: () => void) => void) => void) {}
}

/** Throw from a route (or the DaemonApi) to answer with a given status and code. */
export class ControlApiError extends WeftError {
  override name = 'ControlApiError'
  constructor (message: string, code = 'bad-request', readonly status = 400) {
    super(code, message)
  }
}

export interface RouteRequest {
  api: DaemonApi
  params: Record<string, string>
  query: URLSearchParams
  body: unknown
}

export interface Route {
  method: 'GET' | 'POST'
  /** Literal segments and `:name` parameters, e.g. `/test/:name`. */
  path: string
  /** A smaller body limit than MAX_BODY_BYTES. */
  maxBodyBytes?: number
  handle: (req: RouteRequest) => Promise<unknown>
}

export const routes: Route[] = [
  { method: 'GET', path: '/status', handle: async ({ api }) => api.status() },
  {
    method: 'POST',
    path: '/connect',
    maxBodyBytes: ADDRESS_LIST_BYTES,
    handle: async ({ api, body }) => {
      const addrs = addressList(body, text => peerToMultiaddr(text, 'address'))
      try {
        await api.connect(addrs)
      } catch (err) {
        throw asControlError(err)
      }
      return {}
    }
  },
  {
    method: 'POST',
    path: '/forget',
    maxBodyBytes: ADDRESS_LIST_BYTES,
    // Any address is forgotten, valid or not: it may have been stored before addresses were checked.
    handle: async ({ api, body }) => { await api.forget(addressList(body, text => { try { return peerToMultiaddr(text, 'address') } catch { return text } })); return {} }
  },
  {
    method: 'GET',
    path: '/wait-ready',
    handle: async ({ api, query }) => await api.waitReady(waitTimeout(query.get('timeout')))
  },
  { method: 'POST', path: '/stop', handle: async ({ api }) => { await api.stop(); return { stopping: true } } },
  {
    method: 'POST',
    path: '/copy-stores',
    handle: async ({ api, body }) => {
      const { dir } = bodyOf(body, copyStoresRequestShape, '{"dir": ABSOLUTE_PATH}')
      if (api.copyStores === undefined) throw new ControlApiError('this daemon cannot copy its stores', 'not-found', 404)
      return await api.copyStores(dir)
    }
  },
  {
    method: 'POST',
    path: '/alloc',
    handle: async ({ api, body }) => {
      const b = bodyOf(body, allocRequestShape, '{"id": ID, "subnet"?: CIDR}')
      const id = allocId(b.id)
      return await allocCall(api, async a => await a.alloc(id, b.subnet))
    }
  },
  {
    method: 'POST',
    path: '/claim',
    handle: async ({ api, body }) => {
      const b = bodyOf(body, claimRequestShape, '{"id": ID, "address": ADDRESS, "prefix"?: N}')
      const id = allocId(b.id)
      return await allocCall(api, async a => await a.claim(id, b.address, b.prefix))
    }
  },
  {
    method: 'POST',
    path: '/release',
    handle: async ({ api, body }) => {
      const b = bodyOf(body, releaseRequestShape, '{"id": ID, "address"?: ADDRESS}')
      const id = allocId(b.id)
      return { released: await allocCall(api, async a => await a.release(id, b.address)) }
    }
  },
  {
    method: 'GET',
    path: '/allocations',
    handle: async ({ api }) => ({ allocations: await allocCall(api, async a => a.list()) })
  },
  {
    method: 'POST',
    path: '/rmpeer',
    handle: async ({ api, body }) => {
      const b = bodyOf(body, rmpeerRequestShape, '{"peers": [names], "force"?: boolean}')
      return { results: await lifecycleCall(api.rmpeer?.bind(api), async f => await f(b.peers, b.force === true)) }
    }
  },
  {
    method: 'POST',
    path: '/resolve',
    handle: async ({ api, body }) => {
      const b = bodyOf(body, resolveRequestShape, '{"dispute": id, "owner"?: name}')
      return await lifecycleCall(api.resolve?.bind(api), async f => await f(b.dispute, b.owner))
    }
  },
  {
    method: 'POST',
    path: '/reset',
    handle: async ({ api, body }) => await lifecycleCall(api.reset?.bind(api), async f => await f(bodyOf(body ?? {}, resetRequestShape, '{"force"?: boolean}').force === true))
  },
  {
    method: 'GET',
    path: '/metrics',
    handle: async ({ api }) => {
      if (api.metrics === undefined) throw new ControlApiError('not found: no metrics here', 'not-found', 404)
      return new TextResponse('text/plain; version=0.0.4; charset=utf-8', await api.metrics())
    }
  },
  {
    method: 'GET',
    path: '/events',
    handle: async ({ api }) => {
      const follow = api.followEvents?.bind(api)
      if (follow === undefined) throw new ControlApiError('not found: no event stream here', 'not-found', 404)
      // One JSON object per line, for every event this peer adopts from now on.
      return new StreamResponse('application/x-ndjson', (write, onClose) => {
        const stop = follow(row => { write(JSON.stringify(row) + '\n') })
        onClose(stop)
      })
    }
  },
  {
    method: 'POST',
    path: '/test/:name',
    handle: async ({ api, params, body }) => {
      if (api.testHook === undefined) throw new ControlApiError('not found: test hooks are off (WEFT_TEST_HOOKS=1)', 'not-found', 404)
      return (await api.testHook(params.name ?? '', body)) ?? {}
    }
  }
]

/**
 * `weft connect`'s and `weft forget`'s addresses: a bounded list of bounded
 * strings, each made a multiaddr by `parse` (HOST:PORT forms included); a bad
 * one is a 400 saying which and why, its text escaped.
 */
function addressList (body: unknown, parse: (text: string) => string): string[] {
  const list = bodyOf(body, peersRequestShape, '{"peers": [non-empty strings]}').peers
  if (list.length > MAX_KNOWN_ADDRESSES) throw new ControlApiError(`at most ${MAX_KNOWN_ADDRESSES} addresses at once, got ${list.length}`, 'invalid-address')
  return list.map(text => {
    if (text.length > MAX_ADDRESS_CHARS) throw new ControlApiError(`invalid address "${printable(text.slice(0, 80))}…": longer than ${MAX_ADDRESS_CHARS} characters`, 'invalid-address')
    try {
      return parse(text)
    } catch (err) {
      if (err instanceof PeerAddrError) throw new ControlApiError(err.message, err.code)
      throw err
    }
  })
}

/**
 * A request body checked against its schema (node/messages.ts, which the
 * client's calls are typed by); a body that does not fit is a 400 naming
 * the form it must have.
 */
function bodyOf<T> (body: unknown, shape: Shape<T>, usage: string): T {
  try {
    return checkShape(body, shape)
  } catch (err) {
    if (err instanceof ShapeError) throw new ControlApiError(`body must be ${usage}`)
    throw err
  }
}

function allocId (value: unknown): string {
  const problem = allocIdProblem(value)
  if (problem !== undefined) throw new ControlApiError(`invalid ID: ${problem}`)
  return value as string
}


/**
 * Error codes as HTTP, one table for every weft error that reaches the
 * control API (DESIGN.md §6): the caller's conflict (409), bad input (400),
 * not possible now (503). The CLI prints any of them as one line, exit 1.
 */
export const ERROR_STATUS: Record<AllocErrorCode | 'refused' | 'too-many-addresses', number> = {
  refused: 409,
  'in-use': 409,
  'owned-elsewhere': 409,
  disputed: 409,
  removed: 409,
  leaving: 409,
  'read-only': 409,
  'too-many-addresses': 409,
  'bad-request': 400,
  'out-of-range': 400,
  'not-ready': 503,
  'no-space': 503,
  'no-cluster': 503
}

async function allocCall<T> (api: DaemonApi, call: (allocator: AllocatorApi) => Promise<T>): Promise<T> {
  if (api.allocator === undefined) {
    throw new ControlApiError('not found: this peer has no allocator, so it cannot allocate addresses', 'not-found', 404)
  }
  try {
    return await call(api.allocator)
  } catch (err) {
    throw asControlError(err)
  }
}

/**
 * A weft error with a code the table knows (thrown here, or crossing from
 * the log worker as {name, code, message}) as the control API's answer.
 */
function asControlError (err: unknown): unknown {
  const code = errorCode(err)
  if (err instanceof ControlApiError || code === undefined || !(code in ERROR_STATUS)) return err
  return new ControlApiError((err as Error).message, code, ERROR_STATUS[code as keyof typeof ERROR_STATUS])
}

/** Lifecycle refusals (LifecycleError, a refused append) are the caller's to fix: 409 with their reason. */
async function lifecycleCall<F, T> (fn: F | undefined, call: (f: F) => Promise<T>): Promise<T> {
  if (fn === undefined) throw new ControlApiError('not found: this peer does not support that command', 'not-found', 404)
  try {
    return await call(fn)
  } catch (err) {
    throw asControlError(err)
  }
}

function waitTimeout (text: string | null): number {
  if (text === null) return DEFAULT_WAIT_READY_MS
  const ms = Number(text)
  if (text === '' || !Number.isFinite(ms) || ms < 0) throw new ControlApiError(`timeout must be milliseconds >= 0, got "${text}"`)
  return Math.min(Math.floor(ms), MAX_WAIT_READY_MS)
}

export interface ControlServer {
  close: () => Promise<void>
}

export async function startControlServer (socketPath: string, api: DaemonApi, logger: Logger = silentLogger, table: Route[] = routes): Promise<ControlServer> {
  const log = logger.forComponent('weft:control')
  const tightened = prepareSocketDir(socketPath)
  if (tightened !== undefined) log.warn(tightened)
  await removeStaleSocket(socketPath)
  const server = createServer((req, res) => { void serve(req, res, api, table, log) })
  server.requestTimeout = 0 // wait-ready long-polls for up to 10 minutes
  server.headersTimeout = 10_000
  await listen(server, socketPath)
  log.info(`control socket ${socketPath}`)
  return {
    close: async () => { await closeServer(server) }
  }
}

async function serve (req: IncomingMessage, res: ServerResponse, api: DaemonApi, table: Route[], log: Logger): Promise<void> {
  try {
    const url = new URL(req.url ?? '/', 'http://weft')
    const { route, params } = matchRoute(table, req.method ?? '', url.pathname)
    const body = await readJsonBody(req, route.maxBodyBytes ?? MAX_BODY_BYTES)
    const result = await route.handle({ api, params, query: url.searchParams, body })
    if (result instanceof TextResponse) {
      res.writeHead(200, { 'content-type': result.contentType, 'content-length': Buffer.byteLength(result.body) })
      res.end(result.body)
    } else if (result instanceof StreamResponse) {
      res.writeHead(200, { 'content-type': result.contentType })
      result.start(chunk => { res.write(chunk) }, fn => { res.once('close', fn) })
    } else {
      send(res, 200, result)
    }
  } catch (err) {
    const { status, code, message } = describeError(err)
    if (status >= 500) log.error(`${req.method ?? '?'} ${req.url ?? '?'}: ${message}`)
    // An oversized body is not drained: answer, then drop the connection.
    if (status === 413) {
      res.shouldKeepAlive = false
      res.once('finish', () => { req.destroy() })
    }
    send(res, status, { error: { message, code } })
  }
}

function matchRoute (table: Route[], method: string, pathname: string): { route: Route, params: Record<string, string> } {
  const parts = pathname.split('/').filter(p => p !== '')
  let pathMatched = false
  for (const route of table) {
    const pattern = route.path.split('/').filter(p => p !== '')
    if (pattern.length !== parts.length) continue
    const params: Record<string, string> = {}
    const ok = pattern.every((seg, i) => {
      if (seg.startsWith(':')) { params[seg.slice(1)] = decodeSegment(parts[i] ?? ''); return true }
      return seg === parts[i]
    })
    if (!ok) continue
    if (route.method === method) return { route, params }
    pathMatched = true
  }
  if (pathMatched) throw new ControlApiError(`method ${method} not allowed on ${pathname}`, 'method-not-allowed', 405)
  throw new ControlApiError(`not found: ${method} ${pathname}`, 'not-found', 404)
}

function decodeSegment (segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new ControlApiError(`malformed path segment "${segment}"`)
  }
}

async function readJsonBody (req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > limit) throw tooLarge(limit)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) throw tooLarge(limit)
    chunks.push(chunk)
  }
  if (size === 0) return undefined
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch (err) {
    throw new ControlApiError(`malformed JSON body: ${(err as Error).message}`, 'bad-json')
  }
}

function tooLarge (limit: number): ControlApiError {
  return new ControlApiError(`request body over ${limit} bytes`, 'payload-too-large', 413)
}

function describeError (err: unknown): { status: number, code: string, message: string } {
  if (err instanceof ControlApiError) return { status: err.status, code: err.code, message: err.message }
  const e = err as { message?: unknown, code?: unknown, status?: unknown, name?: unknown }
  const message = typeof e?.message === 'string' ? e.message : String(err)
  const status = typeof e?.status === 'number' && e.status >= 400 && e.status < 600 ? e.status : 500
  const code = typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' && e.name !== 'Error' ? e.name : 'internal'
  return { status, code, message }
}

function send (res: ServerResponse, status: number, json: unknown): void {
  if (res.headersSent) { res.end(); return }
  const text = JSON.stringify(json)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/** Removes a socket file left by a dead daemon; refuses when a server still answers on it. */
async function removeStaleSocket (socketPath: string): Promise<void> {
  let isSocket: boolean
  try {
    isSocket = lstatSync(socketPath).isSocket()
  } catch {
    return
  }
  if (!isSocket) throw new Error(`${socketPath} exists and is not a socket; remove it or choose another data dir`)
  const answers = await new Promise<boolean>(resolve => {
    const probe = connect(socketPath)
    probe.setTimeout(2_000, () => { probe.destroy(); resolve(true) }) // something holds it; do not steal it
    probe.once('connect', () => { probe.destroy(); resolve(true) })
    probe.once('error', () => { resolve(false) })
  })
  if (answers) throw new Error(`a control server already answers on ${socketPath}`)
  rmSync(socketPath, { force: true })
}

async function listen (server: Server, socketPath: string): Promise<void> {
  const listening = new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.once('listening', () => { server.off('error', reject); resolve() })
  })
  // The bind happens inside listen(); a umask of 0177 around it makes the socket
  // 0600 from the moment it exists. Restored at once so no other file is affected.
  const previous = process.umask(0o177)
  try {
    server.listen(socketPath)
  } finally {
    process.umask(previous)
  }
  try {
    await listening
  } catch (err) {
    throw new Error(`cannot listen on control socket ${socketPath}: ${(err as Error).message}`)
  }
  chmodSync(socketPath, 0o600)
}

/** Stops accepting, lets requests in flight finish for a grace period, then cuts them. */
async function closeServer (server: Server): Promise<void> {
  if (!server.listening) return
  const closed = new Promise<void>(resolve => { server.close(() => { resolve() }) })
  server.closeIdleConnections()
  const timer = setTimeout(() => { server.closeAllConnections() }, CLOSE_GRACE_MS)
  timer.unref()
  await closed
  clearTimeout(timer)
}
