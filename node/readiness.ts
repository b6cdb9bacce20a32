import type { Clock } from './clock.js'
import type { Logger } from './logger.js'

/**
 * When a peer may allocate (DESIGN.md §3): its log is loaded and it is in a
 * cluster, and it has completed one sync with a peer, or none was reachable
 * within the grace time. Allocating from a stale view is the classic cause
 * of duplicate addresses, so `alloc` waits here first.
 */

export type Readiness = { ready: true } | { ready: false, reason: string }

export interface ReadinessDeps {
  clock: Clock
  logger: Logger
  graceMs: number
  /** Why not, before any sync question: still loading, no cluster yet, a cloned identity. */
  blocker: () => string | undefined
  /** A cloned identity never becomes ready: waiters hear so at once. */
  never: () => boolean
  /** Whether there is anyone to sync with at all, and how many are connected now. */
  hasTargets: () => boolean
  connectedCount: () => number
  stopping: () => boolean
}

export class ReadinessGate {
  private readonly deps: ReadinessDeps
  private readonly log: Logger
  private caughtUp = false
  private graceOver = false
  private waiters: Array<() => void> = []

  constructor (deps: ReadinessDeps) {
    this.deps = deps
    this.log = deps.logger.forComponent('weft:ready')
  }

  now (): Readiness {
    const blocker = this.deps.blocker()
    if (blocker !== undefined) return { ready: false, reason: blocker }
    if (this.caughtUp || !this.deps.hasTargets()) return { ready: true }
    // The grace period is for peers nobody can reach; with a peer connected
    // (say, mid catch-up) wait for the sync.
    if (this.graceOver && this.deps.connectedCount() === 0) return { ready: true }
    return { ready: false, reason: 'waiting for a first sync with a peer' }
  }

  /** A sync with some peer completed. */
  caughtUpWithPeer (): void {
    this.caughtUp = true
    this.wake()
  }

  /** Starts the grace period (once the network runs); after it, nobody reachable means ready. */
  startGrace (): void {
    this.deps.clock.setTimeout(() => {
      this.graceOver = true
      const recheck = (): void => {
        if (this.deps.stopping()) return
        if (this.now().ready) {
          if (!this.caughtUp && this.deps.hasTargets()) this.log.warn(`no peer reachable within ${this.deps.graceMs} ms; ready on what this peer holds`)
          this.wake()
        } else {
          // A peer is connected but the first sync is not done: look again soon.
          this.deps.clock.setTimeout(recheck, 1000)
        }
      }
      recheck()
    }, this.deps.graceMs)
  }

  /** Something changed (a view, a state): release the waiters if ready now. */
  wake (): void {
    if (!this.now().ready) return
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  wait (timeoutMs: number): Promise<Readiness> {
    const now = this.now()
    if (now.ready || this.deps.never()) return Promise.resolve(now)
    return new Promise(resolve => {
      const timer = this.deps.clock.setTimeout(() => {
        this.waiters = this.waiters.filter(w => w !== done)
        resolve(this.now())
      }, timeoutMs)
      const done = (): void => { this.deps.clock.clearTimeout(timer); resolve({ ready: true }) }
      this.waiters.push(done)
    })
  }
}
