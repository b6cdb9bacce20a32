import { formatCidr, parseCidr, RangeSet, type Family } from '../packages/netaddr/index.js'
import type { EventId, PeerName } from '../crdt/events/index.js'
import type { RemovalInfo, RingSnapshot } from '../crdt/ring/index.js'

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
  equivocations: Array<{ author: PeerName, seq: number, events: EventId[], flaggedBy: EventId }>
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
