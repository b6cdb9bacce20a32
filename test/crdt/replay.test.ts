import { test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { parseCidr, RangeSet } from '../../packages/netaddr/index.js'
import { replay, selectEvents, ReplayError } from '../../crdt/replay/index.js'
import type { SignedEvent } from '../../crdt/events/index.js'
import { ringViewFromSnapshot } from '../../node/ring-view.js'
import { makeCluster, type SimPeer } from '../helpers/sim-peer.js'

/** A small history with concurrency: three peers trading blocks, partly unsynced. */
function history (steps: Array<{ from: number, to: number, half: number }>): { events: SignedEvent[], genesis: SignedEvent, peers: SimPeer[] } {
  const { peers, genesis } = makeCluster(['h1', 'h2', 'h3'], { range: '10.0.0.0/16' })
  let clock = 1_000
  for (const s of steps) {
    const from = peers[s.from % 3]!
    const to = peers[s.to % 3]!
    from.clock = clock++
    if (from === to) continue
    const mine = from.ring.snapshot().peers.find(p => p.name === from.name)?.owned ?? RangeSet.empty(4)
    const block = mine.biggestAlignedBlock()
    if (block === undefined || block.prefix >= 28) continue
    const half = { family: 4 as const, first: block.first + (s.half % 2 === 0 ? 0n : 1n << BigInt(31 - block.prefix)), prefix: block.prefix + 1 }
    from.author('transfer', { ranges: [half], to: to.name })
    if (s.half % 3 !== 0) to.syncFrom(from)
  }
  for (const p of peers) for (const q of peers) p.syncFrom(q)
  return { events: [...peers[0]!.events.values()], genesis, peers }
}

const view = (r: ReturnType<typeof replay>): unknown => ringViewFromSnapshot(r.snapshot())
const steps = fc.array(fc.record({ from: fc.nat(2), to: fc.nat(2), half: fc.nat(5) }), { maxLength: 25 })

test('replay at the current heads equals the fold', () => {
  fc.assert(fc.property(steps, s => {
    const { events, genesis, peers } = history(s)
    const heads = peers[0]!.ring.snapshot().heads
    assert.deepEqual(view(replay(genesis.id, events, { heads })), view(peers[0]!.ring))
  }), { numRuns: 60 })
})

test('replay at every event equals the fold of that event\'s causal past, and keeps its verdict', () => {
  fc.assert(fc.property(steps, s => {
    const { events, genesis, peers } = history(s)
    for (const e of events) {
      const r = replay(genesis.id, events, { event: e.id })
      // The past of e, folded in another order (reverse-topological within
      // each lamport is not causal, so fold by increasing lamport, ties reversed).
      const past = selectEvents(events, { event: e.id })
      const reordered = [...past].sort((a, b) => a.event.lamport - b.event.lamport || (a.id < b.id ? 1 : -1))
      const other = replay(genesis.id, reordered, { heads: [e.id] })
      assert.deepEqual(view(r), view(other))
      assert.equal(r.verdict(e.id)?.status, peers[0]!.ring.verdict(e.id)?.status)
      assert.equal(r.verdict(e.id)?.reason, peers[0]!.ring.verdict(e.id)?.reason)
    }
  }), { numRuns: 25 })
})

test('replay at a time keeps only events at or before it, and only causally closed sets', () => {
  fc.assert(fc.property(steps, fc.nat(40), (s, t) => {
    const { events, genesis } = history(s)
    const T = 1_000 + t
    const chosen = selectEvents(events, { time: T })
    const ids = new Set(chosen.map(e => e.id))
    for (const e of chosen) {
      if (e.event.kind !== 'genesis') assert.ok(e.event.time <= T)
      for (const d of e.event.deps) assert.ok(ids.has(d), 'causally closed')
    }
    // Largest: every left-out event is late or depends on one that is left out.
    for (const e of events) {
      if (ids.has(e.id)) continue
      const late = e.event.kind !== 'genesis' && e.event.time > T
      assert.ok(late || e.event.deps.some(d => !ids.has(d)))
    }
    assert.doesNotThrow(() => replay(genesis.id, events, { time: T }))
  }), { numRuns: 60 })
})

test('replay names an unknown event', () => {
  const { events, genesis } = history([])
  assert.throws(() => replay(genesis.id, events, { event: 'ab'.repeat(32) }), ReplayError)
  void parseCidr
})
