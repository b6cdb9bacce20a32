import type { AuthoredEvent, BodyOf, EventId, PeerName, TakeoverApproval } from '../../crdt/events/index.js'
import type { EventRow } from '../offline/describe.js'
import type { KnownPeer } from '../store/index.js'
import type { CallTimeouts } from '../worker-rpc.js'
import type { AppendResult, Hello, HelloVerdict, ReceiveOutcome } from './types.js'

/** What the daemon hands the log worker as its workerData. */
export interface WorkerInit {
  dataDir: string
  seed: Uint8Array
  logLevel: string
  /** Tuning.epochEvents. */
  epochEvents?: number
}

/**
 * The log worker's API, the one source of truth for its RPC: LogService
 * implements it, the worker dispatches to that service, and the daemon's
 * LogClient is `Remote<LogWorkerApi>` (node/worker-rpc.ts).
 */
export interface LogWorkerApi {
  /** Opens the store, publishes the persisted view, loads the document. */
  open: () => Promise<void>
  /** Founds a cluster: with this peer as its only seed, or with the seeds a bootstrap chose. */
  found: (range: string, seeds?: PeerName[]) => Promise<EventId>
  ensureJoin: (nickname: string, addrs: string[]) => Promise<EventId | undefined>
  append: <K extends AuthoredEvent['kind']>(kind: K, body: BodyOf<K>, opts?: { allowVoid?: boolean }) => Promise<AppendResult>
  /** Test hook: an event of a newer format, as an upgraded build would sign. */
  appendFuture: (futureKind: string, v: number) => Promise<AppendResult>
  /** Test hook: `count` joins, for long histories. */
  appendJoins: (count: number, nickname: string, addrs: string[], persistEvery?: number) => Promise<number>

  hello: (nickname: string) => Hello
  helloVerdict: (remote: Hello, wantedRange?: string) => HelloVerdict
  /** `epochKey`: the epoch the session syncs in ('' the first); null when ours is another. */
  generate: (peer: PeerName, epochKey?: string) => Promise<Uint8Array | null>
  /** `epochKey`: as for generate; a message of another epoch than ours is ignored. */
  receive: (peer: PeerName, message: Uint8Array, expectCluster?: EventId, wantedRange?: string, epochKey?: string) => Promise<ReceiveOutcome>
  receiveEvidence: (peer: PeerName, evidence: Uint8Array[]) => Promise<ReceiveOutcome | undefined>
  endSession: (peer: PeerName) => Promise<void>
  /** Our epoch for a peer behind it (DESIGN.md §2.6), encoded; null in the first epoch. */
  epochOffer: () => Promise<Uint8Array | null>
  /** Catches up with a peer's later epoch from its offer. */
  acceptEpoch: (peer: PeerName, offer: Uint8Array) => Promise<{ ok: true, epoch: number } | { ok: false, message: string }>

  /** The first peer that shows it holds event `id`, or undefined after `timeoutMs`. */
  awaitConfirmation: (id: EventId, timeoutMs: number) => Promise<PeerName | undefined>
  takeover: (from: PeerName, approval?: TakeoverApproval) => Promise<AppendResult & { ranges: string[] }>
  /** Hands our space over in one leave (or finds ours) and waits up to `timeoutMs` for a peer to hold it. */
  leave: (candidates: PeerName[], timeoutMs: number) => Promise<{ id: EventId, heirs: Array<{ peer: PeerName, ranges: string[] }>, confirmedBy?: PeerName, earlier?: true }>
  conflictRivals: (id: EventId) => EventId[] | undefined
  describeEvents: (ids: EventId[]) => EventRow[]

  knownPeers: () => Promise<KnownPeer[]>
  rememberPeers: (addrs: string[], source: KnownPeer['source']) => Promise<void>
  forgetPeers: (addrs: string[]) => Promise<void>
  /** When each peer was last seen (the daemon's liveness map), for the next launch. */
  putSeen: (seen: Record<PeerName, number>) => Promise<void>
  /** An election acceptor's state (node/consensus), durable before the acceptor answers. */
  getAcceptor: (instance: string) => Promise<unknown>
  putAcceptor: (instance: string, state: unknown) => Promise<void>
  close: () => Promise<void>
}

/** Most calls answer in milliseconds; a minute means the worker is stuck. */
export const LOG_CALL_TIMEOUT_MS = 60_000
/** A call that waits on purpose also waits in the worker's queue behind other work. */
const QUEUE_MARGIN_MS = 60_000

export const LOG_CALL_TIMEOUTS: CallTimeouts<LogWorkerApi> = {
  // Loading a 100k-event document takes seconds alone, much longer on a busy host.
  open: () => 10 * 60_000,
  appendJoins: count => LOG_CALL_TIMEOUT_MS + count,
  awaitConfirmation: (_id, timeoutMs) => timeoutMs + QUEUE_MARGIN_MS,
  leave: (_candidates, timeoutMs) => timeoutMs + QUEUE_MARGIN_MS
}
