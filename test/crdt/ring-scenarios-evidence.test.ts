import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseCidr, RangeSet, type Cidr } from '../../packages/netaddr/index.js'
import { compareTopological } from '../../crdt/causal/index.js'
import type { EventId, SignedEvent } from '../../crdt/events/index.js'
import { disputeId, OwnershipRing, type RingSnapshot } from '../../crdt/ring/index.js'
import {
  H1, H2, H3, H4, H5, H6, set, list, owned, removed, openDisputes, verdict, everywhere, foldPreferring, threeHosts, canonicalSnapshot, ClusterModel, firstDifference, foldInOrder, linearExtension, OUTSIDER, tilingProblems, topologicalOrder
} from '../helpers/ring-stories.js'

/**
 * Deterministic stories for the fold's edge cases, part 2: donations from
 * disputed space, conflict events carrying evidence, batches (DESIGN.md §2.2–2.4). Peers
 * are host1… of a ClusterModel over 10.0.0.0/20 (fixed keys, so every run
 * produces the same event ids); host1 is the only seed unless a story says
 * otherwise, so at the start it owns the whole range.
 *
 * A story marked `todo` pins an open design question: it fails today and
 * describes one answer to it, not a settled requirement of DESIGN.md.
 */

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
