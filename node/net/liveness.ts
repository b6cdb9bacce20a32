import type { PeerName } from '../../crdt/events/index.js'
import { MAX_SEEN_REPORT } from '../messages.js'

/**
 * When each peer was last seen alive: what `status` shows and what keeps
 * `rmpeer` from removing a live peer (CLI.md: "seen within the last 2
 * anti-entropy rounds", surviving a relaunch).
 *
 * Our own connection is the best evidence, but connections are capped and
 * changes are relayed, so a live peer may never be connected to us. So we
 * also count what others saw: each connected peer reports, in its hello and
 * then every anti-entropy round, how long ago it last saw each peer (ages,
 * not times, so that clocks need not agree); and an event a peer signed
 * shows it was alive when it signed it (its own clock, never later than
 * when we got it). Every report only ever moves a time forward.
 */

/** Entries in one report, and peers tracked at most: bounds what a hostile peer can make us hold. */
export { MAX_SEEN_REPORT }

export type SeenReport = Array<[PeerName, number]>

export interface LivenessDeps {
  self: PeerName
  now: () => number
  /** Whether a name is a peer worth tracking (one in our log); reports about others are ignored. */
  known?: (peer: PeerName) => boolean
}

export class Liveness {
  private readonly seen = new Map<PeerName, number>()
  private readonly deps: LivenessDeps
  private changed = false

  constructor (deps: LivenessDeps) {
    this.deps = deps
  }

  /** Seeds the map from what an earlier run persisted; not a change to persist again. */
  load (entries: Record<PeerName, number>): void {
    for (const [peer, at] of Object.entries(entries)) {
      if (Number.isSafeInteger(at) && peer !== this.deps.self && this.seen.size < MAX_SEEN_REPORT) this.seen.set(peer, at)
    }
  }

  /** `peer` was alive at `at` (capped at now: a report from the future is a clock ahead of ours). */
  note (peer: PeerName, at: number): void {
    if (peer === this.deps.self || !Number.isFinite(at)) return
    const t = Math.min(Math.floor(at), this.deps.now())
    const had = this.seen.get(peer)
    if (had !== undefined && had >= t) return
    if (had === undefined) {
      if (this.seen.size >= MAX_SEEN_REPORT) return
      if (this.deps.known !== undefined && !this.deps.known(peer)) return
    }
    this.seen.set(peer, t)
    this.changed = true
  }

  /** A connected peer's report: for each peer, how many ms ago it last saw it. */
  noteAges (report: SeenReport): void {
    const now = this.deps.now()
    for (const [peer, age] of report.slice(0, MAX_SEEN_REPORT)) {
      if (Number.isSafeInteger(age) && age >= 0) this.note(peer, now - age)
    }
  }

  get (peer: PeerName): number | undefined {
    return this.seen.get(peer)
  }

  /** What we report to a peer: every peer we have seen, with its age (connected ones: 0), freshest first. */
  report (connected: readonly PeerName[]): SeenReport {
    const now = this.deps.now()
    for (const p of connected) this.note(p, now)
    return [...this.seen.entries()]
      .map(([peer, at]): [PeerName, number] => [peer, Math.max(0, now - at)])
      .sort((a, b) => a[1] - b[1])
      .slice(0, MAX_SEEN_REPORT)
  }

  /** The whole map if it changed since the last call (to persist), else undefined. */
  takeChanges (): Record<PeerName, number> | undefined {
    if (!this.changed) return undefined
    this.changed = false
    return Object.fromEntries(this.seen)
  }
}
