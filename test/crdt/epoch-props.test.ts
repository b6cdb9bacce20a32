import { test } from 'node:test'
import assert from 'node:assert/strict'
import * as fc from 'fast-check'
import { CausalError, forksIn } from '../../crdt/causal/index.js'
import type { EventId, SignedEvent } from '../../crdt/events/index.js'
import { OwnershipRing } from '../../crdt/ring/index.js'
import { canonicalSnapshot, clusterSpecArb, ClusterModel, firstDifference, topologicalOrder } from '../helpers/cluster-model.js'
import { PROP_PARAMS, PROP_RUNS, REPLAYING } from '../helpers/prop-params.js'

/**
 * A fold compacted below a cut (docs/epochs.md, DESIGN.md §2.6) must go on
 * folding exactly as the whole history does, for every event whose view
 * contains the cut: the ring, the peers and the open disputes equal the
 * full fold's, through several compactions in a row.
 *
 * A run: steps, then everyone syncs (the cut: every later event by anyone
 * has it in its view, as after a checkpoint every live member signed), more
 * steps, then the fold is compacted below that cut while later events keep
 * coming; and again.
 */

// WEFT_PROP_RUNS, WEFT_PROP_SEED and WEFT_PROP_PATH: test/helpers/prop-params.ts.
const RUNS = PROP_RUNS
const params = PROP_PARAMS

const live = (ring: OwnershipRing): string => canonicalSnapshot(ring.snapshot(), { live: true })

test('a fold compacted below cuts everyone holds goes on exactly as the whole history', () => {
  let compactions = 0
  let dropped = 0
  const refused: string[] = []
  fc.assert(fc.property(
    clusterSpecArb({ maxSteps: 60 }), fc.array(fc.nat(), { minLength: 4, maxLength: 4 }),
    (spec, marks) => {
      const m = new ClusterModel(spec.peers, spec.seeds, spec.favourite, spec.late)
      const n = spec.steps.length
      // Step indices: sync at a and c (the cuts), compact below them at b and d.
      const [a, b, c, d] = marks.map(x => x % (n + 1)).sort((x, y) => x - y) as [number, number, number, number]
      let next = 0
      const runTo = (k: number): void => { while (next < k) m.runStep(spec.steps[next++]!) }

      const all = (): SignedEvent[] => m.allEvents()
      const cuts: Array<{ heads: EventId[], at: number }> = []
      const markCut = (): void => {
        m.heal()
        m.syncAll()
        const ring = OwnershipRing.fold(m.genesis.id, all())
        cuts.push({ heads: ring.causal.heads().map(h => h.id), at: ring.size })
      }
      // What the compacted replica holds, in the order it folded it.
      const folded = new Set<EventId>()
      const forks = () => forksIn(all())
      let ring: OwnershipRing | undefined
      const catchUp = (): boolean => {
        const events = all()
        const known = new Set(events.map(e => e.id))
        const fresh = topologicalOrder(events.filter(e => !folded.has(e.id)))
        ring ??= new OwnershipRing(m.genesis.id, forks())
        for (const e of fresh) {
          try {
            ring.apply(e)
          } catch (err) {
            // An event that does not hold the cut is refused, as the fold promises
            // (a bogus step may name stale deps); so is one whose dep was compacted
            // away: the log service tells that from a truly missing dep by the archive.
            if (err instanceof CausalError && (err.code === 'before-cut' || (err.code === 'missing-dep' && e.event.deps.some(d => !ring!.has(d) && known.has(d))))) {
              refused.push(`${e.event.kind} ${err.code}`)
              return false
            }
            throw err
          }
          folded.add(e.id)
        }
        return true
      }
      const compact = (cut: { heads: EventId[] }): void => {
        const r = ring!
        const before = r.size
        r.compactBelow(r.causal.mergedVv(cut.heads.map(id => r.causal.get(id)!)))
        dropped += before - r.size
        compactions++
      }

      runTo(a); markCut()
      runTo(b); if (!catchUp()) return; compact(cuts[0]!)
      runTo(c); markCut()
      runTo(d); if (!catchUp()) return; compact(cuts[1]!)
      runTo(n); if (!catchUp()) return
      if (forks().size !== ring!.forks.size) return // a fork that turned up late: a real replica refolds from the archive

      const whole = OwnershipRing.fold(m.genesis.id, all())
      const want = live(whole)
      const got = live(ring!)
      const disputes = (r: OwnershipRing): string => r.snapshot().disputes.filter(x => x.status === 'open').map(x => `${x.id.slice(0, 8)} ${x.kind} parties ${x.parties.map(p => p.slice(0, 8)).join(',')}`).join('; ')
      assert.equal(got, want, `the compacted fold differs from the whole history's: ${firstDifference(got, want)}\n` +
        `open disputes, compacted: ${disputes(ring!)}\nwhole: ${disputes(whole)}\nsteps ${a} ${b} ${c} ${d} of ${n}\ntrace:\n  ${m.trace.join('\n  ')}`)
    }), params)
  if (!REPLAYING) {
    assert.ok(compactions >= RUNS, `only ${compactions} compactions in ${RUNS} runs`)
    assert.ok(dropped > 0, 'no compaction dropped any event')
  }
  if (process.env.WEFT_PROP_STATS !== undefined) console.log(`${compactions} compactions dropped ${dropped} events; refused: ${refused.join(', ') || 'none'}`)
})

test('a fold compacted below a cut some peers lacked while they wrote goes on exactly as the whole history', () => {
  // The cut is one replica's view (a checkpoint's proposal); the others go on
  // writing without it for a while (events whose view is partly below the
  // cut: the detailed epoch of docs/epochs.md), then each receives the cut's
  // past (every live member signed the checkpoint), and later the fold is
  // compacted below the cut.
  let compactions = 0
  let partial = 0
  fc.assert(fc.property(
    clusterSpecArb({ maxSteps: 60 }), fc.array(fc.nat(), { minLength: 3, maxLength: 3 }), fc.nat(),
    (spec, marks, who) => {
      const m = new ClusterModel(spec.peers, spec.seeds, spec.favourite, spec.late)
      const n = spec.steps.length
      const [a, b, c] = marks.map(x => x % (n + 1)).sort((x, y) => x - y) as [number, number, number]
      let next = 0
      const runTo = (k: number): void => { while (next < k) m.runStep(spec.steps[next++]!) }

      runTo(a)
      const holder = m.peers[who % m.peers.length]!
      const cutHeads = holder.ring.causal.heads().map(h => h.id)
      runTo(b)
      const byId = new Map(m.allEvents().map(e => [e.id, e]))
      for (let i = 0; i < m.peers.length; i++) for (const id of cutHeads) m.deliverPast(byId.get(id)!, i)
      runTo(c)

      const all = m.allEvents()
      const ring = new OwnershipRing(m.genesis.id, forksIn(all))
      const folded = new Set<EventId>()
      for (const e of topologicalOrder(all)) { ring.apply(e); folded.add(e.id) }
      const cut = ring.causal.mergedVv(cutHeads.map(id => ring.causal.get(id)!))
      for (const node of ring.causal.nodes) {
        if (node.author >= 0 && (cut[node.author] ?? 0) < node.seq && [...cut].some((need, p) => (node.vv[p] ?? 0) < need)) { partial++; break }
      }
      ring.compactBelow(cut)
      compactions++

      runTo(n)
      const everything = m.allEvents()
      const known = new Set(everything.map(e => e.id))
      for (const e of topologicalOrder(everything.filter(e => !folded.has(e.id)))) {
        try {
          ring.apply(e)
        } catch (err) {
          if (err instanceof CausalError && (err.code === 'before-cut' || (err.code === 'missing-dep' && e.event.deps.some(d => !ring.has(d) && known.has(d))))) return
          throw err
        }
      }
      if (forksIn(everything).size !== ring.forks.size) return
      const whole = OwnershipRing.fold(m.genesis.id, everything)
      const want = live(whole)
      const got = live(ring)
      assert.equal(got, want, `the compacted fold differs from the whole history's: ${firstDifference(got, want)}\nsteps ${a} ${b} ${c} of ${n}, cut held by ${holder.nickname}\ntrace:\n  ${m.trace.join('\n  ')}`)
    }), params)
  if (!REPLAYING) assert.ok(compactions >= RUNS / 2, `only ${compactions} compactions in ${RUNS} runs`)
  if (process.env.WEFT_PROP_STATS !== undefined) console.log(`${compactions} compactions, ${partial} with events partly below the cut`)
})
