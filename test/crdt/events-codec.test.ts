import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import * as dagCbor from '@ipld/dag-cbor'
import { cidr, parseCidr, type Cidr } from '../../packages/netaddr/index.js'
import {
  createGenesis, createVerifier, decodeEvent, EventError, eventId, MAX_EVENT_BYTES, signEvent,
  type SignedEvent, type Signer, type UnsignedEvent, type Verifier
} from '../../crdt/events/index.js'
import { encodeCbor, PEERS, SIGNERS, signerFor } from '../helpers/arbitraries.js'
import { rejects } from '../helpers/event-errors.js'

/**
 * Unit tests of the event codec (DESIGN.md §2.1–2.2): one hand-made input per
 * EventError code, and the genesis rules. Properties live in events-props.test.ts.
 */

type Wire = Record<string, unknown>

const [alice, bob, carol] = SIGNERS as [Signer, Signer, Signer]
const DOMAIN = new TextEncoder().encode('weft/event\n')
const DEP_A = 'aa'.repeat(32)
const DEP_B = 'bb'.repeat(32)
const DEP_C = 'cc'.repeat(32)

const c = (s: string): Cidr => parseCidr(s)

function transfer (overrides: Partial<UnsignedEvent> = {}, signer: Signer = alice): SignedEvent {
  return signEvent({
    kind: 'transfer',
    author: signer.author,
    seq: 3,
    lamport: 7,
    deps: [DEP_A, DEP_B],
    time: 1_700_000_000_000,
    body: { ranges: [c('10.32.1.0/24')], to: bob.author },
    ...overrides
  } as UnsignedEvent, signer)
}

function wireOf (bytes: Uint8Array): Wire {
  return dagCbor.decode(bytes)
}

/** Signs a hand-built wire map the way the codec does: Ed25519 over 'weft/event\n' ‖ canonical unsigned map. */
function signWire (wire: Wire, signer: Signer, domain: Uint8Array = DOMAIN): Uint8Array {
  const { sig: _omit, ...unsigned } = wire
  const encoded = dagCbor.encode(unsigned)
  const payload = new Uint8Array(domain.length + encoded.length)
  payload.set(domain, 0)
  payload.set(encoded, domain.length)
  return dagCbor.encode({ ...unsigned, sig: signer.sign(payload) })
}

/** Decodes a valid event's wire map, lets `edit` change it, and re-signs it correctly. */
function edited (base: SignedEvent, edit: (w: Wire) => void, signer: Signer = signerFor((base.event as { author: string }).author)): Uint8Array {
  const wire = wireOf(base.bytes)
  edit(wire)
  return signWire(wire, signer)
}

function body (w: Wire): Wire {
  return w.body as Wire
}

/** A copy of a signed event's bytes with one bit of its signature flipped (sig is not the last field: keys sort by length). */
function flipSigBit (bytes: Uint8Array, bit = 0): Uint8Array {
  const sig = (wireOf(bytes).sig as Uint8Array)
  const at = Buffer.from(bytes).indexOf(Buffer.from(sig))
  assert.ok(at > 0)
  const out = Uint8Array.from(bytes)
  out[at + (bit >> 3)]! ^= 1 << (bit & 7)
  return out
}

const rangeWire = (s: string): [Uint8Array, number] => {
  const x = c(s)
  const bytes = new Uint8Array(x.family === 4 ? 4 : 16)
  let v = x.first
  for (let i = bytes.length - 1; i >= 0; i--) { bytes[i] = Number(v & 0xffn); v >>= 8n }
  return [bytes, x.prefix]
}

describe('event codec: signed events', () => {
  test('a signed event decodes to the same event, id and bytes', () => {
    const signed = transfer()
    const decoded = decodeEvent(signed.bytes)
    assert.equal(decoded.id, signed.id)
    assert.equal(decoded.id, eventId(signed.bytes))
    assert.match(decoded.id, /^[0-9a-f]{64}$/)
    assert.deepEqual(decoded.bytes, signed.bytes)
    assert.deepEqual(decoded.event, signed.event)
    assert.deepEqual(decoded.event, {
      v: 1,
      kind: 'transfer',
      author: alice.author,
      seq: 3,
      lamport: 7,
      deps: [DEP_A, DEP_B],
      time: 1_700_000_000_000,
      body: { ranges: [cidr(4, 0x0a200100n, 24)], to: bob.author }
    })
  })

  test('signEvent sorts deps, and signing is deterministic', () => {
    const a = transfer({ deps: [DEP_C, DEP_A] })
    const b = transfer({ deps: [DEP_A, DEP_C] })
    assert.deepEqual(a.bytes, b.bytes)
    assert.deepEqual(a.event.deps, [DEP_A, DEP_C])
  })

  test('the signature is over the domain prefix and the unsigned canonical map', () => {
    const base = transfer()
    // The hand-built signature reproduces the codec's bytes exactly.
    assert.deepEqual(signWire(wireOf(base.bytes), alice), base.bytes)
    // Without the domain prefix the same key's signature is refused.
    rejects(() => decodeEvent(signWire(wireOf(base.bytes), alice, new Uint8Array())), 'bad-signature')
  })

  test('signEvent refuses a signer that is not the author', () => {
    rejects(() => transfer({ author: alice.author }, bob), 'bad-signature')
  })

  test('signEvent refuses bodies that would not decode (a bug in the caller)', () => {
    rejects(() => transfer({ body: { ranges: [c('10.32.1.0/25'), c('10.32.1.128/25')], to: bob.author } } as Partial<UnsignedEvent>), 'malformed')
    rejects(() => transfer({ deps: [DEP_A, DEP_A] }), 'malformed')
    rejects(() => transfer({ deps: ['not-hex'] }), 'malformed')
  })
})

describe('event codec: genesis', () => {
  const range = [c('10.32.0.0/12')]

  test('is a pure function of its body: same body, same bytes and id', () => {
    const g1 = createGenesis({ ranges: range, seeds: [PEERS[0]!, PEERS[1]!, PEERS[2]!] })
    const g2 = createGenesis({ ranges: [c('10.32.0.0/12')], seeds: [PEERS[0]!, PEERS[1]!, PEERS[2]!] })
    assert.deepEqual(g1.bytes, g2.bytes)
    assert.equal(g1.id, g2.id)
    assert.equal(g1.id, eventId(g1.bytes))
    assert.deepEqual(g1.event, { v: 1, kind: 'genesis', lamport: 1, deps: [], body: { ranges: range, seeds: [PEERS[0], PEERS[1], PEERS[2]] } })
  })

  test('seed order does not matter: seeds are sorted by PeerId bytes', () => {
    const sorted = createGenesis({ ranges: range, seeds: [...PEERS] })
    const reversed = createGenesis({ ranges: range, seeds: [...PEERS].reverse() })
    const shuffled = createGenesis({ ranges: range, seeds: [PEERS[3]!, PEERS[0]!, PEERS[5]!, PEERS[1]!, PEERS[4]!, PEERS[2]!] })
    assert.equal(reversed.id, sorted.id)
    assert.equal(shuffled.id, sorted.id)
    assert.deepEqual(reversed.event.body.seeds, [...PEERS])
  })

  test('different seeds or range give a different cluster id', () => {
    const base = createGenesis({ ranges: range, seeds: [PEERS[0]!, PEERS[1]!] }).id
    assert.notEqual(createGenesis({ ranges: range, seeds: [PEERS[0]!] }).id, base)
    assert.notEqual(createGenesis({ ranges: [c('10.48.0.0/12')], seeds: [PEERS[0]!, PEERS[1]!] }).id, base)
  })

  test('decodes (unsigned) and checks against the cluster id', () => {
    const g = createGenesis({ ranges: [c('fd00::/48')], seeds: [PEERS[2]!] })
    const decoded = decodeEvent(g.bytes, { expectedId: g.id })
    assert.deepEqual(decoded.event, g.event)
    rejects(() => decodeEvent(g.bytes, { expectedId: transfer().id }), 'wrong-id')
  })

  test('structure is checked: one CIDR, seeds sorted and distinct, lamport 1, no deps, no author', () => {
    rejects(() => createGenesis({ ranges: [c('10.32.0.0/12'), c('10.64.0.0/12')], seeds: [PEERS[0]!] }), 'malformed', /exactly one CIDR/)
    rejects(() => createGenesis({ ranges: [], seeds: [PEERS[0]!] }), 'malformed')
    rejects(() => createGenesis({ ranges: range, seeds: [] }), 'malformed')
    rejects(() => createGenesis({ ranges: range, seeds: [PEERS[0]!, PEERS[0]!] }), 'malformed', /duplicates/)
    const g = createGenesis({ ranges: range, seeds: [PEERS[0]!, PEERS[1]!] })
    const tamper = (edit: (w: Wire) => void): Uint8Array => { const w = wireOf(g.bytes); edit(w); return dagCbor.encode(w) }
    rejects(() => decodeEvent(tamper(w => { w.lamport = 2 })), 'malformed', /lamport/)
    rejects(() => decodeEvent(tamper(w => { w.deps = [new Uint8Array(32)] })), 'malformed', /deps/)
    rejects(() => decodeEvent(tamper(w => { w.author = new Uint8Array(38) })), 'malformed', /unexpected field "author"/)
    rejects(() => decodeEvent(tamper(w => { body(w).seeds = [...(body(w).seeds as Uint8Array[])].reverse() })), 'malformed', /not sorted/)
  })
})

describe('event codec: one test per error code', () => {
  test('oversized: more than MAX_EVENT_BYTES, refused before anything else', () => {
    assert.equal(MAX_EVENT_BYTES, 64 * 1024)
    rejects(() => decodeEvent(new Uint8Array(70 * 1024)), 'oversized')
    rejects(() => decodeEvent(new Uint8Array(MAX_EVENT_BYTES + 1), { expectedId: DEP_A }), 'oversized')
    // At the limit it is merely garbage.
    rejects(() => decodeEvent(new Uint8Array(MAX_EVENT_BYTES)), 'undecodable')
  })

  test('oversized: signEvent refuses to produce an event over the limit', () => {
    // 4000 separate IPv6 /128s, about 20 bytes each on the wire.
    const ranges = Array.from({ length: 4000 }, (_, i) => cidr(6, (0xfd00n << 112n) + BigInt(i) * 2n, 128))
    rejects(() => transfer({ body: { ranges, to: bob.author } } as Partial<UnsignedEvent>), 'oversized')
  })

  test('undecodable: not DAG-CBOR', () => {
    const good = transfer().bytes
    rejects(() => decodeEvent(new Uint8Array()), 'undecodable')
    rejects(() => decodeEvent(Uint8Array.of(0xff)), 'undecodable')
    rejects(() => decodeEvent(good.subarray(0, good.length - 1)), 'undecodable')
    rejects(() => decodeEvent(good.subarray(0, 10)), 'undecodable')
    // Non-minimal integer head: strict decoding refuses it outright.
    rejects(() => decodeEvent(encodeCbor(wireOf(good), { at: 2, how: 'wide-head', extra: 1 })), 'undecodable')
    // Indefinite-length list.
    rejects(() => decodeEvent(encodeCbor(wireOf(good), { at: 0, how: 'indefinite' })), 'undecodable')
    // A repeated map key.
    const dup = Uint8Array.of(0xa2, 0x61, 0x76, 0x01, 0x61, 0x76, 0x01) // {"v": 1, "v": 1}
    rejects(() => decodeEvent(dup), 'undecodable')
  })

  test('undecodable or non-canonical: trailing bytes after a valid event', () => {
    const good = transfer().bytes
    assert.throws(() => decodeEvent(Uint8Array.from([...good, 0x00])), (err: unknown) =>
      err instanceof EventError && (err.code === 'undecodable' || err.code === 'non-canonical'))
  })

  test('non-canonical: map keys out of order (hand-encoded), a float for an integer, undefined for null', () => {
    const good = transfer()
    const wire = wireOf(good.bytes)
    // The hand encoder reproduces canonical bytes when told nothing...
    assert.deepEqual(encodeCbor(wire), good.bytes)
    // ...and each single non-canonical choice is refused.
    rejects(() => decodeEvent(encodeCbor(wire, { at: 0, how: 'reverse-keys' })), 'non-canonical')
    // v (key "v" is node 1, its value node 2) as a float64 1.0.
    const vAsFloat = encodeCbor(wire, { at: 2, how: 'float' })
    assert.equal((dagCbor.decode(vAsFloat) as Wire).v, 1)
    rejects(() => decodeEvent(vAsFloat), 'non-canonical')
    // null written as undefined (0xf7) decodes to null but is not canonical.
    const withNull = dagCbor.encode({ x: null })
    const withUndefined = Uint8Array.from(withNull.map((b, i) => i === withNull.length - 1 ? 0xf7 : b))
    rejects(() => decodeEvent(withUndefined), 'non-canonical')
  })

  test('non-canonical: keys sorted plainly instead of length-first', () => {
    // DAG-CBOR sorts keys by encoded length first: "v" < "body" < "kind" < ... < "author".
    // Writing them in plain lexicographic order ("author" < "body" < ...) is a different encoding.
    const good = transfer()
    const wire = wireOf(good.bytes)
    const parts: number[] = [0xa0 | Object.keys(wire).length]
    for (const k of Object.keys(wire).sort()) parts.push(...encodeCbor(k), ...dagCbor.encode(wire[k]))
    const lexicographic = Uint8Array.from(parts)
    assert.deepEqual(dagCbor.decode(lexicographic), wire)
    rejects(() => decodeEvent(lexicographic), 'non-canonical')
  })

  test('malformed: an extra field, at the top or in the body', () => {
    const base = transfer()
    rejects(() => decodeEvent(edited(base, w => { w.extra = 1 })), 'malformed', /unexpected field "extra"/)
    rejects(() => decodeEvent(edited(base, w => { body(w).note = 'hi' })), 'malformed', /unexpected field "note"/)
    rejects(() => decodeEvent(edited(base, w => { delete w.time })), 'malformed', /missing field "time"/)
    // "__proto__" is an ordinary key to the decoder: an own property, so an unexpected field.
    rejects(() => decodeEvent(edited(base, w => { Object.defineProperty(w, '__proto__', { value: { seq: 1 }, enumerable: true }) })), 'malformed', /__proto__/)
  })

  test('malformed: unsorted or duplicate deps, no deps', () => {
    const base = transfer({ deps: [DEP_A, DEP_B] })
    rejects(() => decodeEvent(edited(base, w => { w.deps = [...(w.deps as Uint8Array[])].reverse() })), 'malformed', /deps: not sorted/)
    rejects(() => decodeEvent(edited(base, w => { w.deps = [(w.deps as Uint8Array[])[0], (w.deps as Uint8Array[])[0]] })), 'malformed', /deps/)
    rejects(() => decodeEvent(edited(base, w => { w.deps = [] })), 'malformed', /at least one dep/)
    rejects(() => decodeEvent(edited(base, w => { w.deps = [new Uint8Array(31)] })), 'malformed', /deps/)
  })

  test('malformed: envelope values out of range', () => {
    const base = transfer()
    rejects(() => decodeEvent(edited(base, w => { w.seq = 0 })), 'malformed', /seq/)
    rejects(() => decodeEvent(edited(base, w => { w.lamport = 1 })), 'malformed', /lamport/)
    rejects(() => decodeEvent(edited(base, w => { w.time = -1 })), 'malformed', /time/)
    rejects(() => decodeEvent(edited(base, w => { w.time = 2n ** 60n })), 'malformed', /time/)
    rejects(() => decodeEvent(edited(base, w => { w.seq = 'one' })), 'malformed', /seq/)
    rejects(() => decodeEvent(edited(base, w => { w.v = 0 })), 'malformed', /v:/)
  })

  test('malformed: author or sig of the wrong shape', () => {
    const base = transfer()
    const w = wireOf(base.bytes)
    const notEd25519 = Uint8Array.from(w.author as Uint8Array)
    notEd25519[3] = 0x00 // key type RSA
    rejects(() => decodeEvent(dagCbor.encode({ ...w, author: notEd25519 })), 'malformed', /author/)
    rejects(() => decodeEvent(dagCbor.encode({ ...w, sig: (w.sig as Uint8Array).subarray(0, 63) })), 'malformed', /sig/)
    const { sig: _omit, ...unsigned } = w
    rejects(() => decodeEvent(dagCbor.encode(unsigned)), 'malformed', /missing field "sig"/)
  })

  test('malformed: a range list that is not the minimal sorted CIDR list', () => {
    const base = transfer()
    // Two adjacent /25s are one /24.
    rejects(() => decodeEvent(edited(base, w => { body(w).ranges = [rangeWire('10.32.1.0/25'), rangeWire('10.32.1.128/25')] })), 'malformed', /minimal sorted/)
    // Out of order.
    rejects(() => decodeEvent(edited(base, w => { body(w).ranges = [rangeWire('10.32.3.0/24'), rangeWire('10.32.1.0/24')] })), 'malformed', /minimal sorted/)
    // Overlapping.
    rejects(() => decodeEvent(edited(base, w => { body(w).ranges = [rangeWire('10.32.0.0/16'), rangeWire('10.32.1.0/24')] })), 'malformed', /minimal sorted/)
    // Host bits set, bad prefix, bad address length.
    rejects(() => decodeEvent(edited(base, w => { body(w).ranges = [[Uint8Array.of(10, 32, 1, 1), 24]] })), 'malformed', /host bits/)
    rejects(() => decodeEvent(edited(base, w => { body(w).ranges = [[Uint8Array.of(10, 32, 1, 0), 33]] })), 'malformed')
    rejects(() => decodeEvent(edited(base, w => { body(w).ranges = [[Uint8Array.of(10, 32, 1), 24]] })), 'malformed')
    rejects(() => decodeEvent(edited(base, w => { body(w).ranges = [[Uint8Array.of(10, 32, 1, 0), 24, 0]] })), 'malformed')
    // A transfer must move something.
    rejects(() => decodeEvent(edited(base, w => { body(w).ranges = [] })), 'malformed', /must not be empty/)
  })

  test('malformed: a transfer with IPv4 and IPv6 ranges', () => {
    const base = transfer()
    rejects(() => decodeEvent(edited(base, w => { body(w).ranges = [rangeWire('10.32.1.0/24'), rangeWire('fd00::/64')] })), 'malformed', /mixes address families/)
    rejects(() => transfer({ body: { ranges: [c('10.32.1.0/24'), c('fd00::/64')], to: bob.author } } as Partial<UnsignedEvent>), 'malformed')
  })

  test('malformed: leave heirs unsorted, overlapping or mixing families', () => {
    const [p0, p1] = [PEERS[0]!, PEERS[1]!]
    const leave = (heirs: Array<{ peer: string, ranges: Cidr[] }>): SignedEvent =>
      signEvent({ kind: 'leave', author: carol.author, seq: 1, lamport: 2, deps: [DEP_A], time: 0, body: { heirs } } as UnsignedEvent, carol)
    const good = leave([{ peer: p0, ranges: [c('10.32.0.0/24')] }, { peer: p1, ranges: [c('10.32.1.0/24')] }])
    assert.equal(decodeEvent(good.bytes).event.kind, 'leave')
    rejects(() => leave([{ peer: p0, ranges: [c('10.32.0.0/24')] }, { peer: p1, ranges: [c('10.32.0.128/25')] }]), 'malformed', /two peers/)
    rejects(() => leave([{ peer: p0, ranges: [c('10.32.0.0/24')] }, { peer: p1, ranges: [c('fd00::/64')] }]), 'malformed', /families/)
    rejects(() => leave([{ peer: p0, ranges: [] }]), 'malformed', /empty/)
    rejects(() => decodeEvent(edited(good, w => { body(w).heirs = [...(body(w).heirs as unknown[])].reverse() })), 'malformed', /not sorted/)
  })

  test('malformed: join nickname and addresses', () => {
    const join = (nickname: string, addrs: string[]): SignedEvent =>
      signEvent({ kind: 'join', author: alice.author, seq: 1, lamport: 2, deps: [DEP_A], time: 0, body: { nickname, addrs } } as UnsignedEvent, alice)
    assert.deepEqual(decodeEvent(join('ŝtar-漢🐙', ['/ip4/10.0.0.1/tcp/4001']).bytes).event.body, { nickname: 'ŝtar-漢🐙', addrs: ['/ip4/10.0.0.1/tcp/4001'] })
    rejects(() => join('', []), 'malformed')
    rejects(() => join('two words', []), 'malformed')
    rejects(() => join('tab\there', []), 'malformed')
    rejects(() => join('x'.repeat(65), []), 'malformed')
    // Control characters of both ranges: C0 and DEL, and C1 (U+0080–U+009F, e.g. U+009B, an 8-bit CSI).
    for (const ch of ['\u0000', '\u001b', '\u007f', '\u0085', '\u009b', '\u00a0', '\u2028']) rejects(() => join(`a${ch}b`, []), 'malformed')
    rejects(() => join('ok', ['ip4/10.0.0.1']), 'malformed', /multiaddr/)
  })

  test('malformed: a conflict whose evidence has a bad signature', () => {
    const rival = transfer()
    const forged = flipSigBit(rival.bytes, 511)
    const conflict = (evidence: Uint8Array[], rivals: string[] = [rival.id, DEP_A].sort()): Uint8Array => signWire({
      ...wireOf(transfer().bytes),
      kind: 'conflict',
      body: { reason: 'dispute', rivals: rivals.map(id => Buffer.from(id, 'hex')).map(b => new Uint8Array(b)), overlap: [], supplier: wireOf(rival.bytes).author, evidence }
    }, alice)
    // Well-formed evidence: fine.
    const ok = decodeEvent(conflict([rival.bytes]))
    assert.equal(ok.event.kind, 'conflict')
    rejects(() => decodeEvent(forged), 'bad-signature')
    rejects(() => decodeEvent(conflict([forged])), 'malformed', /bad evidence event: signature/)
    // verifier: null skips the evidence signature too (bytes from our own store).
    assert.equal(decodeEvent(conflict([forged]), { verifier: null }).event.kind, 'conflict')
    // Evidence that is not an event, a conflict, or a genesis.
    rejects(() => decodeEvent(conflict([Uint8Array.of(1, 2, 3)])), 'malformed', /evidence/)
    rejects(() => decodeEvent(conflict([conflict([rival.bytes])])), 'malformed', /conflict event cannot be evidence/)
    rejects(() => decodeEvent(conflict([createGenesis({ ranges: [c('10.32.0.0/12')], seeds: [alice.author] }).bytes])), 'malformed', /genesis event cannot be evidence/)
    // Fewer than two rivals, or rivals unsorted.
    rejects(() => decodeEvent(conflict([rival.bytes], [rival.id])), 'malformed', /two rival/)
    rejects(() => decodeEvent(conflict([rival.bytes], [rival.id, DEP_A].sort().reverse())), 'malformed', /rivals: not sorted/)
  })

  test('unknown-kind: kind "bogus" at a known version', () => {
    const base = transfer()
    rejects(() => decodeEvent(edited(base, w => { w.kind = 'bogus' })), 'unknown-kind', /bogus/)
    rejects(() => decodeEvent(edited(base, w => { w.kind = 'future' })), 'unknown-kind')
  })

  test('a newer version decodes as kind "future", with its envelope checked', () => {
    const base = transfer()
    const v2 = edited(base, w => { w.v = 4; w.kind = 'bogus'; w.body = { anything: [1, 'two', new Uint8Array(3)] } })
    const decoded = decodeEvent(v2)
    assert.equal(decoded.id, eventId(v2))
    assert.deepEqual(decoded.event, {
      v: 4,
      kind: 'future',
      futureKind: 'bogus',
      author: alice.author,
      seq: 3,
      lamport: 7,
      deps: [DEP_A, DEP_B],
      time: 1_700_000_000_000,
      body: { anything: [1, 'two', new Uint8Array(3)] }
    })
    // No body is fine too.
    assert.equal(decodeEvent(edited(base, w => { w.v = 4; delete w.body })).event.kind, 'future')
    // Envelope checks still apply.
    rejects(() => decodeEvent(edited(base, w => { w.v = 4; delete w.seq })), 'malformed', /seq/)
    rejects(() => decodeEvent(edited(base, w => { w.v = 4; w.lamport = 1 })), 'malformed', /lamport/)
    rejects(() => decodeEvent(edited(base, w => { w.v = 4; w.deps = [...(w.deps as Uint8Array[])].reverse() })), 'malformed', /deps/)
    rejects(() => decodeEvent(edited(base, w => { w.v = 3; w.author = new Uint8Array(38) })), 'malformed', /author/)
    // Signature and id too.
    const forged = flipSigBit(v2, 100)
    rejects(() => decodeEvent(forged), 'bad-signature')
    rejects(() => decodeEvent(v2, { expectedId: base.id }), 'wrong-id')
    // And canonical form.
    rejects(() => decodeEvent(encodeCbor(wireOf(v2), { at: 0, how: 'reverse-keys' })), 'non-canonical')
  })

  test('bad-signature: one flipped signature bit, or signed by someone else', () => {
    const base = transfer()
    for (const bit of [0, 7, 255, 256, 300, 511]) rejects(() => decodeEvent(flipSigBit(base.bytes, bit)), 'bad-signature')
    // Correctly formed, but signed with bob's key in alice's name.
    rejects(() => decodeEvent(edited(base, () => {}, bob)), 'bad-signature')
    // A changed field under the old signature.
    const w = wireOf(base.bytes)
    rejects(() => decodeEvent(dagCbor.encode({ ...w, seq: 4 })), 'bad-signature')
  })

  test('wrong-id: the bytes do not hash to the expected id', () => {
    const base = transfer()
    assert.equal(decodeEvent(base.bytes, { expectedId: base.id }).id, base.id)
    rejects(() => decodeEvent(base.bytes, { expectedId: DEP_A }), 'wrong-id')
    rejects(() => decodeEvent(base.bytes, { expectedId: base.id.toUpperCase() }), 'wrong-id')
  })
})

describe('event codec: verifiers', () => {
  test('verifier: null skips signature checks but not structure', () => {
    const base = transfer()
    const flipped = flipSigBit(base.bytes, 42)
    rejects(() => decodeEvent(flipped), 'bad-signature')
    const unchecked = decodeEvent(flipped, { verifier: null })
    assert.deepEqual(unchecked.event, base.event)
    assert.notEqual(unchecked.id, base.id)
    // Structure is still checked.
    const unsorted = edited(base, w => { w.deps = [...(w.deps as Uint8Array[])].reverse() })
    rejects(() => decodeEvent(unsorted, { verifier: null }), 'malformed')
    rejects(() => decodeEvent(encodeCbor(wireOf(base.bytes), { at: 0, how: 'reverse-keys' }), { verifier: null }), 'non-canonical')
    rejects(() => decodeEvent(base.bytes, { verifier: null, expectedId: DEP_A }), 'wrong-id')
    // A short signature is a shape fault even unverified.
    rejects(() => decodeEvent(dagCbor.encode({ ...wireOf(base.bytes), sig: new Uint8Array(10) }), { verifier: null }), 'malformed')
  })

  test('a supplied verifier is used (and its verdict is final)', () => {
    const base = transfer()
    const calls: string[] = []
    const refuseAll: Verifier = { verify: (author) => { calls.push(author); return false } }
    rejects(() => decodeEvent(base.bytes, { verifier: refuseAll }), 'bad-signature')
    assert.deepEqual(calls, [alice.author])
    assert.equal(decodeEvent(base.bytes, { verifier: createVerifier(1) }).id, base.id)
    // A tiny cache still verifies every author correctly.
    const tiny = createVerifier(1)
    for (const s of SIGNERS) {
      const e = transfer({ author: s.author }, s)
      assert.equal(decodeEvent(e.bytes, { verifier: tiny }).id, e.id)
    }
  })
})
