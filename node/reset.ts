import { parseCidr, RangeSet } from '../packages/netaddr/index.js'
import type { EventId, PeerName } from '../crdt/events/index.js'
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
  /** How many addresses are allocated here (reset refuses while any are, unless forced). */
  allocated: () => number
  /** Appends the leave for these heirs and waits up to `timeoutMs` for a peer to hold it. */
  leave: (candidates: PeerName[], timeoutMs: number) => Promise<LeaveResult>
  /** How long to wait for a peer to confirm it holds the leave. */
  confirmMs: number
}

export async function reset (ctx: ResetContext, force: boolean): Promise<ResetJson> {
  const { view } = ctx
  const held = ctx.allocated()
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
