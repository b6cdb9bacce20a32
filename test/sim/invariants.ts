import type { PeerName } from '../../crdt/events/index.js'
import type { Allocation } from '../../node/allocator/types.js'
import { parseAddress, parseCidr, RangeSet } from '../../packages/netaddr/index.js'
import { headsOf, type SimHost, type World } from './world.js'

/**
 * The simulator's invariants (DESIGN.md §8), checked after every step and
 * at the end. Each returns the first violation it finds, as one line.
 */

/** An allocation the allocator acknowledged: it must survive crashes until released. */
export interface Acked {
  /** The identity that made it (a host's name changes when it resets). */
  peer: PeerName
  alloc: Allocation
  /** A release is running: the record may go any moment. */
  releasing: boolean
}

export class Truth {
  /** Acknowledged allocations, keyed by identity and id. */
  readonly acked = new Map<string, Acked>()
  /** Set by the allocation-write hook: an allocation written into space its peer knew was disputed. */
  disputedWrite: string | undefined

  key (peer: PeerName, id: string): string { return `${peer} ${id}` }
}

/** Every acknowledged allocation is on its host's disk (committed before it was acknowledged), and in its allocator while up. */
export function checkDurable (world: World, truth: Truth): string | undefined {
  for (const a of truth.acked.values()) {
    if (a.releasing) continue
    const host = world.hosts.find(h => h.name === a.peer)
    if (host === undefined) continue // reset since: its data dir is gone, with the operator's consent
    const held = host.disk.allocations.get(`${a.alloc.subnet} ${a.alloc.id}`)
    if (held?.address !== a.alloc.address) {
      return `acknowledged allocation ${a.alloc.id} ${a.alloc.address} of ${host.nickname} is not on its disk (holds ${held?.address ?? 'nothing'})`
    }
    const listed = host.run?.running === true ? host.run.peer.allocator?.list() : undefined
    if (listed !== undefined && !listed.some(x => x.id === a.alloc.id && x.address === a.alloc.address)) {
      return `acknowledged allocation ${a.alloc.id} ${a.alloc.address} of ${host.nickname} is on disk but its allocator lost it`
    }
  }
  return undefined
}

/**
 * No address is held by two IDs on two peers unless, on every running
 * replica that holds both peers' events, a flagged dispute covers it or one
 * of the two was removed (its allocations are reported lost, never silent).
 */
export function checkDoubleHolding (world: World, truth: Truth): string | undefined {
  const byAddress = new Map<string, Acked[]>()
  for (const a of truth.acked.values()) {
    const list = byAddress.get(a.alloc.address) ?? []
    list.push(a)
    byAddress.set(a.alloc.address, list)
  }
  const up = world.upHosts()
  for (const [address, holders] of byAddress) {
    if (holders.length < 2) continue
    for (let i = 0; i < holders.length; i++) {
      for (let j = i + 1; j < holders.length; j++) {
        const a = holders[i]!
        const b = holders[j]!
        if (a.peer === b.peer) return `${address} is held twice by one peer (${a.alloc.id}, ${b.alloc.id})`
        const ha = up.find(h => h.name === a.peer)
        const hb = up.find(h => h.name === b.peer)
        if (ha === undefined || hb === undefined) continue
        const events = [...(ha.run!.log.latestView?.heads ?? []), ...(hb.run!.log.latestView?.heads ?? [])]
        for (const r of up) {
          if (!events.every(id => r.run!.log.service.holdsEvent(id))) continue
          // The fold itself: the view it publishes may lag it by a coalescing delay.
          const view = r.run!.log.service.foldView()
          if (view === undefined) continue
          const removed = (p: PeerName): boolean => view.peers.some(x => x.name === p && x.removed !== undefined)
          if (removed(a.peer) || removed(b.peer)) continue
          const v = parseAddress(address).value
          const covered = view.disputes.some(d => RangeSet.fromCidrs(view.family, d.ranges.map(c => parseCidr(c))).containsAddress(v))
          if (!covered) {
            const owner = view.peers.find(p => RangeSet.fromCidrs(view.family, p.owned.map(c => parseCidr(c))).containsAddress(v))
            const owners = owner === undefined ? 'nobody' : world.hosts.find(h => h.name === owner.name)?.nickname ?? owner.name.slice(0, 12)
            const disputes = view.disputes.map(d => `${d.kind}/${d.status}[${d.ranges.join(' ')}]`).join(', ')
            return `${address} is held by ${ha.nickname} (${a.alloc.id}) and ${hb.nickname} (${b.alloc.id}), and ${r.nickname} holds both peers' events ` +
              `with no dispute covering it (it says ${owners} owns it; disputes: ${disputes === '' ? 'none' : disputes})`
          }
        }
      }
    }
  }
  return undefined
}

/** After heal and resolve: every running replica has the same heads and the same ring, and no dispute is open. */
export function checkConverged (world: World): string | undefined {
  const up = world.upHosts()
  const heads = up.map(h => headsOf(h))
  const odd = up.find((h, i) => heads[i] !== heads[0])
  if (odd !== undefined || heads[0] === '') return `replicas differ in heads after heal: ${up.map((h, i) => `${h.nickname}=${heads[i]!.slice(0, 12)}`).join(' ')}`
  const rings = up.map(h => ringText(h))
  const oddRing = up.find((h, i) => rings[i] !== rings[0])
  if (oddRing !== undefined) return `${oddRing.nickname}'s ring differs from ${up[0]!.nickname}'s with the same heads`
  const open = up[0]!.run!.log.latestView!.disputes.filter(d => d.status === 'open')
  if (open.length > 0) return `${open.length} dispute(s) still open after every one was resolved`
  return undefined
}

function ringText (h: SimHost): string {
  const v = h.run!.log.latestView!
  return JSON.stringify({ peers: v.peers, disputes: v.disputes, disputed: v.disputed, unowned: v.unowned, voids: v.voids })
}
