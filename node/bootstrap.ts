import type { EventId, PeerName } from '../crdt/events/index.js'
import type { Clock } from './clock.js'
import type { InitMode, Tuning } from './config.js'
import { Election, type ElectionReply, type ElectionRequest, type SeedSet } from './consensus/election.js'
import { helloInit, isVoterOf } from './consensus/init.js'
import { acceptorStateShape, type AcceptorState } from './consensus/paxos.js'
import { arrayOf, checkShape, object, ShapeError, strWhere } from './shape.js'
import { isPeerName } from '../crdt/events/peer-id.js'
import type { HelloInit, LogState } from './log-service/types.js'
import type { Logger } from './logger.js'
import type { ElectionWire } from './consensus/election.js'
import type { Network } from './net/network.js'

/**
 * How a peer that knows no cluster gets one (DESIGN.md §3.1): a founder
 * founds alone; `--init seed=` seeds compute the same genesis at once; a
 * consensus group elects its seeds (node/consensus/election.ts); an
 * observer waits. Any of them joins a cluster that a peer it meets has.
 */

const INSTANCE = 'bootstrap'

export interface BootstrapDeps {
  self: PeerName
  init: InitMode
  /** The cluster range to found (--range, else the default). */
  range: string
  tuning: Tuning
  log: {
    readonly state: LogState
    found: (range: string, seeds?: PeerName[]) => Promise<EventId>
    getAcceptor: (instance: string) => Promise<unknown>
    putAcceptor: (instance: string, state: unknown) => Promise<void>
  }
  network: Network
  /** /weft/consensus/1.0.0, served by the daemon, which hands election requests to `answer`. */
  wire: ElectionWire
  clock: Clock
  random: () => number
  logger: Logger
  /** Addresses to dial, from PEERs or the store: a founder with some waits to join instead. */
  hasPeersToAsk: boolean
}

export interface BootstrapWaiting { state: 'awaiting-consensus' | 'waiting-for-cluster', reason: string }

/** A PEER address as people typed it: /ip4/10.0.0.3/tcp/6783 → 10.0.0.3:6783, /dns4/host3/tcp/6783 → host3:6783. */
function shortAddr (addr: string): string {
  const m = /^\/(?:ip4|ip6|dns4|dns6|dns)\/([^/]+)\/tcp\/(\d+)/.exec(addr)
  return m === null ? addr : `${m[1]!}:${m[2]!}`
}

export class Bootstrap {
  private readonly deps: BootstrapDeps
  private readonly log: Logger
  private readonly consensus: ElectionWire
  private readonly ours: HelloInit
  private election: Election | undefined
  private settled = false

  constructor (deps: BootstrapDeps) {
    this.deps = deps
    this.log = deps.logger.forComponent('weft:bootstrap')
    this.ours = helloInit(deps.init, deps.range)
    this.consensus = deps.wire
  }

  /** Does what the mode says for a peer with no cluster. */
  async start (): Promise<void> {
    if (this.deps.log.state !== 'waiting-for-cluster') { this.settled = true; return }
    const { init, range, self } = this.deps
    switch (init.mode) {
      case 'founder':
        if (!this.deps.hasPeersToAsk) await this.found([self], 'founded a cluster')
        return
      case 'seed':
        if (init.seeds.includes(self)) await this.found(init.seeds, `founded the cluster of seeds ${init.seeds.join(', ')}`)
        else this.log.info(`not one of the seeds: waiting for the cluster they found over ${range}`)
        return
      case 'observer':
        this.log.info('observer: waiting for a peer that has a cluster')
        return
      case 'consensus': {
        const initial = checkedAcceptor(await this.deps.log.getAcceptor(INSTANCE))
        this.election = new Election({
          self,
          group: { n: init.n, range },
          instance: INSTANCE,
          clock: this.deps.clock,
          random: this.deps.random,
          logger: this.deps.logger,
          wire: this.consensus,
          store: { save: async (instance, state) => { await this.deps.log.putAcceptor(instance, state) } },
          ...(initial !== undefined ? { initial } : {}),
          voters: () => this.deps.network.connectedWhoseHello(h => isVoterOf(this.ours, h)),
          onChosen: async value => { await this.found(value.seeds, `founded the cluster the election chose: seeds ${value.seeds.join(', ')}`) },
          delayMs: this.deps.tuning.consensusDelayMs
        })
        this.log.info(`waiting for consensus among ${init.n} peers over ${range}`)
        this.election.start()
      }
    }
  }

  private async found (seeds: PeerName[], what: string): Promise<void> {
    if (this.deps.log.state !== 'waiting-for-cluster') return // joined one meanwhile: same cluster, by Paxos
    try {
      const id = await this.deps.log.found(this.deps.range, seeds)
      this.log.info(`${what} (cluster ${id})`)
      this.clusterKnown()
    } catch (err) {
      // A sync may have brought the cluster a moment before: that is fine.
      if (this.deps.log.state === 'waiting-for-cluster') throw err
    }
  }

  /** What our hello says about how we get a cluster, while we have none. */
  helloInit (): HelloInit | undefined {
    return this.settled || this.deps.log.state !== 'waiting-for-cluster' ? undefined : this.ours
  }

  /** We found or joined a cluster: the election is over; tell every peer in a new hello. */
  clusterKnown (): void {
    if (this.settled) return
    this.settled = true
    this.election?.stop()
    this.deps.network.rehelloAll()
  }

  /** Someone wants to allocate: elect now rather than after the delay (an observer asks the voters it knows). */
  kick (): void {
    if (this.settled) return
    if (this.election !== undefined) { this.election.kick(); return }
    if (this.deps.init.mode !== 'observer') return
    const voters = this.deps.network.connectedWhoseHello(h => h.cluster === undefined && h.init?.mode === 'consensus')
    for (const v of voters) void this.consensus.ask(v, { op: 'start', instance: INSTANCE }, 2000).catch(() => {})
  }

  /** Answers an election request (the daemon's /weft/consensus/1.0.0 handler calls this). */
  async answer (from: PeerName, req: ElectionRequest): Promise<ElectionReply> {
    if (this.election !== undefined && !this.settled) return await this.election.handle(from, req)
    return { refused: this.settled ? 'this peer already has a cluster: join it' : 'this peer does not vote (it was not launched with --init consensus)' }
  }

  /** Why this peer has no cluster yet, for status, wait-ready and alloc. */
  waiting (): BootstrapWaiting {
    const { init } = this.deps
    const unreachable = this.deps.network.unreachableTargets().map(shortAddr)
    const missing = unreachable.length > 0 ? ` (${unreachable.join(', ')} unreachable)` : ''
    if (this.election !== undefined) {
      const w = this.election.waiting()
      const reason = w.reachable.length < w.quorum
        ? `waiting for consensus: ${w.reachable.length} of ${w.quorum} needed peers reachable${missing}`
        : `waiting for consensus: electing the seeds among ${w.reachable.length} reachable peers (quorum ${w.quorum})`
      return { state: 'awaiting-consensus', reason }
    }
    if (init.mode === 'observer') return { state: 'waiting-for-cluster', reason: `observer: waiting for a peer that has a cluster${missing}` }
    if (init.mode === 'seed') return { state: 'waiting-for-cluster', reason: `waiting for the cluster of seeds ${init.seeds.join(', ')}${missing}` }
    return { state: 'waiting-for-cluster', reason: `no cluster yet: waiting for a peer to answer${missing}` }
  }
}

const seedSetShape = object({ seeds: arrayOf(strWhere('a peer name', isPeerName)) })

/** The stored bootstrap acceptor state, checked: an acceptor must never answer from a state it misread. */
function checkedAcceptor (x: unknown): AcceptorState<SeedSet> | undefined {
  if (x === undefined) return undefined
  try {
    return checkShape(x, acceptorStateShape(seedSetShape))
  } catch (err) {
    if (!(err instanceof ShapeError)) throw err
    throw new Error(`the store's bootstrap vote record (state key acceptor:${INSTANCE}) is malformed (${err.message}): this peer cannot vote on founding the cluster; move its data dir aside and launch it as a new peer`, { cause: err })
  }
}
