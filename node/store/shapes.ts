import { arrayOf, count, finite, literal, object, recordOf, str, tuple, type Shape } from '../shape.js'
import type { EpochRecord, KnownPeer, SnapshotRecord, StoreMeta } from './types.js'

/**
 * The shapes of the store's JSON records (types.ts), checked on every read:
 * a record that does not fit is StoreError('corrupt') naming it, never a
 * cast that fails later somewhere else. Types only: what the values mean
 * (a peer name, a ring view) is checked by whoever reads them.
 */

export const metaShape: Shape<StoreMeta> = object({ format: count, peer: str, createdAt: finite }, {
  clusterId: str,
  range: str,
  cloned: object({ seq: count, ours: str, theirs: str, supplier: str, at: finite }),
  docForks: str
})

export const seenShape: Shape<Record<string, number>> = recordOf(str, finite)

export const headsShape: Shape<string[]> = arrayOf(str)

export const epochShape: Shape<EpochRecord> = object({ epoch: count, key: str, digest: str, cut: arrayOf(str), seqBase: recordOf(str, count), floor: count })

/** The envelope; the snapshot inside is for its reader to check (node/ring-view.ts checkRingViewJson). */
export const snapshotRecordShape = object({ eventHeads: arrayOf(str), docHeads: arrayOf(str), eventCount: count }) as Shape<Omit<SnapshotRecord, 'snapshot'>> as Shape<SnapshotRecord>

export const knownPeerShape: Shape<KnownPeer> = object({ addr: str, source: literal('launch', 'connect', 'join') }, {
  peer: str,
  lastSeen: finite,
  lastError: str
})

export const lamportShape: Shape<number> = count

export const eventHeaderShape = object({ l: count, t: finite, k: str }, { a: str })

export const allocationShape = object({ id: str, subnet: str, address: str, createdAt: finite })

export const allocationRefShape: Shape<[string, string]> = tuple(str, str)
