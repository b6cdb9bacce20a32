import type { Clock } from '../clock.js'
import type { RingViewJson } from '../ring-view.js'

/** How often, at most, remote adoptions' views are sent to the daemon (ms). */
const VIEW_NOTICE_MS = 100

/**
 * Views for the daemon: sent now (after our own appends), or coalesced
 * (after remote adoptions): the first at once, then the newest every
 * VIEW_NOTICE_MS. On the log service's clock, so a simulated cluster's
 * views follow its simulated time.
 */
export class ViewNotices {
  private pending: RingViewJson | undefined
  private timer: unknown
  private last = -Infinity

  constructor (private readonly send: (view: RingViewJson) => void, private readonly clock: Clock) {}

  now (view: RingViewJson): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer)
    this.timer = undefined
    this.pending = undefined
    this.last = this.clock.now()
    this.send(view)
  }

  later (view: RingViewJson): void {
    const wait = this.last + VIEW_NOTICE_MS - this.clock.now()
    if (wait <= 0 && this.timer === undefined) { this.now(view); return }
    this.pending = view
    if (this.timer !== undefined) return
    this.timer = this.clock.setTimeout(() => { this.timer = undefined; this.flush() }, Math.max(0, wait))
  }

  flush (): void {
    const view = this.pending
    if (view !== undefined) this.now(view)
  }
}
