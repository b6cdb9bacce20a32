import { compareEventsTopological, forksIn, isQuarantined, mergeForks, NO_FORKS, type Forks } from '../causal/index.js'
import { decodeEvent, type EventId, type PeerName, type SignedEvent, type Verifier } from '../events/index.js'
import { automerge, type AutomergeDoc, type ChangeMeta, type DecodedChange, type Heads } from './automerge-raw.js'
import { actorFor, changeIdentity, checkChange, genesisActor, type ChangeContext } from './change-check.js'
import { epochRootChange, seqBaseOf, type EpochRoot } from './epoch-root.js'
import { eventChange } from './event-change.js'
import { LogError } from './errors.js'
import { bucketIds, bucketOf, SKELETON_BYTES, SKELETON_CHANGE_HASH } from './skeleton.js'
import { keptChanges } from './kept-changes.js'
import { CHUNK_DOCUMENT, splitChunks, type Chunk } from './message.js'
import { SyncSession } from './sync-session.js'

export { SyncSession }

/**
 * The append-only event log as an Automerge document (DESIGN.md §2.5):
 * `events[d0][d1][d2][id] = bytes`, one deterministic change per event,
 * written through the wasm handle. Nothing here reads the clock or the
 * network; sync messages come in and go out as bytes.
 */

const CHANGE_CACHE_LIMIT = 200_000

/** The deterministic change that carries the genesis: every seed computes the same bytes. */
export function genesisChange (genesis: SignedEvent): Uint8Array {
  const doc = automerge.load(SKELETON_BYTES, { actor: genesisActor(genesis.id) })
  try {
    doc.put(bucketOf(genesis.id), genesis.id, genesis.bytes)
    const hash = doc.commit(null, 0)
    if (hash === null) throw new LogError('bad-append', 'genesis change was empty')
    return doc.getChangeByHash(hash)!
  } finally {
    doc.free()
  }
}

/** The result of receiving a sync message into a copy of the log. */
export interface Received {
  /** Events that became visible, in the order Automerge applied them (causal). */
  readonly events: readonly SignedEvent[]
  /** Keep the copy and the new sync state. */
  adopt: () => void
  /** Drop the copy; the log and the old sync state stay as they were. */
  discard: () => void
}

export class EventLog {
  private doc: AutomergeDoc
  readonly actor: string
  /** change hash → event id, filled as changes are seen; bounded. */
  private readonly changeIds = new Map<string, EventId>()
  /** Automerge seq of our last appended change, once known. */
  private nextSeq: number | undefined
  private docForks: Forks
  /** An epoch's document (epoch-root.ts): its root and the root change's hash. */
  private readonly epoch: { root: EpochRoot, hash: string } | undefined

  private constructor (doc: AutomergeDoc, actor: string, forks: Forks, root: EpochRoot | undefined) {
    this.doc = doc
    this.actor = actor
    this.docForks = forks
    this.epoch = root === undefined ? undefined : { root, hash: epochRootChange(root).hash }
  }

  /** The forks this document is written under (change-check.ts): their events have actors of their own. */
  get forks (): Forks { return this.docForks }

  /** The epoch this document starts at (its cut), or undefined for the first document, from the genesis. */
  get root (): EpochRoot | undefined { return this.epoch?.root }

  /** A new log on the skeleton (and an epoch's root change), writing as `author`'s actor. */
  static create (author: string, forks: Forks = NO_FORKS, root?: EpochRoot): EventLog {
    const actor = actorFor(author)
    const doc = automerge.load(SKELETON_BYTES, { actor })
    if (root !== undefined) doc.applyChanges([epochRootChange(root).bytes])
    return new EventLog(doc, actor, forks, root)
  }

  /**
   * Loads saved chunks (a `save()` followed by any `saveSince()` increments).
   * The bytes are our own store's, so changes are not re-validated.
   */
  static load (author: string, chunks: readonly Uint8Array[], forks: Forks = NO_FORKS, root?: EpochRoot): EventLog {
    const actor = actorFor(author)
    if (chunks.length === 0) return EventLog.create(author, forks, root)
    const doc = automerge.load(chunks[0]!, { actor })
    for (const c of chunks.slice(1)) applyOneByOne(doc, splitChunks(c))
    const log = new EventLog(doc, actor, forks, root)
    if (log.epoch !== undefined && !log.hasChange(log.epoch.hash)) {
      doc.free()
      throw new LogError('bad-append', `the saved document is not epoch ${root!.key.slice(0, 12)}'s`)
    }
    return log
  }

  /**
   * Writes a document from its events under `forks` (DESIGN.md §2.7): how a
   * replica that learns of a fork moves the forked author's events to actors
   * of their own, so the other side's can join them. Every replica holding
   * the same events and forks writes the same changes, and an unforked
   * author's change is the one its author committed.
   *
   * With `previous` (the document as it was, under its own forks), the
   * changes a new fork leaves as they were are kept: the new document is
   * `previous` at the heads of that part, plus the rest rewritten. A fork
   * is usually recent, so that is most of the history; from scratch costs
   * ~0.3–0.9 ms per event.
   */
  static rebuild (author: string, events: readonly SignedEvent[], forks: Forks, previous?: EventLog, root?: EpochRoot): EventLog {
    const sorted = [...events].sort(compareEventsTopological)
    // A previous document of another epoch shares no change with this one.
    const reusable = previous !== undefined && previous.root?.key === root?.key ? previous : undefined
    const kept = reusable === undefined ? undefined : keptChanges(reusable.doc, reusable.forks, sorted, forks, root)
    const log = kept === undefined
      ? EventLog.create(author, forks, root)
      : new EventLog(reusable!.doc.fork(actorFor(author), kept.heads), actorFor(author), forks, root)
    const doc = log.doc
    const hashOf = new Map<EventId, string>(kept?.hashOf)
    const maxOpOf = new Map<string, number>([[SKELETON_CHANGE_HASH, doc.getChangeMetaByHash(SKELETON_CHANGE_HASH)!.maxOp]])
    const rootHash = log.epoch?.hash
    if (rootHash !== undefined) maxOpOf.set(rootHash, doc.getChangeMetaByHash(rootHash)!.maxOp)
    const maxOp = (hash: string): number => {
      let m = maxOpOf.get(hash)
      if (m === undefined) maxOpOf.set(hash, m = doc.getChangeMetaByHash(hash)!.maxOp)
      return m
    }
    /** author → seq → hash, for the author's previous change that Automerge adds to deps. */
    const ownChain = new Map<PeerName, Map<number, string>>()
    for (const signed of sorted) {
      const e = signed.event
      const have = hashOf.get(signed.id)
      if (e.kind !== 'genesis' && !isQuarantined(forks, e.author, e.seq)) {
        let chain = ownChain.get(e.author)
        if (chain === undefined) ownChain.set(e.author, chain = new Map())
        if (have !== undefined) chain.set(e.seq, have)
      }
      if (have !== undefined) continue
      if (e.kind === 'genesis') {
        if (rootHash !== undefined) throw new LogError('bad-append', 'rebuild: an epoch\'s document holds no genesis')
        const hash = log.addGenesis(signed)
        hashOf.set(signed.id, hash)
        continue
      }
      const { actor, seq, ownActor } = changeIdentity(signed, forks, root)
      if (seq < 1) throw new LogError('bad-append', `rebuild: event ${signed.id} is in the epoch's cut`)
      const deps = new Set<string>()
      for (const d of e.deps) {
        const h = hashOf.get(d)
        // In an epoch's document a dep it does not hold is the cut's: the root stands for it.
        if (h === undefined && rootHash === undefined) throw new LogError('bad-append', `rebuild: event ${signed.id} depends on ${d}, which is not among the events`)
        if (h !== undefined) deps.add(h)
      }
      if (deps.size === 0) deps.add(rootHash!)
      if (!ownActor && seq > 1) {
        const prev = ownChain.get(e.author)?.get(e.seq - 1)
        if (prev === undefined) throw new LogError('bad-append', `rebuild: ${e.author}'s event before seq ${seq} is missing`)
        deps.add(prev)
      }
      let top = 0
      for (const h of deps) top = Math.max(top, maxOp(h))
      const change = eventChange(signed, actor, seq, [...deps], top + 1)
      doc.applyChanges([change])
      const hash = automerge.decodeChange(change).hash
      hashOf.set(signed.id, hash)
      maxOpOf.set(hash, top + 1)
      if (!ownActor) ownChain.get(e.author)!.set(e.seq, hash)
      log.remember(hash, signed.id)
    }
    return log
  }

  heads (): Heads { return this.doc.getHeads() }

  /** Event ids at the heads (the skeleton alone means an empty log). */
  eventHeads (): EventId[] {
    const out: EventId[] = []
    for (const h of this.doc.getHeads()) {
      const id = this.eventIdOf(h)
      if (id !== undefined) out.push(id)
    }
    return out.sort()
  }

  get changeCount (): number { return this.doc.stats().numChanges }

  hasChange (hash: string): boolean { return this.doc.getChangeMetaByHash(hash) !== null }

  /** The event id a change carries, or undefined for the skeleton or an unknown hash. */
  eventIdOf (hash: string): EventId | undefined {
    const cached = this.changeIds.get(hash)
    if (cached !== undefined) return cached
    if (hash === SKELETON_CHANGE_HASH || hash === this.epoch?.hash) return undefined
    const change = this.doc.getDecodedChangeByHash(hash)
    const key = change?.ops[0]?.key
    if (key === undefined) return undefined
    this.remember(hash, key)
    return key
  }

  private remember (hash: string, id: EventId): void {
    if (this.changeIds.size >= CHANGE_CACHE_LIMIT) this.changeIds.clear()
    this.changeIds.set(hash, id)
  }

  getEvent (id: EventId): Uint8Array | undefined {
    const value = this.doc.get(bucketOf(id), id)
    return value instanceof Uint8Array ? value : undefined
  }

  hasEvent (id: EventId): boolean { return this.getEvent(id) !== undefined }

  /** Every event's bytes, by walking the buckets (rebuilds and checks; not a hot path). */
  * allEvents (): Generator<{ id: EventId, bytes: Uint8Array }> {
    for (const bucket of bucketIds().values()) {
      for (const key of this.doc.keys(bucket)) {
        const bytes = this.getEvent(key)
        if (bytes !== undefined) yield { id: key, bytes }
      }
    }
  }

  /** Adds the genesis through its deterministic change. */
  addGenesis (genesis: SignedEvent): string {
    if (genesis.event.kind !== 'genesis') throw new LogError('bad-append', 'not a genesis event')
    const change = genesisChange(genesis)
    this.doc.applyChanges([change])
    const hash = automerge.decodeChange(change).hash
    this.remember(hash, genesis.id)
    return hash
  }

  /**
   * Appends one of our own events. Its deps must be exactly the current
   * event heads and its author our actor, so the change is the function of
   * the event that every peer will check.
   */
  append (signed: SignedEvent): string {
    const e = signed.event
    if (e.kind === 'genesis') return this.addGenesis(signed)
    if (actorFor(e.author) !== this.actor) throw new LogError('bad-append', `event by ${e.author} cannot be appended with actor ${this.actor}`)
    if (isQuarantined(this.forks, e.author, e.seq)) throw new LogError('bad-append', `${e.author} forked at seq ${this.forks.get(e.author)}: it must not sign more events`)
    const heads = this.eventHeads()
    // In an epoch's document, deps it does not hold are the cut's (the root's).
    const deps = (this.epoch === undefined ? [...e.deps] : e.deps.filter(d => this.hasEvent(d))).sort()
    if (heads.length !== deps.length || heads.some((h, i) => h !== deps[i])) {
      throw new LogError('bad-append', 'event deps are not the current heads; rebuild and re-sign it')
    }
    this.doc.put(bucketOf(signed.id), signed.id, signed.bytes)
    const hash = this.doc.commit(null, 0)
    if (hash === null) throw new LogError('bad-append', 'commit produced no change')
    // Automerge numbers our changes itself; they match event seqs as long as
    // every event of ours is one change. Check the first append after
    // opening (it costs as much as the append), then count.
    if (this.nextSeq === undefined) this.nextSeq = this.doc.getChangeMetaByHash(hash)?.seq ?? -1
    else this.nextSeq++
    const seq = e.seq - seqBaseOf(this.epoch?.root, e.author)
    if (this.nextSeq !== seq) {
      // Cannot be undone: the document now holds a change whose Automerge
      // seq disagrees with its event. Only a bug in the writer gets here.
      throw new LogError('bad-append', `appended change has Automerge seq ${this.nextSeq}, event seq ${e.seq} (${seq} in this document)`)
    }
    this.remember(hash, signed.id)
    return hash
  }

  save (): Uint8Array { return this.doc.save() }

  /** Changes since `heads` as one chunk; use this, not saveIncremental (first call after load returns everything). */
  saveSince (heads: Heads): Uint8Array { return this.doc.saveSince(heads) }

  /** Raw change bytes since `heads` (for chunked transfer and tests). */
  changesSince (heads: Heads): Uint8Array[] { return this.doc.getChanges(heads) }

  // ---- sync --------------------------------------------------------------

  generateSyncMessage (session: SyncSession): Uint8Array | null {
    return this.doc.generateSyncMessage(session.raw)
  }

  /** True when the peer of `session` may still lack some of our changes. */
  hasOurChanges (session: SyncSession): boolean { return this.doc.hasOurChanges(session.raw) }

  /**
   * Receives a sync message into a copy of the document and validates every
   * change that became visible (DESIGN.md §3 "validate the diff, not the
   * message"). Nothing changes until `adopt()`; `discard()` leaves the log
   * and `state` untouched. Throws LogError when the message or a change is
   * bad, after freeing the copy.
   */
  private receiveNoChanges (session: SyncSession, message: Uint8Array): Received {
    const copyState = session.raw.clone()
    const heads = this.doc.getHeads()
    try {
      this.doc.receiveSyncMessage(copyState, message)
    } catch (err) {
      copyState.free()
      throw new LogError('bad-message', (err as Error).message)
    }
    if (this.doc.getHeads().join() !== heads.join()) throw new Error('EventLog: a sync message without changes changed the document')
    let settled = false
    return {
      events: [],
      adopt: () => { if (!settled) { settled = true; session.replace(copyState) } },
      discard: () => { if (!settled) { settled = true; copyState.free() } }
    }
  }

  /**
   * `learnForks`: for a document that holds no event yet (a joiner's first
   * sync), judge the changes under the forks their own events prove, and
   * keep those forks on adopt(). Any other document learns of a fork
   * before receiving its events, and is rewritten (`rebuild`).
   */
  receive (session: SyncSession, message: Uint8Array, verifier: Verifier | null, opts: { learnForks?: boolean } = {}): Received {
    let chunks: Chunk[]
    try {
      chunks = messageChunks(message)
    } catch (err) {
      throw new LogError('bad-message', (err as Error).message)
    }
    // Most sync messages (heads, have, need) carry no change: they cannot
    // change the document, so only the sync state is received into a copy.
    // Cloning the whole document for each of them let a peer sending no-op
    // frames keep the single writer busy (issue 15).
    if (chunks.length === 0) return this.receiveNoChanges(session, message)
    const copy = this.doc.clone(this.actor)
    const copyState = session.raw.clone()
    const before = copy.getHeads()
    const fail = (err: unknown): never => {
      copy.free()
      copyState.free()
      throw err instanceof LogError ? err : new LogError('bad-message', (err as Error).message)
    }
    try {
      // Apply the message's changes one at a time first (see applyOneByOne);
      // receiving the message then only updates the sync state.
      applyOneByOne(copy, chunks)
      copy.receiveSyncMessage(copyState, message)
    } catch (err) {
      fail(err)
    }
    let events: SignedEvent[] = []
    let forks = this.docForks
    try {
      ({ events, forks } = this.checkNewChanges(copy, before, verifier, opts.learnForks === true))
    } catch (err) {
      fail(err)
    }
    let settled = false
    return {
      events,
      adopt: () => {
        if (settled) return
        settled = true
        this.doc.free()
        this.doc = copy
        this.docForks = forks
        session.replace(copyState)
      },
      discard: () => {
        if (settled) return
        settled = true
        copy.free()
        copyState.free()
      }
    }
  }

  private checkNewChanges (doc: AutomergeDoc, before: Heads, verifier: Verifier | null, learnForks: boolean): { events: SignedEvent[], forks: Forks } {
    const raw = doc.getChanges(before)
    const decoded = raw.map(c => automerge.decodeChange(c))
    const forks = learnForks ? mergeForks(this.docForks, forksIn(unverifiedEvents(decoded))) : this.docForks
    const inBatch = new Map<string, DecodedChange>()
    for (const d of decoded) inBatch.set(d.hash, d)
    const batchIds = new Map<string, string>()
    const ctx: ChangeContext = {
      eventIdOf: h => batchIds.get(h) ?? inBatch.get(h)?.ops[0]?.key ?? this.eventIdOfIn(doc, h),
      authorSeqOf: h => authorSeq(inBatch.get(h) ?? doc.getDecodedChangeByHash(h) ?? undefined),
      metaOf: h => {
        const d = inBatch.get(h)
        if (d !== undefined) return { maxOp: d.startOp + d.ops.length - 1 }
        const m: ChangeMeta | null = doc.getChangeMetaByHash(h)
        return m ?? undefined
      },
      verifier,
      forks,
      ...(this.epoch !== undefined ? { epoch: { ...this.epoch, holds: (id: string) => doc.get(bucketOf(id), id) instanceof Uint8Array } } : {})
    }
    const events: SignedEvent[] = []
    for (const d of decoded) {
      const signed = checkChange(d, ctx)
      batchIds.set(d.hash, signed.id)
      events.push(signed)
    }
    for (const d of decoded) this.remember(d.hash, d.ops[0]!.key)
    return { events, forks }
  }

  private eventIdOfIn (doc: AutomergeDoc, hash: string): string | undefined {
    const cached = this.changeIds.get(hash)
    if (cached !== undefined) return cached
    if (hash === SKELETON_CHANGE_HASH || hash === this.epoch?.hash) return undefined
    return doc.getDecodedChangeByHash(hash)?.ops[0]?.key
  }

  /** Frees the document. The log is unusable afterwards. */
  close (): void { this.doc.free() }
}

/** The events that changes carry, decoded without checks (only to see which forks they prove). */
function * unverifiedEvents (changes: readonly DecodedChange[]): Generator<SignedEvent> {
  for (const c of changes) {
    const op = c.ops[0]
    if (c.ops.length !== 1 || op === undefined || !Array.isArray(op.value)) continue
    try {
      yield decodeEvent(Uint8Array.from(op.value as number[]), { verifier: null, expectedId: op.key })
    } catch {}
  }
}

/**
 * Applies chunks change by change. Automerge 3.5 applies a batch of changes
 * to a large document with memory that grows out of all proportion (2000
 * changes onto a 100k-change document exhaust the 4 GB wasm heap; 100 take
 * 1.5 GB), while one change at a time costs ~0.25 ms and no extra memory.
 * Whole-document chunks (a joiner's first sync) go through loadIncremental.
 */
function applyOneByOne (doc: AutomergeDoc, chunks: readonly Chunk[]): void {
  for (const c of chunks) {
    if (c.type === CHUNK_DOCUMENT) doc.loadIncremental(c.bytes)
    else doc.applyChanges([c.bytes])
  }
}

function messageChunks (message: Uint8Array): Chunk[] {
  const out: Chunk[] = []
  for (const blob of automerge.decodeSyncMessage(message).changes) out.push(...splitChunks(blob))
  return out
}

/** Author and seq of the event a change carries (decoded without verification). */
function authorSeq (change: DecodedChange | undefined): { author: string, seq: number } | undefined {
  const op = change?.ops[0]
  if (op === undefined || !Array.isArray(op.value)) return undefined
  try {
    const e = decodeEvent(Uint8Array.from(op.value as number[]), { verifier: null }).event
    return e.kind === 'genesis' ? undefined : { author: e.author, seq: e.seq }
  } catch {
    return undefined
  }
}
