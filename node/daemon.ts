import { readdir, stat } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import type { EventId, PeerName } from '../crdt/events/index.js'
import { isPeerName } from '../crdt/events/peer-id.js'
import { ControlApiError, startControlServer } from './api/server.js'
import type { DaemonApi, ResetJson, RmpeerResultJson, SecurityJson, StatusJson } from './api/types.js'
import type { Allocator } from './allocator/allocator.js'
import { ALLOCATIONS_FILE, openAllocationStore } from './allocator/store.js'
import type { AllocationStore } from './allocator/types.js'
import { systemClock } from './clock.js'
import { exposureWarning } from './cluster-key.js'
import { DEFAULT_TUNING, type DaemonConfig, type Tuning } from './config.js'
import type { VoteOutcome } from './consensus/takeover.js'
import { libp2pPrivateKey, loadOrCreateIdentity, type Identity } from './identity.js'
import { LifecycleError } from './lifecycle.js'
import { LogClient } from './log-service/client.js'
import { createLogger, lineSink, type Logger } from './logger.js'
import { DaemonMetrics } from './metrics.js'
import type { Network } from './net/network.js'
import { Peer } from './peer.js'
import { peerToMultiaddr } from './peer-addr.js'
import type { Readiness } from './readiness.js'
import { checkRingViewJson, type RingView, type RingViewJson } from './ring-view.js'
import { checkShape, finite, recordOf, ShapeError, strWhere } from './shape.js'
import { Store, STORE_FILE } from './store/index.js'
import { runTestHook } from './test-hooks.js'

/**
 * The daemon: one Peer (node/peer.ts) in a process. It owns what only a
 * process has: the log worker, LMDB, libp2p, the system clock, the control
 * socket, signals and metrics. It answers `status` from the persisted ring
 * snapshot while the log loads, then starts the peer on libp2p (DESIGN.md §3).
 */
export class Daemon implements DaemonApi {
  readonly config: DaemonConfig
  readonly tuning: Tuning
  readonly self: PeerName
  readonly logger: Logger
  readonly log: LogClient
  private peer: Peer | undefined
  private readonly metricsRegistry: DaemonMetrics
  private readonly followers = new Set<(row: unknown) => void>()
  private readonly log_: Logger
  private readonly identity: Identity
  private control: { close: () => Promise<void> } | undefined
  private allocationStore: AllocationStore | undefined
  private stopped: Promise<void>
  private resolveStopped!: () => void
  private stopping = false
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
    this.log = new LogClient({ dataDir: config.dataDir, seed: identity.seed, logLevel: config.logLevel, epochEvents: this.tuning.epochEvents }, logger, err => { this.fatal(err) })
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
  get network (): Network | undefined { return this.peer?.network }
  get allocator (): Allocator | undefined { return this.peer?.allocator }

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
      if (n.type === 'adopted' && this.followers.size > 0) void this.tellFollowers(n.ids)
      if (n.type === 'view' || n.type === 'state') snapshotShown()
    })
    // The persisted snapshot first (read-only, a few ms), while the worker
    // starts; then the control socket: status answers from it while the log loads.
    const persisted = await readPersisted(this.config.dataDir, this.log_)
    // Allocations live in their own store, owned by this thread: allocating
    // never waits for the log worker (which may be busy for seconds).
    this.allocationStore = openAllocationStore(this.config.dataDir)
    this.peer = new Peer({
      self: this.self,
      seed: this.identity.seed,
      config: this.config,
      tuning: this.tuning,
      log: this.log,
      allocations: this.allocationStore,
      clock: systemClock,
      random: Math.random,
      logger: this.logger,
      seen: persisted.seen,
      security: this.security,
      checkAddr: addr => { peerToMultiaddr(addr, 'address') },
      onLocalAppend: n => { this.metricsRegistry.localAppend(n) },
      onReceived: (peer, outcome) => { this.metricsRegistry.received(peer, outcome) }
    })
    this.log.go(persisted.view)
    this.control = await startControlServer(this.config.socketPath, this, this.logger)
    if (this.log.latestView !== undefined) snapshotShown()
    const opened = this.log.open()
    await Promise.race([firstNotice, opened])
    const [{ Libp2pTransport }, privateKey] = await Promise.all([
      import('./net/libp2p-transport.js'), libp2pPrivateKey(this.identity)
    ])
    await opened
    if (this.stopping) return
    const transport = new Libp2pTransport({
      privateKey,
      listen: this.config.listen,
      announce: this.config.advertise,
      // The cap is the design's (DESIGN.md §3: 16), inbound and outbound together.
      maxConnections: this.tuning.maxConnections,
      ...(this.config.clusterKey !== undefined ? { psk: this.config.clusterKey.psk } : {})
    }, this.self)
    await this.peer.start(transport)
  }

  /** The latest ring view, its range sets built once per view. */
  ringView (): RingView | undefined { return this.peer?.ringView() }

  // ---- the control API: the peer's, while it exists --------------------------

  private get started (): Peer {
    if (this.peer === undefined) throw new LifecycleError('this peer is starting')
    return this.peer
  }

  readiness (): Readiness { return this.peer?.readiness() ?? { ready: false, reason: 'the log is still loading' } }

  waitReady (timeoutMs: number): Promise<Readiness> { return this.started.waitReady(timeoutMs) }

  status (): StatusJson { return this.started.status() }

  async connect (addrs: string[]): Promise<void> { await this.started.connect(addrs) }

  async forget (addrs: string[]): Promise<void> { await this.started.forget(addrs) }

  async rmpeer (names: string[], force: boolean): Promise<RmpeerResultJson[]> { return await this.started.rmpeer(names, force) }

  /** Test hook: the takeover vote alone, nothing appended. */
  async voteOnly (target: PeerName): Promise<VoteOutcome> { return await this.started.voteOnly(target) }

  async resolve (id: string, owner?: string): Promise<{ id: EventId, dispute: EventId, owner: PeerName }> { return await this.started.resolve(id, owner) }

  async reset (force: boolean): Promise<ResetJson> { return await this.started.reset(force) }

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
    this.peer?.markStopping()
    // Answer the stop request before the socket goes away.
    setImmediate(() => { void this.shutdown() })
    return undefined
  }

  private async shutdown (): Promise<void> {
    await this.peer?.stop()
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
