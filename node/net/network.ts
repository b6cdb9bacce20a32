import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import type { Connection, PeerId, PrivateKey, Stream } from '@libp2p/interface'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { comparePeerNames, type EventId, type PeerName } from '../../crdt/events/index.js'
import type { ConnectionJson } from '../api/types.js'
import { backoffDelay, type Clock } from '../clock.js'
import type { Tuning } from '../config.js'
import type { LogClient } from '../log-service/client.js'
import type { Hello } from '../log-service/types.js'
import type { Logger } from '../logger.js'
import { SYNC_PROTOCOL_ID } from './frames.js'
import { ChunkedTransfers, SNAPSHOT_PROTOCOL_ID } from './chunked.js'
import { MAX_TRANSFER_BYTES, SyncSession, type SessionEnd } from './session.js'

/**
 * The peer's network: a libp2p host (TCP + Noise + yamux, identify, ping),
 * the addresses it keeps dialling with backoff, and one sync session per
 * connected peer. Dropped connections are remembered with their reason so
 * `weft status connections` can say why a clique formed.
 */

interface Target {
  addr: string
  peer?: PeerName
  source: 'launch' | 'connect' | 'join'
  attempt: number
  nextAt: number
  state: 'idle' | 'dialing' | 'backoff' | 'connected'
  lastError?: string
  since?: number
}

interface Dropped { code: string, message: string, at: number, retryAt: number, byUs: boolean }

export interface NetworkDeps {
  privateKey: PrivateKey
  self: PeerName
  listen: string[]
  advertise: string[]
  wantedRange?: string
  tuning: Tuning
  log: LogClient
  logger: Logger
  clock: Clock
  random: () => number
  nickname: () => string
  onCaughtUp: (peer: PeerName) => void
  onAdopted: (peer: PeerName, ids: EventId[]) => void
}

function withoutPeer (addr: string): string {
  const i = addr.indexOf('/p2p/')
  return i < 0 ? addr : addr.slice(0, i)
}

export class Network {
  private readonly deps: NetworkDeps
  private readonly log: Logger
  private node: Libp2p | undefined
  private readonly sessions = new Map<PeerName, SyncSession>()
  private readonly targets = new Map<string, Target>()
  private readonly dropped = new Map<PeerName, Dropped>()
  private readonly blocked = new Set<PeerName>()
  private readonly seen = new Map<PeerName, number>()
  private readonly connectedSince = new Map<PeerName, number>()
  private readonly hellos = new Map<PeerName, Hello>()
  /** Sync-protocol bytes of finished sessions, per peer. */
  private readonly pastBytes = new Map<PeerName, { in: number, out: number }>()
  private chunks: ChunkedTransfers | undefined
  private timer: unknown
  private roundTimer: unknown
  private stopping = false
  /** Addresses that answered at least one dial since start (for readiness). */
  reachable = 0

  constructor (deps: NetworkDeps) {
    this.deps = deps
    this.log = deps.logger.forComponent('weft:net')
  }

  async start (): Promise<void> {
    const { tuning } = this.deps
    const isBlocked = (p: PeerId): boolean => this.blocked.has(p.toString())
    this.node = await createLibp2p({
      privateKey: this.deps.privateKey,
      addresses: { listen: this.deps.listen, ...(this.deps.advertise.length > 0 ? { announce: this.deps.advertise } : {}) },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify(), ping: ping() },
      connectionGater: {
        denyDialPeer: isBlocked,
        denyInboundEncryptedConnection: isBlocked,
        denyOutboundEncryptedConnection: isBlocked
      },
      connectionManager: {
        maxConnections: tuning.maxConnections * 2,
        // Local clusters re-dial from one address often; the default of 5 per
        // second per host resets them (stack spike §3).
        inboundConnectionThreshold: 1000,
        dialTimeout: 5_000,
        addressDialTimeout: 3_000,
        inboundUpgradeTimeout: 5_000
      }
    })
    this.chunks = new ChunkedTransfers({ frameLimit: tuning.frameLimit, maxBytes: MAX_TRANSFER_BYTES, logger: this.deps.logger })
    await this.node.handle(SYNC_PROTOCOL_ID, (stream, connection) => { this.accept(stream, connection) }, { maxInboundStreams: 4, maxOutboundStreams: 4 })
    await this.node.handle(SNAPSHOT_PROTOCOL_ID, (stream, connection) => {
      const peer = connection.remotePeer.toString()
      if (!this.sessions.has(peer)) { stream.abort(new Error('no sync session')); return }
      void this.chunks!.receive(peer, stream)
    }, { maxInboundStreams: 4, maxOutboundStreams: 4 })
    this.node.addEventListener('peer:connect', evt => { this.onConnect(evt.detail) })
    this.node.addEventListener('peer:disconnect', evt => { this.onDisconnect(evt.detail) })
    this.schedule()
    this.scheduleRound()
    this.log.info(`listening on ${this.listenAddrs().join(', ')}`)
  }

  get libp2p (): Libp2p { return this.node! }

  listenAddrs (): string[] {
    return (this.node?.getMultiaddrs() ?? []).map(a => withoutPeer(a.toString()))
  }

  /** What other peers dial: --advertise, else our listen addresses (never 0.0.0.0, which libp2p expands). */
  advertiseAddrs (): string[] {
    if (this.deps.advertise.length > 0) return this.deps.advertise.map(withoutPeer)
    return this.listenAddrs().filter(a => !a.includes('/0.0.0.0/') && !a.includes('/::/'))
  }

  // ---- targets and dialling ----------------------------------------------

  addTargets (addrs: string[], source: Target['source'], peer?: PeerName): void {
    for (const raw of addrs) {
      const addr = withoutPeer(raw)
      const p = peer ?? (raw.includes('/p2p/') ? raw.slice(raw.indexOf('/p2p/') + 5).split('/')[0] : undefined)
      if (p === this.deps.self) continue
      if (this.listenAddrs().includes(addr) && p === undefined) continue
      const had = this.targets.get(addr)
      if (had !== undefined) {
        if (had.peer === undefined && p !== undefined) had.peer = p
        if (source !== 'join') { had.source = source; had.nextAt = 0; had.attempt = 0 }
        continue
      }
      this.targets.set(addr, { addr, ...(p !== undefined ? { peer: p } : {}), source, attempt: 0, nextAt: 0, state: 'idle' })
    }
    this.schedule(0)
  }

  removeTargets (addrs: string[]): void {
    for (const raw of addrs) this.targets.delete(withoutPeer(raw))
  }

  get hasTargets (): boolean { return this.targets.size > 0 }

  private schedule (delay = 1000): void {
    if (this.stopping) return
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer)
    this.timer = this.deps.clock.setTimeout(() => { this.timer = undefined; this.dialDue(); this.schedule() }, delay)
  }

  private scheduleRound (): void {
    if (this.stopping) return
    this.roundTimer = this.deps.clock.setTimeout(() => {
      this.syncAll()
      this.scheduleRound()
    }, this.deps.tuning.syncIntervalMs)
  }

  private isConnected (peer: PeerName | undefined): boolean {
    if (peer === undefined || this.node === undefined) return false
    return this.node.getConnections().some(c => c.remotePeer.toString() === peer)
  }

  private dialDue (): void {
    const now = this.deps.clock.now()
    const open = new Set(this.node?.getConnections().map(c => c.remotePeer.toString()) ?? [])
    for (const t of this.targets.values()) {
      if (t.state === 'dialing') continue
      if (t.peer !== undefined && open.has(t.peer)) { t.state = 'connected'; continue }
      if (t.peer !== undefined && this.blocked.has(t.peer)) continue
      if (t.nextAt > now) continue
      if (open.size >= this.deps.tuning.maxConnections) break
      void this.dial(t)
    }
  }

  private async dial (t: Target): Promise<void> {
    if (this.node === undefined) return
    t.state = 'dialing'
    const addr: Multiaddr = multiaddr(t.peer !== undefined ? `${t.addr}/p2p/${t.peer}` : t.addr)
    try {
      const conn = await this.node.dial(addr, { signal: AbortSignal.timeout(10_000) })
      const remote = conn.remotePeer.toString()
      t.peer = remote
      t.state = 'connected'
      t.attempt = 0
      t.since = this.deps.clock.now()
      delete t.lastError
      this.reachable++
    } catch (err) {
      this.backoff(t, (err as Error).message)
    }
  }

  private backoff (t: Target, error?: string): void {
    t.state = 'backoff'
    if (error !== undefined) t.lastError = error.split('\n')[0]!.slice(0, 300)
    t.nextAt = this.deps.clock.now() + backoffDelay(t.attempt, this.deps.tuning, this.deps.random)
    t.attempt++
  }

  // ---- sessions ------------------------------------------------------------

  private onConnect (peerId: PeerId): void {
    const peer = peerId.toString()
    if (this.blocked.has(peer)) { void this.node?.hangUp(peerId); return }
    this.connectedSince.set(peer, this.deps.clock.now())
    this.seen.set(peer, this.deps.clock.now())
    // One session per pair: the lower PeerId opens it.
    if (comparePeerNames(this.deps.self, peer) < 0) void this.open(peerId)
  }

  private onDisconnect (peerId: PeerId): void {
    const peer = peerId.toString()
    this.connectedSince.delete(peer)
    for (const t of this.targets.values()) {
      if (t.peer === peer && t.state === 'connected') { t.state = 'idle'; t.nextAt = this.deps.clock.now() + 1000 }
    }
  }

  private async open (peerId: PeerId): Promise<void> {
    try {
      const stream = await this.node!.dialProtocol(peerId, SYNC_PROTOCOL_ID, { signal: AbortSignal.timeout(10_000) })
      this.startSession(peerId.toString(), stream)
    } catch (err) {
      this.log.warn(`could not open a sync session with ${peerId.toString()}: ${(err as Error).message}`)
    }
  }

  private accept (stream: Stream, connection: Connection): void {
    this.startSession(connection.remotePeer.toString(), stream)
  }

  private startSession (peer: PeerName, stream: Stream): void {
    const old = this.sessions.get(peer)
    const session = new SyncSession(peer, stream, {
      log: this.deps.log,
      nickname: this.deps.nickname,
      ...(this.deps.wantedRange !== undefined ? { wantedRange: this.deps.wantedRange } : {}),
      logger: this.deps.logger,
      tuning: this.deps.tuning,
      onAdopted: (p, ids) => { this.seen.set(p, this.deps.clock.now()); this.deps.onAdopted(p, ids) },
      onCaughtUp: p => { this.seen.set(p, this.deps.clock.now()); this.dropped.delete(p); this.deps.onCaughtUp(p) },
      onHello: (p, hello) => { this.seen.set(p, this.deps.clock.now()); this.hellos.set(p, hello) },
      chunks: this.chunks!,
      openSnapshotStream: async () => await this.node!.dialProtocol(peerIdFromString(peer), SNAPSHOT_PROTOCOL_ID, { signal: AbortSignal.timeout(10_000) })
    })
    this.sessions.set(peer, session)
    // A reconnect replaces the old session: the new stream wins, and the
    // log forgets the old one's in-flight sync state before the new one
    // generates anything (the worker runs calls in order).
    if (old !== undefined) {
      old.abort('replaced by a new session')
      void this.deps.log.endSession(peer).catch(() => {})
    }
    void session.run().then(end => { this.sessionEnded(session, end) })
  }

  private sessionEnded (session: SyncSession, end: SessionEnd): void {
    const peer = session.peer
    const past = this.pastBytes.get(peer) ?? { in: 0, out: 0 }
    this.pastBytes.set(peer, { in: past.in + session.bytesIn, out: past.out + session.bytesOut })
    if (this.sessions.get(peer) !== session) return // replaced; the new session carries on
    this.sessions.delete(peer)
    this.chunks?.dropPeer(peer)
    void this.deps.log.endSession(peer).catch(() => {})
    if (end.kind === 'closed' || this.stopping) return
    const now = this.deps.clock.now()
    const targets = [...this.targets.values()].filter(t => t.peer === peer)
    for (const t of targets) this.backoff(t, `${end.code}: ${end.message}`)
    const retryAt = Math.min(...targets.map(t => t.nextAt), now + backoffDelay(0, this.deps.tuning, this.deps.random))
    this.dropped.set(peer, { code: end.code, message: end.message, at: now, retryAt, byUs: end.byUs })
    const line = `${end.byUs ? 'dropped' : 'dropped by'} ${peer}: ${end.message}`
    if (end.code === 'dispute' || end.code === 'equivocation' || end.code === 'wrong-cluster') this.log.error(line)
    else this.log.warn(line)
    if (end.gate !== undefined) this.block(end.gate)
    void this.node?.hangUp(multiaddrPeer(peer)).catch(() => {})
  }

  /** Pumps every session: after adopting anything, sync with every connected peer at once. */
  syncAll (except?: PeerName): void {
    for (const [peer, s] of this.sessions) if (peer !== except) s.pump()
  }

  block (peer: PeerName): void {
    this.blocked.add(peer)
    void this.node?.hangUp(multiaddrPeer(peer)).catch(() => {})
  }

  unblock (peer: PeerName): void {
    this.blocked.delete(peer)
    for (const t of this.targets.values()) if (t.peer === peer) { t.nextAt = 0; t.attempt = 0 }
    this.schedule(0)
  }

  isBlocked (peer: PeerName): boolean { return this.blocked.has(peer) }

  connectedPeers (): PeerName[] {
    return [...new Set(this.node?.getConnections().map(c => c.remotePeer.toString()) ?? [])]
  }

  lastSeen (peer: PeerName): number | undefined {
    return this.isConnected(peer) ? this.deps.clock.now() : this.seen.get(peer)
  }

  /** Sync-protocol bytes exchanged with a peer since launch (or with all peers). */
  bytes (peer?: PeerName): { in: number, out: number } {
    let i = 0
    let o = 0
    for (const [p, b] of this.pastBytes) if (peer === undefined || p === peer) { i += b.in; o += b.out }
    for (const [p, s] of this.sessions) if (peer === undefined || p === peer) { i += s.bytesIn; o += s.bytesOut }
    return { in: i, out: o }
  }

  connections (): ConnectionJson[] {
    const iso = (t: number | undefined): string | null => t === undefined ? null : new Date(t).toISOString()
    const out: ConnectionJson[] = []
    const listed = new Set<PeerName>()
    for (const c of this.node?.getConnections() ?? []) {
      const peer = c.remotePeer.toString()
      if (listed.has(peer)) continue
      listed.add(peer)
      out.push({
        peer,
        nickname: this.hellos.get(peer)?.peer.nickname ?? null,
        addr: withoutPeer(c.remoteAddr.toString()),
        state: 'connected',
        direction: c.direction,
        since: iso(this.connectedSince.get(peer)),
        reason: null,
        retryAt: null,
        ...this.bytesJson(peer)
      })
    }
    for (const [peer, d] of this.dropped) {
      if (listed.has(peer)) continue
      listed.add(peer)
      const t = [...this.targets.values()].find(x => x.peer === peer)
      out.push({ peer, nickname: this.hellos.get(peer)?.peer.nickname ?? null, addr: t?.addr ?? null, state: 'dropped', since: iso(d.at), reason: `${d.code}: ${d.message}`, retryAt: iso(t?.nextAt ?? d.retryAt), ...this.bytesJson(peer) })
    }
    for (const t of this.targets.values()) {
      if (t.peer !== undefined && listed.has(t.peer)) continue
      out.push({
        peer: t.peer ?? null,
        nickname: t.peer !== undefined ? this.hellos.get(t.peer)?.peer.nickname ?? null : null,
        addr: t.addr,
        state: t.state === 'backoff' ? (t.lastError !== undefined ? 'failed' : 'backoff') : t.state === 'connected' ? 'connected' : 'dialing',
        since: iso(t.since),
        reason: t.lastError ?? null,
        retryAt: t.state === 'backoff' ? iso(t.nextAt) : null,
        ...(t.peer !== undefined ? this.bytesJson(t.peer) : { bytesIn: 0, bytesOut: 0 })
      })
    }
    return out
  }

  private bytesJson (peer: PeerName): { bytesIn: number, bytesOut: number } {
    const b = this.bytes(peer)
    return { bytesIn: b.in, bytesOut: b.out }
  }

  async stop (): Promise<void> {
    this.stopping = true
    if (this.timer !== undefined) this.deps.clock.clearTimeout(this.timer)
    if (this.roundTimer !== undefined) this.deps.clock.clearTimeout(this.roundTimer)
    await this.node?.stop()
  }
}

function multiaddrPeer (peer: PeerName): PeerId {
  return peerIdFromString(peer)
}
