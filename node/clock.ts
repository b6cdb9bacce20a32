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
  private timers: Array<{ at: number, seq: number, fn: () => void }> = []

  constructor (start = 1_700_000_000_000) {
    this.t = start
  }

  now (): number { return this.t }

  setTimeout (fn: () => void, ms: number): unknown {
    const timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn }
    this.timers.push(timer)
    return timer
  }

  clearTimeout (handle: unknown): void {
    this.timers = this.timers.filter(t => t !== handle)
  }

  get pendingTimers (): number { return this.timers.length }

  /** Moves time forward by `ms`, firing due timers in order and letting the event loop run after each. */
  async advance (ms: number): Promise<void> {
    const end = this.t + ms
    for (;;) {
      await settle()
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq)
      const next = this.timers[0]
      if (next === undefined || next.at > end) break
      this.timers.shift()
      this.t = next.at
      next.fn()
    }
    this.t = end
    await settle()
  }
}

/** Lets promise chains and pending I/O callbacks run (a few event-loop turns). */
export async function settle (turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise(resolve => setImmediate(resolve))
}
