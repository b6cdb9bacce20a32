import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { pastOf } from '../../crdt/causal/index.js'
import { decodeEvent } from '../../crdt/events/index.js'
import { OwnershipRing } from '../../crdt/ring/index.js'
import { formatStatus } from '../../cli/format/status.js'
import { SimulatedClock } from '../../node/clock.js'
import { createLogger, silentLogger } from '../../node/logger.js'
import { ringViewFromSnapshot } from '../../node/ring-view.js'
import { Store } from '../../node/store/index.js'
import { SimCluster } from '../helpers/sim-cluster.js'

/**
 * Epochs in running peers (DESIGN.md §2.6): members propose and sign
 * checkpoints as their documents fill, switch when every live member has
 * signed, and keep syncing; the ring after each switch is the fold of the
 * whole history.
 */

const clusters: SimCluster[] = []
after(async () => { for (const c of clusters) await c.cleanup() })

test('a cluster passes several epochs, a down member holds the next one up until it is taken over, and every ring stays the fold of the whole history', async () => {
  const clock = new SimulatedClock(1_700_000_000_000)
  const logger = process.env.WEFT_TEST_LOG !== undefined ? createLogger({ write (level, component, message) { if (level !== 'debug') console.error(`${clock.now() - 1_700_000_000_000} ${component} ${message}`) } }) : silentLogger
  const cluster = await SimCluster.create(3, { range: '10.0.0.0/22', seed: 7, clock, logger, tuning: { epochEvents: 12 } })
  clusters.push(cluster)
  const epochOf = (i: number): number => cluster.peers[i]!.log.epochStatus()?.epoch ?? 0
  // Waits in slices: each settle lets real time pass for the disk first, so a
  // busy machine's slow commits do not run the simulated clock out.
  const settle = async (until: () => boolean): Promise<boolean> => {
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) if (await cluster.settle({ until, maxSteps: 500 })) return true
    return false
  }
  for (let round = 1; round <= 3; round++) {
    for (const p of cluster.peers) await p.log.appendJoins(6, p.nickname, [])
    if (process.env.WEFT_TEST_LOG !== undefined) console.error(`round ${round}: appended`)
    const ok = await settle(() => cluster.peers.every((_, i) => epochOf(i) >= round) && cluster.converged())
    assert.ok(ok, `round ${round}: epochs ${cluster.peers.map((_, i) => epochOf(i)).join(', ')}\n${cluster.describe()}`)
  }
  // A member goes down: the next checkpoint waits for it, visibly, and
  // taking it over (rmpeer) unblocks it.
  const [a, , c] = cluster.peers as [typeof cluster.peers[0], typeof cluster.peers[0], typeof cluster.peers[0]]
  await c.peer.stop()
  await a.log.appendJoins(13, a.nickname, [])
  const waitsFor = (): string => a.peer.status().epoch?.waiting?.for.map(p => p.name).join() ?? ''
  const waits = await settle(() => waitsFor() === c.name)
  const waiting = a.peer.status().epoch?.waiting
  assert.ok(waits, `no checkpoint waits for the down member: ${JSON.stringify(a.peer.status().epoch)}`)
  assert.deepEqual(waiting!.for.map(p => p.nickname), [c.nickname])
  // (A checkpoint the down member had signed may have ended an epoch meanwhile.)
  const before = waiting!.epoch
  await cluster.settle({ maxSteps: 200, until: () => false })
  assert.equal(epochOf(0), before, 'no switch while a live member has not signed')
  assert.match(formatStatus(a.peer.status(), undefined, clock.now()), new RegExp(`\\n {2,}epoch ${before} waits for ${c.nickname}, last seen [^;]+ \\(since [^)]+\\); \`weft rmpeer\` of a member that is gone unblocks it\\n`))
  await a.log.takeover(c.name)
  cluster.peers.pop() // down for good: the rest converge without it
  const moved = await settle(() => epochOf(0) > before && epochOf(1) > before && cluster.converged())
  assert.ok(moved, `taking the down member over did not unblock the epoch: ${JSON.stringify(a.peer.status().epoch)}\n${cluster.describe()}`)

  // Every ring is the fold of the whole history (every store's events together:
  // a peer that caught up from an offer holds the cut's past only as the base).
  const views = cluster.peers.map(p => p.log.foldView()!)
  const all = new Map<string, ReturnType<typeof decodeEvent>>()
  const epochs: number[] = []
  for (const p of cluster.peers) {
    await p.log.close()
    const store = Store.open(p.dataDir, { readOnly: true })
    try {
      for (const e of store.eventsInOrder()) all.set(e.id, decodeEvent(e.bytes, { verifier: null }))
      epochs.push(store.getEpoch()?.epoch ?? 0)
    } finally {
      await store.close()
    }
  }
  // The history the live peers hold: the past of their heads (the down
  // member may have signed something no one received before it stopped).
  const events = pastOf(all, views[0]!.heads)
  const genesis = events.find(e => e.event.kind === 'genesis')!
  const whole = ringViewFromSnapshot(OwnershipRing.fold(genesis.id, events).snapshot())!
  cluster.peers.forEach((p, i) => {
    for (const field of ['peers', 'unowned', 'disputed', 'heads', 'events'] as const) assert.deepEqual(views[i]![field], whole[field], `${p.nickname}: ${field}`)
  })
  assert.ok(epochs.every(e => e >= 4), `stored epochs ${epochs.join(', ')}`)
})
