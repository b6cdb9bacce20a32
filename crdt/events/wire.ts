import { cidrFromBytes, cidrToBytes, RangeSet, type Cidr, type Family } from '../../packages/netaddr/index.js'
import { EventError } from './errors.js'
import { compareBytes, isEd25519PeerIdBytes, peerNameFromBytes, peerNameToBytes, type PeerName } from './peer-id.js'
import type { EventId } from './types.js'

/**
 * Shape checks for decoded DAG-CBOR values, shared by decoding (untrusted
 * input) and encoding (our own values, where a failure is a bug). Each check
 * throws EventError('malformed') naming the field, so a peer's log line says
 * exactly what was wrong with the bytes it was sent.
 */

export type WireMap = Record<string, unknown>
/** A range on the wire: first address bytes and prefix length, so IPv6 fits. */
export type WireRange = [Uint8Array, number]

export const MAX_RANGES = 4096
export const MAX_DEPS = 256
export const MAX_SEEDS = 1024
export const MAX_PARTIES = 64

export function malformed (field: string, why: string): EventError {
  return new EventError('malformed', `${field}: ${why}`)
}

export function expectMap (value: unknown, field: string, required: readonly string[], optional: readonly string[] = []): WireMap {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw malformed(field, 'expected a map')
  }
  const map = value as WireMap
  for (const key of Object.keys(map)) {
    if (!required.includes(key) && !optional.includes(key)) throw malformed(field, `unexpected field "${key}"`)
  }
  for (const key of required) if (!(key in map)) throw malformed(field, `missing field "${key}"`)
  return map
}

export function expectInt (value: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw malformed(field, `expected an integer in [${min}, ${max}]`)
  }
  return value
}

export function expectString (value: unknown, field: string, maxLength: number): string {
  if (typeof value !== 'string') throw malformed(field, 'expected text')
  if (value.length > maxLength) throw malformed(field, `longer than ${maxLength} characters`)
  return value
}

export function expectBytes (value: unknown, field: string, length?: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw malformed(field, 'expected bytes')
  if (length !== undefined && value.length !== length) throw malformed(field, `expected ${length} bytes`)
  return value
}

export function expectArray (value: unknown, field: string, maxLength: number): unknown[] {
  if (!Array.isArray(value)) throw malformed(field, 'expected a list')
  if (value.length > maxLength) throw malformed(field, `more than ${maxLength} entries`)
  return value
}

export function expectPeer (value: unknown, field: string): PeerName {
  const bytes = expectBytes(value, field)
  if (!isEd25519PeerIdBytes(bytes)) throw malformed(field, 'not an Ed25519 PeerId')
  return peerNameFromBytes(bytes)
}

/** A list of byte strings in strictly increasing byte order (a canonical set). */
export function expectSortedBytesList (value: unknown, field: string, maxLength: number, itemLength?: number): Uint8Array[] {
  const list = expectArray(value, field, maxLength).map((v, i) => expectBytes(v, `${field}[${i}]`, itemLength))
  for (let i = 1; i < list.length; i++) {
    if (compareBytes(list[i - 1]!, list[i]!) >= 0) throw malformed(field, 'not sorted, or has duplicates')
  }
  return list
}

export function expectPeerSet (value: unknown, field: string, maxLength: number): PeerName[] {
  const list = expectSortedBytesList(value, field, maxLength)
  return list.map((bytes, i) => {
    if (!isEd25519PeerIdBytes(bytes)) throw malformed(`${field}[${i}]`, 'not an Ed25519 PeerId')
    return peerNameFromBytes(bytes)
  })
}

export function expectIdSet (value: unknown, field: string, maxLength: number): EventId[] {
  return expectSortedBytesList(value, field, maxLength, 32).map(idHex)
}

const HEX_DIGITS = Uint16Array.from('0123456789abcdef', c => c.charCodeAt(0))
const hexScratch = new Uint16Array(64)

/** Lower-case hex of a 32-byte id, built in one go (no Buffer wrapper per call: decoding makes one per dep). */
function idHex (bytes: Uint8Array): string {
  if (bytes.length !== 32) throw new RangeError(`an id has 32 bytes, not ${bytes.length}`) // expectSortedBytesList checked it
  const out = hexScratch
  for (let i = 0; i < 32; i++) {
    const b = bytes[i]!
    out[2 * i] = HEX_DIGITS[b >> 4]!
    out[2 * i + 1] = HEX_DIGITS[b & 15]!
  }
  return String.fromCharCode.apply(null, out as unknown as number[])
}

/**
 * A canonical range list: every entry a valid CIDR of one family, the list
 * exactly the minimal sorted CIDR decomposition of its union. Canonical lists
 * make "same ranges" mean "same bytes", which resolve agreement relies on.
 */
export function expectRanges (value: unknown, field: string, opts: { nonEmpty?: boolean, family?: Family, trusted?: boolean } = {}): Cidr[] {
  const list = expectArray(value, field, MAX_RANGES)
  if (opts.nonEmpty === true && list.length === 0) throw malformed(field, 'must not be empty')
  const cidrs = list.map((item, i) => {
    const pair = expectArray(item, `${field}[${i}]`, 2)
    if (pair.length !== 2) throw malformed(`${field}[${i}]`, 'expected [address bytes, prefix length]')
    const bytes = expectBytes(pair[0], `${field}[${i}][0]`)
    const prefix = expectInt(pair[1], `${field}[${i}][1]`, 0, 128)
    try {
      return cidrFromBytes(bytes, prefix)
    } catch (err) {
      throw malformed(`${field}[${i}]`, (err as Error).message)
    }
  })
  if (cidrs.length === 0) return cidrs
  const family = opts.family ?? cidrs[0]!.family
  if (cidrs.some(c => c.family !== family)) throw malformed(field, 'mixes address families')
  if (opts.trusted === true) return cidrs
  const canonical = RangeSet.fromCidrs(family, cidrs).toCidrs()
  const same = canonical.length === cidrs.length && canonical.every((c, i) => c.first === cidrs[i]!.first && c.prefix === cidrs[i]!.prefix)
  if (!same) throw malformed(field, 'not a minimal sorted CIDR list')
  return cidrs
}

export function rangesToWire (cidrs: readonly Cidr[]): WireRange[] {
  return cidrs.map(c => {
    const { bytes, prefix } = cidrToBytes(c)
    return [bytes, prefix]
  })
}

export function peerToWire (name: PeerName): Uint8Array {
  return peerNameToBytes(name)
}

export function peersToWire (names: readonly PeerName[]): Uint8Array[] {
  return names.map(peerNameToBytes).sort(compareBytes)
}

export function idsToWire (ids: readonly EventId[]): Uint8Array[] {
  return ids.map(id => {
    if (!/^[0-9a-f]{64}$/.test(id)) throw malformed('id', `not a 64-character hex digest: "${id}"`)
    return new Uint8Array(Buffer.from(id, 'hex'))
  }).sort(compareBytes)
}
