/**
 * Text forms of the offline commands: `history`, `replay`, `audit`,
 * `conflicts`. Each event is one line (node/offline/describe.ts); `--json`
 * prints the structures these format instead, and scripts should use that.
 */
import type { AuditJson, AuditNow, Fate, PeerAuditJson, SpaceAuditJson } from '../../node/offline/audit.js'
import {
  approvalText, formatRow, formatRows, isoSeconds, lineWidths, peerLabel, rangesText, restrictRow, rowDetails, shortId, type EventRow, type PeerRef
} from '../../node/offline/describe.js'
import type { ConflictsJson, ReplayResult } from '../../node/offline/history.js'
import { parseCidr, RangeSet } from '../../packages/netaddr/index.js'
import { percent } from './text.js'

export function formatHistory (rows: readonly EventRow[]): string {
  return rows.length === 0 ? 'no events match\n' : formatRows(rows)
}

// ---- replay -----------------------------------------------------------------

export function formatReplay (r: ReplayResult): string {
  const j = r.json
  const lines: string[] = []
  const point = r.atRow !== undefined
    ? `event ${shortId(r.atRow.id)} (${isoSeconds(r.atRow.time)}, ${r.atRow.author === null ? 'genesis' : `${peerLabel({ peer: r.atRow.author, nickname: r.atRow.authorNickname })} ${r.atRow.kind}`})`
    : (j.at.time ?? '-').replace(/\.000Z$/, 'Z')
  lines.push(`ring at ${point}: ${j.events} of ${j.totalEvents} events`)
  lines.push(`range ${rangesText([j.range], j.addresses)}`)
  const labels = j.owners.map(o => peerLabel(o) + (o.removed ? ' [removed]' : ''))
  const width = Math.max(8, ...labels.map(l => l.length))
  j.owners.forEach((o, i) => {
    lines.push(`${labels[i]!.padEnd(width)}  ${String(o.addresses)} (${percent(o.addresses, j.addresses)})  ${o.ranges.join(', ')}`)
  })
  if (j.owners.length === 0) lines.push(`${'(nobody)'.padEnd(width)}  owns nothing`)
  for (const d of j.disputed.disputes) {
    lines.push(`${'disputed'.padEnd(width)}  ${String(d.addresses)} (${percent(d.addresses, j.addresses)})  ${d.ranges.join(', ')}  ` +
      `dispute ${shortId(d.id)} (${d.kind}): parties ${d.parties.map(shortId).join(', ')}; claimants ${d.claimants.map(peerLabel).join(', ')}`)
  }
  if (j.unowned.ranges.length > 0) lines.push(`${'unowned'.padEnd(width)}  ${String(j.unowned.addresses)}  ${j.unowned.ranges.join(', ')}  (should not happen)`)
  return lines.join('\n') + '\n'
}

// ---- conflicts --------------------------------------------------------------

export function formatConflicts (c: ConflictsJson): string {
  const lines: string[] = []
  for (const d of c.disputes) {
    const parties = d.parties.map(p => `${shortId(p.id)} (${p.kind}${p.author !== null ? ` by ${peerLabel({ peer: p.author, nickname: p.authorNickname })}` : ''}${p.inLog ? '' : ', evidence only'})`)
    const status = d.status === 'open' ? 'OPEN' : `settled by ${d.settledBy.map(shortId).join(', ')}`
    const stake = d.atStake.length > 0 ? `; removal of ${d.atStake.map(peerLabel).join(', ')} at stake` : ''
    const flagged = d.flaggedBy.length > 0 ? `; flagged by ${d.flaggedBy.map(shortId).join(', ')}` : ''
    const hint = d.status === 'open' ? `; run: weft resolve ${d.id}` : ''
    lines.push(`dispute ${d.id}  ${status}  ${d.kind}  ${rangesText(d.ranges, d.addresses)}  parties ${parties.join(' vs ')}; ` +
      `claimants ${d.claimants.map(peerLabel).join(', ') || '-'}${stake}${flagged}${hint}`)
  }
  const rows = [...c.voids, ...c.overridden]
  const widths = lineWidths(rows)
  for (const v of c.voids) lines.push(`void        ${formatRow(v, widths)}`)
  for (const o of c.overridden) lines.push(`overridden  ${formatRow(o, widths)}`)
  for (const q of c.equivocations) {
    const hint = q.settled ? 'settled: its author is removed' : `open; run: weft rmpeer ${q.author.nickname ?? q.author.peer}`
    lines.push(`equivocation  ${peerLabel(q.author)} reused seq ${q.seq}: ${q.events.map(shortId).join(' vs ')}; flagged by ${shortId(q.flaggedBy)}; ${hint}`)
  }
  if (lines.length === 0) return 'no conflicts\n'
  return lines.join('\n') + '\n'
}

// ---- audit --------------------------------------------------------------------

export function formatAudit (a: AuditJson): string {
  return a.target.type === 'peer' ? formatPeerAudit(a as PeerAuditJson) : formatSpaceAudit(a as SpaceAuditJson)
}

function formatSpaceAudit (a: SpaceAuditJson): string {
  const lines: string[] = []
  const t = a.target
  lines.push(`${t.type === 'address' ? t.text : rangesText(t.ranges, t.addresses)}: ${a.events.length} event${a.events.length === 1 ? '' : 's'}`)
  const widths = lineWidths(a.events.map(e => e.event))
  const cidrs = t.ranges.map(c => parseCidr(c))
  const within = RangeSet.fromCidrs(cidrs[0]?.family ?? 4, cidrs)
  for (const e of a.events) lines.push(formatRow(e.event, widths, rowDetails(restrictRow(e.event, within))))
  for (const n of a.now) lines.push(nowLine(t.type === 'address' ? t.text : rangesText(n.ranges, n.addresses), n))
  return lines.join('\n') + '\n'
}

function nowLine (what: string, n: AuditNow): string {
  if (n.state === 'unowned') return `now: ${what} is owned by nobody`
  if (n.state === 'disputed') return `now: ${what} is disputed (${(n.disputes ?? []).map(d => `dispute ${d}`).join(', ')}): nobody may allocate it`
  const s = n.since
  if (s === undefined) return `now: ${what} is owned by ${peerLabel(n.owner!)}`
  if (s.kind === 'genesis') return `now: ${what} is owned by ${peerLabel(n.owner!)} since the genesis (genesis ${shortId(s.id)})`
  const by = s.author === null ? 'the genesis' : peerLabel({ peer: s.author, nickname: s.authorNickname })
  const how = s.kind === 'takeover'
    ? `taken over by ${by} from ${s.from !== null ? peerLabel(s.from) : '?'}, ${approvalText(s.approval)}`
    : s.kind === 'leave'
      ? `handed on by ${by} as it left`
      : s.kind === 'resolve'
        ? `assigned by ${by}'s resolve`
        : `given by ${by}`
  return `now: ${what} is owned by ${peerLabel(n.owner!)} since ${isoSeconds(s.time)}, ${how} (${s.kind} ${shortId(s.id)})`
}

function formatPeerAudit (a: PeerAuditJson): string {
  const t = a.target
  const me = peerLabel({ peer: t.peer, nickname: t.nickname })
  const lines: string[] = []
  const removed = t.removed === null
    ? ''
    : t.removed.by.peer === t.peer
      ? `; left at ${isoSeconds(t.removed.time)} (${shortId(t.removed.event)})`
      : `; removed by ${peerLabel(t.removed.by)} at ${isoSeconds(t.removed.time)} (${shortId(t.removed.event)})`
  lines.push(`${me}: received space ${a.received.length} time${a.received.length === 1 ? '' : 's'}; owns ${t.owns.ranges.length === 0 ? 'nothing' : rangesText(t.owns.ranges, t.owns.addresses)} now${removed}`)
  const widths = lineWidths(a.received.map(r => r.event))
  for (const r of a.received) {
    lines.push(formatRow(r.event, widths))
    if (r.ranges.length !== r.event.ranges.length) lines.push(`    received ${rangesText(r.ranges, r.addresses)}`)
    for (const f of r.fates) lines.push(`    ${rangesText(f.ranges, f.addresses)}: ${fateText(f)}`)
  }
  return lines.join('\n') + '\n'
}

function eventWords (e: { id: string, time: string | null, kind: string, author: string | null, authorNickname: string | null }): string {
  const by = e.author === null ? '' : ` by ${peerLabel({ peer: e.author, nickname: e.authorNickname })}`
  return `${e.kind} ${shortId(e.id)}${by} at ${isoSeconds(e.time)}`
}

function nowWords (now: NonNullable<Fate['now']>): string {
  if (now.state === 'owned') return `now owned by ${peerLabel(now.owner!)}`
  if (now.state === 'disputed') return `now disputed (${(now.disputes ?? []).map(shortId).join(', ')})`
  return 'now owned by nobody'
}

function fateText (f: Fate): string {
  const to = (list: PeerRef[] | undefined): string => (list ?? []).map(peerLabel).join(' and ')
  const then = f.now === undefined ? '' : `; ${nowWords(f.now)}`
  switch (f.outcome) {
    case 'still-owned': return 'still owned'
    case 'moved': return `→ ${to(f.to)} (${(f.by ?? []).map(eventWords).join('; concurrently ')})${then}`
    case 'overridden': return `overridden → ${to(f.to)} (${(f.by ?? []).map(eventWords).join(', ')})${then}`
    default: return nowWords(f.now!)
  }
}
