import { createHash } from 'node:crypto'
import { accessSync, constants, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PeerName } from '../../crdt/events/index.js'
import { Allocator } from '../../node/allocator/allocator.js'
import { openAllocationStore } from '../../node/allocator/store.js'
import type { AllocationStore } from '../../node/allocator/types.js'
import { settle as settleLoop, type SimulatedClock } from '../../node/clock.js'
import { DEFAULT_TUNING, type Tuning } from '../../node/config.js'
import type { LogApi } from '../../node/log-service/api.js'
import { LogService } from '../../node/log-service/service.js'
import type { LogNotice } from '../../node/log-service/types.js'
import { silentLogger, type Logger } from '../../node/logger.js'
import { MemoryNetwork, MemoryTransport } from '../../node/net/memory-transport.js'
import { Network } from '../../node/net/network.js'
import { SpaceService } from '../../node/net/space.js'
import { RingView, type RingViewJson } from '../../node/ring-view.js'

/**
 * A whole weft cluster in one process (DESIGN.md §1): n peers, each with
 * its own data dir, an in-process LogService (no worker), a MemoryTransport
 * on one shared MemoryNetwork, a Network, an allocation store, an Allocator
 * and a SpaceService, all on one SimulatedClock. Wired the way node/daemon.ts
 * wires them: peer 0 founds the cluster, every peer writes its join, the
 * others launch with peer 0's address and learn the rest from joins.
 *
 * Deterministic in what it decides (identities, backoff jitter, timers);
 * the order in which real I/O (LMDB commits) completes is not.
 */

export interface SimClusterOptions {
  /** The cluster range peer 0 founds, e.g. '10.0.0.0/22'. */
  range: string
  /** Fixed seed: identities and each network's jitter derive from it. */
  seed: number
  clock: SimulatedClock
  /** Overrides of SIM_TUNING. */
  tuning?: Partial<Tuning>
  /** The allocators' readiness and donation timeout (simulated ms; default 30 s). */
  timeoutMs?: number
  logger?: Logger
  /** Where the peers' data dirs go (default: simDataRoot()). */
  baseDir?: string
}

/**
 * The data dirs' parent: WEFT_SIM_DIR, else /dev/shm where it exists (LMDB
 * commits on tmpfs cost no fsync, and a simulation needs no durability),
 * else the OS temp dir.
 */
export function simDataRoot (): string {
  const env = process.env.WEFT_SIM_DIR
  if (env !== undefined && env !== '') return env
  try {
    accessSync('/dev/shm', constants.W_OK)
    if (statSync('/dev/shm').isDirectory()) return '/dev/shm'
  } catch {}
  return tmpdir()
}

/** Small timings so anti-entropy, backoff and reconnects happen within simulated seconds. */
export const SIM_TUNING: Tuning = {
  ...DEFAULT_TUNING,
  syncIntervalMs: 1_000,
  readyGraceMs: 1_000,
  backoffBaseMs: 100,
  backoffFactor: 1.5,
  backoffMaxMs: 2_000,
  helloTimeoutMs: 2_000
}

export interface SimNode {
  readonly index: number
  readonly name: PeerName
  readonly nickname: string
  readonly dataDir: string
  readonly log: LogService
  readonly logApi: LogApi
  readonly transport: MemoryTransport
  readonly network: Network
  readonly store: AllocationStore
  readonly allocator: Allocator
  readonly space: SpaceService
  /** The latest ring view of this peer's log (cached per view). */
  view: () => RingView | undefined
  /** Sorted event heads of this peer's log ('' before it holds a cluster). */
  heads: () => string
}

/**
 * Yields to real time (a 1 ms host timer): lets LMDB commits, which finish
 * on their own thread, land before simulated time moves on. Without it the
 * simulated clock races ahead of the disk and a slow machine would see
 * timeouts that no peer could have met.
 */
export async function realPause (): Promise<void> {
  await new Promise<void>(resolve => { setTimeout(resolve, 1) })
}

/**
 * How many steps of a wait yield to real time first: enough for any commit
 * to land; after that nothing is waiting on the disk, only on simulated
 * timers, so the clock runs at CPU speed (waiting out a 30 s timeout
 * takes a fraction of a second, not 3 s of 1 ms pauses).
 */
export const REAL_PAUSES = 50

/** mulberry32: a tiny seeded PRNG, returns floats in [0, 1). */
export function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function identitySeed (seed: number, i: number): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`weft-sim-cluster:${seed}:${i}`).digest())
}

export class SimCluster {
  readonly clock: SimulatedClock
  readonly net: MemoryNetwork
  readonly peers: SimNode[] = []
  readonly range: string
  private readonly dirs: string[] = []
  private readonly stoppers: Array<() => Promise<void>> = []
  private cleaned = false

  private constructor (opts: SimClusterOptions) {
    this.clock = opts.clock
    this.range = opts.range
    this.net = new MemoryNetwork(opts.clock)
  }

  /** Builds and starts `n` peers, founds the cluster on peer 0, and settles until every peer holds every join. */
  static async create (n: number, opts: SimClusterOptions): Promise<SimCluster> {
    const cluster = new SimCluster(opts)
    try {
      for (let i = 0; i < n; i++) cluster.peers.push(await cluster.startPeer(i, opts))
      const first = cluster.peers[0]!
      await first.log.found(opts.range)
      await first.log.ensureJoin(first.nickname, first.network.advertiseAddrs())
      for (const p of cluster.peers.slice(1)) p.network.addTargets([MemoryNetwork.addr(first.name)], 'launch')
      const joined = (): boolean => cluster.peers.every(p => {
        const v = p.log.view
        return v !== undefined && cluster.peers.every(q => v.peers.some(x => x.name === q.name && x.member && x.nickname === q.nickname))
      })
      const ok = await cluster.settle({ until: joined, maxSteps: 5_000 })
      if (!ok || !joined()) throw new Error(`the simulated cluster did not form: ${cluster.describe()}`)
    } catch (err) {
      await cluster.cleanup()
      throw err
    }
    return cluster
  }

  private async startPeer (i: number, opts: SimClusterOptions): Promise<SimNode> {
    const { clock } = opts
    const logger = opts.logger ?? silentLogger
    const tuning: Tuning = { ...SIM_TUNING, ...opts.tuning }
    const nickname = `sim${i}`
    const dataDir = mkdtempSync(join(opts.baseDir ?? simDataRoot(), `weft-sim-${i}-`))
    this.dirs.push(dataDir)

    // Late-bound: the log notifies while it opens, before the rest exists.
    let network: Network | undefined
    let allocator: Allocator | undefined
    let cached: { json: RingViewJson, view: RingView } | undefined
    let readyWaiters: Array<() => void> = []
    let joinedOnce = false

    const view = (): RingView | undefined => {
      const json = log.view
      if (json === undefined) return undefined
      if (cached?.json !== json) cached = { json, view: new RingView(json) }
      return cached.view
    }

    const writeJoin = async (): Promise<void> => {
      if (log.state !== 'ready' || network === undefined) return
      try {
        await log.ensureJoin(nickname, network.advertiseAddrs())
      } catch (err) {
        logger.forComponent('sim').warn(`${nickname} could not write its join: ${(err as Error).message}`)
      }
    }

    // As the daemon's onView: learn peers' addresses from their joins; write our join once in a cluster.
    const onView = (json: RingViewJson): void => {
      if (network === undefined) return
      for (const p of json.peers) {
        if (p.name === log.self || p.removed !== undefined || p.addrs.length === 0) continue
        network.addTargets(p.addrs, 'join', p.name)
      }
      if (!joinedOnce && log.state === 'ready' && !json.peers.some(p => p.name === log.self && p.nickname !== undefined)) {
        joinedOnce = true
        void writeJoin()
      }
    }

    const notify = (n: LogNotice): void => {
      if (n.type === 'adopted') network?.syncAll()
      if (n.type === 'view') { onView(n.view); allocator?.viewChanged() }
      if (log.state === 'ready' && readyWaiters.length > 0) {
        const w = readyWaiters
        readyWaiters = []
        for (const f of w) f()
      }
    }

    const log: LogService = new LogService({ dataDir, seed: identitySeed(opts.seed, i), now: () => clock.now(), clock, logger, notify })
    this.stoppers.push(async () => { await log.close() })
    await log.open()

    const logApi: LogApi = {
      hello: async nick => log.hello(nick),
      helloVerdict: async (remote, wanted) => log.helloVerdict(remote, wanted),
      generate: async peer => await log.generate(peer),
      receive: async (peer, message, expect, range) => await log.receive(peer, message, expect, range),
      endSession: async peer => { await log.endSession(peer) },
      receiveEvidence: async (peer, evidence) => await log.receiveEvidence(peer, evidence)
    }

    const transport = new MemoryTransport(this.net, log.self)
    network = new Network({
      transport,
      self: log.self,
      advertise: [],
      tuning,
      log: logApi,
      logger,
      clock,
      random: mulberry32(opts.seed ^ (0x9E3779B9 * (i + 1))),
      nickname: () => nickname,
      onCaughtUp: () => {},
      onAdopted: peer => { network?.syncAll(peer) }
    })
    const net = network
    this.stoppers.unshift(async () => { await net.stop() })
    await network.start()

    const store = openAllocationStore(dataDir)
    this.stoppers.push(async () => { await store.close() })

    // Ready once the log holds a cluster (the daemon also waits for a first sync; here create() settles first).
    const ready = async (ms: number): Promise<{ ready: true } | { ready: false, reason: string }> => {
      if (log.state === 'ready') return { ready: true }
      return await new Promise(resolve => {
        const timer = clock.setTimeout(() => {
          readyWaiters = readyWaiters.filter(w => w !== done)
          resolve({ ready: false, reason: `${nickname} holds no cluster yet` })
        }, ms)
        const done = (): void => { clock.clearTimeout(timer); resolve({ ready: true }) }
        readyWaiters.push(done)
      })
    }

    let space: SpaceService | undefined
    allocator = new Allocator({
      self: log.self,
      store,
      view,
      ready,
      space: { request: async (subnet, ms) => await space!.request(subnet, ms) },
      clock,
      logger,
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {})
    })
    space = new SpaceService({ self: log.self, transport, allocator, view, writer: log, logger, clock })
    await space.start()
    if (log.view !== undefined) onView(log.view)

    return {
      index: i,
      name: log.self,
      nickname,
      dataDir,
      log,
      logApi,
      transport,
      network,
      store,
      allocator,
      space,
      view,
      heads: () => log.view?.heads.slice().sort().join(',') ?? ''
    }
  }

  /** Every peer holds a cluster and the same event heads. */
  converged (): boolean {
    const first = this.peers[0]?.heads() ?? ''
    return first !== '' && this.peers.every(p => p.heads() === first)
  }

  /**
   * Lets the cluster run: event-loop turns, a real pause for the disk
   * (the first REAL_PAUSES steps) and small clock steps (10 ms) until `until` holds (default: every peer has the same event heads) or
   * the step budget runs out. Returns whether the condition was met.
   */
  async settle (opts: { until?: () => boolean, maxSteps?: number, stepMs?: number } = {}): Promise<boolean> {
    const until = opts.until ?? (() => this.converged())
    const maxSteps = opts.maxSteps ?? 2_000
    const stepMs = opts.stepMs ?? 10
    for (let step = 0; step < maxSteps; step++) {
      await settleLoop()
      if (until()) return true
      if (step < REAL_PAUSES) {
        await realPause()
        if (until()) return true
      }
      await this.clock.advance(stepMs)
      if (until()) return true
    }
    return false
  }

  /** One line per peer: heads, members, owned space, allocations, connections (for failure messages). */
  describe (): string {
    return this.peers.map(p => {
      const v = p.log.view
      return `${p.nickname} ${p.name.slice(0, 12)} state=${p.log.state} events=${v?.events ?? 0} heads=${p.heads().slice(0, 40)} ` +
        `members=${v?.peers.filter(x => x.member).length ?? 0} owned=[${v?.peers.find(x => x.name === p.name)?.owned.join(' ') ?? ''}] ` +
        `allocs=${p.allocator.count} conns=${p.network.connectedPeers().length}`
    }).join('\n')
  }

  /** Stops every network, closes every store, removes the data dirs. Idempotent. */
  async cleanup (): Promise<void> {
    if (this.cleaned) return
    this.cleaned = true
    for (const stop of this.stoppers) {
      try { await stop() } catch {}
    }
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true })
  }
}
