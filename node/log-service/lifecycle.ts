import type { Clock } from '../clock.js'
import { formatCidr, RangeSet, type Cidr } from '../../packages/netaddr/index.js'
import type { EventId, LeaveBody, PeerName } from '../../crdt/events/index.js'
import { automerge, type EventLog } from '../../crdt/log/index.js'
import type { OwnershipRing, RingSnapshot } from '../../crdt/ring/index.js'

/**
 * A peer's way out (DESIGN.md §7): the space a takeover names, how a leave
 * spreads ours over heirs, and waiting until a peer shows it holds an event.
 * Pure functions of a ring snapshot, and the confirmations the service tracks.
 */

/**
 * Spreads CIDR blocks over peers so each gets a similar share, splitting the
 * largest blocks in halves while there are fewer blocks than peers.
 * Undefined when there is space but nobody to give it to.
 */
export function spreadOver (blocks: Cidr[], peers: PeerName[]): Array<{ peer: PeerName, ranges: Cidr[] }> | undefined {
  if (blocks.length === 0) return []
  if (peers.length === 0) return undefined
  const work = [...blocks]
  const size = (c: Cidr): bigint => 1n << BigInt((c.family === 4 ? 32 : 128) - c.prefix)
  while (work.length < peers.length) {
    work.sort((a, b) => (size(b) > size(a) ? 1 : size(b) < size(a) ? -1 : 0))
    const big = work[0]!
    if (size(big) === 1n) break
    const half = big.prefix + 1
    work.splice(0, 1, { family: big.family, first: big.first, prefix: half }, { family: big.family, first: big.first + size(big) / 2n, prefix: half })
  }
  work.sort((a, b) => (size(b) > size(a) ? 1 : size(b) < size(a) ? -1 : a.first < b.first ? -1 : 1))
  const shares = peers.map(peer => ({ peer, ranges: [] as Cidr[], total: 0n }))
  for (const block of work) {
    const least = shares.reduce((m, x) => (x.total < m.total ? x : m))
    least.ranges.push(block)
    least.total += size(block)
  }
  // Each heir's list must be canonical: the minimal sorted CIDRs of its share.
  return shares.map(x => ({ peer: x.peer, ranges: x.ranges.length === 0 ? [] : RangeSet.fromCidrs(x.ranges[0]!.family, x.ranges).toCidrs() }))
}

/** Owned, undisputed space of a peer in a fold's snapshot (exactly what a takeover must name). */
export function spaceIn (snap: RingSnapshot | undefined, peer: PeerName): string[] {
  return snap?.peers.find(p => p.name === peer)?.owned.toCidrs().map(formatCidr) ?? []
}

/**
 * The body of a `leave` handing all of `self`'s space to those `candidates`
 * that are current members (spread over them, CIDR-aligned); undefined when
 * there is space but no such candidate to take it.
 */
export function leaveBody (snap: RingSnapshot, self: PeerName, candidates: PeerName[]): LeaveBody | undefined {
  const ok = candidates.filter(c => c !== self && snap.peers.some(p => p.name === c && p.member && p.removed === undefined))
  const mine = snap.peers.find(p => p.name === self)?.owned
  const heirs = spreadOver(mine?.toCidrs() ?? [], ok)
  if (heirs === undefined) return undefined
  return { heirs: heirs.filter(h => h.ranges.length > 0).map(h => ({ peer: h.peer, ranges: h.ranges })) }
}

/**
 * Our own `leave`, when the log holds one that removed us (a reset that
 * timed out waiting for a confirmation, run again): its id and heirs.
 */
export function ownLeave (ring: OwnershipRing, snap: RingSnapshot, self: PeerName): { id: EventId, heirs: Array<{ peer: PeerName, ranges: Cidr[] }> } | undefined {
  const removed = snap.peers.find(p => p.name === self)?.removed
  if (removed === undefined || removed.by !== self) return undefined
  const event = ring.causal.get(removed.event)?.signed.event
  if (event?.kind !== 'leave') return undefined
  return { id: removed.event, heirs: event.body.heirs.map(h => ({ peer: h.peer, ranges: [...h.ranges] })) }
}

/**
 * Events waiting for a peer to show it holds them (a `leave` before `reset`
 * deletes the data dir). A peer holds (and has persisted) one of our events
 * once a sync message it sends names heads that have seen it: peers sync
 * only after persisting. What each peer last said it holds is kept, so a
 * confirmation that arrives after a wait timed out still counts when the
 * wait is made again.
 */
export class Confirmations {
  private readonly waiting = new Map<EventId, Array<(peer: PeerName) => void>>()
  /** Per peer, the change hashes its latest sync message said it holds. */
  private readonly heads = new Map<PeerName, string[]>()
  private readonly doc: () => EventLog | undefined
  private readonly ring: () => OwnershipRing | undefined
  private readonly clock: Clock

  constructor (deps: { doc: () => EventLog | undefined, ring: () => OwnershipRing | undefined, clock: Clock }) {
    this.doc = deps.doc
    this.ring = deps.ring
    this.clock = deps.clock
  }

  /**
   * After receiving a sync `message` from `peer`: notes the heads it says it
   * holds (they may confirm our leave), and says whether we hold all of them.
   */
  heardMessage (peer: PeerName, message: Uint8Array): boolean {
    let heads: string[]
    try {
      heads = automerge.decodeSyncMessage(message).heads
    } catch {
      return false
    }
    this.heard(peer, heads)
    const doc = this.doc()
    return doc !== undefined && heads.every(h => doc.hasChange(h))
  }

  /** `peer` sent a sync message naming `heads` (after we received it). */
  heard (peer: PeerName, heads: string[]): void {
    this.heads.set(peer, heads)
    if (this.waiting.size === 0) return
    for (const id of [...this.waiting.keys()]) {
      if (this.holds(peer, id)) this.settle(id, peer)
    }
  }

  /** Resolves with a peer that shows it holds event `id` (at once if one did already), or undefined at the timeout. */
  wait (id: EventId, timeoutMs: number): Promise<PeerName | undefined> {
    for (const peer of this.heads.keys()) {
      if (this.holds(peer, id)) return Promise.resolve(peer)
    }
    return new Promise(resolve => {
      const done = (peer: PeerName | undefined): void => { this.clock.clearTimeout(timer); resolve(peer) }
      const timer = this.clock.setTimeout(() => {
        const left = (this.waiting.get(id) ?? []).filter(w => w !== done)
        if (left.length > 0) this.waiting.set(id, left)
        else this.waiting.delete(id)
        resolve(undefined)
      }, timeoutMs)
      this.waiting.set(id, [...(this.waiting.get(id) ?? []), done])
    })
  }

  private holds (peer: PeerName, id: EventId): boolean {
    const doc = this.doc()
    const ring = this.ring()
    const target = ring?.causal.get(id)
    if (doc === undefined || ring === undefined || target === undefined) return false
    for (const h of this.heads.get(peer) ?? []) {
      const headId = doc.eventIdOf(h)
      const node = headId === undefined ? undefined : ring.causal.get(headId)
      if (node !== undefined && ring.causal.hasSeen(node, target)) return true
    }
    return false
  }

  private settle (id: EventId, peer: PeerName): void {
    const waiters = this.waiting.get(id) ?? []
    this.waiting.delete(id)
    for (const w of waiters) w(peer)
  }
}
