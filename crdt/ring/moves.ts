import { createHash } from 'node:crypto'
import { RangeSet, halveIntoBlocks, type Cidr, type Family } from '../../packages/netaddr/index.js'
import type { CausalIndex, CausalNode } from '../causal/index.js'
import type { EventId, WeftEvent } from '../events/index.js'
import type { DisputeRecord, Grant, MoveNode, Party } from './records.js'

/**
 * Pure helpers over moves: what an event's body moves, the visible frontier
 * of an interval in some view, dispute parties, ids and ranges.
 */

/** A view: the version vector of a causally closed set. `null` = everything held. */
export type View = Int32Array | null

export function visible (causal: CausalIndex, view: View, node: CausalNode): boolean {
  return view === null || causal.vvHasSeen(view, node)
}

/**
 * What an event's body moves, to whom. `peer` interns names into the index.
 * Returns undefined for kinds that move nothing.
 */
export function bodyGrants (event: WeftEvent, family: Family, peer: (name: string) => number): Grant[] | undefined {
  const set = (cidrs: readonly Cidr[]): RangeSet => RangeSet.fromCidrs(family, cidrs)
  switch (event.kind) {
    case 'genesis': {
      const blocks = halveIntoBlocks(event.body.ranges[0]!, event.body.seeds.length)
      return event.body.seeds.map((s, i) => ({ peer: peer(s), ranges: set([blocks[i]!]) }))
    }
    case 'transfer': return [{ peer: peer(event.body.to), ranges: set(event.body.ranges) }]
    case 'takeover': return [{ peer: peer(event.author), ranges: set(event.body.ranges) }]
    case 'leave': return event.body.heirs.map(h => ({ peer: peer(h.peer), ranges: set(h.ranges) }))
    case 'resolve': return event.body.assignments.map(a => ({ peer: peer(a.owner), ranges: set(a.ranges) }))
    default: return undefined
  }
}

export function unionOf (family: Family, grants: readonly Grant[]): RangeSet {
  // RangeSets are immutable: one grant's set is the union (most moves have one).
  if (grants.length === 1 && grants[0]!.ranges.family === family) return grants[0]!.ranges
  let all = RangeSet.empty(family)
  for (const g of grants) all = all.union(g.ranges)
  return all
}

/**
 * The maximal moves of an interval among those visible in `view`: replace
 * every invisible head by its predecessors until all are visible, then keep
 * the maximal ones. Visits only the moves the view has not seen.
 */
export function frontierIn (causal: CausalIndex, heads: readonly MoveNode[], view: View): readonly MoveNode[] {
  if (view === null) return heads
  let allVisible = true
  for (const h of heads) if (!causal.vvHasSeen(view, h.ev.node)) { allVisible = false; break }
  if (allVisible) return heads
  const found: MoveNode[] = []
  const seen = new Set<MoveNode>()
  const stack = heads.slice()
  while (stack.length > 0) {
    const n = stack.pop()!
    if (seen.has(n)) continue
    seen.add(n)
    if (causal.vvHasSeen(view, n.ev.node)) found.push(n)
    else stack.push(...n.preds)
  }
  return maximal(causal, found)
}

export function maximal (causal: CausalIndex, nodes: MoveNode[]): MoveNode[] {
  if (nodes.length <= 1) return nodes
  return nodes
    .filter(n => !nodes.some(m => m !== n && m.ev !== n.ev && causal.hasSeen(m.ev.node, n.ev.node)))
    .sort((a, b) => a.ev.node.idx - b.ev.node.idx || a.serial - b.serial)
}

/**
 * Parties of a dispute between frontier moves: per side, the earliest moves
 * on its chain that no other side has seen (DESIGN.md §2.3). Dependents (a
 * side's later moves of the same space) are not parties, so replicas that
 * hold more or fewer of them agree on the parties and hence the dispute id.
 */
export function partiesOf (causal: CausalIndex, frontier: readonly MoveNode[]): CausalNode[] {
  const out = new Map<string, CausalNode>()
  frontier.forEach((m, i) => {
    const others = frontier.filter((_, j) => j !== i)
    const seenByOthers = (n: MoveNode): boolean => others.some(o => causal.hasSeen(o.ev.node, n.ev.node))
    const side = new Set<MoveNode>()
    const stack = [m]
    while (stack.length > 0) {
      const n = stack.pop()!
      if (side.has(n) || seenByOthers(n)) continue
      side.add(n)
      stack.push(...n.preds)
    }
    for (const n of side) {
      if (!n.preds.some(p => side.has(p))) out.set(n.ev.node.id, n.ev.node)
    }
  })
  return [...out.values()]
}

/** Dispute id: hash of the sorted ids of its parties, the same on every replica. */
export function disputeId (partyIds: readonly EventId[]): EventId {
  const h = createHash('sha256')
  h.update('weft/dispute\n')
  for (const id of [...partyIds].sort()) h.update(Buffer.from(id, 'hex'))
  return h.digest('hex')
}

/** Peers an event removes, by its body (takeover: `from`; leave: its author; resolve: its removals). */
export function removedBy (event: WeftEvent): string[] {
  switch (event.kind) {
    case 'takeover': return [event.body.from]
    case 'leave': return [event.author]
    case 'resolve': return event.body.removals
    default: return []
  }
}

/**
 * Builds a dispute record from its parties. A removal dispute (one party
 * removes the author of another) covers the union of the parties' ranges;
 * any other covers the addresses at least two parties move.
 */
export function disputeRecord (family: Family, parties: readonly Party[], peer: (name: string) => number): DisputeRecord {
  const atStake = new Set<number>()
  for (const a of parties) {
    for (const victim of removedBy(a.event)) {
      if (parties.some(b => b !== a && b.event.kind !== 'genesis' && b.event.author === victim)) atStake.add(peer(victim))
    }
  }
  const removal = atStake.size > 0
  let ranges = RangeSet.empty(family)
  if (removal) {
    for (const p of parties) ranges = ranges.union(unionOf(family, p.moves))
  } else {
    let once = RangeSet.empty(family)
    for (const p of parties) {
      const mine = unionOf(family, p.moves)
      ranges = ranges.union(once.intersect(mine))
      once = once.union(mine)
    }
  }
  return { id: disputeId(parties.map(p => p.id)), parties, ranges, removal, atStake: [...atStake].sort((a, b) => a - b) }
}
