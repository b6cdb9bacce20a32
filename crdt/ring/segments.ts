import type { MoveNode } from './records.js'

/**
 * The address space as a sorted list of immutable segments, each with the
 * frontier of moves that last touched it (its `heads`). Segments are replaced,
 * never mutated, so a batch can be rolled back by restoring the array.
 */
export interface Segment {
  readonly start: bigint
  readonly end: bigint
  /** Maximal moves of this interval, sorted by event arrival index. */
  readonly heads: readonly MoveNode[]
}

function sameHeads (a: readonly MoveNode[], b: readonly MoveNode[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

export class SegmentMap {
  private segs: Segment[]

  constructor (start: bigint, end: bigint) {
    this.segs = [{ start, end, heads: [] }]
  }

  get start (): bigint { return this.segs[0]!.start }
  get end (): bigint { return this.segs[this.segs.length - 1]!.end }
  get count (): number { return this.segs.length }
  all (): readonly Segment[] { return this.segs }

  /** A copy of the segment list, for rolling back a batch. */
  save (): Segment[] { return this.segs.slice() }
  restore (saved: Segment[]): void { this.segs = saved }

  /** Index of the segment holding address `a` (which must be inside the map). */
  indexOf (a: bigint): number {
    let lo = 0
    let hi = this.segs.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (this.segs[mid]!.start <= a) lo = mid
      else hi = mid - 1
    }
    return lo
  }

  /** Ensures a segment boundary at `a`. */
  private splitAt (a: bigint): void {
    if (a <= this.start || a >= this.end) return
    const i = this.indexOf(a)
    const s = this.segs[i]!
    if (s.start === a) return
    this.segs.splice(i, 1, { start: s.start, end: a, heads: s.heads }, { start: a, end: s.end, heads: s.heads })
  }

  /** Segments inside [start, end), splitting at the edges so they fit exactly. */
  cover (start: bigint, end: bigint): Segment[] {
    if (start < this.start) start = this.start
    if (end > this.end) end = this.end
    if (start >= end) return []
    this.splitAt(start)
    this.splitAt(end)
    const out: Segment[] = []
    for (let i = this.indexOf(start); i < this.segs.length && this.segs[i]!.start < end; i++) out.push(this.segs[i]!)
    return out
  }

  /** Segments overlapping [start, end) without splitting (for read-only queries). */
  overlapping (start: bigint, end: bigint): Segment[] {
    if (start < this.start) start = this.start
    if (end > this.end) end = this.end
    if (start >= end) return []
    const out: Segment[] = []
    for (let i = this.indexOf(start); i < this.segs.length && this.segs[i]!.start < end; i++) out.push(this.segs[i]!)
    return out
  }

  /**
   * Replaces the heads of every segment inside [start, end) (boundaries must
   * already exist, as after `cover`), then merges neighbours that ended up with
   * identical heads so the map stays as small as the history allows.
   */
  update (start: bigint, end: bigint, heads: (s: Segment) => readonly MoveNode[]): void {
    const first = this.indexOf(start)
    let i = first
    for (; i < this.segs.length && this.segs[i]!.start < end; i++) {
      const s = this.segs[i]!
      this.segs[i] = { start: s.start, end: s.end, heads: heads(s) }
    }
    this.coalesce(Math.max(0, first - 1), Math.min(this.segs.length, i + 1))
  }

  private coalesce (from: number, to: number): void {
    const merged: Segment[] = []
    for (let i = from; i < to; i++) {
      const s = this.segs[i]!
      const last = merged[merged.length - 1]
      if (last !== undefined && last.end === s.start && sameHeads(last.heads, s.heads)) {
        merged[merged.length - 1] = { start: last.start, end: s.end, heads: last.heads }
      } else {
        merged.push(s)
      }
    }
    if (merged.length !== to - from) this.segs.splice(from, to - from, ...merged)
  }
}
