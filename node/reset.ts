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
  /** The leave was in the log already (an earlier reset appended it): nothing new was appended. */
  earlier?: true
}

export interface ResetContext {
  self: PeerName
  view: RingView
  connected: readonly PeerName[]
  /** The allocator (undefined while the daemon starts: nothing can be allocated then either). */
  allocations: ResetAllocations | undefined
  /** Appends the leave for these heirs (or finds ours) and waits up to `timeoutMs` for a peer to hold it. */
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

/**
 * Resets this peer. A peer another peer removed owns nothing: no leave, no
 * refusal for allocations, just what it still held (other peers may hand
 * those addresses out again). A peer whose own leave is in the log already
 * (an earlier reset timed out waiting for a confirmation) appends nothing
 * new: `leave` waits for that same leave, which is what must reach a peer.
 */
export async function reset (ctx: ResetContext, force: boolean): Promise<ResetJson> {
  const removed = ctx.view.peer(ctx.self)?.removed
  if (removed !== undefined && removed.by !== ctx.self) return removedResult(ctx.view, removed, ctx.allocations?.list() ?? [])
  // Before counting: an alloc between the count and the leave would land in
  // space being handed away. Kept on success (the peer is gone from the
  // cluster then); undone if the reset fails, so the peer allocates again.
  const allocations = ctx.allocations
  if (allocations !== undefined && !allocations.markAllLeaving()) throw new LifecycleError('a reset is already running on this peer: wait for it to finish')
  try {
    return await handOver(ctx, force, removed !== undefined)
  } catch (err) {
    allocations?.unmarkAllLeaving()
    throw err
  }
}

/** The answer for a peer another peer removed: by whom, and what it still held. */
export function removedResult (view: RingView, removed: { by: PeerName, event: EventId, time: number }, held: Allocation[]): ResetJson {
  return {
    leave: null,
    heirs: [],
    confirmedBy: null,
    confirmedByNickname: null,
    removedBy: { name: removed.by, nickname: view.peer(removed.by)?.nickname ?? null, event: removed.event, time: new Date(removed.time).toISOString() },
    held: held.map(a => ({ id: a.id, subnet: a.subnet, address: a.address }))
  }
}

/**
 * What a stopped peer's saved ring snapshot says of it: removed by another
 * peer (the same answer as a running one gives), left by its own leave (an
 * earlier reset that was not confirmed), or undefined (it may own space:
 * only a running peer can hand that over). Reads the data dir read-only.
 */
export async function stoppedPeerState (dataDir: string, self: PeerName): Promise<{ removed: ResetJson } | { left: EventId } | undefined> {
  const [{ Store }, { readAllocations }, { RingView, checkRingViewJson }] = await Promise.all([
    import('./store/index.js'), import('./allocator/store.js'), import('./ring-view.js')
  ])
  let snapshot
  let store
  try {
    store = Store.open(dataDir, { readOnly: true, checkPages: true })
  } catch {
    return undefined // no store, or not readable: the caller's refusal says what to do
  }
  try {
    snapshot = store.getSnapshot()?.snapshot
    if (snapshot !== undefined && snapshot !== null) snapshot = checkRingViewJson(snapshot)
  } catch {
    return undefined // a malformed snapshot: as if none (the caller's refusal says what to do)
  } finally {
    await store.close()
  }
  if (snapshot === undefined || snapshot === null) return undefined
  const view = new RingView(snapshot)
  const removed = view.peer(self)?.removed
  if (removed === undefined) return undefined
  if (removed.by === self) return { left: removed.event }
  return { removed: removedResult(view, removed, await readAllocations(dataDir)) }
}

async function handOver (ctx: ResetContext, force: boolean, left: boolean): Promise<ResetJson> {
  const { view } = ctx
  // Once our leave is in the log the space is handed over already: refusing
  // for allocations could not take it back.
  const held = left ? 0 : ctx.allocations?.count ?? 0
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
    throw new LifecycleError(`no peer confirmed holding this peer's leave (${r.id}) within ${ctx.confirmMs / 1000} s: nothing was deleted; ` +
      'keep this peer running and connected, and run `weft reset` again (it waits for this same leave), or `weft reset --force` to delete anyway')
  }
  return {
    leave: r.id,
    heirs,
    confirmedBy: r.confirmedBy ?? null,
    confirmedByNickname: r.confirmedBy === undefined ? null : view.peer(r.confirmedBy)?.nickname ?? null,
    ...(r.earlier === true ? { earlier: true } : {})
  }
}
