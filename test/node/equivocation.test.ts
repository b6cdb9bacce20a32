import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ed25519SignerFromSeed, signEvent, type JoinEvent, type SignedEvent } from '../../crdt/events/index.js'
import { equivocationInEvidence, MAX_EVIDENCE } from '../../node/log-service/equivocation.js'
import { decodeFrame, encodeBye, FRAME_BYE, ProtocolError } from '../../node/net/frames.js'
import { ClusterModel, peerSeed } from '../helpers/cluster-model.js'

/**
 * Evidence of an equivocation offered in a BYE (DESIGN.md §2.1): a peer that
 * hangs up over one sends both events, and the other side believes only
 * what the bytes prove.
 */

/** host2's join as held by host1, and a rival: same author, seq and deps, another body. */
function joinAndRival (): { model: ClusterModel, held: SignedEvent, rival: SignedEvent } {
  const model = new ClusterModel(2, 1)
  const held = model.join(1, 'host2-again')
  model.sync(1, 0) // host1 <- host2
  const e = held.event as JoinEvent
  const rival = signEvent({ kind: 'join', author: e.author, time: e.time, seq: e.seq, lamport: e.lamport, deps: e.deps, body: { nickname: 'the-copy', addrs: [] } }, ed25519SignerFromSeed(peerSeed(1)))
  assert.notEqual(rival.id, held.id)
  return { model, held, rival }
}

test('a BYE carries evidence both ways; bad evidence is a protocol error', () => {
  const { held, rival } = joinAndRival()
  const frame = decodeFrame(encodeBye('equivocation', 'two joins', [held.bytes, rival.bytes]))
  assert.equal(frame.type, FRAME_BYE)
  if (frame.type !== FRAME_BYE) return
  assert.deepEqual(frame.evidence.map(b => Buffer.from(b).toString('hex')), [held.bytes, rival.bytes].map(b => Buffer.from(b).toString('hex')))
  const plain = decodeFrame(encodeBye('timeout', 'no hello'))
  assert.deepEqual(plain.type === FRAME_BYE ? plain.evidence : null, [])

  const bye = (payload: unknown): Uint8Array => new Uint8Array([FRAME_BYE, ...new TextEncoder().encode(JSON.stringify(payload))])
  for (const evidence of ['AAAA', [1, 2], ['not base64!'], Array.from({ length: MAX_EVIDENCE + 1 }, () => 'AAAA'), ['A'.repeat(100_000)]]) {
    assert.throws(() => decodeFrame(bye({ code: 'equivocation', message: 'x', evidence })), ProtocolError, JSON.stringify(evidence).slice(0, 40))
  }
})

test('evidence proves an equivocation only with a correctly signed rival of an event we hold', () => {
  const { model, held, rival } = joinAndRival()
  const ring = model.peers[0]!.ring
  const found = equivocationInEvidence(ring, [held.bytes, rival.bytes])
  assert.equal(found?.held.id, held.id)
  assert.equal(found?.rival.id, rival.id)
  // The order and extra junk do not matter.
  assert.equal(equivocationInEvidence(ring, [new Uint8Array([1, 2, 3]), rival.bytes])?.rival.id, rival.id)

  // Nothing proved: only events we hold, garbage, or a rival with a broken signature.
  assert.equal(equivocationInEvidence(ring, [held.bytes]), undefined)
  assert.equal(equivocationInEvidence(ring, []), undefined)
  assert.equal(equivocationInEvidence(ring, [new Uint8Array(64)]), undefined)
  const forged = new Uint8Array(rival.bytes)
  const sig = Buffer.from(forged).indexOf(Buffer.from('63736967', 'hex')) // the text key "sig"
  assert.ok(sig > 0)
  forged[sig + 4 + 2 + 10] = forged[sig + 4 + 2 + 10]! ^ 1 // a byte inside its 64-byte value (key, bytes header)
  assert.equal(equivocationInEvidence(ring, [held.bytes, forged]), undefined)

  // A peer that holds neither event but knows the author: the two sides,
  // both correctly signed, prove the fork by themselves (DESIGN.md §2.7: a
  // peer whose log is behind learns of a fork from one that knows).
  const fresh = new ClusterModel(2, 1).peers[0]!.ring
  assert.equal(fresh.has(held.id), false)
  const both = equivocationInEvidence(fresh, [held.bytes, rival.bytes])
  assert.deepEqual([both?.held.id, both?.rival.id].sort(), [held.id, rival.id].sort())
  assert.equal(equivocationInEvidence(fresh, [held.bytes, forged]), undefined)
})
