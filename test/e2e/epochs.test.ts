import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import type { StatusJson } from '../../node/api/types.js'
import { cleanup, WeftPeer } from '../helpers/weft-process.js'
import { waitFor } from '../helpers/wait.js'

/**
 * Epochs between real daemons (DESIGN.md §2.6): checkpoints every few
 * events, a member down while the cluster would pass epochs (status says
 * whom the checkpoint waits for), its relaunch and catch-up, a relaunch
 * from a stored base, and a joiner that starts from the current epoch.
 */

after(async () => { await cleanup() })

const env = {
  WEFT_TUNING: JSON.stringify({ syncIntervalMs: 1000, readyGraceMs: 1000, backoffBaseMs: 300, backoffMaxMs: 1500, epochEvents: 20 })
}

const epochOf = (s: StatusJson): number => s.epoch?.n ?? 0

async function sameEverywhere (peers: WeftPeer[], what: string, atLeast: number): Promise<StatusJson[]> {
  return await waitFor(what, async () => {
    const all = await Promise.all(peers.map(async p => await p.status()))
    const n = epochOf(all[0]!)
    return n >= atLeast && all.every(s => epochOf(s) === n && s.ipam.state === 'ready') ? all : undefined
  }, 60_000, 200)
}

test('a cluster passes epochs with a member down; the member relaunches and catches up; a joiner starts from the current epoch', async () => {
  const a = await WeftPeer.launch({ nickname: 'ep1', env })
  const b = await WeftPeer.launch({ nickname: 'ep2', peers: [a.addr], env })
  const c = await WeftPeer.launch({ nickname: 'ep3', peers: [a.addr], env })
  await waitFor('all connected', async () => (await a.status()).peers.filter(p => p.connected).length === 2)

  // Two epochs with everyone up.
  for (const p of [a, b, c]) await p.testHook('append-joins', { count: 15 })
  await sameEverywhere([a, b, c], 'every peer in epoch 1 or later', 1)
  for (const p of [a, b, c]) await p.testHook('append-joins', { count: 15 })
  await sameEverywhere([a, b, c], 'every peer in epoch 2 or later', 2)

  // ep3 goes down: the next checkpoint waits for it, and says so.
  await c.stop()
  await a.testHook('append-joins', { count: 25 })
  const waiting = await waitFor('a checkpoint waiting for ep3', async () => {
    const s = await a.status()
    return s.epoch?.waiting?.for.length === 1 && s.epoch.waiting.for[0]!.nickname === 'ep3' ? s : undefined
  }, 30_000, 200)
  const n = waiting.epoch!.waiting!.epoch
  assert.equal(epochOf(waiting), n)
  await new Promise(resolve => setTimeout(resolve, 2000))
  assert.equal(epochOf(await a.status()), n, 'no switch while a live member has not signed')
  const text = (await a.run(['status'])).stdout
  assert.match(text, new RegExp(`epoch ${n} waits for ep3, last seen `))
  const check = await a.run(['check'])
  assert.match(check.stdout, new RegExp(`\\n {2}epoch ${n} waits for ep3, last seen `), check.stdout + check.stderr)

  // ep3 comes back: it catches up from its own store, signs, and the epoch ends.
  await c.relaunch()
  const after = await sameEverywhere([a, b, c], `every peer past epoch ${n}`, n + 1)
  assert.ok(after.every(s => s.epoch?.waiting === undefined || s.epoch.waiting.epoch > n))

  // A relaunch starts from the stored base and keeps the epoch and the ring.
  const beforeRelaunch = await b.status()
  await b.stop()
  await b.relaunch()
  const relaunched = await waitFor('ep2 ready again', async () => { const s = await b.status(); return s.ipam.state === 'ready' ? s : undefined }, 30_000, 200)
  assert.ok(epochOf(relaunched) >= epochOf(beforeRelaunch))
  assert.deepEqual(relaunched.peers.map(p => [p.name, p.owned]), beforeRelaunch.peers.map(p => [p.name, p.owned]))

  // A new peer joins the current epoch: the base and the events since, not the history.
  const d = await WeftPeer.launch({ nickname: 'ep4', peers: [a.addr], env })
  await sameEverywhere([a, b, c, d], 'the joiner in the cluster\'s epoch', n + 1)
  const names = (s: StatusJson): string => [...s.peers.map(p => p.name), s.peer.name].sort().join()
  await waitFor('every peer to know the joiner', async () => {
    const all = await Promise.all([a, b, c, d].map(async p => names(await p.status())))
    return all.every(x => x === all[0]) && all[0]!.includes(d.name)
  }, 30_000, 200)
  const alloc = await d.run(['alloc', 'first'])
  assert.equal(alloc.code, 0, alloc.stderr)
})
