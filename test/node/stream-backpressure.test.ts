import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Libp2pTransport } from '../../node/net/libp2p-transport.js'
import type { FrameStream } from '../../node/net/transport.js'

/**
 * A sender faster than its reader (issue 15: an honest catch-up over
 * loopback hit libp2p's "Read buffer overflow" past ~40 MB/s, because
 * yamux's window grows to 16 MiB and the frame reader buffers whatever
 * arrives). The frame stream pauses the libp2p stream while its buffer is
 * full, so yamux stops granting window and the sender waits: every frame
 * arrives, however slow the reader, and the reader's buffer stays bounded.
 */

const started: Libp2pTransport[] = []
after(async () => { await Promise.all(started.map(async t => { await t.stop() })) })

async function node (): Promise<Libp2pTransport> {
  const privateKey = await generateKeyPair('Ed25519')
  const t = new Libp2pTransport({ privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], announce: [], maxConnections: 16 }, peerIdFromPrivateKey(privateKey).toString())
  await t.start()
  started.push(t)
  return t
}

const FRAME = 1024 * 1024
const FRAMES = 48

test('a sender far faster than its reader: every frame arrives, in order, and the reader\'s buffer stays bounded', async () => {
  const a = await node()
  const b = await node()
  let resolveStream: (s: FrameStream) => void = () => {}
  const incoming = new Promise<FrameStream>(resolve => { resolveStream = resolve })
  await b.handle('/weft/test-flow/1.0.0', s => { resolveStream(s) }, { maxFrame: FRAME })
  await a.dial(b.listenAddrs()[0]!)
  const out = await a.openStream(b.self, '/weft/test-flow/1.0.0', { maxFrame: FRAME })
  const frames = Array.from({ length: FRAMES }, (_, i) => new Uint8Array(FRAME).fill(i & 0xff))
  const sending = (async () => {
    for (const f of frames) await out.write(f)
    await out.close()
  })()
  const s = await incoming
  const got = createHash('sha256')
  let n = 0
  let maxBuffered = 0
  const buffered = (): number => (s as unknown as { bufferedBytes?: number }).bufferedBytes ?? 0
  while (n < FRAMES) {
    // A slow reader: the sender has written tens of MiB before it reads on.
    await new Promise(resolve => setTimeout(resolve, n < 2 ? 400 : 20))
    maxBuffered = Math.max(maxBuffered, buffered())
    const f = await s.read({ timeoutMs: 20_000 })
    assert.equal(f.length, FRAME)
    assert.equal(f[0], n & 0xff, `frame ${n} in order`)
    got.update(f)
    n++
  }
  await sending
  const want = createHash('sha256')
  for (const f of frames) want.update(f)
  assert.equal(got.digest('hex'), want.digest('hex'))
  assert.ok(maxBuffered <= 10 * FRAME + 1024, `the reader buffered at most ${maxBuffered} bytes`)
  assert.ok(maxBuffered >= FRAME, `the slow reader did fall behind (${maxBuffered} bytes)`)
})
