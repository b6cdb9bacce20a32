import { createHash } from 'node:crypto'
import { accessSync, constants, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PeerName } from '../../crdt/events/index.js'
import type { Allocator } from '../../node/allocator/allocator.js'
import { openAllocationStore } from '../../node/allocator/store.js'
import { settle as settleLoop, type SimulatedClock } from '../../node/clock.js'
import { DEFAULT_TUNING, type Tuning } from '../../node/config.js'
import { LocalLog } from '../../node/log-service/local.js'
import type { LogService } from '../../node/log-service/service.js'
import { silentLogger, type Logger } from '../../node/logger.js'
import { MemoryNetwork, MemoryTransport } from '../../node/net/memory-transport.js'
import type { Network } from '../../node/net/network.js'
import { Peer } from '../../node/peer.js'
import { RingView, type RingViewJson } from '../../node/ring-view.js'

/**
 * A whole weft cluster in one process (DESIGN.md §1): n peers, each the
 * daemon's own Peer (node/peer.ts) with its own data dir (LMDB), an
 * in-process log (LocalLog, no worker) and a MemoryTransport on one shared
 * MemoryNetwork, all on one SimulatedClock: peer 0 founds the cluster, the
 * others launch with its address and learn the rest from joins. (The
 * deterministic simulator, test/sim, runs the same Peer on memory disks.)
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
  /** The in-process log service (its LMDB store in dataDir). */
  readonly log: LogService
  /** The peer, wired by node/peer.ts exactly as the daemon wires it. */
  readonly peer: Peer
  readonly transport: MemoryTransport
  readonly network: Network
  readonly allocator: Allocator
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

  /** Builds and starts `n` peers: peer 0 founds the cluster, the others join it; settles until every peer holds every join. */
  static async create (n: number, opts: SimClusterOptions): Promise<SimCluster> {
    const cluster = new SimCluster(opts)
    try {
      for (let i = 0; i < n; i++) cluster.peers.push(await cluster.startPeer(i, opts, i === 0 ? undefined : cluster.peers[0]))
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

  private async startPeer (i: number, opts: SimClusterOptions, founder: SimNode | undefined): Promise<SimNode> {
    const { clock } = opts
    const logger = opts.logger ?? silentLogger
    const nickname = `sim${i}`
    const dataDir = mkdtempSync(join(opts.baseDir ?? simDataRoot(), `weft-sim-${i}-`))
    this.dirs.push(dataDir)
    const seed = identitySeed(opts.seed, i)
    const tuning = { ...SIM_TUNING, ...opts.tuning }
    const log = new LocalLog({ dataDir, seed, now: () => clock.now(), clock, logger, epochEvents: tuning.epochEvents })
    this.stoppers.push(async () => { await log.close() })
    const allocations = openAllocationStore(dataDir)
    this.stoppers.push(async () => { await allocations.close() })
    const peer = new Peer({
      self: log.service.self,
      seed,
      config: { nickname, range: opts.range, peers: founder === undefined ? [] : [MemoryNetwork.addr(founder.name)], advertise: [], init: { mode: 'founder' } },
      tuning,
      log,
      allocations,
      clock,
      random: mulberry32(opts.seed ^ (0x9E3779B9 * (i + 1))),
      logger,
      ...(opts.timeoutMs !== undefined ? { allocTimeoutMs: opts.timeoutMs } : {})
    })
    this.stoppers.unshift(async () => { await peer.stop() })
    await log.open()
    const transport = new MemoryTransport(this.net, log.service.self)
    await peer.start(transport)
    let cached: { json: RingViewJson, view: RingView } | undefined
    return {
      index: i,
      name: log.service.self,
      nickname,
      dataDir,
      log: log.service,
      peer,
      transport,
      network: peer.network!,
      allocator: peer.allocator!,
      view: () => {
        const json = log.service.view
        if (json === undefined) return undefined
        if (cached?.json !== json) cached = { json, view: new RingView(json) }
        return cached.view
      },
      heads: () => log.service.view?.heads.slice().sort().join(',') ?? ''
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
