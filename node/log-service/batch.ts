import { formatCidr } from '../../packages/netaddr/index.js'
import type { EventId, PeerName, SignedEvent } from '../../crdt/events/index.js'

/**
 * What the log service asks of a batch a peer sent (pure functions): the
 * order to fold it in, whether a peer with no cluster may join through it,
 * and what it says about when its authors were alive.
 */

export { compareEventsTopological as topological } from '../../crdt/causal/index.js'

/**
 * Why a peer with no cluster yet must not join the one a batch carries: we
 * join only the cluster the supplier's hello named (a hello that names none
 * offers nothing to join), and only over the --range we were launched with (normalised by the CLI),
 * judged by the genesis itself, not by what the hello claimed.
 */
export function joinRefusal (peer: PeerName, batch: SignedEvent[], expectCluster: EventId | undefined, wantedRange: string | undefined): string | undefined {
  if (expectCluster === undefined) return `peer ${peer} sent events, but its hello named no cluster to join`
  const genesis = batch.find(e => e.id === expectCluster)
  if (genesis === undefined || genesis.event.kind !== 'genesis') return `peer ${peer} sent events without the genesis of cluster ${expectCluster}`
  const ranges = genesis.event.body.ranges.map(formatCidr)
  if (wantedRange !== undefined && (ranges.length !== 1 || ranges[0] !== wantedRange)) {
    return `peer ${peer} offers cluster ${expectCluster} over ${ranges.join(', ')}, but this peer was launched with --range ${wantedRange}`
  }
  return undefined
}

/** Per author in a batch, the latest time it signed: evidence of when it was alive. */
export function latestByAuthor (batch: SignedEvent[]): Array<[PeerName, number]> {
  const out = new Map<PeerName, number>()
  for (const { event: e } of batch) {
    if (e.kind !== 'genesis' && e.time > (out.get(e.author) ?? -1)) out.set(e.author, e.time)
  }
  return [...out]
}
