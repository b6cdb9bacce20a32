import type { EventId, PeerName } from '../crdt/events/index.js'
import type { ResetJson, RmpeerResultJson, SecurityJson, StatusJson } from './api/types.js'
import { Allocator } from './allocator/allocator.js'
import type { AllocationStore } from './allocator/types.js'
import { Bootstrap } from './bootstrap.js'
import type { Clock } from './clock.js'
import { DEFAULT_RANGE, type InitMode, type Tuning } from './config.js'
import { startTakeoverVotes } from './consensus/wiring.js'
import type { TakeoverVotes, VoteOutcome } from './consensus/takeover.js'
import { LifecycleError, resolveBody, rmpeer } from './lifecycle.js'
import type { PeerLog } from './log-service/api.js'
import { clonedMessage, MAX_KNOWN_ADDRESSES, UPGRADE_NEEDED, type ReceiveOutcome } from './log-service/types.js'
import type { Logger } from './logger.js'
import { ConsensusService } from './net/consensus.js'
import { Liveness } from './net/liveness.js'
import { Network } from './net/network.js'
import { SpaceService } from './net/space.js'
import type { Transport } from './net/transport.js'
import { ReadinessGate, type Readiness } from './readiness.js'
import { reset } from './reset.js'
import { RingView, type RingViewJson } from './ring-view.js'
import { buildStatus } from './status.js'
import type { KnownPeer } from './store/index.js'
import { parseCidr, RangeSet } from '../packages/netaddr/index.js'

/** What a peer is told at launch (the daemon's DaemonConfig, less what only a process has). */
export interface PeerConfig {
  nickname: string
  /** `--range`, when given: the range to found, and the one a cluster must have. */
  range?: string
  /** Addresses given at launch (PEER arguments). */
  peers: string[]
  /** Addresses other peers dial; empty = the transport's listen addresses. */
  advertise: string[]
  init: InitMode
}

/**
 * A peer's dependencies (DESIGN.md §1, §8): everything that touches time,
 * chance, the network or the disk comes in here, so the daemon (a worker,
 * libp2p, LMDB, the system clock) and the simulator (an in-process log, the
 * memory transport, a memory disk, simulated time) build the same peer.
 */
export interface PeerDeps {
  self: PeerName
  /** The identity's Ed25519 seed: takeover votes are signed with it. */
  seed: Uint8Array
  config: PeerConfig
  tuning: Tuning
  log: PeerLog
  allocations: AllocationStore
  clock: Clock
  random: () => number
  logger: Logger
  /** When peers were last seen, as saved by the last run. */
  seen?: Record<PeerName, number>
  /** The cluster key's state, for status (none in a simulation). */
  security?: SecurityJson
  /** Throws when `addr` can never be dialled by this peer's transport (a stored address from an older build). */
  checkAddr?: (addr: string) => void
  /** Called after each local append, with how many events (metrics). */
  onLocalAppend?: (count: number) => void
  /** How long alloc waits for readiness and donations (the allocator's default, 30 s, unless given). */
  allocTimeoutMs?: number
  /** Called when the network adopts a peer's events (metrics). */
  onReceived?: (peer: PeerName, outcome: ReceiveOutcome) => void
}

const NO_SECURITY: SecurityJson = { clusterKey: false, keyFingerprint: null, keyFile: null, warning: null }

/**
 * One weft peer: the network (sync, space, consensus), the allocator, the
 * bootstrap, takeover votes, readiness and the lifecycle commands, wired
 * around a log (DESIGN.md §3). The composition the daemon and the simulator
 * share: `new Peer(deps)` as soon as the log exists (it follows the log's
 * notices from the first), `start(transport)` once the log is open.
 */
export class Peer {
  readonly self: PeerName
  readonly config: PeerConfig
  readonly tuning: Tuning
  readonly log: PeerLog
  readonly allocations: AllocationStore
  network: Network | undefined
  allocator: Allocator | undefined
  readonly startedAt: number
  private readonly deps: PeerDeps
  private readonly log_: Logger
  private readonly ready: ReadinessGate
  private readonly liveness: Liveness
  private bootstrap: Bootstrap | undefined
  private takeoverVotes: TakeoverVotes | undefined
  private cachedView: { json: RingViewJson, view: RingView } | undefined
  private stopping = false
  private stopped = false
  private joinedOnce = false
  private lastLossReport = ''
  private seenTimer: unknown

  constructor (deps: PeerDeps) {
    this.deps = deps
    this.self = deps.self
    this.config = deps.config
    this.tuning = deps.tuning
    this.log = deps.log
    this.allocations = deps.allocations
    this.startedAt = deps.clock.now()
    this.log_ = deps.logger.forComponent('weft:peer')
    this.ready = new ReadinessGate({
      clock: deps.clock,
      logger: deps.logger,
      graceMs: this.tuning.readyGraceMs,
      blocker: () => {
        if (this.log.state === 'loading') return 'the log is still loading'
        if (this.log.state === 'waiting-for-cluster') return this.bootstrap?.waiting().reason ?? 'waiting for a cluster: no peer has answered yet'
        if (this.log.cloned !== undefined) return clonedMessage(this.self, this.log.cloned)
        return undefined
      },
      never: () => this.log.cloned !== undefined,
      hasTargets: () => this.network?.hasTargets === true,
      connectedCount: () => this.network?.connectedPeers().length ?? 0,
      stopping: () => this.stopping
    })
    this.liveness = new Liveness({ self: this.self, now: () => deps.clock.now(), known: p => this.log.latestView?.peers.some(q => q.name === p) === true })
    this.liveness.load(deps.seen ?? {})
    this.log.onNotice(n => {
      if (n.type === 'adopted') {
        for (const [author, time] of n.authors ?? []) this.liveness.note(author, time)
        this.network?.syncAll()
        if (n.local) deps.onLocalAppend?.(n.ids.length)
      }
      if (n.type === 'view') { this.onView(n.view); this.allocator?.viewChanged(); this.reportLoss() }
      if (n.type === 'cloned') this.network?.quiesce()
      // Another epoch: peers still on the old one must hear it, and fetch it (DESIGN.md §2.6).
      if (n.type === 'epoch') this.network?.epochChanged()
      // Joined a cluster by sync (or founded one): the bootstrap is over.
      if ((n.type === 'view' || n.type === 'state') && n.state === 'ready') this.bootstrap?.clusterKnown()
      this.ready.wake()
    })
  }

  /** Starts the network, the allocator, the space and consensus services and the bootstrap on `transport`. */
  async start (transport: Transport): Promise<void> {
    const { deps } = this
    const view = this.log.latestView
    if (view !== undefined && this.config.range !== undefined && view.range !== this.config.range) {
      throw new Error(`this peer belongs to a cluster over ${view.range}, but was launched with --range ${this.config.range}`)
    }
    const network = new Network({
      transport,
      self: this.self,
      advertise: this.config.advertise,
      ...(this.config.range !== undefined ? { wantedRange: this.config.range } : {}),
      tuning: this.tuning,
      log: this.log,
      logger: deps.logger,
      clock: deps.clock,
      random: deps.random,
      nickname: () => this.config.nickname,
      onCaughtUp: () => { this.ready.caughtUpWithPeer() },
      onAdopted: peer => { this.network?.syncAll(peer) },
      onReceived: (peer, outcome) => { deps.onReceived?.(peer, outcome) },
      liveness: this.liveness,
      helloInit: () => this.bootstrap?.helloInit()
    })
    this.network = network
    await network.start()
    if (this.stopping) { await network.stop(); return }
    this.saveSeenEvery(this.tuning.syncIntervalMs)
    if (this.log.cloned !== undefined) network.quiesce()
    let space: SpaceService | undefined
    const allocator = new Allocator({
      self: this.self,
      store: this.allocations,
      view: () => this.ringView(),
      ready: async ms => await this.waitReady(ms),
      space: { request: async (subnet, ms) => await space!.request(subnet, ms) },
      clock: deps.clock,
      logger: deps.logger,
      ...(deps.allocTimeoutMs !== undefined ? { timeoutMs: deps.allocTimeoutMs } : {})
    })
    this.allocator = allocator
    space = new SpaceService({ self: this.self, transport, allocator, view: () => this.ringView(), writer: this.log, logger: deps.logger, clock: deps.clock })
    await space.start()
    const consensus = new ConsensusService({
      transport,
      logger: deps.logger,
      answer: async (from, req) => req.op === 'takeover'
        ? await this.takeoverVotes!.handle(from, req)
        : await this.bootstrap?.answer(from, req) ?? { refused: 'this peer is starting' }
    })
    this.takeoverVotes = await startTakeoverVotes({
      self: this.self,
      seed: deps.seed,
      view: () => this.ringView(),
      connected: () => this.network?.connectedPeers() ?? [],
      wire: consensus,
      log: this.log,
      logger: deps.logger,
      tuning: this.tuning,
      clock: deps.clock,
      random: deps.random
    })
    await consensus.start()
    const known = await this.dialableKnownPeers()
    network.addTargets(this.config.peers, 'launch')
    for (const k of known) network.addTargets([k.addr], k.source === 'join' ? 'join' : 'connect', k.peer)
    this.bootstrap = new Bootstrap({
      self: this.self,
      init: this.config.init,
      range: this.config.range ?? DEFAULT_RANGE,
      tuning: this.tuning,
      log: this.log,
      network,
      wire: consensus,
      clock: deps.clock,
      random: deps.random,
      logger: deps.logger,
      hasPeersToAsk: this.config.peers.length > 0 || known.length > 0
    })
    await this.bootstrap.start()
    await this.writeJoin()
    if (this.log.latestView !== undefined) this.onView(this.log.latestView)
    this.ready.startGrace()
  }

  /**
   * The stored addresses to dial, checked as `weft connect` checks them now:
   * one stored before that (garbage, a UDP address, a bad /p2p/ part) can
   * never be dialled, so it is forgotten, with a warning; past
   * MAX_KNOWN_ADDRESSES, the rest are not dialled (`weft forget` makes room).
   */
  private async dialableKnownPeers (): Promise<KnownPeer[]> {
    const good: KnownPeer[] = []
    const bad: string[] = []
    for (const k of await this.log.knownPeers()) {
      try {
        this.deps.checkAddr?.(k.addr)
        good.push(k)
      } catch (err) {
        this.log_.warn(`forgetting a stored address that cannot be dialled: ${(err as Error).message}`)
        bad.push(k.addr)
      }
    }
    if (bad.length > 0) await this.log.forgetPeers(bad).catch(err => { this.log_.warn(`could not forget bad addresses: ${(err as Error).message}`) })
    if (good.length > MAX_KNOWN_ADDRESSES) {
      this.log_.warn(`the store keeps ${good.length} addresses to dial; dialling the first ${MAX_KNOWN_ADDRESSES} (\`weft forget\` the others)`)
    }
    return good.slice(0, MAX_KNOWN_ADDRESSES)
  }

  /** Saves when peers were last seen, every `ms` while running: rmpeer's guard must survive a relaunch. */
  private saveSeenEvery (ms: number): void {
    this.seenTimer = this.deps.clock.setTimeout(() => {
      if (this.stopping) return
      void this.saveSeen().finally(() => { this.saveSeenEvery(ms) })
    }, ms)
  }

  private async saveSeen (): Promise<void> {
    const seen = this.liveness.takeChanges()
    if (seen === undefined) return
    try {
      await this.log.putSeen(seen)
    } catch (err) {
      this.log_.warn(`could not save when peers were last seen: ${(err as Error).message}`)
    }
  }

  private async writeJoin (): Promise<void> {
    if (this.log.state !== 'ready' || this.network === undefined) return
    try {
      await this.log.ensureJoin(this.config.nickname, this.network.advertiseAddrs())
    } catch (err) {
      this.log_.warn(`could not write this peer's join: ${(err as Error).message}`)
    }
  }

  /** New ring view: learn peers' addresses from their joins; write our join once we have a cluster. */
  private onView (json: RingViewJson): void {
    const net = this.network
    if (net === undefined) return
    for (const p of json.peers) {
      if (p.name === this.self || p.removed !== undefined || p.addrs.length === 0) continue
      net.addTargets(p.addrs, 'join', p.name)
    }
    if (!this.joinedOnce && this.log.state === 'ready' && !json.peers.some(p => p.name === this.self && p.nickname !== undefined)) {
      this.joinedOnce = true
      void this.writeJoin()
    }
  }

  /**
   * Says, once per change, when this peer was removed and which of its
   * allocations lie in space it lost (DESIGN.md §3): those addresses may now
   * be handed out twice.
   */
  private reportLoss (): void {
    const view = this.ringView()
    const me = view?.peer(this.self)
    const lost = this.allocator?.lost() ?? []
    const removed = me?.removed
    const key = `${removed?.event ?? ''}|${lost.map(a => a.address).join()}`
    if (key === this.lastLossReport) return
    this.lastLossReport = key
    if (removed !== undefined) {
      const by = view?.peer(removed.by)
      this.log_.error(`removed from the network by ${by?.nickname ?? removed.by} (${removed.by}) at ${new Date(removed.time).toISOString()}; run \`weft reset\` to rejoin with a new identity`)
    }
    if (lost.length > 0) {
      const shown = lost.slice(0, 5).map(a => `${a.id} ${a.address}`).join(', ')
      this.log_.error(`${lost.length} allocation${lost.length === 1 ? ' is' : 's are'} in space this peer no longer owns and may be handed out twice: ${shown}${lost.length > 5 ? ', …' : ''}`)
    }
  }

  /** The latest ring view, its range sets built once per view. */
  ringView (): RingView | undefined {
    const json = this.log.latestView
    if (json === undefined) return undefined
    if (this.cachedView?.json !== json) this.cachedView = { json, view: new RingView(json) }
    return this.cachedView.view
  }

  // ---- readiness -----------------------------------------------------------

  readiness (): Readiness { return this.ready.now() }

  waitReady (timeoutMs: number): Promise<Readiness> {
    // The first alloc (or wait-ready) starts the election without waiting for its delay.
    this.bootstrap?.kick()
    return this.ready.wait(timeoutMs)
  }

  // ---- commands ------------------------------------------------------------

  status (): StatusJson {
    return buildStatus({
      self: this.self,
      nickname: this.config.nickname,
      view: this.ringView(),
      logState: this.log.state,
      ...(this.log.cloned !== undefined ? { cloned: this.log.cloned } : {}),
      readiness: this.readiness(),
      ...(this.log.state === 'waiting-for-cluster' && this.bootstrap !== undefined ? { waiting: this.bootstrap.waiting() } : {}),
      network: this.network,
      startedAt: this.startedAt,
      now: this.deps.clock.now(),
      allocated: this.allocator?.count ?? this.allocations.all().length,
      security: this.deps.security ?? NO_SECURITY,
      ...(this.log.epoch !== undefined ? { epoch: this.log.epoch } : {}),
      lost: (this.allocator?.lost() ?? []).map(a => ({ id: a.id, address: a.address, subnet: a.subnet }))
    })
  }

  async connect (addrs: string[]): Promise<void> {
    await this.log.rememberPeers(addrs, 'connect')
    this.network?.addTargets(addrs, 'connect')
  }

  async forget (addrs: string[]): Promise<void> {
    await this.log.forgetPeers(addrs)
    this.network?.removeTargets(addrs)
  }

  private needView (): RingView {
    const view = this.ringView()
    if (view === undefined || this.log.state === 'waiting-for-cluster') throw new LifecycleError('this peer has not joined a cluster yet')
    return view
  }

  async rmpeer (names: string[], force: boolean): Promise<RmpeerResultJson[]> {
    const net = this.network
    const votes = (): TakeoverVotes => {
      if (this.takeoverVotes === undefined) throw new LifecycleError('this peer has not started its network yet')
      return this.takeoverVotes
    }
    return await rmpeer({
      self: this.self,
      view: this.needView(),
      connected: net?.connectedPeers() ?? [],
      lastSeen: p => net?.lastSeen(p),
      now: this.deps.clock.now(),
      recentMs: 2 * this.tuning.syncIntervalMs,
      cannotSign: () => {
        const view = this.ringView()
        const me = view?.peer(this.self)
        if (view?.json.readOnly === true) return `takeover refused: ${UPGRADE_NEEDED}`
        if (this.log.cloned !== undefined) return clonedMessage(this.self, this.log.cloned)
        if (me?.removed !== undefined) return `takeover refused: this peer was removed from the network by ${view?.peer(me.removed.by)?.nickname ?? me.removed.by}; run \`weft reset\` to rejoin with a new identity`
        return undefined
      },
      reach: target => votes().reach(target),
      vote: async (target, label) => await votes().vote(target, label),
      takeover: async (from, approval) => await this.log.takeover(from, approval)
    }, names, force)
  }

  /** Test hook: the takeover vote alone, nothing appended. */
  async voteOnly (target: PeerName): Promise<VoteOutcome> {
    if (this.takeoverVotes === undefined) throw new LifecycleError('this peer has not started its network yet')
    return await this.takeoverVotes.vote(target)
  }

  async resolve (id: string, owner?: string): Promise<{ id: EventId, dispute: EventId, owner: PeerName }> {
    const view = this.needView()
    const rivals = /^[0-9a-f]{64}$/.test(id) ? await this.log.conflictRivals(id) : undefined
    const { dispute, body } = resolveBody(view, this.self, id, owner, () => rivals)
    const r = await this.log.append('resolve', {
      disputes: body.disputes,
      removals: body.removals,
      assignments: body.assignments.map(a => ({ owner: a.owner, ranges: RangeSet.fromCidrs(view.family, a.ranges.map(c => parseCidr(c))).toCidrs() }))
    })
    return { id: r.id, dispute: dispute.id, owner: body.assignments[0]?.owner ?? this.self }
  }

  async reset (force: boolean): Promise<ResetJson> {
    return await reset({
      self: this.self,
      view: this.needView(),
      connected: this.network?.connectedPeers() ?? [],
      allocations: this.allocator,
      leave: async (candidates, ms) => await this.log.leave(candidates, ms),
      confirmMs: this.tuning.resetConfirmMs
    }, force)
  }

  // ---- stopping --------------------------------------------------------------

  get isStopping (): boolean { return this.stopping }

  /**
   * From now on the peer answers as stopping (readiness, dialling), before
   * stop() runs: the daemon answers its stop request first, then stops.
   */
  markStopping (): void { this.stopping = true }

  /** Stops the network and saves when peers were last seen; the log and the stores are the caller's to close. */
  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.stopping = true
    if (this.seenTimer !== undefined) this.deps.clock.clearTimeout(this.seenTimer)
    try { await this.network?.stop() } catch (err) { this.log_.warn(`network stop: ${(err as Error).message}`) }
    await this.saveSeen()
  }
}
