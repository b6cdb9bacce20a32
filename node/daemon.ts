import { readdir, stat } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import type { PeerName } from '../crdt/events/index.js'
import { ControlApiError, startControlServer } from './api/server.js'
import type { DaemonApi, ResetJson, RmpeerResultJson, SecurityJson, StatusJson } from './api/types.js'
import { Allocator } from './allocator/allocator.js'
import { ALLOCATIONS_FILE, openAllocationStore } from './allocator/store.js'
import type { AllocationStore } from './allocator/types.js'
import { systemClock } from './clock.js'
import { exposureWarning } from './cluster-key.js'
import { DEFAULT_RANGE, DEFAULT_TUNING, type DaemonConfig, type Tuning } from './config.js'
import { libp2pPrivateKey, loadOrCreateIdentity, type Identity } from './identity.js'
import { LogClient } from './log-service/client.js'
import { clonedMessage, MAX_KNOWN_ADDRESSES, UPGRADE_NEEDED } from './log-service/types.js'
import { createLogger, lineSink, type Logger } from './logger.js'
import { Bootstrap } from './bootstrap.js'
import { ReadinessGate, type Readiness } from './readiness.js'
import { Liveness } from './net/liveness.js'
import type { Network } from './net/network.js'
import { checkRingViewJson, RingView, type RingViewJson } from './ring-view.js'
import { checkShape, finite, recordOf, ShapeError, strWhere } from './shape.js'
import { isPeerName } from '../crdt/events/peer-id.js'
import { Store, STORE_FILE, type KnownPeer } from './store/index.js'
import { DaemonMetrics } from './metrics.js'
import { buildStatus } from './status.js'
import { runTestHook } from './test-hooks.js'
import { LifecycleError, resolveBody, rmpeer } from './lifecycle.js'
import { reset } from './reset.js'
import { startTakeoverVotes } from './consensus/wiring.js'
import type { TakeoverVotes, VoteOutcome } from './consensus/takeover.js'
import { parseCidr, RangeSet } from '../packages/netaddr/index.js'
import type { EventId } from '../crdt/events/index.js'

/**
 * The daemon's composition root: the log worker, the network and the
 * control socket, wired together. It answers `status` from the persisted
 * ring snapshot while the log loads, founds or joins a cluster, writes its
 * join, and reports ready once it has synced with a peer (DESIGN.md §3).
 */
export class Daemon implements DaemonApi {
  readonly config: DaemonConfig
  readonly tuning: Tuning
  readonly self: PeerName
  readonly logger: Logger
  readonly log: LogClient
  network: Network | undefined
  allocator: Allocator | undefined
  private allocationStore: AllocationStore | undefined
  private cachedView: { json: RingViewJson, view: RingView } | undefined
  private readonly metricsRegistry: DaemonMetrics
  private readonly followers = new Set<(row: unknown) => void>()
  private readonly startedAt = systemClock.now()
  private readonly log_: Logger
  private readonly identity: Identity
  private control: { close: () => Promise<void> } | undefined
  private readonly ready: ReadinessGate
  private stopped: Promise<void>
  private resolveStopped!: () => void
  private stopping = false
  /** How this peer gets a cluster while it has none (founder, seeds, consensus, observer). */
  private bootstrap: Bootstrap | undefined
  /** The acceptor of takeover votes, and the proposer rmpeer runs (DESIGN.md §3.2). */
  private takeoverVotes: TakeoverVotes | undefined
  /** When each peer was last seen: loaded from the store, handed to the network, saved every round. */
  private readonly liveness: Liveness
  /** The cluster key in use, and the warning when there is none and the port is open beyond loopback. */
  private readonly security: SecurityJson

  constructor (config: DaemonConfig, identity: Identity, logger: Logger) {
    this.config = config
    this.tuning = { ...DEFAULT_TUNING, ...config.tuning }
    this.self = identity.peerName
    this.identity = identity
    this.logger = logger
    this.log_ = logger.forComponent('weft:daemon')
    this.stopped = new Promise(resolve => { this.resolveStopped = resolve })
    const key = config.clusterKey
    this.security = {
      clusterKey: key !== undefined,
      keyFingerprint: key?.fingerprint ?? null,
      keyFile: key?.file ?? null,
      warning: exposureWarning(key, config.listen) ?? null
    }
    this.ready = new ReadinessGate({
      clock: systemClock,
      logger,
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
    this.liveness = new Liveness({ self: this.self, now: () => systemClock.now(), known: p => this.log.latestView?.peers.some(q => q.name === p) === true })
    this.log = new LogClient({ dataDir: config.dataDir, seed: identity.seed, logLevel: config.logLevel }, logger, err => { this.fatal(err) })
    this.metricsRegistry = new DaemonMetrics({
      events: () => this.log.latestView?.events ?? 0,
      disputes: () => ({ open: this.ringView()?.openDisputes.length ?? 0, total: this.log.latestView?.disputes.length ?? 0 }),
      peers: () => ({ known: Math.max(0, (this.log.latestView?.peers.length ?? 1) - 1), connected: this.network?.connectedPeers().length ?? 0 }),
      addresses: () => {
        const v = this.ringView()
        return { owned: Number(v?.ownedBy(this.self).size ?? 0n), allocated: this.allocator?.count ?? 0, disputed: Number(v?.disputedSet.size ?? 0n) }
      },
      syncBytes: () => this.network?.bytes() ?? { in: 0, out: 0 }
    })
  }

  get done (): Promise<void> { return this.stopped }

  private fatal (err: Error): void {
    if (this.stopping) return
    this.log_.error(`log worker failed: ${err.message}`)
    void this.stop().finally(() => { process.exitCode = 1 })
  }

  async start (): Promise<void> {
    // Stop cleanly on a signal from the very start (the store, the worker).
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { void this.stop() })
    if (this.security.warning !== null) this.log_.warn(this.security.warning)
    if (this.config.clusterKey !== undefined) this.log_.info(`cluster key ${this.config.clusterKey.fingerprint} from ${this.config.clusterKey.file}: only peers holding it can connect`)
    // libp2p takes ~0.4 s to import: start once the worker has published the
    // persisted snapshot, so the first status answers right away and the
    // import overlaps with the document loading in the worker.
    let snapshotShown!: () => void
    const firstNotice = new Promise<void>(resolve => { snapshotShown = resolve })
    this.log.onNotice(n => {
      if (n.type === 'adopted') {
        for (const [author, time] of n.authors ?? []) this.liveness.note(author, time)
        this.network?.syncAll()
        if (n.local) this.metricsRegistry.localAppend(n.ids.length)
        if (this.followers.size > 0) void this.tellFollowers(n.ids)
      }
      if (n.type === 'view') { this.onView(n.view); this.allocator?.viewChanged(); this.reportLoss() }
      if (n.type === 'cloned') this.network?.quiesce()
      if (n.type === 'view' || n.type === 'state') {
        snapshotShown()
        // Joined a cluster by sync (or founded one): the bootstrap is over.
        if (n.state === 'ready') this.bootstrap?.clusterKnown()
      }
      this.ready.wake()
    })
    // The persisted snapshot first (read-only, a few ms), while the worker
    // starts; then the control socket: status answers from it while the log loads.
    const persisted = await readPersisted(this.config.dataDir, this.log_)
    this.liveness.load(persisted.seen)
    this.log.go(persisted.view)
    // Allocations live in their own store, owned by this thread: allocating
    // never waits for the log worker (which may be busy for seconds).
    this.allocationStore = openAllocationStore(this.config.dataDir)
    this.control = await startControlServer(this.config.socketPath, this, this.logger)
    if (this.log.latestView !== undefined) snapshotShown()
    const opened = this.log.open()
    await Promise.race([firstNotice, opened])
    const [{ Network }, { Libp2pTransport }, privateKey] = await Promise.all([
      import('./net/network.js'), import('./net/libp2p-transport.js'), libp2pPrivateKey(this.identity)
    ])
    await opened
    if (this.stopping) return
    const view = this.log.latestView
    if (view !== undefined && this.config.range !== undefined && view.range !== this.config.range) {
      throw new Error(`this peer belongs to a cluster over ${view.range}, but was launched with --range ${this.config.range}`)
    }
    const transport = new Libp2pTransport({
      privateKey,
      listen: this.config.listen,
      announce: this.config.advertise,
      // The cap is the design's (DESIGN.md §3: 16), inbound and outbound together.
      maxConnections: this.tuning.maxConnections,
      ...(this.config.clusterKey !== undefined ? { psk: this.config.clusterKey.psk } : {})
    }, this.self)
    this.network = new Network({
      transport,
      self: this.self,
      advertise: this.config.advertise,
      ...(this.config.range !== undefined ? { wantedRange: this.config.range } : {}),
      tuning: this.tuning,
      log: this.log,
      logger: this.logger,
      clock: systemClock,
      random: Math.random,
      nickname: () => this.config.nickname,
      onCaughtUp: () => { this.ready.caughtUpWithPeer() },
      onAdopted: peer => { this.network?.syncAll(peer) },
      onReceived: (peer, outcome) => { this.metricsRegistry.received(peer, outcome) },
      liveness: this.liveness,
      helloInit: () => this.bootstrap?.helloInit()
    })
    await this.network.start()
    if (this.stopping) { await this.network.stop(); return }
    this.saveSeenEvery(this.tuning.syncIntervalMs)
    if (this.log.cloned !== undefined) this.network.quiesce()
    const { SpaceService } = await import('./net/space.js')
    let space: InstanceType<typeof SpaceService> | undefined
    this.allocator = new Allocator({
      self: this.self,
      store: this.allocationStore,
      view: () => this.ringView(),
      ready: async ms => await this.waitReady(ms),
      space: { request: async (subnet, ms) => await space!.request(subnet, ms) },
      clock: systemClock,
      logger: this.logger
    })
    space = new SpaceService({ self: this.self, transport, allocator: this.allocator, view: () => this.ringView(), writer: this.log, logger: this.logger, clock: systemClock })
    await space.start()
    const { ConsensusService } = await import('./net/consensus.js')
    const consensus = new ConsensusService({
      transport,
      logger: this.logger,
      answer: async (from, req) => req.op === 'takeover'
        ? await this.takeoverVotes!.handle(from, req)
        : await this.bootstrap?.answer(from, req) ?? { refused: 'this peer is starting' }
    })
    this.takeoverVotes = await startTakeoverVotes({
      self: this.self,
      seed: this.identity.seed,
      view: () => this.ringView(),
      connected: () => this.network?.connectedPeers() ?? [],
      wire: consensus,
      log: this.log,
      logger: this.logger,
      tuning: this.tuning
    })
    await consensus.start()
    const known = await this.dialableKnownPeers()
    this.network.addTargets(this.config.peers, 'launch')
    for (const k of known) this.network.addTargets([k.addr], k.source === 'join' ? 'join' : 'connect', k.peer)
    this.bootstrap = new Bootstrap({
      self: this.self,
      init: this.config.init,
      range: this.config.range ?? DEFAULT_RANGE,
      tuning: this.tuning,
      log: this.log,
      network: this.network,
      wire: consensus,
      clock: systemClock,
      random: Math.random,
      logger: this.logger,
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
    const { peerToMultiaddr } = await import('./peer-addr.js')
    const good: KnownPeer[] = []
    const bad: string[] = []
    for (const k of await this.log.knownPeers()) {
      try {
        peerToMultiaddr(k.addr, 'address')
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
    systemClock.setTimeout(() => {
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

  private joinedOnce = false

  /** New ring view: learn peers' addresses from their joins; write our join once we have a cluster. */
  private onView (json: NonNullable<LogClient['latestView']>): void {
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

  private lastLossReport = ''

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

  // ---- control API ---------------------------------------------------------

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
      now: systemClock.now(),
      allocated: this.allocator?.count ?? this.allocationStore?.all().length ?? 0,
      security: this.security,
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

  /**
   * Consistent copies of the stores in `dir`, for offline commands run beside
   * this daemon. The event store is copied through a read-only handle opened
   * here: lmdb-js shares the worker's environment within the process, so no
   * second process opens the file (node/offline/readable.ts says why that matters).
   */
  async copyStores (dir: string): Promise<{ files: string[] }> {
    const st = await stat(dir).catch(() => undefined)
    if (st?.isDirectory() !== true) throw new ControlApiError(`${dir} is not a directory`)
    if ((await readdir(dir)).length > 0) throw new ControlApiError(`${dir} is not empty`)
    const files: string[] = []
    const store = Store.open(this.config.dataDir, { readOnly: true })
    try {
      await store.backup(dir)
      files.push(STORE_FILE)
    } finally {
      await store.close()
    }
    if (this.allocationStore !== undefined) {
      await this.allocationStore.backup(join(dir, ALLOCATIONS_FILE))
      files.push(ALLOCATIONS_FILE)
    }
    return { files }
  }

  async stop (): Promise<void> {
    if (this.stopping) return this.stopped
    this.stopping = true
    this.log_.info('stopping')
    // Answer the stop request before the socket goes away.
    setImmediate(() => { void this.shutdown() })
    return undefined
  }

  private async shutdown (): Promise<void> {
    try { await this.network?.stop() } catch (err) { this.log_.warn(`network stop: ${(err as Error).message}`) }
    await this.saveSeen()
    try { await this.log.close() } catch (err) { this.log_.warn(`log close: ${(err as Error).message}`) }
    try { await this.allocationStore?.close() } catch (err) { this.log_.warn(`allocation store close: ${(err as Error).message}`) }
    try { await this.control?.close() } catch {}
    this.resolveStopped()
  }

  // ---- metrics and the event stream ------------------------------------------

  async metrics (): Promise<string> { return await this.metricsRegistry.text() }

  followEvents (send: (row: unknown) => void): () => void {
    this.followers.add(send)
    return () => { this.followers.delete(send) }
  }

  private async tellFollowers (ids: string[]): Promise<void> {
    try {
      const rows = await this.log.describeEvents(ids)
      for (const f of this.followers) for (const r of rows) f(r)
    } catch (err) {
      this.log_.warn(`could not describe new events for followers: ${(err as Error).message}`)
    }
  }

  // ---- lifecycle -------------------------------------------------------------

  private needView (): RingView {
    const view = this.ringView()
    if (view === undefined || this.log.state === 'waiting-for-cluster') throw new LifecycleError('this peer has not joined a cluster yet')
    return view
  }

  async rmpeer (names: string[], force: boolean): Promise<RmpeerResultJson[]> {
    const net = this.network
    return await rmpeer({
      self: this.self,
      view: this.needView(),
      connected: net?.connectedPeers() ?? [],
      lastSeen: p => net?.lastSeen(p),
      now: systemClock.now(),
      recentMs: 2 * this.tuning.syncIntervalMs,
      cannotSign: () => {
        const view = this.ringView()
        const me = view?.peer(this.self)
        if (view?.json.readOnly === true) return `takeover refused: ${UPGRADE_NEEDED}`
        if (this.log.cloned !== undefined) return clonedMessage(this.self, this.log.cloned)
        if (me?.removed !== undefined) return `takeover refused: this peer was removed from the network by ${view?.peer(me.removed.by)?.nickname ?? me.removed.by}; run \`weft reset\` to rejoin with a new identity`
        return undefined
      },
      reach: target => this.takeoverVotes!.reach(target),
      vote: async (target, label) => await this.takeoverVotes!.vote(target, label),
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

  testHook = async (name: string, body: unknown): Promise<unknown> => {
    if (!this.config.testHooks) throw new Error('test hooks are off')
    return runTestHook(this, name, body)
  }
}

/**
 * What the store holds from the last run, read-only: the ring snapshot
 * (undefined for a new or unreadable store) and when peers were last seen.
 * Both are checked. Both are caches, so a malformed one is ignored with a
 * warning rather than refused: the snapshot is the fold of the log, which
 * the log worker redoes and saves again; the times are relearnt as peers talk.
 */
async function readPersisted (dataDir: string, log: Logger): Promise<{ view: RingViewJson | undefined, seen: Record<PeerName, number> }> {
  let store: Store | undefined
  try {
    store = Store.open(dataDir, { readOnly: true })
    let view: RingViewJson | undefined
    try {
      const rec = store.getSnapshot()
      view = rec === undefined || rec.snapshot === null ? undefined : checkRingViewJson(rec.snapshot)
    } catch (err) {
      if (!(err instanceof ShapeError) && (err as { code?: string }).code !== 'corrupt') throw err
      log.warn(`ignoring the saved ring snapshot in ${store.path}, which is rebuilt from the log: ${(err as Error).message}`)
    }
    let seen: Record<PeerName, number> = {}
    try {
      seen = checkShape(store.getSeen(), recordOf(strWhere('a peer name', isPeerName), finite))
    } catch (err) {
      log.warn(`could not read when peers were last seen: ${(err as Error).message}`)
    }
    return { view, seen }
  } catch (err) {
    if ((err as { code?: string }).code !== 'io') log.warn(`could not read the saved ring snapshot: ${(err as Error).message}`)
    return { view: undefined, seen: {} }
  } finally {
    // Closed before the worker opens the store read-write.
    await store?.close()
  }
}

export async function runDaemon (config: DaemonConfig, events: { onReady?: (info: { name: string, nickname: string }) => void } = {}): Promise<void> {
  const logger = createLogger(lineSink(line => { process.stderr.write(line) }, config.logLevel))
  const identity = await loadOrCreateIdentity(config.dataDir)
  const daemon = new Daemon({ ...config, nickname: config.nickname !== '' ? config.nickname : hostname() }, identity, logger)
  if (!config.testHooks) delete (daemon as Partial<Daemon>).testHook
  try {
    await daemon.start()
  } catch (err) {
    await daemon.stop()
    await daemon.done
    throw err
  }
  events.onReady?.({ name: daemon.self, nickname: daemon.config.nickname })
  await daemon.done
}
