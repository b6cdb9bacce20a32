import { RangeSet } from '../../packages/netaddr/index.js'
import { decodeEvent, type EventId, type SignedEvent } from '../../crdt/events/index.js'
import { replay } from '../../crdt/replay/index.js'
import type { RingSnapshot } from '../../crdt/ring/index.js'
import type { LogReader } from './reader.js'
import { count } from '../status.js'
import {
  cidrList, describeContext, describeEvent, iso, OfflineQueryError, parseTime, ref, resolvePeer,
  type DescribeContext, type EventRow, type PeerRanges, type PeerRef
} from './describe.js'

/**
 * The offline commands over a LogReader (DESIGN.md §2.4, §4): the event log
 * in causal order (`history`), the ring at a point (`replay`), and disputes
 * and void events (`conflicts`). They only read the store.
 */

export { HISTORY_KINDS } from './args.js'

export interface HistoryFilter {
  /** Author, or any peer the event moves space to or from, removes, names as seed, or whose claim it settles (name or nickname). */
  peer?: string
  /** Epoch ms: events whose author's clock says this or later (the genesis, which has no time, is left out). */
  since?: number
  kinds?: readonly string[]
}

export function contextOf (reader: LogReader): DescribeContext {
  return describeContext(reader.ring(), reader.view())
}

/** Every peer a row names as author, as giving or getting space, as removed, or whose claim a resolve settles. */
export function rowPeers (row: EventRow): Set<string> {
  const out = new Set<string>()
  if (row.author !== null) out.add(row.author)
  for (const p of [row.to, row.from]) if (p !== undefined) out.add(p.peer)
  for (const list of [row.heirs, row.owners, row.removes, row.claimants]) for (const p of list ?? []) out.add(p.peer)
  return out
}

export function mentionedIn (reader: LogReader): (peer: string) => boolean {
  return peer => reader.ring().causal.peerIndexOf(peer) !== undefined
}

/** `weft history`: rows in causal (topological) order, filtered. */
export function historyRows (reader: LogReader, filter: HistoryFilter = {}): EventRow[] {
  return [...eachHistoryRow(reader, filter)]
}

/**
 * The same rows one at a time, for printing as they are made: a big log's
 * rows then never all live at once. The filter is checked (and a bad --peer
 * refused) before this returns, not on the first row.
 */
export function eachHistoryRow (reader: LogReader, filter: HistoryFilter = {}): Iterable<EventRow> {
  const ctx = contextOf(reader)
  const peer = filter.peer === undefined ? undefined : resolvePeer(reader.view(), filter.peer, mentionedIn(reader))
  const kinds = filter.kinds === undefined || filter.kinds.length === 0 ? undefined : new Set(filter.kinds)
  const events = reader.events()
  return (function * () {
    for (const e of events) {
      const kind = e.event.kind === 'future' ? 'future' : e.event.kind
      if (kinds !== undefined && !kinds.has(kind)) continue
      if (filter.since !== undefined && (e.event.kind === 'genesis' || e.event.time < filter.since)) continue
      const row = describeEvent(ctx, e)
      if (peer !== undefined && !rowPeers(row).has(peer)) continue
      yield row
    }
  })()
}

// ---- replay -----------------------------------------------------------------

export type AtPoint = { event: SignedEvent } | { time: number }

/** A usage mistake in a value (exit 2), as opposed to a value that names nothing in this log (exit 1). */
export class OfflineUsageError extends OfflineQueryError {
  override name = 'OfflineUsageError'
}

/**
 * EVENT_ID (64 hex digits, or a unique prefix of at least 8) or TIME (ISO
 * 8601, or epoch ms). Digits alone could be either: an id prefix wins when
 * one matches, else they are a time.
 */
export function parseAt (events: readonly SignedEvent[], text: string): AtPoint {
  const t = text.trim().toLowerCase()
  const isHex = /^[0-9a-f]{8,64}$/.test(t)
  if (isHex) {
    const matches = events.filter(e => e.id.startsWith(t))
    if (matches.length === 1) return { event: matches[0]! }
    if (matches.length > 1) {
      const shown = matches.slice(0, 8).map(e => e.id).join(', ')
      throw new OfflineQueryError(`event id prefix ${t} is ambiguous: ${shown}${matches.length > 8 ? `, … (${matches.length} in all)` : ''}`)
    }
    if (!/^\d+$/.test(t)) throw new OfflineQueryError(`no event ${t} in the log (\`weft history\` lists them)`)
  }
  const time = parseTime(text.trim())
  if (time !== undefined) return { time }
  throw new OfflineUsageError(`invalid --at ${JSON.stringify(text)}: expected an event id (at least 8 hex digits) or a time (ISO 8601, or epoch ms)`)
}

export interface ReplayOwner extends PeerRanges {
  removed: boolean
}

export interface ReplayDispute {
  id: EventId
  kind: 'overlap' | 'removal'
  ranges: string[]
  addresses: number | string
  parties: EventId[]
  claimants: PeerRef[]
}

export interface ReplayJson {
  /** The point asked for: an event (with its time), or a time (then `event` is null). */
  at: { event: EventId | null, time: string | null }
  /** Events the replay folds (the causal past of the event, or the largest causally closed set up to the time). */
  events: number
  /** Events in the log. */
  totalEvents: number
  heads: EventId[]
  range: string
  addresses: number | string
  /** Peers owning undisputed space at that point, by their lowest address. */
  owners: ReplayOwner[]
  disputed: { ranges: string[], addresses: number | string, disputes: ReplayDispute[] }
  /** Should always be empty: every address of the range has an owner or is disputed. */
  unowned: { ranges: string[], addresses: number | string }
}

export interface ReplayResult {
  json: ReplayJson
  /** The row of the event asked for, for the text header. */
  atRow?: EventRow
}

/** The ring as it was at a point, named with current nicknames. */
export function replayAt (reader: LogReader, at: AtPoint): ReplayResult {
  const ctx = contextOf(reader)
  const events = reader.events()
  const point = 'event' in at ? { event: at.event.id } : { time: at.time }
  const ring = replay(reader.clusterId, events, point)
  const json = replayJson(ring.snapshot(), ctx, ring.size, events.length)
  if ('event' in at) {
    const row = describeEvent(ctx, at.event)
    json.at = { event: at.event.id, time: row.time }
    return { json, atRow: row }
  }
  json.at = { event: null, time: iso(at.time) }
  return { json }
}

/** The replay JSON of a fold's snapshot (exported so tests can compare a fold with the command). */
export function replayJson (s: RingSnapshot, ctx: DescribeContext, events: number, totalEvents: number): ReplayJson {
  const family = s.family ?? ctx.family
  const range = s.range ?? RangeSet.empty(family)
  const owners: ReplayOwner[] = s.peers.filter(p => !p.owned.isEmpty)
    .sort((a, b) => (a.owned.spans[0]![0] < b.owned.spans[0]![0] ? -1 : 1))
    .map(p => ({
      peer: p.name,
      nickname: ctx.nickname(p.name) ?? p.nickname ?? null,
      ranges: cidrList(p.owned),
      addresses: count(p.owned.size, family),
      removed: p.removed !== undefined
    }))
  const disputed = s.disputed ?? RangeSet.empty(family)
  const unowned = RangeSet.fromSpans(family, s.segments.filter(x => x.state === 'unowned').map(x => [x.start, x.end] as const))
  const named = (peer: string): PeerRef => ({ peer, nickname: ctx.nickname(peer) })
  return {
    at: { event: null, time: null },
    events,
    totalEvents,
    heads: [...s.heads],
    range: cidrList(range)[0] ?? '',
    addresses: count(range.size, family),
    owners,
    disputed: {
      ranges: cidrList(disputed),
      addresses: count(disputed.size, family),
      disputes: s.disputes.filter(d => d.status === 'open').map(d => ({
        id: d.id,
        kind: d.kind,
        ranges: cidrList(d.ranges),
        addresses: count(d.ranges.size, family),
        parties: [...d.parties],
        claimants: d.claimants.map(named)
      }))
    },
    unowned: { ranges: cidrList(unowned), addresses: count(unowned.size, family) }
  }
}

// ---- conflicts --------------------------------------------------------------

export interface DisputeParty extends EventRow {
  /** False when this replica knows the party only as conflict evidence. */
  inLog: boolean
}

export interface ConflictDispute {
  id: EventId
  kind: 'overlap' | 'removal'
  status: 'open' | 'settled'
  ranges: string[]
  addresses: number | string
  /** Parties in topological order (lamport, then id). */
  parties: DisputeParty[]
  /** Resolves that settle it. */
  settledBy: EventId[]
  /** Who would get the space, first by (lamport, id): the default owner of `weft resolve`. */
  claimants: PeerRef[]
  /** Peers whose removal is at stake (removal disputes). */
  atStake: PeerRef[]
  /** Conflict events in the log that flagged it. */
  flaggedBy: EventId[]
}

export interface ConflictsJson {
  /** Open disputes first, then settled ones; by id within each. */
  disputes: ConflictDispute[]
  /** Void (and not-understood) events, in causal order, each with its reason. */
  voids: EventRow[]
  /** Moves overridden by a resolve (`overriddenBy`), in causal order. */
  overridden: EventRow[]
  equivocations: Array<{ author: PeerRef, seq: number, events: EventId[], flaggedBy: EventId, settled: boolean }>
  unresolved: number
}

export function conflicts (reader: LogReader): ConflictsJson {
  const ctx = contextOf(reader)
  const snap = reader.ring().snapshot()
  const events = reader.events()
  const byId = new Map(events.map(e => [e.id, e]))
  // Parties known only as evidence: decode them from the conflict events that carry them.
  const evidence = new Map<EventId, SignedEvent>()
  const flaggedBy = new Map<EventId, EventId[]>()
  for (const e of events) {
    if (e.event.kind !== 'conflict') continue
    for (const bytes of e.event.body.evidence) {
      try {
        const ev = decodeEvent(bytes, { trusted: true })
        evidence.set(ev.id, ev)
      } catch {}
    }
    for (const d of describeEvent(ctx, e).disputes ?? []) flaggedBy.set(d, [...(flaggedBy.get(d) ?? []), e.id])
  }
  const order = new Map(events.map((e, i) => [e.id, i]))
  const topo = (a: EventId, b: EventId): number => (order.get(a) ?? Infinity) - (order.get(b) ?? Infinity) || (a < b ? -1 : 1)
  const party = (id: EventId): DisputeParty => {
    const held = byId.get(id)
    const signed = held ?? evidence.get(id)
    if (signed === undefined) {
      return { id, time: null, lamport: 0, kind: 'unknown', author: null, authorNickname: null, summary: 'not held here', ranges: [], addresses: count(0n, ctx.family), status: 'valid', inLog: false }
    }
    return { ...describeEvent(ctx, signed), inLog: held !== undefined }
  }
  const named = (peer: string): PeerRef => ref(ctx, peer)
  const disputes: ConflictDispute[] = snap.disputes.map(d => ({
    id: d.id,
    kind: d.kind,
    status: d.status,
    ranges: cidrList(d.ranges),
    addresses: count(d.ranges.size, ctx.family),
    parties: d.parties.map(party).sort((a, b) => a.lamport - b.lamport || (a.id < b.id ? -1 : 1)),
    settledBy: [...d.settledBy],
    claimants: d.claimants.map(named),
    atStake: d.atStake.map(named),
    flaggedBy: flaggedBy.get(d.id) ?? []
  }))
  const rowOf = (id: EventId): EventRow => describeEvent(ctx, byId.get(id)!)
  return {
    disputes,
    voids: snap.voids.map(v => v.id).sort(topo).map(rowOf),
    overridden: snap.overridden.map(o => o.id).sort(topo).map(rowOf),
    equivocations: snap.equivocations.map(q => ({ author: named(q.author), seq: q.seq, events: [...q.events], flaggedBy: q.flaggedBy, settled: q.settled })),
    unresolved: disputes.filter(d => d.status === 'open').length + snap.equivocations.filter(q => !q.settled).length
  }
}
