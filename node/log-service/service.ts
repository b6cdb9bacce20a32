import { parseCidr, formatCidr, RangeSet, type Cidr } from '../../packages/netaddr/index.js'
import { CausalError, compareTopological } from '../../crdt/causal/index.js'
import {
  createGenesis, decodeEvent, defaultVerifier, ed25519SignerFromSeed, EVENT_FORMAT_VERSION, signEvent, type AuthoredEvent, type EventId,
  type PeerName, type SignedEvent, type Signer, type BodyOf } from '../../crdt/events/index.js'
import { automerge, EventLog, LogError, SyncSession } from '../../crdt/log/index.js'
import { OwnershipRing, type DisputeRecord } from '../../crdt/ring/index.js'
import type { Logger } from '../logger.js'
import { RingView, ringViewFromSnapshot, type RingViewJson } from '../ring-view.js'
import { describeContext, describeEvent, type EventRow } from '../offline/describe.js'
import { Store, STORE_FORMAT, type KnownPeer, type StoredEvent } from '../store/index.js'
import { equivocationInEvidence, equivocationInMessage, EquivocationCheckError, type Equivocation } from './equivocation.js'
import { SYNC_PROTOCOL, clonedMessage, type AppendResult, type ClonedIdentity, type Hello, type HelloVerdict, type LogNotice, type LogState, type ReceiveOutcome } from './types.js'

/**
 * The single writer of the log (DESIGN.md §2.5): it owns the Automerge
 * document, the fold and the store, and runs every operation one at a time.
 * read heads → build and sign → put/commit → persist → only then sync.
 * Remote batches are received into a copy, folded in a rollback-able batch,
 * and adopted only when they open no dispute with what we hold (§3).
 */

/** A local append that would be void, refused before it reaches the log. */
export class AppendRefusedError extends Error {
  override name = 'AppendRefusedError'
}

export class NoClusterError extends Error {
  override name = 'NoClusterError'
}

/**
 * Spreads CIDR blocks over peers so each gets a similar share, splitting the
 * largest blocks in halves while there are fewer blocks than peers.
 * Undefined when there is space but nobody to give it to.
 */
export function spreadOver (blocks: Cidr[], peers: PeerName[]): Array<{ peer: PeerName, ranges: Cidr[] }> | undefined {
  if (blocks.length === 0) return []
  if (peers.length === 0) return undefined
  const work = [...blocks]
  const size = (c: Cidr): bigint => 1n << BigInt((c.family === 4 ? 32 : 128) - c.prefix)
  while (work.length < peers.length) {
    work.sort((a, b) => (size(b) > size(a) ? 1 : size(b) < size(a) ? -1 : 0))
    const big = work[0]!
    if (size(big) === 1n) break
    const half = big.prefix + 1
    work.splice(0, 1, { family: big.family, first: big.first, prefix: half }, { family: big.family, first: big.first + size(big) / 2n, prefix: half })
  }
  work.sort((a, b) => (size(b) > size(a) ? 1 : size(b) < size(a) ? -1 : a.first < b.first ? -1 : 1))
  const shares = peers.map(peer => ({ peer, ranges: [] as Cidr[], total: 0n }))
  for (const block of work) {
    const least = shares.reduce((m, x) => (x.total < m.total ? x : m))
    least.ranges.push(block)
    least.total += size(block)
  }
  // Each heir's list must be canonical: the minimal sorted CIDRs of its share.
  return shares.map(x => ({ peer: x.peer, ranges: x.ranges.length === 0 ? [] : RangeSet.fromCidrs(x.ranges[0]!.family, x.ranges).toCidrs() }))
}


export interface LogServiceInit {
  dataDir: string
  /** Ed25519 seed of this peer's identity. */
  seed: Uint8Array
  now: () => number
  logger: Logger
  notify: (n: LogNotice) => void
  /** The store, already open (the worker opens it first to publish the snapshot). */
  store?: Store
}

/**
 * Compact the document into one save once its increments outweigh the last
 * full save (automerge-repo's rule): increments are uncompressed change
 * chunks (~390 B/event against ~206 B in a save), and loading many of them
 * is slower than loading one save. Never before this many bytes.
 */
const COMPACT_MIN_BYTES = 64 * 1024

function toStored (e: SignedEvent): StoredEvent {
  const ev = e.event
  return {
    id: e.id,
    bytes: e.bytes,
    lamport: ev.lamport,
    time: ev.kind === 'genesis' ? 0 : ev.time,
    ...(ev.kind !== 'genesis' ? { author: ev.author } : {}),
    kind: ev.kind === 'future' ? `future:${ev.futureKind}` : ev.kind
  }
}

function topological (a: SignedEvent, b: SignedEvent): number {
  return compareTopological({ lamport: a.event.lamport, id: a.id }, { lamport: b.event.lamport, id: b.id })
}

export class LogService {
  private readonly init: LogServiceInit
  private readonly signer: Signer
  private readonly log: Logger
  private store: Store | undefined
  private doc: EventLog | undefined
  private ring: OwnershipRing | undefined
  private readonly sessions = new Map<PeerName, SyncSession>()
  private persistedDocHeads: string[] = []
  private chunkCount = 0
  private baseBytes = 0
  private incrementBytes = 0
  private queue: Promise<unknown> = Promise.resolve()
  private currentView: RingViewJson | undefined
  private logState: LogState = 'loading'

  constructor (init: LogServiceInit) {
    this.init = init
    this.signer = ed25519SignerFromSeed(init.seed)
    this.log = init.logger.forComponent('weft:log')
  }

  get self (): PeerName { return this.signer.author }
  get state (): LogState { return this.logState }
  get view (): RingViewJson | undefined { return this.currentView }
  get clusterId (): EventId | undefined { return this.ring?.clusterId }

  /** Runs `fn` after every earlier operation: the one serialised writer. */
  private serial<T> (fn: () => Promise<T> | T): Promise<T> {
    const run = this.queue.then(fn, fn)
    this.queue = run.catch(() => {})
    return run
  }

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
      this.store = store
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
      const persisted = store.getSnapshot()
      if (persisted !== undefined && persisted.snapshot !== null) this.currentView = persisted.snapshot as RingViewJson
      const started = this.init.now()
      const clusterId = meta?.clusterId
      if (clusterId !== undefined) {
        // The fold first, from the store's events: that is all allocation needs,
        // so a peer with no one to sync with is ready before the document loads.
        const ring = new OwnershipRing(clusterId)
        for (const e of store.eventsInOrder()) {
          // Our own store is trusted on relaunch (DESIGN.md §2.1): decode, don't verify.
          ring.apply(decodeEvent(e.bytes, { verifier: null, trusted: true, expectedId: e.id }))
        }
        this.ring = ring
        this.currentView = ringViewFromSnapshot(ring.snapshot())
        this.log.info(`folded ${ring.size} events in ${this.init.now() - started} ms`)
        this.setState('ready')
      }
      // Then the document (seconds at 100k events): sync and appends wait for it,
      // being queued behind this call.
      const docStarted = this.init.now()
      const chunks = store.docChunks()
      this.doc = chunks.length > 0 ? EventLog.load(this.self, chunks) : EventLog.create(this.self)
      this.chunkCount = chunks.length
      this.baseBytes = chunks[0]?.length ?? 0
      this.incrementBytes = chunks.slice(1).reduce((n, c) => n + c.length, 0)
      this.persistedDocHeads = this.doc.heads()
      if (this.ring === undefined) {
        this.setState('waiting-for-cluster')
        return
      }
      const heads = this.ring.causal.heads().map(n => n.id).sort()
      const docHeads = this.doc.eventHeads()
      if (heads.join() !== docHeads.join()) {
        throw new Error(`the store's events (${this.ring.size}) and its document disagree on the heads; the data dir is damaged`)
      }
      this.log.info(`loaded the document in ${this.init.now() - docStarted} ms`)
      if (persisted === undefined || persisted.eventHeads.join() !== heads.join()) await this.persist([], [])
      await this.compactIfDue()
    })
  }

  /** Founds a cluster with this peer as its only seed (a new peer launched with no PEER). */
  found (range: string): Promise<EventId> {
    return this.serial(async () => {
      if (this.ring !== undefined) throw new Error('this peer already belongs to a cluster')
      const genesis = createGenesis({ ranges: [parseCidr(range)], seeds: [this.self] })
      this.doc!.addGenesis(genesis)
      const ring = new OwnershipRing(genesis.id)
      ring.apply(genesis)
      this.ring = ring
      await this.store!.putMeta({ ...this.store!.getMeta()!, clusterId: genesis.id, range: formatCidr(genesis.event.kind === 'genesis' ? genesis.event.body.ranges[0]! : parseCidr(range)) })
      await this.persist([genesis], [])
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
          await this.persist(batch, [])
          this.init.notify({ type: 'adopted', ids: batch.map(e => e.id), local: true })
          batch = []
        }
      }
      return count
    })
  }

  private async appendUnlocked<K extends AuthoredEvent['kind']> (kind: K, body: BodyOf<K>, allowVoid: boolean): Promise<AppendResult> {
    const ring = this.ring
    if (ring === undefined) throw new NoClusterError('this peer has not joined a cluster yet')
    if (this.cloned !== undefined) throw new AppendRefusedError(clonedMessage(this.self, this.cloned))
    const fields = ring.nextFields(this.self)
    const signed = signEvent({ kind, author: this.self, time: this.init.now(), body, ...fields } as never, this.signer)
    ring.begin()
    let verdict
    try {
      verdict = ring.apply(signed)
      if (verdict.status !== 'valid' && !allowVoid) throw new AppendRefusedError(`${kind} refused: ${verdict.reason ?? 'void'}`)
      this.doc!.append(signed)
    } catch (err) {
      ring.rollback()
      throw err
    }
    ring.commit()
    await this.persist([signed], [])
    this.init.notify({ type: 'adopted', ids: [signed.id], local: true })
    return { id: signed.id, status: verdict.status, ...(verdict.reason !== undefined ? { reason: verdict.reason } : {}) }
  }

  /** Writes an adoption: doc chunk, events, snapshot with its heads, sync states, in one transaction. */
  private async persist (events: SignedEvent[], syncStates: Array<[PeerName, Uint8Array]>): Promise<void> {
    const store = this.store!
    const doc = this.doc!
    const docHeads = doc.heads()
    const changed = docHeads.join() !== this.persistedDocHeads.join() || this.chunkCount === 0
    const docChunk = !changed ? undefined : this.chunkCount === 0 ? doc.save() : doc.saveSince(this.persistedDocHeads)
    const view = this.ring === undefined ? undefined : ringViewFromSnapshot(this.ring.snapshot())
    if (view !== undefined) this.currentView = view
    await store.adopt({
      ...(docChunk !== undefined ? { docChunk } : {}),
      docHeads,
      events: events.map(toStored),
      snapshot: view ?? null,
      eventHeads: view?.heads ?? [],
      syncStates
    })
    this.persistedDocHeads = docHeads
    if (docChunk !== undefined) {
      if (this.chunkCount === 0) this.baseBytes = docChunk.length
      else this.incrementBytes += docChunk.length
      this.chunkCount++
    }
    await this.compactIfDue()
    if (view !== undefined) this.init.notify({ type: 'view', view, state: this.logState })
  }

  private async compactIfDue (): Promise<void> {
    if (this.incrementBytes < Math.max(COMPACT_MIN_BYTES, this.baseBytes)) return
    const started = this.init.now()
    const full = this.doc!.save()
    await this.store!.compactDoc(full, this.doc!.heads())
    this.log.debug(`compacted the document: ${this.chunkCount} chunks (${this.baseBytes + this.incrementBytes} bytes) into ${full.length} bytes in ${this.init.now() - started} ms`)
    this.chunkCount = 1
    this.baseBytes = full.length
    this.incrementBytes = 0
  }

  // ---- sync --------------------------------------------------------------

  private session (peer: PeerName): SyncSession {
    let s = this.sessions.get(peer)
    if (s === undefined) {
      const saved = this.store?.getSyncState(peer)
      s = saved === undefined ? new SyncSession() : new SyncSession(saved)
      this.sessions.set(peer, s)
    }
    return s
  }

  hello (nickname: string): Hello {
    const view = this.currentView
    const open = view?.disputes.filter(d => d.status === 'open') ?? []
    return {
      ...(this.ring !== undefined ? { cluster: this.ring.clusterId } : {}),
      ...(view !== undefined ? { range: view.range } : {}),
      protocol: { ...SYNC_PROTOCOL },
      eventFormat: EVENT_FORMAT_VERSION,
      peer: { name: this.self, nickname },
      disputes: open.map(d => ({ id: d.id, held: d.parties.filter(p => !d.evidenceOnly.includes(p)) })),
      resolved: view?.disputes.filter(d => d.status === 'settled').map(d => d.id) ?? []
    }
  }

  /**
   * Whether to sync with a peer after its hello (DESIGN.md §3). Hang up on
   * another cluster or protocol major, and when each side holds a party of
   * an unresolved dispute the other lacks and neither holds a resolve for
   * it: re-sending that batch would only be refused again.
   */
  helloVerdict (remote: Hello, wantedRange?: string): HelloVerdict {
    if (remote.protocol.major !== SYNC_PROTOCOL.major) {
      return { ok: false, code: 'wrong-protocol', message: `peer ${remote.peer.name} speaks sync protocol ${remote.protocol.major}.${remote.protocol.minor}, we speak ${SYNC_PROTOCOL.major}.${SYNC_PROTOCOL.minor}` }
    }
    if (this.cloned !== undefined) return { ok: false, code: 'identity-cloned', message: clonedMessage(this.self, this.cloned) }
    const flagged = this.currentView?.equivocations.find(q => q.author === remote.peer.name)
    if (flagged !== undefined) {
      return { ok: false, code: 'equivocation', message: `equivocation by ${remote.peer.name}: events ${flagged.events.join(' and ')} share seq ${flagged.seq}; this identity is gated` }
    }
    const ours = this.ring?.clusterId
    if (ours === undefined) {
      if (remote.cluster === undefined) return { ok: true }
      if (wantedRange !== undefined && remote.range !== undefined && remote.range !== wantedRange) {
        return { ok: false, code: 'wrong-cluster', message: `peer ${remote.peer.name} belongs to a cluster over ${remote.range}, but this peer was launched with --range ${wantedRange}` }
      }
      return { ok: true, joinCluster: remote.cluster }
    }
    if (remote.cluster === undefined) return { ok: true }
    if (remote.cluster !== ours) {
      return {
        ok: false,
        code: 'wrong-cluster',
        message: `peer ${remote.peer.name} (${remote.peer.nickname}) was seeded by different peers: its cluster is ${remote.cluster} over ${remote.range ?? '?'}, ours is ${ours} over ${this.currentView?.range ?? '?'}`
      }
    }
    const mine = new Map(this.hello('').disputes.map(d => [d.id, new Set(d.held)]))
    const resolved = new Set([...remote.resolved, ...(this.currentView?.disputes.filter(d => d.status === 'settled').map(d => d.id) ?? [])])
    for (const d of remote.disputes) {
      if (resolved.has(d.id)) continue
      const myHeld = mine.get(d.id) ?? new Set<string>()
      const theirs = new Set(d.held)
      const iLackTheirs = [...theirs].some(p => !myHeld.has(p))
      const theyLackMine = [...myHeld].some(p => !theirs.has(p))
      if (iLackTheirs && theyLackMine) {
        return { ok: false, code: 'dispute', message: `unresolved dispute ${d.id}: run \`weft resolve ${d.id}\`` }
      }
    }
    return { ok: true }
  }

  /** The next sync message for `peer`, or null when it has everything we know it needs. */
  generate (peer: PeerName): Promise<Uint8Array | null> {
    // Serialised: a message generated between an append and its persist
    // would send an event before it is durable.
    return this.serial(() => this.doc === undefined ? null : this.doc.generateSyncMessage(this.session(peer)))
  }

  /** Keeps a peer's sync state and forgets in-flight bookkeeping (after a disconnect). */
  endSession (peer: PeerName): Promise<void> {
    return this.serial(async () => {
      const s = this.sessions.get(peer)
      if (s === undefined || this.store === undefined) return
      await this.store.putSyncState(peer, s.encode())
      s.free()
      this.sessions.delete(peer)
    })
  }

  /**
   * Receives a sync message from `peer`. `expectCluster` is the cluster id the
   * peer announced in its hello (used when we have none yet and are joining).
   */
  receive (peer: PeerName, message: Uint8Array, expectCluster?: EventId): Promise<ReceiveOutcome> {
    return this.serial(() => this.receiveUnlocked(peer, message, expectCluster))
  }

  private async receiveUnlocked (peer: PeerName, message: Uint8Array, expectCluster?: EventId): Promise<ReceiveOutcome> {
    if (this.cloned !== undefined) return { kind: 'rejected', reason: 'identity-cloned', message: clonedMessage(this.self, this.cloned), conflicts: [] }
    const doc = this.doc!
    const session = this.session(peer)
    const equivocation = await this.checkEquivocation(peer, message)
    if (equivocation !== undefined) return equivocation
    const t0 = performance.now()
    let received
    try {
      received = doc.receive(session, message, defaultVerifier)
    } catch (err) {
      if (err instanceof LogError) return { kind: 'rejected', reason: err.code === 'bad-append' ? 'bad-message' : err.code, message: err.message, conflicts: [] }
      throw err
    }
    if (received.events.length === 0) {
      received.adopt()
      this.checkConfirmations(peer, message)
      return { kind: 'unchanged', caughtUp: this.hasAllHeads(message) }
    }
    const batch = [...received.events].sort(topological)
    const validated = performance.now()
    let ring = this.ring
    let joined = false
    if (ring === undefined) {
      const genesis = batch.find(e => e.event.kind === 'genesis')
      if (genesis === undefined || (expectCluster !== undefined && genesis.id !== expectCluster)) {
        received.discard()
        return { kind: 'rejected', reason: 'wrong-cluster', message: `peer ${peer} sent events without the genesis of cluster ${expectCluster ?? '?'}`, conflicts: [] }
      }
      ring = new OwnershipRing(genesis.id)
      joined = true
    }
    ring.begin()
    try {
      for (const e of batch) ring.apply(e)
    } catch (err) {
      ring.rollback()
      received.discard()
      if (err instanceof CausalError) return { kind: 'rejected', reason: 'causal', message: err.message, conflicts: [] }
      throw err
    }
    const ids = new Set(batch.map(e => e.id))
    const blocking = ring.openDisputesWith(ids).filter(d => d.parties.some(p => !ids.has(p.id) && ring.has(p.id)))
    if (blocking.length > 0) {
      ring.rollback()
      received.discard()
      const conflicts = await this.flagDisputes(blocking, batch, peer)
      const d = blocking[0]!
      return {
        kind: 'rejected',
        reason: 'dispute',
        message: `dispute ${d.id} over ${d.ranges.toCidrs().map(formatCidr).join(', ')}: ${d.parties.map(p => `${p.event.kind} by ${this.who(p.event.kind === 'genesis' ? undefined : p.event.author)} (${p.id.slice(0, 12)})`).join(' vs ')}; run \`weft resolve ${d.id}\``,
        conflicts
      }
    }
    ring.commit()
    received.adopt()
    if (joined) {
      this.ring = ring
      const genesis = batch.find(e => e.event.kind === 'genesis')!
      const range = genesis.event.kind === 'genesis' ? formatCidr(genesis.event.body.ranges[0]!) : undefined
      await this.store!.putMeta({ ...this.store!.getMeta()!, clusterId: ring.clusterId, ...(range !== undefined ? { range } : {}) })
      this.log.info(`joined cluster ${ring.clusterId} through ${peer}`)
    }
    await this.persist(batch, [[peer, session.encode()]])
    if (joined) this.setState('ready')
    this.init.notify({ type: 'adopted', ids: batch.map(e => e.id), local: false })
    this.checkConfirmations(peer, message)
    const timings = { validateMs: validated - t0, mergeMs: performance.now() - validated }
    return { kind: 'adopted', ids: batch.map(e => e.id), caughtUp: this.hasAllHeads(message), timings }
  }

  /**
   * Two changes with one (author, seq) prove a cloned identity. Automerge
   * would refuse the message and lose the evidence, so look first
   * (DESIGN.md §2.5).
   */
  private async checkEquivocation (peer: PeerName, message: Uint8Array): Promise<ReceiveOutcome | undefined> {
    if (this.ring === undefined) return undefined
    let found
    try {
      found = equivocationInMessage(this.ring, message)
    } catch (err) {
      if (err instanceof EquivocationCheckError) return { kind: 'rejected', reason: err.code, message: err.message, conflicts: [] }
      throw err
    }
    return found === undefined ? undefined : await this.onEquivocation(peer, found)
  }

  /** A peer hung up offering event bytes as evidence of an equivocation: flag it too when they prove one. */
  receiveEvidence (peer: PeerName, evidence: Uint8Array[]): Promise<ReceiveOutcome | undefined> {
    return this.serial(async () => {
      if (this.ring === undefined || this.cloned !== undefined) return undefined
      const found = equivocationInEvidence(this.ring, evidence)
      return found === undefined ? undefined : await this.onEquivocation(peer, found)
    })
  }

  /**
   * Someone else's identity: record both events in a signed conflict (once),
   * gate the author. Our own: this data dir or another was copied; we cannot
   * tell which is the original, and anything more we sign makes it worse, so
   * stop writing and syncing (persisted), and send the peer both events so
   * it flags and gates this identity in the rest of the cluster.
   */
  private async onEquivocation (peer: PeerName, { held, rival }: Equivocation): Promise<ReceiveOutcome> {
    const ev = rival.event
    if (ev.kind === 'genesis') throw new Error('a genesis cannot equivocate') // firstRival skips them
    const { author, seq } = ev
    const rivals = [held.id, rival.id].sort()
    const evidence = [held.signed.bytes, rival.bytes]
    const message = `equivocation by ${author}: events ${held.id} and ${rival.id} share seq ${seq}`
    if (author === this.self) {
      await this.markCloned({ seq, ours: held.id, theirs: rival.id, supplier: peer, at: this.init.now() })
      return { kind: 'rejected', reason: 'equivocation', message, conflicts: [], evidence }
    }
    const conflicts: EventId[] = []
    if (!this.flaggedBySelf(rivals)) {
      const r = await this.appendUnlocked('conflict', { reason: 'equivocation', rivals, overlap: [], supplier: peer, evidence }, true)
      conflicts.push(r.id)
    }
    this.log.error(`equivocation: ${author} signed two events with seq ${seq} (${held.id} and ${rival.id}); supplied by ${peer}. Its identity was cloned or restored from a backup.`)
    return { kind: 'rejected', reason: 'equivocation', message, conflicts, gate: author, evidence }
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

  /** Events waiting for a peer to show it holds them (a `leave` before `reset` deletes the data dir). */
  private readonly awaitingConfirmation = new Map<EventId, (peer: PeerName) => void>()

  /**
   * A peer holds (and has persisted) one of our events once a sync message
   * it sends names heads that have seen it: peers sync only after persisting.
   */
  private checkConfirmations (peer: PeerName, message: Uint8Array): void {
    if (this.awaitingConfirmation.size === 0 || this.ring === undefined) return
    let heads: string[]
    try { heads = automerge.decodeSyncMessage(message).heads } catch { return }
    const nodes = heads.map(h => this.doc!.eventIdOf(h)).map(id => id === undefined ? undefined : this.ring!.causal.get(id)).filter(n => n !== undefined)
    for (const [id, resolve] of this.awaitingConfirmation) {
      const target = this.ring.causal.get(id)
      if (target !== undefined && nodes.some(n => this.ring!.causal.hasSeen(n, target))) {
        this.awaitingConfirmation.delete(id)
        resolve(peer)
      }
    }
  }

  /** Resolves with the first peer that shows it holds event `id`, or undefined at the timeout. */
  awaitConfirmation (id: EventId, timeoutMs: number): Promise<PeerName | undefined> {
    return new Promise(resolve => {
      const timer = setTimeout(() => { this.awaitingConfirmation.delete(id); resolve(undefined) }, timeoutMs)
      this.awaitingConfirmation.set(id, peer => { clearTimeout(timer); resolve(peer) })
    })
  }

  /** Rows describing events (for `history --follow`), judged by the current fold. */
  describeEvents (ids: EventId[]): EventRow[] {
    const ring = this.ring
    const view = this.currentView
    if (ring === undefined || view === undefined) return []
    const ctx = describeContext(ring, new RingView(view))
    const out: EventRow[] = []
    for (const id of ids) {
      const node = ring.causal.get(id)
      if (node !== undefined) out.push(describeEvent(ctx, node.signed))
    }
    return out
  }

  /** The rival ids a conflict event names (so `weft resolve` accepts a conflict's id). */
  conflictRivals (id: EventId): EventId[] | undefined {
    const e = this.ring?.causal.get(id)?.event
    return e?.kind === 'conflict' ? [...e.body.rivals] : undefined
  }

  /** Owned, undisputed space of a peer in the current fold (exactly what a takeover must name). */
  spaceOf (peer: PeerName): string[] {
    const snap = this.ring?.snapshot()
    return snap?.peers.find(p => p.name === peer)?.owned.toCidrs().map(formatCidr) ?? []
  }

  /**
   * Takes over a peer: a takeover naming exactly its undisputed space in
   * our current view, which is the event's own view (deps = our heads).
   */
  takeover (from: PeerName): Promise<AppendResult & { ranges: string[] }> {
    return this.serial(async () => {
      const ranges = this.spaceOf(from)
      const r = await this.appendUnlocked('takeover', { from, ranges: ranges.map(c => parseCidr(c)) }, false)
      return { ...r, ranges }
    })
  }

  /**
   * Hands all our space to `candidates` in one `leave` (DESIGN.md §7: spread
   * over them, CIDR-aligned), and waits until one of them shows it holds it.
   * The waiter is registered before the event can be synced anywhere.
   */
  async leave (candidates: PeerName[], timeoutMs: number): Promise<{ id: EventId, heirs: Array<{ peer: PeerName, ranges: string[] }>, confirmedBy?: PeerName }> {
    let confirmation!: Promise<PeerName | undefined>
    const result = await this.serial(async () => {
      const snap = this.ring?.snapshot()
      if (snap === undefined) throw new NoClusterError('this peer has not joined a cluster yet')
      const ok = candidates.filter(c => c !== this.self && snap.peers.some(p => p.name === c && p.member && p.removed === undefined))
      const mine = snap.peers.find(p => p.name === this.self)?.owned
      const heirs = spreadOver(mine?.toCidrs() ?? [], ok)
      if (heirs === undefined) throw new AppendRefusedError('no connected peer can take this peer\'s ranges: connect one first')
      const body = { heirs: heirs.filter(h => h.ranges.length > 0).map(h => ({ peer: h.peer, ranges: h.ranges })) }
      const r = await this.appendUnlocked('leave', body, false)
      confirmation = this.awaitConfirmation(r.id, timeoutMs)
      return { id: r.id, heirs: body.heirs.map(h => ({ peer: h.peer, ranges: h.ranges.map(formatCidr) })) }
    })
    const confirmedBy = await confirmation
    return { ...result, ...(confirmedBy !== undefined ? { confirmedBy } : {}) }
  }

  /** A peer as people know it: its nickname when the log has one, else its name. */
  private who (peer: PeerName | undefined): string {
    if (peer === undefined) return 'genesis'
    return this.currentView?.peers.find(p => p.name === peer)?.nickname ?? peer
  }

  /** After receiving `message`, do we hold every change its sender has? */
  private hasAllHeads (message: Uint8Array): boolean {
    try {
      return automerge.decodeSyncMessage(message).heads.every(h => this.doc!.hasChange(h))
    } catch {
      return false
    }
  }

  private flaggedBySelf (rivals: EventId[]): boolean {
    const key = rivals.join()
    return this.ring!.state.conflicts.some(c => c.node.event.kind === 'conflict' && c.node.event.author === this.self && [...c.node.event.body.rivals].sort().join() === key)
  }

  /** Appends one conflict per dispute, carrying the rivals we do not hold as evidence. */
  private async flagDisputes (disputes: DisputeRecord[], batch: SignedEvent[], supplier: PeerName): Promise<EventId[]> {
    const out: EventId[] = []
    const byId = new Map(batch.map(e => [e.id, e]))
    for (const d of disputes) {
      const rivals = d.parties.map(p => p.id).sort()
      const evidence = rivals.map(id => byId.get(id)?.bytes).filter((b): b is Uint8Array => b !== undefined)
      const desc = `dispute ${d.id} over ${d.ranges.toCidrs().map(formatCidr).join(', ')}: ${d.parties.map(p => `${p.id} (${p.event.kind} by ${p.event.kind === 'genesis' ? 'genesis' : `${this.who(p.event.author)} ${p.event.author}`})`).join(' vs ')}; supplied by ${this.who(supplier)} ${supplier}`
      this.log.error(desc)
      if (this.flaggedBySelf(rivals)) continue
      try {
        const r = await this.appendUnlocked('conflict', { reason: 'dispute', rivals, overlap: d.ranges.toCidrs(), supplier, evidence }, false)
        out.push(r.id)
      } catch (err) {
        this.log.warn(`could not record ${desc}: ${(err as Error).message}`)
      }
    }
    return out
  }

  // ---- peers we know how to reach -------------------------------------------

  knownPeers (): Promise<KnownPeer[]> {
    return this.serial(() => this.store?.knownPeers() ?? [])
  }

  rememberPeers (addrs: string[], source: KnownPeer['source']): Promise<void> {
    return this.serial(async () => {
      for (const addr of addrs) await this.store!.putKnownPeer({ addr, source })
    })
  }

  forgetPeers (addrs: string[]): Promise<void> {
    return this.serial(async () => {
      for (const addr of addrs) await this.store!.deleteKnownPeer(addr)
    })
  }

  close (): Promise<void> {
    return this.serial(async () => {
      for (const [peer, s] of this.sessions) {
        try { await this.store?.putSyncState(peer, s.encode()) } catch {}
        s.free()
      }
      this.sessions.clear()
      this.doc?.close()
      this.doc = undefined
      await this.store?.close()
      this.store = undefined
    })
  }
}
