import type { Family, RangeSet } from '../../packages/netaddr/index.js'
import { CausalIndex, NO_FORKS, type CausalNode, type ForkProof, type Forks } from '../causal/index.js'
import type { EventId } from '../events/index.js'
import type { SegmentMap } from './segments.js'
import type { DisputeRecord, EvidenceDispute, PeerRecord, RemovalDispute, RingEvent } from './records.js'

export interface Equivocation {
  readonly author: number
  readonly seq: number
  readonly events: readonly EventId[]
  readonly flaggedBy: RingEvent
}

/**
 * Everything the fold holds. Mutations of anything but `segments` and the
 * append-only arrays register an undo step, so a batch can be rolled back
 * (validate-the-diff, DESIGN.md §3).
 */
export class RingState {
  readonly causal: CausalIndex
  readonly clusterId: EventId
  family: Family | undefined
  clusterRange: RangeSet | undefined
  segments: SegmentMap | undefined
  readonly events: RingEvent[] = []
  readonly peers: PeerRecord[] = []
  readonly resolves: RingEvent[] = []
  readonly conflicts: RingEvent[] = []
  /** Valid checkpoint events (DESIGN.md §2.6), in the order folded. */
  readonly checkpoints: RingEvent[] = []
  readonly evidence: EvidenceDispute[] = []
  readonly removalDisputes: RemovalDispute[] = []
  readonly settledBy = new Map<EventId, RingEvent[]>()
  readonly equivocations: Equivocation[] = []
  /** Forks that folded conflicts prove but this fold does not quarantine yet. */
  readonly unfoldedForks: ForkProof[] = []
  futureEvents = 0
  /** Log events compacted away (below a cut, docs/epochs.md): the log holds `causal.size + below`. */
  below = 0
  moveSerial = 0
  private undoLog: Array<() => void> | undefined

  /** `causal`: an index restored from an epoch's base (base.ts) instead of an empty one. */
  constructor (clusterId: EventId, forks: Forks = NO_FORKS, causal?: CausalIndex) {
    this.clusterId = clusterId
    this.causal = causal ?? new CausalIndex(forks)
  }

  peer (idx: number): PeerRecord {
    while (this.peers.length <= idx) this.peers.push({ seed: false, joins: [], removals: [] })
    return this.peers[idx]!
  }

  peerIdx (name: string): number {
    const i = this.causal.peer(name)
    this.peer(i)
    return i
  }

  eventOf (node: CausalNode): RingEvent { return this.events[node.idx]! }

  /** Appends to an array, remembering how to take it back. */
  push<T> (list: T[], item: T): void {
    list.push(item)
    this.undoLog?.push(() => { list.pop() })
  }

  onUndo (fn: () => void): void { this.undoLog?.push(fn) }

  get inBatch (): boolean { return this.undoLog !== undefined }

  beginBatch (): void {
    if (this.undoLog !== undefined) throw new Error('a batch is already open')
    this.undoLog = []
  }

  endBatch (): Array<() => void> {
    const log = this.undoLog ?? []
    this.undoLog = undefined
    return log
  }

  settled (id: EventId): RingEvent[] { return this.settledBy.get(id) ?? [] }
}

export type { DisputeRecord }
