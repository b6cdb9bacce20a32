import { createHash } from 'node:crypto'
import { signApproval, type EventId, type PeerName, type Signer, type TakeoverApproval } from '../../crdt/events/index.js'
import { comparePeerNames } from '../../crdt/events/peer-id.js'
import { WeftError } from '../../crdt/errors.js'
import type { Clock } from '../clock.js'
import type { Logger } from '../logger.js'
import { Acceptors, proposeRound, quorumOf, type AcceptorState, type PaxosReply, type PaxosRequest } from './paxos.js'

/**
 * Takeovers approved by a quorum (DESIGN.md §3.2). Before `rmpeer` takes
 * over a peer T, the live members vote, by single-decree Paxos in the
 * instance "takeover of T" (one per cluster and removed peer), on who takes
 * T over. The winner appends its takeover carrying the voters' signed
 * accepts; a loser appends nothing and names the winner. So two operators
 * removing the same dead peer never give its space two owners while a
 * majority of the members is reachable.
 *
 * Voters: the live members of the proposer's view but T. Quorum: a majority
 * of the live members with T counted, so two quorums share a voter that is
 * neither of two peers removing each other (mutual removal), and a
 * two-member cluster has no quorum at all (each side could be the live one:
 * only `--force` removes there). Every acceptor checks that its view has
 * the same members (a digest in each request), so proposer and acceptors
 * count over the same set; a view that differs refuses until sync.
 */

/** What the voters agree on: who takes T over, and how many members the vote counted. */
export interface TakeoverValue { taker: PeerName, of: number }

export interface TakeoverVoteRequest {
  op: 'takeover'
  cluster: EventId
  target: PeerName
  /** sha-256 of the sorted member names the quorum counts over (live members and T). */
  members: string
  req: PaxosRequest<TakeoverValue>
}

export type TakeoverVoteReply =
  /** `sig`: on an accepted value, the acceptor's approval signature (base64). */
  | (PaxosReply<TakeoverValue> & { sig?: string })
  /** Refused; `takenBy` when the refusal is that the taker itself is being taken over (by that peer). */
  | { refused: string, takenBy?: PeerName }

export interface TakeoverVoteWire {
  ask: (peer: PeerName, req: TakeoverVoteRequest, timeoutMs: number) => Promise<TakeoverVoteReply>
}

/** The part of the ring view a vote needs. */
export interface VoteView {
  cluster: EventId
  /** Members not removed. */
  live: readonly PeerName[]
  /** A removed peer's removal, when it was an approved takeover. */
  approvedRemoval: (peer: PeerName) => { by: PeerName, votes: number, of: number } | undefined
}

export type VoteOutcome =
  | { won: true, approval: TakeoverApproval }
  /** The vote chose another taker (or this peer is itself being taken over, `self: true`). */
  | { lost: true, winner: PeerName, votes: number, of: number, self?: true }
  /** Too few voters reachable for a quorum: only --force takes over. */
  | { minority: true, reachable: PeerName[], quorum: number, of: number }

/** A vote that did not finish in time: the caller may retry (HTTP 409). */
export class VoteTimeoutError extends WeftError<'vote-timeout'> {
  override name = 'VoteTimeoutError'
  constructor (message: string) { super('vote-timeout', message) }
}

export interface TakeoverVotesDeps {
  self: PeerName
  signer: Signer
  view: () => VoteView | undefined
  /** Peers with an open session now. */
  connected: () => readonly PeerName[]
  wire: TakeoverVoteWire
  /** Every instance's acceptor state, durable before `save` resolves. */
  store: { save: (states: Record<PeerName, AcceptorState<TakeoverValue>>) => Promise<void> }
  initial?: Record<PeerName, AcceptorState<TakeoverValue>>
  clock: Clock
  random: () => number
  logger?: Logger
  /** The whole vote, retries included (ms). */
  timeoutMs?: number
  /** Per request (ms). */
  requestTimeoutMs?: number
}

/** The members a vote on T counts over: live members and T itself, sorted. */
export function voteMembers (view: VoteView, target: PeerName): PeerName[] {
  return [...new Set([...view.live, target])].sort(comparePeerNames)
}

export function membersDigest (members: readonly PeerName[]): string {
  return createHash('sha256').update(members.join('\n')).digest('hex')
}

type AskedReply = TakeoverVoteReply & { voter: PeerName }

export class TakeoverVotes {
  private readonly deps: TakeoverVotesDeps
  private readonly acceptors: Acceptors<TakeoverValue>
  private readonly log: Logger | undefined
  /** The highest round each vote of this process used: two votes at once never share a ballot. */
  private readonly rounds = new Map<PeerName, number>()

  constructor (deps: TakeoverVotesDeps) {
    this.deps = deps
    this.log = deps.logger?.forComponent('weft:takeover-vote')
    this.acceptors = new Acceptors<TakeoverValue>({
      initial: Object.entries(deps.initial ?? {}),
      save: async states => { await deps.store.save(Object.fromEntries(states)) }
    })
  }

  /** The acceptor: answers a voter request from `from` (the /weft/consensus/1.0.0 handler calls this). */
  async handle (from: PeerName, r: TakeoverVoteRequest): Promise<TakeoverVoteReply> {
    const view = this.deps.view()
    const self = this.deps.self
    if (view === undefined) return { refused: 'this peer has not joined a cluster' }
    if (r.cluster !== view.cluster) return { refused: `this peer belongs to cluster ${view.cluster}, not ${r.cluster}` }
    if (r.target === self) return { refused: `${self} is alive: it answered this vote on removing it` }
    if (!view.live.includes(from)) return { refused: `${from} is not a live member in this peer's view` }
    const members = voteMembers(view, r.target)
    if (membersDigest(members) !== r.members) return { refused: `this peer counts ${members.length} members: views differ, retry after sync` }
    const req = r.req
    if (req.op === 'accept' && !view.live.includes(req.value.taker)) return { refused: `${req.value.taker} is not a live member in this peer's view: it cannot take over` }
    const reply = await this.acceptors.step(r.target, req, states => req.op === 'accept' ? this.clash(states, r.target, req.value.taker, view) : undefined)
    if ('refused' in reply || !reply.ok) return reply
    if (req.op === 'prepare') {
      // A value whose taker was removed since is moot: that peer can sign no
      // valid takeover any more (one concurrent with its removal is a flagged
      // removal dispute). Not reporting it lets the vote choose a live taker,
      // instead of adopting a removed one forever (found by the fuzz).
      const accepted = reply.accepted
      return accepted !== undefined && !view.live.includes(accepted.value.taker) ? { ok: true } : reply
    }
    const sig = signApproval({ cluster: r.cluster, from: r.target, to: req.value.taker, round: req.ballot.round, proposer: req.ballot.proposer, of: req.value.of }, this.deps.signer)
    return { ...reply, sig: Buffer.from(sig).toString('base64') }
  }

  /**
   * Whether approving "taker takes target" would approve a mutual removal:
   * the taker is the target of a value accepted here, or the target is
   * taking another peer over, and that other takeover has not happened yet
   * (its target and its taker are both still live here).
   */
  private clash (states: ReadonlyMap<string, AcceptorState<TakeoverValue>>, target: PeerName, taker: PeerName, view: VoteView): { refused: string, takenBy?: PeerName } | undefined {
    for (const [other, st] of states) {
      const accepted = st.accepted?.value
      if (other === target || accepted === undefined || !view.live.includes(other) || !view.live.includes(accepted.taker)) continue
      if (other === taker) return { refused: `${taker} is being taken over by ${accepted.taker}`, takenBy: accepted.taker }
      if (accepted.taker === target) return { refused: `${target} is taking over ${other}, so it is alive` }
    }
    return undefined
  }

  /**
   * Runs the vote on this peer taking over `target` until it is decided or
   * the timeout. Never throws for a lost vote or a minority: those are outcomes.
   */
  /** Who could vote on `target` now: this peer and the connected live members, and the quorum they need. */
  reach (target: PeerName): { members: PeerName[], reachable: PeerName[], quorum: number, of: number } {
    const view = this.deps.view()
    if (view === undefined) throw new VoteTimeoutError('this peer has not joined a cluster')
    const members = voteMembers(view, target)
    const connected = new Set(this.deps.connected())
    const reachable = members.filter(m => m !== target && (m === this.deps.self || connected.has(m)))
    return { members, reachable, quorum: quorumOf(members.length), of: members.length }
  }

  async vote (target: PeerName, label: string = target): Promise<VoteOutcome> {
    const { self, clock } = this.deps
    const view = this.deps.view()
    if (view === undefined) throw new VoteTimeoutError('this peer has not joined a cluster')
    const { members, reachable, quorum, of } = this.reach(target)
    if (reachable.length < quorum) return { minority: true, reachable, quorum, of }
    const timeoutMs = this.deps.timeoutMs ?? 10_000
    const deadline = clock.now() + timeoutMs
    const digest = membersDigest(members)
    let round = this.acceptors.state(target).promised?.round ?? 0
    let why = ''
    for (let attempt = 0; clock.now() < deadline; attempt++) {
      // A ballot is used once: above any other vote's of this process, and above this peer's own
      // durable promise, which is made before any voter sees the ballot, so that a restarted peer
      // (which starts above its promise) never sends a ballot again with another value.
      round = Math.max(round, this.rounds.get(target) ?? 0) + 1
      this.rounds.set(target, round)
      if (reachable.includes(self)) {
        const mine = await this.handle(self, { op: 'takeover', cluster: view.cluster, target, members: digest, req: { op: 'prepare', ballot: { round, proposer: self } } })
        if ('ok' in mine && !mine.ok) { round = Math.max(round, mine.promised.round); continue }
      }
      // The taker phase 2 carried this round: ours, or one a voter had accepted.
      let carried: PeerName | undefined
      const ask = async (voter: PeerName, req: PaxosRequest<TakeoverValue>): Promise<AskedReply> => {
        if (req.op === 'accept') {
          carried = req.value.taker
          // A taker adopted from a round held before the membership changed carries that round's
          // count: the votes approve it over the members counted now (the quorum this round needs).
          if (req.value.of !== of) req = { ...req, value: { ...req.value, of } }
        }
        const r: TakeoverVoteRequest = { op: 'takeover', cluster: view.cluster, target, members: digest, req }
        const reply = voter === self ? await this.handle(self, r) : await this.deps.wire.ask(voter, r, this.deps.requestTimeoutMs ?? 2000)
        return { ...reply, voter }
      }
      const outcome = await proposeRound<TakeoverValue, AskedReply>({ self, voters: reachable, quorum, round, candidate: { taker: self, of }, ask })
      if ('chosen' in outcome) {
        const value = outcome.chosen
        if (value.taker !== self) return { lost: true, winner: value.taker, votes: outcome.accepts.length, of }
        const votes = outcome.accepts.flatMap(a => 'sig' in a && a.sig !== undefined ? [{ peer: a.voter, sig: new Uint8Array(Buffer.from(a.sig, 'base64')) }] : [])
        this.log?.info(`vote won in round ${outcome.ballot.round}: ${votes.length} of ${of} members approve taking over ${target}`)
        return { won: true, approval: { cluster: view.cluster, round: outcome.ballot.round, proposer: self, of, votes } }
      }
      // "The taker is being taken over" is about this peer only when the round carried its own name;
      // a value adopted from another proposer is refused for that proposer's sake: retry.
      const taken = outcome.no.find(r => 'takenBy' in r && r.takenBy !== undefined)
      if (taken !== undefined && 'takenBy' in taken && carried === self) return { lost: true, winner: taken.takenBy!, votes: 0, of, self: true }
      const refusals = outcome.no.flatMap(r => 'refused' in r ? [`${r.voter}: ${r.refused}`] : [])
      if (refusals.length > 0) why = `; ${refusals.slice(0, 3).join('; ')}`
      round = Math.max(round, outcome.above)
      // Duelling proposers back off at random, longer each time, within the deadline.
      const wait = Math.min(Math.round((50 + 200 * this.deps.random()) * 2 ** Math.min(attempt, 4)), Math.max(0, deadline - clock.now()))
      await new Promise<void>(resolve => { clock.setTimeout(resolve, wait) })
    }
    throw new VoteTimeoutError(`the vote on taking over ${label} did not finish within ${Math.round(timeoutMs / 1000)} s (${reachable.length} reachable voters, ${quorum} needed)${why}: retry`)
  }
}
