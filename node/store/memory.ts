import type { EventId, PeerName } from '../../crdt/events/index.js'
import type { AllocationStore } from '../allocator/types.js'
import { StoreError } from './errors.js'
import type { Store } from './store.js'
import type { Adoption, Allocation, EpochRecord, EventRangeOptions, KnownPeer, SnapshotRecord, StoredEvent, StoreMeta } from './types.js'

/** What the log service needs of its store: Store (LMDB) in the daemon, MemoryStore in the simulator. */
export type LogStore = Pick<Store, 'path' | 'getMeta' | 'putMeta' | 'getSnapshot' | 'eventsInOrder' | 'docChunks' |
  'compactDoc' | 'replaceDoc' | 'adopt' | 'getSyncState' | 'putSyncState' | 'knownPeers' | 'putKnownPeer' |
  'deleteKnownPeer' | 'getSeen' | 'putSeen' | 'getAcceptor' | 'putAcceptor' | 'close' | 'getEpoch' | 'getBase' | 'switchEpoch'>

/**
 * Commits a write: runs `apply` (which changes the durable state) and
 * resolves once it has. The default applies at once; a simulation delays it
 * on its clock and, when the peer crashes, lands some prefix of the writes
 * still pending and drops the rest (a crash mid-save lands or not).
 */
export type CommitFn = (apply: () => void) => Promise<void>

const commitAtOnce: CommitFn = async apply => { apply() }

/** What a data dir holds, in memory: it outlives the peers (processes) that open it. */
export class MemoryDisk {
  meta: StoreMeta | undefined
  seen: Record<PeerName, number> = {}
  readonly acceptors = new Map<string, string>()
  docChunks: Uint8Array[] = []
  docHeads: string[] = []
  readonly events = new Map<EventId, StoredEvent>()
  snapshot: string | undefined
  readonly known = new Map<string, string>()
  readonly sync = new Map<PeerName, Uint8Array>()
  readonly allocations = new Map<string, Allocation>()
  epoch: string | undefined
  readonly bases = new Map<number, Uint8Array>()
  private sorted: StoredEvent[] | undefined

  /** The events by (lamport, id), the topological index's order; cached until events are written. */
  eventOrder (): StoredEvent[] {
    this.sorted ??= [...this.events.values()].sort((a, b) => a.lamport - b.lamport || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    return this.sorted
  }

  putEvents (events: readonly StoredEvent[]): void {
    for (const e of events) this.events.set(e.id, e)
    if (events.length > 0) this.sorted = undefined
  }
}

const json = (v: unknown): string => JSON.stringify(v)
const parse = <T>(text: string | undefined): T | undefined => text === undefined ? undefined : JSON.parse(text) as T
const copy = (b: Uint8Array): Uint8Array => b.slice()

/**
 * The log's store on a MemoryDisk: the same reads and writes as the LMDB
 * Store, values copied in and out as if serialised, each write visible once
 * committed (as LMDB's), so a peer's durable state is what a crash would keep.
 */
export class MemoryStore implements LogStore {
  readonly path: string
  private readonly disk: MemoryDisk
  private readonly commit: CommitFn
  private closed = false

  constructor (disk: MemoryDisk, opts: { path?: string, commit?: CommitFn } = {}) {
    this.disk = disk
    this.path = opts.path ?? 'memory'
    this.commit = opts.commit ?? commitAtOnce
  }

  private async write (apply: () => void): Promise<void> {
    if (this.closed) throw new StoreError('closed', `${this.path}: the store is closed`)
    await this.commit(apply)
  }

  async close (): Promise<void> { this.closed = true }

  getMeta (): StoreMeta | undefined { return this.disk.meta === undefined ? undefined : structuredClone(this.disk.meta) }
  async putMeta (meta: StoreMeta): Promise<void> {
    const value = structuredClone(meta)
    await this.write(() => { this.disk.meta = value })
  }

  getSeen (): Record<PeerName, number> { return { ...this.disk.seen } }
  async putSeen (seen: Record<PeerName, number>): Promise<void> {
    const value = { ...seen }
    await this.write(() => { this.disk.seen = value })
  }

  getAcceptor (instance: string): unknown { return parse(this.disk.acceptors.get(instance)) }
  async putAcceptor (instance: string, state: unknown): Promise<void> {
    const value = json(state)
    await this.write(() => { this.disk.acceptors.set(instance, value) })
  }

  docChunks (): Uint8Array[] { return this.disk.docChunks.map(copy) }

  async compactDoc (full: Uint8Array, heads: string[]): Promise<void> {
    const chunk = copy(full)
    await this.write(() => { this.disk.docChunks = [chunk]; this.disk.docHeads = [...heads] })
  }

  getEpoch (): EpochRecord | undefined { return parse(this.disk.epoch) }
  getBase (epoch: number): Uint8Array | undefined { return this.disk.bases.get(epoch)?.slice() }

  async switchEpoch (rec: EpochRecord, base: Uint8Array, full: Uint8Array, heads: string[]): Promise<void> {
    const value = json(rec)
    const baseBytes = copy(base)
    const chunk = copy(full)
    await this.write(() => {
      this.disk.bases.set(rec.epoch, baseBytes)
      this.disk.epoch = value
      this.disk.docChunks = [chunk]
      this.disk.docHeads = [...heads]
      this.disk.sync.clear()
    })
  }

  async replaceDoc (full: Uint8Array, heads: string[]): Promise<void> {
    const chunk = copy(full)
    await this.write(() => { this.disk.docChunks = [chunk]; this.disk.docHeads = [...heads]; this.disk.sync.clear() })
  }

  * eventsInOrder (opts: EventRangeOptions = {}): Iterable<StoredEvent> {
    const all = this.disk.eventOrder()
    const list = opts.reverse === true ? [...all].reverse() : all
    const from = opts.fromLamport
    const picked = from === undefined ? list : list.filter(e => opts.reverse === true ? e.lamport <= from : e.lamport >= from)
    // Stored bytes are never changed in place (a write copies them in), so reads share them.
    for (const e of picked.slice(0, opts.limit ?? picked.length)) yield { ...e }
  }

  async adopt (a: Adoption): Promise<void> {
    const events = a.events.map(e => ({ ...e, bytes: copy(e.bytes) }))
    const chunk = a.docChunk === undefined ? undefined : copy(a.docChunk)
    const syncStates = (a.syncStates ?? []).map(([p, s]) => [p, copy(s)] as const)
    const record = { eventHeads: [...a.eventHeads], docHeads: [...a.docHeads], snapshot: a.snapshot }
    const snapshotText = json(record)
    await this.write(() => {
      this.disk.putEvents(events)
      if (chunk !== undefined) this.disk.docChunks.push(chunk)
      this.disk.docHeads = [...a.docHeads]
      this.disk.snapshot = `${snapshotText.slice(0, -1)},"eventCount":${this.disk.events.size}}`
      for (const [p, s] of syncStates) this.disk.sync.set(p, s)
    })
  }

  getSnapshot (): SnapshotRecord | undefined { return parse(this.disk.snapshot) }

  knownPeers (): KnownPeer[] {
    return [...this.disk.known.keys()].sort().map(k => parse<KnownPeer>(this.disk.known.get(k))!)
  }

  async putKnownPeer (p: KnownPeer): Promise<void> {
    const value = json(p)
    await this.write(() => { this.disk.known.set(p.addr, value) })
  }

  async deleteKnownPeer (addr: string): Promise<void> {
    await this.write(() => { this.disk.known.delete(addr) })
  }

  getSyncState (peer: PeerName): Uint8Array | undefined {
    const s = this.disk.sync.get(peer)
    return s === undefined ? undefined : copy(s)
  }

  async putSyncState (peer: PeerName, state: Uint8Array): Promise<void> {
    const value = copy(state)
    await this.write(() => { this.disk.sync.set(peer, value) })
  }
}

/** The allocations on a MemoryDisk, committed as MemoryStore's writes are. */
export class MemoryAllocationStore implements AllocationStore {
  private readonly disk: MemoryDisk
  private readonly commit: CommitFn

  constructor (disk: MemoryDisk, opts: { commit?: CommitFn } = {}) {
    this.disk = disk
    this.commit = opts.commit ?? commitAtOnce
  }

  all (): Allocation[] {
    return [...this.disk.allocations.values()].map(a => ({ ...a }))
      .sort((a, b) => a.subnet < b.subnet ? -1 : a.subnet > b.subnet ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  }

  async write (puts: Allocation[], deletes: Array<{ subnet: string, id: string }>): Promise<void> {
    const p = puts.map(a => ({ ...a }))
    const d = deletes.map(x => `${x.subnet} ${x.id}`)
    await this.commit(() => {
      // Releases first, as the LMDB store's writes.
      for (const k of d) this.disk.allocations.delete(k)
      for (const a of p) this.disk.allocations.set(`${a.subnet} ${a.id}`, a)
    })
  }

  async backup (): Promise<void> { throw new StoreError('io', 'a memory store has no file to copy') }

  async close (): Promise<void> {}
}
