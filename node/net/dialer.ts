import type { PeerName } from '../../crdt/events/index.js'
import { backoffDelay, type Clock } from '../clock.js'
import type { Tuning } from '../config.js'
import type { Transport } from './transport.js'

/**
 * The addresses a peer keeps dialling (PEERs, `weft connect`, other peers'
 * joins), each with its backoff (2 s × 1.5, jittered, capped: Weave's), and
 * never more connections than the cap, dials in flight included.
 */

export interface Target {
  addr: string
  peer?: PeerName
  source: 'launch' | 'connect' | 'join'
  attempt: number
  nextAt: number
  state: 'idle' | 'dialing' | 'backoff' | 'connected'
  lastError?: string
  since?: number
}

export interface DialerDeps {
  self: PeerName
  transport: Transport
  clock: Clock
  random: () => number
  tuning: Tuning
  /** Whether dialling may go on (not stopping, not quiesced). */
  active: () => boolean
  isBlocked: (peer: PeerName) => boolean
}

export function withoutPeer (addr: string): string {
  const i = addr.indexOf('/p2p/')
  return i < 0 ? addr : addr.slice(0, i)
}

export class Dialer {
  private readonly deps: DialerDeps
  private readonly targets = new Map<string, Target>()
  private ordered: Target[] | undefined
  private timer: unknown

  constructor (deps: DialerDeps) {
    this.deps = deps
  }

  add (addrs: string[], source: Target['source'], peer?: PeerName): void {
    const listening = this.deps.transport.listenAddrs()
    for (const raw of addrs) {
      const addr = withoutPeer(raw)
      const p = peer ?? (raw.includes('/p2p/') ? raw.slice(raw.indexOf('/p2p/') + 5).split('/')[0] : undefined)
      if (p === this.deps.self) continue
      if (listening.includes(addr) && p === undefined) continue
      const had = this.targets.get(addr)
      if (had !== undefined) {
        if (had.peer === undefined && p !== undefined) had.peer = p
        if (source !== 'join') { had.source = source; had.nextAt = 0; had.attempt = 0 }
        continue
      }
      this.targets.set(addr, { addr, ...(p !== undefined ? { peer: p } : {}), source, attempt: 0, nextAt: 0, state: 'idle' })
    }
    this.ordered = undefined
    this.schedule(0)
  }

  remove (addrs: string[]): void {
    for (const raw of addrs) this.targets.delete(withoutPeer(raw))
    this.ordered = undefined
  }

  /**
   * The targets in the order to dial them: the operator's (PEERs, `weft
   * connect`) first, then other peers' joins in an order of this peer's own
   * (a hash of both names). When there are more peers than connections, every
   * peer dialling the same first few would make them hubs that refuse the
   * rest; each dialling its own spreads the connections into a random graph,
   * which relays a change to 1,000 peers in a few hops (the scale study, bench/scale.ts).
   */
  private order (): Target[] {
    if (this.ordered !== undefined) return this.ordered
    const rank = (t: Target): number => t.source === 'join' ? 1 + fnv1a(`${this.deps.self} ${t.peer ?? t.addr}`) / 2 ** 32 : 0
    this.ordered = [...this.targets.values()].map(t => ({ t, r: rank(t) })).sort((a, b) => a.r - b.r).map(x => x.t)
    return this.ordered
  }

  get size (): number { return this.targets.size }

  all (): IterableIterator<Target> { return this.targets.values() }

  forPeer (peer: PeerName): Target[] {
    return [...this.targets.values()].filter(t => t.peer === peer)
  }

  /** Addresses not connected now (for "who is unreachable"). */
  unreachable (): string[] {
    const open = new Set(this.deps.transport.connectedPeers())
    return [...this.targets.values()].filter(t => t.peer === undefined || !open.has(t.peer)).map(t => t.addr)
  }

  /** Dials whatever is due now, then every second. */
  schedule (delay = 1000): void {
    if (!this.deps.active()) return
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer)
    this.timer = this.deps.clock.setTimeout(() => { this.timer = undefined; this.dialDue(); this.schedule() }, delay)
  }

  stop (): void {
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer)
    this.timer = undefined
  }

  /** A session with `peer` was dropped: back off each of its addresses; the earliest retry. */
  backoffPeer (peer: PeerName, error: string): number {
    const targets = this.forPeer(peer)
    for (const t of targets) this.backoff(t, error)
    return Math.min(...targets.map(t => t.nextAt), this.deps.clock.now() + backoffDelay(0, this.deps.tuning, this.deps.random))
  }

  /** The connection to `peer` ended: dial its addresses again soon. */
  disconnected (peer: PeerName): void {
    for (const t of this.targets.values()) {
      if (t.peer === peer && t.state === 'connected') { t.state = 'idle'; t.nextAt = this.deps.clock.now() + 1000 }
    }
  }

  /** Dial `peer` again at once, from scratch (it was unblocked). */
  retryNow (peer: PeerName): void {
    for (const t of this.targets.values()) if (t.peer === peer) { t.nextAt = 0; t.attempt = 0 }
    this.schedule(0)
  }

  private dialDue (): void {
    if (!this.deps.active()) return
    const now = this.deps.clock.now()
    const connected = this.deps.transport.connectedPeers()
    const open = new Set(connected)
    const cap = this.deps.tuning.maxConnections
    // With more peers than connections, dial a quarter of the cap: about as
    // many peers dial us, so connections average half the cap and a dial is
    // rarely refused. Eight each relay a change to 1,000 peers in a few hops,
    // and each change crosses every connection once (bench/scale.ts).
    const outboundCap = this.targets.size > cap ? Math.max(1, Math.floor(cap / 4)) : cap
    const outbound = connected.filter(p => this.deps.transport.connectionInfo(p)?.direction === 'outbound').length
    // Dials in flight count against the cap: each may become a connection.
    let dialing = [...this.targets.values()].filter(t => t.state === 'dialing').length
    for (const t of this.order()) {
      if (t.state === 'dialing') continue
      if (t.peer !== undefined && open.has(t.peer)) { t.state = 'connected'; continue }
      if (t.peer !== undefined && this.deps.isBlocked(t.peer)) continue
      if (t.nextAt > now) continue
      if (open.size + dialing >= cap || outbound + dialing >= outboundCap) break
      dialing++
      void this.dial(t)
    }
  }

  private async dial (t: Target): Promise<void> {
    if (!this.deps.active()) return
    t.state = 'dialing'
    try {
      const remote = await this.deps.transport.dial(t.addr, t.peer)
      t.peer = remote
      t.state = 'connected'
      t.attempt = 0
      t.since = this.deps.clock.now()
      delete t.lastError
    } catch (err) {
      this.backoff(t, (err as Error).message)
    }
  }

  private backoff (t: Target, error?: string): void {
    t.state = 'backoff'
    if (error !== undefined) t.lastError = error.split('\n')[0]!.slice(0, 300)
    t.nextAt = this.deps.clock.now() + backoffDelay(t.attempt, this.deps.tuning, this.deps.random)
    t.attempt++
  }
}

/** FNV-1a, 32 bits: a cheap, stable hash for the dial order. */
function fnv1a (text: string): number {
  let h = 0x811C9DC5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0
  return h
}
