import type { PeerName } from '../crdt/events/index.js'
import { isPeerName } from '../crdt/events/peer-id.js'
import type { ElectionReply, ElectionRequest } from './consensus/election.js'
import type { Ballot } from './consensus/paxos.js'
import type { TakeoverValue, TakeoverVoteReply, TakeoverVoteRequest } from './consensus/takeover.js'
import type { Hello } from './log-service/types.js'
import { bool, checkShape, count, int, listOf, literal, object, oneOf, ShapeError, strWhere, text, tuple, variant, type Shape } from './shape.js'

/**
 * Every JSON message weft exchanges with another host or over its control
 * socket, one schema each (DESIGN.md §6, §3.3): the sender builds a value
 * of the schema's type, the receiver checks the bytes against the same
 * schema before anything uses them, and the bounds that keep a hostile
 * sender from costing memory live beside the fields they bound. Binary
 * frames (Automerge sync messages, transfer chunks) have no JSON to check;
 * their framing is in net/frames.ts and net/chunked.ts.
 */

// ---- shared pieces -----------------------------------------------------------

/** Names, nicknames, ranges and codes: far longer than any real one. */
const MAX_TEXT = 512
const shortText = text(MAX_TEXT)
const eventId = strWhere('an event id (64 hex digits)', s => /^[0-9a-f]{64}$/.test(s))
const peerName: Shape<PeerName> = strWhere('a peer name', s => s.length <= MAX_TEXT && isPeerName(s))
const base64 = (maxBytes: number): Shape<string> =>
  strWhere(`base64 of at most ${maxBytes} bytes`, s => s.length <= Math.ceil(maxBytes / 3) * 4 && /^[A-Za-z0-9+/]*={0,2}$/.test(s))

/** Decodes a JSON message and checks it; `fail` makes the receiver's error from the reason. */
export function decodeMessage<T> (bytes: Uint8Array, shape: Shape<T>, what: string, maxBytes: number, fail: (why: string) => Error): T {
  if (bytes.length > maxBytes) throw fail(`${what} of ${bytes.length} bytes is over the ${maxBytes}-byte limit`)
  let x: unknown
  try {
    x = JSON.parse(decoder.decode(bytes))
  } catch {
    throw fail(`${what} is not JSON`)
  }
  try {
    return checkShape(x, shape)
  } catch (err) {
    if (err instanceof ShapeError) throw fail(`bad ${what}: ${err.message}`)
    throw err
  }
}

export function encodeMessage<T> (message: T): Uint8Array { return encoder.encode(JSON.stringify(message)) }

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

// ---- /weft/sync/1.0.0: HELLO, BYE, SEEN, transfer references ------------------

/** Entries in a SEEN report (node/net/liveness.ts bounds what it keeps the same way). */
export const MAX_SEEN_REPORT = 4096
export const seenReportShape: Shape<Array<[PeerName, number]>> = listOf(tuple(shortText, count), MAX_SEEN_REPORT)

const helloInitShape: Shape<NonNullable<Hello['init']>> = variant('mode', {
  consensus: object({ mode: literal('consensus'), n: int(1), range: shortText }),
  seed: object({ mode: literal('seed'), cluster: eventId }),
  observer: object({ mode: literal('observer') }),
  founder: object({ mode: literal('founder') })
})

export const helloShape: Shape<Hello> = object({
  protocol: object({ major: int(0), minor: int(0) }),
  eventFormat: int(0),
  peer: object({ name: shortText, nickname: shortText }),
  disputes: listOf(object({ id: shortText, held: listOf(shortText, 64) }), 1024),
  resolved: listOf(shortText, 4096)
}, {
  cluster: eventId,
  range: shortText,
  seen: seenReportShape,
  init: helloInitShape,
  epoch: object({ n: count, key: eventId })
})

/** Evidence in a BYE: a few events, each at most this big (events are a few hundred bytes). */
export const MAX_BYE_EVIDENCE = 4
export const MAX_EVIDENCE_BYTES = 48 * 1024

export interface ByeMessage { code: string, message: string, evidence?: string[] }
export const byeShape: Shape<ByeMessage> = object({ code: shortText, message: text(64 * 1024) }, { evidence: listOf(base64(MAX_EVIDENCE_BYTES), MAX_BYE_EVIDENCE) })

export const seenFrameShape: Shape<{ seen: Array<[PeerName, number]> }> = object({ seen: seenReportShape })

/** A sync message too big for one frame, sent on /weft/snapshot/1.0.0 (net/chunked.ts). */
export interface TransferRef { transfer: number, bytes: number, sha256: string }
export const transferRefShape: Shape<TransferRef> = object({
  transfer: count,
  bytes: int(1),
  sha256: strWhere('a sha-256 (64 hex digits)', s => /^[0-9a-f]{64}$/.test(s))
})

// ---- /weft/space/1.0.0 (net/space.ts) ----------------------------------------

export type SpaceRequest = { op: 'free', subnet: string } | { op: 'donate', subnet: string }
export const spaceRequestShape: Shape<SpaceRequest> = variant('op', {
  free: object({ op: literal('free'), subnet: text(64) }),
  donate: object({ op: literal('donate'), subnet: text(64) })
})

export type SpaceAnswer = { free: string } | { ok: true, transfer: string, ranges: string[] } | { ok: false, reason: string }
export const spaceAnswerShape: Shape<SpaceAnswer> = oneOf<SpaceAnswer>('an answer: {free}, {ok: true, transfer, ranges} or {ok: false, reason}',
  object({ free: strWhere('a decimal count', s => /^\d{1,40}$/.test(s)) }),
  object({ ok: literal(true), transfer: eventId, ranges: listOf(text(64), 16, 1) }),
  object({ ok: literal(false), reason: text(64 * 1024) })
)

// ---- /weft/consensus/1.0.0 (net/consensus.ts) --------------------------------

/** Seeds in one value: far more than any bootstrap group; members a takeover counts. */
const MAX_SEEDS = 1024
const MAX_MEMBERS = 4096

const ballotShape: Shape<Ballot> = object({ round: count, proposer: peerName })
const seedSetShape = object({ seeds: listOf(peerName, MAX_SEEDS, 1) })
const takeoverValueShape: Shape<TakeoverValue> = object({ taker: peerName, of: int(2, MAX_MEMBERS) })

const paxosRequest = <V>(value: Shape<V>): Shape<{ op: 'prepare', ballot: Ballot } | { op: 'accept', ballot: Ballot, value: V }> => variant('op', {
  prepare: object({ op: literal('prepare'), ballot: ballotShape }),
  accept: object({ op: literal('accept'), ballot: ballotShape, value })
}) as Shape<{ op: 'prepare', ballot: Ballot } | { op: 'accept', ballot: Ballot, value: V }>

export type ConsensusRequest = ElectionRequest | TakeoverVoteRequest
export const consensusRequestShape: Shape<ConsensusRequest> = variant('op', {
  start: object({ op: literal('start'), instance: text(256) }),
  paxos: object({ op: literal('paxos'), instance: text(256), group: object({ n: int(1), range: text(64) }), req: paxosRequest(seedSetShape) }),
  takeover: object({ op: literal('takeover'), cluster: eventId, target: peerName, members: eventId, req: paxosRequest(takeoverValueShape) })
}) as Shape<ConsensusRequest>

const refusedShape = object({ refused: text(64 * 1024) }, { takenBy: peerName })
const noShape = object({ ok: literal(false), promised: ballotShape })

export const electionReplyShape: Shape<ElectionReply> = oneOf<ElectionReply>('an election reply',
  refusedShape,
  object({ started: literal(true) }),
  noShape,
  object({ ok: literal(true) }, { accepted: object({ ballot: ballotShape, value: seedSetShape }) })
)

export const takeoverReplyShape: Shape<TakeoverVoteReply> = oneOf<TakeoverVoteReply>('a takeover vote reply',
  refusedShape,
  noShape,
  object({ ok: literal(true) }, {
    accepted: object({ ballot: ballotShape, value: takeoverValueShape }),
    sig: strWhere('an Ed25519 signature (base64)', s => /^[A-Za-z0-9+/]{86}==$/.test(s))
  })
)

// ---- the control API (api/server.ts checks, api/client.ts sends) -------------

const nonEmpty = strWhere('a non-empty string', s => s !== '')

export interface AllocRequest { id: string, subnet?: string }
export const allocRequestShape: Shape<AllocRequest> = object({ id: text(4096) }, { subnet: nonEmpty })

export interface ClaimRequest { id: string, address: string, prefix?: number }
export const claimRequestShape: Shape<ClaimRequest> = object({ id: text(4096), address: nonEmpty }, { prefix: int(0, 128) })

export interface ReleaseRequest { id: string, address?: string }
export const releaseRequestShape: Shape<ReleaseRequest> = object({ id: text(4096) }, { address: nonEmpty })

/** `connect`, `forget`: addresses (each then parsed as a multiaddr; the count is bounded by the caller). */
export interface PeersRequest { peers: string[] }
const names = listOf(nonEmpty, 1_000_000, 1)
export const peersRequestShape: Shape<PeersRequest> = object({ peers: names })

export interface RmpeerRequest { peers: string[], force?: boolean }
export const rmpeerRequestShape: Shape<RmpeerRequest> = object({ peers: names }, { force: bool })
export interface ResolveRequest { dispute: string, owner?: string }
export const resolveRequestShape: Shape<ResolveRequest> = object({ dispute: nonEmpty }, { owner: nonEmpty })

export interface ResetRequest { force?: boolean }
export const resetRequestShape: Shape<ResetRequest> = object({}, { force: bool })

export interface CopyStoresRequest { dir: string }
export const copyStoresRequestShape: Shape<CopyStoresRequest> = object({ dir: strWhere('an absolute path', s => s.startsWith('/')) })
