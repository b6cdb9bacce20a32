import { RangeSet } from '../../packages/netaddr/index.js'
import type { CausalNode } from '../causal/index.js'
import type { EventId } from '../events/index.js'
import { disputeRecord, frontierIn, partiesOf, visible, type View } from './moves.js'
import type { DisputeRecord, EvidenceDispute, MoveNode, Party, RemovalDispute, RingEvent } from './records.js'
import type { Segment } from './segments.js'
import type { RingState } from './state.js'

/**
 * Reading the fold in a view: the whole state (`view = null`) or the causal
 * past of one event (its version vector), which is how every authority check
 * is judged (DESIGN.md §2.2). Views differ from the whole state only where
 * concurrent events acted, and only those moves are walked.
 */

export type SegmentState =
  | { kind: 'unowned' }
  | { kind: 'owned', owner: number, by: readonly MoveNode[] }
  | { kind: 'disputed', frontier: readonly MoveNode[], covering: readonly DisputeRecord[] }

function seenIn (s: RingState, view: View, ev: RingEvent): boolean {
  return visible(s.causal, view, ev.node)
}

export function settledIn (s: RingState, view: View, id: EventId): RingEvent | undefined {
  return s.settled(id).find(r => seenIn(s, view, r))
}

/** A party is held as a valid log event in the view. */
function partyInLog (s: RingState, view: View, p: Party): RingEvent | undefined {
  const node = s.causal.get(p.id)
  if (node === undefined || !visible(s.causal, view, node)) return undefined
  return s.eventOf(node)
}

/**
 * A conflict's evidence dispute counts while some party is not in the log of
 * the view; once all are, the moves themselves decide. A void log party
 * dissolves it.
 */
export function evidenceOpenIn (s: RingState, view: View, e: EvidenceDispute): boolean {
  if (!seenIn(s, view, e.conflict)) return false
  let missing = false
  for (const p of e.record.parties) {
    const ev = partyInLog(s, view, p)
    if (ev === undefined) missing = true
    else if (ev.status !== 'valid') return false
  }
  return missing && settledIn(s, view, e.record.id) === undefined
}

export function removalOpenIn (s: RingState, view: View, r: RemovalDispute): boolean {
  return seenIn(s, view, r.removal) && seenIn(s, view, r.mover) && settledIn(s, view, r.record.id) === undefined
}

/** Open disputes that cover address ranges without showing in the move frontier. */
export function coveringDisputes (s: RingState, view: View): DisputeRecord[] {
  const out: DisputeRecord[] = []
  for (const e of s.evidence) if (evidenceOpenIn(s, view, e)) out.push(e.record)
  for (const r of s.removalDisputes) if (removalOpenIn(s, view, r)) out.push(r.record)
  return out
}

function overridden (s: RingState, view: View, n: MoveNode, at: bigint): boolean {
  for (const r of n.ev.overriddenBy) {
    if (seenIn(s, view, r) && r.moved!.containsAddress(at)) return true
  }
  return false
}

/**
 * Who owns a segment in a view. `covering` is coveringDisputes(view), passed
 * in because callers evaluate many segments against the same view.
 */
export function segmentState (s: RingState, seg: Segment, view: View, covering: readonly DisputeRecord[]): SegmentState {
  const frontier = frontierIn(s.causal, seg.heads, view)
  const live = frontier.length <= 1 ? frontier : frontier.filter(n => !overridden(s, view, n, seg.start))
  const covers = covering.filter(d => d.ranges.containsAddress(seg.start))
  if (live.length >= 2) {
    const claimant = live[0]!.claimant
    const agree = live.every(n => n.ev.node.event.kind === 'resolve' && n.claimant === claimant)
    if (!agree) return { kind: 'disputed', frontier: live, covering: covers }
  }
  if (covers.length > 0) return { kind: 'disputed', frontier: [], covering: covers }
  if (live.length === 0) return { kind: 'unowned' }
  return { kind: 'owned', owner: live[0]!.claimant, by: live }
}

/** The addresses a peer owns, undisputed, in a view. */
export function spaceOf (s: RingState, peer: number, view: View): RangeSet {
  const spans: Array<readonly [bigint, bigint]> = []
  const covering = coveringDisputes(s, view)
  for (const seg of s.segments!.all()) {
    const st = segmentState(s, seg, view, covering)
    if (st.kind === 'owned' && st.owner === peer) spans.push([seg.start, seg.end])
  }
  return RangeSet.fromSpans(s.family!, spans)
}

export function isMember (s: RingState, peer: number, view: View): boolean {
  const rec = s.peers[peer]
  if (rec === undefined) return false
  if (rec.seed) return true
  const first = rec.joins[0]
  return first !== undefined && seenIn(s, view, first)
}

/**
 * A removal takes effect unless it is a party of a removal dispute the view
 * holds: while open neither removal counts, and once settled the resolve's
 * own list of standing removals decides (the resolve is itself a removal).
 */
function removalEffective (s: RingState, view: View, x: RingEvent): boolean {
  for (const r of s.removalDisputes) {
    if (r.removal === x && seenIn(s, view, r.mover)) return false
  }
  for (const e of s.evidence) {
    if (e.record.removal && e.record.parties.some(p => p.id === x.node.id) && seenIn(s, view, e.conflict)) {
      const dissolved = e.record.parties.some(p => {
        const ev = partyInLog(s, view, p)
        return ev !== undefined && ev.status !== 'valid'
      })
      if (!dissolved) return false
    }
  }
  return true
}

/** The events that remove a peer in a view (usually one), empty if it is not removed. */
export function removalsIn (s: RingState, peer: number, view: View): RingEvent[] {
  const rec = s.peers[peer]
  if (rec === undefined) return []
  return rec.removals.filter(x => seenIn(s, view, x) && removalEffective(s, view, x))
}

export function isRemoved (s: RingState, peer: number, view: View): boolean {
  return removalsIn(s, peer, view).length > 0
}

export function partyFromNode (s: RingState, node: CausalNode): Party {
  const ev = s.eventOf(node)
  return { id: node.id, event: node.event, bytes: node.signed.bytes, moves: ev.grants ?? [] }
}

/**
 * Every dispute open in a view, by id: frontier disputes found by walking
 * the segments, plus evidence and removal disputes. Disputes with the same
 * parties are one dispute; their ranges are the union.
 */
export function openDisputes (s: RingState, view: View): Map<EventId, DisputeRecord> {
  const out = new Map<EventId, DisputeRecord>()
  const add = (d: DisputeRecord): void => {
    const had = out.get(d.id)
    out.set(d.id, had === undefined ? d : { ...had, ranges: had.ranges.union(d.ranges) })
  }
  const covering = coveringDisputes(s, view)
  for (const d of covering) add(d)
  const peer = (name: string): number => s.peerIdx(name)
  for (const seg of s.segments?.all() ?? []) {
    if (seg.heads.length < 2 && view === null) continue
    const st = segmentState(s, seg, view, covering)
    if (st.kind !== 'disputed' || st.frontier.length < 2) continue
    const parties = partiesOf(s.causal, st.frontier).map(n => partyFromNode(s, n))
    const rec = disputeRecord(s.family!, parties, peer)
    if (settledIn(s, view, rec.id) === undefined) add(rec)
  }
  return out
}
