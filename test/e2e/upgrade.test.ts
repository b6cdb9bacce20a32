import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { cleanup, WeftPeer } from '../helpers/weft-process.js'
import { waitFor } from '../helpers/wait.js'

/**
 * A peer that has seen an event of a newer format is read-only (issue 12):
 * every command that would sign an event refuses with "upgrade weft", on
 * the peer that holds it and on one that learnt it by sync.
 */

after(async () => { await cleanup() })

const env = { WEFT_TUNING: JSON.stringify({ syncIntervalMs: 1500, readyGraceMs: 1500, backoffBaseMs: 500, backoffMaxMs: 2000 }) }

test('events of a newer format make every signing command refuse with "upgrade weft"', async () => {
  const a = await WeftPeer.launch({ nickname: 'new1', env })
  const b = await WeftPeer.launch({ nickname: 'new2', peers: [a.addr], env })
  const c = await WeftPeer.launch({ nickname: 'new3', peers: [a.addr], env })
  await waitFor('all joined', async () => (await a.status()).peers.filter(p => p.connected).length === 2)
  const got = await b.run(['alloc', 'before'])
  assert.equal(got.code, 0, got.stderr)
  assert.equal((await b.run(['release', 'before'])).code, 0)
  await c.stop()
  // An upgraded build of a would write this; b learns it by sync.
  const future = await a.testHook('append-future', { kind: 'shiny', v: 4 }) as { status: string }
  assert.equal(future.status, 'future')
  await waitFor('b to turn read-only', async () => (await b.status()).ipam.state === 'read-only')
  for (const peer of [a, b]) {
    const events = (await peer.status()).events
    const alloc = await peer.run(['alloc', 'web-1'])
    assert.equal(alloc.code, 1)
    assert.match(alloc.stderr, /^weft: .*upgrade weft/)
    const rm = await peer.run(['rmpeer', 'new3', '--force'])
    assert.equal(rm.code, 1)
    assert.match(rm.stderr, /^weft: new3: .*upgrade weft.*\n$/)
    const reset = await peer.run(['reset'])
    assert.equal(reset.code, 1)
    assert.match(reset.stderr, /^weft: .*upgrade weft.*\n$/)
    // Nothing was signed, and the peer still runs.
    assert.equal((await peer.status()).events, events)
    assert.equal((await peer.status()).ipam.state, 'read-only')
  }
})
