import type { Cidr } from '../../packages/netaddr/index.js'
import type { PeerName } from './peer-id.js'

/** Hex sha-256 of an event's signed canonical bytes. */
export type EventId = string

/**
 * The newest event format this build reads and writes. Format 2 added a
 * takeover's approval (DESIGN.md §3.2), format 3 the checkpoint (§2.6). Each event is written in the oldest
 * format that can express it, so peers of format 1 keep reading every event
 * but an approved takeover (which makes them read-only: "upgrade weft").
 */
export const EVENT_FORMAT_VERSION = 3
export const EVENT_KINDS = ['genesis', 'join', 'transfer', 'takeover', 'leave', 'conflict', 'resolve', 'checkpoint'] as const
export type EventKind = typeof EVENT_KINDS[number]

export interface GenesisBody {
  /** The cluster's address range(s), canonical CIDR list. */
  ranges: Cidr[]
  /** The founding peers, sorted by PeerId bytes. Seed i gets block i (DESIGN.md §2.2). */
  seeds: PeerName[]
}

export interface JoinBody {
  nickname: string
  /** Multiaddrs other peers dial, as text. */
  addrs: string[]
}

export interface TransferBody { ranges: Cidr[], to: PeerName }
export interface TakeoverBody {
  from: PeerName
  ranges: Cidr[]
  /** The quorum vote that approved this takeover (format 2); absent when forced in a minority, or written by format 1. */
  approval?: TakeoverApproval
}

/**
 * Evidence that a quorum of the live members chose the author to take over
 * `from` (DESIGN.md §3.2): each vote is an acceptor's signature over
 * `approvalStatement` for this ballot. Checked when the event is decoded.
 */
export interface TakeoverApproval {
  /** The cluster id (genesis id) the vote was held in: votes are not replayable across clusters. */
  cluster: EventId
  /** The ballot the votes accepted. */
  round: number
  proposer: PeerName
  /** Live members the quorum was counted over, the removed peer included. */
  of: number
  /** Signed accepts, sorted by peer bytes: at least a quorum (⌊of/2⌋ + 1). */
  votes: ApprovalVote[]
}
export interface ApprovalVote { peer: PeerName, sig: Uint8Array }
export interface Heir { peer: PeerName, ranges: Cidr[] }
export interface LeaveBody { heirs: Heir[] }

export type ConflictReason = 'dispute' | 'equivocation'
export interface ConflictBody {
  reason: ConflictReason
  /** Ids of the events in dispute (or the two equivocating events), sorted. */
  rivals: EventId[]
  /** The addresses in dispute, canonical CIDR list (empty for equivocation). */
  overlap: Cidr[]
  /** The peer whose batch carried the rival. */
  supplier: PeerName
  /** Signed bytes of every rival the author did not hold as a log event. */
  evidence: Uint8Array[]
}

export interface Assignment { owner: PeerName, ranges: Cidr[] }
export interface ResolveBody {
  disputes: EventId[]
  /** Peers whose removal stands after the resolve, sorted by PeerId bytes. */
  removals: PeerName[]
  /** Owners sorted by PeerId bytes, each with its minimal sorted CIDR list. */
  assignments: Assignment[]
}

/**
 * A member's signature on the end of an epoch (DESIGN.md §2.6,
 * docs/epochs.md): the fold at the cut has this digest. The proposer and
 * every member that folds the cut to the same digest each sign one.
 */
export interface CheckpointBody {
  /** The epoch this checkpoint starts, ending the one before: 1 for the first (epoch 0 runs from the genesis). */
  epoch: number
  /** The cut's heads, sorted ids: the cut is their causal past. */
  cut: EventId[]
  /** Hex SHA-256 of the epoch's base (crdt/ring/base.ts `baseDigest`). */
  digest: string
}

interface Common {
  v: number
  lamport: number
  /** Event ids of the author's log heads when it appended, sorted. */
  deps: EventId[]
}

interface Authored extends Common {
  author: PeerName
  seq: number
  /** Author's wall clock in ms: shown to people, never used for ordering or validity. */
  time: number
}

export interface GenesisEvent extends Common { kind: 'genesis', body: GenesisBody }
export interface JoinEvent extends Authored { kind: 'join', body: JoinBody }
export interface TransferEvent extends Authored { kind: 'transfer', body: TransferBody }
export interface TakeoverEvent extends Authored { kind: 'takeover', body: TakeoverBody }
export interface LeaveEvent extends Authored { kind: 'leave', body: LeaveBody }
export interface ConflictEvent extends Authored { kind: 'conflict', body: ConflictBody }
export interface ResolveEvent extends Authored { kind: 'resolve', body: ResolveBody }
export interface CheckpointEvent extends Authored { kind: 'checkpoint', body: CheckpointBody }

/**
 * An event of a format version newer than this build understands. Only its
 * envelope was checked (canonical form, id, signature); it moves nothing and
 * makes the peer read-only until weft is upgraded (DESIGN.md §2.1).
 */
export interface FutureEvent extends Authored { kind: 'future', futureKind: string, body: unknown }

export type AuthoredEvent = JoinEvent | TransferEvent | TakeoverEvent | LeaveEvent | ConflictEvent | ResolveEvent | CheckpointEvent
export type WeftEvent = GenesisEvent | AuthoredEvent | FutureEvent

/** Fields an author fills in; the codec adds `v` and the signature. */
export type UnsignedEvent = Omit<AuthoredEvent, 'v'>

/** An event together with its canonical bytes and id, as stored and sent. */
export interface SignedEvent<E extends WeftEvent = WeftEvent> {
  readonly id: EventId
  readonly bytes: Uint8Array
  readonly event: E
}

export function isAuthored (e: WeftEvent): e is AuthoredEvent | FutureEvent {
  return e.kind !== 'genesis'
}

/** The body type of an authored kind. */
export type BodyOf<K extends AuthoredEvent['kind']> = Extract<AuthoredEvent, { kind: K }>['body']
