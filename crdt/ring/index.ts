export { OwnershipRing } from './ring.js'
export type { RingSnapshot, RingSegment, PeerSnapshot, DisputeSnapshot, VoidSnapshot, OverrideSnapshot, EquivocationSnapshot, RemovalInfo } from './snapshot.js'
export type { RingEvent, DisputeRecord } from './records.js'
export { disputeId } from './moves.js'
