import {
  type Family, POW2, checkFamily, checkValue, familyBits, familyName, formatValue, parseAddress,
  sameFamily, valueToBytes, addressFromBytes, type Address
} from './address.js'
import { NetaddrError, quote } from './errors.js'
import type { Span } from './span.js'

/** An aligned block of 2^(bits-prefix) addresses starting at `first`. */
export interface Cidr {
  readonly family: Family
  /** Lowest address of the block; its host bits are always zero. */
  readonly first: bigint
  readonly prefix: number
}

/** Trusted constructor for values already known to be aligned and in range. */
export function makeCidr (family: Family, first: bigint, prefix: number): Cidr {
  return Object.freeze({ family, first, prefix })
}

function checkPrefix (f: Family, prefix: unknown): number {
  const bits = familyBits(f)
  if (typeof prefix !== 'number' || !Number.isInteger(prefix) || prefix < 0 || prefix > bits) {
    throw new NetaddrError('invalid-cidr', `invalid ${familyName(f)} prefix length ${quote(prefix)} (expected 0..${bits})`)
  }
  return prefix
}

function hostMask (f: Family, prefix: number): bigint {
  return POW2[familyBits(f) - prefix]! - 1n
}

function hostBitsError (f: Family, v: bigint, prefix: number): NetaddrError {
  const given = `${formatValue(f, v)}/${prefix}`
  const masked = `${formatValue(f, v & ~hostMask(f, prefix))}/${prefix}`
  return new NetaddrError('host-bits-set', `CIDR ${quote(given)} has host bits set (did you mean ${masked}?)`)
}

function validate (family: Family, first: bigint, prefix: number): void {
  checkFamily(family)
  checkValue(family, first, 'CIDR first address')
  checkPrefix(family, prefix)
  if ((first & hostMask(family, prefix)) !== 0n) throw hostBitsError(family, first, prefix)
}

/** Validating constructor. */
export function cidr (family: Family, first: bigint, prefix: number): Cidr {
  validate(family, first, prefix)
  return makeCidr(family, first, prefix)
}

/**
 * Re-validate a Cidr that may have been built by hand (or by JavaScript):
 * the interface is structural, so a Cidr argument proves nothing.
 */
export function checkCidr (c: Cidr): Cidr {
  if (c === null || typeof c !== 'object') {
    throw new NetaddrError('invalid-cidr', `invalid CIDR object ${quote(c)}`)
  }
  validate(c.family, c.first, c.prefix)
  return c
}

export interface ParseCidrOptions {
  /** Default true: reject host bits ("10.32.1.0/12") instead of masking them off. */
  readonly strict?: boolean
  /** Accept a bare address as a single-address block (/32 or /128). Default false. */
  readonly allowBare?: boolean
}

// Decimal without sign or leading zeros, matching how addresses are read.
const PREFIX_TEXT = /^(0|[1-9][0-9]{0,2})$/

export function parseCidr (s: string, opts: ParseCidrOptions = {}): Cidr {
  if (typeof s !== 'string') throw new NetaddrError('invalid-cidr', `invalid CIDR ${quote(s)}`)
  const slash = s.indexOf('/')
  let addr: Address
  let prefix: number
  if (slash < 0) {
    if (opts.allowBare !== true) {
      throw new NetaddrError('invalid-cidr', `invalid CIDR ${quote(s)} (missing "/prefix")`)
    }
    addr = parseCidrAddress(s, s)
    prefix = familyBits(addr.family)
  } else {
    addr = parseCidrAddress(s, s.slice(0, slash))
    const ptext = s.slice(slash + 1)
    prefix = Number(ptext)
    if (!PREFIX_TEXT.test(ptext) || prefix > familyBits(addr.family)) {
      throw new NetaddrError('invalid-cidr',
        `invalid CIDR ${quote(s)} (prefix length must be 0..${familyBits(addr.family)})`)
    }
  }
  const mask = hostMask(addr.family, prefix)
  if ((addr.value & mask) !== 0n && opts.strict !== false) {
    throw new NetaddrError('host-bits-set',
      `CIDR ${quote(s)} has host bits set (did you mean ${formatValue(addr.family, addr.value & ~mask)}/${prefix}?)`)
  }
  return makeCidr(addr.family, addr.value & ~mask, prefix)
}

function parseCidrAddress (whole: string, text: string): Address {
  try {
    return parseAddress(text)
  } catch (err) {
    if (!(err instanceof NetaddrError)) throw err
    throw new NetaddrError('invalid-cidr', `invalid CIDR ${quote(whole)} (bad address ${quote(text)})`)
  }
}

export function formatCidr (c: Cidr): string {
  checkCidr(c)
  return `${formatValue(c.family, c.first)}/${c.prefix}`
}

export function cidrSize (c: Cidr): bigint {
  checkCidr(c)
  return POW2[familyBits(c.family) - c.prefix]!
}

export function cidrSpan (c: Cidr): Span {
  return Object.freeze([c.first, c.first + cidrSize(c)] as const)
}

export function cidrContains (c: Cidr, a: Address): boolean {
  checkCidr(c)
  if (a === null || typeof a !== 'object') {
    throw new NetaddrError('invalid-address', `invalid address object ${quote(a)}`)
  }
  sameFamily(c.family, a.family, 'test containment between')
  checkValue(a.family, a.value)
  return (a.value & ~hostMask(c.family, c.prefix)) === c.first
}

export function cidrToBytes (c: Cidr): { bytes: Uint8Array, prefix: number } {
  checkCidr(c)
  return { bytes: valueToBytes(c.family, c.first), prefix: c.prefix }
}

export function cidrFromBytes (bytes: Uint8Array, prefix: number): Cidr {
  const a = addressFromBytes(bytes)
  return cidr(a.family, a.value, prefix)
}

/** Address order, then shorter prefix (the enclosing block) first. */
export function compareCidr (a: Cidr, b: Cidr): number {
  checkCidr(a)
  checkCidr(b)
  sameFamily(a.family, b.family, 'compare')
  if (a.first !== b.first) return a.first < b.first ? -1 : 1
  return a.prefix - b.prefix
}

/**
 * Cut `c` into `n` aligned blocks the way repeated halving would (always the
 * largest block, lowest address first among equals), but built directly: after
 * the whole tree is split to depth t (2^t <= n < 2^(t+1)), the remaining
 * r = n - 2^t splits fall on the r lowest blocks. So the answer is 2r blocks at
 * depth t+1 followed by 2^t - r blocks at depth t — O(n), no priority queue.
 */
export function halveIntoBlocks (c: Cidr, n: number): Cidr[] {
  checkCidr(c)
  const bits = familyBits(c.family)
  const maxDepth = bits - c.prefix
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || BigInt(n) > POW2[maxDepth]!) {
    throw new NetaddrError('invalid-argument',
      `cannot halve ${formatCidr(c)} into ${quote(n)} blocks (expected 1..${POW2[maxDepth]!})`)
  }
  let t = 0
  while (2 ** (t + 1) <= n) t++
  const r = n - 2 ** t
  const out: Cidr[] = []
  const small = POW2[bits - c.prefix - t - 1] ?? 0n // unused when r = 0 and t = maxDepth
  let at = c.first
  for (let i = 0; i < 2 * r; i++) {
    out.push(makeCidr(c.family, at, c.prefix + t + 1))
    at += small
  }
  const big = POW2[bits - c.prefix - t]!
  for (let i = r; i < 2 ** t; i++) {
    out.push(makeCidr(c.family, at, c.prefix + t))
    at += big
  }
  return out
}
