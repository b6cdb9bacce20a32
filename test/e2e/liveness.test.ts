import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { cleanup, runWeft, tempDataDir, WeftPeer } from '../helpers/weft-process.js'
import { waitFor } from '../helpers/wait.js'

/**
 * "Last seen" beyond this process's own connections (issue 12): it survives
 * a relaunch, and a live peer reached only through another peer counts as
 * seen, so rmpeer refuses it without --force; once it is really gone, the
 * reports age and rmpeer goes ahead.
 */

after(async () => { await cleanup() })

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const tuning = (syncIntervalMs: number): Record<string, string> => ({
  WEFT_TUNING: JSON.stringify({ syncIntervalMs, readyGraceMs: 1500, backoffBaseMs: 500, backoffMaxMs: 2000 })
})

describe('last seen', () => {
  test('survives a relaunch: a peer seen just before is still "seen recently"', async () => {
    // Two rounds are 20 s: far more than the stop and relaunch take.
    const env = tuning(10_000)
    const a = await WeftPeer.launch({ nickname: 'ls1', env })
    const b = await WeftPeer.launch({ nickname: 'ls2', peers: [a.addr], env })
    // A third member stays up, so that a and it are a quorum to vote on removing b.
    const c = await WeftPeer.launch({ nickname: 'ls3', peers: [a.addr], env })
    await waitFor('a connected to b and c', async () => (await a.status()).peers.filter(p => p.connected).length === 2)
    await b.stop()
    await waitFor('a to see b go', async () => (await a.status()).peers.find(p => p.nickname === 'ls2')?.connected === false)
    await a.stop()
    await a.relaunch()
    await waitFor('a to reconnect to c', async () => (await a.status()).peers.find(p => p.name === c.name)?.connected === true, 20_000)
    const seen = (await a.status()).peers.find(p => p.nickname === 'ls2')?.lastSeen
    assert.ok(seen !== null && seen !== undefined, 'lastSeen kept across the relaunch')
    assert.ok(Date.now() - Date.parse(seen) < 20_000, `lastSeen ${seen} is recent`)
    const r = await a.run(['rmpeer', 'ls2'])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /^weft: ls2: ls2 \(12D3Koo\w+\) was last seen \d+ s ago, within two anti-entropy rounds: it may be alive; use --force to remove it anyway\n$/)
  })

  test('a live peer reached only through a relay counts as seen; once gone, its reports age out', async () => {
    // Two rounds are 6 s; reports arrive every 3 s.
    const env = tuning(3000)
    const a = await WeftPeer.launch({ nickname: 'rl1', env })
    const b = await WeftPeer.launch({ nickname: 'rl2', peers: [a.addr], env })
    // c's name before it launches, so a refuses it from the start: c is reached only through b.
    const cDir = tempDataDir()
    const id = await runWeft(['id', '--data-dir', cDir])
    assert.equal(id.code, 0, id.stderr)
    const cName = id.stdout.trim().split(/\s+/)[0]!
    await a.testHook('block', { peer: cName })
    const c = await WeftPeer.launch({ nickname: 'rl3', peers: [b.addr], env, dataDir: cDir })
    assert.equal(c.name, cName)
    await waitFor('a to learn of c through b', async () => (await a.status()).peers.find(p => p.name === cName)?.lastSeen != null, 30_000)
    // Longer than two rounds after c's join: only b's reports keep c "seen".
    await sleep(7000)
    const st = await a.status()
    const cp = st.peers.find(p => p.name === cName)!
    assert.equal(cp.connected, false, 'a is not connected to c')
    const refused = await a.run(['rmpeer', 'rl3'])
    assert.equal(refused.code, 1, refused.stdout)
    assert.match(refused.stderr, /^weft: rl3: rl3 \(12D3Koo\w+\) was last seen \d+ s ago, within two anti-entropy rounds/)
    await c.kill()
    await waitFor('c to age out of every report', async () => {
      const seen = (await a.status()).peers.find(p => p.name === cName)?.lastSeen
      return seen != null && Date.now() - Date.parse(seen) > 6500
    }, 30_000)
    const r = await a.run(['rmpeer', 'rl3'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, '0 IPs taken over from rl3\n')
  })
})
