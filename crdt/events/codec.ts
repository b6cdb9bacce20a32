import { hash } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { concat } from 'uint8arrays/concat'
import { equals } from 'uint8arrays/equals'
import { verifyApproval } from './approval.js'
import { BODY_CODECS } from './bodies.js'
import { decodeCanonical, mapHead, type RootEntry } from './canonical-cbor.js'
import { defaultVerifier, type Signer, type Verifier } from './ed25519.js'
import { EventError } from './errors.js'
import { isEd25519PeerIdBytes, peerNameFromBytes } from './peer-id.js'
import {
  EVENT_FORMAT_VERSION, EVENT_KINDS, type AuthoredEvent, type EventId, type EventKind, type FutureEvent, type GenesisBody,
  type GenesisEvent, type SignedEvent, type TakeoverBody, type UnsignedEvent, type WeftEvent
} from './types.js'
import { expectBytes, expectIdSet, expectInt, expectMap, expectString, idsToWire, MAX_DEPS, malformed, peerToWire, type WireMap } from './wire.js'

/**
 * The canonical event codec (DESIGN.md §2.1): deterministic DAG-CBOR, id =
 * hex sha-256 of the signed bytes, Ed25519 signature over every other field.
 * Decoding is strict: anything that is not exactly the bytes we would have
 * produced for that event is refused with a typed EventError.
 */

/** Upper bound on one event's bytes; a conflict carrying evidence is the largest kind. */
export const MAX_EVENT_BYTES = 64 * 1024

/**
 * Signatures cover this prefix and the unsigned canonical map, so a weft
 * signature can never be replayed as a signature over some other libp2p
 * payload made with the same key (or the reverse).
 */
const SIGNING_DOMAIN = new TextEncoder().encode('weft/event\n')

const ENVELOPE_FIELDS = ['v', 'kind', 'author', 'seq', 'lamport', 'deps', 'time', 'body', 'sig'] as const
const GENESIS_FIELDS = ['v', 'kind', 'lamport', 'deps', 'body'] as const

export function eventId (bytes: Uint8Array): EventId {
  // One-shot: about twice as fast as createHash for an event's few hundred bytes.
  return hash('sha256', bytes, 'hex')
}

function signingPayload (unsignedWire: WireMap): Uint8Array {
  const encoded = dagCbor.encode(unsignedWire)
  return concat([SIGNING_DOMAIN, encoded], SIGNING_DOMAIN.length + encoded.length)
}

/** The oldest format that expresses an event: an approved takeover needs format 2, a checkpoint 3. */
function formatOf (e: UnsignedEvent | AuthoredEvent): number {
  if (e.kind === 'checkpoint') return 3
  return e.kind === 'takeover' && (e.body as TakeoverBody).approval !== undefined ? 2 : 1
}

function authoredToWire (e: UnsignedEvent | AuthoredEvent): WireMap {
  const codec = BODY_CODECS[e.kind] as { toWire: (b: unknown) => WireMap }
  return {
    v: formatOf(e),
    kind: e.kind,
    author: peerToWire(e.author),
    seq: e.seq,
    lamport: e.lamport,
    deps: idsToWire(e.deps),
    time: e.time,
    body: codec.toWire(e.body)
  }
}

/**
 * Encodes and signs an event. The result is re-read through the strict
 * decoder (without re-verifying), so what we sign is exactly what every peer
 * will decode, and a malformed body is caught here as a bug, not by a peer.
 */
export function signEvent (unsigned: UnsignedEvent, signer: Signer): SignedEvent<AuthoredEvent> {
  if (unsigned.author !== signer.author) throw new EventError('bad-signature', `event author ${unsigned.author} is not the signer ${signer.author}`)
  const wire = authoredToWire(unsigned)
  wire.sig = signer.sign(signingPayload(wire))
  const bytes = plainBytes(dagCbor.encode(wire))
  if (bytes.length > MAX_EVENT_BYTES) throw new EventError('oversized', `event of ${bytes.length} bytes exceeds ${MAX_EVENT_BYTES}`)
  const id = eventId(bytes)
  // Read the event back from the wire map (not the bytes: same content,
  // no CBOR decode), so callers hold exactly what every peer will decode.
  const event = parseWire(wire, null, false) as AuthoredEvent
  return { id, bytes, event }
}

/**
 * Signs an event in a format newer than this build writes (`v` above
 * EVENT_FORMAT_VERSION), with the envelope every version keeps and a plain
 * CBOR body. weft never writes these itself: they let tests show what a peer
 * of this version does with events from a newer one (DESIGN.md §2.1).
 */
export function signFutureEvent (
  unsigned: Omit<FutureEvent, 'v' | 'kind' | 'futureKind' | 'body'> & { v: number, futureKind: string, body?: WireMap },
  signer: Signer
): SignedEvent<FutureEvent> {
  if (unsigned.v <= EVENT_FORMAT_VERSION) throw new EventError('malformed', `a future event needs v > ${EVENT_FORMAT_VERSION}`)
  if (unsigned.author !== signer.author) throw new EventError('bad-signature', `event author ${unsigned.author} is not the signer ${signer.author}`)
  const wire: WireMap = {
    v: unsigned.v,
    kind: unsigned.futureKind,
    author: peerToWire(unsigned.author),
    seq: unsigned.seq,
    lamport: unsigned.lamport,
    deps: idsToWire(unsigned.deps),
    time: unsigned.time,
    ...(unsigned.body !== undefined ? { body: unsigned.body } : {})
  }
  wire.sig = signer.sign(signingPayload(wire))
  const bytes = plainBytes(dagCbor.encode(wire))
  return decodeEvent(bytes, { verifier: null }) as SignedEvent<FutureEvent>
}

/** The unsigned genesis event: a pure function of range and seeds, so every seed computes the same id. */
export function createGenesis (body: GenesisBody): SignedEvent<GenesisEvent> {
  const wire: WireMap = {
    v: 1,
    kind: 'genesis',
    lamport: 1,
    deps: [],
    body: BODY_CODECS.genesis.toWire(body)
  }
  const bytes = plainBytes(dagCbor.encode(wire))
  return { id: eventId(bytes), bytes, event: parseWire(dagCbor.decode(bytes), null) as GenesisEvent }
}

export interface DecodeOptions {
  /** Checks signatures; `null` skips them (for bytes read back from our own store). */
  verifier?: Verifier | null
  /** When the id is known (an Automerge key, a rival id), the bytes must hash to it. */
  expectedId?: EventId
  /**
   * Bytes from our own store, written only after full checks: skip the
   * canonical-form checks too (they cost more than the decoding itself).
   * Structure is still checked. Never for bytes from the network. With
   * `expectedId` (the store's key) the id is trusted too: no hashing.
   */
  trusted?: boolean
}

/** Strictly decodes (and by default verifies) an event's bytes. Throws EventError. */
export function decodeEvent (bytes: Uint8Array, opts: DecodeOptions = {}): SignedEvent {
  if (bytes.length > MAX_EVENT_BYTES) throw new EventError('oversized', `event of ${bytes.length} bytes exceeds ${MAX_EVENT_BYTES}`)
  const trusted = opts.trusted === true
  const id = trusted && opts.expectedId !== undefined ? opts.expectedId : eventId(bytes)
  if (opts.expectedId !== undefined && opts.expectedId !== id) {
    throw new EventError('wrong-id', `bytes hash to ${id}, not ${opts.expectedId}`)
  }
  // The fast decoder takes only canonical bytes, so what it decodes needs no
  // re-encoding; everything else goes the general way, which words the refusal.
  const canonical = decodeCanonical(bytes, { entries: !trusted })
  let decoded: unknown
  if (canonical !== undefined) {
    decoded = canonical.value
  } else {
    try {
      decoded = dagCbor.decode(bytes)
    } catch (err) {
      throw new EventError('undecodable', `not DAG-CBOR: ${(err as Error).message}`)
    }
    if (!trusted) {
      let reencoded: Uint8Array
      try {
        reencoded = dagCbor.encode(decoded)
      } catch (err) {
        throw new EventError('non-canonical', `cannot be re-encoded: ${(err as Error).message}`)
      }
      if (!equals(reencoded, bytes)) throw new EventError('non-canonical', 'bytes are not in canonical DAG-CBOR form')
    }
  }
  const verifier = trusted ? null : opts.verifier === undefined ? defaultVerifier : opts.verifier
  const source = canonical === undefined ? undefined : { bytes, entries: canonical.entries }
  return { id, bytes, event: parseWire(decoded, verifier, trusted, source) }
}

function parseDeps (value: unknown): string[] {
  return expectIdSet(value, 'deps', MAX_DEPS)
}

/** Canonical bytes and where their root map's entries lie: the signing payload is cut from them. */
interface CanonicalSource { bytes: Uint8Array, entries: RootEntry[] }

function parseWire (decoded: unknown, verifier: Verifier | null, trusted = false, source?: CanonicalSource): WeftEvent {
  const top = expectMap(decoded, 'event', [], ENVELOPE_FIELDS)
  const v = expectInt(top.v, 'v', 1)
  if (v > EVENT_FORMAT_VERSION) return parseFuture(top, v, verifier, source)
  const kind = expectString(top.kind, 'kind', 32)
  if (!(EVENT_KINDS as readonly string[]).includes(kind)) throw new EventError('unknown-kind', `unknown event kind "${kind}"`)
  const decodeEvidence = (bytes: Uint8Array, field: string): void => {
    let inner: SignedEvent
    try {
      inner = decodeEvent(bytes, { verifier, trusted })
    } catch (err) {
      throw malformed(field, `bad evidence event: ${(err as Error).message}`)
    }
    if (inner.event.kind === 'conflict' || inner.event.kind === 'genesis') throw malformed(field, `a ${inner.event.kind} event cannot be evidence`)
  }

  if (kind === 'genesis') {
    const m = expectMap(top, 'event', GENESIS_FIELDS)
    expectInt(m.lamport, 'lamport', 1, 1)
    if (parseDeps(m.deps).length !== 0) throw malformed('deps', 'genesis has no deps')
    if (v !== 1) throw malformed('v', 'a genesis is written in format 1')
    return { v, kind, lamport: 1, deps: [], body: BODY_CODECS.genesis.fromWire(m.body, decodeEvidence, trusted, v) }
  }

  const m = expectMap(top, 'event', ENVELOPE_FIELDS)
  const authorBytes = expectBytes(m.author, 'author')
  if (!isEd25519PeerIdBytes(authorBytes)) throw malformed('author', 'not an Ed25519 PeerId')
  const author = peerNameFromBytes(authorBytes)
  const seq = expectInt(m.seq, 'seq', 1)
  const lamport = expectInt(m.lamport, 'lamport', 2)
  const deps = parseDeps(m.deps)
  if (deps.length === 0) throw malformed('deps', 'an authored event has at least one dep')
  const time = expectInt(m.time, 'time', 0)
  const sig = expectBytes(m.sig, 'sig', 64)
  const codec = BODY_CODECS[kind as Exclude<EventKind, 'genesis'>] as { fromWire: (w: unknown, d: typeof decodeEvidence, trusted: boolean, v: number) => unknown }
  const body = codec.fromWire(m.body, decodeEvidence, trusted, v)
  if (verifier !== null) {
    verifySignature(m, author, sig, verifier, source)
    // An approval's votes are signatures too: checked once, like the event's.
    const approval = kind === 'takeover' ? (body as TakeoverBody).approval : undefined
    if (approval !== undefined) verifyApproval(approval, (body as TakeoverBody).from, author, verifier)
  }
  const event = { v, kind, author, seq, lamport, deps, time, body } as AuthoredEvent
  // One event, one encoding: the format is the oldest that expresses it.
  if (v !== formatOf(event)) throw malformed('v', `format ${v} is not how this ${kind} is written (format ${formatOf(event)})`)
  return event
}

function verifySignature (m: WireMap, author: string, sig: Uint8Array, verifier: Verifier, source?: CanonicalSource): void {
  let payload: Uint8Array
  if (source !== undefined) {
    payload = payloadFromCanonical(source)
  } else {
    const { sig: _omit, ...unsigned } = m
    payload = signingPayload(unsigned)
  }
  if (!verifier.verify(author, payload, sig)) {
    throw new EventError('bad-signature', `signature does not verify for author ${author}`)
  }
}

/**
 * The signing payload without encoding anything: canonical bytes minus the
 * `sig` entry are exactly the canonical encoding of the map without it (the
 * other entries keep their order), once the map's head counts one entry less.
 */
function payloadFromCanonical ({ bytes, entries }: CanonicalSource): Uint8Array {
  const sig = entries.findIndex(e => e.key === 'sig')
  if (sig < 0) throw new Error('payloadFromCanonical: no sig entry') // the envelope check has seen one
  const { start, end } = entries[sig]!
  const head = mapHead(entries.length - 1)
  const first = entries[0]!.start // the old head's length
  const out = new Uint8Array(SIGNING_DOMAIN.length + head.length + (start - first) + (bytes.length - end))
  let at = 0
  out.set(SIGNING_DOMAIN, at); at += SIGNING_DOMAIN.length
  out.set(head, at); at += head.length
  out.set(bytes.subarray(first, start), at); at += start - first
  out.set(bytes.subarray(end), at)
  return out
}

/**
 * A newer event format: we check what every version keeps (an authored,
 * signed envelope) and carry the rest opaquely.
 */
function parseFuture (top: WireMap, v: number, verifier: Verifier | null, source?: CanonicalSource): FutureEvent {
  // A newer format may add fields; only the envelope every version keeps is checked.
  const required = ['v', 'kind', 'author', 'seq', 'lamport', 'deps', 'time', 'sig']
  const m = expectMap(top, 'event', required, Object.keys(top).filter(k => !required.includes(k)))
  const authorBytes = expectBytes(m.author, 'author')
  if (!isEd25519PeerIdBytes(authorBytes)) throw malformed('author', 'not an Ed25519 PeerId')
  const author = peerNameFromBytes(authorBytes)
  const sig = expectBytes(m.sig, 'sig', 64)
  const event: FutureEvent = {
    v,
    kind: 'future',
    futureKind: expectString(m.kind, 'kind', 32),
    author,
    seq: expectInt(m.seq, 'seq', 1),
    lamport: expectInt(m.lamport, 'lamport', 2),
    deps: parseDeps(m.deps),
    time: expectInt(m.time, 'time', 0),
    body: m.body
  }
  if (event.deps.length === 0) throw malformed('deps', 'an authored event has at least one dep')
  if (verifier !== null) verifySignature(m, author, sig, verifier, source)
  return event
}

/** cborg hands back a Buffer on Node; events carry plain Uint8Arrays everywhere. */
function plainBytes (b: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(b) === Uint8Array.prototype ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}
