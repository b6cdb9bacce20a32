import type { PeerName } from '../crdt/events/index.js'
import type { IpamState, SecurityJson, StatusJson } from './api/types.js'
import { clonedMessage, UPGRADE_NEEDED, type ClonedIdentity, type LogState } from './log-service/types.js'
import type { Network } from './net/network.js'
import type { RingView, RingViewJson } from './ring-view.js'
import { weftVersion } from './version.js'
import type { EpochStatus } from './log-service/epochs.js'

export interface StatusInput {
  self: PeerName
  nickname: string
  view: RingView | undefined
  logState: LogState
  cloned?: ClonedIdentity
  readiness: { ready: true } | { ready: false, reason: string }
  network: Network | undefined
  startedAt: number
  now: number
  allocated?: number
  lost?: Array<{ id: string, address: string, subnet: string }>
  /** While there is no cluster: why (awaiting consensus, an observer waiting, …). */
  waiting?: { state: 'awaiting-consensus' | 'waiting-for-cluster', reason: string }
  security: SecurityJson
  epoch?: EpochStatus
}

/** Address counts: JSON numbers for IPv4, decimal strings for IPv6 (CLI.md). */
export function count (n: bigint, family: 4 | 6): number | string {
  return family === 4 ? Number(n) : n.toString()
}

function ipamState (input: StatusInput): { state: IpamState, reason?: string } {
  const { view, self } = input
  if (input.logState === 'loading') return { state: 'loading', reason: 'the log is loading; figures are from the last saved snapshot' }
  if (input.logState === 'waiting-for-cluster' || view === undefined) return input.waiting ?? { state: 'waiting-for-cluster', reason: 'no cluster yet: waiting for a peer to answer' }
  if (input.cloned !== undefined) return { state: 'identity-cloned', reason: clonedMessage(self, input.cloned) }
  const me = view.peer(self)
  if (me?.removed !== undefined) {
    const by = view.peer(me.removed.by)
    return { state: 'removed', reason: `removed from the network by ${by?.nickname ?? me.removed.by} (${me.removed.by}) at ${new Date(me.removed.time).toISOString()}; run \`weft reset\` to rejoin with a new identity` }
  }
  if (view.json.readOnly) return { state: 'read-only', reason: UPGRADE_NEEDED }
  if (!input.readiness.ready) return { state: 'syncing', reason: input.readiness.reason }
  return { state: 'ready' }
}

export function buildStatus (input: StatusInput): StatusJson {
  const { view, self, network } = input
  const family = view?.family ?? 4
  const connected = new Set(network?.connectedPeers() ?? [])
  const me = view?.peer(self)
  const iso = (t: number | undefined): string | null => t === undefined ? null : new Date(t).toISOString()
  const removedBy = me?.removed
  const ipam = ipamState(input)
  return {
    peer: {
      name: self,
      nickname: input.nickname,
      removed: removedBy !== undefined,
      listen: network?.listenAddrs() ?? [],
      advertise: network?.advertiseAddrs() ?? [],
      ...(removedBy !== undefined
        ? { removedBy: { name: removedBy.by, ...(view?.peer(removedBy.by)?.nickname !== undefined ? { nickname: view.peer(removedBy.by)!.nickname! } : {}), event: removedBy.event, time: new Date(removedBy.time).toISOString() } }
        : {})
    },
    ipam: { ...ipam, lostAllocations: input.lost ?? [] },
    cluster: { id: view?.json.clusterId ?? null, range: view?.json.range ?? null },
    addresses: {
      total: count(view?.total ?? 0n, family),
      owned: count(view?.ownedBy(self).size ?? 0n, family),
      allocated: input.allocated ?? 0,
      disputed: count(view?.disputedSet.size ?? 0n, family)
    },
    peers: (view?.json.peers ?? []).filter(p => p.name !== self).map(p => ({
      name: p.name,
      nickname: p.nickname ?? null,
      owned: count(view!.ownedBy(p.name).size, family),
      connected: connected.has(p.name),
      removed: p.removed !== undefined,
      ...(p.removed !== undefined ? { removedBy: removalJson(view!, p.removed) } : {}),
      lastSeen: iso(network?.lastSeen(p.name)),
      addrs: p.addrs
    })),
    // Disputes, and forks (equivocations) until their author is removed (DESIGN.md §2.7).
    conflicts: {
      total: (view?.json.disputes.length ?? 0) + (view?.json.equivocations.length ?? 0),
      unresolved: (view?.openDisputes.length ?? 0) + (view?.json.equivocations.filter(q => !q.settled).length ?? 0)
    },
    events: view?.json.events ?? 0,
    ...epochJson(input, iso),
    security: input.security,
    connections: network?.connections() ?? [],
    owned: me?.owned ?? [],
    version: weftVersion(),
    pid: process.pid,
    uptimeMs: input.now - input.startedAt
  }
}

function epochJson (input: StatusInput, iso: (t: number | undefined) => string | null): Pick<StatusJson, 'epoch'> {
  const e = input.epoch
  if (e === undefined || (e.epoch === 0 && e.waiting === undefined && e.mismatches.length === 0)) return {}
  const w = e.waiting
  return {
    epoch: {
      n: e.epoch,
      ...(w !== undefined
        ? {
            waiting: {
              epoch: w.epoch,
              key: w.key,
              since: new Date(w.since).toISOString(),
              for: w.for.map(name => ({ name, nickname: input.view?.peer(name)?.nickname ?? null, lastSeen: iso(input.network?.lastSeen(name)) }))
            }
          }
        : {}),
      mismatches: e.mismatches.map(m => ({ key: m.key, signers: [...m.signers], digest: m.digest, ours: m.ours }))
    }
  }
}

type Removal = NonNullable<RingViewJson['peers'][number]['removed']>

function removalJson (view: RingView, r: Removal): NonNullable<StatusJson['peers'][number]['removedBy']> {
  const named = (name: PeerName): { name: PeerName, nickname: string | null } => ({ name, nickname: view.peer(name)?.nickname ?? null })
  return {
    ...named(r.by),
    event: r.event,
    kind: r.kind,
    time: new Date(r.time).toISOString(),
    ...(r.approved !== undefined ? { approved: { votes: r.approved.votes.map(named), of: r.approved.of } } : {})
  }
}
