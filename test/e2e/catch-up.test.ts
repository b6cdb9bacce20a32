import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { cleanup, WeftPeer } from '../helpers/weft-process.js'
import { waitFor } from '../helpers/wait.js'

/**
 * Catch-up with the default 1 MiB frame limit (issue 6): a sync message
 * holding tens of thousands of events is several MB, so it travels in
 * chunks over /weft/snapshot/1.0.0 and is validated as usual.
 */

after(async () => { await cleanup() })

test('a joiner catches up a 50k-event cluster', async () => {
  const host1 = await WeftPeer.launch({ nickname: 'big1' })
  const r = await host1.testHook('append-joins', { count: 50_000 }, 180_000) as { appended: number }
  assert.equal(r.appended, 50_000)
  const events = (await host1.status()).events
  assert.ok(events >= 50_002)
  const started = Date.now()
  const joiner = await WeftPeer.launch({ nickname: 'big2', peers: [host1.addr] })
  const s = await waitFor('the joiner to hold every event', async () => {
    const st = await joiner.status()
    return st.events >= events + 1 && st.ipam.state === 'ready' ? st : undefined
  }, 180_000, 250)
  console.log(`# joiner caught up ${s.events} events in ${Date.now() - started} ms`)
  assert.equal(s.cluster.id, (await host1.status()).cluster.id)
  const log = (await joiner.run(['status', 'connections', '--json'])).stdout
  assert.ok(!log.includes('oversized'), 'nothing was refused for size')
})

test('a new peer joining a 10k-event cluster allocates its first address', async () => {
  const host1 = await WeftPeer.launch({ nickname: 'ten1' })
  await host1.testHook('append-joins', { count: 10_000 }, 120_000)
  const started = Date.now()
  const joiner = await WeftPeer.launch({ nickname: 'ten2', peers: [host1.addr] })
  const a = await joiner.client.alloc('first')
  const ms = Date.now() - started
  console.log(`# joined a ${(await host1.status()).events}-event cluster and allocated ${a.address} in ${ms} ms`)
  assert.match(a.address, /^10\.(3[2-9]|4[0-7])\./)
  assert.ok((await joiner.status()).addresses.owned as number > 0, 'the joiner got space by donation')
})

test('a peer stopped while 10k events happened catches up', async () => {
  const host1 = await WeftPeer.launch({ nickname: 'up1' })
  const host2 = await WeftPeer.launch({ nickname: 'up2', peers: [host1.addr] })
  await waitFor('host2 to join', async () => (await host1.status()).peers.some(p => p.name === host2.name && p.connected))
  await host2.stop()
  await host1.testHook('append-joins', { count: 10_000 }, 120_000)
  const events = (await host1.status()).events
  const started = Date.now()
  await host2.relaunch()
  const s = await waitFor('host2 to catch up', async () => {
    const st = await host2.status()
    return st.events >= events ? st : undefined
  }, 120_000, 250)
  console.log(`# stopped peer caught up ${s.events} events in ${Date.now() - started} ms`)
  // The view shows the events a moment before the session reports the sync
  // complete (the receive returns after its view is published): then ready.
  await waitFor('host2 to be ready once caught up', async () => (await host2.status()).ipam.state === 'ready', 10_000)
})
