import { createHash } from 'node:crypto'
import type { PeerName } from '../../crdt/events/index.js'
import { ed25519SignerFromSeed } from '../../crdt/events/index.js'
import type { AllocationStore } from '../../node/allocator/types.js'
import { settle, SimulatedClock, type Clock } from '../../node/clock.js'
import type { InitMode, Tuning } from '../../node/config.js'
import { mulberry32, SIM_TUNING as CLUSTER_TUNING } from '../helpers/sim-cluster.js'
import { LocalLog } from '../../node/log-service/local.js'
import { silentLogger, type Logger } from '../../node/logger.js'
import { MemoryNetwork, MemoryTransport, type LinkModel } from '../../node/net/memory-transport.js'
import { Peer } from '../../node/peer.js'
import { MemoryAllocationStore, MemoryDisk, MemoryStore, type CommitFn } from '../../node/store/index.js'

/**
 * The simulator's world (DESIGN.md §8): N hosts, each a data dir on a
 * MemoryDisk and, while up, one incarnation of the real Peer (node/peer.ts)
 * over an in-process LogService, on one MemoryNetwork and one SimulatedClock.
 * Every source of time, chance, I/O and message order comes from the seed,
 * so the same seed replays exactly.
 */

/** A seeded PRNG (the cluster fuzz's mulberry32) with the helpers a schedule needs. */
export class Rng {
  readonly next: () => number
  constructor (seed: number) { this.next = mulberry32(seed) }

  int (n: number): number { return Math.floor(this.next() * n) }
  chance (p: number): boolean { return this.next() < p }
  pick<T> (xs: readonly T[]): T | undefined { return xs.length === 0 ? undefined : xs[this.int(xs.length)] }
  /** A new generator whose stream depends on this one's and on `label`. */
  fork (label: string): Rng {
    const h = createHash('sha256').update(`${this.int(2 ** 32)}:${label}`).digest()
    return new Rng(h.readUInt32LE(0))
  }
}

/**
 * One incarnation's view of the shared clock: skewed by the host's offset,
 * and killed with the incarnation, so a crashed peer's timers never fire.
 */
export class HostClock implements Clock {
  private readonly base: SimulatedClock
  private readonly live = new Set<unknown>()
  private dead = false
  skewMs: number

  constructor (base: SimulatedClock, skewMs: number) {
    this.base = base
    this.skewMs = skewMs
  }

  now (): number { return this.base.now() + this.skewMs }

  setTimeout (fn: () => void, ms: number): unknown {
    if (this.dead) return undefined
    const handle: unknown = this.base.setTimeout(() => {
      this.live.delete(handle)
      if (!this.dead) fn()
    }, ms)
    this.live.add(handle)
    return handle
  }

  clearTimeout (handle: unknown): void {
    if (handle === undefined || !this.live.delete(handle)) return
    this.base.clearTimeout(handle)
  }

  kill (): void {
    this.dead = true
    for (const h of this.live) this.base.clearTimeout(h)
    this.live.clear()
  }
}

/**
 * Writes to a host's disk: each commits `commitMs` after it is issued, in
 * issue order (LMDB commits transactions in order). A crash lands a prefix
 * of what is pending, chosen by the seed, and loses the rest.
 */
export class DiskWrites {
  private pending: Array<{ apply: () => void, resolve: () => void }> = []

  commitFn (clock: HostClock, commitMs: number): CommitFn {
    return async apply => await new Promise<void>(resolve => {
      const w = { apply, resolve }
      this.pending.push(w)
      clock.setTimeout(() => { this.flushThrough(w) }, commitMs)
    })
  }

  private flushThrough (w: { apply: () => void, resolve: () => void }): void {
    const i = this.pending.indexOf(w)
    if (i < 0) return
    const done = this.pending.splice(0, i + 1)
    for (const d of done) d.apply()
    for (const d of done) d.resolve()
  }

  /** The crash: the first `landed` pending writes reach the disk (unacknowledged), the rest are lost. */
  crash (rng: Rng): { landed: number, lost: number } {
    const landed = rng.int(this.pending.length + 1)
    for (const w of this.pending.slice(0, landed)) w.apply()
    const lost = this.pending.length - landed
    this.pending = []
    return { landed, lost }
  }
}

export interface WorldOptions {
  seed: number
  peers: number
  range: string
  /** How the first launch gets a cluster: host 0 founds and the rest join it, or all agree by consensus. */
  bootstrap: 'founder' | 'consensus'
  links: LinkFaults
  /** Ms a disk write takes to commit. */
  commitMs: number
  tuning?: Partial<Tuning>
  /** Each host's log lines (none unless given). */
  logFor?: (host: SimHost) => Logger
  /** Called with the host and the addresses of every allocation write it issues (the disputed-space invariant). */
  onAllocWrite?: (host: SimHost, addresses: string[]) => void
}

/** Link behaviour: a base delay with jitter, and rates of frames lost (with their connection) and duplicated. */
export interface LinkFaults {
  delayMs: number
  jitterMs: number
  drop: number
  duplicate: number
}

export const CALM_LINKS: LinkFaults = { delayMs: 5, jitterMs: 0, drop: 0, duplicate: 0 }

/** The cluster fuzz's timings, and the vote and reset waits scaled down alike. */
export const SIM_TUNING: Tuning = {
  ...CLUSTER_TUNING,
  consensusDelayMs: 500,
  resetConfirmMs: 5_000,
  voteTimeoutMs: 3_000
}

export interface Incarnation {
  clock: HostClock
  log: LocalLog
  peer: Peer
  transport: MemoryTransport
  started: Promise<void>
  /** Set once start() has finished (or failed, with the error). */
  startError?: Error
  running: boolean
}

/** A host: its data dir (a MemoryDisk) and identity, and the peer running on it while it is up. */
export class SimHost {
  readonly index: number
  nickname: string
  seed: Uint8Array
  name: PeerName
  disk = new MemoryDisk()
  readonly writes = new DiskWrites()
  skewMs = 0
  run: Incarnation | undefined
  /** Identities this host had before a reset. */
  generation = 0

  constructor (index: number, seed: Uint8Array) {
    this.index = index
    this.nickname = `h${index}`
    this.seed = seed
    this.name = ed25519SignerFromSeed(seed).author
  }

  get up (): boolean { return this.run !== undefined }
  get peer (): Peer | undefined { return this.run?.peer }
}

export class World {
  readonly clock = new SimulatedClock(1_700_000_000_000)
  readonly net: MemoryNetwork
  readonly hosts: SimHost[] = []
  readonly rng: Rng
  readonly opts: WorldOptions
  readonly tuning: Tuning
  links: LinkFaults
  private readonly linkRng: Rng

  constructor (opts: WorldOptions) {
    this.opts = opts
    this.rng = new Rng(opts.seed)
    this.linkRng = this.rng.fork('links')
    this.links = opts.links
    this.tuning = { ...SIM_TUNING, ...opts.tuning }
    const model: LinkModel = {
      frame: () => {
        const l = this.links
        if (l.drop > 0 && this.linkRng.chance(l.drop)) return 'drop'
        const delayMs = l.delayMs + (l.jitterMs > 0 ? this.linkRng.int(l.jitterMs + 1) : 0)
        return l.duplicate > 0 && this.linkRng.chance(l.duplicate) ? { delayMs, duplicate: true } : { delayMs }
      },
      setupMs: () => this.links.delayMs
    }
    this.net = new MemoryNetwork(this.clock, model)
    for (let i = 0; i < opts.peers; i++) this.hosts.push(new SimHost(i, this.identitySeed(i, 0)))
  }

  private identitySeed (i: number, generation: number): Uint8Array {
    return new Uint8Array(createHash('sha256').update(`weft-sim:${this.opts.seed}:${i}:${generation}`).digest())
  }

  addr (h: SimHost): string { return MemoryNetwork.addr(h.name) }

  /** Starts `h`'s peer on its disk (a launch or a relaunch); runs in the background as time advances. */
  launch (h: SimHost, init: InitMode, peers: SimHost[]): Incarnation {
    if (h.run !== undefined) throw new Error(`${h.nickname} is already up`)
    const clock = new HostClock(this.clock, h.skewMs)
    const logger = this.opts.logFor?.(h) ?? silentLogger
    const commit = h.writes.commitFn(clock, this.opts.commitMs)
    const store = new MemoryStore(h.disk, { path: `sim:${h.nickname}`, commit })
    const log = new LocalLog({ dataDir: `sim:${h.nickname}`, seed: h.seed, now: () => clock.now(), clock, stopwatch: () => 0, logger, store, epochEvents: this.tuning.epochEvents })
    const allocations: AllocationStore = new MemoryAllocationStore(h.disk, { commit })
    const onWrite = this.opts.onAllocWrite
    const watched: AllocationStore = onWrite === undefined
      ? allocations
      : {
          all: () => allocations.all(),
          write: async (puts, dels) => { onWrite(h, puts.map(p => p.address)); await allocations.write(puts, dels) },
          backup: async path => { await allocations.backup(path) },
          close: async () => { await allocations.close() }
        }
    const random = this.rng.fork(`random:${h.nickname}:${h.generation}`)
    const peer = new Peer({
      self: h.name,
      seed: h.seed,
      config: { nickname: h.nickname, range: this.opts.range, peers: peers.filter(p => p !== h).map(p => this.addr(p)), advertise: [], init },
      tuning: this.tuning,
      log,
      allocations: watched,
      clock,
      random: () => random.next(),
      logger,
      seen: store.getSeen()
    })
    const transport = new MemoryTransport(this.net, h.name, { maxConnections: this.tuning.maxConnections })
    const run: Incarnation = { clock, log, peer, transport, started: Promise.resolve(), running: false }
    run.started = (async () => {
      await log.open()
      await peer.start(transport)
      run.running = true
    })().catch((err: Error) => { run.startError = err })
    h.run = run
    return run
  }

  /** Kills `h`'s peer at once: its timers, its connections, and the writes its disk had not committed. */
  crash (h: SimHost): { landed: number, lost: number } {
    const run = h.run
    if (run === undefined) return { landed: 0, lost: 0 }
    h.run = undefined
    run.clock.kill()
    void run.transport.stop()
    return h.writes.crash(this.rng)
  }

  /** `weft reset` done, its data dir deleted: the host comes back as a new identity. */
  wipe (h: SimHost): void {
    this.crash(h)
    h.generation++
    h.seed = this.identitySeed(h.index, h.generation)
    h.name = ed25519SignerFromSeed(h.seed).author
    h.disk = new MemoryDisk()
  }

  /** Cuts every link between the two groups. */
  partition (a: SimHost[], b: SimHost[]): void {
    for (const x of a) for (const y of b) this.net.partition(x.name, y.name)
  }

  /** Restores every link between hosts (of every identity a host had). */
  healAll (): void {
    const names = [...this.net.transports.keys()]
    for (const a of names) for (const b of names) this.net.heal(a, b)
  }

  get partitioned (): boolean {
    const names = this.hosts.map(h => h.name)
    return names.some(a => names.some(b => a !== b && !this.net.linked(a, b)))
  }

  /** Advances simulated time by `ms` in steps of `stepMs`, letting every peer run. */
  async advance (ms: number, stepMs = 10): Promise<void> {
    for (let t = 0; t < ms; t += stepMs) await this.clock.advance(Math.min(stepMs, ms - t))
    await settle()
  }

  /** Advances until `until` holds or `maxMs` passes; whether it held. */
  async runUntil (until: () => boolean, maxMs: number, stepMs = 10): Promise<boolean> {
    for (let t = 0; t < maxMs; t += stepMs) {
      if (until()) return true
      await this.clock.advance(stepMs)
    }
    await settle()
    return until()
  }

  upHosts (): SimHost[] { return this.hosts.filter(h => h.run?.running === true) }

  /** Every running host holds a cluster and the same event heads. */
  converged (hosts = this.upHosts()): boolean {
    const heads = hosts.map(h => headsOf(h))
    return heads.length > 0 && heads[0] !== '' && heads.every(x => x === heads[0])
  }

  async close (): Promise<void> {
    for (const h of this.hosts) this.crash(h)
  }
}

export function headsOf (h: SimHost): string {
  return h.run?.log.latestView?.heads.slice().sort().join(',') ?? ''
}
