import type { RingViewJson } from '../ring-view.js'

/** How often, at most, remote adoptions' views are sent to the daemon (ms). */
const VIEW_NOTICE_MS = 100

/**
 * Views for the daemon: sent now (after our own appends), or coalesced
 * (after remote adoptions): the first at once, then the newest every
 * VIEW_NOTICE_MS.
 */
export class ViewNotices {
  private pending: RingViewJson | undefined
  private timer: ReturnType<typeof setTimeout> | undefined
  private last = -Infinity

  constructor (private readonly send: (view: RingViewJson) => void) {}

  now (view: RingViewJson): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.pending = undefined
    this.last = performance.now()
    this.send(view)
  }

  later (view: RingViewJson): void {
    const wait = this.last + VIEW_NOTICE_MS - performance.now()
    if (wait <= 0 && this.timer === undefined) { this.now(view); return }
    this.pending = view
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => { this.flush() }, Math.max(0, wait))
    this.timer.unref?.()
  }

  flush (): void {
    const view = this.pending
    if (view !== undefined) this.now(view)
  }
}
