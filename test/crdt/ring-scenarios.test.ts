import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseCidr, RangeSet, type Cidr } from '../../packages/netaddr/index.js'
import { compareTopological } from '../../crdt/causal/index.js'
import type { EventId, SignedEvent } from '../../crdt/events/index.js'
import { disputeId, OwnershipRing, type RingSnapshot } from '../../crdt/ring/index.js'
import {
  canonicalSnapshot, ClusterModel, firstDifference, foldInOrder, linearExtension, OUTSIDER, tilingProblems, topologicalOrder
} from '../helpers/cluster-model.js'

/**
 * Deterministic stories for the fold's edge cases (DESIGN.md §2.2–2.4). Peers
 * are host1… of a ClusterModel over 10.0.0.0/20 (fixed keys, so every run
 * produces the same event ids); host1 is the only seed unless a story says
 * otherwise, so at the start it owns the whole range.
 *
 * A story marked `todo` pins an open design question: it fails today and
 * describes one answer to it, not a settled requirement of DESIGN.md.
 */

const H1 = 0
const H2 = 1
const H3 = 2
const H4 = 3
const H5 = 4
const H6 = 5

const set = (...cidrs: string[]): RangeSet => RangeSet.fromCidrs(4, cidrs.map(c => parseCidr(c)))
const list = (...cidrs: string[]): Cidr[] => set(...cidrs).toCidrs()

function owned (s: RingSnapshot, m: ClusterModel, who: number): RangeSet {
  return s.peers.find(p => p.name === m.name(who))?.owned ?? RangeSet.empty(4)
}

function removed (s: RingSnapshot, m: ClusterModel, who: number): boolean {
  return s.peers.find(p => p.name === m.name(who))?.removed !== undefined
}

function openDisputes (s: RingSnapshot): RingSnapshot['disputes'] {
  return s.disputes.filter(d => d.status === 'open')
}

function verdict (m: ClusterModel, on: number, e: SignedEvent): { status: string, reason?: string } {
  const v = m.peers[on]!.ring.verdict(e.id)
  assert.ok(v !== undefined, `peer ${on + 1} does not hold ${e.id}`)
  return v.reason === undefined ? { status: v.status } : { status: v.status, reason: v.reason }
}

/** Every replica's snapshot. */
function everywhere (m: ClusterModel): RingSnapshot[] {
  return m.peers.map(p => p.ring.snapshot())
}

/** Folds `events` delivering `first` as early as the deps allow. */
function foldPreferring (m: ClusterModel, events: SignedEvent[], first: EventId): OwnershipRing {
  return foldInOrder(m.genesis.id, linearExtension(events, ready => Math.max(0, ready.findIndex(e => e.id === first))))
}

/** host1 hands host3 10.0.8.0/21 and host2 10.0.4.0/22; everybody learns of it. */
function threeHosts (n = 3): ClusterModel {
  const m = new ClusterModel(n, 1)
  m.transfer(H1, H3, list('10.0.8.0/21'))
  m.transfer(H1, H2, list('10.0.4.0/22'))
  m.syncAll()
  return m
}

// ---------------------------------------------------------------------------
// Removal disputes

/** host3 was only partitioned: it hands 10.0.8.0/23 to host2 while host1 takes it over. */
function host3OnlyPartitioned (): { m: ClusterModel, takeover: SignedEvent, donation: SignedEvent } {
  const m = threeHosts()
  m.partition([0, 0, 1])
  const takeover = m.takeover(H1, H3)
  const donation = m.transfer(H3, H2, list('10.0.8.0/23'))
  m.heal()
  m.syncAll()
  return { m, takeover, donation }
}

test('a "dead" peer that was only partitioned: its move and its removal open one removal dispute', () => {
  const { m, takeover, donation } = host3OnlyPartitioned()
  assert.deepEqual(verdict(m, H1, takeover), { status: 'valid' })
  assert.deepEqual(verdict(m, H3, donation), { status: 'valid' })
  const ids = new Set<string>()
  for (const s of everywhere(m)) {
    const open = openDisputes(s)
    assert.equal(open.length, 1)
    const d = open[0]!
    ids.add(d.id)
    assert.equal(d.kind, 'removal')
    assert.deepEqual([...d.parties].sort(), [takeover.id, donation.id].sort())
    assert.deepEqual(d.atStake, [m.name(H3)])
    // The union of both events' ranges: everything host3 had, not just what it gave away.
    assert.ok(d.ranges.equals(set('10.0.8.0/21')), d.ranges.toString())
    // While it is open neither removal takes effect, and nobody owns the space.
    assert.equal(removed(s, m, H3), false)
    assert.ok(s.disputed?.equals(set('10.0.8.0/21')))
    assert.ok(owned(s, m, H2).equals(set('10.0.4.0/22')), 'host2 does not get the donation while it is disputed')
    assert.ok(owned(s, m, H1).equals(set('10.0.0.0/22')))
    assert.deepEqual(tilingProblems(s), [])
  }
  assert.equal(ids.size, 1, 'every replica names the same dispute')
  assert.equal([...ids][0], disputeId([takeover.id, donation.id]))
})

test('a resolve whose removal stands: host3 is removed and its space goes where the resolve says', () => {
  const { m, takeover, donation } = host3OnlyPartitioned()
  const d = openDisputes(m.snap(H2))[0]!
  const r = m.resolve(H2, d, [{ owner: H1, ranges: d.ranges }], [H3])
  assert.deepEqual(verdict(m, H2, r), { status: 'valid' })
  m.syncAll()
  for (const s of everywhere(m)) {
    assert.equal(s.disputes.find(x => x.id === d.id)?.status, 'settled')
    assert.deepEqual(openDisputes(s), [])
    assert.equal(removed(s, m, H3), true)
    assert.ok(owned(s, m, H1).equals(set('10.0.0.0/22', '10.0.8.0/21')))
    assert.ok(owned(s, m, H2).equals(set('10.0.4.0/22')))
    assert.deepEqual(tilingProblems(s), [])
  }
  // The parties are superseded by the resolve, not overridden: it saw them both.
  assert.deepEqual(m.snap(H1).overridden.filter(o => o.id === takeover.id || o.id === donation.id), [])
  // host3, once it learns, is removed in its own view: what it authors now is void.
  const late = m.transfer(H3, H2, list('10.0.10.0/23'))
  assert.equal(verdict(m, H3, late).status, 'void')
  assert.match(verdict(m, H3, late).reason ?? '', /removed/)
})

test('a resolve whose removal does not stand: host3 stays a member and keeps what it is given', () => {
  const { m } = host3OnlyPartitioned()
  const d = openDisputes(m.snap(H2))[0]!
  // host2 keeps what host3 gave it; host3 keeps the rest. host1's takeover is undone.
  const r = m.resolve(H2, d, [{ owner: H2, ranges: set('10.0.8.0/23') }, { owner: H3, ranges: set('10.0.10.0/23', '10.0.12.0/22') }], [])
  assert.deepEqual(verdict(m, H2, r), { status: 'valid' })
  m.syncAll()
  for (const s of everywhere(m)) {
    assert.equal(s.disputes.find(x => x.id === d.id)?.status, 'settled')
    assert.equal(removed(s, m, H3), false)
    assert.ok(owned(s, m, H3).equals(set('10.0.10.0/23', '10.0.12.0/22')))
    assert.ok(owned(s, m, H2).equals(set('10.0.4.0/22', '10.0.8.0/23')))
    assert.ok(owned(s, m, H1).equals(set('10.0.0.0/22')))
    assert.deepEqual(tilingProblems(s), [])
  }
  // host3 is a member in good standing: it can move its space again.
  const next = m.transfer(H3, H1, list('10.0.12.0/24'))
  assert.deepEqual(verdict(m, H3, next), { status: 'valid' })
})

test('a resolve may only list removals that are at stake in its disputes', () => {
  const { m } = host3OnlyPartitioned()
  const d = openDisputes(m.snap(H2))[0]!
  // host1's removal is not at stake: only host3's is.
  const r = m.resolve(H2, d, [{ owner: H3, ranges: d.ranges }], [H1])
  assert.equal(verdict(m, H2, r).status, 'void')
  assert.match(verdict(m, H2, r).reason ?? '', /not at stake/)
  // A void resolve settles nothing.
  assert.equal(openDisputes(m.snap(H2)).length, 1)
})

test('mutual removal in a partition: neither removal takes effect while the dispute is open', () => {
  const m = threeHosts()
  m.partition([0, 1, 0])
  const t12 = m.takeover(H1, H2)
  const t21 = m.takeover(H2, H1)
  m.heal()
  m.syncAll()
  const ids = new Set<string>()
  for (const s of everywhere(m)) {
    const open = openDisputes(s)
    assert.equal(open.length, 1)
    ids.add(open[0]!.id)
    assert.equal(open[0]!.kind, 'removal')
    assert.deepEqual([...open[0]!.parties].sort(), [t12.id, t21.id].sort())
    assert.deepEqual([...open[0]!.atStake].sort(), [m.name(H1), m.name(H2)].sort())
    assert.ok(open[0]!.ranges.equals(set('10.0.0.0/21')))
    assert.equal(removed(s, m, H1), false)
    assert.equal(removed(s, m, H2), false)
  }
  assert.equal(ids.size, 1)
})

test('mutual removal where one side owns nothing: neither removal takes effect while the dispute is open', () => {
  // host2 owns nothing; host1 owns everything. In a partition host1 takes over
  // host2 (0 IPs) and host2 takes over host1 (all of it). The takeover that moves
  // nothing still counts: the removal dispute {t12, t21} has both peers at stake,
  // and neither removal takes effect while it is open.
  const m = new ClusterModel(3, 1)
  m.partition([0, 1, 0])
  const t12 = m.takeover(H1, H2)
  const t21 = m.takeover(H2, H1)
  m.heal()
  m.syncAll()
  for (const s of everywhere(m)) {
    const open = openDisputes(s)
    assert.equal(open.length, 1)
    assert.deepEqual([...open[0]!.parties].sort(), [t12.id, t21.id].sort())
    assert.deepEqual([...open[0]!.atStake].sort(), [m.name(H1), m.name(H2)].sort())
    assert.equal(removed(s, m, H2), false)
    assert.equal(removed(s, m, H1), false, 'host1 is removed although its removal is at stake in an open dispute')
  }
})

// ---------------------------------------------------------------------------
// Takeovers of removed peers

test('a second takeover of a removed peer reclaims exactly the space that reached it later', () => {
  const m = threeHosts(4)
  m.partition([0, 1, 0, 0])
  const first = m.takeover(H1, H3)
  // host2 has not heard of the takeover: host3 is alive to it, so it may give it space.
  const late = m.transfer(H2, H3, list('10.0.4.0/24'))
  assert.deepEqual(verdict(m, H2, late), { status: 'valid' })
  m.heal()
  m.syncAll()
  for (const s of everywhere(m)) {
    // A move *to* a removed peer is no dispute: only moves *by* it are.
    assert.deepEqual(openDisputes(s), [])
    assert.equal(removed(s, m, H3), true)
    assert.ok(owned(s, m, H3).equals(set('10.0.4.0/24')), 'a removed peer owns what reached it later')
    assert.deepEqual(tilingProblems(s), [])
  }
  assert.ok(owned(m.snap(H1), m, H1).equals(set('10.0.0.0/22', '10.0.8.0/21')))

  // Taking it over again with its old space is wrong now: void.
  const stale = m.takeoverWith(H4, H3, list('10.0.8.0/21'))
  assert.equal(verdict(m, H4, stale).status, 'void')
  assert.match(verdict(m, H4, stale).reason ?? '', /not exactly/)
  // Exactly what reached it: valid, and it moves.
  const second = m.takeover(H4, H3)
  assert.deepEqual((second.event.kind === 'takeover' ? second.event.body.ranges : []).map(c => c.prefix), [24])
  assert.deepEqual(verdict(m, H4, second), { status: 'valid' })
  // Nothing left: a third takeover reclaims 0 IPs, validly.
  m.sync(H4, H1)
  const third = m.takeover(H1, H3)
  assert.equal(third.event.kind === 'takeover' && third.event.body.ranges.length, 0)
  assert.deepEqual(verdict(m, H1, third), { status: 'valid' })
  m.syncAll()
  for (const s of everywhere(m)) {
    assert.ok(owned(s, m, H4).equals(set('10.0.4.0/24')))
    assert.ok(owned(s, m, H3).isEmpty)
    assert.deepEqual(openDisputes(s), [])
    assert.ok(s.voids.some(v => v.id === stale.id))
  }
  assert.ok(first !== undefined)
})

// ---------------------------------------------------------------------------
// Void events

test('events that fail their authority check are void, kept, move nothing and are listed with a reason', () => {
  const m = threeHosts(4)
  const before = owned(m.snap(H1), m, H1)
  // host2 gives away space it does not own.
  const notOwned = m.transfer(H2, H4, list('10.0.0.0/24'))
  // host1 gives to a peer that never joined.
  const nonMember = m.transfer(H1, OUTSIDER, list('10.0.0.0/24'))
  // host4 takes over host3 but names only part of its space.
  const wrongRanges = m.takeoverWith(H4, H3, list('10.0.8.0/22'))
  // host1 transfers to itself.
  const toSelf = m.transfer(H1, H1, list('10.0.1.0/24'))
  // host2 leaves but keeps some of its space.
  const partialLeave = m.leaveWith(H2, [{ peer: H1, ranges: list('10.0.4.0/23') }])
  const expected: Array<[SignedEvent, number, RegExp]> = [
    [notOwned, H2, /does not own/],
    [nonMember, H1, /has not joined/],
    [wrongRanges, H4, /not exactly/],
    [toSelf, H1, /its own author/],
    [partialLeave, H2, /not exactly its undisputed space/]
  ]
  for (const [e, by, reason] of expected) {
    const v = verdict(m, by, e)
    assert.equal(v.status, 'void', `${e.event.kind} should be void`)
    assert.match(v.reason ?? '', reason)
  }
  m.syncAll()
  for (const s of everywhere(m)) {
    // Kept and listed, with author and reason; nothing moved, nobody removed.
    assert.deepEqual(s.voids.map(v => v.id).sort(), expected.map(([e]) => e.id).sort())
    for (const v of s.voids) assert.ok(v.author !== undefined && v.reason.length > 0)
    assert.ok(owned(s, m, H1).equals(before))
    assert.ok(owned(s, m, H2).equals(set('10.0.4.0/22')))
    assert.ok(owned(s, m, H4).isEmpty)
    assert.equal(removed(s, m, H3), false)
    assert.equal(removed(s, m, H2), false)
  }
  // A void event does not poison what is built on it: host2's next, correct transfer is valid.
  const next = m.transfer(H2, H4, list('10.0.4.0/24'))
  assert.deepEqual(verdict(m, H2, next), { status: 'valid' })
})

test('moving disputed space, giving to a removed peer, and acting after removal are void', () => {
  const m = threeHosts(4)
  m.partition([0, 1, 0, 1])
  const t1 = m.takeover(H1, H3)
  const t2 = m.takeover(H2, H3)
  m.heal()
  m.syncAll()
  const disputedMove = m.transfer(H1, H4, list('10.0.8.0/24'))
  assert.equal(verdict(m, H1, disputedMove).status, 'void')
  assert.match(verdict(m, H1, disputedMove).reason ?? '', /disputed/)
  // host2 leaves properly; then host1 gives to it.
  const leave = m.leave(H2, [H4])
  assert.deepEqual(verdict(m, H2, leave), { status: 'valid' })
  m.sync(H2, H1)
  const toRemoved = m.transfer(H1, H2, list('10.0.0.0/24'))
  assert.equal(verdict(m, H1, toRemoved).status, 'void')
  assert.match(verdict(m, H1, toRemoved).reason ?? '', /removed/)
  // A join by a removed peer is void too (DESIGN.md §2.2).
  const rejoin = m.join(H2, 'host2-again')
  assert.equal(verdict(m, H2, rejoin).status, 'void')
  // A resolve of a dispute that does not cover everything it names is void.
  m.syncAll()
  const d = openDisputes(m.snap(H4))[0]!
  const half = m.resolve(H4, d, [{ owner: H4, ranges: set('10.0.8.0/22') }])
  assert.equal(verdict(m, H4, half).status, 'void')
  assert.match(verdict(m, H4, half).reason ?? '', /not exactly the disputed/)
  assert.ok(t1 !== undefined && t2 !== undefined)
})

// ---------------------------------------------------------------------------
// Concurrent resolves

/** host1 and host2 both take over host3; host4 and host2 both see the dispute and resolve it without seeing each other. */
function twoResolves (sameAssignments: boolean): { m: ClusterModel, r1: SignedEvent, r2: SignedEvent, dispute: string } {
  const m = threeHosts(4)
  m.partition([0, 1, 0, 2])
  const t1 = m.takeover(H1, H3)
  m.takeover(H2, H3)
  m.deliverPast(t1, H2)
  m.sync(H2, H4)
  const d2 = openDisputes(m.snap(H2))[0]!
  const d4 = openDisputes(m.snap(H4))[0]!
  assert.equal(d2.id, d4.id)
  const r1 = m.resolve(H4, d4, [{ owner: H1, ranges: d4.ranges }])
  const r2 = m.resolve(H2, d2, [{ owner: sameAssignments ? H1 : H2, ranges: d2.ranges }])
  assert.deepEqual(verdict(m, H4, r1), { status: 'valid' })
  assert.deepEqual(verdict(m, H2, r2), { status: 'valid' })
  m.heal()
  m.syncAll()
  return { m, r1, r2, dispute: d2.id }
}

test('two concurrent resolves with identical assignments agree', () => {
  const { m, r1, r2, dispute } = twoResolves(true)
  // Identical assignments are byte-equal bodies.
  assert.deepEqual(r1.event.kind === 'resolve' && r1.event.body, r2.event.kind === 'resolve' && r2.event.body)
  for (const s of everywhere(m)) {
    const d = s.disputes.find(x => x.id === dispute)
    assert.equal(d?.status, 'settled')
    assert.deepEqual([...d.settledBy].sort(), [r1.id, r2.id].sort())
    assert.deepEqual(openDisputes(s), [])
    assert.deepEqual(tilingProblems(s), [])
    assert.ok(owned(s, m, H1).equals(set('10.0.0.0/22', '10.0.8.0/21')), `host1 owns ${owned(s, m, H1).toString()}`)
    // Neither resolve overrides the other.
    assert.deepEqual(s.overridden.filter(o => o.id === r1.id || o.id === r2.id), [])
  }
})

test('two concurrent resolves with different assignments are a new dispute', () => {
  const { m, r1, r2 } = twoResolves(false)
  let id: string | undefined
  for (const s of everywhere(m)) {
    assert.deepEqual(tilingProblems(s), [])
    const open = openDisputes(s).filter(d => d.parties.includes(r1.id) && d.parties.includes(r2.id))
    assert.equal(open.length, 1, 'the two resolves are the parties of a new dispute')
    assert.ok(open[0]!.ranges.equals(set('10.0.8.0/21')))
    id ??= open[0]!.id
    assert.equal(open[0]!.id, id)
  }
})

test('the settling resolves of a dispute are listed the same whatever the arrival order', () => {
  const { m, r1, r2, dispute } = twoResolves(true)
  const events = m.allEvents()
  const a = foldPreferring(m, events, r1.id).snapshot().disputes.find(d => d.id === dispute)
  const b = foldPreferring(m, events, r2.id).snapshot().disputes.find(d => d.id === dispute)
  assert.deepEqual(a?.settledBy, [r1.id, r2.id].sort())
  assert.deepEqual(a?.settledBy, b?.settledBy)
})

// ---------------------------------------------------------------------------
// Arrival order

test('a peer removed by two concurrent takeovers names the same removal whatever the arrival order', () => {
  const m = threeHosts()
  m.partition([0, 1, 2])
  const t1 = m.takeover(H1, H3)
  const t2 = m.takeover(H2, H3)
  m.heal()
  m.syncAll()
  const events = m.allEvents()
  const a = foldPreferring(m, events, t1.id).snapshot()
  const b = foldPreferring(m, events, t2.id).snapshot()
  assert.equal(removed(a, m, H3), true)
  assert.deepEqual(a.peers.find(p => p.name === m.name(H3))?.removed, b.peers.find(p => p.name === m.name(H3))?.removed)
  // The first removal by (lamport, id).
  const first = [t1, t2].sort((x, y) => compareTopological({ lamport: x.event.lamport, id: x.id }, { lamport: y.event.lamport, id: y.id }))[0]!
  assert.equal(a.peers.find(p => p.name === m.name(H3))?.removed?.event, first.id)
})

test('a void transfer has the same reason whatever the arrival order', () => {
  // host1 gives host2 10.0.4.0/23; host2, not having heard, gives away 10.0.4.0/22.
  const m = new ClusterModel(2, 1)
  m.transfer(H1, H2, list('10.0.4.0/23'))
  const bogus = m.transfer(H2, H1, list('10.0.4.0/22'))
  m.syncAll()
  const events = m.allEvents()
  // Folded before host1's transfer, the segment map has one segment there; after it, two.
  // The reason names the addresses that fail, not the map's pieces.
  const a = foldPreferring(m, events, bogus.id).verdict(bogus.id)
  const b = foldPreferring(m, events, events.find(e => e.event.kind === 'transfer' && e.id !== bogus.id)!.id).verdict(bogus.id)
  assert.equal(a?.status, 'void')
  assert.equal(b?.status, 'void')
  assert.equal(a.reason, b.reason)
})

// ---------------------------------------------------------------------------
// Donations from disputed space, and a removal dispute over them

test('a removal dispute about a donation the resolve overrode leaves the resolve\'s space alone',
  { todo: 'open design question, not a bug: should a removal dispute whose mover is an overridden dependent re-dispute space a resolve already assigned? Today it does' }, () => {
    // host1 owns 10.0.8.0/21 and dies. host2 and host3 take it over in a partition
    // {host2, host4} | {host3, host5}; host3 hears of host2's takeover and resolves for
    // itself. Meanwhile host2 donates 10.0.8.0/22 to host4, which passes it back to
    // host2, while host5 takes host4 over. host4's pass is a dependent of a party,
    // concurrent with the resolve: overridden within 10.0.8.0/21. It is also host4's
    // move concurrent with host4's removal, so it opens a removal dispute "over the
    // union of both events' ranges", 10.0.8.0/22 included, and the fold shows that
    // space disputed although the resolve assigned it. Whether an overridden move
    // should still count as the mover of a removal dispute is an open design
    // question; this story describes the answer "it should not".
    const m = new ClusterModel(5, 1)
    m.transfer(H1, H5, list('10.0.0.0/21'))
    m.syncAll()
    m.partition([2, 0, 1, 0, 1])
    const ta = m.takeover(H2, H1)
    m.takeover(H3, H1)
    m.deliverPast(ta, H3)
    const d = openDisputes(m.snap(H3))[0]!
    const r = m.resolve(H3, d, [{ owner: H3, ranges: d.ranges }])
    const give = m.transfer(H2, H4, list('10.0.8.0/22'))
    m.sync(H2, H4)
    const back = m.transfer(H4, H2, list('10.0.8.0/22'))
    const t4 = m.takeover(H5, H4)
    for (const [e, by] of [[give, H2], [back, H4], [t4, H5], [r, H3]] as const) assert.deepEqual(verdict(m, by, e), { status: 'valid' })
    m.heal()
    m.syncAll()
    for (const s of everywhere(m)) {
      assert.equal(s.disputes.find(x => x.id === d.id)?.status, 'settled')
      for (const e of [give, back]) assert.ok(s.overridden.find(o => o.id === e.id)?.by.includes(r.id))
      assert.ok(owned(s, m, H3).equals(set('10.0.8.0/21')), `host3 owns ${owned(s, m, H3).toString()}`)
    }
  })

test('a resolve that saw the dispute overrides the donations made meanwhile, on every replica', () => {
  // The same partition without host5's takeover: the resolve settles everything.
  const m = new ClusterModel(4, 1)
  m.transfer(H1, H4, list('10.0.0.0/21'))
  m.syncAll()
  m.partition([2, 0, 1, 0])
  const ta = m.takeover(H2, H1)
  const tb = m.takeover(H3, H1)
  const give = m.transfer(H2, H4, list('10.0.8.0/22'))
  m.deliverPast(ta, H3)
  const d = openDisputes(m.snap(H3))[0]!
  assert.deepEqual([...d.parties].sort(), [ta.id, tb.id].sort())
  assert.deepEqual([...d.claimants].sort(), [m.name(H2), m.name(H3)].sort())
  const r = m.resolve(H3, d, [{ owner: H2, ranges: d.ranges }])
  m.sync(H2, H4)
  const onward = m.transfer(H4, H2, list('10.0.8.0/23'))
  m.heal()
  m.syncAll()
  for (const s of everywhere(m)) {
    assert.equal(s.disputes.find(x => x.id === d.id)?.status, 'settled')
    assert.deepEqual(openDisputes(s), [])
    for (const e of [give, onward]) assert.deepEqual(s.overridden.find(o => o.id === e.id)?.by, [r.id])
    // The resolve gave everything to host2: the donations do not count inside it.
    assert.ok(owned(s, m, H2).equals(set('10.0.8.0/21')))
    assert.ok(owned(s, m, H4).equals(set('10.0.0.0/21')))
    assert.deepEqual(tilingProblems(s), [])
  }
})

// ---------------------------------------------------------------------------
// Conflict events carrying evidence

test('a conflict carrying the rival as evidence disputes the space with the id the merged fold computes', () => {
  // host3 owns 10.0.8.0/21 and dies; host1 and host2 take it over in a partition.
  const m = threeHosts(4)
  m.partition([0, 1, 2, 0])
  const t1 = m.takeover(H1, H3)
  const t2 = m.takeover(H2, H3)
  // host1 donates part of what it took to host4 before it learns of any dispute.
  const donation = m.transfer(H1, H4, list('10.0.12.0/22'))
  m.sync(H1, H4)

  // host2 is offered host1's batch. Adopting it would open a dispute, so instead it
  // appends a conflict carrying t1 as evidence, naming host1 as the supplier.
  const overlap = set('10.0.8.0/21').toCidrs()
  const rivals = [t1.id, t2.id].sort()
  const conflict = m.peers[H2]!.author('conflict', { reason: 'dispute', rivals, overlap, supplier: m.name(H1), evidence: [t1.bytes] })
  assert.equal(m.peers[H2]!.ring.verdict(conflict.id)?.status, 'valid', m.peers[H2]!.ring.verdict(conflict.id)?.reason)
  assert.equal(m.peers[H2]!.events.has(t1.id), false, 'host2 did not adopt t1')

  const mine = m.snap(H2)
  const open = openDisputes(mine)
  assert.equal(open.length, 1)
  const d = open[0]!
  assert.deepEqual([...d.parties].sort(), rivals)
  assert.deepEqual(d.evidenceOnly, [t1.id])
  assert.ok(d.ranges.equals(set('10.0.8.0/21')))
  assert.ok(mine.disputed?.containsSet(set('10.0.8.0/21')), 'the space is disputed on host2\'s side')
  assert.ok(owned(mine, m, H2).equals(set('10.0.4.0/22')))
  assert.deepEqual(tilingProblems(mine), [])

  // The same id a fold of both sides' moves computes (with or without the conflict).
  const both = new Map([...m.peers[H1]!.events, ...m.peers[H2]!.events])
  both.delete(conflict.id)
  const merged = foldInOrder(m.genesis.id, topologicalOrder(both.values()))
  const mergedOpen = openDisputes(merged.snapshot())
  assert.deepEqual(mergedOpen.map(x => x.id), [d.id])
  assert.deepEqual(mergedOpen[0]!.evidenceOnly, [])

  // host1's side knows nothing of it yet.
  assert.deepEqual(openDisputes(m.snap(H1)), [])

  // host2 resolves on its evidence: the dispute's parties are all in the resolve's past.
  const r = m.resolve(H2, d, [{ owner: H2, ranges: d.ranges }])
  assert.deepEqual(verdict(m, H2, r), { status: 'valid' })
  assert.equal(m.snap(H2).disputes.find(x => x.id === d.id)?.status, 'settled')

  // Both sides merge after the resolve: everything agrees.
  m.heal()
  m.syncAll()
  // (host3 is removed by two concurrent takeovers: every replica names the same one.)
  const canon = (x: RingSnapshot): string => canonicalSnapshot(x)
  const reference = canon(foldInOrder(m.genesis.id, topologicalOrder(m.allEvents())).snapshot())
  for (const [i, s] of everywhere(m).entries()) {
    assert.equal(canon(s), reference, `host${i + 1}: ${firstDifference(canon(s), reference)}`)
    const settled = s.disputes.find(x => x.id === d.id)
    assert.equal(settled?.status, 'settled')
    assert.deepEqual(settled.settledBy, [r.id])
    assert.deepEqual(settled.evidenceOnly, [], 't1 is a log event now')
    assert.deepEqual(openDisputes(s), [])
    assert.ok(owned(s, m, H2).equals(set('10.0.4.0/22', '10.0.8.0/21')))
    assert.deepEqual(s.overridden.find(o => o.id === donation.id)?.by, [r.id])
    assert.equal(removed(s, m, H3), true)
    assert.deepEqual(tilingProblems(s), [])
  }
})

test('a conflict whose evidence turns out void dissolves its dispute', () => {
  // host2 carries as evidence a takeover by host1 that is void in its own view
  // (wrong ranges): once that event is in the log, its view decides.
  const m = threeHosts(3)
  m.partition([0, 1, 2])
  const bad = m.takeoverWith(H1, H3, list('10.0.8.0/22'))
  assert.equal(verdict(m, H1, bad).status, 'void')
  const t2 = m.takeover(H2, H3)
  const conflict = m.peers[H2]!.author('conflict', {
    reason: 'dispute', rivals: [bad.id, t2.id].sort(), overlap: list('10.0.8.0/22'), supplier: m.name(H1), evidence: [bad.bytes]
  })
  // Presumed valid while only evidence: the space is disputed on host2's side.
  assert.equal(m.peers[H2]!.ring.verdict(conflict.id)?.status, 'valid')
  assert.equal(openDisputes(m.snap(H2)).length, 1)
  m.heal()
  m.syncAll()
  for (const s of everywhere(m)) {
    assert.deepEqual(openDisputes(s), [])
    assert.ok(owned(s, m, H2).equals(set('10.0.4.0/22', '10.0.8.0/21')))
    assert.deepEqual(tilingProblems(s), [])
  }
})

test('space under an open evidence dispute stays disputed when a concurrent move covers it and its neighbour', () => {
  // host2 owns 10.0.0.0/21 and gives 10.0.0.0/22 back to host1; only host4 and host5
  // hear of it. Each takes host2 over (10.0.4.0/22): host3 holds neither, but appends a
  // conflict carrying both as evidence, so 10.0.4.0/22 is disputed on its side.
  const m = new ClusterModel(6, 1)
  m.transfer(H1, H2, list('10.0.0.0/21'))
  m.syncAll()
  m.transfer(H2, H1, list('10.0.0.0/22'))
  m.sync(H2, H4)
  m.sync(H2, H5)
  const t4 = m.takeover(H4, H2)
  const t5 = m.takeover(H5, H2)
  const conflict = m.peers[H3]!.author('conflict', {
    reason: 'dispute', rivals: [t4.id, t5.id].sort(), overlap: list('10.0.4.0/22'), supplier: m.name(H4), evidence: [t4.bytes, t5.bytes]
  })
  assert.equal(m.peers[H3]!.ring.verdict(conflict.id)?.status, 'valid')
  assert.ok(m.snap(H3).disputed?.equals(set('10.0.4.0/22')))
  // host6, which heard of none of it, takes host2 over with all of 10.0.0.0/21; host3
  // adopts that (it adds no party of the dispute as a log event).
  const t6 = m.takeover(H6, H2)
  m.sync(H6, H3)
  const s = m.snap(H3)
  assert.ok(s.disputed?.equals(set('10.0.4.0/22')), `disputed on host3: ${s.disputed?.toString() ?? 'nothing'}`)
  assert.ok(owned(s, m, H6).equals(set('10.0.0.0/22')), `host6 owns ${owned(s, m, H6).toString()} on host3`)
  // The same events folded with t6 first give the same state: it does not depend on the order.
  const replay = foldPreferring(m, [...m.peers[H3]!.events.values()], t6.id)
  assert.equal(canonicalSnapshot(s), canonicalSnapshot(replay.snapshot()))
})

// ---------------------------------------------------------------------------
// Batches

test('rolling back a batch that holds the genesis leaves the ring as empty as before', () => {
  const m = new ClusterModel(3, 2)
  const events = topologicalOrder(m.allEvents())
  const ring = new OwnershipRing(m.genesis.id)
  const before = canonicalSnapshot(ring.snapshot())
  ring.begin()
  for (const e of events) ring.apply(e)
  ring.rollback()
  const after = canonicalSnapshot(ring.snapshot())
  assert.equal(after, before, firstDifference(after, before))
})

test('a batch that would open a dispute is rolled back without a trace, and adopted once a resolve covers it', () => {
  // The daemon's validate-the-diff: host2 folds host1's batch (t1) inside begin(),
  // sees it would open a dispute with its own t2, and rolls it back.
  const m = threeHosts()
  m.partition([0, 1, 2])
  m.takeover(H1, H3)
  const t2 = m.takeover(H2, H3)
  const ring = m.peers[H2]!.ring
  const before = canonicalSnapshot(ring.snapshot(), { rawSegments: true })
  const adopted = m.validatedSync(H1, H2)
  assert.equal(adopted, false)
  const conflicts = [...m.peers[H2]!.events.values()].filter(e => e.event.kind === 'conflict')
  assert.equal(conflicts.length, 1)
  // Apart from the conflict it appended, host2's ring is as it was.
  const again = foldInOrder(m.genesis.id, topologicalOrder([...m.peers[H2]!.events.values()].filter(e => e.event.kind !== 'conflict')))
  assert.equal(canonicalSnapshot(again.snapshot(), { rawSegments: true }), before)
  assert.equal(openDisputes(ring.snapshot()).length, 1, 'the conflict disputes the space on host2\'s side')
  // A second offer of the same batch is refused without a second conflict.
  assert.equal(m.validatedSync(H1, H2), false)
  assert.equal([...m.peers[H2]!.events.values()].filter(e => e.event.kind === 'conflict').length, 1)
  // host2 resolves; then the batch is adopted and both sides agree.
  const d = openDisputes(ring.snapshot())[0]!
  m.resolve(H2, d, [{ owner: H2, ranges: d.ranges }])
  assert.equal(m.validatedSync(H1, H2), true)
  assert.equal(m.validatedSync(H2, H1), true)
  assert.equal(canonicalSnapshot(m.snap(H1)), canonicalSnapshot(m.snap(H2)))
  assert.deepEqual(openDisputes(m.snap(H1)), [])
  assert.ok(owned(m.snap(H1), m, H2).equals(set('10.0.4.0/22', '10.0.8.0/21')))
  assert.ok(t2 !== undefined)
})
