import { type Family, POW2, checkFamily, familyBits, familyEnd, familyName } from './address.js'
import { type Cidr, makeCidr } from './cidr.js'
import { NetaddrError, quote } from './errors.js'

/**
 * Half-open [start, end). Half-open so that the whole IPv6 space is one span
 * ([0, 2^128)) and the empty span is representable without sentinels.
 */
export type Span = readonly [start: bigint, end: bigint]

export function checkSpan (f: Family, span: Span): Span {
  checkFamily(f)
  if (span === null || typeof span !== 'object' || span.length !== 2) {
    throw new NetaddrError('invalid-span', `invalid span ${quote(span)} (expected [start, end])`)
  }
  const [s, e] = span
  if (typeof s !== 'bigint' || typeof e !== 'bigint' || s < 0n || s > e || e > familyEnd(f)) {
    throw new NetaddrError('invalid-span',
      `invalid ${familyName(f)} span [${quote(s)}, ${quote(e)}) (need 0 <= start <= end <= 2^${familyBits(f)})`)
  }
  return span
}

/**
 * Walk the minimal aligned-block decomposition of [s, e), calling
 * `emit(first, log2size)` in address order. Two phases: going up, peel the
 * smallest block that `s` is aligned to until the next one would overshoot
 * `e`; then `s` is aligned to more than what is left, so the rest is the
 * binary expansion of e - s, largest block first. O(bits) bigint operations
 * per span however many addresses it holds. Each emitted block is a maximal
 * aligned block inside [s, e), which is what makes the result minimal and
 * lets biggestAlignedBlock reuse this walk.
 */
export function forEachBlock (bits: number, s: bigint, e: bigint, emit: (first: bigint, k: number) => void): void {
  let k = 0
  for (; k < bits && s < e; k++) {
    const size = POW2[k]!
    if ((s & size) === 0n) continue
    if (s + size > e) break
    emit(s, k)
    s += size
  }
  for (; k >= 0 && s < e; k--) {
    const size = POW2[k]!
    if (s + size <= e) {
      emit(s, k)
      s += size
    }
  }
}

export function spanToCidrs (family: Family, span: Span): Cidr[] {
  checkSpan(family, span)
  const bits = familyBits(family)
  const out: Cidr[] = []
  forEachBlock(bits, span[0], span[1], (first, k) => out.push(makeCidr(family, first, bits - k)))
  return out
}
