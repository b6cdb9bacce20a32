/**
 * Time as a dependency (DESIGN.md §1): components take a Clock so a whole
 * cluster can later run under simulated time in one process.
 */
export interface Clock {
  now: () => number
  setTimeout: (fn: () => void, ms: number) => unknown
  clearTimeout: (handle: unknown) => void
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms)
    t.unref?.()
    return t
  },
  clearTimeout: h => { clearTimeout(h as ReturnType<typeof setTimeout>) }
}

/** Reconnect delay after `attempt` failures: base × factor^attempt, capped, ±20 % jitter (Weave's 2 s × 1.5, max 6 min). */
export function backoffDelay (attempt: number, t: { backoffBaseMs: number, backoffFactor: number, backoffMaxMs: number }, random: () => number): number {
  const raw = Math.min(t.backoffMaxMs, t.backoffBaseMs * t.backoffFactor ** Math.max(0, attempt))
  return Math.round(raw * (0.8 + 0.4 * random()))
}

/**
 * Simulated time for tests: timers fire only when the test advances the
 * clock, in time order. Messages and I/O still run on the real event loop,
 * so a cluster in one process makes progress at once while every timeout,
 * backoff and periodic round happens exactly when the test says.
 */
export class SimulatedClock implements Clock {
  private t: number
  private seq = 0
  /** A binary min-heap on (at, seq); a cleared timer stays in it, marked, until it reaches the top. */
  private heap: Array<{ at: number, seq: number, fn: () => void, cleared: boolean }> = []
  private live = 0

  constructor (start = 1_700_000_000_000) {
    this.t = start
  }

  now (): number { return this.t }

  setTimeout (fn: () => void, ms: number): unknown {
    const timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cleared: false }
    this.push(timer)
    this.live++
    return timer
  }

  clearTimeout (handle: unknown): void {
    const timer = handle as { cleared?: boolean } | undefined
    if (timer === undefined || timer === null || typeof timer !== 'object' || timer.cleared !== false) return
    timer.cleared = true
    this.live--
  }

  get pendingTimers (): number { return this.live }

  /** Moves time forward by `ms`, firing due timers in order and letting the event loop run after each. */
  async advance (ms: number): Promise<void> {
    const end = this.t + ms
    for (;;) {
      await settle()
      const next = this.peek()
      if (next === undefined || next.at > end) break
      this.pop()
      next.cleared = true
      this.live--
      this.t = next.at
      next.fn()
    }
    this.t = end
    await settle()
  }

  /** The earliest timer not cleared (cleared ones at the top are dropped on the way). */
  private peek (): { at: number, seq: number, fn: () => void, cleared: boolean } | undefined {
    while (this.heap.length > 0 && this.heap[0]!.cleared) this.pop()
    return this.heap[0]
  }

  private static before (a: { at: number, seq: number }, b: { at: number, seq: number }): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq)
  }

  private push (x: { at: number, seq: number, fn: () => void, cleared: boolean }): void {
    const h = this.heap
    h.push(x)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!SimulatedClock.before(h[i]!, h[p]!)) break
      ;[h[i], h[p]] = [h[p]!, h[i]!]
      i = p
    }
  }

  private pop (): void {
    const h = this.heap
    const last = h.pop()!
    if (h.length === 0) return
    h[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < h.length && SimulatedClock.before(h[l]!, h[m]!)) m = l
      if (r < h.length && SimulatedClock.before(h[r]!, h[m]!)) m = r
      if (m === i) break
      ;[h[i], h[m]] = [h[m]!, h[i]!]
      i = m
    }
  }
}

/** Lets promise chains and pending I/O callbacks run (a few event-loop turns). */
export async function settle (turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise(resolve => setImmediate(resolve))
}
