import fc from 'fast-check'
import { cidr, RangeSet, type Cidr, type Family } from '../../packages/netaddr/index.js'
import {
  comparePeerNames, ed25519SignerFromSeed, signEvent, type Assignment, type AuthoredEvent, type CheckpointBody, type ConflictBody, type EventId,
  type GenesisBody, type Heir, type JoinBody, type LeaveBody, type PeerName, type ResolveBody, type SignedEvent, type Signer,
  type TakeoverBody, type TransferBody, type UnsignedEvent
} from '../../crdt/events/index.js'

/**
 * fast-check arbitraries for weft events (DESIGN.md §2.1–2.2), plus a small
 * hand-written CBOR encoder for building non-canonical encodings on purpose.
 *
 * Everything generated is *structurally* valid: it encodes, signs and decodes.
 * Nothing here tries to be valid in a view (authority is the fold's business),
 * so a generated transfer may well give away space its author does not own.
 */

/** fc.record with plain objects (fast-check's default null prototype breaks deepStrictEqual against decoded events). */
function record<T> (model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true }) as fc.Arbitrary<T>
}

// ---------------------------------------------------------------------------
// Signers

/** Deterministic seeds: seed i is 32 bytes of value i + 1. */
export const SEEDS: readonly Uint8Array[] = Object.freeze(Array.from({ length: 6 }, (_, i) => new Uint8Array(32).fill(i + 1)))
export const SIGNERS: readonly Signer[] = Object.freeze(SEEDS.map(seed => ed25519SignerFromSeed(seed)))
/** The pool's peer names, sorted by PeerId bytes. */
export const PEERS: readonly PeerName[] = Object.freeze(SIGNERS.map(s => s.author).sort(comparePeerNames))

const signerByAuthor = new Map(SIGNERS.map(s => [s.author, s]))

/** The pool signer for an author; throws for a name outside the pool. */
export function signerFor (author: PeerName): Signer {
  const signer = signerByAuthor.get(author)
  if (signer === undefined) throw new Error(`no test signer for ${author}`)
  return signer
}

export const arbSigner: fc.Arbitrary<Signer> = fc.constantFrom(...SIGNERS)
export const arbPeer: fc.Arbitrary<PeerName> = fc.constantFrom(...PEERS)

/** 0..max distinct peers of the pool, sorted by PeerId bytes. */
export function arbPeerSet (minLength = 0, maxLength = PEERS.length): fc.Arbitrary<PeerName[]> {
  return fc.subarray([...PEERS], { minLength, maxLength })
}

// ---------------------------------------------------------------------------
// Ids and envelope fields

export const arbEventId: fc.Arbitrary<EventId> = fc.uint8Array({ minLength: 32, maxLength: 32 })
  .map(b => Buffer.from(b).toString('hex'))

/** Distinct event ids, sorted (hex order is byte order). */
export function arbIdSet (minLength: number, maxLength: number): fc.Arbitrary<EventId[]> {
  return fc.uniqueArray(arbEventId, { minLength, maxLength }).map(ids => [...ids].sort())
}

export const arbSeq = fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }))
export const arbLamport = fc.oneof(fc.integer({ min: 2, max: 1000 }), fc.integer({ min: 2, max: Number.MAX_SAFE_INTEGER }))
export const arbTime = fc.oneof(
  fc.integer({ min: 1_600_000_000_000, max: 2_000_000_000_000 }),
  fc.constant(0),
  fc.maxSafeNat()
)

/** Envelope fields with plausible values: seq ≥ 1, lamport ≥ 2, 1–3 sorted deps, time ≥ 0. */
export const arbEnvelope = record({
  author: arbPeer,
  seq: arbSeq,
  lamport: arbLamport,
  deps: arbIdSet(1, 3),
  time: arbTime
})

// ---------------------------------------------------------------------------
// Ranges

/** 10.32.0.0/12, the IPv4 test space. */
export const V4_SPACE = cidr(4, 0x0a200000n, 12)
/** fd00::/48, the IPv6 test space. */
export const V6_SPACE = cidr(6, 0xfd00n << 112n, 48)

function arbCidrIn (space: Cidr, maxPrefix: number): fc.Arbitrary<Cidr> {
  const bits = space.family === 4 ? 32 : 128
  const hostBits = BigInt(bits - space.prefix)
  return fc.tuple(fc.integer({ min: space.prefix, max: maxPrefix }), fc.bigInt({ min: 0n, max: (1n << hostBits) - 1n }))
    .map(([prefix, offset]) => {
      const shift = BigInt(bits - prefix)
      return cidr(space.family, space.first + ((offset >> shift) << shift), prefix)
    })
}

/** A single CIDR inside the test space of `family`; mostly small blocks, sometimes big ones. */
export function arbCidr (family: Family): fc.Arbitrary<Cidr> {
  return family === 4
    ? fc.oneof({ weight: 3, arbitrary: arbCidrIn(V4_SPACE, 32) }, { weight: 1, arbitrary: arbCidrIn(V4_SPACE, 20) })
    : fc.oneof({ weight: 3, arbitrary: arbCidrIn(V6_SPACE, 128) }, { weight: 1, arbitrary: arbCidrIn(V6_SPACE, 64) })
}

/** Canonical (minimal, sorted) CIDR list: exactly `RangeSet.fromCidrs(f, x).toCidrs()`. */
export function arbRanges (family: Family, opts: { minBlocks?: number, maxBlocks?: number } = {}): fc.Arbitrary<Cidr[]> {
  return fc.array(arbCidr(family), { minLength: opts.minBlocks ?? 1, maxLength: opts.maxBlocks ?? 5 })
    .map(cidrs => RangeSet.fromCidrs(family, cidrs).toCidrs())
}

export const arbFamily: fc.Arbitrary<Family> = fc.constantFrom<Family>(4, 6)

/** A non-empty canonical range list of either family. */
export const arbAnyRanges: fc.Arbitrary<Cidr[]> = arbFamily.chain(f => arbRanges(f))

/**
 * `n` pairwise-disjoint, non-empty canonical range lists of one family (for
 * leave heirs and resolve assignments, which must not give one address twice).
 * Disjoint by construction: block i of a halving of the space, then sub-blocks.
 */
export function arbDisjointRanges (family: Family, n: number): fc.Arbitrary<Cidr[][]> {
  const space = family === 4 ? V4_SPACE : V6_SPACE
  if (n === 0) return fc.constant<Cidr[][]>([])
  // Cut the space into 8 aligned slots; each list draws from its own slot.
  const slotPrefix = space.prefix + 3
  const slots = Array.from({ length: 8 }, (_, i) => cidr(family, space.first + (BigInt(i) << BigInt((family === 4 ? 32 : 128) - slotPrefix)), slotPrefix))
  return fc.tuple(
    fc.shuffledSubarray(slots, { minLength: n, maxLength: n }),
    fc.array(fc.array(fc.tuple(fc.integer({ min: 0, max: family === 4 ? 32 - slotPrefix : 128 - slotPrefix }), fc.bigInt({ min: 0n, max: (1n << BigInt((family === 4 ? 32 : 128) - slotPrefix)) - 1n })), { minLength: 1, maxLength: 3 }), { minLength: n, maxLength: n })
  ).map(([chosen, picks]) => chosen.map((slot, i) => {
    const bits = family === 4 ? 32 : 128
    const blocks = picks[i]!.map(([extra, offset]) => {
      const prefix = slot.prefix + extra
      const shift = BigInt(bits - prefix)
      return cidr(family, slot.first + ((offset >> shift) << shift), prefix)
    })
    return RangeSet.fromCidrs(family, blocks).toCidrs()
  }))
}

// ---------------------------------------------------------------------------
// Bodies

const NICK_CHARS = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:@éß漢字', '🐙']

export const arbGenesisBody: fc.Arbitrary<GenesisBody> = record({
  // A cluster has exactly one CIDR range.
  ranges: arbFamily.chain(f => arbCidr(f)).map(c => [c]),
  seeds: arbPeerSet(1)
})

export const arbNickname: fc.Arbitrary<string> = fc.string({ unit: fc.constantFrom(...NICK_CHARS), minLength: 1, maxLength: 32 })

export const arbMultiaddr: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(fc.ipV4(), fc.integer({ min: 1, max: 65535 })).map(([ip, port]) => `/ip4/${ip}/tcp/${port}`),
  fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 1, max: 65535 })).map(([h, port]) => `/ip6/fd00::${h.toString(16)}/tcp/${port}`),
  fc.tuple(fc.array(fc.stringMatching(/^[a-z0-9]{1,12}$/), { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 65535 }))
    .map(([labels, port]) => `/dns4/${labels.join('.')}/tcp/${port}`)
)

export const arbJoinBody: fc.Arbitrary<JoinBody> = record({
  nickname: arbNickname,
  addrs: fc.array(arbMultiaddr, { maxLength: 4 })
})

export const arbTransferBody: fc.Arbitrary<TransferBody> = record({ ranges: arbAnyRanges, to: arbPeer })

export const arbTakeoverBody: fc.Arbitrary<TakeoverBody> = record({
  from: arbPeer,
  // A takeover of a peer that owns nothing has no ranges.
  ranges: fc.oneof({ weight: 4, arbitrary: arbAnyRanges }, { weight: 1, arbitrary: fc.constant<Cidr[]>([]) })
})

/** `n`..`m` distinct peers sorted by PeerId bytes, each with its own disjoint ranges (one family). */
function arbPeerRanges (minLength: number, maxLength: number): fc.Arbitrary<Array<{ peer: PeerName, ranges: Cidr[] }>> {
  return fc.tuple(arbPeerSet(minLength, maxLength), arbFamily).chain(([peers, family]) =>
    arbDisjointRanges(family, peers.length).map(lists => peers.map((peer, i) => ({ peer, ranges: lists[i]! }))))
}

export const arbLeaveBody: fc.Arbitrary<LeaveBody> = arbPeerRanges(0, 3).map(list => ({ heirs: list as Heir[] }))

export const arbResolveBody: fc.Arbitrary<ResolveBody> = record({
  disputes: arbIdSet(1, 3),
  removals: arbPeerSet(0, 3),
  assignments: arbPeerRanges(0, 3).map(list => list.map(({ peer, ranges }): Assignment => ({ owner: peer, ranges })))
})

/** A conflict body whose evidence is 1–2 real signed events, each of whose ids is among the (sorted) rivals. */
export const arbConflictBody: fc.Arbitrary<ConflictBody> = record({
  reason: fc.constantFrom<ConflictBody['reason']>('dispute', 'equivocation'),
  evidence: fc.array(arbSignedEvent({ kinds: ['join', 'transfer', 'takeover', 'leave', 'resolve'] }), { minLength: 1, maxLength: 2 }),
  others: arbIdSet(0, 2),
  overlap: fc.oneof(arbAnyRanges, fc.constant<Cidr[]>([])),
  supplier: arbPeer
}).map(({ reason, evidence, others, overlap, supplier }) => {
  // One copy of each evidence event (the same event may be drawn twice).
  const unique = [...new Map(evidence.map(e => [e.id, e])).values()]
  const ids = new Set([...unique.map(e => e.id), ...others])
  // A conflict needs two rivals; pad with a fixed id if the draw left only one.
  if (ids.size < 2) ids.add('00'.repeat(32))
  if (ids.size < 2) ids.add('ff'.repeat(32))
  return {
    reason,
    rivals: [...ids].sort(),
    overlap: reason === 'equivocation' ? [] : overlap,
    supplier,
    evidence: unique.map(e => e.bytes)
  }
})

const arbCheckpointBody: fc.Arbitrary<CheckpointBody> = fc.record({
  epoch: fc.integer({ min: 1, max: 1_000_000 }),
  cut: arbIdSet(1, 5),
  digest: arbEventId
}).map(b => ({ epoch: b.epoch, cut: b.cut, digest: b.digest }))

type AuthoredKind = AuthoredEvent['kind']
export const AUTHORED_KINDS: readonly AuthoredKind[] = ['join', 'transfer', 'takeover', 'leave', 'conflict', 'resolve', 'checkpoint']

export function arbBody (kind: AuthoredKind): fc.Arbitrary<AuthoredEvent['body']> {
  switch (kind) {
    case 'join': return arbJoinBody
    case 'transfer': return arbTransferBody
    case 'takeover': return arbTakeoverBody
    case 'leave': return arbLeaveBody
    case 'conflict': return arbConflictBody
    case 'resolve': return arbResolveBody
    case 'checkpoint': return arbCheckpointBody
  }
}

// ---------------------------------------------------------------------------
// Events

export interface EventArbOptions {
  /** Kinds to draw from (default: all authored kinds). */
  kinds?: readonly AuthoredKind[]
}

/** A full unsigned authored event (author from the signer pool, see `signerFor`). */
export function arbUnsignedEvent (opts: EventArbOptions = {}): fc.Arbitrary<UnsignedEvent> {
  const kinds = opts.kinds ?? AUTHORED_KINDS
  return fc.constantFrom(...kinds).chain(kind =>
    fc.tuple(arbEnvelope, arbBody(kind)).map(([env, body]) => ({ kind, ...env, body }) as UnsignedEvent))
}

/** A signed authored event; conflicts carry 1–2 real signed evidence events. */
export function arbSignedEvent (opts: EventArbOptions = {}): fc.Arbitrary<SignedEvent<AuthoredEvent>> {
  return arbUnsignedEvent(opts).map(u => signEvent(u, signerFor(u.author)))
}

// ---------------------------------------------------------------------------
// Hand-written CBOR, for non-canonical encodings on purpose

/** One place in a CBOR value tree where a non-canonical choice can be made. */
export type CborTweak =
  | { at: number, how: 'wide-head', extra: number } // length/value head in more bytes than needed (extra: 1..3 width steps)
  | { at: number, how: 'float' } // an integer written as a float64
  | { at: number, how: 'indefinite' } // array, map, bytes or text written with indefinite length
  | { at: number, how: 'reverse-keys' } // map keys in reverse canonical order
  | { at: number, how: 'undefined' } // null written as `undefined` (0xf7)

type NodeType = 'int' | 'bytes' | 'text' | 'array' | 'map' | 'other'

const utf8 = new TextEncoder()

function nodeType (v: unknown): NodeType {
  if (typeof v === 'number' && Number.isInteger(v)) return 'int'
  if (typeof v === 'bigint') return 'int'
  if (v instanceof Uint8Array) return 'bytes'
  if (typeof v === 'string') return 'text'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'object' && v !== null) return 'map'
  return 'other'
}

/** DAG-CBOR map key order: shorter encoded key first, then bytewise. */
function canonicalKeys (map: Record<string, unknown>): string[] {
  return Object.keys(map).sort((a, b) => {
    const ea = utf8.encode(a)
    const eb = utf8.encode(b)
    if (ea.length !== eb.length) return ea.length - eb.length
    return Buffer.compare(ea, eb)
  })
}

/**
 * Pre-order list of the nodes of a value tree (map keys count as text nodes,
 * before their values), with the tweaks each one admits.
 */
export function cborTweakSites (value: unknown): Array<{ at: number, type: NodeType, hows: Array<CborTweak['how']> }> {
  const out: Array<{ at: number, type: NodeType, hows: Array<CborTweak['how']> }> = []
  const walk = (v: unknown): void => {
    const type = nodeType(v)
    const hows: Array<CborTweak['how']> = []
    // An 8-byte head cannot be widened further.
    if (type !== 'other' && !(type === 'int' && BigInt(v as number) >= 0x100000000n)) hows.push('wide-head')
    if (type === 'int') hows.push('float')
    if (type === 'bytes' || type === 'text' || type === 'array' || type === 'map') hows.push('indefinite')
    if (type === 'map' && Object.keys(v as object).length >= 2) hows.push('reverse-keys')
    if (v === null) hows.push('undefined')
    out.push({ at: out.length, type, hows })
    if (type === 'array') for (const x of v as unknown[]) walk(x)
    if (type === 'map') {
      const m = v as Record<string, unknown>
      for (const k of canonicalKeys(m)) { walk(k); walk(m[k]) }
    }
  }
  walk(value)
  return out
}

/** An arbitrary non-canonical tweak applicable to `value`. */
export function arbCborTweak (value: unknown): fc.Arbitrary<CborTweak> {
  const sites = cborTweakSites(value).filter(s => s.hows.length > 0)
  return fc.constantFrom(...sites).chain(site => fc.constantFrom(...site.hows).chain((how): fc.Arbitrary<CborTweak> =>
    how === 'wide-head'
      ? fc.integer({ min: 1, max: 3 }).map(extra => ({ at: site.at, how, extra }))
      : fc.constant({ at: site.at, how } as CborTweak)))
}

/**
 * Encodes a DAG-CBOR data-model value (ints, bytes, text, arrays, string-keyed
 * maps, null, booleans). With no tweak the output is canonical DAG-CBOR, the
 * same bytes `@ipld/dag-cbor` writes; a tweak makes exactly one non-canonical
 * choice at node `at` (pre-order, as in `cborTweakSites`).
 */
export function encodeCbor (value: unknown, tweak?: CborTweak): Uint8Array {
  const out: number[] = []
  let index = 0

  const head = (major: number, n: bigint, extraWidth = 0): void => {
    // minimal width step: 0 = inline, 1 = 1 byte, 2 = 2 bytes, 3 = 4 bytes, 4 = 8 bytes
    const minimal = n < 24n ? 0 : n < 0x100n ? 1 : n < 0x10000n ? 2 : n < 0x100000000n ? 3 : 4
    const step = Math.min(4, minimal + extraWidth)
    if (extraWidth > 0 && step === minimal) throw new Error('cannot widen an 8-byte head')
    if (step === 0) { out.push((major << 5) | Number(n)); return }
    const bytes = [1, 2, 4, 8][step - 1]!
    out.push((major << 5) | (23 + step))
    for (let i = bytes - 1; i >= 0; i--) out.push(Number((n >> BigInt(8 * i)) & 0xffn))
  }

  const walk = (v: unknown): void => {
    const here = index++
    const t = tweak !== undefined && tweak.at === here ? tweak : undefined
    const wide = t?.how === 'wide-head' ? t.extra : 0
    const indefinite = t?.how === 'indefinite'
    if (v === null) { out.push(t?.how === 'undefined' ? 0xf7 : 0xf6); return }
    if (v === false || v === true) { out.push(v ? 0xf5 : 0xf4); return }
    if (typeof v === 'number' || typeof v === 'bigint') {
      if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new Error(`encodeCbor: only integers, got ${v}`)
      if (t?.how === 'float') {
        const buf = Buffer.alloc(9)
        buf[0] = 0xfb
        buf.writeDoubleBE(Number(v), 1)
        out.push(...buf)
        return
      }
      const n = BigInt(v)
      if (n >= 0n) head(0, n, wide)
      else head(1, -1n - n, wide)
      return
    }
    if (v instanceof Uint8Array || typeof v === 'string') {
      const major = typeof v === 'string' ? 3 : 2
      const bytes = typeof v === 'string' ? utf8.encode(v) : v
      if (indefinite) {
        out.push((major << 5) | 31)
        // two chunks (or one, for short strings), each definite
        const cut = Math.floor(bytes.length / 2)
        for (const chunk of cut > 0 ? [bytes.subarray(0, cut), bytes.subarray(cut)] : [bytes]) {
          head(major, BigInt(chunk.length))
          out.push(...chunk)
        }
        out.push(0xff)
        return
      }
      head(major, BigInt(bytes.length), wide)
      out.push(...bytes)
      return
    }
    if (Array.isArray(v)) {
      if (indefinite) out.push(0x9f)
      else head(4, BigInt(v.length), wide)
      for (const x of v) walk(x)
      if (indefinite) out.push(0xff)
      return
    }
    if (typeof v === 'object') {
      const m = v as Record<string, unknown>
      const keys = canonicalKeys(m)
      if (indefinite) out.push(0xbf)
      else head(5, BigInt(keys.length), wide)
      // Index keys and values in canonical pre-order even when writing them reversed,
      // so `at` means the same node whatever the tweak.
      const entries = keys.map(k => {
        const start = out.length
        walk(k)
        walk(m[k])
        return out.splice(start)
      })
      if (t?.how === 'reverse-keys') entries.reverse()
      for (const e of entries) out.push(...e)
      if (indefinite) out.push(0xff)
      return
    }
    throw new Error(`encodeCbor: unsupported value ${String(v)}`)
  }

  walk(value)
  return Uint8Array.from(out)
}
