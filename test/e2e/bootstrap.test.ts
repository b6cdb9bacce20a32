import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { cleanup, freePort, runWeft, tempDataDir, WeftPeer } from '../helpers/weft-process.js'
import { waitFor } from '../helpers/wait.js'

/**
 * Bootstrap like Weave (issue 13): hosts launched at once, each naming the
 * others, elect their seeds and found one cluster; seeds named in advance
 * found the same cluster without meeting; observers never found one.
 */

after(async () => { await cleanup() })

const env = { WEFT_TUNING: JSON.stringify({ syncIntervalMs: 1500, readyGraceMs: 1500, backoffBaseMs: 300, backoffMaxMs: 1500, consensusDelayMs: 500 }) }

/** n peers on fixed ports, each naming every other; launched together unless `down` says not yet. */
async function group (prefix: string, n: number, opts: { down?: number[], extra?: string[] } = {}): Promise<{ ports: number[], launch: (i: number) => Promise<WeftPeer> }> {
  const ports: number[] = []
  for (let i = 0; i < n; i++) ports.push(await freePort())
  const dirs = ports.map(() => tempDataDir())
  const launch = async (i: number): Promise<WeftPeer> => await WeftPeer.launch({
    nickname: `${prefix}${i + 1}`,
    port: ports[i]!,
    dataDir: dirs[i]!,
    peers: ports.filter((_, j) => j !== i).map(p => `127.0.0.1:${p}`),
    extraArgs: opts.extra ?? [],
    env
  })
  return { ports, launch }
}

async function allocates (peer: WeftPeer, id: string): Promise<string> {
  const r = await peer.run(['alloc', id])
  assert.equal(r.code, 0, `${peer.nickname}: ${r.stderr}`)
  return r.stdout.trim()
}

describe('consensus bootstrap', () => {
  test('3 peers launched at once, each naming the other two, agree on one cluster and each allocates', async () => {
    const g = await group('cs', 3)
    const peers = await Promise.all([0, 1, 2].map(async i => await g.launch(i)))
    const addrs = await Promise.all(peers.map(async (p, i) => await allocates(p, `web-${i}`)))
    assert.equal(new Set(addrs).size, 3, `three different addresses: ${addrs.join(' ')}`)
    const statuses = await Promise.all(peers.map(async p => await p.status()))
    const ids = new Set(statuses.map(s => s.cluster.id))
    assert.equal(ids.size, 1, 'one cluster')
    assert.notEqual([...ids][0], null)
    // All of the range, split among the seeds (all three when they met within
    // the delay: 50 %, 25 %, 25 %), and the donations made since; no dispute.
    const owned = statuses.map(s => Number(s.addresses.owned))
    assert.equal(owned.reduce((a, b) => a + b, 0), 1048576, owned.join(' '))
    assert.ok(owned.every(o => o > 0), owned.join(' '))
    assert.ok(statuses.every(s => s.conflicts.total === 0 && s.addresses.disputed === 0))
  })

  test('5 peers with 2 down still bootstrap (quorum 3); the late two join the same cluster', async () => {
    const g = await group('q', 5)
    const up = await Promise.all([0, 1, 2].map(async i => await g.launch(i)))
    await Promise.all(up.map(async (p, i) => await allocates(p, `a-${i}`)))
    const late = await Promise.all([3, 4].map(async i => await g.launch(i)))
    await Promise.all(late.map(async (p, i) => await allocates(p, `late-${i}`)))
    const ids = await Promise.all([...up, ...late].map(async p => (await p.status()).cluster.id))
    assert.ok(ids.every(id => id !== null), ids.join(' '))
    assert.equal(new Set(ids).size, 1, ids.join(' '))
  })

  test('1 of 3 up waits and says why; it completes when a second comes up', async () => {
    const g = await group('w', 3)
    const first = await g.launch(0)
    const s = await waitFor('the election to wait', async () => { const st = await first.status(); return st.ipam.state === 'awaiting-consensus' ? st : undefined })
    assert.match(s.ipam.reason ?? '', /^waiting for consensus: 1 of 2 needed peers reachable \(127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+ unreachable\)$/)
    const wait = await first.run(['wait-ready', '--timeout', '1'])
    assert.equal(wait.code, 1)
    assert.match(wait.stderr, /^weft: not ready after 1s: waiting for consensus: 1 of 2 needed peers reachable/)
    const second = await g.launch(1)
    await allocates(first, 'now')
    const cluster = (await first.status()).cluster.id
    assert.notEqual(cluster, null)
    await waitFor('the second to hold the same cluster', async () => (await second.status()).cluster.id === cluster)
  })

  test('a peer launched with another N is refused, both values named; nothing is lost', async () => {
    const g = await group('n', 2)
    const a = await g.launch(0)
    const b = await WeftPeer.launch({ nickname: 'n2', port: g.ports[1]!, peers: [`127.0.0.1:${g.ports[0]!}`], extraArgs: ['--init', 'consensus=3'], env })
    const why = await waitFor('the refusal', async () => (await a.run(['status', 'connections'])).stdout.match(/launched with --init consensus=\d+ over 10\.32\.0\.0\/12, this peer with --init consensus=\d+ over 10\.32\.0\.0\/12/)?.[0])
    assert.match(why, /consensus=3 .* consensus=2|consensus=2 .* consensus=3/)
    for (const p of [a, b]) {
      const st = await p.status()
      assert.equal(st.ipam.state, 'awaiting-consensus')
      assert.equal(st.cluster.id, null)
    }
  })
})

describe('observers and seeds', () => {
  test('an observer alone never founds, and gets space once the voters agree', async () => {
    const g = await group('ob', 2)
    const obsPort = await freePort()
    const observer = await WeftPeer.launch({ nickname: 'obs', port: obsPort, peers: g.ports.map(p => `127.0.0.1:${p}`), extraArgs: ['--init', 'observer'], env })
    await new Promise(resolve => setTimeout(resolve, 2000))
    const alone = await observer.status()
    assert.equal(alone.ipam.state, 'waiting-for-cluster')
    assert.equal(alone.cluster.id, null)
    assert.match(alone.ipam.reason ?? '', /^observer: waiting for a peer that has a cluster/)
    const voters = await Promise.all([0, 1].map(async i => await g.launch(i)))
    const addr = await allocates(observer, 'obs-1')
    assert.match(addr, /^10\./)
    const s = await observer.status()
    assert.equal(s.cluster.id, (await voters[0]!.status()).cluster.id)
    // Not a seed: its space came by donation, out of the voters' halves.
    assert.ok(Number(s.addresses.owned) > 0)
    // Once both voters hold the cluster and the donation, the three own it all.
    await waitFor('the voters and the observer to own the whole range', async () => {
      const owned = await Promise.all([...voters, observer].map(async v => Number((await v.status()).addresses.owned)))
      return owned.reduce((a, b) => a + b, 0) === 1048576
    })
  })

  test('two seed-mode peers allocate before they meet, and merge cleanly when they do', async () => {
    const dirs = [tempDataDir(), tempDataDir()]
    const names = await Promise.all(dirs.map(async d => {
      const r = await runWeft(['id', '--data-dir', d])
      assert.equal(r.code, 0, r.stderr)
      return r.stdout.trim()
    }))
    const init = ['--init', `seed=${names.join(',')}`]
    const [pa, pb] = [await freePort(), await freePort()]
    const a = await WeftPeer.launch({ nickname: 'sd1', port: pa, dataDir: dirs[0]!, extraArgs: init, env })
    const b = await WeftPeer.launch({ nickname: 'sd2', port: pb, dataDir: dirs[1]!, extraArgs: init, env })
    // Neither names the other: each founds the same genesis alone and allocates at once.
    const [x, y] = [await allocates(a, 'x'), await allocates(b, 'y')]
    assert.notEqual(x, y)
    const [sa, sb] = [await a.status(), await b.status()]
    assert.equal(sa.cluster.id, sb.cluster.id)
    assert.equal(sa.peers.filter(p => p.connected).length, 0)
    assert.equal((await a.run(['connect', `127.0.0.1:${pb}`])).code, 0)
    await waitFor('the two to meet and sync', async () => {
      const [s1, s2] = [await a.status(), await b.status()]
      return s1.peers.some(p => p.name === b.name && p.connected && p.nickname === 'sd2') && s2.peers.some(p => p.name === a.name && p.nickname === 'sd1')
    })
    for (const p of [a, b]) {
      const st = await p.status()
      assert.equal(st.conflicts.total, 0)
      assert.equal(st.addresses.disputed, 0)
    }
  })
})
