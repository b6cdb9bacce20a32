import type { Forks } from '../../crdt/causal/index.js'
import { decodeEvent, type EventId, type PeerName, type SignedEvent } from '../../crdt/events/index.js'
import { EventLog, SyncSession, type EpochRoot } from '../../crdt/log/index.js'
import { OwnershipRing } from '../../crdt/ring/index.js'
import type { Logger } from '../logger.js'
import type { KnownPeer, LogStore, StoredEvent } from '../store/index.js'
import { KnownAddressesFullError, MAX_KNOWN_ADDRESSES } from './types.js'

/**
 * What the log service keeps in the store beside the fold: the Automerge
 * document (a base save plus increments, and when to compact them), each
 * peer's sync session, and the events: the rows an adoption writes, and
 * the fold rebuilt from them. The service decides when to write; these keep
 * the bookkeeping.
 */

/**
 * Compact the document into one save once its increments outweigh the last
 * full save (automerge-repo's rule): increments are uncompressed change
 * chunks (~390 B/event against ~206 B in a save), and loading many of them
 * is slower than loading one save. Never before this many bytes.
 */
const COMPACT_MIN_BYTES = 64 * 1024

export function toStored (e: SignedEvent): StoredEvent {
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

/** Stores addresses to dial, all or none: never past MAX_KNOWN_ADDRESSES (KnownAddressesFullError). */
export async function rememberKnownPeers (store: LogStore, addrs: readonly string[], source: KnownPeer['source']): Promise<void> {
  const known = new Set(store.knownPeers(() => {}).map(p => p.addr))
  const fresh = [...new Set(addrs)].filter(a => !known.has(a))
  if (known.size + fresh.length > MAX_KNOWN_ADDRESSES) {
    throw new KnownAddressesFullError(`this peer already keeps ${known.size} addresses to dial, and keeps at most ${MAX_KNOWN_ADDRESSES}: ` +
      `adding ${fresh.length} more would pass that; \`weft forget\` some first`)
  }
  for (const addr of addrs) await store.putKnownPeer({ addr, source })
}

/** Folds the store's events in order into a ring of cluster `clusterId`. */
export function foldStore (store: LogStore, clusterId: EventId): OwnershipRing {
  // Our own store is trusted on relaunch (DESIGN.md §2.1): decode, don't verify.
  const events = [...store.eventsInOrder()].map(e => decodeEvent(e.bytes, { verifier: null, trusted: true, expectedId: e.id }))
  return OwnershipRing.fold(clusterId, events)
}

/** The document's chunks in the store: which heads they reach, and their sizes. */
export class DocChunks {
  private persistedHeads: string[] = []
  private chunkCount = 0
  private baseBytes = 0
  private incrementBytes = 0
  private readonly log: Logger
  private readonly now: () => number

  constructor (log: Logger, now: () => number) {
    this.log = log
    this.now = now
  }

  /** Loads the document from the store's chunks, or creates it when there are none. */
  load (store: LogStore, self: PeerName, forks: Forks, root?: EpochRoot): EventLog {
    const chunks = store.docChunks()
    const doc = chunks.length > 0 ? EventLog.load(self, chunks, forks, root) : EventLog.create(self, forks, root)
    this.chunkCount = chunks.length
    this.baseBytes = chunks[0]?.length ?? 0
    this.incrementBytes = chunks.slice(1).reduce((n, c) => n + c.length, 0)
    this.persistedHeads = doc.heads()
    return doc
  }

  /** What an adoption writes of the document: its heads, and a chunk unless those are persisted already. */
  pending (doc: EventLog): { docHeads: string[], docChunk: Uint8Array | undefined } {
    const docHeads = doc.heads()
    const changed = docHeads.join() !== this.persistedHeads.join() || this.chunkCount === 0
    const docChunk = !changed ? undefined : this.chunkCount === 0 ? doc.save() : doc.saveSince(this.persistedHeads)
    return { docHeads, docChunk }
  }

  /** Records that `pending`'s answer is now in the store. */
  written ({ docHeads, docChunk }: { docHeads: string[], docChunk: Uint8Array | undefined }): void {
    this.persistedHeads = docHeads
    if (docChunk !== undefined) {
      if (this.chunkCount === 0) this.baseBytes = docChunk.length
      else this.incrementBytes += docChunk.length
      this.chunkCount++
    }
  }

  /** Records that the store now holds `full` as its only chunk (a rewritten document). */
  replaced (full: Uint8Array, heads: string[]): void {
    this.persistedHeads = heads
    this.chunkCount = 1
    this.baseBytes = full.length
    this.incrementBytes = 0
  }

  async compactIfDue (doc: EventLog, store: LogStore): Promise<void> {
    if (this.incrementBytes < Math.max(COMPACT_MIN_BYTES, this.baseBytes)) return
    const started = this.now()
    const full = doc.save()
    await store.compactDoc(full, doc.heads())
    this.log.debug(`compacted the document: ${this.chunkCount} chunks (${this.baseBytes + this.incrementBytes} bytes) into ${full.length} bytes in ${this.now() - started} ms`)
    this.chunkCount = 1
    this.baseBytes = full.length
    this.incrementBytes = 0
  }
}

/** Each peer's sync session, resumed from the sync state the store holds for it. */
export class SyncSessions {
  private readonly live = new Map<PeerName, SyncSession>()

  get (peer: PeerName, store: LogStore | undefined): SyncSession {
    let s = this.live.get(peer)
    if (s === undefined) {
      const saved = store?.getSyncState(peer)
      s = saved === undefined ? new SyncSession() : new SyncSession(saved)
      this.live.set(peer, s)
    }
    return s
  }

  /** Keeps a peer's sync state and forgets in-flight bookkeeping (after a disconnect). */
  async end (peer: PeerName, store: LogStore | undefined): Promise<void> {
    const s = this.live.get(peer)
    if (s === undefined || store === undefined) return
    await store.putSyncState(peer, s.encode())
    s.free()
    this.live.delete(peer)
  }

  /** Frees every live session without keeping it: their shared heads name changes a rewritten document lacks. */
  dropAll (): void {
    for (const s of this.live.values()) s.free()
    this.live.clear()
  }

  /** Keeps every peer's sync state (as far as the store lets us) and frees the sessions. */
  async closeAll (store: LogStore | undefined): Promise<void> {
    for (const [peer, s] of this.live) {
      try { await store?.putSyncState(peer, s.encode()) } catch {}
      s.free()
    }
    this.live.clear()
  }
}
