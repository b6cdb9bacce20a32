import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { open } from 'lmdb'
import { ControlRequestError } from '../../node/api/client.js'
import { Store } from '../../node/store/index.js'
import { cleanup, runWeft, tempDataDir, WeftPeer } from '../helpers/weft-process.js'

/**
 * Addresses to dial are checked when given (issue 15): before, `/connect`
 * stored anything for ever (garbage, escape sequences, UDP, a bad /p2p/
 * part), retried on every relaunch; a 5,000-character one was an HTTP 500;
 * 30,000 were taken in one call; and `launch …/p2p/garbage` exited 0.
 */

after(async () => { await cleanup() })

test('launch with a PEER whose /p2p/ part is not a peer name: a usage error, and no data dir', async () => {
  const dir = join(tempDataDir(), 'never-made')
  const r = await runWeft(['launch', '--data-dir', dir, '--listen', '127.0.0.1:1', '/ip4/127.0.0.1/tcp/1/p2p/garbage'])
  assert.equal(r.code, 2)
  assert.equal(r.stderr, 'weft: invalid PEER "/ip4/127.0.0.1/tcp/1/p2p/garbage": /p2p/garbage is not a weft peer name (weft peer names look like 12D3KooW…; `weft id` prints one)\n')
  assert.equal(existsSync(dir), false)
})

test('connect: bad addresses are refused by the CLI and by the control API; the list is bounded; old garbage is forgotten at launch', async () => {
  const peer = await WeftPeer.launch({ nickname: 'dialler' })
  const cli = await peer.run(['connect', '/ip4/10.0.0.1/udp/6783'])
  assert.equal(cli.code, 2)
  assert.match(cli.stderr, /^weft: invalid PEER "\/ip4\/10\.0\.0\.1\/udp\/6783": expected a multiaddr like/)

  const api = async (path: string, peers: string[]): Promise<ControlRequestError | undefined> => {
    try {
      await peer.client.request('POST', path, { peers })
      return undefined
    } catch (err) {
      if (err instanceof ControlRequestError) return err
      throw err
    }
  }
  for (const addr of ['garbage-not-a-multiaddr!', '\u001b[2Jowned', '/ip4/127.0.0.1/tcp/1/p2p/notapeerid', 'x'.repeat(5000)]) {
    const err = await api('/connect', [addr])
    assert.equal(err?.status, 400, addr)
    assert.equal(err?.code, 'invalid-address')
  }
  // Refused before it is read: a 413, or (the daemon drops the connection after answering) a reset while the client still writes.
  const huge = await api('/connect', Array.from({ length: 30_000 }, (_, i) => `h${i}`))
  assert.ok(huge?.status === 413 || huge?.code === 'connection-reset', `${huge?.code ?? 'accepted'}: ${huge?.message ?? ''}`)

  // 256 addresses are kept; one more is refused until one is forgotten.
  const full = Array.from({ length: 256 }, (_, i) => `127.0.0.1:${40_000 + i}`)
  assert.equal(await api('/connect', full), undefined)
  const over = await api('/connect', ['127.0.0.1:39999'])
  assert.equal(over?.status, 409)
  assert.equal(over?.message, 'this peer already keeps 256 addresses to dial, and keeps at most 256: adding 1 more would pass that; `weft forget` some first')
  assert.equal(await api('/connect', [full[0]!]), undefined, 'an address it keeps already is fine')
  assert.equal((await peer.run(['forget', full[0]!])).code, 0)
  assert.equal(await api('/connect', ['127.0.0.1:39999']), undefined)
  await peer.stop()

  // What an older weft stored unchecked can never be dialled: forgotten at the next launch, with a warning.
  const root = open({ path: join(peer.dataDir, 'store.mdb'), compression: false, maxDbs: 16 })
  await root.openDB<Buffer, string>({ name: 'peers', encoding: 'binary' }).put('garbage\u001b[31m', Buffer.from(JSON.stringify({ addr: 'garbage\u001b[31m', source: 'connect' })))
  await root.close()
  await peer.relaunch()
  await peer.stop()
  const log = readFileSync(join(peer.dataDir, 'weft.log'), 'utf8')
  assert.match(log, /WARN .*forgetting a stored address that cannot be dialled: invalid address "garbage\\x1b\[31m": it contains spaces or control characters/)
  assert.ok(!log.includes('\u001b'), 'no raw escape in the log')
  const store = Store.open(peer.dataDir, { readOnly: true })
  try {
    const addrs = store.knownPeers().map(k => k.addr)
    assert.equal(addrs.length, 256)
    assert.ok(!addrs.includes('garbage\u001b[31m'))
  } finally {
    await store.close()
  }
})
