import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { RingViewJson } from '../../node/ring-view.js'
import { cleanup, WeftPeer } from '../helpers/weft-process.js'
import { waitFor } from '../helpers/wait.js'

/**
 * Disputes on the wire (issue 6): the same dead peer taken over on both
 * sides of a partition. When it heals, each side flags the same dispute,
 * drops the connection and keeps it dropped without re-sending the batch;
 * a bystander learns of the dispute; a resolve re-merges the cliques.
 */

after(async () => { await cleanup() })

// Short backoff so the test sees several reconnects; the protocol is the same.
const env = { WEFT_TUNING: JSON.stringify({ backoffBaseMs: 500, backoffFactor: 1.5, backoffMaxMs: 2000, readyGraceMs: 1000, syncIntervalMs: 2000 }) }
const view = async (p: WeftPeer): Promise<RingViewJson> => await p.testHook('view') as RingViewJson
const openDisputes = async (p: WeftPeer): Promise<RingViewJson['disputes']> => (await view(p)).disputes.filter(d => d.status === 'open')

test('a duplicate takeover across a partition forms cliques without churn, and a resolve heals them', async () => {
  const host1 = await WeftPeer.launch({ nickname: 'host1', env })
  const host2 = await WeftPeer.launch({ nickname: 'host2', peers: [host1.addr], env })
  const host3 = await WeftPeer.launch({ nickname: 'host3', peers: [host1.addr], env })
  const host4 = await WeftPeer.launch({ nickname: 'host4', peers: [host1.addr], env })
  const all = [host1, host2, host3, host4]
  await waitFor('a full mesh', async () => (await Promise.all(all.map(p => p.status()))).every(s => s.peers.filter(x => x.connected).length === 3))

  // host1 gives host3 half the range; everyone learns it; host3 dies.
  await host1.testHook('append', { kind: 'transfer', body: { ranges: ['10.40.0.0/13'], to: host3.name } })
  await waitFor('everyone to see host3 own 10.40.0.0/13', async () => (await Promise.all([host2, host4].map(p => p.status()))).every(s => s.peers.find(x => x.name === host3.name)?.owned === 524288))
  await host3.stop()

  // Partition: {host1} | {host2, host4}.
  for (const p of [host2, host4]) await host1.testHook('block', { peer: p.name })
  for (const p of [host2, host4]) await p.testHook('block', { peer: host1.name })
  await waitFor('the partition', async () => (await host1.status()).peers.every(x => !x.connected))

  // Both sides take host3 over without seeing each other.
  const t1 = await host1.testHook('append', { kind: 'takeover', body: { from: host3.name, ranges: ['10.40.0.0/13'] } }) as { id: string, status: string }
  const t2 = await host2.testHook('append', { kind: 'takeover', body: { from: host3.name, ranges: ['10.40.0.0/13'] } }) as { id: string, status: string }
  assert.equal(t1.status, 'valid')
  assert.equal(t2.status, 'valid')
  await waitFor('host4 to adopt host2\'s takeover', async () => (await host4.status()).peers.find(x => x.name === host2.name)?.owned === 524288 + 0 || undefined)

  // Heal.
  for (const p of [host2, host4]) await host1.testHook('unblock', { peer: p.name })
  for (const p of [host2, host4]) await p.testHook('unblock', { peer: host1.name })

  // Each side flags the same dispute; host4, connected to both, learns of it too.
  const disputes = await waitFor('every live peer to flag the dispute', async () => {
    const ds = await Promise.all([host1, host2, host4].map(openDisputes))
    return ds.every(d => d.length === 1) ? ds : undefined
  }, 30_000)
  const id = disputes[0]![0]!.id
  for (const d of disputes) {
    assert.equal(d[0]!.id, id)
    assert.deepEqual([...d[0]!.parties].sort(), [t1.id, t2.id].sort())
    assert.deepEqual(d[0]!.ranges, ['10.40.0.0/13'])
  }
  for (const p of [host1, host2, host4]) {
    const s = await p.status()
    assert.equal(s.addresses.disputed, 524288, `${p.nickname} reports the space as disputed`)
    assert.equal(s.conflicts.unresolved, 1)
  }
  const drop = await waitFor('host1 to show host2 dropped for the dispute', async () => (await host1.status()).connections.find(c => c.peer === host2.name && c.state === 'dropped'))
  assert.match(drop.reason ?? '', /dispute/)
  // host1's log names both events, the range, both authors and the supplier.
  const log1 = readFileSync(join(host1.dataDir, 'weft.log'), 'utf8')
  assert.ok(log1.includes(t1.id) && log1.includes(t2.id) && log1.includes('10.40.0.0/13'), 'error names both events and the range')

  // The connection stays dropped without re-sending the batch: retries exchange only hellos.
  const before = (await host1.status()).connections.find(c => c.peer === host2.name)!
  await new Promise(resolve => setTimeout(resolve, 5000))
  const later = (await host1.status()).connections.find(c => c.peer === host2.name)!
  const retries = readFileSync(join(host1.dataDir, 'weft.log'), 'utf8').split('\n').filter(l => l.includes(`unresolved dispute ${id}`)).length
  assert.ok(retries >= 2, `host1 retried and was refused at hello ${retries} times`)
  const perRetry = (later.bytesIn + later.bytesOut - before.bytesIn - before.bytesOut) / retries
  console.log(`# ${retries} refused reconnects, ${perRetry.toFixed(0)} bytes each`)
  assert.ok(perRetry < 2048, `each refused reconnect costs ${perRetry} bytes: the batch is not re-sent`)
  // Each retry connects for a moment before the hellos hang it up: it settles back to dropped.
  await waitFor('the retried connection to be dropped again', async () => (await host1.status()).connections.find(c => c.peer === host2.name)?.state === 'dropped')

  // A resolve appended on one side re-merges the cliques.
  const r = await host2.testHook('append', { kind: 'resolve', body: { disputes: [id], removals: [], assignments: [{ owner: host2.name, ranges: ['10.40.0.0/13'] }] } }) as { id: string, status: string }
  assert.equal(r.status, 'valid')
  await waitFor('the cliques to re-merge', async () => {
    const ss = await Promise.all([host1, host2, host4].map(p => p.status()))
    return ss.every(s => s.conflicts.unresolved === 0 && s.addresses.disputed === 0) &&
      ss[0]!.peers.find(x => x.name === host2.name)?.connected === true
  }, 30_000)
  for (const p of [host1, host2, host4]) {
    const v = await view(p)
    assert.equal(v.disputes.find(d => d.id === id)?.status, 'settled')
    assert.deepEqual(v.peers.find(x => x.name === host2.name)?.owned.includes('10.40.0.0/13'), true)
  }
})
