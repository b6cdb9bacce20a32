import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { cleanup, WeftPeer } from '../helpers/weft-process.js'
import { waitFor } from '../helpers/wait.js'

/**
 * `weft reset` where the first round left it wrong (issue 12), with real
 * daemons: a peer that another peer removed owns nothing, so its reset just
 * deletes its data, after saying which allocations it still held, with no
 * leave and no --force; and a reset whose wait for a confirmation timed out,
 * run again (after a stop and a relaunch, too), appends no second leave but
 * waits for the first one.
 */

after(async () => { await cleanup() })

const tuning = { syncIntervalMs: 1500, readyGraceMs: 1500, backoffBaseMs: 500, backoffMaxMs: 2000 }
const env = { WEFT_TUNING: JSON.stringify(tuning) }

interface HistoryRow { id: string, kind: string, author: string | null }

async function leavesBy (reader: WeftPeer, author: string): Promise<HistoryRow[]> {
  const h = await reader.run(['history', '--kind', 'leave', '--json'])
  assert.equal(h.code, 0, h.stderr)
  return (JSON.parse(h.stdout) as HistoryRow[]).filter(r => r.author === author)
}

/** Removes `victim` (stopped) from `by`'s view, relaunches it and waits until it knows. */
async function removeAndRelaunch (by: WeftPeer, victim: WeftPeer): Promise<void> {
  await victim.stop()
  const r = await by.run(['rmpeer', victim.nickname, '--force'])
  assert.equal(r.code, 0, r.stderr)
  await victim.relaunch()
  await waitFor(`${victim.nickname} to learn it was removed`, async () => (await victim.status()).peer.removed)
}

describe('reset of a removed peer', () => {
  let p1: WeftPeer, p2: WeftPeer, p3: WeftPeer
  before(async () => {
    p1 = await WeftPeer.launch({ nickname: 'gone1', env })
    p2 = await WeftPeer.launch({ nickname: 'gone2', peers: [p1.addr], env })
    p3 = await WeftPeer.launch({ nickname: 'gone3', peers: [p1.addr], env })
    await waitFor('gone2 and gone3 to join', async () => (await p1.status()).peers.filter(p => p.connected).length === 2)
  })

  test('deletes its data without --force, after saying which allocations it still held', async () => {
    const held = await p2.run(['alloc', 'kept'])
    assert.equal(held.code, 0, held.stderr)
    await removeAndRelaunch(p1, p2)
    const r = await p2.run(['reset'])
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.split('\n')
    assert.match(lines[0]!, new RegExp(`^this peer was removed from the network by gone1 \\(${p1.name}\\) at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z: it owns nothing to hand over$`))
    assert.equal(lines[1], `still held: kept ${held.stdout.trim()} (in space this peer no longer owns)`)
    assert.equal(lines[2], `deleted ${p2.dataDir}: the next launch is a new peer`)
    assert.equal(lines.length, 4)
    assert.equal(existsSync(p2.dataDir), false)
    assert.deepEqual(await leavesBy(p1, p2.name), [])
  })

  test('also once stopped, and in JSON: no leave, what it held, what was deleted', async () => {
    await removeAndRelaunch(p1, p3)
    await p3.stop()
    const r = await p3.run(['reset', '--json'])
    assert.equal(r.code, 0, r.stderr)
    const json = JSON.parse(r.stdout) as { leave: string | null, removedBy?: { name: string, nickname: string | null }, held?: unknown[], deleted: string }
    assert.equal(json.leave, null)
    assert.equal(json.removedBy?.name, p1.name)
    assert.equal(json.removedBy?.nickname, 'gone1')
    assert.deepEqual(json.held, [])
    assert.equal(json.deleted, p3.dataDir)
    assert.equal(existsSync(p3.dataDir), false)
  })
})

describe('reset run again after its wait for a confirmation timed out', () => {
  test('appends no second leave: it waits for the first one, then deletes the data dir', async () => {
    const slowEnv = { WEFT_TUNING: JSON.stringify({ ...tuning, resetConfirmMs: 6000 }) }
    const t1 = await WeftPeer.launch({ nickname: 'again1', env: slowEnv })
    const t2 = await WeftPeer.launch({ nickname: 'again2', peers: [t1.addr], env: slowEnv })
    // again2 gets space to hand over: a donation from again1.
    assert.equal((await t2.run(['alloc', 'x'])).code, 0)
    assert.equal((await t2.run(['release', 'x'])).code, 0)
    await waitFor('again1 to see again2 own space', async () => (await t1.status()).peers.find(p => p.name === t2.name)?.owned === 524288)
    // Frozen, again1 stays connected but cannot confirm anything.
    process.kill(t1.pid, 'SIGSTOP')
    let first
    try {
      first = await t2.run(['reset'])
    } finally {
      process.kill(t1.pid, 'SIGCONT')
    }
    assert.equal(first.code, 1, first.stdout)
    const leave = /no peer confirmed holding this peer's leave \(([0-9a-f]{64})\) within 6 s: nothing was deleted/.exec(first.stderr)?.[1]
    assert.ok(leave !== undefined, first.stderr)
    assert.ok(existsSync(t2.dataDir))
    // Its space is handed over in its own view: it allocates no more, and says what to do.
    const alloc = await t2.run(['alloc', 'y'])
    assert.equal(alloc.code, 1)
    assert.match(alloc.stderr, new RegExp(`^weft: this peer has left the cluster \\(its leave ${leave} at [\\d-]+T[\\d:.]+Z\\): run \`weft reset\` to finish, which waits until a peer holds that leave\n$`))
    // Stopped meanwhile, it says how to finish rather than to rmpeer it.
    await t2.stop()
    const stopped = await t2.run(['reset'])
    assert.equal(stopped.code, 1)
    assert.equal(stopped.stderr, `weft: the peer in ${t2.dataDir} is not running, and no peer may hold its leave (${leave}) yet: launch it and run \`weft reset\` again, which waits for that leave (or \`weft reset --force\` to delete this data dir anyway)\n`)
    await t2.relaunch()
    await waitFor('again1 to hold the leave', async () => (await t1.status()).peers.find(p => p.name === t2.name)?.removed === true, 30_000)
    await waitFor('again2 to be connected to again1 again', async () => (await t2.status()).peers.find(p => p.name === t1.name)?.connected === true, 30_000)
    const second = await t2.run(['reset'])
    assert.equal(second.code, 0, second.stderr)
    // The same lines as a reset that is confirmed at once: the first leave's hand-overs.
    assert.equal(second.stdout, [
      `10.40.0.0/13 → again1 (${t1.name})`,
      `confirmed by again1 (${t1.name})`,
      `deleted ${t2.dataDir}: the next launch is a new peer`
    ].join('\n') + '\n')
    assert.equal(existsSync(t2.dataDir), false)
    assert.deepEqual((await leavesBy(t1, t2.name)).map(r => r.id), [leave])
  })
})
