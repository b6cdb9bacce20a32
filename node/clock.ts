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
