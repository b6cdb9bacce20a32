import { WeftError } from '../crdt/errors.js'
import { parseCidr, RangeSet } from '../packages/netaddr/index.js'
import type { EventId, PeerName, TakeoverApproval } from '../crdt/events/index.js'
import { disputeId } from '../crdt/ring/index.js'
import type { RingView, RingViewJson } from './ring-view.js'
import { count } from './status.js'
import type { VoteOutcome } from './consensus/takeover.js'
import type { RmpeerResultJson } from './api/types.js'

/**
 * Peer lifecycle (DESIGN.md §3, §7; CLI.md): remove dead peers, resolve
 * disputes, leave the cluster. Each turns a user's request into one signed
 * event, refusing, with the reason, what would likely be a mistake.
 */

/** A lifecycle request refused, with the reason: the caller's to fix (HTTP 409). */
export class LifecycleError extends WeftError<'refused'> {
  override name = 'LifecycleError'
  constructor (message: string) { super('refused', message) }
}

type ViewPeer = RingViewJson['peers'][number]

export function label (p: ViewPeer): string {
  return p.nickname !== undefined ? `${p.nickname} (${p.name})` : p.name
}

/**
 * NAME is a peer name or a nickname; nickname lookup ignores removed peers
 * unless no live peer has that nickname, and refuses ambiguity (CLI.md).
 */
export function lookupPeer (view: RingView, name: string): ViewPeer {
  const peers = view.json.peers
  const exact = peers.find(p => p.name === name)
  if (exact !== undefined) return exact
  const named = peers.filter(p => p.nickname === name)
  const live = named.filter(p => p.removed === undefined)
  const pool = live.length > 0 ? live : named
  if (pool.length === 1) return pool[0]!
  if (pool.length === 0) throw new LifecycleError(`no peer is named ${name}`)
  throw new LifecycleError(`nickname ${name} is ambiguous: ${pool.map(p => p.name).join(', ')}; use a peer name`)
}

function ago (ms: number): string {
  const s = Math.round(ms / 1000)
  return s < 120 ? `${s} s` : `${Math.round(s / 60)} min`
}

export interface RmpeerContext {
  self: PeerName
  view: RingView
  connected: readonly PeerName[]
  lastSeen: (peer: PeerName) => number | undefined
  now: number
  /** Two anti-entropy rounds (ms): a peer seen more recently may be alive. */
  recentMs: number
  /** Why this peer may sign no takeover at all (read-only, cloned identity, removed), or undefined: checked before any vote. */
  cannotSign: () => string | undefined
  /** Who could vote on removing `target` now, and the quorum they need. */
  reach: (target: PeerName) => { reachable: readonly PeerName[], quorum: number, of: number }
  /** The quorum vote on this peer taking `target` over (DESIGN.md §3.2). */
  vote: (target: PeerName, label: string) => Promise<VoteOutcome>
  takeover: (from: PeerName, approval?: TakeoverApproval) => Promise<{ id: EventId, ranges: string[] }>
}

export type RmpeerResult = RmpeerResultJson

/** The vote chose another taker: its message is the whole line (CLI.md). */
export class LostVoteError extends WeftError<'lost-vote'> {
  override name = 'LostVoteError'
  readonly lost: { winner: PeerName, votes: number, of: number }
  constructor (message: string, lost: { winner: PeerName, votes: number, of: number }) {
    super('lost-vote', message)
    this.lost = lost
  }
}

const approvedBy = (votes: number, of: number): string => `approved by ${votes} of ${of} members`

function nick (view: RingView, name: PeerName): string {
  return view.peer(name)?.nickname ?? name
}

/** Why removing `p` now is probably a mistake, or undefined. */
function rmpeerRefusal (ctx: RmpeerContext, p: ViewPeer): string | undefined {
  if (ctx.connected.includes(p.name)) return `${label(p)} is connected, so it is alive: stop it first, or use --force`
  const seen = ctx.lastSeen(p.name)
  if (seen !== undefined && ctx.now - seen < ctx.recentMs) {
    return `${label(p)} was last seen ${ago(ctx.now - seen)} ago, within two anti-entropy rounds: it may be alive; use --force to remove it anyway`
  }
  const d = ctx.view.openDisputes.find(x => x.claimants.includes(p.name) || x.atStake.includes(p.name))
  if (d !== undefined) {
    const when = seen === undefined ? 'never seen by this peer' : `last seen ${ago(ctx.now - seen)} ago`
    return `${label(p)} is in unresolved dispute ${d.id} (${when}): run \`weft resolve ${d.id}\` first, or use --force`
  }
  return undefined
}

/** The minority refusal: a takeover now may collide with one on the other side of a partition. */
function minorityMessage (reach: { reachable: readonly PeerName[], quorum: number, of: number }, typed: string): string {
  const n = reach.reachable.length
  const others = n - 1
  return `only ${n} of ${reach.of} members ${n === 1 ? 'is' : 'are'} reachable ` +
    `(this peer${others > 0 ? ` and ${others} other${others === 1 ? '' : 's'}` : ''}; ${reach.quorum} needed to approve taking over ${typed}): ` +
    'a takeover now may collide with one made where the others are; use --force to take over anyway'
}

/**
 * Why not to take `p` over, in the order that matters most: the log shows
 * another peer won its vote (never overridden); then, unless --force, too
 * few members reachable for a vote, and the liveness guard.
 */
function refusal (ctx: RmpeerContext, p: ViewPeer, typed: string, force: boolean): Error | undefined {
  const known = ctx.view.peer(p.name)?.removed
  if (known?.approved !== undefined && known.by !== ctx.self) {
    const lost = { winner: known.by, votes: known.approved.votes.length, of: known.approved.of }
    return new LostVoteError(`${typed} was taken over by ${nick(ctx.view, known.by)} (${approvedBy(lost.votes, lost.of)})`, lost)
  }
  if (force) return undefined
  const reach = ctx.reach(p.name)
  if (reach.reachable.length < reach.quorum) return new LifecycleError(minorityMessage(reach, typed))
  const why = rmpeerRefusal(ctx, p)
  return why === undefined ? undefined : new LifecycleError(why)
}

/**
 * Wins the vote on taking `p` over, or throws why not: a lost vote (naming
 * the winner), or a minority without --force. Undefined approval: forced
 * in a minority.
 */
async function approve (ctx: RmpeerContext, p: ViewPeer, typed: string, force: boolean): Promise<TakeoverApproval | undefined> {
  const outcome = await ctx.vote(p.name, typed)
  if ('won' in outcome) return outcome.approval
  if ('lost' in outcome) {
    const lost = { winner: outcome.winner, votes: outcome.votes, of: outcome.of }
    if (outcome.self === true) throw new LostVoteError(`this peer is being taken over by ${nick(ctx.view, outcome.winner)}: it cannot take over ${typed}`, lost)
    throw new LostVoteError(`${typed} is being taken over by ${nick(ctx.view, outcome.winner)} (${approvedBy(outcome.votes, outcome.of)})`, lost)
  }
  if (force) return undefined
  throw new LifecycleError(minorityMessage(outcome, typed))
}

export async function rmpeer (ctx: RmpeerContext, names: string[], force: boolean): Promise<RmpeerResult[]> {
  const out: RmpeerResult[] = []
  for (const name of names) {
    try {
      const p = lookupPeer(ctx.view, name)
      if (p.name === ctx.self) throw new LifecycleError(`${name} is this peer: to leave the cluster, run \`weft reset\``)
      // A peer that cannot sign must not win a vote it could never act on.
      const unable = ctx.cannotSign()
      if (unable !== undefined) throw new LifecycleError(unable)
      const why = refusal(ctx, p, name, force)
      if (why !== undefined) throw why
      const approval = await approve(ctx, p, name, force)
      const r = await ctx.takeover(p.name, approval)
      const ips = RangeSet.fromCidrs(ctx.view.family, r.ranges.map(c => parseCidr(c))).size
      out.push({
        name,
        ok: true,
        peer: p.name,
        ips: count(ips, ctx.view.family),
        event: r.id,
        ...(approval !== undefined ? { approved: { votes: approval.votes.map(v => v.peer), of: approval.of } } : { forced: true as const })
      })
    } catch (err) {
      out.push({ name, ok: false, ...(err instanceof LostVoteError ? { lost: err.lost } : {}), error: (err as Error).message })
    }
  }
  return out
}

/**
 * The resolve for a dispute: its whole space to one owner (the chosen one,
 * or the first claimant by (lamport, id) that is a live member), removals
 * standing for the other peers at stake.
 */
export function resolveBody (view: RingView, self: PeerName, idOrPrefix: string, ownerName: string | undefined, conflictRivals: (id: EventId) => EventId[] | undefined): {
  dispute: RingViewJson['disputes'][number]
  body: { disputes: EventId[], removals: PeerName[], assignments: Array<{ owner: PeerName, ranges: string[] }> }
} {
  const all = view.json.disputes
  let d = all.find(x => x.id === idOrPrefix)
  if (d === undefined) {
    const rivals = conflictRivals(idOrPrefix)
    if (rivals !== undefined) d = all.find(x => x.id === disputeId(rivals))
  }
  if (d === undefined && /^[0-9a-f]{8,63}$/.test(idOrPrefix)) {
    const matches = all.filter(x => x.id.startsWith(idOrPrefix))
    if (matches.length > 1) throw new LifecycleError(`dispute id prefix ${idOrPrefix} is ambiguous: ${matches.map(x => x.id).join(', ')}`)
    d = matches[0]
  }
  if (d === undefined) {
    // A fork is settled by removing its author, not by a resolve (DESIGN.md §2.7).
    // Any peer's flag names it (the view shows one flag per fork), as do its two events.
    const flagged = conflictRivals(idOrPrefix)
    const q = view.json.equivocations.find(x => x.flaggedBy.startsWith(idOrPrefix) || x.events.some(id => id.startsWith(idOrPrefix)) ||
      (flagged !== undefined && flagged.length === x.events.length && flagged.every(id => x.events.includes(id))))
    if (q !== undefined && idOrPrefix.length >= 8) {
      const who = nick(view, q.author)
      throw new LifecycleError(q.settled
        ? `${idOrPrefix} is an equivocation by ${who}, already settled: ${who} is removed`
        : `${idOrPrefix} is an equivocation by ${who} (two events with seq ${q.seq}), not a dispute: run \`weft rmpeer ${who}\` to take its space over, which settles it`)
    }
    throw new LifecycleError(`no dispute ${idOrPrefix} is known here (\`weft conflicts\` lists them)`)
  }
  if (d.status !== 'open') throw new LifecycleError(`dispute ${d.id} is already settled by ${d.settledBy.join(', ')}`)
  const live = (name: PeerName): boolean => {
    const p = view.peer(name)
    return p !== undefined && p.member && p.removed === undefined
  }
  let owner: PeerName
  if (ownerName !== undefined) {
    const p = lookupPeer(view, ownerName)
    if (!live(p.name)) throw new LifecycleError(`${label(p)} cannot own the space: it is removed or not a member`)
    owner = p.name
  } else {
    const first = d.claimants.find(live)
    if (first === undefined) throw new LifecycleError(`dispute ${d.id} has no live claimant: choose one with --owner NAME`)
    owner = first
  }
  void self
  return {
    dispute: d,
    body: {
      disputes: [d.id],
      removals: d.kind === 'removal' ? d.atStake.filter(p => p !== owner) : [],
      assignments: d.ranges.length === 0 ? [] : [{ owner, ranges: d.ranges }]
    }
  }
}
