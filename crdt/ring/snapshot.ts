import { createHash } from 'node:crypto'
import { RangeSet, type Family } from '../../packages/netaddr/index.js'
import { compareTopological } from '../causal/index.js'
import { compareBytes, comparePeerNames, peerNameToBytes, type EventId, type EventKind, type PeerName } from '../events/index.js'
import { disputeRecord, partiesOf } from './moves.js'
import type { DisputeRecord } from './records.js'
import type { RingState } from './state.js'
import { coveringDisputes, openDisputes, partyFromNode, removalsIn, segmentState } from './views.js'

/**
 * The derived ring: what status, allocation and the offline commands read.
 * A function of the event set alone, so two replicas holding the same events
 * build equal snapshots whatever order the events arrived in.
 */

export interface RingSegment {
  readonly start: bigint
  readonly end: bigint
  readonly state: 'owned' | 'unowned' | 'disputed'
  readonly owner?: PeerName
  /** Ids of the open disputes covering it. */
  readonly disputes: readonly EventId[]
}

export interface RemovalInfo {
  readonly by: PeerName
  readonly event: EventId
  /** The kind of the removing event. */
  readonly kind: 'takeover' | 'leave' | 'resolve'
  readonly time: number
  /** A takeover approved by a quorum (DESIGN.md §3.2): who voted for it, of how many members. */
  readonly approved?: { readonly votes: readonly PeerName[], readonly of: number }
}

export interface PeerSnapshot {
  readonly name: PeerName
  readonly nickname?: string
  readonly addrs: readonly string[]
  readonly seed: boolean
  readonly member: boolean
  /** Set when the peer is removed: who removed it, with which event, when. */
  readonly removed?: RemovalInfo
  /** Addresses it owns, undisputed. */
  readonly owned: RangeSet
}

export interface DisputeSnapshot {
  readonly id: EventId
  readonly kind: 'overlap' | 'removal'
  readonly parties: readonly EventId[]
  /** Parties known only as conflict evidence (not held as log events). */
  readonly evidenceOnly: readonly EventId[]
  readonly ranges: RangeSet
  readonly status: 'open' | 'settled'
  readonly settledBy: readonly EventId[]
  /** Peers whose removal is at stake (removal disputes). */
  readonly atStake: readonly PeerName[]
  /** Peers that would get the space: the parties' claimants, first by (lamport, id). */
  readonly claimants: readonly PeerName[]
}

export interface VoidSnapshot { readonly id: EventId, readonly kind: EventKind | 'future', readonly author?: PeerName, readonly reason: string }
export interface OverrideSnapshot { readonly id: EventId, readonly by: readonly EventId[] }
/**
 * A flagged fork (DESIGN.md §2.7): settled once its author stands removed
 * (`rmpeer` takes its space, or it left) or holds nothing to settle (the
 * fork was at its join), open until then.
 */
export interface EquivocationSnapshot { readonly author: PeerName, readonly seq: number, readonly events: readonly EventId[], readonly flaggedBy: EventId, readonly settled: boolean }

/**
 * One checkpoint proposal (DESIGN.md §2.6): every valid checkpoint event
 * with the same epoch, cut and digest, and who signed it.
 */
export interface CheckpointSnapshot {
  /** Names the proposal: a hash of (epoch, cut, digest); the smallest final one wins. */
  readonly key: string
  readonly epoch: number
  readonly cut: readonly EventId[]
  readonly digest: string
  /** Authors of its checkpoint events, sorted. */
  readonly signers: readonly PeerName[]
  /** Its checkpoint events, sorted. */
  readonly events: readonly EventId[]
  /** The earliest signature's author time (ms): how long the proposal has waited. */
  readonly since: number
}

export interface RingSnapshot {
  readonly clusterId: EventId
  readonly family?: Family
  readonly range?: RangeSet
  readonly segments: readonly RingSegment[]
  readonly peers: readonly PeerSnapshot[]
  readonly disputes: readonly DisputeSnapshot[]
  readonly voids: readonly VoidSnapshot[]
  readonly overridden: readonly OverrideSnapshot[]
  readonly equivocations: readonly EquivocationSnapshot[]
  /** The log holds events of a newer format: upgrade weft before allocating. */
  readonly readOnly: boolean
  readonly heads: readonly EventId[]
  /** Events in the log: held, and compacted below a cut (an epoch's base). */
  readonly events: number
  readonly disputed: RangeSet | undefined
  /** Checkpoint proposals held, by epoch then key. */
  readonly checkpoints: readonly CheckpointSnapshot[]
}

/** The key of a checkpoint proposal: the same on every replica. */
export function checkpointKey (epoch: number, cut: readonly EventId[], digest: string): string {
  const h = createHash('sha256').update(`weft/checkpoint\n${epoch}\n`)
  for (const id of [...cut].sort()) h.update(id)
  return h.update(`\n${digest}`).digest('hex')
}

function checkpointProposals (s: RingState): CheckpointSnapshot[] {
  const byKey = new Map<string, { epoch: number, cut: EventId[], digest: string, signers: Set<PeerName>, events: EventId[], since: number }>()
  for (const ev of s.checkpoints) {
    const e = ev.node.event
    if (e.kind !== 'checkpoint' || ev.status !== 'valid') continue
    const key = checkpointKey(e.body.epoch, e.body.cut, e.body.digest)
    let p = byKey.get(key)
    if (p === undefined) byKey.set(key, p = { epoch: e.body.epoch, cut: [...e.body.cut], digest: e.body.digest, signers: new Set(), events: [], since: e.time })
    p.signers.add(e.author)
    p.events.push(ev.node.id)
    if (e.time < p.since) p.since = e.time
  }
  return [...byKey].map(([key, p]) => ({ key, epoch: p.epoch, cut: p.cut, digest: p.digest, signers: [...p.signers].sort(comparePeerNames), events: p.events.sort(), since: p.since }))
    .sort((a, b) => a.epoch - b.epoch || (a.key < b.key ? -1 : 1))
}

function toSnapshot (s: RingState, d: DisputeRecord, status: 'open' | 'settled'): DisputeSnapshot {
  const held = (id: EventId): boolean => s.causal.has(id)
  const claimants: PeerName[] = []
  const byOrder = [...d.parties].sort((a, b) => {
    const la = a.event.lamport; const lb = b.event.lamport
    return la - lb || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  })
  for (const p of byOrder) {
    for (const g of p.moves) {
      if (!g.ranges.overlaps(d.ranges)) continue
      const name = s.causal.peers[g.peer]!
      if (!claimants.includes(name)) claimants.push(name)
    }
  }
  return {
    id: d.id,
    kind: d.removal ? 'removal' : 'overlap',
    parties: d.parties.map(p => p.id).sort(),
    evidenceOnly: d.parties.filter(p => !held(p.id)).map(p => p.id).sort(),
    ranges: d.ranges,
    status,
    settledBy: s.settled(d.id).map(r => r.node.id).sort(),
    atStake: d.atStake.map(i => s.causal.peers[i]!).sort(comparePeerNames),
    claimants
  }
}

export function buildSnapshot (s: RingState): RingSnapshot {
  const causal = s.causal
  const family = s.family
  const segments: RingSegment[] = []
  const owned = new Map<number, Array<readonly [bigint, bigint]>>()
  const disputedSpans: Array<readonly [bigint, bigint]> = []
  if (s.segments !== undefined) {
    const covering = coveringDisputes(s, null)
    const peer = (name: string): number => s.peerIdx(name)
    for (const seg of s.segments.all()) {
      const st = segmentState(s, seg, null, covering)
      if (st.kind === 'owned') {
        segments.push({ start: seg.start, end: seg.end, state: 'owned', owner: causal.peers[st.owner]!, disputes: [] })
        let list = owned.get(st.owner)
        if (list === undefined) owned.set(st.owner, list = [])
        list.push([seg.start, seg.end])
      } else if (st.kind === 'disputed') {
        const ids = st.covering.map(d => d.id)
        if (st.frontier.length >= 2) ids.push(disputeRecord(family!, partiesOf(causal, st.frontier).map(n => partyFromNode(s, n)), peer).id)
        segments.push({ start: seg.start, end: seg.end, state: 'disputed', disputes: [...new Set(ids)].sort() })
        disputedSpans.push([seg.start, seg.end])
      } else {
        segments.push({ start: seg.start, end: seg.end, state: 'unowned', disputes: [] })
      }
    }
  }

  const peers: PeerSnapshot[] = causal.peers.map((name, i) => {
    const rec = s.peers[i]
    const lastJoin = rec?.joins[rec.joins.length - 1]?.node.event
    // Several concurrent removals: name the first by (lamport, id), as every replica would.
    const removal = removalsIn(s, i, null).sort((a, b) => compareTopological(a.node, b.node))[0]
    const removedBy = removal?.node.event
    return {
      name,
      nickname: lastJoin?.kind === 'join' ? lastJoin.body.nickname : undefined,
      addrs: lastJoin?.kind === 'join' ? lastJoin.body.addrs : [],
      seed: rec?.seed ?? false,
      member: (rec?.seed ?? false) || (rec?.joins.length ?? 0) > 0,
      removed: removal === undefined || removedBy === undefined || removedBy.kind === 'genesis'
        ? undefined
        : {
            by: removedBy.author,
            event: removal.node.id,
            kind: removedBy.kind as RemovalInfo['kind'],
            time: removedBy.time,
            ...(removedBy.kind === 'takeover' && removedBy.body.approval !== undefined
              ? { approved: { votes: removedBy.body.approval.votes.map(v => v.peer), of: removedBy.body.approval.of } }
              : {})
          },
      owned: RangeSet.fromSpans(family ?? 4, owned.get(i) ?? [])
    }
  }).filter(p => p.member || p.owned.size > 0n)
    .sort((a, b) => compareBytes(peerNameToBytes(a.name), peerNameToBytes(b.name)))

  const open = openDisputes(s, null)
  const disputes: DisputeSnapshot[] = [...open.values()].map(d => toSnapshot(s, d, 'open'))
  const settled = new Map<EventId, DisputeRecord>()
  for (const r of s.resolves) for (const d of r.settles ?? []) if (!open.has(d.id) && !settled.has(d.id)) settled.set(d.id, d)
  disputes.push(...[...settled.values()].map(d => toSnapshot(s, d, 'settled')))
  disputes.sort((a, b) => (a.status === b.status ? 0 : a.status === 'open' ? -1 : 1) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))

  const voids: VoidSnapshot[] = []
  const overridden: OverrideSnapshot[] = []
  for (const ev of s.events) {
    const e = ev.node.event
    if (ev.status !== 'valid') {
      voids.push({ id: ev.node.id, kind: e.kind, author: e.kind === 'genesis' ? undefined : e.author, reason: ev.reason ?? '' })
    }
    if (ev.overriddenBy.length > 0) overridden.push({ id: ev.node.id, by: ev.overriddenBy.map(r => r.node.id).sort() })
  }
  voids.sort((a, b) => (a.id < b.id ? -1 : 1))
  overridden.sort((a, b) => (a.id < b.id ? -1 : 1))

  return {
    clusterId: s.clusterId,
    family,
    range: s.clusterRange,
    segments,
    peers,
    disputes,
    voids,
    overridden,
    // Settled: removed, or never a member and owning nothing (a fork at its join).
    equivocations: flaggedForks(s, name => { const p = peers.find(x => x.name === name); return p === undefined || p.removed !== undefined }),
    readOnly: s.futureEvents > 0,
    heads: causal.heads().map(n => n.id).sort(),
    events: causal.size + s.below,
    disputed: family === undefined ? undefined : RangeSet.fromSpans(family, disputedSpans),
    checkpoints: checkpointProposals(s)
  }
}

/** One row per fork (author, seq), however many conflicts flagged it: the first flag by id. */
function flaggedForks (s: RingState, settled: (author: PeerName) => boolean): EquivocationSnapshot[] {
  const byFork = new Map<string, EquivocationSnapshot>()
  for (const q of s.equivocations) {
    const author = s.causal.peers[q.author]!
    const key = `${author}/${q.seq}`
    const row: EquivocationSnapshot = { author, seq: q.seq, events: [...q.events], flaggedBy: q.flaggedBy.node.id, settled: settled(author) }
    const was = byFork.get(key)
    if (was === undefined || row.flaggedBy < was.flaggedBy) byFork.set(key, row)
  }
  return [...byFork.values()].sort((a, b) => (a.flaggedBy < b.flaggedBy ? -1 : 1))
}
