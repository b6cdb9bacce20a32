import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { parseAddress, parseCidr, RangeSet } from '../../packages/netaddr/index.js'
import type { Allocation } from '../../node/allocator/types.js'
import type { RingViewJson } from '../../node/ring-view.js'
import { cleanup, WeftPeer } from '../helpers/weft-process.js'
import { waitFor } from '../helpers/wait.js'

/**
 * Allocation across real daemons (issue 7): concurrent allocs with
 * donations, kill -9 mid-burst, a full stop and relaunch in a chain.
 */

after(async () => { await cleanup() })

const owned = (v: RingViewJson, name: string): RangeSet =>
  RangeSet.fromCidrs(4, v.peers.find(p => p.name === name)?.owned.map(c => parseCidr(c)) ?? [])

async function ls (p: WeftPeer): Promise<Allocation[]> {
  const r = await p.run(['ls', '--json'])
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout) as Allocation[]
}

function assertDistinct (all: Allocation[]): void {
  const seen = new Map<string, string>()
  for (const a of all) {
    const had = seen.get(a.address)
    assert.equal(had, undefined, `address ${a.address} handed out twice: ${had ?? ''} and ${a.id}`)
    seen.set(a.address, a.id)
  }
}

describe('three peers allocating at once', () => {
  const peers: WeftPeer[] = []

  test('3 peers × 300 concurrent allocs give 900 distinct addresses, each inside its allocator\'s space', async () => {
    const host1 = await WeftPeer.launch({ nickname: 'host1' })
    const host2 = await WeftPeer.launch({ nickname: 'host2', peers: [host1.addr] })
    const host3 = await WeftPeer.launch({ nickname: 'host3', peers: [host1.addr] })
    peers.push(host1, host2, host3)
    for (const p of peers) assert.equal((await p.run(['wait-ready', '--timeout', '20'])).code, 0)
    const results = await Promise.all(peers.flatMap(p => Array.from({ length: 300 }, async (_, i) => {
      const a = await p.client.alloc(`${p.nickname}-c${i}`)
      return { peer: p, a }
    })))
    assert.equal(results.length, 900)
    assertDistinct(results.map(r => r.a))
    const range = RangeSet.fromCidrs(4, [parseCidr('10.32.0.0/12')])
    const view = await waitFor('the views to agree', async () => {
      const vs = await Promise.all(peers.map(async p => await p.testHook('view') as RingViewJson))
      return vs.every(v => v.heads.join() === vs[0]!.heads.join()) ? vs[0] : undefined
    })
    for (const { peer, a } of results) {
      const v = parseAddress(a.address).value
      assert.ok(range.containsAddress(v), `${a.address} inside the range`)
      assert.ok(owned(view, peer.name).containsAddress(v), `${a.address} inside ${peer.nickname}'s space`)
    }
    // host2 and host3 started with nothing: their space came by donation.
    for (const p of [host2, host3]) assert.ok(owned(view, p.name).size > 0n, `${p.nickname} received space`)
    const transfers = view.peers.length
    assert.ok(transfers >= 3)
    // Idempotent: the same ID gets the same address.
    const again = await host2.client.alloc('host2-c7')
    assert.equal(again.address, results.find(r => r.a.id === 'host2-c7')!.a.address)
  })

  test('stop every peer, relaunch them in a chain: allocations stay, same ID same address, new allocs work', async () => {
    const before = await Promise.all(peers.map(ls))
    for (const p of peers) await p.stop()
    // One after the other, host3 first: each finds the others through the
    // addresses its store remembers (joins and launch targets).
    await peers[2]!.relaunch()
    await peers[1]!.relaunch()
    await peers[0]!.relaunch()
    for (const p of peers) assert.equal((await p.run(['wait-ready', '--timeout', '30'])).code, 0)
    const after = await Promise.all(peers.map(ls))
    for (let i = 0; i < peers.length; i++) assert.deepEqual(after[i], before[i], `${peers[i]!.nickname} kept its allocations`)
    for (const p of peers) {
      const a = await p.client.alloc(`${p.nickname}-c5`)
      assert.equal(a.address, before[peers.indexOf(p)]!.find(x => x.id === `${p.nickname}-c5`)!.address)
      const fresh = await p.client.alloc(`${p.nickname}-new`)
      assert.ok(!before.flat().some(x => x.address === fresh.address), 'a new alloc gets a new address')
    }
    assertDistinct((await Promise.all(peers.map(ls))).flat())
  })
})

describe('crash safety', () => {
  test('kill -9 during a burst of allocs: no acknowledged allocation is lost or handed out twice', async () => {
    const p = await WeftPeer.launch({ nickname: 'bursty' })
    assert.equal((await p.run(['wait-ready', '--timeout', '20'])).code, 0)
    const acked: Allocation[] = []
    let running = true
    const workers = Array.from({ length: 16 }, async (_, w) => {
      for (let i = 0; running; i++) {
        try { acked.push(await p.client.alloc(`w${w}-${i}`)) } catch { return }
      }
    })
    await new Promise(resolve => setTimeout(resolve, 400 + Math.floor(Math.random() * 400)))
    await p.kill('SIGKILL')
    running = false
    await Promise.allSettled(workers)
    assert.ok(acked.length > 0)
    await p.relaunch()
    assert.equal((await p.run(['wait-ready', '--timeout', '20'])).code, 0)
    const held = new Map((await ls(p)).map(a => [a.id, a.address]))
    for (const a of acked) assert.equal(held.get(a.id), a.address, `acknowledged ${a.id} → ${a.address} survived`)
    assertDistinct(await ls(p))
    // New allocations after the crash never reuse an address held before it.
    const fresh = await Promise.all(Array.from({ length: 50 }, async (_, i) => await p.client.alloc(`after-${i}`)))
    assertDistinct([...await ls(p)])
    for (const f of fresh) assert.ok(!acked.some(a => a.address === f.address))
    console.log(`# ${acked.length} allocs acknowledged before kill -9, all present after relaunch`)
  })
})

describe('a subnet this peer owns whole and has filled', () => {
  test('says so at once (it is full here), not that nobody gave any', async () => {
    const a = await WeftPeer.launch({ nickname: 'full1' })
    const b = await WeftPeer.launch({ nickname: 'full2', peers: [a.addr] })
    await waitFor('b joined', async () => (await a.status()).peers.some(p => p.name === b.name && p.connected))
    const first = await a.run(['alloc', 'one', '--subnet', '10.32.0.5/32'])
    assert.equal(first.stdout, '10.32.0.5/32\n', first.stderr)
    const again = await a.run(['alloc', 'two', '--subnet', '10.32.0.5/32'])
    assert.equal(again.code, 1)
    assert.equal(again.stderr, 'weft: no free address in 10.32.0.5/32: its one address is allocated here to one (release it first, or choose another subnet)\n')
    const pair = await a.run(['alloc', 'three', '--subnet', '10.32.0.4/31'])
    assert.equal(pair.stdout, '10.32.0.4/31\n', pair.stderr)
    const full = await a.run(['alloc', 'four', '--subnet', '10.32.0.4/31'])
    assert.equal(full.stderr, 'weft: no free address in 10.32.0.4/31: this peer owns all 2 of its addresses and every one is allocated here\n')
  })
})
