import { parseCidr, formatCidr } from '../../packages/netaddr/index.js'
import { forksIn } from '../../crdt/causal/index.js'
import { comparePeerNames } from '../../crdt/events/peer-id.js'
import {
  createGenesis, defaultVerifier, ed25519SignerFromSeed, signEvent, signFutureEvent, type AuthoredEvent, type EventId, type TakeoverApproval,
  type PeerName, type SignedEvent, type Signer, type BodyOf } from '../../crdt/events/index.js'
import { EventLog, LogError } from '../../crdt/log/index.js'
import { OwnershipRing } from '../../crdt/ring/index.js'
import { systemClock, type Clock } from '../clock.js'
import type { Logger } from '../logger.js'
import { RingView, ringViewFromSnapshot, type RingViewJson } from '../ring-view.js'
import { describeHeld, type EventRow } from '../offline/describe.js'
import { Store, STORE_FORMAT, type KnownPeer, type LogStore } from '../store/index.js'
import { joinRefusal, latestByAuthor, topological } from './batch.js'
import { checkEquivocation, checkEvidence, rejectDisputes, rivalsOf, type ConflictDeps } from './conflicts.js'
import { buildHello, judgeHello, type HelloState } from './hello.js'
import type { LogWorkerApi } from './rpc.js'
import { Confirmations, leaveBody, ownLeave, spaceIn } from './lifecycle.js'
import { foldFromBase, type EpochStatus } from './epochs.js'
import { EpochTurns } from './epoch-turns.js'
import { foldStore, rememberKnownPeers, type SyncSessions } from './persistence.js'
import { Replica } from './replica.js'
import { AppendRefusedError, clonedMessage, NoClusterError, UPGRADE_NEEDED, type AppendResult, type ClonedIdentity, type Hello, type HelloVerdict, type LogNotice, type LogState, type ReceiveOutcome } from './types.js'

/**
 * The single writer of the log (DESIGN.md §2.5): it owns the Automerge
 * document, the fold and the store, and runs every operation one at a time.
 * read heads → build and sign → put/commit → persist → only then sync.
 * Remote batches are received into a copy, folded in a rollback-able batch,
 * and adopted only when they open no dispute with what we hold (§3).
 */

/** The service's errors, defined in types.ts, still importable from here. */
export { AppendRefusedError, NoClusterError } from './types.js'

export interface LogServiceInit {
  dataDir: string
  /** Ed25519 seed of this peer's identity. */
  seed: Uint8Array
  now: () => number
  /** Timers (coalesced view notices, confirmation waits); the system's unless a simulation hands in its clock. */
  clock?: Clock
  /** Reads a monotonic ms counter for the receive timings metrics report (performance.now unless simulated). */
  stopwatch?: () => number
  logger: Logger
  notify: (n: LogNotice) => void
  /** The store, already open (the worker opens it first to publish the snapshot). */
  store?: LogStore
  /** Events in the live document that make this member propose a checkpoint (DESIGN.md §2.6); 0 or absent: never. */
  epochEvents?: number
}

export class LogService implements LogWorkerApi {
  private readonly init: LogServiceInit
  private readonly signer: Signer
  private readonly log: Logger
  /** The store, document, fold and view, kept in step (replica.ts). */
  private readonly replica: Replica
  private queue: Promise<unknown> = Promise.resolve()
  private logState: LogState = 'loading'
  private readonly confirmations: Confirmations
  /** What conflicts.ts reads and writes through; live, as receives change the fold and view. */
  private readonly conflicts: ConflictDeps
  private readonly stopwatch: () => number
  /** Checkpoints, epoch switches and catch-ups (epoch-turns.ts); made when the store opens. */
  private epochs: EpochTurns | undefined

  constructor (init: LogServiceInit) {
    this.init = init
    this.signer = ed25519SignerFromSeed(init.seed)
    this.log = init.logger.forComponent('weft:log')
    const clock = init.clock ?? systemClock
    this.replica = new Replica({
      self: this.self,
      logger: this.log,
      now: () => this.init.now(),
      clock,
      publish: view => { this.init.notify({ type: 'view', view, state: this.logState }) }
    })
    this.confirmations = new Confirmations({ doc: () => this.doc, ring: () => this.ring, clock })
    this.stopwatch = init.stopwatch ?? (() => performance.now())
    this.conflicts = {
      self: this.self,
      log: this.log,
      now: () => this.init.now(),
      ring: () => this.ring,
      view: () => this.currentView,
      appendConflict: (body, allowVoid) => this.appendUnlocked('conflict', body, allowVoid),
      markCloned: cloned => this.markCloned(cloned)
    }
  }

  get self (): PeerName { return this.signer.author }
  private get store (): LogStore | undefined { return this.replica.store }
  private get doc (): EventLog | undefined { return this.replica.doc }
  private get ring (): OwnershipRing | undefined { return this.replica.ring }
  private set ring (ring: OwnershipRing | undefined) { this.replica.ring = ring }
  private get currentView (): RingViewJson | undefined { return this.replica.view }
  private set currentView (view: RingViewJson | undefined) { this.replica.view = view }
  private get sessions (): SyncSessions { return this.replica.sessions }

  get state (): LogState { return this.logState }
  get view (): RingViewJson | undefined { return this.currentView }
  get clusterId (): EventId | undefined { return this.ring?.clusterId }
  /** Whether the fold holds event `id` (a simulation's invariants ask; not part of the worker's API). */
  holdsEvent (id: EventId): boolean { return this.ring?.causal.get(id) !== undefined }
  /** The fold as it stands, ahead of the view it has published and saved (a simulation's invariants). */
  foldView (): RingViewJson | undefined { return this.ring === undefined ? undefined : ringViewFromSnapshot(this.ring.snapshot()) }

  /** Runs `fn` after every earlier operation: the one serialised writer. */
  private serial<T> (fn: () => Promise<T> | T): Promise<T> {
    const task = async (): Promise<T> => {
      const result = await fn()
      await this.epochs?.turn()
      return result
    }
    const run = this.queue.then(task, task)
    this.queue = run.catch(() => {})
    return run
  }

  /** Epochs as status and check report them. */
  epochStatus (): EpochStatus | undefined { return this.epochs?.status() }

  private setState (state: LogState): void {
    this.logState = state
    this.init.notify(this.currentView !== undefined ? { type: 'view', view: this.currentView, state } : { type: 'state', state })
  }

  /**
   * Opens the store, publishes the persisted ring snapshot at once (status
   * answers from it), then loads the document and folds the log.
   */
  open (): Promise<void> {
    return this.serial(async () => {
      const store = this.init.store ?? Store.open(this.init.dataDir)
      this.replica.store = store
      const meta = store.getMeta()
      if (meta === undefined) {
        await store.putMeta({ format: STORE_FORMAT, peer: this.self, createdAt: this.init.now() })
      } else if (meta.peer !== this.self) {
        throw new Error(`the store in ${this.init.dataDir} belongs to peer ${meta.peer}, not ${this.self}`)
      }
      if (meta?.cloned !== undefined) {
        this.cloned = meta.cloned
        this.log.error(clonedMessage(this.self, meta.cloned))
        this.init.notify({ type: 'cloned', cloned: meta.cloned })
      }
      const epoch = store.getEpoch()
      this.epochs = new EpochTurns({
        self: this.self,
        logger: this.log,
        threshold: this.init.epochEvents ?? 0,
        store: () => this.store!,
        ring: () => this.ring,
        doc: () => this.doc,
        sign: async body => { await this.appendUnlocked('checkpoint', body, false) },
        switchTo: async (next, fresh) => { await this.replica.switchTo(next, fresh) },
        notify: n => { this.init.notify(n) },
        joining: async (ring, peer, n) => { await this.replica.recordJoin(ring, peer, `, at epoch ${n}`) },
        ready: () => { this.setState('ready') }
      }, epoch)
      const persisted = this.replica.persistedSnapshot(store)
      if (persisted !== undefined && persisted.snapshot !== null) this.currentView = persisted.snapshot as RingViewJson
      const started = this.init.now()
      const clusterId = meta?.clusterId
      if (clusterId !== undefined) {
        // The fold first, from the store's events: that is all allocation needs,
        // so a peer with no one to sync with is ready before the document loads.
        const ring = epoch !== undefined ? foldFromBase(store, epoch) : foldStore(store, clusterId)
        this.ring = ring
        this.currentView = ringViewFromSnapshot(ring.snapshot())
        this.log.info(`folded ${ring.size} events in ${this.init.now() - started} ms`)
        this.setState('ready')
      }
      // Then the document (seconds at 100k events): sync and appends wait for it,
      // being queued behind this call.
      const docStarted = this.init.now()
      await this.replica.loadDocument(this.self, meta?.docForks ?? '', this.epochs.root, persisted?.eventHeads)
      if (this.ring === undefined) {
        this.setState('waiting-for-cluster')
        return
      }
      this.log.info(`loaded the document in ${this.init.now() - docStarted} ms`)
      this.epochs.tell()
    })
  }

  /**
   * Founds a cluster over `range`: with this peer as its only seed (a new
   * peer launched with no PEER), or with the seeds a bootstrap agreed on or
   * `--init seed=` named; every seed computes the same genesis.
   */
  found (range: string, seeds: PeerName[] = [this.self]): Promise<EventId> {
    return this.serial(async () => {
      if (this.ring !== undefined) throw new Error('this peer already belongs to a cluster')
      const genesis = createGenesis({ ranges: [parseCidr(range)], seeds: [...new Set(seeds)].sort(comparePeerNames) })
      this.doc!.addGenesis(genesis)
      const ring = new OwnershipRing(genesis.id)
      ring.apply(genesis)
      this.ring = ring
      await this.store!.putMeta({ ...this.store!.getMeta()!, clusterId: genesis.id, range: formatCidr(genesis.event.kind === 'genesis' ? genesis.event.body.ranges[0]! : parseCidr(range)) })
      await this.replica.persist([genesis], [])
      this.log.info(`founded cluster ${genesis.id} over ${range}`)
      this.setState('ready')
      return genesis.id
    })
  }

  /** Appends a join unless our latest join already says this nickname and these addresses. */
  ensureJoin (nickname: string, addrs: string[]): Promise<EventId | undefined> {
    return this.serial(async () => {
      if (this.ring === undefined) return undefined
      const me = this.currentView?.peers.find(p => p.name === this.self)
      const same = me !== undefined && me.nickname === nickname && me.addrs.join() === addrs.join() && (me.member && !me.seed ? true : me.nickname !== undefined)
      if (same) return undefined
      const r = await this.appendUnlocked('join', { nickname, addrs }, false)
      return r.id
    })
  }

  append<K extends AuthoredEvent['kind']> (kind: K, body: BodyOf<K>, opts: { allowVoid?: boolean } = {}): Promise<AppendResult> {
    return this.serial(() => this.appendUnlocked(kind, body, opts.allowVoid === true))
  }

  /**
   * Appends `count` joins repeating our current nickname and addresses, one
   * change each, persisting every `persistEvery`: a test hook for building
   * long histories quickly (DESIGN.md's benchmarks need 10k–100k events).
   */
  appendJoins (count: number, nickname: string, addrs: string[], persistEvery = 2000): Promise<number> {
    return this.serial(async () => {
      const ring = this.ring
      if (ring === undefined) throw new NoClusterError('this peer has not joined a cluster yet')
      let batch: SignedEvent[] = []
      for (let i = 0; i < count; i++) {
        const signed = signEvent({ kind: 'join', author: this.self, time: this.init.now(), body: { nickname, addrs }, ...ring.nextFields(this.self) }, this.signer)
        ring.apply(signed)
        this.doc!.append(signed)
        batch.push(signed)
        if (batch.length >= persistEvery || i === count - 1) {
          await this.replica.persist(batch, [])
          this.init.notify({ type: 'adopted', ids: batch.map(e => e.id), local: true })
          this.epochs?.adopted()
          batch = []
        }
      }
      return count
    })
  }

  private async appendUnlocked<K extends AuthoredEvent['kind']> (kind: K, body: BodyOf<K>, allowVoid: boolean): Promise<AppendResult> {
    const ring = this.ring
    if (ring === undefined) throw new NoClusterError('this peer has not joined a cluster yet')
    this.refuseToSign(ring, kind)
    const fields = ring.nextFields(this.self)
    const signed = signEvent({ kind, author: this.self, time: this.init.now(), body, ...fields } as never, this.signer)
    return await this.adoptOwn(signed, allowVoid)
  }

  /** Why we must not sign now, thrown: a cloned identity, or events of a newer format. */
  private refuseToSign (ring: OwnershipRing, kind: AuthoredEvent['kind']): void {
    if (this.cloned !== undefined) throw new AppendRefusedError(clonedMessage(this.self, this.cloned))
    // Our fold ignores events of a newer format, so anything we sign could
    // contradict them: every signing path stops here (DESIGN.md §2.1).
    if (ring.state.futureEvents > 0) throw new AppendRefusedError(`${kind} refused: ${UPGRADE_NEEDED}`)
  }

  /**
   * Test hook: signs and appends an event of a newer format, as an upgraded
   * build of this peer would, to show what this build does with it.
   */
  appendFuture (futureKind: string, v: number): Promise<AppendResult> {
    return this.serial(async () => {
      const ring = this.ring
      if (ring === undefined) throw new NoClusterError('this peer has not joined a cluster yet')
      const signed = signFutureEvent({ v, futureKind, author: this.self, time: this.init.now(), ...ring.nextFields(this.self) }, this.signer)
      return await this.adoptOwn(signed, true)
    })
  }

  /** Adopts an event we signed (replica.ts), and tells the daemon. */
  private async adoptOwn (signed: SignedEvent, allowVoid: boolean): Promise<AppendResult> {
    const verdict = await this.replica.adoptOwn(signed, allowVoid)
    this.epochs?.adopted()
    this.init.notify({ type: 'adopted', ids: [signed.id], local: true })
    return { id: signed.id, status: verdict.status, ...(verdict.reason !== undefined ? { reason: verdict.reason } : {}) }
  }

  // ---- sync --------------------------------------------------------------

  /** What the hello is built and judged from (hello.ts). */
  private get helloState (): HelloState {
    const epoch = this.epochs?.current
    return { self: this.self, clusterId: this.ring?.clusterId, view: this.currentView, cloned: this.cloned, ...(epoch !== undefined ? { epoch: { n: epoch.epoch, key: epoch.key } } : {}) }
  }

  /** Our epoch, for a peer behind it or joining (FRAME_EPOCH_REQ): encoded, or null in the first epoch. */
  epochOffer (): Promise<Uint8Array | null> {
    return this.serial(() => this.epochs?.offer() ?? null)
  }

  /** Catches up with a peer's later epoch from its offer (DESIGN.md §2.6; epoch-turns.ts). */
  acceptEpoch (peer: PeerName, bytes: Uint8Array): Promise<{ ok: true, epoch: number } | { ok: false, message: string }> {
    return this.serial(async () => await this.epochs!.catchUp(peer, bytes))
  }

  hello (nickname: string): Hello {
    return buildHello(this.helloState, nickname)
  }

  /** Whether to sync with a peer after its hello (DESIGN.md §3; the rules are in hello.ts). */
  helloVerdict (remote: Hello, wantedRange?: string): HelloVerdict {
    return judgeHello(this.helloState, remote, wantedRange)
  }

  /** The next sync message for `peer`, or null when it has everything we know it needs. */
  generate (peer: PeerName, epochKey?: string): Promise<Uint8Array | null> {
    // Serialised: a message generated between an append and its persist
    // would send an event before it is durable.
    return this.serial(() => this.doc === undefined || !this.inEpoch(epochKey) ? null : this.doc.generateSyncMessage(this.sessions.get(peer, this.store)))
  }

  private inEpoch (epochKey: string | undefined): boolean {
    return this.epochs?.inEpoch(epochKey) ?? (epochKey === undefined || epochKey === '')
  }

  /** Keeps a peer's sync state and forgets in-flight bookkeeping (after a disconnect). */
  endSession (peer: PeerName): Promise<void> {
    return this.serial(() => this.sessions.end(peer, this.store))
  }

  /**
   * Receives a sync message from `peer`. `expectCluster` is the cluster id the
   * peer announced in its hello (used when we have none yet and are joining).
   */
  receive (peer: PeerName, message: Uint8Array, expectCluster?: EventId, wantedRange?: string, epochKey?: string): Promise<ReceiveOutcome> {
    return this.serial(() => this.inEpoch(epochKey) ? this.receiveUnlocked(peer, message, expectCluster, wantedRange) : { kind: 'unchanged' as const, caughtUp: false })
  }

  private async receiveUnlocked (peer: PeerName, message: Uint8Array, expectCluster?: EventId, wantedRange?: string): Promise<ReceiveOutcome> {
    if (this.cloned !== undefined) return { kind: 'rejected', reason: 'identity-cloned', message: clonedMessage(this.self, this.cloned), conflicts: [] }
    const doc = this.doc!
    const session = this.sessions.get(peer, this.store)
    const equivocation = await checkEquivocation(this.conflicts, peer, message)
    if (equivocation !== undefined) return equivocation
    const t0 = this.stopwatch()
    let received
    try {
      received = doc.receive(session, message, defaultVerifier, { learnForks: this.ring === undefined })
    } catch (err) {
      if (err instanceof LogError) return { kind: 'rejected', reason: err.code === 'bad-append' ? 'bad-message' : err.code, message: err.message, conflicts: [] }
      throw err
    }
    if (received.events.length === 0) {
      received.adopt()
      return { kind: 'unchanged', caughtUp: this.confirmations.heardMessage(peer, message) }
    }
    const batch = [...received.events].sort(topological)
    const validated = this.stopwatch()
    let ring = this.ring
    const joined = ring === undefined
    if (ring === undefined) {
      const refusal = joinRefusal(peer, batch, expectCluster, wantedRange)
      if (refusal !== undefined) {
        received.discard()
        return { kind: 'rejected', reason: 'wrong-cluster', message: refusal, conflicts: [] }
      }
      const genesis = batch.find(e => e.event.kind === 'genesis')!
      ring = new OwnershipRing(genesis.id, forksIn(batch))
    }
    const adoption = await this.replica.adoptRemote(ring, batch, received, peer, session)
    if (adoption.kind === 'causal') return { kind: 'rejected', reason: 'causal', message: adoption.message, conflicts: [] }
    if (adoption.kind === 'blocked') return await rejectDisputes(this.conflicts, adoption.blocking, batch, peer)
    if (joined) this.setState('ready')
    this.epochs?.adopted()
    this.init.notify({ type: 'adopted', ids: batch.map(e => e.id), local: false, authors: latestByAuthor(batch) })
    const caughtUp = this.confirmations.heardMessage(peer, message)
    const timings = { validateMs: validated - t0, mergeMs: this.stopwatch() - validated }
    return { kind: 'adopted', ids: batch.map(e => e.id), caughtUp, timings }
  }

  /** A peer hung up offering event bytes as evidence of an equivocation: flag it too when they prove one. */
  receiveEvidence (peer: PeerName, evidence: Uint8Array[]): Promise<ReceiveOutcome | undefined> {
    return this.serial(async () => this.cloned !== undefined ? undefined : await checkEvidence(this.conflicts, peer, evidence))
  }

  private cloned: ClonedIdentity | undefined

  private async markCloned (cloned: ClonedIdentity): Promise<void> {
    if (this.cloned === undefined) {
      this.cloned = cloned
      await this.store!.putMeta({ ...this.store!.getMeta()!, cloned })
    }
    this.log.error(clonedMessage(this.self, this.cloned))
    this.init.notify({ type: 'cloned', cloned: this.cloned })
  }

  /** Resolves with the first peer that shows it holds event `id`, or undefined at the timeout. */
  awaitConfirmation (id: EventId, timeoutMs: number): Promise<PeerName | undefined> {
    return this.confirmations.wait(id, timeoutMs)
  }

  /** Rows describing events (for `history --follow`), judged by the current fold. */
  describeEvents (ids: EventId[]): EventRow[] {
    const view = this.currentView
    return this.ring === undefined || view === undefined ? [] : describeHeld(this.ring, new RingView(view), ids)
  }

  /** The rival ids a conflict event names (so `weft resolve` accepts a conflict's id). */
  conflictRivals (id: EventId): EventId[] | undefined {
    return rivalsOf(this.ring, id)
  }

  /** Owned, undisputed space of a peer in the current fold (exactly what a takeover must name). */
  spaceOf (peer: PeerName): string[] {
    return spaceIn(this.ring?.snapshot(), peer)
  }

  /**
   * Takes over a peer: a takeover naming exactly its undisputed space in
   * our current view, which is the event's own view (deps = our heads).
   */
  takeover (from: PeerName, approval?: TakeoverApproval): Promise<AppendResult & { ranges: string[] }> {
    return this.serial(async () => {
      const ranges = this.spaceOf(from)
      const r = await this.appendUnlocked('takeover', { from, ranges: ranges.map(c => parseCidr(c)), ...(approval !== undefined ? { approval } : {}) }, false)
      return { ...r, ranges }
    })
  }

  /**
   * Hands all our space to `candidates` in one `leave` (DESIGN.md §7: spread
   * over them, CIDR-aligned), and waits until one of them shows it holds it.
   * The waiter is registered before the event can be synced anywhere.
   * If we left already (a reset whose wait timed out, run again), appends
   * nothing: a second leave would be void, and the first one is what the
   * other peers must hold; so it waits for that one (`earlier`).
   */
  async leave (candidates: PeerName[], timeoutMs: number): Promise<{ id: EventId, heirs: Array<{ peer: PeerName, ranges: string[] }>, confirmedBy?: PeerName, earlier?: true }> {
    let confirmation!: Promise<PeerName | undefined>
    const result = await this.serial(async () => {
      const ring = this.ring
      const snap = ring?.snapshot()
      if (ring === undefined || snap === undefined) throw new NoClusterError('this peer has not joined a cluster yet')
      const earlier = ownLeave(ring, snap, this.self)
      if (earlier !== undefined) {
        confirmation = this.awaitConfirmation(earlier.id, timeoutMs)
        return { id: earlier.id, heirs: earlier.heirs.map(h => ({ peer: h.peer, ranges: h.ranges.map(formatCidr) })), earlier: true as const }
      }
      this.refuseToSign(ring, 'leave')
      const body = leaveBody(snap, this.self, candidates)
      if (body === undefined) throw new AppendRefusedError('no connected peer can take this peer\'s ranges: connect one first')
      const r = await this.appendUnlocked('leave', body, false)
      confirmation = this.awaitConfirmation(r.id, timeoutMs)
      return { id: r.id, heirs: body.heirs.map(h => ({ peer: h.peer, ranges: h.ranges.map(formatCidr) })) }
    })
    const confirmedBy = await confirmation
    return { ...result, ...(confirmedBy !== undefined ? { confirmedBy } : {}) }
  }

  // ---- peers we know how to reach -------------------------------------------

  knownPeers (): Promise<KnownPeer[]> {
    // One bad record must not stop the launch: it is skipped, and said (`weft connect` re-adds an address).
    return this.serial(() => this.store?.knownPeers((addr, err) => { this.log.warn(`skipping a known peer address: ${err.message}`) }) ?? [])
  }

  /** Stores addresses to dial, all or none: never past MAX_KNOWN_ADDRESSES (KnownAddressesFullError). */
  rememberPeers (addrs: string[], source: KnownPeer['source']): Promise<void> {
    return this.serial(async () => { await rememberKnownPeers(this.store!, addrs, source) })
  }

  /** Saves when each peer was last seen (the daemon's liveness map), so a relaunch still knows. */
  putSeen (seen: Record<PeerName, number>): Promise<void> {
    return this.serial(async () => { await this.store!.putSeen(seen) })
  }

  getAcceptor (instance: string): Promise<unknown> {
    return this.serial(() => this.store!.getAcceptor(instance))
  }

  /** An election acceptor's state, committed before it answers (the caller awaits this). */
  putAcceptor (instance: string, state: unknown): Promise<void> {
    return this.serial(async () => { await this.store!.putAcceptor(instance, state) })
  }

  forgetPeers (addrs: string[]): Promise<void> {
    return this.serial(async () => {
      for (const addr of addrs) await this.store!.deleteKnownPeer(addr)
    })
  }

  close (): Promise<void> {
    return this.serial(async () => { await this.replica.close() })
  }
}
