/**
 * A hostile client on /weft/sync/1.0.0 against a real daemon: garbage, an
 * oversized frame, an event with a bad signature, or a hello naming someone
 * else gets it hung up on, while the daemon keeps running with its store
 * unchanged. A well-behaved client on the same daemon is not hung up on.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { decodeEvent, eventId, EventError, signEvent, type SignedEvent } from '../../crdt/events/index.js'
import { DEFAULT_TUNING } from '../../node/config.js'
import type { StatusJson } from '../../node/api/types.js'
import { encodeSync, FRAME_HELLO, FRAME_SYNC } from '../../node/net/frames.js'
import { lamportOf, RawSyncClient, syncLegitimately, syncUntilHungUp } from '../helpers/raw-sync-client.js'
import { cleanup, WeftPeer } from '../helpers/weft-process.js'

let daemon: WeftPeer
const clients: RawSyncClient[] = []

after(async () => {
  await Promise.all(clients.map(async c => { await c.stop().catch(() => {}) }))
  await cleanup()
})

function logTail (lines = 40): string {
  try {
    return readFileSync(join(daemon.dataDir, 'weft.log'), 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch (err) {
    return `(no weft.log: ${(err as Error).message})`
  }
}

/** Runs a test body; on failure, appends the daemon's log to the error. */
async function withLog (body: () => Promise<void>): Promise<void> {
  try {
    await body()
  } catch (err) {
    const e = err as Error
    e.message = `${e.message}\n--- daemon log (tail) ---\n${logTail()}`
    throw e
  }
}

async function connect (): Promise<RawSyncClient> {
  const c = await RawSyncClient.connect(daemon.fullAddr, { sortBelow: daemon.name })
  clients.push(c)
  return c
}

interface Before { pid: number, events: number, status: StatusJson }

async function snapshot (): Promise<Before> {
  const status = await daemon.status()
  return { pid: daemon.pid, events: status.events, status }
}

/**
 * The daemon survived: same process, `weft status` answers, no event gained
 * or lost, and (when it lists the client) it shows the client dropped with
 * a reason starting with one of `codes`.
 */
async function assertSurvived (b: Before, client: RawSyncClient, codes: string[]): Promise<void> {
  assert.ok(daemon.running, `the daemon (pid ${b.pid}) is still alive`)
  const cli = await daemon.run(['status', '--json'])
  assert.equal(cli.code, 0, `weft status answers: ${cli.stderr}`)
  const json = JSON.parse(cli.stdout) as StatusJson
  assert.equal(json.pid, b.pid, 'the same daemon process')
  assert.equal(daemon.pid, b.pid)
  assert.equal(json.events, b.events, 'the store holds the same events')
  assert.equal(json.cluster.id, b.status.cluster.id)

  // The session ends a moment after the stream closes; wait for its record.
  const deadline = Date.now() + 3_000
  for (;;) {
    const conns = (await daemon.status()).connections
    const entry = conns.find(c => c.peer === client.name)
    if (entry === undefined || entry.state !== 'connected') {
      if (entry !== undefined) {
        assert.equal(entry.state, 'dropped', `connection entry ${JSON.stringify(entry)}`)
        assert.ok(entry.reason !== null && codes.some(code => entry.reason!.startsWith(`${code}:`)), `dropped with a reason among ${codes.join(', ')}: ${JSON.stringify(entry)}`)
      }
      break
    }
    if (Date.now() > deadline) assert.fail(`the daemon still lists the hostile client as connected: ${JSON.stringify(entry)}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  assert.equal((await daemon.status()).events, b.events, 'still the same events')
}

describe('a hostile client on the sync protocol', () => {
  before(async () => {
    daemon = await WeftPeer.launch({ nickname: 'target' })
    // The lone daemon founds a cluster and writes its join: wait for both.
    const deadline = Date.now() + 10_000
    while ((await daemon.status()).events < 2) {
      if (Date.now() > deadline) throw new Error(`the daemon did not found its cluster: ${logTail()}`)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  })

  test('garbage as the first frame: hung up on', () => withLog(async () => {
    const b = await snapshot()
    const client = await connect()
    const garbage = new Uint8Array(200)
    garbage.set(randomBytes(200))
    garbage[0] = 0x7f
    await client.sendRaw(garbage)
    const end = await client.hangUp(5_000)
    assert.ok(end.closed, `the daemon closed the stream (seen ${JSON.stringify(end)})`)
    assert.ok(end.seen.every(t => t === FRAME_HELLO || t === 3), `only its HELLO and a BYE: ${JSON.stringify(end.seen)}`)
    if (end.bye !== undefined) {
      assert.equal(end.bye.code, 'protocol')
      assert.match(end.bye.message, /unknown frame type 127/)
    }
    await assertSurvived(b, client, ['protocol'])
    await client.stop()
  }))

  test('a garbage SYNC frame after a valid hello: BYE bad-message, then closed', () => withLog(async () => {
    const b = await snapshot()
    const client = await connect()
    await client.sendHello(client.hello({ cluster: b.status.cluster.id!, range: b.status.cluster.range! }))
    await client.sendRaw(encodeSync(new Uint8Array(randomBytes(300))))
    const end = await client.hangUp(5_000)
    assert.ok(end.bye !== undefined, `a BYE before the close: ${JSON.stringify(end)}`)
    assert.equal(end.bye.code, 'bad-message', end.bye.message)
    assert.ok(end.closed, 'then the stream closed')
    await assertSurvived(b, client, ['bad-message'])
    await client.stop()
  }))

  test('an oversized frame after a valid hello: the stream is closed', () => withLog(async () => {
    const b = await snapshot()
    const client = await connect()
    await client.sendHello(client.hello({ cluster: b.status.cluster.id!, range: b.status.cluster.range! }))
    const huge = new Uint8Array(DEFAULT_TUNING.frameLimit + 1024)
    huge[0] = FRAME_SYNC
    huge.fill(0x42, 1)
    // Not awaited: the daemon may stop reading before the frame is through.
    const sending = client.sendRaw(huge).catch(() => {})
    const end = await client.hangUp(10_000)
    assert.ok(end.closed, `the daemon closed or reset the stream: ${JSON.stringify(end)}`)
    if (end.bye !== undefined) {
      assert.equal(end.bye.code, 'oversized', end.bye.message)
    }
    await sending
    await assertSurvived(b, client, ['oversized'])
    await client.stop()
  }))

  test('an event with a bad signature after a legitimate sync: BYE bad-event, store unchanged', () => withLog(async () => {
    const b = await snapshot()
    const client = await connect()
    const synced = await syncLegitimately(client, { cluster: b.status.cluster.id!, range: b.status.cluster.range!, expectEvents: b.events })
    assert.equal(synced.events, b.events, 'the client holds the daemon\'s events')
    assert.equal(synced.daemonHello.cluster, b.status.cluster.id)

    const deps = synced.log.eventHeads()
    assert.ok(deps.length > 0)
    const good = signEvent({
      kind: 'join',
      author: client.name,
      seq: 1,
      lamport: 1 + Math.max(...deps.map(d => lamportOf(synced.log, d))),
      deps,
      time: Date.now(),
      body: { nickname: 'forger', addrs: [] }
    }, client.signer)
    // The honest event would verify: only the flipped byte makes it bad.
    decodeEvent(good.bytes)

    // Canonical DAG-CBOR: text key "sig" (0x63 's' 'i' 'g'), then a 64-byte string (0x58 0x40).
    const marker = [0x63, 0x73, 0x69, 0x67, 0x58, 0x40]
    let at = -1
    for (let i = 0; i + marker.length + 64 <= good.bytes.length && at < 0; i++) {
      if (marker.every((m, j) => good.bytes[i + j] === m)) at = i + marker.length
    }
    assert.ok(at >= 0, 'found the signature in the encoding')
    const bytes = good.bytes.slice()
    bytes[at + 17] = bytes[at + 17]! ^ 0x01
    const forged: SignedEvent = { id: eventId(bytes), bytes, event: good.event }
    assert.throws(() => decodeEvent(forged.bytes), (err: unknown) => err instanceof EventError && err.code === 'bad-signature')
    decodeEvent(forged.bytes, { verifier: null }) // well-formed otherwise

    synced.log.append(forged)
    const msg = synced.log.generateSyncMessage(synced.session)
    assert.ok(msg !== null, 'the client has a change to offer')
    await client.sendSync(msg)
    // The daemon may first answer with a request for the change (a SYNC frame): keep syncing until it hangs up.
    const end = await syncUntilHungUp(client, synced, 15_000)
    assert.ok(end.bye !== undefined, `a BYE: ${JSON.stringify(end)}`)
    assert.ok(['bad-event', 'bad-change'].includes(end.bye.code), `code ${end.bye.code}: ${end.bye.message}`)
    assert.match(end.bye.message, /signature/)
    assert.ok(end.closed, 'then the stream closed')
    await assertSurvived(b, client, ['bad-event', 'bad-change'])
    const view = await daemon.testHook('view') as { peers: Array<{ name: string }> } | null
    assert.ok(view !== null && !view.peers.some(p => p.name === client.name), 'the forger is no peer of the daemon\'s ring')
    await client.stop()
  }))

  test('a hello naming another peer: hung up on (protocol)', () => withLog(async () => {
    const b = await snapshot()
    const client = await connect()
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    await client.sendHello(client.hello({ cluster: b.status.cluster.id!, range: b.status.cluster.range!, name: other }))
    const end = await client.hangUp(5_000)
    assert.ok(end.bye !== undefined, `a BYE: ${JSON.stringify(end)}`)
    assert.equal(end.bye.code, 'protocol', end.bye.message)
    assert.ok(end.bye.message.includes(other) && end.bye.message.includes(client.name), end.bye.message)
    assert.ok(end.closed, 'then the stream closed')
    await assertSurvived(b, client, ['protocol'])
    await client.stop()
  }))

  test('control: a well-behaved client is not hung up on', () => withLog(async () => {
    const b = await snapshot()
    const client = await connect()
    const synced = await syncLegitimately(client, { cluster: b.status.cluster.id!, range: b.status.cluster.range!, expectEvents: b.events })
    assert.equal(synced.events, b.events)
    assert.equal(await client.closed(2_000), false, `still open after 2 s (${client.closeReason ?? ''})`)
    const status = await daemon.status()
    const entry = status.connections.find(c => c.peer === client.name)
    assert.equal(entry?.state, 'connected', JSON.stringify(status.connections))
    assert.equal(status.pid, b.pid)
    assert.equal(status.events, b.events)
    await client.stop()
  }))
})
