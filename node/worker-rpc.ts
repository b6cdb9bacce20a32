/**
 * A typed RPC over a worker's message port, generated from one interface T
 * (DESIGN.md §6): the client is a Proxy typed `Remote<T>`, the worker
 * dispatches to a handler object typed T, and no list of method names sits
 * beside them. Every call has a timeout; errors cross as {name, code, message}.
 */

/** T's methods as the other side of the port sees them: every answer is a promise. */
export type Remote<T> = {
  // A method that returns a promise already keeps its own signature, generics included.
  [K in keyof T]: T[K] extends (...args: any[]) => Promise<any>
    ? T[K]
    : T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<R> : never
}

/** Per method, how long a call with these arguments may take (ms); others get the default. */
export type CallTimeouts<T> = {
  [K in keyof T]?: T[K] extends (...args: infer A) => unknown ? (...args: A) => number : never
}

export interface RpcRequest { id: number, method: string, args: unknown[] }
export type RpcResponse =
  | { id: number, ok: true, result: unknown }
  | { id: number, ok: false, error: { name: string, message: string, code?: string } }

/** An error thrown on the other side, as it crossed: the same name, code and message. */
export class RemoteError extends Error {
  override name: string
  readonly code?: string

  constructor (name: string, message: string, code?: string) {
    super(message)
    this.name = name
    if (code !== undefined) this.code = code
  }
}

/** A call the other side did not answer within its timeout. */
export class RpcTimeoutError extends Error {
  override name = 'RpcTimeoutError'
  readonly code = 'timeout'
  readonly method: string

  constructor (method: string, message: string) {
    super(message)
    this.method = method
  }
}

export interface RpcPort {
  postMessage: (message: unknown) => void
}

export interface RpcClientOptions<T> {
  /** Who answers, for messages: "the log worker". */
  peer: string
  defaultTimeoutMs: number
  timeouts?: CallTimeouts<T>
}

interface Pending { resolve: (v: unknown) => void, reject: (e: Error) => void, timer: ReturnType<typeof setTimeout> }

export class RpcClient<T> {
  /** T's methods: each call posts a request and waits for its answer. */
  readonly remote: Remote<T>
  private readonly port: RpcPort
  private readonly opts: RpcClientOptions<T>
  private readonly pending = new Map<number, Pending>()
  private readonly methods = new Map<string, (...args: unknown[]) => Promise<unknown>>()
  private nextId = 1
  private failed: Error | undefined

  constructor (port: RpcPort, opts: RpcClientOptions<T>) {
    this.port = port
    this.opts = opts
    this.remote = new Proxy({}, {
      // 'then': so that awaiting the remote itself does not post a call.
      get: (_, prop) => typeof prop === 'string' && prop !== 'then' ? this.method(prop) : undefined
    }) as Remote<T>
  }

  /** The function that calls `name` on the other side (one per name, so it can be compared and stored). */
  method (name: string): (...args: unknown[]) => Promise<unknown> {
    let fn = this.methods.get(name)
    if (fn === undefined) {
      fn = async (...args: unknown[]) => await this.call(name, args)
      this.methods.set(name, fn)
    }
    return fn
  }

  private call (method: string, args: unknown[]): Promise<unknown> {
    if (this.failed !== undefined) return Promise.reject(this.failed)
    const id = this.nextId++
    // Own keys only: `constructor` or `hasOwnProperty` must not find Object.prototype's.
    const timeouts = (this.opts.timeouts ?? {}) as Record<string, ((...a: unknown[]) => number) | undefined>
    const limit = Object.hasOwn(timeouts, method) ? timeouts[method] : undefined
    const ms = limit?.(...args) ?? this.opts.defaultTimeoutMs
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new RpcTimeoutError(method, `${this.opts.peer} did not answer ${method} within ${ms / 1000} s`))
      }, ms)
      this.pending.set(id, { resolve, reject, timer })
      this.port.postMessage({ id, method, args } satisfies RpcRequest)
    })
  }

  /** An answer from the other side; a late one (after its timeout) is dropped. */
  answer (res: RpcResponse): void {
    const p = this.pending.get(res.id)
    if (p === undefined) return
    this.pending.delete(res.id)
    clearTimeout(p.timer)
    if (res.ok) p.resolve(res.result)
    else p.reject(new RemoteError(res.error.name, res.error.message, res.error.code))
  }

  /** The other side is gone: every pending and later call fails with `err`. */
  fail (err: Error): void {
    this.failed ??= err
    for (const p of this.pending.values()) {
      clearTimeout(p.timer)
      p.reject(err)
    }
    this.pending.clear()
  }
}

/**
 * Answers `req` on `port` with `handler`'s method. An answer that cannot be
 * posted (not structured-cloneable) becomes an error answer, so the caller
 * hears why instead of waiting for its timeout.
 */
export function serveRequest<T extends object> (port: RpcPort, handler: T | Promise<T>, req: RpcRequest): void {
  void answerRequest(handler, req).then(res => {
    try {
      port.postMessage(res)
    } catch (err) {
      port.postMessage({ id: req.id, ok: false, error: { name: 'RpcError', code: 'not-cloneable', message: `cannot send the answer to ${req.method}: ${(err as Error).message}` } } satisfies RpcResponse)
    }
  })
}

/**
 * Answers requests with `handler`'s methods. The handler is typed T at the
 * call site; a name it lacks is an error answer, never a crash.
 */
export async function answerRequest<T extends object> (handler: T | Promise<T>, req: RpcRequest): Promise<RpcResponse> {
  try {
    const target = await handler
    const fn = typeof req.method === 'string' && !(req.method in Object.prototype) ? (target as Record<string, unknown>)[req.method] : undefined
    if (typeof fn !== 'function') throw new RemoteError('RpcError', `no such method: ${String(req.method)}`, 'no-such-method')
    const result: unknown = await (fn as (...a: unknown[]) => unknown).apply(target, req.args)
    return { id: req.id, ok: true, result }
  } catch (err) {
    const e = err as { name?: unknown, message?: unknown, code?: unknown }
    return {
      id: req.id,
      ok: false,
      error: {
        name: typeof e?.name === 'string' ? e.name : 'Error',
        message: typeof e?.message === 'string' ? e.message : String(err),
        ...(typeof e?.code === 'string' ? { code: e.code } : {})
      }
    }
  }
}
