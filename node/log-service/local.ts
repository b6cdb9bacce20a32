import type { RingViewJson } from '../ring-view.js'
import type { PeerLog } from './api.js'
import { LogService, type LogServiceInit } from './service.js'
import type { ClonedIdentity, LogNotice, LogState } from './types.js'
import type { EpochStatus } from './epochs.js'

// Every LogWorkerApi method is a call on the service (the constructor's Proxy
// forwards them, as LogClient's forwards them to its worker).
export interface LocalLog extends Omit<PeerLog, 'latestView' | 'state' | 'cloned' | 'epoch' | 'onNotice' | 'close'> {}

/**
 * The log in this thread: a LogService behind the same face as the daemon's
 * LogClient (PeerLog), for a cluster simulated in one process. Calls are
 * asynchronous as over the worker's port (a caller never runs inside the
 * service's turn); notices are delivered in the order the service sends them.
 */
export class LocalLog implements PeerLog {
  readonly service: LogService
  private readonly listeners: Array<(n: LogNotice) => void> = []
  latestView: RingViewJson | undefined = undefined
  state: LogState = 'loading'
  cloned: ClonedIdentity | undefined = undefined
  epoch: EpochStatus | undefined = undefined

  constructor (init: Omit<LogServiceInit, 'notify'>) {
    this.service = new LogService({ ...init, notify: n => { this.notice(n) } })
    const service = this.service as unknown as Record<string, (...args: unknown[]) => unknown>
    return new Proxy(this, {
      get: (target, prop, receiver) => typeof prop === 'symbol' || prop === 'then' || prop === 'toJSON' || prop in target
        ? Reflect.get(target, prop, receiver)
        : async (...args: unknown[]) => { await Promise.resolve(); return await service[prop]!(...args) }
    })
  }

  private notice (n: LogNotice): void {
    if (n.type === 'view') { this.latestView = n.view; this.state = n.state }
    if (n.type === 'state') this.state = n.state
    if (n.type === 'cloned') this.cloned = n.cloned
    if (n.type === 'epoch-status') this.epoch = n.status
    for (const l of this.listeners) l(n)
  }

  onNotice (fn: (n: LogNotice) => void): void { this.listeners.push(fn) }

  async close (): Promise<void> { await this.service.close() }
}
