import { formatCidr, RangeSet } from '../../packages/netaddr/index.js'
import type { CausalNode } from '../causal/index.js'
import { decodeEvent, type AuthoredEvent, type ConflictEvent, type ResolveEvent, type SignedEvent, type WeftEvent } from '../events/index.js'
import { bodyGrants, disputeRecord, unionOf } from './moves.js'
import type { DisputeRecord, Grant, Party } from './records.js'
import type { RingState } from './state.js'
import { coveringDisputes, isMember, isRemoved, openDisputes, segmentState, spaceOf } from './views.js'

/**
 * Authority checks (DESIGN.md §2.2), each judged in the event's own view:
 * the fold of its causal past. A failing check makes the event void, with a
 * reason people can read; it never rejects it.
 */

export type Verdict =
  | { ok: false, reason: string }
  | { ok: true, grants?: Grant[], removes?: number[], settles?: DisputeRecord[], dispute?: DisputeRecord, equivocation?: { author: number, seq: number } }

const fail = (reason: string): Verdict => ({ ok: false, reason })

function describe (set: RangeSet): string {
  const cidrs = set.toCidrs()
  const shown = cidrs.slice(0, 3).map(formatCidr).join(', ')
  return cidrs.length > 3 ? `${shown} and ${cidrs.length - 3} more` : shown
}

export function judge (s: RingState, node: CausalNode): Verdict {
  const e = node.event as AuthoredEvent
  const view = node.vv
  const author = node.author
  if (s.segments === undefined) return fail('the log has no valid genesis')
  if (e.kind !== 'join' && !isMember(s, author, view)) return fail('author is not a member (no join in its view)')
  if (isRemoved(s, author, view)) return fail('author was removed in its view')
  switch (e.kind) {
    case 'join': return { ok: true }
    case 'transfer': return judgeTransfer(s, node, e)
    case 'takeover': return judgeTakeover(s, node, e)
    case 'leave': return judgeLeave(s, node, e)
    case 'conflict': return judgeConflict(s, node, e)
    case 'resolve': return judgeResolve(s, node, e)
    // A checkpoint moves nothing; whether its digest is right is for each
    // member to check by folding the cut (docs/epochs.md), not for the fold.
    case 'checkpoint': return { ok: true }
  }
}

function grantsOf (s: RingState, e: WeftEvent): Grant[] {
  return bodyGrants(e, s.family!, name => s.peerIdx(name)) ?? []
}

function outsideCluster (s: RingState, grants: readonly Grant[]): string | undefined {
  for (const g of grants) {
    if (g.ranges.family !== s.family) return 'ranges are of the wrong address family'
    const out = g.ranges.subtract(s.clusterRange!)
    if (!out.isEmpty) return `moves ${describe(out)}, outside the cluster range`
  }
  return undefined
}

/** Why `peer` cannot receive space in this view, or undefined if it can. */
function recipientProblem (s: RingState, peer: number, view: Int32Array, what: string): string | undefined {
  const name = s.causal.peers[peer]
  if (!isMember(s, peer, view)) return `${what} ${name} has not joined`
  if (isRemoved(s, peer, view)) return `${what} ${name} was removed`
  return undefined
}

function judgeTransfer (s: RingState, node: CausalNode, e: Extract<AuthoredEvent, { kind: 'transfer' }>): Verdict {
  const grants = grantsOf(s, e)
  const out = outsideCluster(s, grants)
  if (out !== undefined) return fail(out)
  const to = grants[0]!.peer
  if (to === node.author) return fail('transfer to its own author')
  const problem = recipientProblem(s, to, node.vv, 'recipient')
  if (problem !== undefined) return fail(problem)
  // Collect every failing address before naming any, so the reason depends
  // on the event set alone, not on how the segment map happens to be cut.
  const covering = coveringDisputes(s, node.vv)
  const disputed: Array<readonly [bigint, bigint]> = []
  const notOwned: Array<readonly [bigint, bigint]> = []
  for (const [start, end] of grants[0]!.ranges.spans) {
    for (const seg of s.segments!.cover(start, end)) {
      const st = segmentState(s, seg, node.vv, covering)
      if (st.kind === 'disputed') disputed.push([seg.start, seg.end])
      else if (st.kind !== 'owned' || st.owner !== node.author) notOwned.push([seg.start, seg.end])
    }
  }
  if (notOwned.length > 0) return fail(`moves ${describe(RangeSet.fromSpans(s.family!, notOwned))}, which its author does not own`)
  if (disputed.length > 0) return fail(`moves disputed space ${describe(RangeSet.fromSpans(s.family!, disputed))}`)
  return { ok: true, grants }
}

function judgeTakeover (s: RingState, node: CausalNode, e: Extract<AuthoredEvent, { kind: 'takeover' }>): Verdict {
  const grants = grantsOf(s, e)
  const out = outsideCluster(s, grants)
  if (out !== undefined) return fail(out)
  const from = s.peerIdx(e.body.from)
  if (from === node.author) return fail('takeover of its own author')
  if (!isMember(s, from, node.vv)) return fail(`takes over ${e.body.from}, which has not joined`)
  const space = spaceOf(s, from, node.vv)
  if (!space.equals(grants[0]!.ranges)) {
    return fail(`ranges (${describe(grants[0]!.ranges) || 'none'}) are not exactly ${e.body.from}'s undisputed space (${describe(space) || 'none'})`)
  }
  return { ok: true, grants: grants[0]!.ranges.isEmpty ? [] : grants, removes: [from] }
}

function judgeLeave (s: RingState, node: CausalNode, e: Extract<AuthoredEvent, { kind: 'leave' }>): Verdict {
  const grants = grantsOf(s, e)
  const out = outsideCluster(s, grants)
  if (out !== undefined) return fail(out)
  for (const g of grants) {
    if (g.peer === node.author) return fail('leaves space to its own author')
    const problem = recipientProblem(s, g.peer, node.vv, 'heir')
    if (problem !== undefined) return fail(problem)
  }
  const space = spaceOf(s, node.author, node.vv)
  const given = unionOf(s.family!, grants)
  if (!space.equals(given)) return fail(`heirs get ${describe(given) || 'nothing'}, not exactly its undisputed space (${describe(space) || 'none'})`)
  return { ok: true, grants, removes: [node.author] }
}

/** A rival as a dispute party: from the log if held there in the view, else from evidence. */
function rivalParty (s: RingState, view: Int32Array, id: string, evidence: Map<string, SignedEvent>): Party | undefined {
  const held = s.causal.get(id)
  if (held !== undefined && s.causal.vvHasSeen(view, held)) {
    const ev = s.eventOf(held)
    return { id, event: held.event, bytes: held.signed.bytes, moves: ev.grants ?? [] }
  }
  const signed = evidence.get(id)
  if (signed === undefined) return undefined
  return { id, event: signed.event, bytes: signed.bytes, moves: grantsOf(s, signed.event) }
}

function judgeConflict (s: RingState, node: CausalNode, e: ConflictEvent): Verdict {
  // Evidence was signature-checked when the conflict was decoded; here it is
  // trusted bytes, so decoding without verification is enough.
  const evidence = new Map<string, SignedEvent>()
  for (const bytes of e.body.evidence) {
    const inner = decodeEvent(bytes, { verifier: null })
    if (!e.body.rivals.includes(inner.id)) return fail(`carries evidence ${inner.id}, which is not one of its rivals`)
    evidence.set(inner.id, inner)
  }
  const parties: Party[] = []
  for (const id of e.body.rivals) {
    const p = rivalParty(s, node.vv, id, evidence)
    if (p === undefined) return fail(`rival ${id} is neither in its past nor carried as evidence`)
    parties.push(p)
  }
  if (e.body.reason === 'equivocation') {
    const authored = parties.map(p => p.event).filter((x): x is AuthoredEvent => x.kind !== 'genesis' && x.kind !== 'future')
    const first = authored[0]
    if (authored.length !== parties.length || first === undefined || authored.some(x => x.author !== first.author || x.seq !== first.seq)) {
      return fail('equivocation rivals are not two events with one author and seq')
    }
    return { ok: true, equivocation: { author: s.peerIdx(first.author), seq: first.seq } }
  }
  const record = disputeRecord(s.family!, parties, name => s.peerIdx(name))
  // A removal dispute counts even when neither side moves an address: what
  // is at stake is whether the peer stands removed.
  if (record.ranges.isEmpty && !record.removal) return fail('its rivals move no address in common')
  return { ok: true, dispute: record }
}

function judgeResolve (s: RingState, node: CausalNode, e: ResolveEvent): Verdict {
  const grants = grantsOf(s, e)
  const out = outsideCluster(s, grants)
  if (out !== undefined) return fail(out)
  const open = openDisputes(s, node.vv)
  const settles: DisputeRecord[] = []
  let covered = RangeSet.empty(s.family!)
  const atStake = new Set<number>()
  for (const id of e.body.disputes) {
    const d = open.get(id)
    if (d === undefined) return fail(`dispute ${id} is not open in its view`)
    settles.push(d)
    covered = covered.union(d.ranges)
    for (const p of d.atStake) atStake.add(p)
  }
  const assigned = unionOf(s.family!, grants)
  if (!assigned.equals(covered)) return fail(`assigns ${describe(assigned) || 'nothing'}, not exactly the disputed ${describe(covered)}`)
  const removes = e.body.removals.map(name => s.peerIdx(name))
  for (const r of removes) {
    if (!atStake.has(r)) return fail(`removes ${s.causal.peers[r]}, whose removal is not at stake in its disputes`)
  }
  for (const g of grants) {
    if (removes.includes(g.peer)) return fail(`assigns space to ${s.causal.peers[g.peer]}, which it removes`)
    const problem = recipientProblem(s, g.peer, node.vv, 'owner')
    if (problem !== undefined) return fail(problem)
  }
  return { ok: true, grants, removes, settles }
}
