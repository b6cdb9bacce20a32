import { type Family, POW2, checkFamily, checkValue, familyBits, sameFamily } from './address.js'
import { type Cidr, checkCidr, formatCidr, makeCidr } from './cidr.js'
import { NetaddrError, quote } from './errors.js'
import { type Span, checkSpan, forEachBlock } from './span.js'

type MutableSpan = [bigint, bigint]

function bySpanStart (a: Span, b: Span): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0
}

/**
 * An immutable set of addresses of one family, held as sorted, disjoint,
 * non-adjacent spans. Keeping spans coalesced makes the representation
 * canonical (equal sets have equal span lists), so equality and toCidrs are
 * plain walks, and every operation costs spans, never addresses.
 */
export class RangeSet {
  readonly family: Family
  readonly spans: readonly Span[]
  // Private fields survive Object.freeze(this), so size can be lazy.
  #size: bigint | undefined

  /** Trusts `spans` to be normalised already; only the statics and methods call it. */
  private constructor (family: Family, spans: Span[]) {
    this.family = family
    this.spans = Object.freeze(spans)
    Object.freeze(this)
  }

  static empty (family: Family): RangeSet {
    return new RangeSet(checkFamily(family), [])
  }

  static fromSpans (family: Family, spans: Iterable<Span>): RangeSet {
    checkFamily(family)
    const valid: Span[] = []
    for (const span of spans) {
      checkSpan(family, span)
      if (span[0] < span[1]) valid.push(span)
    }
    return RangeSet.#normalise(family, valid)
  }

  static fromCidrs (family: Family, cidrs: Iterable<Cidr>): RangeSet {
    checkFamily(family)
    const bits = familyBits(family)
    const spans: Span[] = []
    for (const c of cidrs) {
      checkCidr(c)
      sameFamily(family, c.family, 'mix')
      spans.push([c.first, c.first + POW2[bits - c.prefix]!])
    }
    return RangeSet.#normalise(family, spans)
  }

  /** Sort (unless already sorted, the common case for stored data) and coalesce valid, non-empty spans. */
  static #normalise (family: Family, spans: Span[]): RangeSet {
    for (let i = 1; i < spans.length; i++) {
      if (spans[i - 1]![0] > spans[i]![0]) {
        spans.sort(bySpanStart)
        break
      }
    }
    const out: Span[] = []
    let cur: MutableSpan | undefined
    for (const [s, e] of spans) {
      if (cur !== undefined && s <= cur[1]) {
        if (e > cur[1]) cur[1] = e
      } else {
        if (cur !== undefined) out.push(Object.freeze(cur))
        cur = [s, e]
      }
    }
    if (cur !== undefined) out.push(Object.freeze(cur))
    return new RangeSet(family, out)
  }

  get size (): bigint {
    if (this.#size === undefined) {
      let n = 0n
      for (const [s, e] of this.spans) n += e - s
      this.#size = n
    }
    return this.#size
  }

  get isEmpty (): boolean {
    return this.spans.length === 0
  }

  #other (o: RangeSet, what: string): readonly Span[] {
    if (!(o instanceof RangeSet)) {
      throw new NetaddrError('invalid-argument', `cannot ${what} a RangeSet and ${quote(o)}`)
    }
    sameFamily(this.family, o.family, what)
    return o.spans
  }

  union (o: RangeSet): RangeSet {
    const a = this.spans
    const b = this.#other(o, 'union')
    if (b.length === 0) return this
    if (a.length === 0) return o
    const out: Span[] = []
    let cur: MutableSpan | undefined
    let i = 0
    let j = 0
    while (i < a.length || j < b.length) {
      const next = j >= b.length || (i < a.length && a[i]![0] <= b[j]![0]) ? a[i++]! : b[j++]!
      if (cur !== undefined && next[0] <= cur[1]) {
        if (next[1] > cur[1]) cur[1] = next[1]
      } else {
        if (cur !== undefined) out.push(Object.freeze(cur))
        cur = [next[0], next[1]]
      }
    }
    out.push(Object.freeze(cur!))
    return new RangeSet(this.family, out)
  }

  subtract (o: RangeSet): RangeSet {
    const a = this.spans
    const b = this.#other(o, 'subtract')
    if (a.length === 0 || b.length === 0) return this
    const out: Span[] = []
    let j = 0
    for (const span of a) {
      let s = span[0]
      const e = span[1]
      while (j < b.length && b[j]![1] <= s) j++
      // j stays on a span of b that runs past e: it may also cut the next span of a.
      for (let k = j; k < b.length && b[k]![0] < e; k++) {
        const [bs, be] = b[k]!
        if (bs > s) out.push(Object.freeze([s, bs] as const))
        if (be >= e) {
          s = e
          break
        }
        s = be
        j = k + 1
      }
      if (s < e) out.push(s === span[0] ? span : Object.freeze([s, e] as const))
    }
    return new RangeSet(this.family, out)
  }

  intersect (o: RangeSet): RangeSet {
    const a = this.spans
    const b = this.#other(o, 'intersect')
    const out: Span[] = []
    let i = 0
    let j = 0
    while (i < a.length && j < b.length) {
      const [as, ae] = a[i]!
      const [bs, be] = b[j]!
      const s = as > bs ? as : bs
      const e = ae < be ? ae : be
      if (s < e) out.push(s === as && e === ae ? a[i]! : s === bs && e === be ? b[j]! : Object.freeze([s, e] as const))
      if (ae < be) i++
      else j++
    }
    return new RangeSet(this.family, out)
  }

  equals (o: RangeSet): boolean {
    const a = this.spans
    const b = this.#other(o, 'compare')
    if (a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) {
      if (a[i]![0] !== b[i]![0] || a[i]![1] !== b[i]![1]) return false
    }
    return true
  }

  /** Index of the last span starting at or below v, or -1. */
  #floor (v: bigint): number {
    const a = this.spans
    let lo = 0
    let hi = a.length - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if (a[mid]![0] <= v) {
        found = mid
        lo = mid + 1
      } else {
        hi = mid - 1
      }
    }
    return found
  }

  containsAddress (v: bigint): boolean {
    checkValue(this.family, v)
    const i = this.#floor(v)
    return i >= 0 && v < this.spans[i]![1]
  }

  /** o ⊆ this. */
  containsSet (o: RangeSet): boolean {
    const a = this.spans
    const b = this.#other(o, 'compare')
    let i = 0
    for (const [s, e] of b) {
      // Spans of `this` ending before e cannot hold [s, e); since they are
      // disjoint, the first one that reaches e is the only candidate.
      while (i < a.length && a[i]![1] < e) i++
      if (i >= a.length || a[i]![0] > s) return false
    }
    return true
  }

  overlaps (o: RangeSet): boolean {
    const a = this.spans
    const b = this.#other(o, 'compare')
    let i = 0
    let j = 0
    while (i < a.length && j < b.length) {
      if (a[i]![0] < b[j]![1] && b[j]![0] < a[i]![1]) return true
      if (a[i]![1] < b[j]![1]) i++
      else j++
    }
    return false
  }

  /**
   * Minimal CIDR list in address order. Spans are coalesced, so no block can
   * merge across a gap: decomposing each span minimally is globally minimal,
   * and the list is canonical.
   */
  toCidrs (): Cidr[] {
    const family = this.family
    const bits = familyBits(family)
    const out: Cidr[] = []
    const emit = (first: bigint, k: number): void => { out.push(makeCidr(family, first, bits - k)) }
    for (const [s, e] of this.spans) forEachBlock(bits, s, e, emit)
    return out
  }

  /**
   * Largest aligned block inside the set, lowest address on ties. Every
   * aligned block inside a span lies within one block of that span's minimal
   * decomposition, so the answer is the first largest block of those walks.
   */
  biggestAlignedBlock (): Cidr | undefined {
    const bits = familyBits(this.family)
    let bestFirst = 0n
    let bestK = -1
    let bestSize = 0n
    const emit = (first: bigint, k: number): void => {
      if (k > bestK) {
        bestFirst = first
        bestK = k
        bestSize = POW2[k]!
      }
    }
    for (const [s, e] of this.spans) {
      // A span no longer than the current best cannot hold a strictly bigger block.
      if (e - s > bestSize) forEachBlock(bits, s, e, emit)
    }
    return bestK < 0 ? undefined : makeCidr(this.family, bestFirst, bits - bestK)
  }

  /** Lowest address in the set, optionally only counting addresses inside `within`. */
  firstAddress (within?: Span): bigint | undefined {
    const a = this.spans
    if (within === undefined) return a[0]?.[0]
    const [ws, we] = checkSpan(this.family, within)
    if (ws >= we) return undefined
    let i = this.#floor(ws)
    if (i < 0 || a[i]![1] <= ws) i++
    if (i >= a.length) return undefined
    const s = a[i]![0] > ws ? a[i]![0] : ws
    return s < we ? s : undefined
  }

  toString (): string {
    if (this.spans.length === 0) return '∅'
    return this.toCidrs().map(formatCidr).join(', ')
  }
}
