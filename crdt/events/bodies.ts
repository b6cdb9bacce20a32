import { RangeSet, type Family } from '../../packages/netaddr/index.js'
import { compareBytes, peerNameToBytes } from './peer-id.js'
import type {
  Assignment, ConflictBody, EventKind, GenesisBody, Heir, JoinBody, LeaveBody, ResolveBody, TakeoverBody, TransferBody
} from './types.js'
import {
  expectArray, expectBytes, expectIdSet, expectMap, expectPeer, expectPeerSet, expectRanges, expectString, idsToWire,
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
}

interface BodyCodec<K extends EventKind> {
  toWire: (body: BodyOf[K]) => WireMap
  /** `trusted` skips the canonical-order checks for bytes from our own store. */
  fromWire: (wire: unknown, decodeEvidence: (bytes: Uint8Array, field: string) => void, trusted: boolean) => BodyOf[K]
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

const takeover: BodyCodec<'takeover'> = {
  toWire: b => ({ from: peerToWire(b.from), ranges: rangesToWire(b.ranges) }),
  fromWire: (w, _d, trusted) => {
    const m = expectMap(w, 'body', ['from', 'ranges'])
    return { from: expectPeer(m.from, 'body.from'), ranges: expectRanges(m.ranges, 'body.ranges', { trusted }) }
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

export const BODY_CODECS: { [K in EventKind]: BodyCodec<K> } = { genesis, join, transfer, takeover, leave, conflict, resolve }
