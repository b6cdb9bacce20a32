import type { RangeSet } from '../../packages/netaddr/index.js'
import type { CausalNode } from '../causal/index.js'
import type { EventId, WeftEvent } from '../events/index.js'

/** A grant of addresses to one peer (by peer index in the causal index). */
export interface Grant {
  readonly peer: number
  readonly ranges: RangeSet
}

/** A party of a dispute: an event known as a log event, as evidence, or both. */
export interface Party {
  readonly id: EventId
  readonly event: WeftEvent
  /** Its signed bytes (kept so an epoch's base can carry a party no log holds). */
  readonly bytes: Uint8Array
  /** Addresses it moves, from its body (evidence is presumed valid). */
  readonly moves: readonly Grant[]
}

export interface DisputeRecord {
  readonly id: EventId
  readonly parties: readonly Party[]
  readonly ranges: RangeSet
  /** A removal dispute: one party removes a peer that authored another party. */
  readonly removal: boolean
  /** Peers whose removal is at stake (removal disputes only). */
  readonly atStake: readonly number[]
}

/** The fold's verdict on one event. */
export interface RingEvent {
  readonly node: CausalNode
  status: 'valid' | 'void' | 'future'
  reason?: string
  /** What a valid move gives to whom. */
  grants?: readonly Grant[]
  /** Union of `grants`. */
  moved?: RangeSet
  /** Peers a valid event removes. */
  removes?: readonly number[]
  /** Disputes a valid resolve settles, as they were in its view. */
  settles?: readonly DisputeRecord[]
  /** Resolves that override this move within their ranges (DESIGN.md §2.3). */
  readonly overriddenBy: RingEvent[]
}

/** A dispute known through a conflict event's evidence (some party not in the log). */
export interface EvidenceDispute {
  readonly conflict: RingEvent
  readonly record: DisputeRecord
}

/** A move by peer P concurrent with an event that removes P. */
export interface RemovalDispute {
  readonly removal: RingEvent
  readonly mover: RingEvent
  readonly removed: number
  readonly record: DisputeRecord
}

export interface PeerRecord {
  seed: boolean
  /** Valid joins, in seq order; the latest names the peer. */
  readonly joins: RingEvent[]
  /** Valid events that remove this peer. */
  readonly removals: RingEvent[]
}

export interface MoveNode {
  /** Unique per ring, for sharing nodes between segments. */
  readonly serial: number
  readonly ev: RingEvent
  /** Peer index the move gives this interval to. */
  readonly claimant: number
  /** The moves of this interval in the event's causal past that it supersedes. */
  readonly preds: readonly MoveNode[]
}
