import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { newClusterKey, parseClusterKey } from '../../node/cluster-key.js'
import { Libp2pTransport } from '../../node/net/libp2p-transport.js'
import { HandshakeFailedError } from '../../node/net/transport.js'
import { waitFor } from '../helpers/wait.js'

/**
 * The daemon's transport on 127.0.0.1, in one process: which failures are
 * called a failed handshake (a different cluster key, or none) and which
 * are not (nobody listening; a peer with another identity than the dialled
 * /p2p/ID, which gets through pnet and fails inside Noise).
 */

const started: Libp2pTransport[] = []
after(async () => { await Promise.all(started.map(async t => { await t.stop() })) })

const psk = (): Uint8Array => (parseClusterKey(newClusterKey().text) as { psk: Uint8Array }).psk

interface Node { t: Libp2pTransport, refused: Array<{ addr: string, reason: string }> }

async function node (key: Uint8Array | undefined): Promise<Node> {
  const privateKey = await generateKeyPair('Ed25519')
  const t = new Libp2pTransport({ privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], announce: [], maxConnections: 16, ...(key !== undefined ? { psk: key } : {}) },
    peerIdFromPrivateKey(privateKey).toString())
  const refused: Node['refused'] = []
  t.onHandshakeFailure(f => { refused.push(f) })
  await t.start()
  started.push(t)
  return { t, refused }
}

async function dialError (from: Node, to: Node, peer?: string): Promise<Error> {
  try {
    await from.t.dial(to.t.listenAddrs()[0]!, peer)
  } catch (err) {
    return err as Error
  }
  assert.fail('the dial succeeded')
}

test('the same key connects; another key, or none, fails the handshake on both sides', async () => {
  const key = psk()
  const a = await node(key)
  const same = await node(key)
  assert.equal(await same.t.dial(a.t.listenAddrs()[0]!), a.t.self)
  await same.t.hangUp(a.t.self)

  const other = await node(psk())
  const keyless = await node(undefined)
  for (const [dialer, pattern] of [[other, /^handshake failed: likely a different or missing cluster key on the other side \(/], [keyless, /^handshake failed: the other side likely needs a cluster key, and this peer has none/]] as const) {
    const err = await dialError(dialer, a)
    assert.ok(err instanceof HandshakeFailedError, `${err.name}: ${err.message}`)
    assert.match(err.message, pattern)
  }
  await waitFor('the keyed listener to report both', () => a.refused.length >= 2 ? true : undefined, 15_000)
  for (const r of a.refused) {
    assert.equal(r.addr, '/ip4/127.0.0.1')
    assert.match(r.reason, /^handshake failed: likely a host without this cluster's key/)
  }
  assert.equal(same.refused.length, 0)

  // The keyed peer dialling the keyless one: the dialer and the listener both say so.
  const err = await dialError(a, keyless)
  assert.ok(err instanceof HandshakeFailedError, `${err.name}: ${err.message}`)
  await waitFor('the keyless listener to report it', () => keyless.refused.length >= 1 ? true : undefined, 15_000)
  assert.match(keyless.refused[0]!.reason, /^handshake failed: the other host may use a cluster key, and this peer has none/)
})

test('not a handshake failure: a closed port, or a peer with another identity than the dialled one', async () => {
  const key = psk()
  const a = await node(key)
  const b = await node(key)
  const gone = await node(key)
  const addr = gone.t.listenAddrs()[0]!
  await gone.t.stop()
  const refusedPort = await dialError(a, { t: { listenAddrs: () => [addr] } as unknown as Libp2pTransport, refused: [] })
  assert.ok(!(refusedPort instanceof HandshakeFailedError), refusedPort.message)
  assert.match(refusedPort.message, /ECONNREFUSED/)

  const impostor = await dialError(a, b, gone.t.self)
  assert.ok(!(impostor instanceof HandshakeFailedError), `${impostor.name}: ${impostor.message}`)
  assert.match(impostor.message, /does not match expected remote identity key/)
  await new Promise(resolve => setTimeout(resolve, 500))
  assert.equal(b.refused.length, 0, JSON.stringify(b.refused))
})
