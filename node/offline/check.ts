import { parseAddress, parseCidr, RangeSet } from '../../packages/netaddr/index.js'
import { pastOf } from '../../crdt/causal/index.js'
import type { EventId, PeerName } from '../../crdt/events/index.js'
import { readAllocations } from '../allocator/store.js'
import type { RingViewJson } from '../ring-view.js'
import { openLogReader, type LogReader } from './reader.js'
import { finality, OwnershipRing } from '../../crdt/ring/index.js'

/**
 * `weft check`, in the spirit of `calicoctl ipam check`: what an operator
 * should look at. Open disputes, space stranded with removed peers, local
 * allocations outside this peer's space (they may be handed out twice),
 * and equivocations (a cloned identity). Read-only.
 */
export interface CheckReport {
  peer: PeerName
  range: string
  events: number
  disputes: Array<{ id: EventId, kind: string, ranges: string[], addresses: string, parties: EventId[], claimants: string[] }>
  strandedSpace: Array<{ peer: PeerName, nickname: string | null, ranges: string[], addresses: string, removedBy: PeerName, removedAt: string }>
  lostAllocations: Array<{ id: string, address: string, subnet: string, owner: string }>
  equivocations: Array<{ author: PeerName, nickname: string | null, seq: number, events: EventId[] }>
  /**
   * The epoch the live log belongs to (DESIGN.md §2.6), and each checkpoint
   * that would end it but waits for live members to sign: a member that is
   * down holds it up (`weft rmpeer` of one that is gone unblocks it). Not
   * counted as a problem: a checkpoint collects signatures for a while.
   */
  epoch: { n: number, waiting: Array<{ key: EventId, since: string, for: Array<{ name: PeerName, nickname: string | null, lastSeen: string | null }> }> }
}

export function checkProblems (r: CheckReport): number {
  return r.disputes.length + r.strandedSpace.length + r.lostAllocations.length + r.equivocations.length
}

export async function checkDataDir (dataDir: string): Promise<CheckReport> {
  const reader = openLogReader(dataDir)
  try {
    const view = reader.view()
    const json: RingViewJson = view.json
    const nick = (p: PeerName): string | null => view.peer(p)?.nickname ?? null
    const size = (cidrs: string[]): string => RangeSet.fromCidrs(view.family, cidrs.map(c => parseCidr(c))).size.toString()
    const self = reader.meta.peer
    const owned = view.ownedBy(self)
    const allocations = await readAllocations(dataDir)
    const ownerOf = (addr: bigint): string => {
      if (view.disputedSet.containsAddress(addr)) return 'disputed'
      const p = json.peers.find(q => view.ownedBy(q.name).containsAddress(addr))
      return p === undefined ? 'nobody' : `${p.nickname ?? p.name}${p.removed !== undefined ? ' (removed)' : ''}`
    }
    return {
      peer: self,
      range: json.range,
      events: json.events,
      disputes: json.disputes.filter(d => d.status === 'open').map(d => ({ id: d.id, kind: d.kind, ranges: d.ranges, addresses: size(d.ranges), parties: d.parties, claimants: d.claimants })),
      strandedSpace: json.peers.filter(p => p.removed !== undefined && p.owned.length > 0).map(p => ({
        peer: p.name,
        nickname: p.nickname ?? null,
        ranges: p.owned,
        addresses: size(p.owned),
        removedBy: p.removed!.by,
        removedAt: new Date(p.removed!.time).toISOString()
      })),
      lostAllocations: allocations.filter(a => !owned.containsAddress(parseAddress(a.address).value))
        .map(a => ({ id: a.id, address: a.address, subnet: a.subnet, owner: ownerOf(parseAddress(a.address).value) })),
      // A fork is settled once its author stands removed (DESIGN.md §2.7).
      equivocations: json.equivocations.filter(q => !q.settled).map(q => ({ author: q.author, nickname: nick(q.author), seq: q.seq, events: q.events })),
      epoch: waitingEpochs(reader, nick)
    }
  } finally {
    await reader.close()
  }
}

/** The checkpoints of the next epoch that are not final yet, and whom each waits for. */
function waitingEpochs (reader: LogReader, nick: (p: PeerName) => string | null): CheckReport['epoch'] {
  const n = reader.epoch()?.epoch ?? 0
  const ring = reader.ring()
  const now = ring.snapshot()
  const seen = reader.seen()
  const byId = new Map(reader.events().map(e => [e.id, e]))
  const waiting: CheckReport['epoch']['waiting'] = []
  for (const p of now.checkpoints) {
    if (p.epoch !== n + 1 || p.cut.some(id => !byId.has(id))) continue
    // The fold at the cut says who was live there.
    let atCut
    try {
      atCut = OwnershipRing.fold(reader.clusterId, pastOf(byId, p.cut)).snapshot()
    } catch {
      continue // the cut's past is not all held here (a peer that caught up from an epoch)
    }
    const f = finality(p, atCut, now)
    if (f.final) continue
    waiting.push({
      key: p.key,
      since: new Date(p.since).toISOString(),
      for: f.waitingFor.map(name => ({ name, nickname: nick(name), lastSeen: seen[name] === undefined ? null : new Date(seen[name]).toISOString() }))
    })
  }
  return { n, waiting }
}

export function formatCheck (r: CheckReport): string {
  const lines: string[] = [`weft check: ${r.range}, ${r.events} events, as seen by ${r.peer}`]
  const section = <T>(title: string, items: T[], line: (x: T) => string, ok: string): void => {
    lines.push(`${title}: ${items.length === 0 ? ok : items.length}`)
    for (const x of items) lines.push(`  ${line(x)}`)
  }
  section('open disputes', r.disputes, d => `${d.id} ${d.kind} ${d.ranges.join(', ')} (${d.addresses} addresses): run \`weft resolve ${d.id}\``, 'none')
  section('space owned by removed peers', r.strandedSpace, s => `${s.ranges.join(', ')} (${s.addresses} addresses) of ${s.nickname ?? s.peer} (${s.peer}), removed by ${s.removedBy} at ${s.removedAt}: \`weft rmpeer ${s.peer}\` reclaims it`, 'none')
  section('local allocations outside this peer\'s space', r.lostAllocations, a => `${a.id} ${a.address} (now ${a.owner}): it may be handed out twice; release it`, 'none')
  section('equivocations', r.equivocations, q => `${q.nickname ?? q.author} (${q.author}) signed two events with seq ${q.seq}: ${q.events.join(', ')}: its identity was cloned, and its events from that seq have no effect; run \`weft rmpeer ${q.nickname ?? q.author}\` on a healthy peer, and \`weft reset\` on every copy`, 'none')
  if (r.epoch.n > 0 || r.epoch.waiting.length > 0) {
    lines.push(`epoch: ${r.epoch.n}`)
    for (const w of r.epoch.waiting) {
      lines.push(`  epoch ${r.epoch.n} waits for ${w.for.map(p => `${p.nickname ?? p.name}, last seen ${p.lastSeen ?? 'never'}`).join('; ')} (checkpoint ${w.key.slice(0, 12)}, since ${w.since}): \`weft rmpeer\` of a member that is gone unblocks it`)
    }
  }
  lines.push(checkProblems(r) === 0 ? 'no problems found' : `${checkProblems(r)} problem${checkProblems(r) === 1 ? '' : 's'} found`)
  return lines.join('\n') + '\n'
}
