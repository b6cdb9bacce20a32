/**
 * `weft status` for humans: a compact report, and one view per section.
 * `--json` prints StatusJson instead; scripts should use that.
 */
import type { StatusJson } from '../../node/api/types.js'
import { keyValues, percent, relativeTime, table } from './text.js'

export type StatusSection = 'peers' | 'ipam' | 'connections'
export const STATUS_SECTIONS: readonly StatusSection[] = ['peers', 'ipam', 'connections']

/** The JSON for a section: the StatusJson fields it shows, under their usual names. */
export function statusSectionJson (s: StatusJson, section: StatusSection | undefined): unknown {
  switch (section) {
    case undefined: return s
    case 'peers': return { peers: s.peers }
    case 'ipam': return { ipam: s.ipam, cluster: s.cluster, addresses: s.addresses, owned: s.owned }
    case 'connections': return { connections: s.connections }
  }
}

export function formatStatus (s: StatusJson, section: StatusSection | undefined, now = Date.now()): string {
  switch (section) {
    case undefined: return formatSummary(s, now)
    case 'peers': return formatPeers(s, now)
    case 'ipam': return formatIpam(s)
    case 'connections': return formatConnections(s, now)
  }
}

function formatSummary (s: StatusJson, now: number): string {
  const connected = s.peers.filter(p => p.connected).length
  const removed = s.peers.filter(p => p.removed).length
  return keyValues([
    ['peer', `${s.peer.name} ${s.peer.nickname}${s.peer.removed ? ' (removed)' : ''}`],
    ['listen', s.peer.listen.join(' ') || '-'],
    ...securityLines(s),
    ['cluster', formatCluster(s)],
    ['ipam', formatState(s)],
    ['addresses', formatAddresses(s)],
    ['peers', `${s.peers.length} known, ${connected} connected${removed > 0 ? `, ${removed} removed` : ''}`],
    ['conflicts', `${s.conflicts.total} (${s.conflicts.unresolved} unresolved)`],
    ['events', String(s.events)],
    ...epochLines(s, now),
    ...lostLines(s)
  ])
}

/** "epoch 4 waits for host3, last seen 2 h ago" (DESIGN.md §2.6): a down member holds the checkpoint up. */
function epochLines (s: StatusJson, now: number): Array<[string, string]> {
  const e = s.epoch
  if (e === undefined) return []
  const lines: Array<[string, string]> = [['epoch', String(e.n)]]
  const w = e.waiting
  if (w !== undefined) {
    const who = w.for.map(p => `${p.nickname ?? p.name}, last seen ${p.lastSeen === null ? 'never' : relativeTime(p.lastSeen, now)}`).join('; ')
    lines.push(['', `epoch ${w.epoch} waits for ${who} (since ${relativeTime(w.since, now)}); \`weft rmpeer\` of a member that is gone unblocks it`])
  }
  for (const m of e.mismatches) lines.push(['', `checkpoint ${m.key.slice(0, 12)} by ${m.signers.join(', ')} names a digest this peer does not fold its cut to: not signed`])
  return lines
}

/** The cluster key, or loudly its absence on a port open beyond loopback (DESIGN.md §3.3). */
function securityLines (s: StatusJson): Array<[string, string]> {
  const sec = s.security as StatusJson['security'] | undefined // absent from an older daemon's status
  if (sec === undefined) return []
  if (sec.clusterKey) return [['security', `cluster key ${sec.keyFingerprint ?? '?'}`]]
  if (sec.warning !== null) return [['security', `WARNING: ${sec.warning}`]]
  return [['security', 'no cluster key (listening on loopback only)']]
}

/** Allocations in space this peer lost: said loudly, they may be handed out twice. */
function lostLines (s: StatusJson): Array<[string, string]> {
  const lost = s.ipam.lostAllocations ?? []
  if (lost.length === 0) return []
  return [['LOST', `${lost.length} allocation${lost.length === 1 ? '' : 's'} in space this peer no longer owns (may be handed out twice): ` +
    lost.slice(0, 5).map(a => `${a.id} ${a.address}`).join(', ') + (lost.length > 5 ? ', …' : '')]]
}

function formatCluster (s: StatusJson): string {
  if (s.cluster.id === null) return 'none yet'
  return `${s.cluster.id} ${s.cluster.range ?? '?'}`
}

function formatState (s: StatusJson): string {
  return s.ipam.reason !== undefined && s.ipam.reason !== '' ? `${s.ipam.state}: ${s.ipam.reason}` : s.ipam.state
}

function formatAddresses (s: StatusJson): string {
  const a = s.addresses
  return `${a.total} total, ${a.owned} owned (${percent(a.owned, a.total)}), ` +
    `${a.allocated} allocated (${percent(a.allocated, a.owned)} of owned), ${a.disputed} disputed (${percent(a.disputed, a.total)})`
}

function formatPeers (s: StatusJson, now: number): string {
  if (s.peers.length === 0) return 'no other peers known\n'
  return table(
    ['NAME', 'NICKNAME', 'OWNED', 'CONNECTED', 'LAST-SEEN', 'REMOVED'],
    s.peers.map(p => [
      p.name,
      (p.nickname ?? '-') + (p.removed ? ' (removed)' : ''),
      `${p.owned} (${percent(p.owned, s.addresses.total)})`,
      p.connected ? 'yes' : 'no',
      p.connected ? 'now' : relativeTime(p.lastSeen, now),
      removalText(p)
    ])
  )
}

/** `taken over by host1, approved by host1, host2, host4 (3 of 5 members)`; `left`; `-` while a member. */
function removalText (p: StatusJson['peers'][number]): string {
  const r = p.removedBy
  if (r === undefined) return p.removed ? 'yes' : '-'
  if (r.kind === 'leave') return 'left'
  const by = r.nickname ?? r.name
  if (r.kind === 'resolve') return `by ${by}'s resolve`
  if (r.approved === undefined) return `taken over by ${by}, without a vote`
  return `taken over by ${by}, approved by ${r.approved.votes.map(v => v.nickname ?? v.name).join(', ')} (${r.approved.votes.length} of ${r.approved.of} members)`
}

function formatIpam (s: StatusJson): string {
  const owned = s.owned.length === 0 ? ['-'] : s.owned
  return keyValues([
    ['state', formatState(s)],
    ['cluster', s.cluster.id ?? 'none yet'],
    ['range', s.cluster.range ?? '-'],
    ['addresses', formatAddresses(s)],
    ...owned.map((cidr, i): [string, string] => [i === 0 ? 'owned' : '', cidr]),
    ...(s.ipam.lostAllocations ?? []).map((a, i): [string, string] => [i === 0 ? 'lost' : '', `${a.id} ${a.address} (in space this peer no longer owns)`])
  ])
}

function formatConnections (s: StatusJson, now: number): string {
  if (s.connections.length === 0) return 'no connections\n'
  return table(
    ['PEER', 'ADDR', 'STATE', 'SINCE', 'REASON'],
    s.connections.map(c => [
      c.nickname ?? c.peer ?? '-',
      c.addr ?? '-',
      c.state + (c.retryAt !== null && c.state === 'backoff' ? ` (retry ${relativeTime(c.retryAt, now)})` : '') +
        (c.direction !== undefined && c.state === 'connected' ? ` (${c.direction})` : ''),
      relativeTime(c.since, now),
      c.reason ?? '-'
    ])
  )
}
