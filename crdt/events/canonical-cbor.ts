/**
 * A decoder for the canonical DAG-CBOR that events are made of, several times
 * faster than the general one (no token objects), and strict: it accepts bytes
 * only when they are exactly what `dagCbor.encode` makes of the value it
 * returns. Anything else, including valid CBOR it does not handle (floats,
 * tags, big integers, non-ASCII text, deep nesting), returns undefined, and
 * the caller takes the general path: `@ipld/dag-cbor` decode, then re-encode
 * and compare. So a value from here needs no re-encoding to prove its bytes
 * canonical, and the general path still decides (and words) every refusal.
 * test/crdt/canonical-cbor.test.ts checks both claims against @ipld/dag-cbor.
 */

/** Where the root map's entries are: what the signing payload is cut from. */
export interface RootEntry { key: string, start: number, end: number }

export interface CanonicalValue {
  value: unknown
  /** The root map's entries in byte order (empty unless the root is a map). */
  entries: RootEntry[]
}

/** Deeper nesting goes the general way (and keeps recursion bounded on hostile input). */
const MAX_DEPTH = 32
const TWO_POW_32 = 2 ** 32

const MAX_CACHED_TEXT = 16
const TEXT_CACHE_SLOTS = 1024
const textCache: Array<string | undefined> = new Array<string | undefined>(TEXT_CACHE_SLOTS)

class NotCanonical extends Error {}
const NOT_CANONICAL = new NotCanonical()

/** `entries`: whether to say where the root map's entries are (only signatures need it). */
export function decodeCanonical (bytes: Uint8Array, opts: { entries?: boolean } = {}): CanonicalValue | undefined {
  const d = new Reader(bytes)
  try {
    const entries: RootEntry[] = []
    const value = d.item(0, opts.entries === true ? entries : undefined)
    if (d.pos !== bytes.length) return undefined
    return { value, entries }
  } catch (err) {
    if (err === NOT_CANONICAL) return undefined
    throw err
  }
}

class Reader {
  pos = 0
  constructor (private readonly b: Uint8Array) {}

  private byte (): number {
    if (this.pos >= this.b.length) throw NOT_CANONICAL
    return this.b[this.pos++]!
  }

  /** The argument of a head byte, refused unless in its shortest form. */
  private argument (info: number): number {
    if (info < 24) return info
    let n = 0
    let min = 0
    let size = 0
    if (info === 24) { size = 1; min = 24 } else if (info === 25) { size = 2; min = 0x100 } else if (info === 26) { size = 4; min = 0x10000 } else if (info === 27) { size = 8; min = TWO_POW_32 } else throw NOT_CANONICAL
    if (this.pos + size > this.b.length) throw NOT_CANONICAL
    for (let i = 0; i < size; i++) n = n * 256 + this.b[this.pos++]!
    if (n < min || !Number.isSafeInteger(n)) throw NOT_CANONICAL
    return n
  }

  private length (info: number): number {
    const n = this.argument(info)
    if (n > this.b.length - this.pos) throw NOT_CANONICAL
    return n
  }

  /** ASCII text only: anything else is left to the general decoder's UTF-8 handling. */
  private text (n: number): string {
    const { b } = this
    const start = this.pos
    const end = start + n
    let hash = 0
    for (let i = start; i < end; i++) {
      const c = b[i]!
      if (c >= 0x80) throw NOT_CANONICAL
      hash = Math.imul(hash ^ c, 0x01000193)
    }
    this.pos = end
    if (n > MAX_CACHED_TEXT) return asciiString(b, start, end)
    // Short texts (map keys, kinds) repeat in every event: one string each, not a new one per event.
    const slot = (hash >>> 0) % TEXT_CACHE_SLOTS
    const hit = textCache[slot]
    if (hit !== undefined && hit.length === n) {
      let same = true
      for (let i = 0; i < n; i++) if (hit.charCodeAt(i) !== b[start + i]) { same = false; break }
      if (same) return hit
    }
    const s = asciiString(b, start, end)
    textCache[slot] = s
    return s
  }

  item (depth: number, entries?: RootEntry[]): unknown {
    if (depth > MAX_DEPTH) throw NOT_CANONICAL
    const head = this.byte()
    const major = head >> 5
    const info = head & 31
    switch (major) {
      case 0: return this.argument(info)
      case 1: {
        const n = this.argument(info)
        if (n >= Number.MAX_SAFE_INTEGER) throw NOT_CANONICAL // -1 - n would need a bigint
        return -1 - n
      }
      case 2: {
        const n = this.length(info)
        const out = new Uint8Array(n)
        out.set(this.b.subarray(this.pos, this.pos + n))
        this.pos += n
        return out
      }
      case 3: return this.text(this.length(info))
      case 4: {
        const n = this.length(info) // each item takes at least one byte
        const out = new Array<unknown>(n)
        for (let i = 0; i < n; i++) out[i] = this.item(depth + 1)
        return out
      }
      case 5: return this.map(this.length(info), depth, entries)
      case 7:
        if (head === 0xf4) return false
        if (head === 0xf5) return true
        if (head === 0xf6) return null
        throw NOT_CANONICAL
      default: throw NOT_CANONICAL // tags
    }
  }

  /** Text keys only, in DAG-CBOR's order (shorter first, then bytewise), each once. */
  private map (n: number, depth: number, entries: RootEntry[] | undefined): Record<string, unknown> {
    const out: Record<string, unknown> = {}
    let prevStart = -1
    let prevLen = 0
    for (let i = 0; i < n; i++) {
      const start = this.pos
      const head = this.byte()
      if (head >> 5 !== 3) throw NOT_CANONICAL
      const len = this.length(head & 31)
      const keyStart = this.pos
      if (prevStart >= 0 && !this.after(prevStart, prevLen, keyStart, len)) throw NOT_CANONICAL
      const key = this.text(len)
      if (key === '__proto__') throw NOT_CANONICAL
      prevStart = keyStart
      prevLen = len
      out[key] = this.item(depth + 1)
      entries?.push({ key, start, end: this.pos })
    }
    return out
  }

  /** Is key b (at bStart, bLen bytes) strictly after key a in canonical order? */
  private after (aStart: number, aLen: number, bStart: number, bLen: number): boolean {
    if (aLen !== bLen) return bLen > aLen
    for (let i = 0; i < aLen; i++) {
      const d = this.b[bStart + i]! - this.b[aStart + i]!
      if (d !== 0) return d > 0
    }
    return false
  }
}

/** Bytes known to be ASCII as a string, in pieces small enough for `apply`'s argument limit. */
function asciiString (b: Uint8Array, start: number, end: number): string {
  let s = ''
  for (let at = start; at < end; at += 4096) {
    s += String.fromCharCode.apply(null, b.subarray(at, Math.min(end, at + 4096)) as unknown as number[])
  }
  return s
}

/** The head of a map of `n` entries, in its shortest form. */
export function mapHead (n: number): Uint8Array {
  if (n < 24) return Uint8Array.of(0xa0 + n)
  if (n < 0x100) return Uint8Array.of(0xb8, n)
  if (n < 0x10000) return Uint8Array.of(0xb9, n >> 8, n & 0xff)
  throw new RangeError(`a map of ${n} entries`)
}
