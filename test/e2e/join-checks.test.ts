import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { parseCidr } from '../../packages/netaddr/index.js'
import { createGenesis } from '../../crdt/events/index.js'
import { EventLog, SyncSession } from '../../crdt/log/index.js'
import { FRAME_HELLO } from '../../node/net/frames.js'
import { RawSyncClient } from '../helpers/raw-sync-client.js'
import { cleanup, freePort, WeftPeer } from '../helpers/weft-process.js'
import { waitFor } from '../helpers/wait.js'

/**
 * What a peer with no cluster yet joins (issue 12): only the cluster its
 * supplier's hello named, and only over its own --range, judged by the
 * genesis it would adopt rather than by what the hello says. A raw client
 * plays the supplier that lies.
 */

after(async () => { await cleanup() })

/** Offers a one-genesis log over `range` after a hello naming `helloCluster` and `helloRange`; returns how the daemon ended it. */
async function offerGenesis (daemon: WeftPeer, range: string, hello: { cluster?: 'same', range?: string }, timeoutMs = 15_000): Promise<{ bye?: { code: string, message: string }, closed: boolean }> {
  const client = await RawSyncClient.connect(daemon.fullAddr, { sortBelow: daemon.name })
  try {
    const genesis = createGenesis({ ranges: [parseCidr(range)], seeds: [client.name] })
    const log = EventLog.create(client.name)
    log.addGenesis(genesis)
    const session = new SyncSession()
    await client.sendHello(client.hello({ ...(hello.cluster === 'same' ? { cluster: genesis.id } : {}), ...(hello.range !== undefined ? { range: hello.range } : {}), nickname: 'liar' }))
    const first = await client.readFrame(10_000)
    assert.ok(first !== 'closed' && first !== 'timeout' && first.type === FRAME_HELLO, 'the daemon says hello')
    const flush = async (): Promise<void> => {
      for (let msg = log.generateSyncMessage(session); msg !== null; msg = log.generateSyncMessage(session)) await client.sendSync(msg)
    }
    await flush()
    return await client.hangUp(timeoutMs, async message => {
      log.receive(session, message, null).adopt()
      await flush()
    })
  } finally {
    await client.stop()
  }
}

test('a joiner adopts no genesis over another range than --range, whatever the hello says, nor one from a hello naming no cluster', async () => {
  // Its PEER is a port nobody listens on: it waits for a cluster.
  const daemon = await WeftPeer.launch({ nickname: 'joiner', peers: [`127.0.0.1:${await freePort()}`], extraArgs: ['--range', '10.0.0.0/16', '--init', 'observer'] })
  assert.equal((await daemon.status()).ipam.state, 'waiting-for-cluster')

  const lying = await offerGenesis(daemon, '10.32.0.0/12', { cluster: 'same', range: '10.0.0.0/16' })
  assert.equal(lying.bye?.code, 'wrong-cluster', JSON.stringify(lying))
  assert.match(lying.bye?.message ?? '', /over 10\.32\.0\.0\/12, but this peer was launched with --range 10\.0\.0\.0\/16/)
  let s = await daemon.status()
  assert.equal(s.ipam.state, 'waiting-for-cluster')
  assert.equal(s.cluster.id, null)
  assert.equal(s.events, 0)

  const unnamed = await offerGenesis(daemon, '10.0.0.0/16', {})
  assert.equal(unnamed.bye?.code, 'wrong-cluster', JSON.stringify(unnamed))
  assert.match(unnamed.bye?.message ?? '', /its hello named no cluster to join/)
  s = await daemon.status()
  assert.equal(s.ipam.state, 'waiting-for-cluster')
  assert.equal(s.cluster.id, null)

  // The honest offer over the right range is joined.
  const honest = await offerGenesis(daemon, '10.0.0.0/16', { cluster: 'same', range: '10.0.0.0/16' }, 3000)
  assert.equal(honest.bye, undefined, JSON.stringify(honest))
  const joined = await waitFor('the daemon to join the honest cluster', async () => { const st = await daemon.status(); return st.cluster.id !== null ? st : undefined })
  assert.equal(joined.cluster.range, '10.0.0.0/16')
})
