import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as fc from 'fast-check'
import { RangeSet } from '../../packages/netaddr/index.js'
import type { EventId, SignedEvent } from '../../crdt/events/index.js'
import type { RingEvent, RingSnapshot } from '../../crdt/ring/index.js'
import { PROP_PARAMS, PROP_RUNS } from '../helpers/prop-params.js'
import {
  authorFirstExtension, canonicalSnapshot, causalPast, clusterSpecArb, ClusterModel, deepestFirstExtension, firstDifference,
  foldInOrder, randomLinearExtension, stepsArb, tilingProblems, topologicalOrder, type ClusterSpec, type Step
} from '../helpers/cluster-model.js'

/**
 * Property tests for the fold (DESIGN.md §2.2–2.4), over random clusters
 * driven by random schedules (test/helpers/cluster-model.ts). Every schedule
 * replays to the same event ids, so a counterexample fast-check prints is a
 * complete reproduction.
 */

// WEFT_PROP_RUNS, WEFT_PROP_SEED and WEFT_PROP_PATH: test/helpers/prop-params.ts.
const RUNS = PROP_RUNS
const params = PROP_PARAMS
const seedArb = fc.integer({ min: 0, max: 0x7fffffff })

function describeRun (m: ClusterModel): string {
  return `\ntrace:\n  ${m.trace.join('\n  ')}`
}

function movedByBody (e: SignedEvent): RangeSet {
  const ev = e.event
  switch (ev.kind) {
    case 'transfer': case 'takeover': return RangeSet.fromCidrs(4, ev.body.ranges)
    case 'leave': return RangeSet.fromCidrs(4, ev.body.heirs.flatMap(h => h.ranges))
    case 'resolve': return RangeSet.fromCidrs(4, ev.body.assignments.flatMap(a => a.ranges))
    default: return RangeSet.empty(4)
  }
}

function openDisputesWith (s: RingSnapshot, ids: readonly EventId[]): RingSnapshot['disputes'] {
  return s.disputes.filter(d => d.status === 'open' && ids.every(id => d.parties.includes(id)))
}

function verdictKey (v: RingEvent | undefined): string {
  if (v === undefined) return 'missing'
  return JSON.stringify({
    status: v.status,
    reason: v.reason,
    moved: v.moved?.toString(),
    removes: v.removes?.length,
    settles: v.settles?.map(d => d.id)
  })
}

/** Noise steps for scenario properties: no partition changes, which would undo the scenario's own partition. */
const noiseArb = (max: number): fc.Arbitrary<Step[]> =>
  stepsArb({ maxLength: max }).map(steps => steps.filter(s => s.t !== 'partition' && s.t !== 'heal'))

/** Runs a prefix on the whole cluster, then lets every peer catch up. */
function afterPrefix (spec: ClusterSpec): ClusterModel {
  const m = ClusterModel.run(spec)
  m.syncAll()
  return m
}

/** Peers that are members and not removed in their own view. */
function alive (m: ClusterModel): number[] {
  return m.peers.map((_, i) => i).filter(i => m.active(i))
}

/** The peer with the most undisputed space in host1's view (after a full sync: everyone's). */
function richest (m: ClusterModel, among: number[]): number | undefined {
  let best: number | undefined
  let size = 0n
  for (const i of among) {
    const s = m.ownedIn(0, i).size
    if (s > size) { best = i; size = s }
  }
  return best
}

// ---------------------------------------------------------------------------

/** Property (a): every delivery order of a run's events folds to the same ring, as does every replica. */
function sameRingInEveryOrder (spec: ClusterSpec, seeds: readonly [number, number, number]): void {
  const m = ClusterModel.run(spec)
  const events = m.allEvents()
  const reference = foldInOrder(m.genesis.id, topologicalOrder(events))
  const expected = canonicalSnapshot(reference.snapshot())
  assert.deepEqual(tilingProblems(reference.snapshot()), [], describeRun(m))
  const orders: Array<[string, SignedEvent[]]> = [
    ...seeds.map((s, i): [string, SignedEvent[]] => [`random linear extension #${i} (seed ${s})`, randomLinearExtension(events, s)]),
    ['author-first extension', authorFirstExtension(events, seeds[0])],
    ['deepest-first extension', deepestFirstExtension(events)]
  ]
  for (const [label, order] of orders) {
    const got = canonicalSnapshot(foldInOrder(m.genesis.id, order).snapshot())
    assert.equal(got, expected, `${label} differs from topological order: ${firstDifference(got, expected)}${describeRun(m)}`)
  }
  // Replicas that learnt the events incrementally, interleaved with authoring, agree too.
  m.syncAll()
  for (const p of m.peers) {
    const got = canonicalSnapshot(p.ring.snapshot())
    assert.equal(got, expected, `replica ${p.nickname} differs from the fold: ${firstDifference(got, expected)}${describeRun(m)}`)
  }
}

test('(a) any delivery order gives the identical ring, disputes and voids', () => {
  fc.assert(fc.property(clusterSpecArb(), fc.tuple(seedArb, seedArb, seedArb), sameRingInEveryOrder), params)
})

test('(a) the counterexamples it found stay fixed', () => {
  // Both about which of a resolve and a removal is folded second (the
  // removal-dispute rules in OwnershipRing.registerRemovalDisputes), kept as
  // values: a change to the generators would lose them as seeds.
  // WEFT_PROP_SEED=1104428159 found the first, against a rule that judged a
  // party's dependents one way round only.
  sameRingInEveryOrder(...([{"peers": 6, "seeds": 3, "favourite": 1, "late": 0, "steps": [{"t": "sync", "a": 37, "b": 859, "group": false, "strict": true}, {"t": "resolve", "by": 630, "pick": 848, "owner": 316, "removals": 38, "more": 0}, {"t": "sync", "a": 348, "b": 853, "group": true, "strict": true}, {"t": "transfer", "by": 75, "to": 732, "pick": 698, "depth": 0, "sub": 418}, {"t": "takeover", "by": 20, "target": -1}, {"t": "transfer", "by": 653, "to": 785, "pick": 584, "depth": 2, "sub": 130}, {"t": "sync", "a": 848, "b": 437, "group": false, "strict": false}, {"t": "transfer", "by": 659, "to": 379, "pick": 684, "depth": 2, "sub": 17}, {"t": "takeover", "by": 36, "target": -1}, {"t": "heal"}, {"t": "transfer", "by": 935, "to": 915, "pick": 893, "depth": 3, "sub": 62}, {"t": "transfer", "by": 832, "to": 388, "pick": 767, "depth": 0, "sub": 575}, {"t": "transfer", "by": 306, "to": 610, "pick": 688, "depth": 0, "sub": 980}, {"t": "join", "by": 425, "rename": 0}, {"t": "transfer", "by": 922, "to": 871, "pick": 212, "depth": 3, "sub": 946}, {"t": "transfer", "by": 427, "to": 35, "pick": 54, "depth": 3, "sub": 143}, {"t": "transfer", "by": 1005, "to": 465, "pick": 610, "depth": 3, "sub": 352}, {"t": "takeover", "by": 1010, "target": -1}, {"t": "takeover", "by": 361, "target": 1020}, {"t": "transfer", "by": 727, "to": 857, "pick": 573, "depth": 3, "sub": 242}, {"t": "heal"}, {"t": "takeover", "by": 634, "target": 392}, {"t": "sync", "a": 350, "b": 410, "group": false, "strict": true}, {"t": "sync", "a": 75, "b": 507, "group": true, "strict": false}, {"t": "join", "by": 47, "rename": 0}, {"t": "sync", "a": 989, "b": 902, "group": false, "strict": false}, {"t": "sync", "a": 603, "b": 919, "group": false, "strict": true}, {"t": "resolve", "by": 540, "pick": 769, "owner": 245, "removals": 96, "more": 45}, {"t": "partition", "groups": [2, 1, 2, 0, 2, 1, 0, 1], "k": 2}, {"t": "takeover", "by": 755, "target": -1}, {"t": "sync", "a": 316, "b": 200, "group": true, "strict": true}, {"t": "transfer", "by": 672, "to": 316, "pick": 887, "depth": 2, "sub": 925}, {"t": "join", "by": 588, "rename": 0}, {"t": "takeover", "by": 267, "target": -1}, {"t": "sync", "a": 866, "b": 780, "group": false, "strict": true}, {"t": "sync", "a": 853, "b": 114, "group": true, "strict": false}, {"t": "sync", "a": 388, "b": 1006, "group": true, "strict": false}, {"t": "transfer", "by": 227, "to": 843, "pick": 85, "depth": 2, "sub": 970}, {"t": "sync", "a": 714, "b": 262, "group": false, "strict": true}]}, [0, 0, 0]] as [ClusterSpec, [number, number, number]]))
  // WEFT_PROP_SEED=45489395 (3000 runs) found the second, against the
  // parties-only rule that replaced it.
  sameRingInEveryOrder(...([{"peers": 5, "seeds": 3, "favourite": 2, "late": 2, "steps": [{"t": "takeover", "by": 984, "target": -1}, {"t": "takeover", "by": 792, "target": 330}, {"t": "join", "by": 432, "rename": 3}, {"t": "transfer", "by": 147, "to": 59, "pick": 978, "depth": 2, "sub": 258}, {"t": "sync", "a": 517, "b": 849, "group": false, "strict": true}, {"t": "resolve", "by": 144, "pick": 181, "owner": 271, "removals": 120, "more": 94}, {"t": "transfer", "by": 1020, "to": 380, "pick": 777, "depth": 1, "sub": 78}, {"t": "transfer", "by": 253, "to": 256, "pick": 357, "depth": 3, "sub": 423}, {"t": "takeover", "by": 375, "target": -1}, {"t": "resolve", "by": 622, "pick": 63, "owner": 535, "removals": 109, "more": 225}, {"t": "transfer", "by": 582, "to": 709, "pick": 960, "depth": 3, "sub": 13}, {"t": "leave", "by": 974, "heirs": [506], "split": [2, 2, 2, 2, 5, 3, 6, 7]}, {"t": "resolve", "by": 48, "pick": 218, "owner": 710, "removals": 67, "more": 0}, {"t": "transfer", "by": 119, "to": 879, "pick": 443, "depth": 3, "sub": 166}, {"t": "resolve", "by": 297, "pick": 803, "owner": 791, "removals": 114, "more": 6}, {"t": "sync", "a": 841, "b": 817, "group": false, "strict": true}, {"t": "takeover", "by": 94, "target": -1}, {"t": "sync", "a": 1010, "b": 801, "group": false, "strict": false}, {"t": "heal"}, {"t": "leave", "by": 698, "heirs": [288, 277, 461], "split": [6, 5, 3, 3, 0]}, {"t": "resolve", "by": 888, "pick": 416, "owner": 771, "removals": 171, "more": 219}, {"t": "join", "by": 919, "rename": 2}, {"t": "transfer", "by": 102, "to": 933, "pick": 77, "depth": 1, "sub": 963}, {"t": "sync", "a": 589, "b": 153, "group": false, "strict": false}, {"t": "takeover", "by": 884, "target": 376}, {"t": "bogus", "by": 291, "kind": 2, "pick": 269, "to": 687}, {"t": "sync", "a": 731, "b": 949, "group": true, "strict": true}, {"t": "sync", "a": 402, "b": 793, "group": false, "strict": false}, {"t": "transfer", "by": 715, "to": 245, "pick": 528, "depth": 2, "sub": 713}, {"t": "resolve", "by": 552, "pick": 457, "owner": 349, "removals": 59, "more": 164}]}, [0, 0, 0]] as [ClusterSpec, [number, number, number]]))
})

test('(b) every address is owned by exactly one peer or disputed; nothing is unowned', () => {
  fc.assert(fc.property(clusterSpecArb(), spec => {
    const m = new ClusterModel(spec.peers, spec.seeds, spec.favourite, spec.late)
    // Every replica's own (partial) view after every step, then the merged one.
    for (const step of spec.steps) {
      m.runStep(step)
      for (const p of m.peers) {
        const problems = tilingProblems(p.ring.snapshot())
        assert.deepEqual(problems, [], `replica ${p.nickname}: ${problems.join('; ')}${describeRun(m)}`)
      }
    }
    m.syncAll()
    const problems = tilingProblems(m.snap(0))
    assert.deepEqual(problems, [], `merged: ${problems.join('; ')}${describeRun(m)}`)
  }), params)
})

test('the authority checks agree with the author\'s own snapshot', () => {
  // The model only moves what the author's snapshot says it owns undisputed, gives
  // only to peers the snapshot shows as members not removed, takes over exactly what
  // the snapshot shows, and resolves open disputes as the snapshot shows them: those
  // events must be valid. Bogus steps break one rule the snapshot can see (a block it
  // does not own, a recipient that never joined or was removed, wrong takeover
  // ranges, a partial leave): those must be void, with a reason.
  let bogus = 0
  fc.assert(fc.property(clusterSpecArb(), spec => {
    const m = ClusterModel.run(spec)
    const wrong = m.authored.filter(a => (a.status === 'valid') !== (a.expect === 'valid'))
    assert.deepEqual(wrong.map(a => `${a.bogus ? 'bogus ' : ''}${a.signed.event.kind} by host${a.peer + 1}: ${a.status} (${a.reason ?? ''}), expected ${a.expect}`), [], describeRun(m))
    for (const a of m.authored) if (a.status === 'void') assert.ok((a.reason ?? '').length > 0)
    bogus += m.authored.filter(a => a.bogus && a.status === 'void').length
  }), params)
  assert.ok(bogus > 0, 'no void event was produced')
})

test('(c) concurrent takeovers of one peer open one dispute with the same id everywhere', () => {
  let meaningful = 0
  fc.assert(fc.property(
    clusterSpecArb({ minPeers: 3, maxSteps: 15 }),
    fc.integer({ min: 2, max: 3 }), fc.array(fc.nat(), { minLength: 8, maxLength: 8 }),
    noiseArb(20), fc.array(fc.nat(), { minLength: 3, maxLength: 3 }),
    (spec, takerCount, choice, noise, positions) => {
      const m = afterPrefix(spec)
      const living = alive(m)
      const v = richest(m, m.peers.map((_, i) => i))
      if (v === undefined) return
      const candidates = living.filter(i => i !== v)
      if (candidates.length < 2) return
      const takers: number[] = []
      for (let i = 0; i < takerCount && candidates.length > 0; i++) takers.push(candidates.splice(choice[i]! % candidates.length, 1)[0]!)
      const groups = m.peers.map((_, i) => takers.includes(i) ? takers.indexOf(i) : choice[i]! % takers.length)
      m.partition(groups)
      const exclude = new Set([v, ...takers])
      const keepSpace = m.ownedIn(v, v)
      const at = takers.map((_, i) => positions[i]! % (noise.length + 1))
      const takeovers: SignedEvent[] = []
      for (let k = 0; k <= noise.length; k++) {
        takers.forEach((t, i) => { if (at[i] === k) takeovers.push(m.takeover(t, v)) })
        if (k < noise.length) m.runStep(noise[k]!, { exclude, keepSpace })
      }
      m.heal()
      m.syncAll()
      const ranges = takeovers.map(t => movedByBody(t))
      for (const t of takeovers) assert.equal(m.peers[0]!.ring.verdict(t.id)?.status, 'valid', describeRun(m))
      // Nobody moved v's space in the partition but the takeovers: they all name the same ranges.
      for (const r of ranges) assert.ok(r.equals(ranges[0]!), describeRun(m))
      if (ranges[0]!.isEmpty) return
      meaningful++
      const ids = takeovers.map(t => t.id)
      let id: EventId | undefined
      for (const p of m.peers) {
        const s = p.ring.snapshot()
        const found = openDisputesWith(s, ids)
        assert.equal(found.length, 1, `${p.nickname} has ${found.length} open disputes naming all takeovers${describeRun(m)}`)
        const d = found[0]!
        assert.deepEqual([...d.parties].sort(), [...ids].sort(), `parties are exactly the takeovers${describeRun(m)}`)
        assert.equal(d.kind, 'overlap')
        assert.ok(d.ranges.equals(ranges[0]!), `dispute covers ${d.ranges.toString()}, the takeovers moved ${ranges[0]!.toString()}${describeRun(m)}`)
        assert.deepEqual([...d.claimants].sort(), takers.map(t => m.name(t)).sort())
        id ??= d.id
        assert.equal(d.id, id, `${p.nickname} names the dispute ${d.id}, another replica ${id}${describeRun(m)}`)
        // Nobody owns the disputed space.
        assert.ok(s.disputed !== undefined && s.disputed.containsSet(ranges[0]!), describeRun(m))
      }
    }), params)
  assert.ok(meaningful >= RUNS / 4, `only ${meaningful} of ${RUNS} runs had a takeover that moved space`)
})

test('(c) mutual removal in a partition opens one removal dispute with the same id everywhere', () => {
  // Either side may own nothing: a takeover that moves nothing still counts, and
  // with both empty the removal dispute covers no addresses but is open all the same.
  let moved = 0
  let empty = 0
  fc.assert(fc.property(
    clusterSpecArb({ minPeers: 2, maxSteps: 15 }),
    fc.array(fc.nat(), { minLength: 8, maxLength: 8 }), noiseArb(20), fc.tuple(fc.nat(), fc.nat()), fc.boolean(),
    (spec, choice, noise, [pa, pb], owners) => {
      const m = afterPrefix(spec)
      // Half the time among peers that own space (when two do), else among all.
      const rich = alive(m).filter(i => !m.ownedIn(0, i).isEmpty)
      const living = owners && rich.length >= 2 ? rich : alive(m)
      if (living.length < 2) return
      const a = living.splice(choice[0]! % living.length, 1)[0]!
      const b = living.splice(choice[1]! % living.length, 1)[0]!
      m.partition(m.peers.map((_, i) => i === a ? 0 : i === b ? 1 : choice[i]! % 2))
      const exclude = new Set([a, b])
      const at = [pa % (noise.length + 1), pb % (noise.length + 1)]
      let tab: SignedEvent | undefined
      let tba: SignedEvent | undefined
      for (let k = 0; k <= noise.length; k++) {
        if (at[0] === k) tab = m.takeover(a, b)
        if (at[1] === k) tba = m.takeover(b, a)
        if (k < noise.length) m.runStep(noise[k]!, { exclude })
      }
      m.heal()
      m.syncAll()
      const union = movedByBody(tab!).union(movedByBody(tba!))
      if (movedByBody(tab!).isEmpty || movedByBody(tba!).isEmpty) empty++
      else moved++
      let id: EventId | undefined
      for (const p of m.peers) {
        const s = p.ring.snapshot()
        const found = openDisputesWith(s, [tab!.id, tba!.id])
        assert.equal(found.length, 1, `${p.nickname} has ${found.length} open disputes naming both takeovers${describeRun(m)}`)
        const d = found[0]!
        assert.equal(d.kind, 'removal')
        assert.deepEqual([...d.parties].sort(), [tab!.id, tba!.id].sort())
        assert.deepEqual([...d.atStake].sort(), [m.name(a), m.name(b)].sort())
        assert.ok(d.ranges.equals(union), `removal dispute covers ${d.ranges.toString()}, not the union ${union.toString()}${describeRun(m)}`)
        id ??= d.id
        assert.equal(d.id, id, describeRun(m))
        // While it is open neither removal takes effect.
        for (const x of [a, b]) assert.equal(s.peers.find(q => q.name === m.name(x))?.removed, undefined, `host${x + 1} removed on ${p.nickname}${describeRun(m)}`)
        assert.ok(s.disputed !== undefined && s.disputed.containsSet(union), describeRun(m))
      }
    }), params)
  assert.ok(moved >= RUNS / 4, `only ${moved} of ${RUNS} runs had two takeovers that both moved space`)
  assert.ok(empty >= RUNS / 8, `only ${empty} of ${RUNS} runs had a takeover that moved nothing`)
  if (process.env.WEFT_PROP_STATS !== undefined) console.log(`mutual removal: ${moved} both moved, ${empty} with an empty takeover, of ${RUNS}`)
})

test('(d) a resolve that saw the dispute settles it everywhere, overriding donations made meanwhile', () => {
  let meaningful = 0
  fc.assert(fc.property(
    clusterSpecArb({ minPeers: 3, maxSteps: 15 }),
    // At most 15 + 8 + 8 steps, 2 takeovers, a resolve and 6 donations: 40.
    fc.array(fc.nat(), { minLength: 8, maxLength: 8 }), noiseArb(8), noiseArb(8),
    fc.record({
      donations: fc.array(fc.record({ to: fc.nat(), pick: fc.nat(), depth: fc.integer({ min: 1, max: 3 }), sub: fc.nat(), beforeResolve: fc.boolean() }), { minLength: 1, maxLength: 3 }),
      owner: fc.nat(),
      onward: fc.boolean()
    }),
    (spec, choice, noise1, noise2, plan) => {
      const m = afterPrefix(spec)
      const v = richest(m, m.peers.map((_, i) => i))
      if (v === undefined) return
      const living = alive(m).filter(i => i !== v)
      if (living.length < 2) return
      const a = living.splice(choice[0]! % living.length, 1)[0]!
      const b = living.splice(choice[1]! % living.length, 1)[0]!
      // c receives a's donations (and may pass some on); it may be b itself.
      const others = alive(m).filter(i => i !== a && i !== v)
      const c = others[choice[2]! % others.length]!
      m.partition(m.peers.map((_, i) => i === a ? 0 : i === b ? 1 : choice[i]! % 2))
      // The noise leaves a, b, v and c alone: no moves by them, none to them, no takeovers of them.
      // (A takeover of c would make c's onward pass the mover of a removal dispute, which
      // re-disputes space the resolve assigned: an open design question, pinned by a todo
      // story in ring-scenarios.test.ts.)
      const exclude = new Set([a, b, v, c])
      const keepSpace = m.ownedIn(v, v)
      m.runSteps(noise1, { exclude, keepSpace })
      const ta = m.takeover(a, v)
      const tb = m.takeover(b, v)
      if (movedByBody(ta).isEmpty) return
      meaningful++
      // b hears of a's takeover (and its past) only; a hears nothing from b.
      m.deliverPast(ta, b)
      const d = m.snap(b).disputes.find(x => x.status === 'open' && x.parties.includes(ta.id) && x.parties.includes(tb.id))
      assert.ok(d !== undefined, `b sees no dispute between the takeovers${describeRun(m)}`)
      const owners = d.claimants.map(x => m.index(x))
      const owner = owners[plan.owner % owners.length]!
      const keep = { exclude, keepDisputesWith: new Set([ta.id, tb.id]), keepSpace }

      const donations: SignedEvent[] = []
      const donate = (don: typeof plan.donations[number]): void => {
        const space = m.ownedIn(a, a).intersect(movedByBody(ta)).toCidrs()
        if (space.length === 0 || m.removedIn(a, c)) return
        const block = space[don.pick % space.length]!
        const depth = Math.min(don.depth, 32 - block.prefix)
        const size = 1n << BigInt(32 - block.prefix - depth)
        const first = block.first + BigInt(don.sub % (1 << depth)) * size
        const part = RangeSet.fromSpans(4, [[first, first + size]])
        donations.push(m.transfer(a, c, part.toCidrs()))
        // c passes some of it on, if it hears of it inside the partition.
        if (plan.onward && m.group[c] === 0) {
          m.sync(a, c)
          const next = m.peers.map((_, i) => i).filter(i => i !== c && !m.removedIn(c, i))
          const mine = m.ownedIn(c, c).intersect(part).toCidrs()
          if (next.length > 0 && mine.length > 0 && m.active(c)) donations.push(m.transfer(c, next[don.pick % next.length]!, [mine[0]!]))
        }
      }
      for (const don of plan.donations) if (don.beforeResolve) donate(don)
      const r = m.resolve(b, d, [{ owner, ranges: d.ranges }])
      assert.equal(m.peers[b]!.ring.verdict(r.id)?.status, 'valid', `${m.peers[b]!.ring.verdict(r.id)?.reason}${describeRun(m)}`)
      for (const don of plan.donations) if (!don.beforeResolve) donate(don)
      m.runSteps(noise2, keep)
      m.heal()
      m.syncAll()

      const all = m.allEvents()
      const causal = m.peers[0]!.ring.causal
      const seen = (e: EventId, f: EventId): boolean => causal.hasSeen(causal.get(e)!, causal.get(f)!)
      for (const p of m.peers) {
        const s = p.ring.snapshot()
        const settled: RingSnapshot['disputes'][number] | undefined = s.disputes.find(x => x.id === d.id)
        assert.equal(settled?.status, 'settled', `${p.nickname}: dispute ${d.id.slice(0, 8)} is ${settled?.status ?? 'unknown'}${describeRun(m)}`)
        assert.ok(settled !== undefined && settled.settledBy.includes(r.id))
        assert.deepEqual(openDisputesWith(s, [ta.id]).concat(openDisputesWith(s, [tb.id])).map(x => x.id), [], `${p.nickname} still has an open dispute over the takeovers${describeRun(m)}`)
        for (const don of donations) {
          const status = p.ring.verdict(don.id)?.status
          if (status !== 'valid' || seen(r.id, don.id)) continue
          const entry = s.overridden.find(o => o.id === don.id)
          assert.ok(entry?.by.includes(r.id), `${p.nickname}: donation ${don.id.slice(0, 8)} is not overridden by the resolve${describeRun(m)}`)
        }
        // Any valid move that descends from a's takeover, did not see the resolve and
        // moved part of the disputed space is overridden by it.
        for (const e of all) {
          if (e.id === ta.id || seen(r.id, e.id) || !seen(e.id, ta.id) || p.ring.verdict(e.id)?.status !== 'valid') continue
          if (!movedByBody(e).overlaps(d.ranges)) continue
          assert.ok(s.overridden.find(o => o.id === e.id)?.by.includes(r.id), `${p.nickname}: ${e.event.kind} ${e.id.slice(0, 8)} descends from a party but is not overridden${describeRun(m)}`)
        }
        const ownerSpace = s.peers.find(x => x.name === m.name(owner))?.owned ?? RangeSet.empty(4)
        assert.ok(ownerSpace.containsSet(d.ranges), `${p.nickname}: host${owner + 1} owns ${ownerSpace.toString()}, not all of ${d.ranges.toString()}${describeRun(m)}`)
        assert.deepEqual(tilingProblems(s), [])
      }
    }), params)
  assert.ok(meaningful >= RUNS / 4, `only ${meaningful} of ${RUNS} runs had a takeover that moved space`)
})

test('(e) replay of an event\'s causal past gives every event in it the verdict of the full fold', () => {
  fc.assert(fc.property(clusterSpecArb(), fc.nat(), seedArb, (spec, pick, seed) => {
    const m = ClusterModel.run(spec)
    const all = m.allEvents()
    const full = foldInOrder(m.genesis.id, topologicalOrder(all))
    // Replay at the current heads: the causal past of the heads is the whole log.
    const heads = full.snapshot().heads
    const closure = new Map<EventId, SignedEvent>()
    for (const h of heads) for (const e of causalPast(all, h)) closure.set(e.id, e)
    assert.equal(closure.size, all.length)
    assert.equal(canonicalSnapshot(foldInOrder(m.genesis.id, randomLinearExtension([...closure.values()], seed)).snapshot()), canonicalSnapshot(full.snapshot()))

    // The past of a random event: what a replica holding only it computes.
    const authored = all.filter(e => e.event.kind !== 'genesis')
    const e = authored[pick % authored.length]!
    const past = causalPast(all, e.id)
    const replica = foldInOrder(m.genesis.id, randomLinearExtension(past, seed))
    const other = foldInOrder(m.genesis.id, topologicalOrder(past))
    assert.equal(canonicalSnapshot(replica.snapshot()), canonicalSnapshot(other.snapshot()))
    assert.equal(verdictKey(replica.verdict(e.id)), verdictKey(full.verdict(e.id)), `verdict of ${e.event.kind} ${e.id.slice(0, 8)}${describeRun(m)}`)
    for (const x of past) {
      assert.equal(verdictKey(replica.verdict(x.id)), verdictKey(full.verdict(x.id)), `verdict of ${x.event.kind} ${x.id.slice(0, 8)} in the past of ${e.id.slice(0, 8)}${describeRun(m)}`)
    }
    // Each model replica's incremental state equals a replay of exactly the events it holds.
    for (const p of m.peers) {
      const held = [...p.events.values()]
      const replay = foldInOrder(m.genesis.id, randomLinearExtension(held, seed ^ 0x5bd1e995))
      const got = canonicalSnapshot(p.ring.snapshot())
      const want = canonicalSnapshot(replay.snapshot())
      assert.equal(got, want, `${p.nickname}: ${firstDifference(got, want)}${describeRun(m)}`)
    }
  }), params)
})

test('begin + apply + rollback leaves the snapshot as it was; re-applying matches a plain fold', () => {
  // cut1 is often 0: the batch then starts with the genesis, folded into an empty ring.
  const cutArb = fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.nat() })
  fc.assert(fc.property(clusterSpecArb(), seedArb, seedArb, cutArb, fc.nat(), (spec, seed1, seed2, cut1, cut2) => {
    const m = ClusterModel.run(spec)
    const order = randomLinearExtension(m.allEvents(), seed1)
    const i = cut1 % (order.length + 1)
    const j = i + cut2 % (order.length - i + 1)
    const before = order.slice(0, i)
    const batch = order.slice(i, j)
    const ring = foldInOrder(m.genesis.id, before)
    const raw = canonicalSnapshot(ring.snapshot(), { rawSegments: true })
    const verdicts = before.map(e => verdictKey(ring.verdict(e.id)))

    ring.begin()
    for (const e of batch) ring.apply(e)
    assert.deepEqual(ring.batchEvents().map(n => n.id), batch.map(e => e.id))
    ring.snapshot()
    ring.rollback()
    const after = canonicalSnapshot(ring.snapshot(), { rawSegments: true })
    assert.equal(after, raw, `rollback of ${batch.length} events: ${firstDifference(after, raw)}${describeRun(m)}`)
    assert.deepEqual(before.map(e => verdictKey(ring.verdict(e.id))), verdicts)
    for (const e of batch) assert.equal(ring.has(e.id), false)

    // The same batch again, outside a batch: as if the rollback never happened.
    for (const e of batch) ring.apply(e)
    const plain = foldInOrder(m.genesis.id, [...before, ...batch])
    const got = canonicalSnapshot(ring.snapshot())
    const want = canonicalSnapshot(plain.snapshot())
    assert.equal(got, want, `re-applied batch: ${firstDifference(got, want)}${describeRun(m)}`)
    for (const e of [...before, ...batch]) assert.equal(verdictKey(ring.verdict(e.id)), verdictKey(plain.verdict(e.id)))

    // And a rolled-back batch followed by a different continuation (the rest, in another order).
    const ring2 = foldInOrder(m.genesis.id, before)
    ring2.begin()
    for (const e of batch) ring2.apply(e)
    ring2.rollback()
    const rest = randomLinearExtension(order.slice(i), seed2, new Set(before.map(e => e.id)))
    ring2.begin()
    for (const e of rest) ring2.apply(e)
    ring2.commit()
    const want2 = canonicalSnapshot(foldInOrder(m.genesis.id, [...before, ...rest]).snapshot())
    const got2 = canonicalSnapshot(ring2.snapshot())
    assert.equal(got2, want2, `rollback then another continuation: ${firstDifference(got2, want2)}${describeRun(m)}`)
  }), params)
})
