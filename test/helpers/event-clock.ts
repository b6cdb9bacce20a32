import type { Clock } from '../../node/clock.js'

/**
 * Discrete-event time for the consensus fuzz tests: timers fire in
 * (time, order) order; between two, promise chains run to the end. Nothing
 * else runs on the real event loop meanwhile, so a seed replays exactly.
 */
export class EventClock implements Clock {
  private t = 0
  private seq = 0
  private queue: Array<{ at: number, seq: number, fn: () => void, off: boolean }> = []

  now (): number { return this.t }

  setTimeout (fn: () => void, ms: number): unknown {
    const e = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, off: false }
    // Insert in order (queues stay small).
    let i = this.queue.length
    while (i > 0 && (this.queue[i - 1]!.at > e.at || (this.queue[i - 1]!.at === e.at && this.queue[i - 1]!.seq > e.seq))) i--
    this.queue.splice(i, 0, e)
    return e
  }

  clearTimeout (h: unknown): void { (h as { off: boolean }).off = true }

  async runUntil (end: number, stop: () => boolean): Promise<void> {
    await flush()
    while (this.queue.length > 0 && !stop()) {
      const e = this.queue.shift()!
      if (e.off) continue
      if (e.at > end) break
      this.t = e.at
      e.fn()
      await flush()
    }
  }
}

/** Runs every pending promise continuation (setImmediate comes after the microtask queue drains). */
export const flush = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

/** Time that jumps: every timer fires on the next turn of the event loop, and `now` moves by its delay. */
export function jumpingClock (): Clock {
  let t = 0
  return {
    now: () => t,
    setTimeout: (fn, ms) => setImmediate(() => { t += ms; fn() }),
    clearTimeout: h => { clearImmediate(h as ReturnType<typeof setImmediate>) }
  }
}
