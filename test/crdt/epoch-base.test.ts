import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as dagCbor from '@ipld/dag-cbor'
import * as fc from 'fast-check'
import { CausalError, forksIn } from '../../crdt/causal/index.js'
import type { EventId, SignedEvent } from '../../crdt/events/index.js'
import { BaseError, baseDigest, checkpointKey, chooseFinal, finality, OwnershipRing } from '../../crdt/ring/index.js'
import { cidrs, makeCluster } from '../helpers/sim-peer.js'
import { canonicalSnapshot, causalPast, clusterSpecArb, ClusterModel, firstDifference, randomLinearExtension, topologicalOrder } from '../helpers/cluster-model.js'
import { PROP_PARAMS, PROP_RUNS, REPLAYING } from '../helpers/prop-params.js'

/**
 * An epoch's base (crdt/ring/base.ts, docs/epochs.md): the fold at a
 * checkpoint's cut H_N, compacted below the previous cut H_{N-1}, as bytes.
 *
 * - Every replica that folds H_N's past, in any delivery order, encodes the
 *   same bytes (so members can sign one digest), whether it folded the whole
 *   history or restored the previous base and folded the epoch since.
 * - A fold restored from the bytes goes on exactly as the whole history's
 *   for every later event, through several epochs.
 *
 * A run: at each epoch's mark one peer's heads are the cut (its proposal);
 * a little later every peer receives the cut's past (everyone signed). Every
 * event outside a cut is then made after the previous cut reached everyone,
 * as the checkpoint rule guarantees (docs/epochs.md, "Two cuts").
 */

// WEFT_PROP_RUNS, WEFT_PROP_SEED and WEFT_PROP_PATH: test/helpers/prop-params.ts.
const RUNS = PROP_RUNS
const params = PROP_PARAMS

const EPOCHS = 3

/** Where two bases differ, table by table, for a failure's message. */
function baseDifference (a: Uint8Array, b: Uint8Array): string {
  const text = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => x instanceof Uint8Array ? `<${x.length} bytes>` : x)
  const x = dagCbor.decode<Record<string, unknown>>(a)
  const y = dagCbor.decode<Record<string, unknown>>(b)
  return Object.keys(x).filter(k => text(x[k]) !== text(y[k])).map(k => `${k}:\n  ${text(x[k])}\n  ${text(y[k])}`).join('\n')
}
const live = (ring: OwnershipRing): string => canonicalSnapshot(ring.snapshot(), { live: true })

/** Folds `events` onto `ring` (or a fresh fold); false if one is refused as the fold promises (a view without the cut). */
function foldOnto (ring: OwnershipRing, events: readonly SignedEvent[], known: ReadonlySet<EventId>): boolean {
  for (const e of events) {
    try {
      ring.apply(e)
    } catch (err) {
      // A bogus step may name stale deps: such an event lacks the cut, and a
      // real peer judges it against the archive.
      if (err instanceof CausalError && (err.code === 'before-cut' || (err.code === 'missing-dep' && e.event.deps.some(d => !ring.has(d) && known.has(d))))) return false
      throw err
    }
  }
  return true
}

test('an epoch base is the same bytes on every replica, and a fold restored from it goes on as the whole history', () => {
  let bases = 0
  let restoredBytes = 0
  let refused = 0
  fc.assert(fc.property(
    clusterSpecArb({ maxSteps: 60 }), fc.array(fc.nat(), { minLength: 2 * EPOCHS + 1, maxLength: 2 * EPOCHS + 1 }), fc.nat(), fc.nat(),
    (spec, marks, who, orderSeed) => {
      const m = new ClusterModel(spec.peers, spec.seeds, spec.favourite, spec.late)
      const n = spec.steps.length
      const at = marks.map(x => x % (n + 1)).sort((x, y) => x - y)
      let next = 0
      const runTo = (k: number): void => { while (next < k) m.runStep(spec.steps[next++]!) }

      // The cuts: H_0 is the genesis; H_k is peer (who + k)'s heads at its
      // mark, plus every peer's heads when H_{k-1} reached it (its signature:
      // a checkpoint's cut holds every signature of the previous one).
      const cuts: EventId[][] = [[m.genesis.id]]
      let signatures: EventId[] = []
      for (let k = 1; k <= EPOCHS; k++) {
        runTo(at[2 * k - 2]!)
        const holder = m.peers[(who + k) % m.peers.length]!
        const heads = [...new Set([...holder.ring.causal.heads().map(h => h.id), ...signatures])]
        runTo(at[2 * k - 1]!)
        const all = m.allEvents()
        const byId = new Map(all.map(e => [e.id, e]))
        for (let i = 0; i < m.peers.length; i++) for (const id of heads) m.deliverPast(byId.get(id)!, i)
        signatures = m.peers.flatMap(p => p.ring.causal.heads().map(h => h.id))
        cuts.push(heads)
      }
      runTo(n)

      const everything = m.allEvents()
      const known = new Set(everything.map(e => e.id))
      const forks = forksIn(everything)
      const pastOf = (heads: EventId[]): SignedEvent[] => {
        const out = new Map<EventId, SignedEvent>()
        for (const h of heads) for (const e of causalPast(everything, h)) out.set(e.id, e)
        return [...out.values()]
      }
      const cutVv = (ring: OwnershipRing, heads: EventId[]): Int32Array => ring.causal.mergedVv(heads.map(id => ring.causal.get(id)!))

      // Epoch by epoch: the base from the previous one plus the epoch's events,
      // checked against the base from a fresh fold of the cut's whole past.
      let bytes: Uint8Array | undefined
      for (let k = 1; k <= EPOCHS; k++) {
        const past = pastOf(cuts[k]!)
        if (forksIn(past).size !== forks.size) return // a fork turned up late: a real replica refolds from the archive
        const fresh = new OwnershipRing(m.genesis.id, forks)
        if (!foldOnto(fresh, randomLinearExtension(past, orderSeed + k), known)) return
        fresh.compactBelow(cutVv(fresh, cuts[k - 1]!))
        const want = fresh.encodeBase()

        if (bytes !== undefined) {
          const ring = OwnershipRing.fromBase(bytes)
          const held = new Set(pastOf(cuts[k - 1]!).map(e => e.id))
          if (!foldOnto(ring, topologicalOrder(past.filter(e => !held.has(e.id))), known)) return
          ring.compactBelow(cutVv(ring, cuts[k - 1]!))
          const got = ring.encodeBase()
          assert.equal(baseDigest(got), baseDigest(want), `epoch ${k}: the base made from the previous base differs from a fresh fold's\n` +
            `${firstDifference(live(ring), live(fresh))}\n${baseDifference(got, want)}\ntrace:\n  ${m.trace.join('\n  ')}`)
          assert.deepEqual(got, want, baseDifference(got, want))
        }
        bytes = want
        bases++
        restoredBytes += want.length

        // The base restored goes on as the whole history, for every later event.
        const restored = OwnershipRing.fromBase(bytes)
        assert.deepEqual(restored.encodeBase(), bytes, 'a restored base encodes back to other bytes')
        const inCut = new Set(past.map(e => e.id))
        if (!foldOnto(restored, topologicalOrder(everything.filter(e => !inCut.has(e.id))), known)) { refused++; return }
        const whole = OwnershipRing.fold(m.genesis.id, everything)
        const got = live(restored)
        const wanted = live(whole)
        assert.equal(got, wanted, `epoch ${k}: the fold restored from its base differs from the whole history's: ${firstDifference(got, wanted)}\n` +
          `marks ${at.join(' ')} of ${n}\ntrace:\n  ${m.trace.join('\n  ')}`)
      }
    }), params)
  if (!REPLAYING) assert.ok(bases >= RUNS, `only ${bases} bases in ${RUNS} runs`)
  if (process.env.WEFT_PROP_STATS !== undefined) console.log(`${bases} bases, ${Math.round(restoredBytes / Math.max(1, bases))} bytes each on average; ${refused} runs ended by an event without the cut`)
})

test('bytes that are not an epoch base are refused with a BaseError, never half-read', () => {
  const m = new ClusterModel(3, 2)
  m.transfer(0, 1, m.ownedIn(0, 0).toCidrs().slice(0, 1))
  const ring = OwnershipRing.fold(m.genesis.id, m.allEvents())
  const bytes = ring.encodeBase()
  assert.equal(live(OwnershipRing.fromBase(bytes)), live(ring))
  const damaged = [
    new Uint8Array([0xff, 0x00]),
    bytes.slice(0, bytes.length - 7),
    new Uint8Array([0xa1, 0x61, 0x76, 0x02]) // {v: 2}
  ]
  for (const bad of damaged) {
    assert.throws(() => OwnershipRing.fromBase(bad), (err: unknown) => err instanceof BaseError, `bytes ${bad.length} long were read`)
  }
  // One byte flipped anywhere changes the digest a checkpoint signs.
  const flipped = bytes.slice()
  flipped[Math.floor(flipped.length / 2)]! ^= 1
  assert.notEqual(baseDigest(flipped), baseDigest(bytes))
})

test('a checkpoint is final once every member live at its cut has signed it; removing a down member unblocks it', () => {
  const { peers: [a, b, c], genesis } = makeCluster(['host1', 'host2', 'host3'])
  const syncAll = (): void => { for (const p of [a!, b!, c!]) for (const q of [a!, b!, c!]) p.syncFrom(q) }
  a!.author('transfer', { ranges: cidrs('10.32.0.0/16'), to: b!.name })
  syncAll()
  // host1 proposes: the cut is its heads, the digest its base's.
  const cut = a!.ring.causal.heads().map(h => h.id).sort()
  const atCut = OwnershipRing.fold(genesis.id, [...a!.events.values()])
  const digest = baseDigest(atCut.encodeBase())
  const body = { epoch: 1, cut, digest }
  const proposal = a!.author('checkpoint', body)
  assert.equal(a!.ring.verdict(proposal.id)?.status, 'valid')
  syncAll()
  const state = (): { waitingFor: readonly string[], final: boolean, signers: readonly string[] } => {
    const now = b!.ring.snapshot()
    assert.equal(now.checkpoints.length, 1, 'one proposal: every signature of the same cut and digest joins it')
    const p = now.checkpoints[0]!
    assert.equal(p.key, checkpointKey(1, cut, digest))
    return { ...finality(p, atCut.snapshot(), now), signers: p.signers }
  }
  const name = (p: { name: string }): string => p.name
  assert.deepEqual(state().waitingFor, [b!, c!].map(name).sort(), 'the proposer has signed; the others have not')
  // host2 folds the cut itself, gets the same digest, and signs.
  const own = new OwnershipRing(genesis.id)
  for (const e of topologicalOrder(causalPast([...b!.events.values()], cut[0]!))) own.apply(e)
  assert.equal(baseDigest(own.encodeBase()), digest)
  b!.author('checkpoint', body)
  syncAll()
  assert.deepEqual(state(), { final: false, waitingFor: [c!.name], signers: [a!, b!].map(name).sort() })
  // host3 is down: taking it over unblocks the epoch.
  b!.author('takeover', { from: c!.name, ranges: b!.ring.snapshot().peers.find(p => p.name === c!.name)!.owned.toCidrs() })
  syncAll()
  assert.deepEqual(state(), { final: true, waitingFor: [], signers: [a!, b!].map(name).sort() })
  // The smallest key wins among final proposals.
  const other = { ...state(), key: '0'.repeat(64) }
  assert.equal(chooseFinal([b!.ring.snapshot().checkpoints[0]!, { ...b!.ring.snapshot().checkpoints[0]!, ...other }])?.key, '0'.repeat(64))
})
