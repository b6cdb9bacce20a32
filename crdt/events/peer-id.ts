import { base58btc } from 'multiformats/bases/base58'
import { compare } from 'uint8arrays/compare'
import { concat } from 'uint8arrays/concat'
import { equals } from 'uint8arrays/equals'

/**
 * Peer names are libp2p Ed25519 PeerIds. On the wire an author is the PeerId's
 * multihash bytes (identity hash of the protobuf public key, 38 bytes); in
 * memory it is the base58btc text users see ("12D3KooW…"). Both directions are
 * pure, so crdt/ needs no libp2p import to verify a signature.
 */
export type PeerName = string

// identity multihash (0x00), length 36, protobuf {Type: Ed25519 (1), Data: 32 bytes}
const ED25519_PEER_PREFIX = Uint8Array.of(0x00, 0x24, 0x08, 0x01, 0x12, 0x20)
export const PEER_ID_BYTES = ED25519_PEER_PREFIX.length + 32

export function isEd25519PeerIdBytes (bytes: Uint8Array): boolean {
  return bytes.length === PEER_ID_BYTES && equals(bytes.subarray(0, ED25519_PEER_PREFIX.length), ED25519_PEER_PREFIX)
}

export function peerIdBytesFromPublicKey (publicKey: Uint8Array): Uint8Array {
  if (publicKey.length !== 32) throw new TypeError('an Ed25519 public key has 32 bytes')
  return concat([ED25519_PEER_PREFIX, publicKey], PEER_ID_BYTES)
}

export function publicKeyFromPeerIdBytes (bytes: Uint8Array): Uint8Array {
  if (!isEd25519PeerIdBytes(bytes)) throw new TypeError('not an Ed25519 PeerId')
  return bytes.subarray(ED25519_PEER_PREFIX.length)
}

const nameCache = new Map<string, Uint8Array>()

// base58 is slow (big-number division); a cluster has few peers, so decoding
// thousands of events keeps asking for the same handful of names. Keyed by a
// hash of the bytes (then compared), so a lookup allocates nothing.
const bytesCache = new Map<number, Array<{ bytes: Uint8Array, name: PeerName }>>()
let bytesCached = 0

function hashBytes (bytes: Uint8Array): number {
  let h = 0x811c9dc5
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193)
  return h
}

export function peerNameFromBytes (bytes: Uint8Array): PeerName {
  const h = hashBytes(bytes)
  const bucket = bytesCache.get(h)
  if (bucket !== undefined) {
    for (const e of bucket) if (compareBytes(e.bytes, bytes) === 0) return e.name
  }
  const name = base58btc.baseEncode(bytes)
  if (bytesCached > 10_000) { bytesCache.clear(); bytesCached = 0 }
  const entry = { bytes: bytes.slice(), name }
  if (bucket !== undefined && bytesCache.has(h)) bucket.push(entry)
  else bytesCache.set(h, [entry])
  bytesCached++
  return name
}

/** Parses a peer name; throws TypeError when it is not an Ed25519 PeerId. */
export function peerNameToBytes (name: PeerName): Uint8Array {
  const cached = nameCache.get(name)
  if (cached !== undefined) return cached
  let bytes: Uint8Array
  try {
    bytes = base58btc.baseDecode(name)
  } catch {
    throw new TypeError(`not a peer name: "${name}"`)
  }
  if (!isEd25519PeerIdBytes(bytes)) throw new TypeError(`not an Ed25519 peer name: "${name}"`)
  if (nameCache.size > 10_000) nameCache.clear()
  nameCache.set(name, bytes)
  return bytes
}

export function isPeerName (name: string): boolean {
  try {
    peerNameToBytes(name)
    return true
  } catch {
    return false
  }
}

/** Bytewise order (shorter first on a common prefix): negative, zero or positive, for sort. */
export const compareBytes: (a: Uint8Array, b: Uint8Array) => number = compare

/** Orders peer names by their PeerId bytes, the order DESIGN.md §2.2 asks for. */
export function comparePeerNames (a: PeerName, b: PeerName): number {
  return compareBytes(peerNameToBytes(a), peerNameToBytes(b))
}

/** Short form for people: the last 6 characters, as `…AbC123`. */
export function shortPeerName (name: PeerName): string {
  return name.length > 8 ? '…' + name.slice(-6) : name
}
