import { compareEventsTopological as topological } from '../causal/index.js'
import type { EventId, SignedEvent } from '../events/index.js'
import { OwnershipRing } from '../ring/index.js'

/**
 * Replay (DESIGN.md §2.4): the ring as it was at an event, at a head set,
 * or at a time. Each is the fold of a causally closed subset of the log, so
 * it is exactly what a replica holding only those events computed.
 */

export type ReplayPoint =
  | { event: EventId }
  | { heads: readonly EventId[] }
  /** Wall-clock ms: the largest causally closed set of events with `time` ≤ T. */
  | { time: number }

export class ReplayError extends Error {
  override name = 'ReplayError'
}

/** The causal past of `roots` (roots included), by walking deps. */
export function causalPast (byId: ReadonlyMap<EventId, SignedEvent>, roots: readonly EventId[]): Set<EventId> {
  const out = new Set<EventId>()
  const stack = [...roots]
  while (stack.length > 0) {
    const id = stack.pop()!
    if (out.has(id)) continue
    const e = byId.get(id)
    if (e === undefined) throw new ReplayError(`event ${id} is not in the log`)
    out.add(id)
    stack.push(...e.event.deps)
  }
  return out
}

/** The events a replay point selects, in topological order. */
export function selectEvents (events: Iterable<SignedEvent>, at: ReplayPoint): SignedEvent[] {
  const sorted = [...events].sort(topological)
  if ('time' in at) {
    const kept = new Set<EventId>()
    const out: SignedEvent[] = []
    for (const e of sorted) {
      const timely = e.event.kind === 'genesis' || e.event.time <= at.time
      if (timely && e.event.deps.every(d => kept.has(d))) {
        kept.add(e.id)
        out.push(e)
      }
    }
    return out
  }
  const byId = new Map(sorted.map(e => [e.id, e]))
  const roots = 'event' in at ? [at.event] : [...at.heads]
  const past = causalPast(byId, roots)
  return sorted.filter(e => past.has(e.id))
}

/** Folds the events a replay point selects into a fresh ring. */
export function replay (clusterId: EventId, events: Iterable<SignedEvent>, at: ReplayPoint): OwnershipRing {
  // Forks proved by the selected events only: the ring as it stood then.
  return OwnershipRing.fold(clusterId, selectEvents(events, at))
}
