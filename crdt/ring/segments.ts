import type { MoveNode } from './records.js'

/**
 * The address space as a sorted list of immutable segments, each with the
 * frontier of moves that last touched it (its `heads`).
 *
 * Segments live in chunks of at most CHUNK_MAX, so splitting one costs a
 * splice of a small array instead of the whole list (a 100k-event history
 * has ~100k segments). Chunks are copy-on-write while a batch is open:
 * `save()` freezes them, the first write to a frozen chunk copies it, and
 * `restore()` puts the saved chunk list back.
 */
export interface Segment {
  readonly start: bigint
  readonly end: bigint
  /** Maximal moves of this interval, sorted by event arrival index. */
  readonly heads: readonly MoveNode[]
}

const CHUNK_MAX = 512

function sameHeads (a: readonly MoveNode[], b: readonly MoveNode[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

export interface SavedSegments { readonly chunks: Segment[][] }

export class SegmentMap {
  private chunks: Segment[][]
  private frozen = new Set<Segment[]>()
  /** Boundaries coalescing must keep (the edges of disputes known outside the move frontier). */
  private readonly pins = new Set<bigint>()

  /** The pinned boundaries, sorted. */
  pinned (): bigint[] { return [...this.pins].sort((a, b) => a < b ? -1 : a > b ? 1 : 0) }

  constructor (start: bigint, end: bigint) {
    this.chunks = [[{ start, end, heads: [] }]]
  }

  /** A map rebuilt from its segments (an epoch's base): sorted, contiguous, with the pinned boundaries. */
  static fromSegments (segments: readonly Segment[], pins: Iterable<bigint>): SegmentMap {
    const map = new SegmentMap(segments[0]!.start, segments[segments.length - 1]!.end)
    map.chunks = []
    for (let i = 0; i < segments.length; i += CHUNK_MAX / 2) map.chunks.push(segments.slice(i, i + CHUNK_MAX / 2))
    for (const a of pins) map.pins.add(a)
    return map
  }

  get start (): bigint { return this.chunks[0]![0]!.start }
  get end (): bigint { const last = this.chunks[this.chunks.length - 1]!; return last[last.length - 1]!.end }
  get count (): number { let n = 0; for (const c of this.chunks) n += c.length; return n }

  all (): Segment[] {
    const out: Segment[] = []
    for (const c of this.chunks) for (const s of c) out.push(s)
    return out
  }

  /** Keeps a boundary at `a` from being merged away; returns false if it already was. */
  pin (a: bigint): boolean {
    if (this.pins.has(a)) return false
    this.pins.add(a)
    return true
  }

  unpin (a: bigint): void { this.pins.delete(a) }

  private mergeable (a: Segment, b: Segment): boolean {
    return a.end === b.start && !this.pins.has(b.start) && sameHeads(a.heads, b.heads)
  }

  /** Freezes the current state so a batch can be rolled back to it. */
  save (): SavedSegments {
    this.frozen = new Set(this.chunks)
    return { chunks: this.chunks.slice() }
  }

  restore (saved: SavedSegments): void {
    this.chunks = saved.chunks
    this.frozen.clear()
  }

  /** The batch was kept: nothing refers to the saved chunks any more. */
  release (): void { this.frozen.clear() }

  /** Chunk index and position of the segment holding address `a`. */
  private locate (a: bigint): [number, number] {
    let lo = 0
    let hi = this.chunks.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (this.chunks[mid]![0]!.start <= a) lo = mid
      else hi = mid - 1
    }
    const chunk = this.chunks[lo]!
    let l = 0
    let h = chunk.length - 1
    while (l < h) {
      const mid = (l + h + 1) >> 1
      if (chunk[mid]!.start <= a) l = mid
      else h = mid - 1
    }
    return [lo, l]
  }

  /** A chunk we may write to (copied first if a saved state still refers to it). */
  private writable (ci: number): Segment[] {
    const chunk = this.chunks[ci]!
    if (!this.frozen.has(chunk)) return chunk
    const copy = chunk.slice()
    this.chunks[ci] = copy
    return copy
  }

  private splitChunk (ci: number): void {
    const chunk = this.chunks[ci]!
    if (chunk.length <= CHUNK_MAX) return
    const half = chunk.length >> 1
    this.chunks.splice(ci, 1, chunk.slice(0, half), chunk.slice(half))
  }

  /** Ensures a segment boundary at `a`. */
  private splitAt (a: bigint): void {
    if (a <= this.start || a >= this.end) return
    const [ci, si] = this.locate(a)
    const s = this.chunks[ci]![si]!
    if (s.start === a) return
    this.writable(ci).splice(si, 1, { start: s.start, end: a, heads: s.heads }, { start: a, end: s.end, heads: s.heads })
    this.splitChunk(ci)
  }

  /** Segments overlapping [start, end) without splitting (read-only queries). */
  overlapping (start: bigint, end: bigint): Segment[] {
    if (start < this.start) start = this.start
    if (end > this.end) end = this.end
    if (start >= end) return []
    const out: Segment[] = []
    let [ci, si] = this.locate(start)
    for (; ci < this.chunks.length; ci++, si = 0) {
      const chunk = this.chunks[ci]!
      for (; si < chunk.length; si++) {
        if (chunk[si]!.start >= end) return out
        out.push(chunk[si]!)
      }
    }
    return out
  }

  /** Ensures boundaries at `start` and `end` (clamped to the map). */
  split (start: bigint, end: bigint): void {
    this.splitAt(start)
    this.splitAt(end)
  }

  /** Segments inside [start, end), splitting at the edges so they fit exactly. */
  cover (start: bigint, end: bigint): Segment[] {
    if (start < this.start) start = this.start
    if (end > this.end) end = this.end
    if (start >= end) return []
    this.splitAt(start)
    this.splitAt(end)
    return this.overlapping(start, end)
  }

  /**
   * Replaces the heads of every segment inside [start, end) (boundaries must
   * already exist, as after `cover`), then merges neighbours that ended up with
   * identical heads so the map stays as small as the history allows.
   */
  update (start: bigint, end: bigint, heads: (s: Segment) => readonly MoveNode[]): void {
    if (start >= end) return
    let [ci, si] = this.locate(start)
    const touched: Array<[number, number, number]> = []
    for (; ci < this.chunks.length; ci++, si = 0) {
      if (this.chunks[ci]![si] === undefined || this.chunks[ci]![si]!.start >= end) break
      const chunk = this.writable(ci)
      const from = si
      for (; si < chunk.length && chunk[si]!.start < end; si++) {
        const seg = chunk[si]!
        chunk[si] = { start: seg.start, end: seg.end, heads: heads(seg) }
      }
      touched.push([ci, from, si])
      if (si < chunk.length) break
    }
    // Merge only around what changed: later chunks first, so indices stay valid.
    for (let t = touched.length - 1; t >= 0; t--) {
      const [c, from, to] = touched[t]!
      this.coalesceRange(c, Math.max(0, from - 1), to + 1)
    }
    if (touched.length > 0) {
      const first = touched[0]![0]
      const last = touched[touched.length - 1]![0]
      this.coalesceAcross(Math.max(0, first - 1), Math.min(last + 1, this.chunks.length - 1))
    }
  }

  /** Merges neighbours with identical heads among positions [from, to) of one chunk. */
  private coalesceRange (ci: number, from: number, to: number): void {
    const chunk = this.chunks[ci]!
    to = Math.min(to, chunk.length)
    let merges = false
    for (let i = from + 1; i < to; i++) if (this.mergeable(chunk[i - 1]!, chunk[i]!)) { merges = true; break }
    if (!merges) return
    const merged: Segment[] = []
    for (let i = from; i < to; i++) {
      const seg = chunk[i]!
      const last = merged[merged.length - 1]
      if (last !== undefined && this.mergeable(last, seg)) merged[merged.length - 1] = { start: last.start, end: seg.end, heads: last.heads }
      else merged.push(seg)
    }
    this.writable(ci).splice(from, to - from, ...merged)
  }

  /** Merges equal segments that meet at chunk edges, and drops or joins small chunks. */
  private coalesceAcross (from: number, to: number): void {
    for (let ci = Math.min(to, this.chunks.length - 1); ci > from && ci > 0; ci--) {
      const left = this.chunks[ci - 1]!
      const right = this.chunks[ci]!
      const a = left[left.length - 1]!
      const b = right[0]!
      if (this.mergeable(a, b)) {
        const l = this.writable(ci - 1)
        l[l.length - 1] = { start: a.start, end: b.end, heads: a.heads }
        const r = this.writable(ci)
        r.shift()
        if (r.length === 0) { this.chunks.splice(ci, 1); continue }
      }
      if (left.length + right.length < CHUNK_MAX / 4) {
        this.chunks.splice(ci - 1, 2, [...this.chunks[ci - 1]!, ...this.chunks[ci]!])
      }
    }
  }
}
