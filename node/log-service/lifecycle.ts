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

/** Events waiting for a peer to show it holds them (a `leave` before `reset` deletes the data dir). */
export class Confirmations {
  private readonly waiting = new Map<EventId, (peer: PeerName) => void>()

  /**
   * A peer holds (and has persisted) one of our events once a sync message
   * it sends names heads that have seen it: peers sync only after persisting.
   */
  check (peer: PeerName, message: Uint8Array, doc: EventLog, ring: OwnershipRing | undefined): void {
    if (this.waiting.size === 0 || ring === undefined) return
    let heads: string[]
    try { heads = automerge.decodeSyncMessage(message).heads } catch { return }
    const nodes = heads.map(h => doc.eventIdOf(h)).map(id => id === undefined ? undefined : ring.causal.get(id)).filter(n => n !== undefined)
    for (const [id, resolve] of this.waiting) {
      const target = ring.causal.get(id)
      if (target !== undefined && nodes.some(n => ring.causal.hasSeen(n, target))) {
        this.waiting.delete(id)
        resolve(peer)
      }
    }
  }

  /** Resolves with the first peer that shows it holds event `id`, or undefined at the timeout. */
  wait (id: EventId, timeoutMs: number): Promise<PeerName | undefined> {
    return new Promise(resolve => {
      const timer = setTimeout(() => { this.waiting.delete(id); resolve(undefined) }, timeoutMs)
      this.waiting.set(id, peer => { clearTimeout(timer); resolve(peer) })
    })
  }
}
