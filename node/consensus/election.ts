import type { PeerName } from '../../crdt/events/index.js'
import { comparePeerNames } from '../../crdt/events/peer-id.js'
import type { Clock } from '../clock.js'
import type { Logger } from '../logger.js'
import { Acceptors, proposeRound, quorumOf, type AcceptorState, type PaxosReply, type PaxosRequest } from './paxos.js'

/**
 * The bootstrap election (DESIGN.md §3.1): peers launched at once, each
 * naming the others, with no cluster yet, agree on one seed set by
 * single-decree Paxos; each then computes the same genesis from it. Each
 * peer is an acceptor (its promises durable before it answers) and, after
 * a short delay, a proposer whose candidate is the set of voters it can
 * reach: itself and every connected peer that waits for the same group. It
 * proposes at once when all N are reachable, else after the delay once a
 * quorum is (so peers launched together all become seeds, and a group with
 * some hosts down still bootstraps).
 */

/** What the voters agree on: the genesis seeds, sorted by PeerId bytes. */
export interface SeedSet { seeds: PeerName[] }

/** Who may vote together: the same N and the same range (launch options). */
export interface ElectionGroup { n: number, range: string }

export type ElectionRequest =
  | { op: 'paxos', instance: string, group: ElectionGroup, req: PaxosRequest<SeedSet> }
  /** An observer's `alloc` asks voters to hold the election now. */
  | { op: 'start', instance: string }

export type ElectionReply = PaxosReply<SeedSet> | { refused: string } | { started: true }

export interface ElectionWire {
  /** One request, one reply; rejects on timeout or when the peer cannot be reached. */
  ask: (peer: PeerName, req: ElectionRequest, timeoutMs: number) => Promise<ElectionReply>
}

export interface AcceptorStore {
  save: (instance: string, state: AcceptorState<SeedSet>) => Promise<void>
}

export interface ElectionDeps {
  self: PeerName
  group: ElectionGroup
  /** 'bootstrap' here; takeovers will name theirs. */
  instance: string
  clock: Clock
  random: () => number
  logger?: Logger
  wire: ElectionWire
  store: AcceptorStore
  /** The acceptor state an earlier run saved. */
  initial?: AcceptorState<SeedSet>
  /** Connected peers that wait for the same group (voters we can reach now). */
  voters: () => PeerName[]
  /** The seed set is chosen: found the cluster from it. */
  onChosen: (value: SeedSet) => Promise<void>
  /** Before the first proposal (ms), so that the peers launched together meet first. */
  delayMs?: number
  /** Per request (ms). */
  requestTimeoutMs?: number
}

export interface ElectionWaiting {
  quorum: number
  /** Voters reachable now, this peer included. */
  reachable: PeerName[]
}

export class Election {
  private readonly deps: ElectionDeps
  private readonly acceptor: Acceptors<SeedSet>
  private round = 0
  private attempt = 0
  private running = false
  private timer: unknown
  private started = false
  private startedAt = 0
  private done = false
  private stopped = false
  readonly quorum: number

  constructor (deps: ElectionDeps) {
    this.deps = deps
    this.acceptor = new Acceptors<SeedSet>({
      ...(deps.initial !== undefined ? { initial: [[deps.instance, deps.initial]] } : {}),
      save: async (states, instance) => { await deps.store.save(instance, states.get(instance)!) }
    })
    this.quorum = quorumOf(deps.group.n)
    this.round = deps.initial?.promised?.round ?? 0
  }

  get finished (): boolean { return this.done || this.stopped }

  /** Starts watching for voters: proposes once all N are reachable, or after the delay with a quorum. */
  start (): void {
    if (this.started || this.finished) return
    this.started = true
    this.startedAt = this.deps.clock.now()
    this.schedule(0)
  }

  /** Someone is waiting (an `alloc`, an observer): make sure the election runs, and look at once. */
  kick (): void {
    if (this.finished) return
    if (!this.started) { this.start(); return }
    if (!this.running && this.attempt === 0) this.schedule(0)
  }

  /** A cluster exists (joined or founded): the election is over for this peer. */
  stop (): void {
    this.stopped = true
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer)
    this.timer = undefined
  }

  waiting (): ElectionWaiting {
    return { quorum: this.quorum, reachable: this.reachable() }
  }

  private reachable (): PeerName[] {
    return [...new Set([this.deps.self, ...this.deps.voters()])].sort(comparePeerNames)
  }

  private schedule (ms: number): void {
    if (this.finished) return
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer)
    this.timer = this.deps.clock.setTimeout(() => { this.timer = undefined; void this.propose() }, ms)
  }

  private async propose (): Promise<void> {
    if (this.running || this.finished) return
    this.running = true
    try {
      const voters = this.reachable()
      const waited = this.deps.clock.now() - this.startedAt >= (this.deps.delayMs ?? 2000)
      if (voters.length < this.deps.group.n && !(waited && voters.length >= this.quorum)) {
        // Not everyone yet: look again soon (status says who is missing).
        this.schedule(voters.length >= this.quorum ? 100 : 250)
        return
      }
      this.round++
      // Our own promise first, durable before any voter sees the ballot: restarted, this peer starts
      // above it (deps.initial), so it never sends a ballot again with another seed set.
      const mine = await this.accept({ op: 'prepare', ballot: { round: this.round, proposer: this.deps.self } }).catch(() => undefined)
      if (this.finished) return
      if (mine === undefined || !mine.ok) {
        if (mine !== undefined) this.round = Math.max(this.round, mine.promised.round)
        this.schedule(mine === undefined ? 250 : 0)
        return
      }
      const outcome = await proposeRound<SeedSet, PaxosReply<SeedSet>>({
        self: this.deps.self,
        voters,
        quorum: this.quorum,
        round: this.round,
        candidate: { seeds: voters },
        ask: async (voter, req) => await this.ask(voter, req)
      })
      if (this.finished) return
      if ('chosen' in outcome) {
        this.done = true
        this.deps.logger?.forComponent('weft:election').info(`seeds chosen in round ${outcome.ballot.round}: ${outcome.chosen.seeds.join(', ')}`)
        await this.deps.onChosen(outcome.chosen)
        return
      }
      this.round = Math.max(this.round, outcome.above)
      // Duelling proposers back off at random, longer each time.
      this.attempt++
      this.schedule(Math.round((100 + 400 * this.deps.random()) * 2 ** Math.min(this.attempt, 4)))
    } finally {
      this.running = false
    }
  }

  private async ask (voter: PeerName, req: PaxosRequest<SeedSet>): Promise<PaxosReply<SeedSet>> {
    if (voter === this.deps.self) return await this.accept(req)
    const reply = await this.deps.wire.ask(voter, { op: 'paxos', instance: this.deps.instance, group: this.deps.group, req }, this.deps.requestTimeoutMs ?? 2000)
    if ('refused' in reply || 'started' in reply) throw new Error('refused' in reply ? reply.refused : 'not a paxos reply')
    if (!reply.ok) this.round = Math.max(this.round, reply.promised.round)
    return reply
  }

  /** The acceptor: one request at a time, its new state durable before the reply. */
  private async accept (req: PaxosRequest<SeedSet>): Promise<PaxosReply<SeedSet>> {
    return await this.acceptor.step(this.deps.instance, req)
  }

  /** Answers a peer's request (the /weft/consensus/1.0.0 handler calls this). */
  async handle (from: PeerName, req: ElectionRequest): Promise<ElectionReply> {
    if (req.instance !== this.deps.instance) return { refused: `no election ${req.instance} here` }
    if (req.op === 'start') {
      this.kick()
      return { started: true }
    }
    const mine = this.deps.group
    if (req.group.n !== mine.n || req.group.range !== mine.range) {
      return { refused: `peer ${from} was launched with --init consensus=${req.group.n} over ${req.group.range}, this peer with --init consensus=${mine.n} over ${mine.range}` }
    }
    return await this.accept(req.req)
  }
}
