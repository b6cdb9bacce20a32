import { Worker } from 'node:worker_threads'
import type { Logger } from '../logger.js'
import type { RingViewJson } from '../ring-view.js'
import { RpcClient, type CallTimeouts, type Remote, type RpcResponse } from '../worker-rpc.js'
import { LOG_CALL_TIMEOUT_MS, LOG_CALL_TIMEOUTS, type LogWorkerApi, type WorkerInit } from './rpc.js'
import type { ClonedIdentity, LogNotice, LogState } from './types.js'
import type { EpochStatus } from './epochs.js'

export interface LogClientOptions {
  /** Default per-call timeout (ms); LOG_CALL_TIMEOUT_MS unless a test wants it short. */
  defaultTimeoutMs?: number
  timeouts?: CallTimeouts<LogWorkerApi>
}

// Every LogWorkerApi method is a call to the worker (the constructor's Proxy
// forwards them); `close` is the client's own, as it also ends the worker.
export interface LogClient extends Omit<Remote<LogWorkerApi>, 'close'> {}

/**
 * The daemon's handle on the log worker: LogWorkerApi as promises, each
 * with a timeout. Views and notices arrive as events; the latest view is
 * kept here so status never waits for the worker.
 */
export class LogClient {
  private readonly worker: Worker
  private readonly rpc: RpcClient<LogWorkerApi>
  private readonly listeners: Array<(n: LogNotice) => void> = []
  private exited: Error | undefined = undefined
  latestView: RingViewJson | undefined = undefined
  state: LogState = 'loading'
  /** Set once the worker finds this peer's identity cloned (persisted, so also on relaunch). */
  cloned: ClonedIdentity | undefined = undefined
  /** Epochs as the worker last said (DESIGN.md §2.6). */
  epoch: EpochStatus | undefined = undefined

  constructor (init: WorkerInit, logger: Logger, onFatal: (err: Error) => void, opts: LogClientOptions = {}) {
    this.worker = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: init,
      execArgv: process.execArgv.filter(a => a.startsWith('--enable-source-maps')),
      // As for the main thread: a small young generation, most of it slack otherwise.
      resourceLimits: { maxYoungGenerationSizeMb: 16 }
    })
    this.rpc = new RpcClient<LogWorkerApi>(this.worker, {
      peer: 'the log worker',
      defaultTimeoutMs: opts.defaultTimeoutMs ?? LOG_CALL_TIMEOUT_MS,
      timeouts: { ...LOG_CALL_TIMEOUTS, ...opts.timeouts }
    })
    this.worker.on('message', (msg: RpcResponse | { notice: LogNotice }) => {
      if (!('notice' in msg)) { this.rpc.answer(msg); return }
      const n = msg.notice
      if (n.type === 'view') { this.latestView = n.view; this.state = n.state }
      if (n.type === 'state') this.state = n.state
      if (n.type === 'cloned') this.cloned = n.cloned
      if (n.type === 'epoch-status') this.epoch = n.status
      if (n.type === 'log') logger.forComponent(n.component)[n.level](n.message)
      for (const l of this.listeners) l(n)
    })
    const fail = (err: Error): void => {
      this.exited = err
      this.rpc.fail(err)
      onFatal(err)
    }
    this.worker.on('error', err => { fail(err) })
    this.worker.on('exit', code => { if (this.exited === undefined) fail(new Error(`log worker exited with code ${code}`)) })
    const rpc = this.rpc
    return new Proxy(this, {
      // Own fields and methods first; any other name is a LogWorkerApi call
      // (the type above admits no other). 'then' and 'toJSON' are asked of any
      // object by await and JSON.stringify: never calls.
      get: (target, prop, receiver) => typeof prop === 'symbol' || prop === 'then' || prop === 'toJSON' || prop in target
        ? Reflect.get(target, prop, receiver)
        : rpc.method(prop)
    })
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

  async close (): Promise<void> {
    try {
      await this.rpc.remote.close()
    } finally {
      this.exited ??= new Error('log worker closed')
      this.rpc.fail(this.exited)
      await this.worker.terminate()
    }
  }
}
