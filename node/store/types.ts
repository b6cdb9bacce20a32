import type { EventId, PeerName } from '../../crdt/events/index.js'

/** The layout of the store's sub-databases; a store written with another format is refused. */
export const STORE_FORMAT = 2

export interface StoreMeta {
  format: number
  peer: PeerName
  clusterId?: EventId
  /** CIDR text. */
  range?: string
  createdAt: number
  /** Set when this peer found its own identity equivocating (a copied data dir): it stops writing. */
  cloned?: { seq: number, ours: EventId, theirs: EventId, supplier: PeerName, at: number }
  /**
   * The forks the stored document is written under (forksKey of
   * crdt/causal/forks.ts; absent = none). A fold that proves others means a
   * rewrite was cut short: open() rewrites the document.
   */
  docForks?: string
}

/**
 * The epoch this peer's live document starts at (DESIGN.md §2.6,
 * docs/epochs.md): the final checkpoint it switched on. The base's bytes
 * are kept beside it, one per epoch, and every event stays in the store.
 */
export interface EpochRecord {
  /** The epoch the checkpoint started, which the live document belongs to. */
  epoch: number
  /** The checkpoint's key (crdt/ring checkpointKey). */
  key: string
  /** baseDigest of the base. */
  digest: string
  /** The cut's heads. */
  cut: EventId[]
  /** Each author's seq at the cut. */
  seqBase: Record<PeerName, number>
  /** Every event outside the cut has a larger lamport: where opening starts reading the store. */
  floor: number
}

export interface StoredEvent {
  id: EventId
  bytes: Uint8Array
  /** A non-negative safe integer: the first part of the topological index key. */
  lamport: number
  time: number
  author?: PeerName
  kind: string
}

/** Everything one adoption changes, committed in ONE transaction (DESIGN.md §4). */
export interface Adoption {
  /** An Automerge `saveSince` chunk, appended after the existing chunks. */
  docChunk?: Uint8Array
  /** Automerge change hashes after this adoption. */
  docHeads: string[]
  /** Adopted events, in any order; an event already held is rewritten, not counted twice. */
  events: StoredEvent[]
  /** The ring snapshot: a JSON-safe value (stored as JSON text, so -0 comes back as 0). */
  snapshot: unknown
  /** Event ids the snapshot reflects. */
  eventHeads: EventId[]
  /** Per-peer sync states saved in the same transaction. */
  syncStates?: Array<[PeerName, Uint8Array]>
}

export interface SnapshotRecord {
  snapshot: unknown
  eventHeads: EventId[]
  docHeads: string[]
  /** Events held once the adoption that wrote this snapshot committed. */
  eventCount: number
}

export interface KnownPeer {
  addr: string
  peer?: PeerName
  source: 'launch' | 'connect' | 'join'
  lastSeen?: number
  lastError?: string
}

export interface Allocation {
  id: string
  subnet: string
  address: string
  createdAt: number
}

export interface OpenOptions {
  readOnly?: boolean
  /**
   * Walk every page before opening (page-check.ts), so a damaged file is a
   * StoreError('corrupt') rather than a SIGBUS. Only for files nobody writes
   * meanwhile: a stopped peer's, or a copy.
   */
  checkPages?: boolean
}

/** An event as the offline commands read it: id and lamport from the index key, and the bytes. */
export interface EventBytes {
  id: EventId
  lamport: number
  bytes: Uint8Array
}

export interface EventRangeOptions {
  /** Forward: events with lamport ≥ this; reverse: events with lamport ≤ this. */
  fromLamport?: number
  limit?: number
  /** Newest first (descending lamport, then descending id). */
  reverse?: boolean
}
