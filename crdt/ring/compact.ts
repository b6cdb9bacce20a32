import type { CausalNode } from '../causal/index.js'
import { frontierIn } from './moves.js'
import type { MoveNode, RingEvent } from './records.js'
import type { RingState } from './state.js'

/**
 * Compacting the fold below a cut (docs/epochs.md): what an event whose view
 * contains the cut can still ask of the events in the cut's past, kept; the
 * rest forgotten. Every event of the cut's past is seen by such an event, so
 * a kept one needs no more than its node (author, seq, version vector) and
 * its verdict; the move predecessors below it are never walked again.
 *
 * Kept: segment heads and the moves their disputes and views may still walk, each
 * peer's first and latest join before the cut and every removal, every
 * removal and evidence dispute, every settled dispute's resolves and the
 * parties they name, equivocation flags, and whatever a kept event points
 * at (the resolves overriding it). Resolves and conflicts below the cut
 * leave the lists later events scan: those events have seen them all.
 */
export function compactBelow (s: RingState, cut: Int32Array): void {
  const causal = s.causal
  if (s.inBatch) throw new Error('cannot compact the fold during a batch')
  const below = (n: CausalNode): boolean => n.author < 0 || (!n.quarantined && (cut[n.author] ?? 0) >= n.seq)
  const keep = new Set<CausalNode>()
  const pending: RingEvent[] = []
  const keepEvent = (ev: RingEvent | undefined): void => {
    if (ev === undefined || keep.has(ev.node)) return
    keep.add(ev.node)
    pending.push(ev)
  }
  const keepId = (id: string): void => {
    const node = causal.get(id)
    if (node !== undefined) keepEvent(s.eventOf(node))
  }

  // Moves. Predecessors are walked by frontierIn (only from moves a view has
  // not seen: never below the cut) and by partiesOf, from a segment's heads
  // down while one head has not seen the move. So per segment, a move keeps
  // its predecessors unless every head of the segment, the cut and every
  // kept event that does not hold the cut have seen it (the segment's floor),
  // and so has every move of the segment's frontier at the cut.
  const partial: Int32Array[] = []
  for (const ev of s.events) {
    if (below(ev.node)) continue
    const vv = ev.node.vv
    for (let p = 0; p < cut.length; p++) if ((vv[p] ?? 0) < cut[p]!) { partial.push(vv); break }
  }
  const meet = (vvs: readonly Int32Array[]): Int32Array => {
    const out = Int32Array.from(cut)
    for (const vv of vvs) for (let p = 0; p < out.length; p++) if ((vv[p] ?? 0) < out[p]!) out[p] = vv[p] ?? 0
    return out
  }
  const seenBy = (vv: Int32Array, n: CausalNode): boolean => n.author < 0 || (!n.quarantined && (vv[n.author] ?? 0) >= n.seq)
  const reached = new Set<MoveNode>()
  const needsPreds = new Set<MoveNode>()
  for (const seg of s.segments?.all() ?? []) {
    // A view that holds the cut sees, below it, exactly the cut's own frontier
    // (the latest moves below the cut): disputes among those walk down too.
    const atCut = frontierIn(causal, seg.heads, cut)
    const floor = meet([...partial, ...seg.heads.map(h => h.ev.node.vv), ...atCut.map(m => m.ev.node.vv)])
    const visited = new Set<MoveNode>()
    const stack = [...seg.heads]
    while (stack.length > 0) {
      const m = stack.pop()!
      if (visited.has(m)) continue
      visited.add(m)
      reached.add(m)
      keepEvent(m.ev)
      if (seenBy(floor, m.ev.node)) continue
      needsPreds.add(m)
      stack.push(...m.preds)
    }
  }
  for (const m of reached) {
    if (!needsPreds.has(m) && m.preds.length > 0) (m as { preds: readonly MoveNode[] }).preds = []
  }

  for (const rec of s.peers) {
    const joins = rec.joins
    const firstAbove = joins.findIndex(j => !below(j.node))
    const lastBelow = firstAbove < 0 ? joins.length - 1 : firstAbove - 1
    if (lastBelow > 0) {
      // The first join makes it a member; the latest names it.
      const kept = [joins[0]!, joins[lastBelow]!, ...(firstAbove < 0 ? [] : joins.slice(firstAbove))]
      joins.length = 0
      joins.push(...kept)
    }
    for (const j of joins) keepEvent(j)
    for (const r of rec.removals) keepEvent(r)
  }
  for (const r of s.removalDisputes) { keepEvent(r.removal); keepEvent(r.mover); for (const p of r.record.parties) keepId(p.id) }
  for (const e of s.evidence) { keepEvent(e.conflict); for (const p of e.record.parties) keepId(p.id) }
  for (const q of s.equivocations) { keepEvent(q.flaggedBy); for (const id of q.events) keepId(id) }
  for (const list of s.settledBy.values()) for (const r of list) keepEvent(r)
  const filterAbove = (list: RingEvent[]): void => {
    const kept = list.filter(ev => !below(ev.node))
    list.length = 0
    list.push(...kept)
  }
  filterAbove(s.resolves)
  filterAbove(s.conflicts)
  filterAbove(s.checkpoints)
  // Everything above the cut stays, and with it what it points at.
  for (const ev of s.events) if (!below(ev.node)) keepEvent(ev)
  while (pending.length > 0) {
    const ev = pending.pop()!
    for (const r of ev.overriddenBy) keepEvent(r)
    for (const d of ev.settles ?? []) for (const p of d.parties) keepId(p.id)
  }

  const events = s.events
  const before = causal.size
  const renumbered: RingEvent[] = []
  causal.compact(cut, keep, (from, to) => { renumbered[to] = events[from]! })
  const size = causal.size
  for (let i = 0; i < size; i++) {
    const node = causal.nodes[i]!
    events[i] = renumbered[i] ?? events[i]!
    if (events[i]!.node !== node) throw new Error('compaction lost track of an event')
  }
  events.length = size
  s.below += before - size
}
