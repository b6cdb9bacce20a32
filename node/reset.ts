import { parseCidr, RangeSet } from '../packages/netaddr/index.js'
import type { EventId, PeerName } from '../crdt/events/index.js'
import type { Allocation } from './allocator/types.js'
import type { ResetJson } from './api/types.js'
import { LifecycleError } from './lifecycle.js'
import type { RingView } from './ring-view.js'
import { count } from './status.js'

/**
 * `weft reset` (CLI.md, DESIGN.md §7): hand everything this peer owns to
 * the connected peers in one `leave`, and answer only once a peer shows it
 * holds that leave, so the data dir is deleted only when the space is safe.
 */

export interface LeaveResult {
  id: EventId
  heirs: Array<{ peer: PeerName, ranges: string[] }>
  confirmedBy?: PeerName
}

export interface ResetContext {
  self: PeerName
  view: RingView
  connected: readonly PeerName[]
  /** The allocator (undefined while the daemon starts: nothing can be allocated then either). */
  allocations: ResetAllocations | undefined
  /** Appends the leave for these heirs and waits up to `timeoutMs` for a peer to hold it. */
  leave: (candidates: PeerName[], timeoutMs: number) => Promise<LeaveResult>
  /** How long to wait for a peer to confirm it holds the leave. */
  confirmMs: number
}

/** What reset needs of the allocator. */
export interface ResetAllocations {
  readonly count: number
  list: () => Allocation[]
  /** Refuses every alloc and claim from now on; false if a reset holds that already. */
  markAllLeaving: () => boolean
  unmarkAllLeaving: () => void
}

export async function reset (ctx: ResetContext, force: boolean): Promise<ResetJson> {
  // Before counting: an alloc between the count and the leave would land in
  // space being handed away. Kept on success (the peer is gone from the
  // cluster then); undone if the reset fails, so the peer allocates again.
  const allocations = ctx.allocations
  if (allocations !== undefined && !allocations.markAllLeaving()) throw new LifecycleError('a reset is already running on this peer: wait for it to finish')
  try {
    return await handOver(ctx, force)
  } catch (err) {
    allocations?.unmarkAllLeaving()
    throw err
  }
}

async function handOver (ctx: ResetContext, force: boolean): Promise<ResetJson> {
  const { view } = ctx
  const held = ctx.allocations?.count ?? 0
  if (held > 0 && !force) throw new LifecycleError(`${held} address${held === 1 ? ' is' : 'es are'} allocated on this peer: release them first, or use --force`)
  const candidates = ctx.connected.filter(p => {
    const q = view.peer(p)
    return q !== undefined && q.member && q.removed === undefined
  })
  const r = await ctx.leave(candidates, ctx.confirmMs)
  const heirs = r.heirs.map(h => ({
    peer: h.peer,
    nickname: view.peer(h.peer)?.nickname ?? null,
    ranges: h.ranges,
    ips: count(RangeSet.fromCidrs(view.family, h.ranges.map(c => parseCidr(c))).size, view.family)
  }))
  if (r.confirmedBy === undefined && !force) {
    throw new LifecycleError(`no peer confirmed holding this peer's leave (${r.id}) within ${ctx.confirmMs / 1000} s: nothing was deleted; keep this peer running until one does, or run \`weft reset --force\``)
  }
  return { leave: r.id, heirs, confirmedBy: r.confirmedBy ?? null, confirmedByNickname: r.confirmedBy === undefined ? null : view.peer(r.confirmedBy)?.nickname ?? null }
}
