import type { RangeOptions, RootDatabase, Key } from 'lmdb'
import type { EventId, PeerName } from '../../crdt/events/index.js'
import { anyJson, bytesOf, copyOf, decodeEvent, decodeJson, encodeJson, eventBytesOf } from './codec.js'
import type { Shape } from '../shape.js'
import {
  allocationRefShape, allocationShape, epochShape, headsShape, knownPeerShape, lamportShape, metaShape, seenShape, snapshotRecordShape
} from './shapes.js'
import { openEnv, STORE_FILE, type Dbs } from './env.js'
import { StoreError, toStoreError } from './errors.js'
import { adoptionWrite, allocationsWrite, compactionWrite, readCounter } from './writes.js'
import {
  STORE_FORMAT, type Adoption, type Allocation, type EventRangeOptions, type KnownPeer, type OpenOptions,
  type SnapshotRecord, type StoredEvent, type StoreMeta, type EventBytes, type EpochRecord
} from './types.js'
import { join } from 'node:path'

/**
 * The daemon's local store (DESIGN.md §4): one LMDB environment per data dir,
 * `DATA_DIR/store.mdb`. I/O only. Writes resolve once committed, which
 * survives kill -9; `adoptDurable` also waits for the flush to disk, which
 * survives power loss. Writes issued in the same event-loop turn commit in one
 * LMDB transaction (lmdb-js batches them), each as its own child transaction,
 * so a failing write never takes part of itself or its neighbours along.
 *
 * Reads are synchronous and see one snapshot per macrotask: lmdb-js keeps a
 * handle's read transaction until a setTimeout(0) resets it. A read-write
 * handle's reads see its own commits at once; a read-only handle (in this or
 * another process) sees them from its next timer tick on. In one process, any
 * number of read-only handles may sit beside one read-write handle; a second
 * read-write handle, or a read-write open while a read-only one is open, is
 * StoreError('locked') (env.ts says why). Across processes nothing stops two
 * writers: the daemon's pid file has to.
 */
export class Store {
  readonly readOnly: boolean
  readonly path: string
  #root: RootDatabase<Buffer, Key>
  #dbs: Dbs
  #release: () => void
  #closed = false

  private constructor (path: string, readOnly: boolean, env: ReturnType<typeof openEnv>) {
    this.path = path
    this.readOnly = readOnly
    this.#root = env.root
    this.#dbs = env.dbs
    this.#release = env.release
  }

  /** Creates `dataDir` if needed (read-write). Read-only opens work beside a read-write one, in this or another process. */
  static open (dataDir: string, opts: OpenOptions = {}): Store {
    const readOnly = opts.readOnly === true
    const env = openEnv(dataDir, readOnly, opts.checkPages === true)
    const store = new Store(join(dataDir, STORE_FILE), readOnly, env)
    let meta: StoreMeta | undefined
    try {
      meta = store.getMeta()
    } catch (err) {
      void store.close()
      throw err
    }
    if (meta !== undefined && meta.format !== STORE_FORMAT) {
      void store.close()
      throw new StoreError('version', `${store.path} has store format ${String(meta.format)}; this weft reads format ${STORE_FORMAT}`)
    }
    return store
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    try {
      await this.#root.close()
    } finally {
      this.#release()
    }
  }

  // meta

  getMeta (): StoreMeta | undefined {
    return this.#json(this.#read().state.get('meta'), 'meta', metaShape)
  }

  async putMeta (meta: StoreMeta): Promise<void> {
    const value = encodeJson(meta, 'meta')
    await this.#write('putMeta', () => { this.#dbs.state.putSync('meta', value) })
  }

  /** When each peer was last seen (ms), as the daemon last saved it (node/net/liveness.ts). */
  getSeen (): Record<PeerName, number> {
    return this.#json(this.#read().state.get('seen'), 'seen', seenShape) ?? {}
  }

  async putSeen (seen: Record<PeerName, number>): Promise<void> {
    const value = encodeJson(seen, 'seen')
    await this.#write('putSeen', () => { this.#dbs.state.putSync('seen', value) })
  }

  /** An election's acceptor state (node/consensus): durable before the acceptor answers. */
  getAcceptor (instance: string): unknown {
    return this.#json(this.#read().state.get(`acceptor:${instance}`), `acceptor ${instance}`, anyJson)
  }

  async putAcceptor (instance: string, state: unknown): Promise<void> {
    const value = encodeJson(state, `acceptor ${instance}`)
    await this.#write('putAcceptor', () => { this.#dbs.state.putSync(`acceptor:${instance}`, value) })
    // A promise must survive power loss too: an acceptor that forgets one can let two values win.
    await this.#flushed('putAcceptor')
  }

  // epochs (DESIGN.md §2.6)

  /** The epoch the live document starts at; undefined before the first switch. */
  getEpoch (): EpochRecord | undefined {
    return this.#json(this.#read().state.get('epoch'), 'epoch', epochShape)
  }

  /** An epoch's base (crdt/ring/base.ts), as stored when the peer switched to it. */
  getBase (epoch: number): Uint8Array | undefined {
    const value = this.#read().state.get(`base:${epoch}`)
    return value === undefined ? undefined : bytesOf(value)
  }

  /**
   * Switches to an epoch: its record and base, and the new document in place
   * of the old (whose sync states name changes it no longer has), in one txn.
   */
  async switchEpoch (rec: EpochRecord, base: Uint8Array, full: Uint8Array, heads: string[]): Promise<void> {
    this.#writable()
    const value = encodeJson(rec, 'epoch')
    const baseBytes = copyOf(base)
    const replace = compactionWrite(this.#dbs, full, heads, { dropSyncStates: true })
    await this.#write('switchEpoch', () => {
      this.#dbs.state.putSync(`base:${rec.epoch}`, baseBytes)
      this.#dbs.state.putSync('epoch', value)
      replace()
    })
  }

  // Automerge document chunks

  docChunks (): Uint8Array[] {
    const out: Uint8Array[] = []
    for (const { value } of this.#read().doc.getRange()) out.push(bytesOf(value))
    return out
  }

  docHeads (): string[] {
    return this.#json(this.#read().state.get('docHeads'), 'docHeads', headsShape) ?? []
  }

  /** Replaces all chunks with one full save (compaction); one txn. */
  async compactDoc (full: Uint8Array, heads: string[]): Promise<void> {
    this.#writable()
    await this.#write('compactDoc', compactionWrite(this.#dbs, full, heads))
  }

  /**
   * Replaces the document with a rewritten one (a fork's events moved to
   * actors of their own, DESIGN.md §2.7) and drops every peer's sync state,
   * whose shared heads name changes the new document no longer has; one txn.
   */
  async replaceDoc (full: Uint8Array, heads: string[]): Promise<void> {
    this.#writable()
    await this.#write('replaceDoc', compactionWrite(this.#dbs, full, heads, { dropSyncStates: true }))
  }

  // events

  getEvent (id: EventId): StoredEvent | undefined {
    const dbs = this.#read()
    const lamport = this.#json(dbs.events.get(id), `event ${id}`, lamportShape)
    if (lamport === undefined) return undefined
    const value = dbs.topo.get([lamport, id])
    if (value === undefined) throw new StoreError('corrupt', `${this.path}: event ${id} is indexed but its record is missing`)
    return decodeEvent(id, value)
  }

  hasEvent (id: EventId): boolean {
    return this.#read().events.doesExist(id)
  }

  eventCount (): number {
    return readCounter(this.#read(), 'eventCount')
  }

  /** Events in topological order: by lamport, then id (the key of the topo index kept in the adoption's txn). */
  * eventsInOrder (opts: EventRangeOptions = {}): Iterable<StoredEvent> {
    const dbs = this.#read()
    const range: RangeOptions = { reverse: opts.reverse === true }
    if (opts.limit !== undefined) range.limit = opts.limit
    if (opts.fromLamport !== undefined) {
      // [L] sorts before every [L, id]; reverse starts at the last key ≤ start, so [L + 1] keeps all of L.
      range.start = opts.reverse === true ? [Math.floor(opts.fromLamport) + 1] : [Math.ceil(opts.fromLamport)]
    }
    for (const { key, value } of dbs.topo.getRange(range)) yield decodeEvent(key[1], value)
  }

  /**
   * Every event's id, index lamport and bytes, in topological order: what
   * the offline commands read. Leaves the record's JSON header unparsed,
   * which is a good part of reading a big log.
   */
  * eventBytesInOrder (): Iterable<EventBytes> {
    for (const { key, value } of this.#read().topo.getRange({})) yield { id: key[1], lamport: key[0], bytes: eventBytesOf(key[1], value) }
  }

  // the adoption transaction

  /** Resolves once committed (kill -9 safe). */
  async adopt (a: Adoption): Promise<void> {
    this.#writable()
    await this.#write('adopt', adoptionWrite(this.#dbs, a))
  }

  /** Resolves once committed and flushed to disk (power-loss safe). */
  async adoptDurable (a: Adoption): Promise<void> {
    await this.adopt(a)
    await this.#flushed('adoptDurable')
  }

  getSnapshot (): SnapshotRecord | undefined {
    return this.#json(this.#read().state.get('snapshot'), 'snapshot', snapshotRecordShape)
  }

  // peers we know how to reach

  /**
   * The addresses this peer dials. A record that is malformed, or filed
   * under another address, is StoreError('corrupt'); with `skip`, it is
   * reported there and left out instead (a cache: the operator can re-add
   * an address, and must not be locked out of launching by one).
   */
  knownPeers (skip?: (addr: string, err: StoreError) => void): KnownPeer[] {
    const out: KnownPeer[] = []
    for (const { key, value } of this.#read().peers.getRange()) {
      try {
        const p = this.#json(value, `known peer ${key}`, knownPeerShape)!
        if (p.addr !== key) throw new StoreError('corrupt', `${this.path}: the store's known peer ${key} record is malformed (it names ${p.addr})`)
        out.push(p)
      } catch (err) {
        if (skip === undefined || !(err instanceof StoreError)) throw err
        skip(key, err)
      }
    }
    return out
  }

  async putKnownPeer (p: KnownPeer): Promise<void> {
    const value = encodeJson(p, 'known peer')
    await this.#write('putKnownPeer', () => { this.#dbs.peers.putSync(p.addr, value) })
  }

  async deleteKnownPeer (addr: string): Promise<void> {
    await this.#write('deleteKnownPeer', () => { this.#dbs.peers.removeSync(addr) })
  }

  // per-peer Automerge sync states

  getSyncState (peer: PeerName): Uint8Array | undefined {
    const value = this.#read().sync.get(peer)
    return value === undefined ? undefined : bytesOf(value)
  }

  async putSyncState (peer: PeerName, state: Uint8Array): Promise<void> {
    const value = copyOf(state)
    await this.#write('putSyncState', () => { this.#dbs.sync.putSync(peer, value) })
  }

  // allocations, keyed by (subnet, id), with a secondary index by address

  getAllocation (subnet: string, id: string): Allocation | undefined {
    return this.#json(this.#read().allocs.get([subnet, id]), `allocation ${id}`, allocationShape)
  }

  allocationByAddress (address: string): Allocation | undefined {
    const dbs = this.#read()
    const ref = this.#json(dbs.allocAddr.get(address), `address ${address}`, allocationRefShape)
    return ref === undefined ? undefined : this.#json(dbs.allocs.get(ref), `allocation ${ref[1]}`, allocationShape)
  }

  /** Every allocation, by subnet then id. */
  allocations (): Allocation[] {
    const out: Allocation[] = []
    for (const { key, value } of this.#read().allocs.getRange()) out.push(this.#json(value, `allocation ${key[1]}`, allocationShape)!)
    return out
  }

  /** Writes many allocations/releases in ONE transaction (group commit); releases apply first. Resolves when committed. */
  async writeAllocations (puts: Allocation[], deletes: Array<{ subnet: string, id: string }>): Promise<void> {
    this.#writable()
    await this.#write('writeAllocations', allocationsWrite(this.#dbs, puts, deletes))
  }

  /**
   * Writes a consistent copy of the store to `dir/store.mdb` (an LMDB backup
   * through this handle's environment, so it takes no new lock-file slot).
   */
  async backup (dir: string): Promise<void> {
    this.#read()
    const path = join(dir, STORE_FILE)
    try {
      await this.#root.backup(path, false)
    } catch (err) {
      throw toStoreError(err, `${this.path}: copying to ${path} failed`)
    }
  }

  // plumbing

  /** A JSON record checked against its shape; errors name this store's file. */
  #json<T> (bytes: Uint8Array | undefined, what: string, shape: Shape<T>): T | undefined {
    try {
      return decodeJson(bytes, what, shape)
    } catch (err) {
      if (err instanceof StoreError) err.message = `${this.path}: ${err.message}`
      throw err
    }
  }

  #read (): Dbs {
    if (this.#closed) throw new StoreError('closed', `${this.path}: the store is closed`)
    return this.#dbs
  }

  #writable (): void {
    this.#read()
    if (this.readOnly) throw new StoreError('io', `${this.path}: the store is open read-only`)
  }

  async #write (what: string, body: () => void): Promise<void> {
    this.#writable()
    try {
      await this.#root.childTransaction(body)
    } catch (err) {
      throw toStoreError(err, `${this.path}: ${what} failed`)
    }
  }

  async #flushed (what: string): Promise<void> {
    try {
      await this.#root.flushed
    } catch (err) {
      throw toStoreError(err, `${this.path}: ${what} failed to flush`)
    }
  }
}
