import { CausalError } from '../../crdt/causal/index.js'
import { decodeEvent, type EventId, type PeerName, type SignedEvent } from '../../crdt/events/index.js'
import { OwnershipRing } from '../../crdt/ring/index.js'
import { foldFromBase } from '../log-service/epochs.js'
import { checkRingViewJson, ringViewFromSnapshot, RingView, type RingViewJson } from '../ring-view.js'
import { Store, type EpochRecord, type StoreMeta } from '../store/index.js'

/**
 * The log as offline commands read it (DESIGN.md §4): the store's event
 * index and ring snapshot, opened read-only, never the Automerge document.
 * Works on a stopped peer's data dir and beside a running daemon (LMDB
 * readers do not block its writer, and nothing here writes).
 */
export class LogReaderError extends Error {
  override name = 'LogReaderError'
}

/** A store that will not open, as the offline commands say it. */
export function readerOpenError (dataDir: string, err: unknown): unknown {
  const code = (err as { code?: string }).code
  if (code === 'io') return new LogReaderError(`no weft data in ${dataDir}: ${(err as Error).message}`, { cause: err })
  if (code === 'corrupt') return new LogReaderError(`${(err as Error).message}: this peer's log cannot be read here, but the other peers hold the same events`, { cause: err })
  return err
}

export interface LogReader {
  readonly dataDir: string
  readonly meta: StoreMeta
  readonly clusterId: EventId
  /** Events in topological order (lamport, then id), decoded from our own store. */
  events: () => SignedEvent[]
  /** The fold of every event (built once, on first use). */
  ring: () => OwnershipRing
  /** The ring snapshot persisted with the log (what the daemon last wrote). */
  savedView: () => RingViewJson | undefined
  /** The current fold as a view. */
  view: () => RingView
  /** The epoch the peer's live log belongs to (DESIGN.md §2.6); undefined before its first. */
  epoch: () => EpochRecord | undefined
  /** When the daemon last saw each peer (ms), as it last saved it. */
  seen: () => Record<PeerName, number>
  close: () => Promise<void>
}

export function openLogReader (dataDir: string): LogReader {
  let store: Store
  try {
    // Offline commands read a stopped peer's files or the daemon's copy: nothing writes them, so walk the pages.
    store = Store.open(dataDir, { readOnly: true, checkPages: true })
  } catch (err) {
    throw readerOpenError(dataDir, err)
  }
  const meta = store.getMeta()
  if (meta?.clusterId === undefined) {
    void store.close()
    throw new LogReaderError(`the peer in ${dataDir} has not joined a cluster yet: it has no log`)
  }
  const clusterId = meta.clusterId
  let events: SignedEvent[] | undefined
  let ring: OwnershipRing | undefined
  let view: RingView | undefined
  const reader: LogReader = {
    dataDir,
    meta,
    clusterId,
    events: () => {
      // Trusted: these bytes passed every check before the daemon stored them.
      // `weft verify` re-checks them with signatures on.
      if (events === undefined) {
        events = []
        for (const e of store.eventBytesInOrder()) events.push(decodeEvent(e.bytes, { trusted: true, expectedId: e.id }))
      }
      return events
    },
    ring: () => {
      if (ring === undefined) {
        try {
          ring = OwnershipRing.fold(clusterId, reader.events())
        } catch (err) {
          // A peer that caught up from another's epoch holds the history
          // before it only as that epoch's base: fold from the base.
          const rec = store.getEpoch()
          if (!(err instanceof CausalError) || err.code !== 'missing-dep' || rec === undefined) throw err
          ring = foldFromBase(store, rec)
        }
      }
      return ring
    },
    epoch: () => store.getEpoch(),
    seen: () => store.getSeen(),
    savedView: () => {
      const rec = store.getSnapshot()
      if (rec === undefined || rec.snapshot === null) return undefined
      try {
        return checkRingViewJson(rec.snapshot)
      } catch (err) {
        throw new LogReaderError(`${store.path}: the saved ring snapshot is malformed (${(err as Error).message})`, { cause: err })
      }
    },
    view: () => {
      view ??= new RingView(ringViewFromSnapshot(reader.ring().snapshot())!)
      return view
    },
    close: async () => { await store.close() }
  }
  return reader
}
