import { comparePeerNames, type EventId, type PeerName } from '../../crdt/events/index.js'
import { printable } from '../../packages/printable/index.js'
import type { ConnectionJson } from '../api/types.js'
import type { Clock } from '../clock.js'
import type { Tuning } from '../config.js'
import type { LogApi } from '../log-service/api.js'
import type { Hello, HelloInit, ReceiveOutcome } from '../log-service/types.js'
import type { Logger } from '../logger.js'
import { ChunkedTransfers, SNAPSHOT_PROTOCOL_ID } from './chunked.js'
import { SYNC_PROTOCOL_ID } from './frames.js'
import { Dialer, withoutPeer, type Target } from './dialer.js'
import { Liveness } from './liveness.js'
import { RefusedHosts } from './refused-hosts.js'
import { MAX_TRANSFER_BYTES, SyncSession, type SessionEnd } from './session.js'
import type { FrameStream, Transport } from './transport.js'

/** After we drop a peer (and said BYE), how long before we hang up its connection. */
const BYE_GRACE_MS = 250

/**
 * The peer's network: a transport (libp2p in the daemon, in-memory in
 * simulation tests), the addresses it keeps dialling with backoff, and one
 * sync session per connected peer. Dropped connections are remembered with their reason so
 * `weft status connections` can say why a clique formed.
 */

interface Dropped { code: string, message: string, at: number, retryAt: number, byUs: boolean }

export interface NetworkDeps {
  transport: Transport
  self: PeerName
  /** --advertise; empty = the listen addresses. */
  advertise: string[]
  wantedRange?: string
  tuning: Tuning
  log: LogApi
  logger: Logger
  clock: Clock
  random: () => number
  nickname: () => string
  onCaughtUp: (peer: PeerName) => void
  onAdopted: (peer: PeerName, ids: EventId[]) => void
  onReceived?: (peer: PeerName, outcome: ReceiveOutcome) => void
  /** When each peer was last seen (kept by the daemon across relaunches); a fresh one by default. */
  liveness?: Liveness
  /** While we have no cluster: how we will get one (node/consensus/init.ts). */
  helloInit?: () => HelloInit | undefined
}

/** How long the higher PeerId waits for the lower to open the sync session before opening it itself. */
const SESSION_FALLBACK_MS = 3000
/**
 * Dropped sessions remembered for `status connections` (and their hellos
 * and byte counts): the most recent ones. 300 throw-away identities each
 * saying hello and BYE once grew the list without end (issue 15).
 */
const MAX_DROPPED = 64

export class Network {
  private readonly deps: NetworkDeps
  private readonly log: Logger
  private readonly transport: Transport
  private readonly sessions = new Map<PeerName, SyncSession>()
  private readonly dialer: Dialer
  private readonly dropped = new Map<PeerName, Dropped>()
  private readonly blocked = new Set<PeerName>()
  /** When each peer was last seen, directly or as others report (liveness.ts). */
  readonly liveness: Liveness
  private readonly connectedSince = new Map<PeerName, number>()
  private readonly hellos = new Map<PeerName, Hello>()
  /** Sync-protocol bytes of finished sessions, per peer. */
  private readonly pastBytes = new Map<PeerName, { in: number, out: number }>()
  /** Hosts whose connections failed the handshake (no cluster key, or another). */
  private readonly refused: RefusedHosts
  private chunks: ChunkedTransfers | undefined
  private roundTimer: unknown
  private stopping = false

  constructor (deps: NetworkDeps) {
    this.deps = deps
    this.transport = deps.transport
    this.log = deps.logger.forComponent('weft:net')
    this.liveness = deps.liveness ?? new Liveness({ self: deps.self, now: () => deps.clock.now() })
    this.refused = new RefusedHosts({ clock: deps.clock, logger: deps.logger })
    this.dialer = new Dialer({
      self: deps.self,
      transport: deps.transport,
      clock: deps.clock,
      random: deps.random,
      tuning: deps.tuning,
      active: () => !this.stopping && !this.quiesced,
      isBlocked: peer => this.blocked.has(peer)
    })
  }

  async start (): Promise<void> {
    const { tuning, clock } = this.deps
    this.chunks = new ChunkedTransfers({ frameLimit: tuning.frameLimit, maxBytes: MAX_TRANSFER_BYTES, logger: this.deps.logger, clock })
    await this.transport.start()
    // A sync frame is a type byte plus at most frameLimit bytes of message.
    await this.transport.handle(SYNC_PROTOCOL_ID, stream => { this.startSession(stream) }, { maxFrame: tuning.frameLimit + 1 })
    await this.transport.handle(SNAPSHOT_PROTOCOL_ID, stream => {
      // Only from a peer whose hello we accepted: never from strangers or before hello (issue 15).
      if (this.sessions.get(stream.peer)?.accepted !== true) { stream.abort(new Error('no accepted sync session')); return }
      void this.chunks!.receive(stream)
    }, { maxFrame: tuning.frameLimit })
    this.transport.onConnect(peer => { this.onConnect(peer) })
    this.transport.onDisconnect(peer => { this.onDisconnect(peer) })
    this.transport.onHandshakeFailure?.(f => { this.refused.note(f.addr, f.reason) })
    this.dialer.schedule()
    this.scheduleRound()
    this.log.info(`listening on ${this.listenAddrs().join(', ')}`)
  }

  listenAddrs (): string[] { return this.transport.listenAddrs() }

  /** What other peers dial: --advertise, else our listen addresses (never 0.0.0.0, which libp2p expands). */
  advertiseAddrs (): string[] {
    if (this.deps.advertise.length > 0) return this.deps.advertise.map(withoutPeer)
    return this.listenAddrs().filter(a => !a.includes('/0.0.0.0/') && !a.includes('/::/'))
  }

  // ---- targets and dialling ----------------------------------------------

  addTargets (addrs: string[], source: Target['source'], peer?: PeerName): void { this.dialer.add(addrs, source, peer) }

  removeTargets (addrs: string[]): void { this.dialer.remove(addrs) }

  get hasTargets (): boolean { return this.dialer.size > 0 }

  private scheduleRound (): void {
    if (this.stopping) return
    this.roundTimer = this.deps.clock.setTimeout(() => {
      this.syncAll()
      // One report for every session this round.
      const seen = this.liveness.report(this.transport.connectedPeers())
      for (const session of this.sessions.values()) session.sendSeen(seen)
      this.scheduleRound()
    }, this.deps.tuning.syncIntervalMs)
  }

  private isConnected (peer: PeerName | undefined): boolean {
    return peer !== undefined && this.transport.connectedPeers().includes(peer)
  }

  private quiesced = false

  /**
   * Stops syncing for good (this peer's identity turned out cloned): no more
   * dials or sessions; open connections close once their BYEs are out.
   */
  quiesce (): void {
    if (this.quiesced) return
    this.quiesced = true
    this.deps.clock.setTimeout(() => {
      for (const p of this.transport.connectedPeers()) void this.transport.hangUp(p).catch(() => {})
    }, 1000)
  }

  // ---- sessions ------------------------------------------------------------

  private onConnect (peer: PeerName): void {
    if (this.blocked.has(peer) || this.quiesced) { void this.transport.hangUp(peer).catch(() => {}); return }
    this.connectedSince.set(peer, this.deps.clock.now())
    this.liveness.note(peer, this.deps.clock.now())
    // One session per pair: the lower PeerId opens it. The higher opens one
    // itself if none came: the other side may already hold a connection under
    // that PeerId (a cloned identity) and so never see this one as new, which
    // would leave it connected and silent, the clone undetected.
    if (comparePeerNames(this.deps.self, peer) < 0) void this.open(peer)
    else {
      const sessionsBefore = this.sessionsStarted
      this.deps.clock.setTimeout(() => {
        // Only when no session at all started meanwhile (a session that ran and ended stays ended).
        if (this.stopping || this.quiesced || this.blocked.has(peer) || !this.isConnected(peer)) return
        if ((this.lastSessionStart.get(peer) ?? -1) >= sessionsBefore) return
        void this.open(peer)
      }, SESSION_FALLBACK_MS)
    }
  }

  private onDisconnect (peer: PeerName): void {
    // It was alive up to now: "last seen" is when the connection ended.
    if (this.connectedSince.has(peer)) this.liveness.note(peer, this.deps.clock.now())
    this.connectedSince.delete(peer)
    this.dialer.disconnected(peer)
  }

  private async open (peer: PeerName): Promise<void> {
    try {
      this.startSession(await this.transport.openStream(peer, SYNC_PROTOCOL_ID, { maxFrame: this.deps.tuning.frameLimit + 1 }))
    } catch (err) {
      this.log.warn(`could not open a sync session with ${peer}: ${(err as Error).message}`)
    }
  }

  /** Sessions started so far, and the number of each peer's latest (to tell "none since"). */
  private sessionsStarted = 0
  private readonly lastSessionStart = new Map<PeerName, number>()

  private startSession (stream: FrameStream): void {
    const peer = stream.peer
    // A peer hung up on for flooding waits out its backoff before it may talk again.
    const penalty = this.dropped.get(peer)
    if (penalty?.code === 'rate-limit' && this.deps.clock.now() < penalty.retryAt) {
      stream.abort(new Error(`rate-limited until ${new Date(penalty.retryAt).toISOString()}`))
      return
    }
    this.lastSessionStart.set(peer, this.sessionsStarted++)
    const old = this.sessions.get(peer)
    const session = new SyncSession(stream, {
      log: this.deps.log,
      nickname: this.deps.nickname,
      ...(this.deps.wantedRange !== undefined ? { wantedRange: this.deps.wantedRange } : {}),
      logger: this.deps.logger,
      tuning: this.deps.tuning,
      onAdopted: (p, ids) => { this.liveness.note(p, this.deps.clock.now()); this.deps.onAdopted(p, ids) },
      onCaughtUp: p => { this.liveness.note(p, this.deps.clock.now()); this.dropped.delete(p); this.deps.onCaughtUp(p) },
      onHello: (p, hello) => { this.liveness.note(p, this.deps.clock.now()); this.hellos.set(p, hello) },
      seenReport: () => this.liveness.report(this.transport.connectedPeers()),
      ...(this.deps.helloInit !== undefined ? { helloInit: this.deps.helloInit } : {}),
      onSeen: (_p, seen) => { this.liveness.noteAges(seen) },
      ...(this.deps.onReceived !== undefined ? { onReceived: this.deps.onReceived } : {}),
      chunks: this.chunks!,
      openSnapshotStream: async () => await this.transport.openStream(peer, SNAPSHOT_PROTOCOL_ID, { maxFrame: this.deps.tuning.frameLimit }),
      now: () => this.deps.clock.now()
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
    if (end.kind === 'closed' || this.stopping) {
      // A peer we never dial that closed cleanly: nothing to show about it later.
      if (this.dialer.forPeer(peer).length === 0 && !this.dropped.has(peer)) {
        this.hellos.delete(peer)
        this.pastBytes.delete(peer)
      }
      return
    }
    const now = this.deps.clock.now()
    // Kept for `status connections` and logged: escaped (a BYE's text is the peer's to choose).
    const code = printable(end.code)
    const message = printable(end.message)
    const retryAt = this.dialer.backoffPeer(peer, `${code}: ${message}`)
    this.dropped.delete(peer) // re-inserted last: the map's order is the age order
    this.dropped.set(peer, { code, message, at: now, retryAt, byUs: end.byUs })
    this.forgetOldDropped()
    const line = `${end.byUs ? 'dropped' : 'dropped by'} ${peer}: ${message}`
    if (end.code === 'dispute' || end.code === 'equivocation' || end.code === 'wrong-cluster') this.log.error(line)
    else this.log.warn(line)
    if (end.gate !== undefined) this.block(end.gate)
    // Our BYE is written and the stream closed, but hanging up the connection
    // at once can still overtake it in flight (seen under load: the peer saw
    // the close and never the reason). A short grace lets it arrive.
    // A flooder gets no grace: every moment connected costs us its frames.
    if (end.byUs && end.code === 'rate-limit') void this.transport.hangUp(peer, { abort: true }).catch(() => {})
    else if (end.byUs) this.deps.clock.setTimeout(() => { void this.transport.hangUp(peer).catch(() => {}) }, BYE_GRACE_MS)
    else void this.transport.hangUp(peer).catch(() => {})
  }

  private forgetOldDropped (): void {
    for (const old of this.dropped.keys()) {
      if (this.dropped.size <= MAX_DROPPED) break
      this.dropped.delete(old)
      if (!this.sessions.has(old)) {
        this.hellos.delete(old)
        this.pastBytes.delete(old)
      }
    }
  }

  /** Says our hello again on every session (we found or joined a cluster). */
  rehelloAll (): void {
    for (const s of this.sessions.values()) s.rehello()
  }

  /** Our live document moved to another epoch: hold every session's sync until its peer is on ours again. */
  epochChanged (): void {
    for (const s of this.sessions.values()) s.epochChanged()
  }

  /** Connected peers whose latest hello passes `test` (say, the voters of our consensus group). */
  connectedWhoseHello (test: (hello: Hello) => boolean): PeerName[] {
    return this.transport.connectedPeers().filter(p => { const h = this.sessions.get(p)?.remote; return h !== undefined && test(h) })
  }

  /** Addresses we dial that are not connected now (for "who is unreachable"). */
  unreachableTargets (): string[] { return this.dialer.unreachable() }

  /** Pumps every session: after adopting anything, sync with every connected peer at once. */
  syncAll (except?: PeerName): void {
    for (const [peer, s] of this.sessions) if (peer !== except) s.pump()
  }

  block (peer: PeerName): void {
    this.blocked.add(peer)
    this.transport.block(peer)
  }

  unblock (peer: PeerName): void {
    this.blocked.delete(peer)
    this.transport.unblock(peer)
    this.dialer.retryNow(peer)
  }

  isBlocked (peer: PeerName): boolean { return this.blocked.has(peer) }

  connectedPeers (): PeerName[] { return this.transport.connectedPeers() }

  lastSeen (peer: PeerName): number | undefined {
    return this.isConnected(peer) ? this.deps.clock.now() : this.liveness.get(peer)
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
    for (const peer of this.transport.connectedPeers()) {
      if (listed.has(peer)) continue
      // Dropped by us and not yet hung up (the BYE's grace): report it dropped.
      if (!this.sessions.has(peer) && this.dropped.get(peer)?.byUs === true) continue
      listed.add(peer)
      const c = this.transport.connectionInfo(peer)
      out.push({
        peer,
        nickname: this.hellos.get(peer)?.peer.nickname ?? null,
        addr: c?.addr ?? null,
        state: 'connected',
        ...(c !== undefined ? { direction: c.direction } : {}),
        since: iso(this.connectedSince.get(peer)),
        reason: null,
        retryAt: null,
        ...this.bytesJson(peer)
      })
    }
    for (const [peer, d] of this.dropped) {
      if (listed.has(peer)) continue
      listed.add(peer)
      const t = this.dialer.forPeer(peer)[0]
      out.push({ peer, nickname: this.hellos.get(peer)?.peer.nickname ?? null, addr: t?.addr ?? null, state: 'dropped', since: iso(d.at), reason: `${d.code}: ${d.message}`, retryAt: iso(t?.nextAt ?? d.retryAt), ...this.bytesJson(peer) })
    }
    for (const t of this.dialer.all()) {
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
    out.push(...this.refused.rows())
    return out
  }

  private bytesJson (peer: PeerName): { bytesIn: number, bytesOut: number } {
    const b = this.bytes(peer)
    return { bytesIn: b.in, bytesOut: b.out }
  }

  async stop (): Promise<void> {
    this.stopping = true
    this.dialer.stop()
    if (this.roundTimer !== undefined) this.deps.clock.clearTimeout(this.roundTimer)
    for (const s of this.sessions.values()) s.abort('stopping')
    await this.transport.stop()
  }
}
