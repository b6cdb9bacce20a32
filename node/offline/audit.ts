import { NetaddrError, parseAddress, parseCidr, RangeSet, type Span } from '../../packages/netaddr/index.js'
import type { EventId, PeerName, SignedEvent } from '../../crdt/events/index.js'
import type { OwnershipRing, RingEvent, RingSegment } from '../../crdt/ring/index.js'
import { count } from '../status.js'
import type { LogReader } from './reader.js'
import {
  cidrList, describeEvent, iso, OfflineQueryError, ref, resolvePeer, setOf,
  type DescribeContext, type ApprovalRef, type EventRow, type PeerRanges, type PeerRef
} from './describe.js'
import { contextOf, mentionedIn, OfflineUsageError } from './history.js'

/**
 * `weft audit` (DESIGN.md §2.4): for an address or a range, every event that
 * moved any of it, and who holds it now, since when, given by whom; for a
 * peer, every range it ever received and where each went. Only the fold's
 * valid, non-overridden moves count; overridden and void ones are shown,
 * marked, because an auditor wants to see them.
 */

export type AuditTarget =
  | { type: 'address' | 'range', text: string, set: RangeSet }
  | { type: 'peer', text: string, peer: PeerName }

/** A compact reference to an event, for "since" and "went" answers. */
export interface EventRef {
  id: EventId
  time: string | null
  kind: string
  author: PeerName | null
  authorNickname: string | null
}

export interface AuditEntry {
  event: EventRow
  /** The event's body CIDRs that touch the audited space (what the text line shows). */
  ranges: string[]
  /** Of the audited space, what the event gives to whom (nothing for a conflict). */
  moves: PeerRanges[]
  /** Whose space it was (transfer, leave: the author; takeover: the peer taken over); null for genesis and resolve. */
  from: PeerRef | null
  /** A valid move, not overridden within the audited space: it really moved it. */
  counted: boolean
}

export interface AuditNow {
  ranges: string[]
  addresses: number | string
  state: 'owned' | 'disputed' | 'unowned'
  owner?: PeerRef
  /** The move that gave it to the owner. */
  since?: EventRef & { from: PeerRef | null, approval?: ApprovalRef }
  /** Open disputes over it. */
  disputes?: EventId[]
}

export interface SpaceAuditJson {
  target: { type: 'address' | 'range', text: string, ranges: string[], addresses: number | string }
  events: AuditEntry[]
  now: AuditNow[]
}

export interface Fate {
  ranges: string[]
  addresses: number | string
  /**
   * still-owned: the peer holds it now; moved: a later move gave it away
   * (`to`, `by`; several `by` when they were concurrent); overridden: a
   * resolve gave it elsewhere; disputed/unowned/elsewhere: no later move,
   * and the ring now says so.
   */
  outcome: 'still-owned' | 'moved' | 'overridden' | 'disputed' | 'unowned' | 'elsewhere'
  to?: PeerRef[]
  by?: EventRef[]
  /** Who holds it now, when that differs from where the move sent it. */
  now?: { state: 'owned' | 'disputed' | 'unowned', owner?: PeerRef, disputes?: EventId[] }
}

export interface Receipt {
  event: EventRow
  /** What the peer got from this event. */
  ranges: string[]
  addresses: number | string
  /** The receipt was overridden by a resolve (within these ranges). */
  overridden: boolean
  fates: Fate[]
}

export interface PeerAuditJson {
  target: {
    type: 'peer'
    text: string
    peer: PeerName
    nickname: string | null
    removed: { by: PeerRef, event: EventId, time: string } | null
    owns: { ranges: string[], addresses: number | string }
  }
  received: Receipt[]
}

export type AuditJson = SpaceAuditJson | PeerAuditJson

/**
 * ADDRESS, CIDR or NAME. ADDRESS/PREFIX with host bits set (as `weft alloc`
 * prints it) is the address. The space must lie inside the cluster range.
 */
export function parseTarget (reader: LogReader, text: string): AuditTarget {
  const view = reader.view()
  const family = view.family
  const range = view.set([view.json.range])
  let set: RangeSet | undefined
  let type: 'address' | 'range' = 'address'
  const looksLikeAddress = /^[0-9.]+(\/\d+)?$/.test(text) || (text.includes(':') && /^[0-9a-fA-F:.]+(\/\d+)?$/.test(text))
  if (looksLikeAddress) {
    try {
      if (text.includes('/')) {
        try {
          const c = parseCidr(text)
          set = RangeSet.fromCidrs(c.family, [c])
          type = 'range'
        } catch (err) {
          if (!(err instanceof NetaddrError) || err.code !== 'host-bits-set') throw err
          const a = parseAddress(text.slice(0, text.indexOf('/')))
          set = RangeSet.fromSpans(a.family, [[a.value, a.value + 1n]])
        }
      } else {
        const a = parseAddress(text)
        set = RangeSet.fromSpans(a.family, [[a.value, a.value + 1n]])
      }
    } catch (err) {
      if (!(err instanceof NetaddrError)) throw err
      // A nickname may look like an address ("1234"); only if no peer has it is this a bad address.
      if (view.json.peers.some(p => p.nickname === text)) return { type: 'peer', text, peer: resolvePeer(view, text) }
      throw new OfflineUsageError(`invalid address or CIDR: ${err.message}`)
    }
  }
  if (set === undefined) return { type: 'peer', text, peer: resolvePeer(view, text, mentionedIn(reader)) }
  const what = type === 'address' ? text.replace(/\/\d+$/, '') : text
  if (set.family !== family) throw new OfflineQueryError(`${what} is IPv${set.family}; the cluster range ${view.json.range} is IPv${family}`)
  if (!range.containsSet(set)) {
    throw new OfflineQueryError(`${what} is ${range.overlaps(set) ? 'not entirely inside' : 'outside'} the cluster range ${view.json.range}`)
  }
  return { type, text: what, set }
}

export function audit (reader: LogReader, target: AuditTarget): AuditJson {
  return target.type === 'peer' ? auditPeer(reader, target.peer, target.text) : auditSpace(reader, target)
}

// ---- helpers over the fold --------------------------------------------------

interface Move {
  signed: SignedEvent
  ev: RingEvent
}

function eventRef (row: EventRow): EventRef {
  return { id: row.id, time: row.time, kind: row.kind, author: row.author, authorNickname: row.authorNickname }
}

function moveOf (ring: OwnershipRing, signed: SignedEvent): Move | undefined {
  const ev = ring.verdict(signed.id)
  return ev === undefined || ev.status !== 'valid' || ev.moved === undefined ? undefined : { signed, ev }
}

/** Overridden at address `at`: some resolve overriding it moved `at`. */
function overriddenAt (ev: RingEvent, at: bigint): RingEvent | undefined {
  return ev.overriddenBy.find(r => r.moved?.containsAddress(at) === true)
}

/** The peer a move gives `at` to. */
function grantee (ring: OwnershipRing, ev: RingEvent, at: bigint): PeerName | undefined {
  const g = ev.grants?.find(x => x.ranges.containsAddress(at))
  return g === undefined ? undefined : ring.causal.peers[g.peer]
}

/** Among moves of one address, those no other has seen (its frontier in the fold). */
function maximal (ring: OwnershipRing, moves: readonly Move[]): Move[] {
  return moves.filter(m => !moves.some(o => o !== m && ring.causal.hasSeen(o.ev.node, m.ev.node)))
}

/** Minimal ones: not having seen any other. */
function minimal (ring: OwnershipRing, moves: readonly Move[]): Move[] {
  return moves.filter(m => !moves.some(o => o !== m && ring.causal.hasSeen(m.ev.node, o.ev.node)))
}

/** Cuts `set` at every edge of `cuts` (clipped to it): the elementary intervals. */
function atoms (set: RangeSet, cuts: Iterable<Span>): Span[] {
  const edges = new Set<bigint>()
  for (const [s, e] of set.spans) { edges.add(s); edges.add(e) }
  for (const [s, e] of cuts) { edges.add(s); edges.add(e) }
  const sorted = [...edges].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  const out: Span[] = []
  for (let i = 0; i + 1 < sorted.length; i++) {
    const a = sorted[i]!
    if (set.containsAddress(a)) out.push([a, sorted[i + 1]!])
  }
  return out
}

/**
 * Walks `atoms` (sorted, each inside or outside every span of every item)
 * and calls `visit` with the items covering each one: a sweep, so a wide
 * audit costs atoms + spans, not atoms × items.
 */
function sweep<T> (atomList: readonly Span[], items: ReadonlyArray<{ item: T, spans: readonly Span[] }>, visit: (span: Span, covering: readonly T[]) => void): void {
  const edges: Array<{ at: bigint, add: boolean, item: T }> = []
  for (const { item, spans } of items) {
    for (const [s, e] of spans) edges.push({ at: s, add: true, item }, { at: e, add: false, item })
  }
  // Removals before additions at one address: spans are half-open.
  edges.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : Number(a.add) - Number(b.add)))
  const order = new Map(items.map((x, i) => [x.item, i]))
  const active = new Map<T, number>()
  let k = 0
  for (const span of atomList) {
    while (k < edges.length && edges[k]!.at <= span[0]) {
      const { add, item } = edges[k++]!
      const n = (active.get(item) ?? 0) + (add ? 1 : -1)
      if (n > 0) active.set(item, n)
      else active.delete(item)
    }
    visit(span, [...active.keys()].sort((a, b) => order.get(a)! - order.get(b)!))
  }
}

function segmentAt (segments: readonly RingSegment[], at: bigint): RingSegment | undefined {
  let lo = 0
  let hi = segments.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    const s = segments[mid]!
    if (at < s.start) hi = mid - 1
    else if (at >= s.end) lo = mid + 1
    else return s
  }
  return undefined
}

/** Groups consecutive atoms with equal keys into range sets, keeping first-seen order. */
function group<T> (family: 4 | 6, items: Array<{ span: Span, key: string, value: T }>): Array<{ set: RangeSet, value: T }> {
  const byKey = new Map<string, { spans: Span[], value: T }>()
  for (const it of items) {
    const g = byKey.get(it.key)
    if (g === undefined) byKey.set(it.key, { spans: [it.span], value: it.value })
    else g.spans.push(it.span)
  }
  return [...byKey.values()].map(g => ({ set: RangeSet.fromSpans(family, g.spans), value: g.value }))
}

function fromOf (ctx: DescribeContext, signed: SignedEvent): PeerRef | null {
  const e = signed.event
  switch (e.kind) {
    case 'transfer': case 'leave': return ref(ctx, e.author)
    case 'takeover': return ref(ctx, e.body.from)
    default: return null
  }
}

// ---- address / range --------------------------------------------------------

function auditSpace (reader: LogReader, target: Extract<AuditTarget, { set: RangeSet }>): SpaceAuditJson {
  const ctx = contextOf(reader)
  const ring = reader.ring()
  const family = ctx.family
  const t = target.set
  const entries: AuditEntry[] = []
  const moves: Move[] = []
  for (const signed of reader.events()) {
    if (signed.event.kind === 'join') continue
    const row = describeEvent(ctx, signed)
    const shown = row.ranges.filter(c => setOf(family, [parseCidr(c)]).overlaps(t))
    if (shown.length === 0) continue
    const m = moveOf(ring, signed)
    if (m !== undefined) moves.push(m)
    const gives: PeerRanges[] = []
    const recipients = row.kind === 'transfer' || row.kind === 'takeover'
      ? [{ ...row.to!, ranges: row.ranges }]
      : row.heirs ?? row.owners ?? []
    for (const r of recipients) {
      const part = setOf(family, r.ranges.map(c => parseCidr(c))).intersect(t)
      if (!part.isEmpty) gives.push({ peer: r.peer, nickname: r.nickname, ranges: cidrList(part), addresses: count(part.size, family) })
    }
    const movedHere = m?.ev.moved?.intersect(t)
    const overridden = m !== undefined && movedHere !== undefined && m.ev.overriddenBy.some(r => r.moved?.overlaps(movedHere) === true)
    entries.push({ event: row, ranges: shown, moves: gives, from: fromOf(ctx, signed), counted: m !== undefined && !overridden })
  }

  // Who holds each piece now, and which move gave it to them.
  const snap = ring.snapshot()
  const cuts: Span[] = []
  for (const m of moves) for (const s of m.ev.moved!.intersect(t).spans) cuts.push(s)
  for (const seg of snap.segments) if (seg.end > t.spans[0]![0] && seg.start < t.spans.at(-1)![1]) cuts.push([seg.start, seg.end])
  const rows = new Map(entries.map(e => [e.event.id, e]))
  const items: Array<{ span: Span, key: string, value: Omit<AuditNow, 'ranges' | 'addresses'> }> = []
  sweep(atoms(t, cuts), moves.map(m => ({ item: m, spans: m.ev.moved!.intersect(t).spans })), (span, covering) => {
    const at = span[0]
    const seg = segmentAt(snap.segments, at)
    if (seg === undefined || seg.state === 'unowned') {
      items.push({ span, key: 'unowned', value: { state: 'unowned' } })
    } else if (seg.state === 'disputed') {
      items.push({ span, key: `disputed:${seg.disputes.join()}`, value: { state: 'disputed', disputes: [...seg.disputes] } })
    } else {
      const here = covering.filter(m => overriddenAt(m.ev, at) === undefined)
      const last = maximal(ring, here).filter(m => grantee(ring, m.ev, at) === seg.owner)
      const by = last.at(-1)
      const value: Omit<AuditNow, 'ranges' | 'addresses'> = { state: 'owned', owner: ref(ctx, seg.owner!) }
      if (by !== undefined) {
        const entry = rows.get(by.signed.id)!
        value.since = { ...eventRef(entry.event), from: entry.from, ...(entry.event.approval !== undefined ? { approval: entry.event.approval } : {}) }
      }
      items.push({ span, key: `owned:${seg.owner!}:${by?.signed.id ?? ''}`, value })
    }
  })
  const now = group(family, items).map(({ set, value }) => ({ ranges: cidrList(set), addresses: count(set.size, family), ...value }))
  return {
    target: { type: target.type, text: target.text, ranges: cidrList(t), addresses: count(t.size, family) },
    events: entries,
    now
  }
}

// ---- peer ---------------------------------------------------------------------

function auditPeer (reader: LogReader, peer: PeerName, text: string): PeerAuditJson {
  const ctx = contextOf(reader)
  const ring = reader.ring()
  const family = ctx.family
  const idx = ring.causal.peerIndexOf(peer)
  const view = reader.view()
  const vp = view.peer(peer)
  const owns = view.ownedBy(peer)
  const snap = ring.snapshot()
  const all: Move[] = []
  for (const signed of reader.events()) {
    const m = moveOf(ring, signed)
    if (m !== undefined) all.push(m)
  }
  const rowCache = new Map<EventId, EventRow>()
  const rowOf = (signed: SignedEvent): EventRow => {
    let r = rowCache.get(signed.id)
    if (r === undefined) rowCache.set(signed.id, r = describeEvent(ctx, signed))
    return r
  }
  const nowAt = (at: bigint): NonNullable<Fate['now']> => {
    const seg = segmentAt(snap.segments, at)
    if (seg === undefined || seg.state === 'unowned') return { state: 'unowned' }
    if (seg.state === 'disputed') return { state: 'disputed', disputes: [...seg.disputes] }
    return { state: 'owned', owner: ref(ctx, seg.owner!) }
  }
  const received: Receipt[] = []
  for (const m of all) {
    const got = (m.ev.grants ?? []).filter(g => g.peer === idx)
    if (idx === undefined || got.length === 0) continue
    let set = RangeSet.empty(family)
    for (const g of got) set = set.union(g.ranges)
    // The later moves of this space that saw this one: where it went from here.
    const later = all.filter(o => o !== m && o.ev.moved!.overlaps(set) && ring.causal.hasSeen(o.ev.node, m.ev.node))
    const cuts: Span[] = []
    for (const o of later) cuts.push(...o.ev.moved!.intersect(set).spans)
    for (const r of m.ev.overriddenBy) if (r.moved !== undefined) cuts.push(...r.moved.intersect(set).spans)
    for (const seg of snap.segments) if (seg.end > set.spans[0]![0] && seg.start < set.spans.at(-1)![1]) cuts.push([seg.start, seg.end])
    const items: Array<{ span: Span, key: string, value: Omit<Fate, 'ranges' | 'addresses'> }> = []
    sweep(atoms(set, cuts), later.map(o => ({ item: o, spans: o.ev.moved!.intersect(set).spans })), (span, covering) => {
      const at = span[0]
      const now = nowAt(at)
      const nowKey = `${now.state}:${now.owner?.peer ?? ''}:${(now.disputes ?? []).join()}`
      const next = minimal(ring, covering.filter(o => overriddenAt(o.ev, at) === undefined))
      if (next.length > 0) {
        const to = [...new Set(next.map(o => grantee(ring, o.ev, at)!))]
        const value: Omit<Fate, 'ranges' | 'addresses'> = { outcome: 'moved', to: to.map(p => ref(ctx, p)), by: next.map(o => eventRef(rowOf(o.signed))) }
        if (!(to.length === 1 && now.state === 'owned' && now.owner!.peer === to[0])) value.now = now
        items.push({ span, key: `moved:${next.map(o => o.signed.id).join()}:${nowKey}`, value })
        return
      }
      const over = overriddenAt(m.ev, at)
      if (over !== undefined) {
        const to = grantee(ring, over, at)
        const value: Omit<Fate, 'ranges' | 'addresses'> = { outcome: 'overridden', by: [eventRef(rowOf(over.node.signed))] }
        if (to !== undefined) value.to = [ref(ctx, to)]
        if (!(to !== undefined && now.state === 'owned' && now.owner!.peer === to)) value.now = now
        items.push({ span, key: `over:${over.node.id}:${nowKey}`, value })
        return
      }
      if (now.state === 'owned' && now.owner!.peer === peer) items.push({ span, key: 'still', value: { outcome: 'still-owned' } })
      else if (now.state === 'owned') items.push({ span, key: nowKey, value: { outcome: 'elsewhere', now } })
      else items.push({ span, key: nowKey, value: { outcome: now.state, now } })
    })
    const fates = group(family, items).map(({ set: s, value }) => ({ ranges: cidrList(s), addresses: count(s.size, family), ...value }))
    received.push({
      event: rowOf(m.signed),
      ranges: cidrList(set),
      addresses: count(set.size, family),
      overridden: m.ev.overriddenBy.some(r => r.moved?.overlaps(set) === true),
      fates
    })
  }
  const removed = vp?.removed
  return {
    target: {
      type: 'peer',
      text,
      peer,
      nickname: ctx.nickname(peer),
      removed: removed === undefined ? null : { by: ref(ctx, removed.by), event: removed.event, time: iso(removed.time) },
      owns: { ranges: cidrList(owns), addresses: count(owns.size, family) }
    },
    received
  }
}
