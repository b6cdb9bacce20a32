import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { decodeEvent } from '../../crdt/events/index.js'
import { EventLog } from '../../crdt/log/index.js'
import { OwnershipRing } from '../../crdt/ring/index.js'
import { ringViewFromSnapshot } from '../../node/ring-view.js'
import { Store } from '../../node/store/index.js'
import { cleanup, WeftPeer } from '../helpers/weft-process.js'

/**
 * kill -9 in the middle of writes (issue 5): the data dir opens, every
 * acknowledged event is there, and the persisted ring snapshot is exactly
 * the fold of the persisted log.
 */

after(async () => { await cleanup() })

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

test('kill -9 during a burst of writes loses nothing acknowledged and leaves a consistent data dir', async () => {
  const peer = await WeftPeer.launch({ nickname: 'crashy' })
  for (let trial = 0; trial < 3; trial++) {
    const acked: string[] = []
    let running = true
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; running; i++) {
        try {
          const r = await peer.testHook('append', { kind: 'join', body: { nickname: `crashy-${trial}-${w}-${i}`, addrs: [] } }) as { id: string }
          acked.push(r.id)
        } catch {
          return
        }
      }
    })
    await sleep(300 + Math.floor(Math.random() * 700))
    await peer.kill('SIGKILL')
    running = false
    await Promise.allSettled(writers)
    assert.ok(acked.length > 0, 'some writes were acknowledged before the kill')

    const store = Store.open(peer.dataDir, { readOnly: true })
    try {
      const missing = acked.filter(id => !store.hasEvent(id))
      assert.deepEqual(missing, [], `acknowledged but lost after kill -9 (trial ${trial})`)
      const meta = store.getMeta()!
      const record = store.getSnapshot()!
      const ring = new OwnershipRing(meta.clusterId!)
      for (const e of store.eventsInOrder()) ring.apply(decodeEvent(e.bytes))
      assert.deepEqual(record.snapshot, ringViewFromSnapshot(ring.snapshot()), 'persisted snapshot = fold of the persisted log')
      assert.deepEqual([...record.eventHeads].sort(), ring.causal.heads().map(h => h.id).sort())
      const log = EventLog.load(meta.peer, store.docChunks())
      assert.deepEqual(log.eventHeads(), [...record.eventHeads].sort(), 'the document holds exactly the indexed events')
      log.close()
    } finally {
      await store.close()
    }
    await peer.relaunch()
    const status = await peer.status()
    assert.ok(status.events >= acked.length + 2, `${status.events} events after relaunch, ${acked.length} acknowledged`)
    assert.equal(status.peer.nickname, 'crashy')
  }
})
