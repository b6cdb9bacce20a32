import type { ConnectionJson } from '../api/types.js'
import type { Clock } from '../clock.js'
import type { Logger } from '../logger.js'

/**
 * Hosts whose connections to us failed the handshake (a host without the
 * cluster key, say), for `weft status connections` and the log. Anyone who
 * can reach the port can make these, so what is kept is bounded: the most
 * recent few hosts, a count each, and a log line per host at most once a
 * minute.
 */

export interface RefusedHostsDeps {
  clock: Clock
  logger: Logger
  /** Hosts kept (least recently refused dropped first). */
  max?: number
  /** A host's failures are logged at most once per this (ms). */
  logEveryMs?: number
}

interface Refused { count: number, first: number, last: number, reason: string, loggedAt: number, unlogged: number }

export class RefusedHosts {
  private readonly deps: RefusedHostsDeps
  private readonly log: Logger
  private readonly hosts = new Map<string, Refused>()

  constructor (deps: RefusedHostsDeps) {
    this.deps = deps
    this.log = deps.logger.forComponent('weft:net')
  }

  note (addr: string, reason: string): void {
    const now = this.deps.clock.now()
    const had = this.hosts.get(addr)
    this.hosts.delete(addr)
    const r: Refused = had ?? { count: 0, first: now, last: now, reason, loggedAt: -Infinity, unlogged: 0 }
    r.count++
    r.last = now
    r.reason = reason
    r.unlogged++
    this.hosts.set(addr, r)
    if (this.hosts.size > (this.deps.max ?? 8)) this.hosts.delete(this.hosts.keys().next().value!)
    if (now - r.loggedAt < (this.deps.logEveryMs ?? 60_000)) return
    this.log.warn(`refused ${r.unlogged === 1 ? 'a connection' : `${r.unlogged} connections`} from ${addr}: ${reason}`)
    r.loggedAt = now
    r.unlogged = 0
  }

  rows (): ConnectionJson[] {
    const iso = (t: number): string => new Date(t).toISOString()
    return [...this.hosts].reverse().map(([addr, r]) => ({
      peer: null,
      nickname: null,
      addr,
      state: 'failed',
      direction: 'inbound',
      since: iso(r.last),
      reason: r.count === 1 ? r.reason : `${r.reason}; ${r.count} times since ${iso(r.first)}`,
      retryAt: null,
      bytesIn: 0,
      bytesOut: 0
    }))
  }
}
