import { WeftError } from '../../crdt/errors.js'
import type { EventId, PeerName } from '../../crdt/events/index.js'
import type { RingViewJson } from '../ring-view.js'

/** Sync protocol version: a different major is refused, a newer minor is fine. */
import type { EpochStatus } from './epochs.js'

export const SYNC_PROTOCOL = { major: 1, minor: 2 } as const

/** Whether a peer's hello says sync protocol 1.1 or later: SEEN frames, and a hello again when its cluster changes. */
export function speaksSync11 (hello: Hello): boolean {
  return hello.protocol.major > 1 || (hello.protocol.major === 1 && hello.protocol.minor >= 1)
}

/** What a peer says first on /weft/sync/1.0.0 (DESIGN.md §3). */
export interface Hello {
  /** Genesis id; absent while the peer is still waiting for a cluster. */
  cluster?: EventId
  range?: string
  protocol: { major: number, minor: number }
  eventFormat: number
  peer: { name: PeerName, nickname: string }
  /** Per unresolved dispute, the parties the sender holds as log events. */
  disputes: Array<{ id: EventId, held: EventId[] }>
  /** Disputes the sender holds a resolve for. */
  resolved: EventId[]
  /** How long ago (ms) the sender last saw each peer it knows (node/net/liveness.ts). */
  seen?: Array<[PeerName, number]>
  /** While the sender has no cluster: how it will get one (`--init`, node/consensus/init.ts). */
  init?: HelloInit
  /** The epoch the sender's live document belongs to (protocol 1.2; DESIGN.md §2.6): its number and checkpoint key. Absent: epoch 0. */
  epoch?: { n: number, key: string }
}

/** `--init` as a peer with no cluster tells it: a consensus group, the cluster its seeds make, or an observer. */
export type HelloInit =
  | { mode: 'consensus', n: number, range: string }
  | { mode: 'seed', cluster: EventId }
  | { mode: 'observer' }
  | { mode: 'founder' }

export type HelloVerdict =
  /**
   * `fetchEpoch`: the peer's live document is of a later epoch; ask it for
   * that epoch (base and events) before syncing. `holdSync`: ours is later;
   * send nothing until the peer has caught up and says so in a new hello.
   */
  | { ok: true, joinCluster?: EventId, fetchEpoch?: true, holdSync?: true }
  | { ok: false, code: 'wrong-cluster' | 'wrong-protocol' | 'dispute' | 'no-cluster' | 'equivocation' | 'identity-cloned', message: string }

export type RejectReason = 'bad-message' | 'bad-change' | 'bad-event' | 'causal' | 'wrong-cluster' | 'dispute' | 'equivocation' | 'identity-cloned'

/** Where a received message's time went: checking the changes, then folding, adopting and persisting. */
export interface ReceiveTimings { validateMs: number, mergeMs: number }

export type ReceiveOutcome =
  /** `caughtUp`: we now hold every change the sender holds (a completed sync, for readiness). */
  | { kind: 'adopted', ids: EventId[], caughtUp: boolean, timings?: ReceiveTimings }
  | { kind: 'unchanged', caughtUp: boolean }
  /**
   * `evidence`: event bytes that prove the rejection to the peer (the two
   * events of an equivocation), sent along in the BYE so it can check them.
   */
  | { kind: 'rejected', reason: RejectReason, message: string, conflicts: EventId[], gate?: PeerName, evidence?: Uint8Array[] }

export interface AppendResult {
  id: EventId
  status: 'valid' | 'void' | 'future'
  reason?: string
}

export type LogState = 'loading' | 'waiting-for-cluster' | 'ready'

/** Why a peer that holds events of a newer format signs nothing and allocates nothing. */
export const UPGRADE_NEEDED = 'the log holds events of a newer format: upgrade weft'

/** A local append that would be void, refused before it reaches the log. */
export class AppendRefusedError extends WeftError<'refused'> {
  override name = 'AppendRefusedError'
  constructor (message: string) { super('refused', message) }
}

/**
 * How many addresses to dial a peer keeps (`weft connect`'s, in the store):
 * far more than a cluster has peers, few enough that dialling them all, on
 * every launch, costs nothing to speak of.
 */
export const MAX_KNOWN_ADDRESSES = 256

/** `weft connect` would take the stored addresses past MAX_KNOWN_ADDRESSES. */
export class KnownAddressesFullError extends WeftError<'too-many-addresses'> {
  override name = 'KnownAddressesFullError'
  constructor (message: string) { super('too-many-addresses', message) }
}

export class NoClusterError extends WeftError<'no-cluster'> {
  override name = 'NoClusterError'
  constructor (message: string) { super('no-cluster', message) }
}

/**
 * This peer's own identity signed two events with one seq: its data dir was
 * copied or restored (DESIGN.md §4). Persisted; the peer stops writing and syncing.
 */
export interface ClonedIdentity {
  seq: number
  /** The event this data dir holds, and the other copy's. */
  ours: EventId
  theirs: EventId
  /** The peer whose batch (or BYE) carried the other copy's event. */
  supplier: PeerName
  at: number
}

/** Notifications from the log service to the daemon. */
export type LogNotice =
  | { type: 'view', view: RingViewJson, state: LogState }
  | { type: 'state', state: LogState }
  | { type: 'cloned', cloned: ClonedIdentity }
  /** `authors`: per author of a received event, the latest `time` it signed (evidence it was alive). */
  | { type: 'adopted', ids: EventId[], local: boolean, authors?: Array<[PeerName, number]> }
  | { type: 'log', level: 'info' | 'warn' | 'error', component: string, message: string }
  /** The live document now belongs to another epoch (DESIGN.md §2.6): every session says its hello again. */
  | { type: 'epoch', epoch: number }
  /** What status says of epochs changed (node/log-service/epochs.ts). */
  | { type: 'epoch-status', status: EpochStatus }

/** The one line a cloned peer says wherever it refuses to act. */
export function clonedMessage (self: PeerName, c: ClonedIdentity): string {
  return `this peer's identity ${self} signed two events with seq ${c.seq} (${c.ours} here, ${c.theirs} from ${c.supplier}): ` +
    'its data dir was copied or restored from a backup, so it stops writing and syncing. Stop every copy and run `weft reset --force` on each; ' +
    `then \`weft rmpeer ${self}\` on another peer reclaims its ranges`
}
