import { formatCidr, halveIntoBlocks, parseCidr, RangeSet, type Cidr, type Family } from '../../packages/netaddr/index.js'
import { isPeerName, shortPeerName, type EventId, type PeerName, type SignedEvent } from '../../crdt/events/index.js'
import { disputeId, type OwnershipRing } from '../../crdt/ring/index.js'
import type { RingView } from '../ring-view.js'
import { count } from '../status.js'

/**
 * One event as the offline commands show it (`history`, `audit`,
 * `conflicts`): a JSON row with stable field names, and its one-line text.
 * Peers are named by their current nickname (from the fold of the whole log)
 * and a short form of their peer name, so one peer reads the same on every line.
 */

export class OfflineQueryError extends Error {
  override name = 'OfflineQueryError'
}

/** A peer as rows name it: the peer name and its latest nickname (null before it joined). */
export interface PeerRef {
  peer: PeerName
  nickname: string | null
}

export interface PeerRanges extends PeerRef {
  ranges: string[]
  /** Number for IPv4, decimal string for IPv6 (as everywhere in weft's JSON). */
  addresses: number | string
}

export type EventStatus = 'valid' | 'void' | 'future'

export interface EventRow {
  id: EventId
  /** The author's wall clock as ISO 8601 (ms); null for the genesis, which has none. */
  time: string | null
  lamport: number
  kind: string
  /** Null for the genesis. */
  author: PeerName | null
  authorNickname: string | null
  /** One sentence for people; not for parsing. */
  summary: string
  /** Every address the event's body names (a conflict: the overlap), canonical CIDRs. */
  ranges: string[]
  addresses: number | string
  status: EventStatus
  /** Why the event is void (or needs a newer weft). */
  reason?: string
  /** Resolves that override this move within their ranges (DESIGN.md §2.3). */
  overriddenBy?: EventId[]
  /** transfer: the recipient; takeover: the author, who takes the space. */
  to?: PeerRef
  /** transfer, leave: the author; takeover: the peer taken over. */
  from?: PeerRef
  /** leave: who gets what. */
  heirs?: PeerRanges[]
  /** genesis: the seeds' blocks; resolve: its assignments. */
  owners?: PeerRanges[]
  /** resolve: the peers whose claims it settles (the claimants of its disputes). */
  claimants?: PeerRef[]
  /** takeover: the quorum vote that approved it (DESIGN.md §3.2); absent when taken over without one (forced, or format 1). */
  approval?: ApprovalRef
  /** Peers this event removes by its body (takeover: `from`; leave: the author; resolve: the removals that stand). */
  removes?: PeerRef[]
  /** join: the nickname it sets, and the addresses it advertises. */
  nickname?: string
  addrs?: string[]
  /** resolve: the disputes it settles; conflict (reason dispute): the dispute its rivals form. */
  disputes?: EventId[]
  /** checkpoint: the epoch it ends, its cut's heads and the digest of the fold there (DESIGN.md §2.6). */
  checkpoint?: { epoch: number, cut: EventId[], digest: string }
  /** conflict: `dispute` or `equivocation`, the rival event ids, and whose batch carried them. */
  conflictReason?: string
  rivals?: EventId[]
  supplier?: PeerRef
}

/** Who voted for a takeover, of how many members, in which ballot round. */
export interface ApprovalRef { votes: PeerRef[], of: number, round: number }

/** `approved by host1, host2 and host4 (3 of 5 members)`, or `without a vote`. */
export function approvalText (a: ApprovalRef | undefined): string {
  return a === undefined ? 'without a vote' : `approved by ${list(a.votes.map(peerWord))} (${a.votes.length} of ${a.of} members)`
}

/** What rows are built from: the fold (for verdicts) and peers' nicknames (from the current view). */
export interface DescribeContext {
  family: Family
  nickname: (peer: PeerName) => string | null
  /** The fold's verdict; undefined for an event known only as conflict evidence. */
  verdict: (id: EventId) => { status: EventStatus, reason?: string, overriddenBy: EventId[] } | undefined
  /** For a valid resolve: the peers whose claims it settles (its disputes' claimants), sorted. */
  settledClaimants: (id: EventId) => PeerName[]
}

export function describeContext (ring: OwnershipRing, view: RingView): DescribeContext {
  const nicknames = new Map<PeerName, string>()
  for (const p of view.json.peers) if (p.nickname !== undefined) nicknames.set(p.name, p.nickname)
  return {
    family: view.family,
    nickname: peer => nicknames.get(peer) ?? null,
    verdict: id => {
      const v = ring.verdict(id)
      if (v === undefined) return undefined
      return {
        status: v.status,
        ...(v.reason !== undefined ? { reason: v.reason } : {}),
        overriddenBy: v.overriddenBy.map(r => r.node.id).sort()
      }
    },
    settledClaimants: id => {
      const names = new Set<PeerName>()
      for (const d of ring.verdict(id)?.settles ?? []) {
        for (const p of d.parties) for (const g of p.moves) if (g.ranges.overlaps(d.ranges)) names.add(ring.causal.peers[g.peer]!)
      }
      return [...names].sort()
    }
  }
}

// ---- small shared helpers ---------------------------------------------------

export function iso (ms: number): string {
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString()
}

/** Seconds precision for text lines: `2026-11-26T06:30:58Z`. */
export function isoSeconds (ms: number | string | null): string {
  if (ms === null) return '-'
  const t = typeof ms === 'number' ? ms : Date.parse(ms)
  if (Number.isNaN(t)) return String(ms)
  return new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

export function shortId (id: EventId): string { return id.slice(0, 8) }

export function setOf (family: Family, cidrs: readonly Cidr[]): RangeSet {
  return RangeSet.fromCidrs(family, cidrs)
}

export function cidrList (set: RangeSet): string[] { return set.toCidrs().map(formatCidr) }

export function ref (ctx: DescribeContext, peer: PeerName): PeerRef {
  return { peer, nickname: ctx.nickname(peer) }
}

function peerRanges (ctx: DescribeContext, peer: PeerName, cidrs: readonly Cidr[]): PeerRanges {
  const set = setOf(ctx.family, cidrs)
  return { ...ref(ctx, peer), ranges: cidrList(set), addresses: count(set.size, ctx.family) }
}

/** `host1 (…kbzkNR)`, or `…kbzkNR` for a peer with no nickname. */
export function peerLabel (p: PeerRef): string {
  return p.nickname !== null ? `${p.nickname} (${shortPeerName(p.peer)})` : shortPeerName(p.peer)
}

/** The nickname alone when there is one (for sentences). */
function peerWord (p: PeerRef): string {
  return p.nickname ?? shortPeerName(p.peer)
}

const MAX_TEXT_CIDRS = 6

/** `10.40.0.0/13 (524288)`; long lists are cut in text (JSON has them all). */
export function rangesText (ranges: readonly string[], addresses: number | string): string {
  if (ranges.length === 0) return 'nothing (0)'
  const shown = ranges.length <= MAX_TEXT_CIDRS ? ranges.join(', ') : `${ranges.slice(0, MAX_TEXT_CIDRS).join(', ')}, … (+${ranges.length - MAX_TEXT_CIDRS} more)`
  return `${shown} (${String(addresses)})`
}

function list (items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)!}`
}

// ---- rows -------------------------------------------------------------------

/**
 * The row for one event. `verdict` may be undefined for an event known only
 * as conflict evidence (presumed valid until the event itself is in the log).
 */
/** Rows for the events of `ids` that `ring` holds, judged by it (`history --follow`). */
export function describeHeld (ring: OwnershipRing, view: RingView, ids: readonly EventId[]): EventRow[] {
  const ctx = describeContext(ring, view)
  const out: EventRow[] = []
  for (const id of ids) {
    const node = ring.causal.get(id)
    if (node !== undefined) out.push(describeEvent(ctx, node.signed))
  }
  return out
}

export function describeEvent (ctx: DescribeContext, signed: SignedEvent): EventRow {
  const e = signed.event
  const family = ctx.family
  const authorRef = e.kind === 'genesis' ? null : ref(ctx, e.author)
  const verdict = ctx.verdict(signed.id)
  const row: EventRow = {
    id: signed.id,
    time: e.kind === 'genesis' ? null : iso(e.time),
    lamport: e.lamport,
    kind: e.kind === 'future' ? `future:${e.futureKind}` : e.kind,
    author: authorRef?.peer ?? null,
    authorNickname: authorRef?.nickname ?? null,
    summary: '',
    ranges: [],
    addresses: count(0n, family),
    status: verdict?.status ?? (e.kind === 'future' ? 'future' : 'valid')
  }
  if (verdict?.reason !== undefined) row.reason = verdict.reason
  if (verdict !== undefined && verdict.overriddenBy.length > 0) row.overriddenBy = verdict.overriddenBy
  const who = authorRef === null ? 'genesis' : peerWord(authorRef)
  const setRanges = (set: RangeSet): void => {
    row.ranges = cidrList(set)
    row.addresses = count(set.size, family)
  }
  const what = (): string => `${rangesText(row.ranges, row.addresses)}`
  switch (e.kind) {
    case 'genesis': {
      setRanges(setOf(family, e.body.ranges))
      // The blocks the seeds get, exactly as the fold cuts them (DESIGN.md §2.2).
      row.owners = []
      const halves = halveIntoBlocks(e.body.ranges[0]!, e.body.seeds.length)
      e.body.seeds.forEach((s, i) => row.owners!.push(peerRanges(ctx, s, [halves[i]!])))
      row.summary = `the cluster was founded over ${what()} with ${e.body.seeds.length} seed${e.body.seeds.length === 1 ? '' : 's'}: ${list(row.owners.map(peerWord))}`
      break
    }
    case 'join':
      row.nickname = e.body.nickname
      row.addrs = [...e.body.addrs]
      row.summary = `${shortPeerName(e.author)} joined as ${e.body.nickname}`
      break
    case 'transfer':
      setRanges(setOf(family, e.body.ranges))
      row.from = authorRef!
      row.to = ref(ctx, e.body.to)
      row.summary = `${who} gave ${what()} to ${peerWord(row.to)}`
      break
    case 'takeover':
      setRanges(setOf(family, e.body.ranges))
      row.from = ref(ctx, e.body.from)
      row.to = authorRef!
      row.removes = [row.from]
      if (e.body.approval !== undefined) {
        const a = e.body.approval
        row.approval = { votes: a.votes.map(v => ref(ctx, v.peer)), of: a.of, round: a.round }
      }
      row.summary = `${who} took over ${what()} from ${peerWord(row.from)}, removing it, ${approvalText(row.approval)}`
      break
    case 'leave': {
      row.from = authorRef!
      row.heirs = e.body.heirs.map(h => peerRanges(ctx, h.peer, h.ranges))
      setRanges(setOf(family, e.body.heirs.flatMap(h => h.ranges)))
      row.removes = [authorRef!]
      row.summary = `${who} left, handing ${row.heirs.map(h => `${rangesText(h.ranges, h.addresses)} to ${peerWord(h)}`).join(', ') || 'nothing'}`
      break
    }
    case 'conflict': {
      setRanges(setOf(family, e.body.overlap))
      row.conflictReason = e.body.reason
      row.rivals = [...e.body.rivals]
      row.supplier = ref(ctx, e.body.supplier)
      if (e.body.reason === 'dispute') row.disputes = [disputeId(e.body.rivals)]
      row.summary = e.body.reason === 'dispute'
        ? `${who} flagged dispute ${shortId(row.disputes![0]!)} over ${what()} between ${list(row.rivals.map(shortId))}, carried by ${peerWord(row.supplier)}`
        : `${who} flagged equivocation: ${list(row.rivals.map(shortId))} reuse one seq, carried by ${peerWord(row.supplier)}`
      break
    }
    case 'resolve': {
      row.disputes = [...e.body.disputes]
      row.owners = e.body.assignments.map(a => peerRanges(ctx, a.owner, a.ranges))
      row.removes = e.body.removals.map(p => ref(ctx, p))
      row.claimants = ctx.settledClaimants(signed.id).map(p => ref(ctx, p))
      setRanges(setOf(family, e.body.assignments.flatMap(a => a.ranges)))
      row.summary = `${who} resolved dispute${row.disputes.length === 1 ? '' : 's'} ${row.disputes.map(shortId).join(', ')}: ` +
        `${row.owners.map(o => `${rangesText(o.ranges, o.addresses)} to ${peerWord(o)}`).join(', ') || 'nothing moves'}` +
        (row.removes.length > 0 ? `; the removal of ${list(row.removes.map(peerWord))} stands` : '')
      break
    }
    case 'checkpoint':
      row.checkpoint = { epoch: e.body.epoch, cut: [...e.body.cut], digest: e.body.digest }
      row.summary = `${who} signed the end of epoch ${e.body.epoch} at ${list(e.body.cut.map(shortId))} (digest ${e.body.digest.slice(0, 12)})`
      break
    case 'future':
      row.summary = `${who} wrote a ${e.futureKind} event of format v${e.v}, which this weft does not understand`
      break
  }
  return row
}

/** The part after KIND on a text line. */
export function rowDetails (row: EventRow): string {
  const rt = rangesText(row.ranges, row.addresses)
  const withRanges = (list: readonly PeerRanges[]): string => list.map(p => `${peerLabel(p)} ${rangesText(p.ranges, p.addresses)}`).join(', ')
  switch (row.kind) {
    case 'genesis':
      return row.owners!.length === 1 ? `${rt} → ${peerLabel(row.owners![0]!)}` : `${rt} → ${withRanges(row.owners!)}`
    case 'join':
      return `as ${row.nickname!}`
    case 'transfer':
      return `${rt} → ${peerLabel(row.to!)}`
    case 'takeover':
      return `${rt} from ${peerLabel(row.from!)}, ${approvalText(row.approval)}`
    case 'leave':
      return row.heirs!.length === 0 ? 'nothing' : row.heirs!.length === 1 ? `${rt} → ${peerLabel(row.heirs![0]!)}` : `${rt} → ${withRanges(row.heirs!)}`
    case 'conflict':
      return row.conflictReason === 'dispute'
        ? `dispute ${shortId(row.disputes![0]!)} over ${rt}: ${row.rivals!.map(shortId).join(' vs ')}, carried by ${peerLabel(row.supplier!)}`
        : `equivocation: ${row.rivals!.map(shortId).join(' vs ')}, carried by ${peerLabel(row.supplier!)}`
    case 'resolve': {
      const owners = row.owners!.length === 0 ? 'nothing moves' : row.owners!.length === 1 ? `${rt} → ${peerLabel(row.owners![0]!)}` : withRanges(row.owners!)
      const removals = (row.removes ?? []).length > 0 ? `; removal stands: ${row.removes!.map(peerLabel).join(', ')}` : ''
      return `dispute${row.disputes!.length === 1 ? '' : 's'} ${row.disputes!.map(shortId).join(', ')}: ${owners}${removals}`
    }
    case 'checkpoint':
      return `epoch ${row.checkpoint!.epoch} ends at ${row.checkpoint!.cut.map(shortId).join(', ')}, digest ${row.checkpoint!.digest.slice(0, 12)}`
    default:
      return row.summary
  }
}

/**
 * The row cut down to its body CIDRs that touch `within` (audit shows only
 * the blocks of an event that touch the audited space), with counts to
 * match. Text only: JSON keeps whole rows.
 */
export function restrictRow (row: EventRow, within: RangeSet): EventRow {
  const sized = (list: readonly string[]): { ranges: string[], addresses: number | string } => {
    const cidrs = list.map(c => parseCidr(c)).filter(c => RangeSet.fromCidrs(c.family, [c]).overlaps(within))
    return { ranges: cidrs.map(formatCidr), addresses: count(RangeSet.fromCidrs(within.family, cidrs).size, within.family) }
  }
  const out: EventRow = { ...row, ...sized(row.ranges) }
  if (out.ranges.length === row.ranges.length) return row
  const cut = (list: readonly PeerRanges[]): PeerRanges[] => list.map(p => ({ ...p, ...sized(p.ranges) })).filter(p => p.ranges.length > 0)
  if (row.heirs !== undefined) out.heirs = cut(row.heirs)
  if (row.owners !== undefined) out.owners = cut(row.owners)
  return out
}

/** Column widths for a block of lines, so the kind and details line up. */
export interface LineWidths { author: number }

export function lineWidths (rows: readonly EventRow[]): LineWidths {
  return { author: Math.max(1, ...rows.map(r => authorText(r).length)) }
}

function authorText (row: EventRow): string {
  return row.author === null ? '-' : peerLabel({ peer: row.author, nickname: row.authorNickname })
}

const KIND_WIDTH = 8

/**
 * `TIME  AUTHOR  KIND  details  id XXXXXXXX`, then `  overridden by resolve …`
 * and `  VOID: reason` when they apply. `details` may be replaced (audit
 * shows only the part of an event that touches what it audits).
 */
export function formatRow (row: EventRow, widths: LineWidths = lineWidths([row]), details = rowDetails(row)): string {
  let line = `${isoSeconds(row.time).padEnd(20)}  ${authorText(row).padEnd(widths.author)}  ${row.kind.padEnd(KIND_WIDTH)}  ${details}  id ${shortId(row.id)}`
  if (row.overriddenBy !== undefined) line += `  overridden by resolve ${row.overriddenBy.map(shortId).join(', ')}`
  if (row.status === 'void') line += `  VOID: ${row.reason ?? 'invalid'}`
  if (row.status === 'future') line += `  NOT UNDERSTOOD: ${row.reason ?? 'needs a newer weft'}`
  return line
}

export function formatRows (rows: readonly EventRow[]): string {
  const widths = lineWidths(rows)
  return rows.map(r => formatRow(r, widths) + '\n').join('')
}

// ---- names and times --------------------------------------------------------

/**
 * NAME is a peer name or a nickname (CLI.md): nickname lookup ignores removed
 * peers unless no live peer has that nickname, and refuses ambiguity. A peer
 * name the view does not list is accepted as typed if the log mentions it.
 */
export function resolvePeer (view: RingView, name: string, mentioned: (peer: PeerName) => boolean = () => false): PeerName {
  const peers = view.json.peers
  if (peers.some(p => p.name === name)) return name
  const named = peers.filter(p => p.nickname === name)
  const live = named.filter(p => p.removed === undefined)
  const pool = live.length > 0 ? live : named
  if (pool.length === 1) return pool[0]!.name
  if (pool.length > 1) throw new OfflineQueryError(`nickname ${name} is ambiguous: ${pool.map(p => p.name).join(', ')}; use a peer name`)
  if (isPeerName(name) && mentioned(name)) return name
  throw new OfflineQueryError(`no peer named ${name} in the log`)
}

export { parseTime } from './args.js'
