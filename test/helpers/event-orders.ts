import { formatCidr, RangeSet } from '../../packages/netaddr/index.js'
import { compareEventsTopological } from '../../crdt/causal/index.js'
import type { EventId, SignedEvent } from '../../crdt/events/index.js'
import { OwnershipRing, type RingSnapshot } from '../../crdt/ring/index.js'

/**
 * Orders of and views on a set of signed events, for the fold's property and
 * story tests: causal pasts, linear extensions (random, author-first,
 * deepest-first), folds in a given order, and canonical snapshots to compare.
 */

// ---- event-set helpers ----

export function byId (events: Iterable<SignedEvent>): Map<EventId, SignedEvent> {
  const m = new Map<EventId, SignedEvent>()
  for (const e of events) m.set(e.id, e)
  return m
}

/** The causal past of `id` (inclusive), from its deps. */
export function causalPast (events: Iterable<SignedEvent>, id: EventId): SignedEvent[] {
  const all = byId(events)
  const out = new Map<EventId, SignedEvent>()
  const stack = [id]
  while (stack.length > 0) {
    const x = stack.pop()!
    if (out.has(x)) continue
    const e = all.get(x)
    if (e === undefined) throw new Error(`event ${x} is not in the set`)
    out.set(x, e)
    stack.push(...e.event.deps)
  }
  return [...out.values()]
}

export function topologicalOrder (events: Iterable<SignedEvent>): SignedEvent[] {
  return [...events].sort(compareEventsTopological)
}

/** A small deterministic PRNG (mulberry32), so a fast-check seed fixes a delivery order. */
export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * A linear extension of the dependency DAG: repeatedly deliver one event
 * whose deps are all delivered. `choose` picks among the ready events
 * (sorted by id so the choice depends only on the set).
 */
export function linearExtension (events: readonly SignedEvent[], choose: (ready: SignedEvent[]) => number, delivered: ReadonlySet<EventId> = new Set()): SignedEvent[] {
  const ids = new Set(events.map(e => e.id))
  const waiting = new Map<EventId, number>()
  const dependents = new Map<EventId, SignedEvent[]>()
  const ready: SignedEvent[] = []
  for (const e of events) {
    const deps = e.event.deps.filter(d => ids.has(d))
    if (e.event.deps.some(d => !ids.has(d) && !delivered.has(d))) throw new Error(`event ${e.id} has deps outside the set`)
    waiting.set(e.id, deps.length)
    for (const d of deps) dependents.set(d, [...(dependents.get(d) ?? []), e])
    if (deps.length === 0) ready.push(e)
  }
  const out: SignedEvent[] = []
  while (ready.length > 0) {
    ready.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    const [e] = ready.splice(choose(ready), 1)
    out.push(e!)
    for (const f of dependents.get(e!.id) ?? []) {
      const left = waiting.get(f.id)! - 1
      waiting.set(f.id, left)
      if (left === 0) ready.push(f)
    }
  }
  if (out.length !== events.length) throw new Error('the events do not form a DAG closed under deps')
  return out
}

export function randomLinearExtension (events: readonly SignedEvent[], seed: number, delivered?: ReadonlySet<EventId>): SignedEvent[] {
  const rnd = prng(seed)
  return linearExtension(events, ready => Math.floor(rnd() * ready.length), delivered)
}

/** Delivers one author's chain as far as possible before switching: far from topological order. */
export function authorFirstExtension (events: readonly SignedEvent[], seed: number): SignedEvent[] {
  const rnd = prng(seed)
  let current: string | undefined
  return linearExtension(events, ready => {
    const same = ready.findIndex(e => e.event.kind !== 'genesis' && e.event.author === current)
    if (same >= 0 && rnd() < 0.9) return same
    const i = Math.floor(rnd() * ready.length)
    const e = ready[i]!.event
    current = e.kind === 'genesis' ? undefined : e.author
    return i
  })
}

/** Always delivers the ready event with the highest lamport: deep chains before their concurrent siblings. */
export function deepestFirstExtension (events: readonly SignedEvent[]): SignedEvent[] {
  return linearExtension(events, ready => {
    let best = 0
    for (let i = 1; i < ready.length; i++) if (ready[i]!.event.lamport >= ready[best]!.event.lamport) best = i
    return best
  })
}

export function foldInOrder (clusterId: EventId, events: readonly SignedEvent[]): OwnershipRing {
  const ring = new OwnershipRing(clusterId)
  for (const e of events) ring.apply(e)
  return ring
}

// ---- canonical snapshots ----

const cidrText = (set: RangeSet | undefined): string => set === undefined ? '-' : set.toCidrs().map(formatCidr).join(',')

export interface CanonicalOptions {
  /** Keep segment boundaries exactly as the fold left them (otherwise equal neighbours are merged). */
  rawSegments?: boolean
  /**
   * Only what a fold compacted below a cut still knows (docs/epochs.md): the
   * ring, peers, open disputes, forks and heads; not the history (voids,
   * overrides, settled disputes, how many events are held).
   */
  live?: boolean
}

/**
 * A canonical, order-free rendering of everything a snapshot says about the
 * ring: ownership, peers, disputes, voids, overrides. Neighbouring segments
 * that say the same thing are merged unless `rawSegments`, since where the
 * fold happens to keep a boundary is not part of the ring's meaning.
 */
export function canonicalSnapshot (s: RingSnapshot, opts: CanonicalOptions = {}): string {
  const segs: Array<{ start: string, end: string, state: string, owner?: string, disputes: string }> = []
  for (const seg of s.segments) {
    const row = { start: seg.start.toString(), end: seg.end.toString(), state: seg.state, owner: seg.owner, disputes: [...seg.disputes].join(',') }
    const last = segs[segs.length - 1]
    if (opts.rawSegments !== true && last !== undefined && last.end === row.start && last.state === row.state && last.owner === row.owner && last.disputes === row.disputes) {
      last.end = row.end
    } else {
      segs.push(row)
    }
  }
  const live = opts.live === true
  return JSON.stringify({
    clusterId: s.clusterId,
    range: cidrText(s.range),
    segments: segs,
    peers: s.peers.map(p => ({
      name: p.name,
      nickname: p.nickname,
      seed: p.seed,
      member: p.member,
      removed: p.removed === undefined ? null : { by: p.removed.by, event: p.removed.event, time: p.removed.time },
      owned: cidrText(p.owned)
    })),
    disputes: s.disputes.filter(d => !live || d.status === 'open').map(d => ({
      id: d.id,
      kind: d.kind,
      parties: [...d.parties],
      evidenceOnly: [...d.evidenceOnly],
      ranges: cidrText(d.ranges),
      status: d.status,
      settledBy: [...d.settledBy],
      atStake: [...d.atStake],
      claimants: [...d.claimants]
    })),
    voids: live ? [] : s.voids.map(v => ({ id: v.id, kind: v.kind, author: v.author, reason: v.reason })),
    overridden: live ? [] : s.overridden.map(o => ({ id: o.id, by: [...o.by] })),
    equivocations: s.equivocations,
    readOnly: s.readOnly,
    heads: [...s.heads],
    events: live ? 0 : s.events,
    disputed: cidrText(s.disputed)
  })
}

/** The first difference between two canonical renderings, for readable failures. */
export function firstDifference (a: string, b: string): string {
  const x = JSON.parse(a) as Record<string, unknown>
  const y = JSON.parse(b) as Record<string, unknown>
  for (const key of Object.keys(x)) {
    const u = JSON.stringify(x[key])
    const v = JSON.stringify(y[key])
    if (u !== v) return `${key}:\n  ${u}\n  ${v}`
  }
  return 'no difference'
}

/**
 * Checks that the snapshot's segments tile the cluster range exactly, that
 * owned segments name one owner, that nothing is unowned, and that the peers'
 * owned sets are disjoint and agree with the segments. Returns the problems.
 */
export function tilingProblems (s: RingSnapshot): string[] {
  const problems: string[] = []
  const range = s.range
  if (range === undefined) return ['no range']
  const [start, end] = range.spans[0]!
  let at = start
  const owned = new Map<string, Array<readonly [bigint, bigint]>>()
  const disputed: Array<readonly [bigint, bigint]> = []
  for (const seg of s.segments) {
    if (seg.start !== at) problems.push(`segment starts at ${seg.start}, expected ${at}`)
    if (seg.end <= seg.start) problems.push(`empty segment at ${seg.start}`)
    at = seg.end
    if (seg.state === 'unowned') problems.push(`unowned segment ${seg.start}-${seg.end}`)
    if (seg.state === 'owned') {
      if (seg.owner === undefined) problems.push(`owned segment ${seg.start} without owner`)
      else owned.set(seg.owner, [...(owned.get(seg.owner) ?? []), [seg.start, seg.end]])
      if (seg.disputes.length > 0) problems.push(`owned segment ${seg.start} lists disputes`)
    }
    if (seg.state === 'disputed') {
      disputed.push([seg.start, seg.end])
      if (seg.owner !== undefined) problems.push(`disputed segment ${seg.start} has an owner`)
      if (seg.disputes.length === 0) problems.push(`disputed segment ${seg.start} names no dispute`)
    }
  }
  if (at !== end) problems.push(`segments end at ${at}, range ends at ${end}`)
  let union = RangeSet.empty(4)
  for (const p of s.peers) {
    const expected = RangeSet.fromSpans(4, owned.get(p.name) ?? [])
    if (!expected.equals(p.owned)) problems.push(`peer ${p.name} owned ${cidrText(p.owned)} but segments say ${cidrText(expected)}`)
    if (union.overlaps(p.owned)) problems.push(`peer ${p.name} owns addresses another peer owns`)
    union = union.union(p.owned)
  }
  for (const name of owned.keys()) if (!s.peers.some(p => p.name === name)) problems.push(`owner ${name} missing from peers`)
  const dis = RangeSet.fromSpans(4, disputed)
  if (s.disputed !== undefined && !s.disputed.equals(dis)) problems.push(`disputed ${cidrText(s.disputed)} but segments say ${cidrText(dis)}`)
  if (union.overlaps(dis)) problems.push('an address is both owned and disputed')
  if (!union.union(dis).equals(range)) problems.push(`owned ∪ disputed = ${cidrText(union.union(dis))}, not the range`)
  return problems
}
