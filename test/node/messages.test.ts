import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ed25519SignerFromSeed } from '../../crdt/events/index.js'
import {
  allocRequestShape, byeShape, claimRequestShape, consensusRequestShape, decodeMessage, electionReplyShape, encodeMessage, helloShape,
  peersRequestShape, spaceAnswerShape, spaceRequestShape, takeoverReplyShape, transferRefShape
} from '../../node/messages.js'
import type { Shape } from '../../node/shape.js'

/**
 * One schema per message (node/messages.ts): what a sender builds passes
 * the receiver's check unchanged, and what breaks a bound or a type is
 * refused with the field named.
 */

const peer = ed25519SignerFromSeed(new Uint8Array(32).fill(7)).author
const id = 'ab'.repeat(32)
const fail = (why: string): Error => new Error(why)
const roundTrip = <T>(shape: Shape<T>, value: T): void => {
  assert.deepEqual(decodeMessage(encodeMessage(value), shape, 'message', 1 << 20, fail), value)
}
const refused = <T>(shape: Shape<T>, value: unknown, field: RegExp): void => {
  assert.throws(() => decodeMessage(encodeMessage(value), shape, 'message', 1 << 20, fail), (err: Error) => field.test(err.message), JSON.stringify(value).slice(0, 80))
}

test('every kind of message a sender builds passes the receiver\'s schema unchanged', () => {
  roundTrip(helloShape, { cluster: id, range: '10.32.0.0/12', protocol: { major: 1, minor: 1 }, eventFormat: 2, peer: { name: peer, nickname: 'host1' }, disputes: [{ id, held: [id] }], resolved: [], seen: [[peer, 10]], init: { mode: 'consensus', n: 3, range: '10.32.0.0/12' } })
  roundTrip(helloShape, { protocol: { major: 1, minor: 0 }, eventFormat: 1, peer: { name: peer, nickname: 'x' }, disputes: [], resolved: [], init: { mode: 'observer' } })
  roundTrip(byeShape, { code: 'equivocation', message: 'two joins', evidence: ['AAAA'] })
  roundTrip(transferRefShape, { transfer: 3, bytes: 2_000_000, sha256: 'cd'.repeat(32) })
  roundTrip(spaceRequestShape, { op: 'donate', subnet: '10.32.0.0/12' })
  roundTrip(spaceAnswerShape, { ok: true, transfer: id, ranges: ['10.40.0.0/13'] })
  roundTrip(spaceAnswerShape, { free: '1048574' })
  roundTrip(consensusRequestShape, { op: 'paxos', instance: 'i', group: { n: 3, range: '10.32.0.0/12' }, req: { op: 'accept', ballot: { round: 2, proposer: peer }, value: { seeds: [peer] } } })
  roundTrip(consensusRequestShape, { op: 'takeover', cluster: id, target: peer, members: id, req: { op: 'prepare', ballot: { round: 0, proposer: peer } } })
  roundTrip(electionReplyShape, { ok: true, accepted: { ballot: { round: 1, proposer: peer }, value: { seeds: [peer] } } })
  roundTrip(takeoverReplyShape, { ok: false, promised: { round: 4, proposer: peer } })
  roundTrip(takeoverReplyShape, { refused: 'no', takenBy: peer })
  roundTrip(allocRequestShape, { id: 'pod-1', subnet: '10.32.0.0/24' })
  roundTrip(claimRequestShape, { id: 'pod-1', address: '10.32.0.9', prefix: 24 })
  roundTrip(peersRequestShape, { peers: ['host2:6783'] })
})

test('a message that breaks its schema is refused, naming the field', () => {
  refused(helloShape, { protocol: { major: 1, minor: 0 }, eventFormat: 1, peer: { name: peer, nickname: 'x' }, disputes: [], resolved: [], cluster: 'not-an-id' }, /\.cluster: expected an event id/)
  refused(helloShape, { protocol: { major: 1, minor: 0 }, eventFormat: 1, peer: { name: peer, nickname: 'x'.repeat(600) }, disputes: [], resolved: [] }, /\.peer\.nickname: expected a string of at most 512/)
  refused(helloShape, { protocol: { major: 1, minor: 0 }, eventFormat: 1, peer: { name: peer, nickname: 'x' }, disputes: [], resolved: [], init: { mode: 'chaos' } }, /\.init\.mode: expected "consensus" or "seed"/)
  refused(byeShape, { code: 'x', message: 'y', evidence: Array.from({ length: 5 }, () => 'AAAA') }, /\.evidence: expected 0 to 4 items/)
  refused(transferRefShape, { transfer: 1, bytes: 0, sha256: 'cd'.repeat(32) }, /\.bytes: expected an integer in \[1,/)
  refused(spaceAnswerShape, { ok: true, transfer: id, ranges: [] }, /expected an answer/)
  refused(consensusRequestShape, { op: 'paxos', instance: 'i', group: { n: 3, range: 'r' }, req: { op: 'accept', ballot: { round: 1, proposer: peer }, value: { seeds: [] } } }, /\.req\.value\.seeds: expected 1 to 1024 items/)
  refused(consensusRequestShape, { op: 'takeover', cluster: id, target: 'nobody', members: id, req: { op: 'prepare', ballot: { round: 0, proposer: peer } } }, /\.target: expected a peer name/)
  refused(takeoverReplyShape, { ok: true, sig: 'short' }, /expected a takeover vote reply/)
  refused(claimRequestShape, { id: 'a', address: '10.0.0.1', prefix: 129 }, /\.prefix: expected an integer in \[0, 128\]/)
  refused(peersRequestShape, { peers: [] }, /\.peers: expected 1 to/)
  assert.throws(() => decodeMessage(new Uint8Array([0xff, 0xfe]), helloShape, 'hello', 100, fail), /hello is not JSON/)
  assert.throws(() => decodeMessage(new Uint8Array(200), helloShape, 'hello', 100, fail), /hello of 200 bytes is over the 100-byte limit/)
})
