import { CausalError, forksKey, NO_FORKS } from '../../crdt/causal/index.js'
import type { PeerName, SignedEvent } from '../../crdt/events/index.js'
import { EventLog, type EpochRoot, type Received, type SyncSession } from '../../crdt/log/index.js'
import { OwnershipRing, type DisputeRecord, type RingEvent } from '../../crdt/ring/index.js'
import { formatCidr } from '../../packages/netaddr/index.js'
import type { Clock } from '../clock.js'
import type { Logger } from '../logger.js'
import { checkRingViewJson, ringViewFromSnapshot, type RingViewJson } from '../ring-view.js'
import { ShapeError } from '../shape.js'
import { StoreError, type EpochRecord, type LogStore, type SnapshotRecord } from '../store/index.js'
import { DocChunks, SyncSessions, toStored } from './persistence.js'
import { AppendRefusedError } from './types.js'
import { ViewNotices } from './view-notices.js'

/** What came of folding a received batch (Replica.adoptRemote). */
export type RemoteAdoption =
  | { kind: 'adopted' }
  /** Open disputes the batch would open with events we held: nothing was adopted. */
  | { kind: 'blocked', blocking: DisputeRecord[] }
  /** The batch breaks causality (a CausalError): nothing was adopted. */
  | { kind: 'causal', message: string }

export interface ReplicaInit {
  self: PeerName
  logger: Logger
  now: () => number
  clock: Clock
  /** Where the views this replica publishes go (the daemon). */
  publish: (view: RingViewJson) => void
}

/**
 * This peer's replica of the log: the store, the Automerge document, the
 * fold, and the view published from them, with the ways they change
 * together: an adoption written in one transaction (persist), a refold
 * when a fork turns up, a rewrite of the document under new forks.
 * The log service decides what to adopt and runs one operation at a time;
 * the replica keeps the four in step.
 */
export class Replica {
  store: LogStore | undefined
  doc: EventLog | undefined
  ring: OwnershipRing | undefined
  /** The view last published (or loaded with the store), which the daemon serves. */
  view: RingViewJson | undefined
  readonly sessions = new SyncSessions()
  readonly chunks: DocChunks
  /**
   * The view reaches the daemon at once after our own appends; after remote
   * adoptions at most every VIEW_NOTICE_MS, the newest: a member flooding
   * valid events made the daemon rebuild its view hundreds of times a
   * second, and its allocations wait behind that (issue 15).
   */
  private readonly notices: ViewNotices
  private readonly init: ReplicaInit
  private readonly log: Logger

  constructor (init: ReplicaInit) {
    this.init = init
    this.log = init.logger
    this.chunks = new DocChunks(this.log, () => init.now())
    this.notices = new ViewNotices(view => { init.publish(view) }, init.clock)
  }

  /**
   * The ring snapshot saved with the log, checked. It is a cache of the fold
   * of the log's events, which opening redoes anyway: a malformed one is
   * ignored with a warning, and rewritten once the fold is done.
   */
  persistedSnapshot (store: LogStore): SnapshotRecord | undefined {
    try {
      const rec = store.getSnapshot()
      if (rec !== undefined && rec.snapshot !== null) checkRingViewJson(rec.snapshot)
      return rec
    } catch (err) {
      if (!(err instanceof ShapeError) && !(err instanceof StoreError && err.code === 'corrupt')) throw err
      this.log.warn(`ignoring the saved ring snapshot, which is rebuilt from the log: ${err.message}`)
      return undefined
    }
  }

  /**
   * Loads the stored document under the fold's forks (and `root`, the
   * epoch it starts at), redoes a rewrite that was cut short, checks it
   * against the fold, and saves the snapshot if the one stored is stale.
   * Without a fold (no cluster yet) only loads it.
   */
  async loadDocument (self: PeerName, docForks: string, root: EpochRoot | undefined, persistedHeads: readonly string[] | undefined): Promise<void> {
    const store = this.store!
    const ring = this.ring
    const forks = ring?.forks ?? NO_FORKS
    this.doc = this.chunks.load(store, self, forks, root)
    if (ring === undefined) return
    if (forksKey(forks) !== docForks) {
      // The fold proves a fork the stored document was not written under: a
      // rewrite was cut short. Do it again (it is deterministic).
      await this.rewriteDocument(ring, false)
    }
    const doc = this.doc
    const heads = ring.causal.heads().map(n => n.id).sort()
    // After an epoch switch the cut's heads are the base's, not the document's.
    const docHeads = heads.filter(id => root === undefined || doc.hasEvent(id))
    if (docHeads.join() !== doc.eventHeads().join()) {
      throw new Error(`the store's events (${ring.size}) and its document disagree on the heads; the data dir is damaged`)
    }
    if (persistedHeads === undefined || persistedHeads.join() !== heads.join()) await this.persist([], [])
    await this.chunks.compactIfDue(doc, store)
  }

  /**
   * Folds, appends and persists an event we signed, and returns its verdict;
   * refused (AppendRefusedError, rolled back) when void unless `allowVoid`.
   */
  async adoptOwn (signed: SignedEvent, allowVoid: boolean): Promise<RingEvent> {
    const ring = this.ring!
    ring.begin()
    let verdict
    try {
      verdict = ring.apply(signed)
      if (verdict.status !== 'valid' && !allowVoid) throw new AppendRefusedError(`${signed.event.kind} refused: ${verdict.reason ?? 'void'}`)
      this.doc!.append(signed)
    } catch (err) {
      ring.rollback()
      throw err
    }
    ring.commit()
    // A fork this event proves: the view goes out once, refolded.
    const forked = ring.unfoldedForks.length > 0
    await this.persist([signed], [], { quiet: forked })
    if (forked) await this.refold()
    return verdict
  }

  /**
   * Validate-the-diff (DESIGN.md §3): folds a received batch (in causal
   * order) in a batch of the fold that can be rolled back, and adopts it
   * into the document, the fold and the store only when it opens no dispute
   * with an event we held before. `ring` is ours, or a new one when the
   * batch brings the genesis we join by: it becomes ours once adopted.
   */
  async adoptRemote (ring: OwnershipRing, batch: SignedEvent[], received: Received, peer: PeerName, session: SyncSession): Promise<RemoteAdoption> {
    ring.begin()
    try {
      for (const e of batch) ring.apply(e)
    } catch (err) {
      ring.rollback()
      received.discard()
      if (err instanceof CausalError) return { kind: 'causal', message: err.message }
      throw err
    }
    const ids = new Set(batch.map(e => e.id))
    const blocking = ring.openDisputesWith(ids).filter(d => d.parties.some(p => !ids.has(p.id) && ring.has(p.id)))
    if (blocking.length > 0) {
      ring.rollback()
      received.discard()
      return { kind: 'blocked', blocking }
    }
    ring.commit()
    received.adopt()
    const joined = this.ring === undefined
    if (joined) {
      this.ring = ring
      await this.recordJoin(ring, peer)
    }
    const forked = ring.unfoldedForks.length > 0
    await this.persist(batch, [[peer, session.encode()]], { remote: !joined, quiet: forked })
    if (forked) await this.refold()
    return { kind: 'adopted' }
  }

  /** Records the cluster we joined through `peer` (by sync, or from an epoch's offer: `how`). */
  async recordJoin (ring: OwnershipRing, peer: PeerName, how = ''): Promise<void> {
    const store = this.store!
    const range = ring.state.clusterRange?.toCidrs()[0]
    await store.putMeta({ ...store.getMeta()!, clusterId: ring.clusterId, ...(range !== undefined ? { range: formatCidr(range) } : {}), ...(ring.forks.size > 0 ? { docForks: forksKey(ring.forks) } : {}) })
    this.log.info(`joined cluster ${ring.clusterId} through ${peer}${how}`)
  }

  /** Writes an adoption: doc chunk, events, snapshot with its heads, sync states, in one transaction. */
  async persist (events: SignedEvent[], syncStates: Array<[PeerName, Uint8Array]>, opts: { remote?: boolean, quiet?: boolean } = {}): Promise<void> {
    const store = this.store!
    const doc = this.doc!
    const pending = this.chunks.pending(doc)
    const { docHeads, docChunk } = pending
    const view = this.ring === undefined ? undefined : ringViewFromSnapshot(this.ring.snapshot())
    // Quiet: a refold follows at once, and its view is the one anyone sees.
    if (view !== undefined && opts.quiet !== true) this.view = view
    await store.adopt({
      ...(docChunk !== undefined ? { docChunk } : {}),
      docHeads,
      events: events.map(toStored),
      snapshot: view ?? null,
      eventHeads: view?.heads ?? [],
      syncStates
    })
    this.chunks.written(pending)
    await this.chunks.compactIfDue(doc, store)
    if (view === undefined || opts.quiet === true) return
    if (opts.remote === true) this.notices.later(view)
    else this.notices.now(view)
  }

  /**
   * The log proves a fork that the fold does not quarantine yet (we just
   * flagged an equivocation, DESIGN.md §2.7): fold every event again with the
   * forked author's events from that seq quarantined, and rewrite the
   * document so they have actors of their own. Rare, and O(history).
   */
  async refold (): Promise<void> {
    const old = this.ring!
    const started = this.init.now()
    const ring = OwnershipRing.fold(old.clusterId, old.allEvents())
    this.ring = ring
    await this.rewriteDocument(ring, true)
    const forks = [...ring.forks].map(([author, seq]) => `${author} from seq ${seq}`).join(', ')
    this.log.warn(`refolded ${ring.size} events with the events of forked authors quarantined (${forks}) and rewrote the document in ${this.init.now() - started} ms`)
  }

  /**
   * Writes the document anew under the fold's forks, replacing the stored one
   * and every sync state. `keep`: start from the current document, which is
   * written under its own (older) forks.
   */
  async rewriteDocument (ring: OwnershipRing, keep: boolean): Promise<void> {
    const store = this.store!
    const doc = EventLog.rebuild(this.init.self, ring.allEvents(), ring.forks, keep ? this.doc : undefined)
    const heads = ring.causal.heads().map(n => n.id).sort()
    if (doc.eventHeads().join() !== heads.join()) {
      doc.close()
      throw new Error('rewriting the document for a fork gave heads that differ from the fold\'s')
    }
    this.doc?.close()
    this.doc = doc
    this.sessions.dropAll()
    const full = doc.save()
    await store.replaceDoc(full, doc.heads())
    this.chunks.replaced(full, doc.heads())
    await store.putMeta({ ...store.getMeta()!, docForks: forksKey(ring.forks) })
    await this.persist([], [])
  }

  /**
   * Puts an epoch's fold and document in place (epochs.ts): the base, the
   * record and the new document in one transaction, every sync state
   * dropped (they name the old document's changes), then the view.
   */
  async switchTo (next: { ring: OwnershipRing, doc: EventLog, record: EpochRecord, base: Uint8Array }, fresh: SignedEvent[] = []): Promise<void> {
    const store = this.store!
    const full = next.doc.save()
    await store.switchEpoch(next.record, next.base, full, next.doc.heads())
    this.doc?.close()
    this.doc = next.doc
    this.ring = next.ring
    this.sessions.dropAll()
    this.chunks.replaced(full, next.doc.heads())
    // `fresh`: events a catch-up brought that the store lacks.
    await this.persist(fresh, [])
  }

  /** Sends the pending view, keeps every sync state, and closes the document and the store. */
  async close (): Promise<void> {
    this.notices.flush()
    await this.sessions.closeAll(this.store)
    this.doc?.close()
    this.doc = undefined
    await this.store?.close()
    this.store = undefined
  }
}
