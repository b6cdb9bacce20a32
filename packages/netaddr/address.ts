import ipaddr from 'ipaddr.js'
import { NetaddrError, quote } from './errors.js'

export type Family = 4 | 6

/** An IP address as a plain integer so that all maths is bigint arithmetic. */
export interface Address {
  readonly family: Family
  /** 0..2^32-1 for IPv4, 0..2^128-1 for IPv6. */
  readonly value: bigint
}

/** POW2[k] = 2^k for k in 0..128; shifting a fresh bigint each time is measurably slower in hot loops. */
export const POW2: readonly bigint[] = Object.freeze(
  Array.from({ length: 129 }, (_, k) => 1n << BigInt(k))
)

export function familyBits (f: Family): 32 | 128 {
  if (f === 4) return 32
  if (f === 6) return 128
  throw new NetaddrError('invalid-argument', `invalid address family ${quote(f)} (expected 4 or 6)`)
}

/** One past the largest address: 2^32 or 2^128. */
export function familyEnd (f: Family): bigint {
  return POW2[familyBits(f)]!
}

export function familyName (f: Family): string {
  return f === 4 ? 'IPv4' : 'IPv6'
}

export function checkFamily (f: unknown): Family {
  familyBits(f as Family)
  return f as Family
}

export function sameFamily (a: Family, b: Family, what: string): void {
  if (a !== b) {
    throw new NetaddrError('family-mismatch', `cannot ${what} ${familyName(a)} and ${familyName(b)}`)
  }
}

/** Throws unless `v` is a bigint inside the family's address space. */
export function checkValue (f: Family, v: unknown, what = 'address value'): bigint {
  if (typeof v !== 'bigint' || v < 0n || v >= familyEnd(f)) {
    throw new NetaddrError('invalid-address', `${what} ${quote(v)} is not a valid ${familyName(f)} address`)
  }
  return v
}

/** Validating constructor; also the way to re-check an Address that came from outside TypeScript. */
export function address (family: Family, value: bigint): Address {
  checkFamily(family)
  checkValue(family, value)
  return Object.freeze({ family, value })
}

function checkAddress (a: Address): void {
  if (a === null || typeof a !== 'object') {
    throw new NetaddrError('invalid-address', `invalid address object ${quote(a)}`)
  }
  checkValue(checkFamily(a.family), a.value)
}

export function compareAddress (a: Address, b: Address): number {
  checkAddress(a)
  checkAddress(b)
  sameFamily(a.family, b.family, 'compare')
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0
}

// Longest valid text is "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"; the
// cap also keeps hostile input away from ipaddr.js's backtracking regexes.
const MAX_TEXT = 45
const IPV6_CHARS = /^[0-9a-fA-F:.]+$/

function parseV6 (s: string): bigint | undefined {
  // Our own character filter rejects zone ids ("fe80::1%eth0"): an Address
  // has nowhere to keep one, and dropping it silently would change meaning.
  if (!IPV6_CHARS.test(s)) return undefined
  let text = s
  const lastColon = s.lastIndexOf(':')
  const tail = s.slice(lastColon + 1)
  if (tail.includes('.')) {
    // ipaddr.js is lax about an embedded dotted quad (accepts 01.2.3.4 and
    // 0x1.2.3.4) and rewrites "::1.2.3.4" to "::ffff:1.2.3.4", changing the
    // address. Converting the quad to two hex groups ourselves avoids both.
    if (!ipaddr.IPv4.isValidFourPartDecimal(tail)) return undefined
    const o = ipaddr.IPv4.parse(tail).octets
    text = s.slice(0, lastColon + 1) +
      ((o[0]! << 8) | o[1]!).toString(16) + ':' + ((o[2]! << 8) | o[3]!).toString(16)
  }
  if (!ipaddr.IPv6.isValid(text)) return undefined
  let v = 0n
  for (const part of ipaddr.IPv6.parse(text).parts) v = (v << 16n) | BigInt(part)
  return v
}

export function parseAddress (s: string): Address {
  if (typeof s === 'string' && s.length <= MAX_TEXT) {
    // isValidFourPartDecimal, not isValid: the latter accepts "10.1",
    // "0x0a.0.0.1" and reads "010.0.0.1" as octal.
    if (ipaddr.IPv4.isValidFourPartDecimal(s)) {
      const o = ipaddr.IPv4.parse(s).octets
      return Object.freeze({ family: 4, value: BigInt(((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0) })
    }
    if (s.includes(':')) {
      const v = parseV6(s)
      if (v !== undefined) return Object.freeze({ family: 6, value: v })
    }
  }
  throw new NetaddrError('invalid-address', `invalid IP address ${quote(s)}`)
}

/** Format without validation; callers have already checked `v`. */
export function formatValue (f: Family, v: bigint): string {
  if (f === 4) {
    const n = Number(v)
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
  }
  const parts = new Array<number>(8)
  for (let i = 7; i >= 0; i--) {
    parts[i] = Number(v & 0xffffn)
    v >>= 16n
  }
  return new ipaddr.IPv6(parts).toRFC5952String()
}

export function formatAddress (a: Address): string {
  checkAddress(a)
  return formatValue(a.family, a.value)
}

export function valueToBytes (f: Family, v: bigint): Uint8Array {
  const out = new Uint8Array(f === 4 ? 4 : 16)
  for (let i = out.length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn)
    v >>= 8n
  }
  return out
}

export function addressToBytes (a: Address): Uint8Array {
  checkAddress(a)
  return valueToBytes(a.family, a.value)
}

export function addressFromBytes (b: Uint8Array): Address {
  if (!(b instanceof Uint8Array) || (b.length !== 4 && b.length !== 16)) {
    const len = b instanceof Uint8Array ? `${b.length} bytes` : quote(b)
    throw new NetaddrError('invalid-address', `invalid IP address bytes: ${len} (expected 4 or 16 bytes)`)
  }
  let v = 0n
  for (const byte of b) v = (v << 8n) | BigInt(byte)
  return Object.freeze({ family: b.length === 4 ? 4 : 6, value: v })
}
