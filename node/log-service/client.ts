import { Worker } from 'node:worker_threads'
import type { AuthoredEvent, EventId, PeerName, BodyOf } from '../../crdt/events/index.js'
import type { Logger } from '../logger.js'
import type { RingViewJson } from '../ring-view.js'
import type { KnownPeer } from '../store/index.js'
import type { RpcRequest, RpcResponse, WorkerInit } from './rpc.js'
import type { AppendResult, ClonedIdentity, Hello, HelloVerdict, LogNotice, LogState, ReceiveOutcome } from './types.js'


/** An error raised inside the worker, with its original name and code. */
export class LogWorkerError extends Error {
  override name: string
  readonly code?: string

  constructor (name: string, message: string, code?: string) {
    super(message)
    this.name = name
    if (code !== undefined) this.code = code
  }
}

export interface LogStatus { state: LogState, clusterId?: EventId, view?: RingViewJson }

/**
 * The daemon's handle on the log worker: the LogService API as promises.
 * Views and notices arrive as events; the latest view is kept here so
 * status never waits for the worker.
 */
export class LogClient {
  private readonly worker: Worker
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
  private readonly listeners: Array<(n: LogNotice) => void> = []
  private exited: Error | undefined
  latestView: RingViewJson | undefined
  state: LogState = 'loading'
  /** Set once the worker finds this peer's identity cloned (persisted, so also on relaunch). */
  cloned: ClonedIdentity | undefined

  constructor (init: WorkerInit, logger: Logger, onFatal: (err: Error) => void) {
    this.worker = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: init,
      execArgv: process.execArgv.filter(a => a.startsWith('--enable-source-maps')),
      // As for the main thread: a small young generation, most of it slack otherwise.
      resourceLimits: { maxYoungGenerationSizeMb: 16 }
    })
    this.worker.on('message', (msg: RpcResponse | { notice: LogNotice }) => {
      if ('notice' in msg) {
        const n = msg.notice
        if (n.type === 'view') { this.latestView = n.view; this.state = n.state }
        if (n.type === 'state') this.state = n.state
        if (n.type === 'cloned') this.cloned = n.cloned
        if (n.type === 'log') logger.forComponent(n.component)[n.level](n.message)
        for (const l of this.listeners) l(n)
        return
      }
      const p = this.pending.get(msg.id)
      if (p === undefined) return
      this.pending.delete(msg.id)
      if (msg.ok) p.resolve(msg.result)
      else p.reject(new LogWorkerError(msg.error.name, msg.error.message, msg.error.code))
    })
    const fail = (err: Error): void => {
      this.exited = err
      for (const p of this.pending.values()) p.reject(err)
      this.pending.clear()
      onFatal(err)
    }
    this.worker.on('error', err => { fail(err) })
    this.worker.on('exit', code => { if (this.exited === undefined) fail(new Error(`log worker exited with code ${code}`)) })
  }

  onNotice (fn: (n: LogNotice) => void): void { this.listeners.push(fn) }

  /**
   * Shows the persisted snapshot the daemon read itself, then lets the worker
   * open the store read-write.
   */
  go (persisted: RingViewJson | undefined): void {
    if (persisted !== undefined && this.latestView === undefined) this.latestView = persisted
    this.worker.postMessage({ go: true })
  }

  private call<T> (method: string, ...args: unknown[]): Promise<T> {
    if (this.exited !== undefined) return Promise.reject(this.exited)
    const id = this.nextId++
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.worker.postMessage({ id, method, args } satisfies RpcRequest)
    })
  }

  open (): Promise<void> { return this.call('open') }
  found (range: string, seeds?: PeerName[]): Promise<EventId> { return this.call('found', range, seeds) }
  ensureJoin (nickname: string, addrs: string[]): Promise<EventId | undefined> { return this.call('ensureJoin', nickname, addrs) }
  append<K extends AuthoredEvent['kind']> (kind: K, body: BodyOf<K>, opts: { allowVoid?: boolean } = {}): Promise<AppendResult> {
    return this.call('append', kind, body, opts)
  }

  appendFuture (futureKind: string, v: number): Promise<AppendResult> { return this.call('appendFuture', futureKind, v) }

  hello (nickname: string): Promise<Hello> { return this.call('hello', nickname) }
  helloVerdict (remote: Hello, wantedRange?: string): Promise<HelloVerdict> { return this.call('helloVerdict', remote, wantedRange) }
  generate (peer: PeerName): Promise<Uint8Array | null> { return this.call('generate', peer) }
  receive (peer: PeerName, message: Uint8Array, expectCluster?: EventId, wantedRange?: string): Promise<ReceiveOutcome> { return this.call('receive', peer, message, expectCluster, wantedRange) }
  endSession (peer: PeerName): Promise<void> { return this.call('endSession', peer) }
  receiveEvidence (peer: PeerName, evidence: Uint8Array[]): Promise<ReceiveOutcome | undefined> { return this.call('receiveEvidence', peer, evidence) }

  knownPeers (): Promise<KnownPeer[]> { return this.call('knownPeers') }
  appendJoins (count: number, nickname: string, addrs: string[]): Promise<number> { return this.call('appendJoins', count, nickname, addrs) }
  awaitConfirmation (id: EventId, timeoutMs: number): Promise<PeerName | undefined> { return this.call('awaitConfirmation', id, timeoutMs) }
  takeover (from: PeerName): Promise<AppendResult & { ranges: string[] }> { return this.call('takeover', from) }
  conflictRivals (id: EventId): Promise<EventId[] | undefined> { return this.call('conflictRivals', id) }
  describeEvents (ids: EventId[]): Promise<unknown[]> { return this.call('describeEvents', ids) }
  leave (candidates: PeerName[], timeoutMs: number): Promise<{ id: EventId, heirs: Array<{ peer: PeerName, ranges: string[] }>, confirmedBy?: PeerName }> {
    return this.call('leave', candidates, timeoutMs)
  }
  rememberPeers (addrs: string[], source: KnownPeer['source']): Promise<void> { return this.call('rememberPeers', addrs, source) }
  forgetPeers (addrs: string[]): Promise<void> { return this.call('forgetPeers', addrs) }
  putSeen (seen: Record<PeerName, number>): Promise<void> { return this.call('putSeen', seen) }
  getAcceptor (instance: string): Promise<unknown> { return this.call('getAcceptor', instance) }
  putAcceptor (instance: string, state: unknown): Promise<void> { return this.call('putAcceptor', instance, state) }

  async close (): Promise<void> {
    try {
      await this.call('close')
    } finally {
      this.exited ??= new Error('log worker closed')
      await this.worker.terminate()
    }
  }
}
