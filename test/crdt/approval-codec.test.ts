import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import * as dagCbor from '@ipld/dag-cbor'
import { parseCidr } from '../../packages/netaddr/index.js'
import {
  decodeEvent, signApproval, signEvent, type SignedEvent, type Signer, type TakeoverApproval
} from '../../crdt/events/index.js'
import { compareBytes, peerNameToBytes } from '../../crdt/events/peer-id.js'
import { SIGNERS } from '../helpers/arbitraries.js'
import { rejects } from '../helpers/event-errors.js'

/**
 * A takeover's approval (DESIGN.md §3.2): format 2, written only when a
 * takeover carries one; every vote a signature checked on decode; a quorum
 * of distinct voters, not including the removed peer.
 */

const [alice, bob, carol, dave] = SIGNERS as [Signer, Signer, Signer, Signer]
const CLUSTER = 'c1'.repeat(32)
const DEP = 'aa'.repeat(32)

/** alice takes over dave; `voters` sign the approval (of `of` members). */
function approval (voters: Signer[], of = 4, round = 3): TakeoverApproval {
  const votes = voters.map(v => ({ peer: v.author, sig: signApproval({ cluster: CLUSTER, from: dave.author, to: alice.author, round, proposer: bob.author, of }, v) }))
  votes.sort((a, b) => compareBytes(peerNameToBytes(a.peer), peerNameToBytes(b.peer)))
  return { cluster: CLUSTER, round, proposer: bob.author, of, votes }
}

function takeover (a?: TakeoverApproval, author: Signer = alice): SignedEvent {
  return signEvent({
    kind: 'takeover',
    author: author.author,
    seq: 2,
    lamport: 5,
    deps: [DEP],
    time: 1_700_000_000_000,
    body: { from: dave.author, ranges: [parseCidr('10.40.0.0/13')], ...(a !== undefined ? { approval: a } : {}) }
  }, author)
}

/** Re-signs a hand-edited wire map as `signer` (the event signature stays valid: only the approval is wrong). */
function resigned (base: SignedEvent, edit: (w: Record<string, unknown>) => void, signer: Signer = alice): Uint8Array {
  const { sig: _sig, ...wire } = dagCbor.decode<Record<string, unknown>>(base.bytes)
  edit(wire)
  const encoded = dagCbor.encode(wire)
  const domain = new TextEncoder().encode('weft/event\n')
  const payload = new Uint8Array(domain.length + encoded.length)
  payload.set(domain)
  payload.set(encoded, domain.length)
  return dagCbor.encode({ ...wire, sig: signer.sign(payload) })
}

describe('takeover approval codec', () => {
  test('an approved takeover is format 2 and decodes to the same approval; an unapproved one stays format 1', () => {
    const a = approval([alice, bob, carol])
    const signed = takeover(a)
    assert.equal(signed.event.v, 2)
    const back = decodeEvent(signed.bytes)
    assert.equal(back.id, signed.id)
    assert.deepEqual(back.event, signed.event)
    assert.deepEqual((back.event as { body: { approval: TakeoverApproval } }).body.approval, a)
    assert.equal(takeover().event.v, 1)
    assert.equal(decodeEvent(takeover().bytes).event.kind, 'takeover')
  })

  test('a forged or misattributed vote is a bad signature', () => {
    const a = approval([alice, bob, carol])
    // carol's signature under dave's name: dave is the removed peer, so use bob's slot for a swap instead.
    const swapped: TakeoverApproval = { ...a, votes: a.votes.map((v, i) => i === 0 ? { ...v, sig: a.votes[1]!.sig } : v) }
    rejects(() => decodeEvent(takeover(swapped).bytes), 'bad-signature', /approval vote/)
    // Votes for another round, another cluster or another taker do not count for this one.
    const otherRound = approval([alice, bob, carol], 4, 4)
    rejects(() => decodeEvent(takeover({ ...otherRound, round: 3 }).bytes), 'bad-signature')
    rejects(() => decodeEvent(takeover({ ...a, cluster: 'c2'.repeat(32) }).bytes), 'bad-signature')
    rejects(() => decodeEvent(takeover(a, bob).bytes), 'bad-signature', /approval vote/)
    // The same bytes from our own store are trusted (no signature checks), as for events.
    assert.equal(decodeEvent(takeover(swapped).bytes, { verifier: null }).event.kind, 'takeover')
  })

  test('fewer votes than a quorum, a repeated voter, the removed peer voting: malformed', () => {
    rejects(() => decodeEvent(takeover(approval([alice, bob])).bytes), 'malformed', /not a quorum/)
    assert.equal(decodeEvent(takeover(approval([alice, bob], 3)).bytes).event.v, 2)
    const a = approval([alice, bob, carol])
    rejects(() => decodeEvent(takeover({ ...a, votes: [a.votes[0]!, a.votes[0]!, a.votes[1]!] }).bytes), 'malformed', /sorted, or has duplicates/)
    const withDave = approval([alice, bob, dave])
    rejects(() => decodeEvent(takeover(withDave).bytes), 'malformed', /removed peer cannot vote/)
    rejects(() => decodeEvent(takeover({ ...a, of: 1 }).bytes), 'malformed', /of/)
  })

  test('one event, one encoding: an approval needs format 2, format 2 needs an approval, other kinds stay format 1', () => {
    const approved = takeover(approval([alice, bob, carol]))
    rejects(() => decodeEvent(resigned(approved, w => { w.v = 1 })), 'malformed', /unexpected field "approval"/)
    const plain = takeover()
    rejects(() => decodeEvent(resigned(plain, w => { w.v = 2 })), 'malformed', /carries its approval/)
    const join = signEvent({ kind: 'join', author: alice.author, seq: 1, lamport: 2, deps: [DEP], time: 1, body: { nickname: 'a', addrs: [] } }, alice)
    rejects(() => decodeEvent(resigned(join, w => { w.v = 2 })), 'malformed', /format 2 is not how this join is written/)
  })
})
