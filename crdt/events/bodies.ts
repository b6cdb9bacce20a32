import { RangeSet, type Family } from '../../packages/netaddr/index.js'
import { quorumOf } from './approval.js'
import { compareBytes, peerNameToBytes, type PeerName } from './peer-id.js'
import type {
  ApprovalVote, Assignment, CheckpointBody, ConflictBody, EventKind, GenesisBody, Heir, JoinBody, LeaveBody, ResolveBody, TakeoverApproval, TakeoverBody, TransferBody
} from './types.js'
import {
  expectArray, expectBytes, expectIdSet, expectInt, expectMap, expectPeer, expectPeerSet, expectRanges, expectString, idsToWire,
  malformed, MAX_PARTIES, MAX_SEEDS, peersToWire, peerToWire, rangesToWire, type WireMap
} from './wire.js'

/**
 * Per-kind body codecs (DESIGN.md §2.2). `fromWire` checks structure only:
 * types, sizes, canonical order. Whether the author may do it is decided by
 * the fold, in the event's own view.
 */

export const MAX_NICKNAME = 64
export const MAX_ADDRS = 32
export const MAX_ADDR_LENGTH = 256
export const MAX_EVIDENCE = 8

type BodyOf = {
  genesis: GenesisBody
  join: JoinBody
  transfer: TransferBody
  takeover: TakeoverBody
  leave: LeaveBody
  conflict: ConflictBody
  resolve: ResolveBody
  checkpoint: CheckpointBody
}

interface BodyCodec<K extends EventKind> {
  toWire: (body: BodyOf[K]) => WireMap
  /** `trusted` skips the canonical-order checks for bytes from our own store. */
  fromWire: (wire: unknown, decodeEvidence: (bytes: Uint8Array, field: string) => void, trusted: boolean, v: number) => BodyOf[K]
}

/** Checks that per-peer range lists do not overlap: one address, one recipient. */
function expectDisjoint (lists: Array<ReturnType<typeof expectRanges>>, field: string): void {
  const family: Family | undefined = lists.find(l => l.length > 0)?.[0]?.family
  if (family === undefined) return
  let seen = RangeSet.empty(family)
  for (const cidrs of lists) {
    if (cidrs.length > 0 && cidrs[0]!.family !== family) throw malformed(field, 'mixes address families')
    const set = RangeSet.fromCidrs(family, cidrs)
    if (seen.overlaps(set)) throw malformed(field, 'gives one address to two peers')
    seen = seen.union(set)
  }
}

function sortedByPeer<T extends { peer: string } | { owner: string }> (items: readonly T[]): T[] {
  const key = (x: T): Uint8Array => peerNameToBytes('peer' in x ? x.peer : x.owner)
  return [...items].sort((a, b) => compareBytes(key(a), key(b)))
}

function expectPeerKeyedList (value: unknown, field: string, trusted: boolean): Array<{ peer: string, ranges: ReturnType<typeof expectRanges> }> {
  const list = expectArray(value, field, MAX_PARTIES * 16).map((item, i) => {
    const pair = expectArray(item, `${field}[${i}]`, 2)
    if (pair.length !== 2) throw malformed(`${field}[${i}]`, 'expected [peer, ranges]')
    return {
      peerBytes: expectBytes(pair[0], `${field}[${i}][0]`),
      peer: expectPeer(pair[0], `${field}[${i}][0]`),
      ranges: expectRanges(pair[1], `${field}[${i}][1]`, { nonEmpty: true, trusted })
    }
  })
  for (let i = 1; i < list.length; i++) {
    if (compareBytes(list[i - 1]!.peerBytes, list[i]!.peerBytes) >= 0) throw malformed(field, 'not sorted by peer, or has duplicates')
  }
  if (!trusted) expectDisjoint(list.map(x => x.ranges), field)
  return list.map(({ peer, ranges }) => ({ peer, ranges }))
}

const genesis: BodyCodec<'genesis'> = {
  toWire: b => ({ ranges: rangesToWire(b.ranges), seeds: peersToWire(b.seeds) }),
  fromWire: (w, _d, trusted) => {
    const m = expectMap(w, 'body', ['ranges', 'seeds'])
    const ranges = expectRanges(m.ranges, 'body.ranges', { nonEmpty: true, trusted })
    if (ranges.length !== 1) throw malformed('body.ranges', 'a cluster has exactly one CIDR range')
    const seeds = expectPeerSet(m.seeds, 'body.seeds', MAX_SEEDS)
    if (seeds.length === 0) throw malformed('body.seeds', 'must not be empty')
    return { ranges, seeds }
  }
}

const join: BodyCodec<'join'> = {
  toWire: b => ({ nickname: b.nickname, addrs: [...b.addrs] }),
  fromWire: (w, _d, trusted) => {
    const m = expectMap(w, 'body', ['nickname', 'addrs'])
    const nickname = expectString(m.nickname, 'body.nickname', MAX_NICKNAME)
    // eslint-disable-next-line no-control-regex
    // No spaces, control, format (zero-width, bidi override) or unassigned
    // characters: a nickname is typed on command lines and printed in tables.
    if (nickname.length === 0 || /[\p{C}\p{Z}]/u.test(nickname)) throw malformed('body.nickname', 'must be non-empty, with no spaces, control or invisible characters')
    const addrs = expectArray(m.addrs, 'body.addrs', MAX_ADDRS).map((a, i) => {
      const addr = expectString(a, `body.addrs[${i}]`, MAX_ADDR_LENGTH)
      if (!addr.startsWith('/') || /[\p{C}\p{Z}]/u.test(addr)) throw malformed(`body.addrs[${i}]`, 'not a multiaddr')
      return addr
    })
    return { nickname, addrs }
  }
}

const transfer: BodyCodec<'transfer'> = {
  toWire: b => ({ ranges: rangesToWire(b.ranges), to: peerToWire(b.to) }),
  fromWire: (w, _d, trusted) => {
    const m = expectMap(w, 'body', ['ranges', 'to'])
    return { ranges: expectRanges(m.ranges, 'body.ranges', { nonEmpty: true, trusted }), to: expectPeer(m.to, 'body.to') }
  }
}

/** Members a vote may be counted over: far more than any cluster. */
export const MAX_MEMBERS = 4096

function approvalToWire (a: TakeoverApproval): WireMap {
  return {
    cluster: idsToWire([a.cluster])[0],
    round: a.round,
    proposer: peerToWire(a.proposer),
    of: a.of,
    votes: sortedByPeer(a.votes).map(v => [peerToWire(v.peer), v.sig])
  }
}

function approvalFromWire (w: unknown, from: PeerName): TakeoverApproval {
  const m = expectMap(w, 'body.approval', ['cluster', 'round', 'proposer', 'of', 'votes'])
  const cluster = expectIdSet([m.cluster], 'body.approval.cluster', 1)[0]!
  const round = expectInt(m.round, 'body.approval.round', 1)
  const proposer = expectPeer(m.proposer, 'body.approval.proposer')
  const of = expectInt(m.of, 'body.approval.of', 2, MAX_MEMBERS)
  const list = expectArray(m.votes, 'body.approval.votes', of)
  const votes: ApprovalVote[] = list.map((item, i) => {
    const pair = expectArray(item, `body.approval.votes[${i}]`, 2)
    if (pair.length !== 2) throw malformed(`body.approval.votes[${i}]`, 'expected [peer, signature]')
    return { peer: expectPeer(pair[0], `body.approval.votes[${i}][0]`), sig: expectBytes(pair[1], `body.approval.votes[${i}][1]`, 64) }
  })
  // Sorted, distinct voters: the same approval has the same bytes everywhere.
  expectPeerSet(votes.map(v => peerToWire(v.peer)), 'body.approval.votes', of)
  if (votes.length < quorumOf(of)) throw malformed('body.approval.votes', `${votes.length} votes of ${of} members are not a quorum`)
  if (votes.some(v => v.peer === from)) throw malformed('body.approval.votes', 'the removed peer cannot vote')
  return { cluster, round, proposer, of, votes }
}

const takeover: BodyCodec<'takeover'> = {
  toWire: b => ({ from: peerToWire(b.from), ranges: rangesToWire(b.ranges), ...(b.approval !== undefined ? { approval: approvalToWire(b.approval) } : {}) }),
  fromWire: (w, _d, trusted, v) => {
    // Format 1 has no approval: an old peer would refuse the field, so we do too.
    const m = expectMap(w, 'body', ['from', 'ranges'], v >= 2 ? ['approval'] : [])
    const from = expectPeer(m.from, 'body.from')
    const ranges = expectRanges(m.ranges, 'body.ranges', { trusted })
    if (v >= 2 && m.approval === undefined) throw malformed('body', 'a format-2 takeover carries its approval (format 1 is written without one)')
    return m.approval === undefined ? { from, ranges } : { from, ranges, approval: approvalFromWire(m.approval, from) }
  }
}

const leave: BodyCodec<'leave'> = {
  toWire: b => ({ heirs: sortedByPeer(b.heirs).map(h => [peerToWire(h.peer), rangesToWire(h.ranges)]) }),
  fromWire: (w, _d, trusted) => {
    const m = expectMap(w, 'body', ['heirs'])
    const heirs: Heir[] = expectPeerKeyedList(m.heirs, 'body.heirs', trusted)
    return { heirs }
  }
}

const conflict: BodyCodec<'conflict'> = {
  toWire: b => ({
    reason: b.reason,
    rivals: idsToWire(b.rivals),
    overlap: rangesToWire(b.overlap),
    supplier: peerToWire(b.supplier),
    evidence: [...b.evidence]
  }),
  fromWire: (w, decodeEvidence, trusted) => {
    const m = expectMap(w, 'body', ['reason', 'rivals', 'overlap', 'supplier', 'evidence'])
    const reason = expectString(m.reason, 'body.reason', 16)
    if (reason !== 'dispute' && reason !== 'equivocation') throw malformed('body.reason', `unknown reason "${reason}"`)
    const rivals = expectIdSet(m.rivals, 'body.rivals', MAX_PARTIES)
    if (rivals.length < 2) throw malformed('body.rivals', 'a conflict needs at least two rival events')
    const overlap = expectRanges(m.overlap, 'body.overlap', { trusted })
    const supplier = expectPeer(m.supplier, 'body.supplier')
    const evidence = expectArray(m.evidence, 'body.evidence', MAX_EVIDENCE).map((e, i) => expectBytes(e, `body.evidence[${i}]`))
    evidence.forEach((bytes, i) => { decodeEvidence(bytes, `body.evidence[${i}]`) })
    return { reason, rivals, overlap, supplier, evidence }
  }
}

const resolve: BodyCodec<'resolve'> = {
  toWire: b => ({
    disputes: idsToWire(b.disputes),
    removals: peersToWire(b.removals),
    assignments: sortedByPeer(b.assignments).map(a => [peerToWire(a.owner), rangesToWire(a.ranges)])
  }),
  fromWire: (w, _d, trusted) => {
    const m = expectMap(w, 'body', ['disputes', 'removals', 'assignments'])
    const disputes = expectIdSet(m.disputes, 'body.disputes', MAX_PARTIES)
    if (disputes.length === 0) throw malformed('body.disputes', 'must name at least one dispute')
    const removals = expectPeerSet(m.removals, 'body.removals', MAX_PARTIES)
    const assignments: Assignment[] = expectPeerKeyedList(m.assignments, 'body.assignments', trusted).map(({ peer, ranges }) => ({ owner: peer, ranges }))
    return { disputes, removals, assignments }
  }
}

const checkpoint: BodyCodec<'checkpoint'> = {
  toWire: b => ({ epoch: b.epoch, cut: idsToWire(b.cut), digest: idsToWire([b.digest])[0] }),
  fromWire: w => {
    const m = expectMap(w, 'body', ['epoch', 'cut', 'digest'])
    const epoch = expectInt(m.epoch, 'body.epoch', 1)
    const cut = expectIdSet(m.cut, 'body.cut', MAX_MEMBERS)
    if (cut.length === 0) throw malformed('body.cut', 'a cut has at least one head')
    const digest = expectIdSet([m.digest], 'body.digest', 1)[0]!
    return { epoch, cut, digest }
  }
}

export const BODY_CODECS: { [K in EventKind]: BodyCodec<K> } = { genesis, join, transfer, takeover, leave, conflict, resolve, checkpoint }
