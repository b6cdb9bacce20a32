import { formatCidr, parseCidr, RangeSet, type Family } from '../packages/netaddr/index.js'
import type { EventId, PeerName } from '../crdt/events/index.js'
import { isPeerName } from '../crdt/events/peer-id.js'
import type { RemovalInfo, RingSnapshot } from '../crdt/ring/index.js'
import { arrayOf, bool, checkShape, count, finite, literal, object, str, strWhere, type Shape } from './shape.js'

/**
 * The ring snapshot in a JSON-safe form: what the store persists with the
 * heads it reflects, what crosses from the log worker to the main thread,
 * and what offline commands read. Ranges are CIDR text lists.
 */
export interface RingViewJson {
  v: 1
  clusterId: EventId
  family: Family
  range: string
  events: number
  heads: EventId[]
  readOnly: boolean
  disputed: string[]
  unowned: string[]
  peers: Array<{
    name: PeerName
    nickname?: string
    addrs: string[]
    seed: boolean
    member: boolean
    removed?: { by: PeerName, event: EventId, kind: 'takeover' | 'leave' | 'resolve', time: number, approved?: { votes: PeerName[], of: number } }
    owned: string[]
  }>
  disputes: Array<{
    id: EventId
    kind: 'overlap' | 'removal'
    parties: EventId[]
    evidenceOnly: EventId[]
    ranges: string[]
    status: 'open' | 'settled'
    settledBy: EventId[]
    atStake: PeerName[]
    claimants: PeerName[]
  }>
  voids: Array<{ id: EventId, kind: string, author?: PeerName, reason: string }>
  overridden: Array<{ id: EventId, by: EventId[] }>
  equivocations: Array<{ author: PeerName, seq: number, events: EventId[], flaggedBy: EventId, settled: boolean }>
}

const cidrs = (set: RangeSet | undefined): string[] => set === undefined ? [] : set.toCidrs().map(formatCidr)

export function ringViewFromSnapshot (s: RingSnapshot): RingViewJson | undefined {
  if (s.family === undefined || s.range === undefined) return undefined
  const unowned = RangeSet.fromSpans(s.family, s.segments.filter(x => x.state === 'unowned').map(x => [x.start, x.end] as const))
  return {
    v: 1,
    clusterId: s.clusterId,
    family: s.family,
    range: cidrs(s.range)[0]!,
    events: s.events,
    heads: [...s.heads],
    readOnly: s.readOnly,
    disputed: cidrs(s.disputed),
    unowned: cidrs(unowned),
    peers: s.peers.map(p => ({
      name: p.name,
      ...(p.nickname !== undefined ? { nickname: p.nickname } : {}),
      addrs: [...p.addrs],
      seed: p.seed,
      member: p.member,
      ...(p.removed !== undefined ? { removed: removalJson(p.removed) } : {}),
      owned: cidrs(p.owned)
    })),
    disputes: s.disputes.map(d => ({
      id: d.id,
      kind: d.kind,
      parties: [...d.parties],
      evidenceOnly: [...d.evidenceOnly],
      ranges: cidrs(d.ranges),
      status: d.status,
      settledBy: [...d.settledBy],
      atStake: [...d.atStake],
      claimants: [...d.claimants]
    })),
    voids: s.voids.map(v => ({ ...v })),
    overridden: s.overridden.map(o => ({ id: o.id, by: [...o.by] })),
    equivocations: s.equivocations.map(q => ({ ...q, events: [...q.events] }))
  }
}

const eventId = strWhere('an event id', s => /^[0-9a-f]{64}$/.test(s))
const peerName = strWhere('a peer name', isPeerName)

/**
 * The shape of a RingViewJson, checked where one is read back from disk (the
 * persisted snapshot): a view that RingView and status would trip over later
 * is refused at once. CIDRs must parse, in the view's family.
 */
function ringViewShape (family: Family): Shape<RingViewJson> {
  const cidr = strWhere(`an IPv${family} CIDR`, s => {
    try {
      return parseCidr(s).family === family
    } catch {
      return false
    }
  })
  return object({
    v: literal(1),
    clusterId: eventId,
    family: literal(4, 6),
    range: cidr,
    events: count,
    heads: arrayOf(eventId),
    readOnly: bool,
    disputed: arrayOf(cidr),
    unowned: arrayOf(cidr),
    peers: arrayOf(object({
      name: peerName,
      addrs: arrayOf(str),
      seed: bool,
      member: bool,
      owned: arrayOf(cidr)
    }, {
      nickname: str,
      removed: object({
        by: peerName,
        event: eventId,
        kind: literal('takeover', 'leave', 'resolve'),
        time: finite
      }, { approved: object({ votes: arrayOf(peerName), of: count }) })
    })),
    disputes: arrayOf(object({
      id: eventId,
      kind: literal('overlap', 'removal'),
      parties: arrayOf(eventId),
      evidenceOnly: arrayOf(eventId),
      ranges: arrayOf(cidr),
      status: literal('open', 'settled'),
      settledBy: arrayOf(eventId),
      atStake: arrayOf(peerName),
      claimants: arrayOf(peerName)
    })),
    voids: arrayOf(object({ id: eventId, kind: str, reason: str }, { author: peerName })),
    overridden: arrayOf(object({ id: eventId, by: arrayOf(eventId) })),
    equivocations: arrayOf(object({ author: peerName, seq: count, events: arrayOf(eventId), flaggedBy: eventId, settled: bool }))
  }) as Shape<RingViewJson>
}

/** `x` as a RingViewJson, or a ShapeError naming the first field that is wrong. */
export function checkRingViewJson (x: unknown): RingViewJson {
  const family = (x as { family?: unknown } | null)?.family
  return checkShape(x, ringViewShape(family === 6 ? 6 : 4))
}

/** Read helpers over a RingViewJson, with range sets built once. */
export class RingView {
  readonly json: RingViewJson
  private readonly owned = new Map<PeerName, RangeSet>()

  constructor (json: RingViewJson) {
    this.json = json
  }

  get family (): Family { return this.json.family }
  get total (): bigint { return this.set([this.json.range]).size }

  set (list: readonly string[]): RangeSet {
    return RangeSet.fromCidrs(this.json.family, list.map(c => parseCidr(c)))
  }

  ownedBy (name: PeerName): RangeSet {
    let s = this.owned.get(name)
    if (s === undefined) {
      s = this.set(this.json.peers.find(p => p.name === name)?.owned ?? [])
      this.owned.set(name, s)
    }
    return s
  }

  peer (name: PeerName): RingViewJson['peers'][number] | undefined {
    return this.json.peers.find(p => p.name === name)
  }

  get disputedSet (): RangeSet { return this.set(this.json.disputed) }
  get openDisputes (): RingViewJson['disputes'] { return this.json.disputes.filter(d => d.status === 'open') }
}

function removalJson (r: RemovalInfo): NonNullable<RingViewJson['peers'][number]['removed']> {
  const { approved, ...rest } = r
  return { ...rest, ...(approved !== undefined ? { approved: { votes: [...approved.votes], of: approved.of } } : {}) }
}
