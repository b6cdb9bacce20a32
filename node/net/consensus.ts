import type { PeerName } from '../../crdt/events/index.js'
import { printable } from '../../packages/printable/index.js'
import { isPeerName } from '../../crdt/events/peer-id.js'
import type { ElectionReply, ElectionRequest, ElectionWire } from '../consensus/election.js'
import type { Accepted, Ballot } from '../consensus/paxos.js'
import type { TakeoverValue, TakeoverVoteReply, TakeoverVoteRequest } from '../consensus/takeover.js'
import type { Logger } from '../logger.js'
import type { FrameStream, Transport } from './transport.js'

/**
 * /weft/consensus/1.0.0 (DESIGN.md §3.1, §3.2): one request and its reply
 * per stream, JSON, checked before use: the bootstrap election's, and the
 * takeover votes'. Whoever answers is given by the daemon.
 */
export const CONSENSUS_PROTOCOL_ID = '/weft/consensus/1.0.0'
const MAX_FRAME = 256 * 1024
/** Seeds in one value: far more than any bootstrap group. */
const MAX_SEEDS = 1024

const enc = new TextEncoder()
const dec = new TextDecoder('utf-8', { fatal: true })

class BadRequestError extends Error {
  override name = 'BadRequestError'
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)

function ballotOf (x: unknown): Ballot {
  if (!isObj(x) || !Number.isSafeInteger(x.round) || (x.round as number) < 0 || typeof x.proposer !== 'string' || !isPeerName(x.proposer)) throw new BadRequestError('bad ballot')
  return { round: x.round as number, proposer: x.proposer }
}

export type ConsensusRequest = ElectionRequest | TakeoverVoteRequest
export type ConsensusReply = ElectionReply | TakeoverVoteReply

const isPeer = (x: unknown): x is PeerName => typeof x === 'string' && isPeerName(x)
const isId = (x: unknown): x is string => typeof x === 'string' && /^[0-9a-f]{64}$/.test(x)
const MAX_MEMBERS = 4096

function takeoverValueOf (x: unknown): TakeoverValue {
  if (!isObj(x) || !isPeer(x.taker) || !Number.isSafeInteger(x.of) || (x.of as number) < 2 || (x.of as number) > MAX_MEMBERS) throw new BadRequestError('bad takeover value')
  return { taker: x.taker, of: x.of as number }
}

function parseTakeoverRequest (x: Record<string, unknown>): TakeoverVoteRequest {
  if (!isId(x.cluster) || !isPeer(x.target) || !isId(x.members) || !isObj(x.req)) throw new BadRequestError('malformed takeover vote')
  const r = x.req
  const base = { op: 'takeover' as const, cluster: x.cluster, target: x.target, members: x.members }
  if (r.op === 'prepare') return { ...base, req: { op: 'prepare', ballot: ballotOf(r.ballot) } }
  if (r.op === 'accept') return { ...base, req: { op: 'accept', ballot: ballotOf(r.ballot), value: takeoverValueOf(r.value) } }
  throw new BadRequestError('malformed takeover vote')
}

/** Checks a request from the network; throws BadRequestError. */
export function parseConsensusRequest (bytes: Uint8Array): ConsensusRequest {
  let x: unknown
  try { x = JSON.parse(dec.decode(bytes)) } catch { throw new BadRequestError('request is not JSON') }
  if (isObj(x) && x.op === 'takeover') return parseTakeoverRequest(x)
  if (!isObj(x) || typeof x.instance !== 'string' || x.instance.length > 256) throw new BadRequestError('malformed request')
  if (x.op === 'start') return { op: 'start', instance: x.instance }
  if (x.op !== 'paxos' || !isObj(x.group) || !isObj(x.req)) throw new BadRequestError('malformed request')
  const g = x.group
  if (!Number.isSafeInteger(g.n) || (g.n as number) < 1 || typeof g.range !== 'string' || g.range.length > 64) throw new BadRequestError('bad group')
  const group = { n: g.n as number, range: g.range }
  const r = x.req
  if (r.op === 'prepare') return { op: 'paxos', instance: x.instance, group, req: { op: 'prepare', ballot: ballotOf(r.ballot) } }
  if (r.op !== 'accept' || !isObj(r.value) || !Array.isArray(r.value.seeds)) throw new BadRequestError('malformed request')
  const seeds = r.value.seeds as unknown[]
  if (seeds.length === 0 || seeds.length > MAX_SEEDS || !seeds.every(s => typeof s === 'string' && isPeerName(s))) throw new BadRequestError('bad seeds')
  return { op: 'paxos', instance: x.instance, group, req: { op: 'accept', ballot: ballotOf(r.ballot), value: { seeds: seeds as PeerName[] } } }
}

/** Checks a takeover vote's reply; anything unexpected is a failed request. */
function parseTakeoverReply (bytes: Uint8Array): TakeoverVoteReply {
  const x = JSON.parse(dec.decode(bytes)) as unknown
  if (!isObj(x)) throw new Error('malformed reply')
  if (typeof x.refused === 'string') return { refused: printable(x.refused.slice(0, 1000)), ...(isPeer(x.takenBy) ? { takenBy: x.takenBy } : {}) }
  if (x.ok === false) return { ok: false, promised: ballotOf(x.promised) }
  if (x.ok !== true) throw new Error('malformed reply')
  let accepted: Accepted<TakeoverValue> | undefined
  if (x.accepted !== undefined) {
    if (!isObj(x.accepted)) throw new Error('malformed reply')
    accepted = { ballot: ballotOf(x.accepted.ballot), value: takeoverValueOf(x.accepted.value) }
  }
  if (x.sig !== undefined && (typeof x.sig !== 'string' || !/^[A-Za-z0-9+/]{86}==$/.test(x.sig))) throw new Error('malformed signature')
  return { ok: true, ...(accepted !== undefined ? { accepted } : {}), ...(typeof x.sig === 'string' ? { sig: x.sig } : {}) }
}

/** Checks a reply from the network; anything unexpected is a failed request. */
function parseReply (bytes: Uint8Array): ElectionReply {
  const x = JSON.parse(dec.decode(bytes)) as unknown
  if (!isObj(x)) throw new Error('malformed reply')
  if (typeof x.refused === 'string') return { refused: printable(x.refused.slice(0, 1000)) }
  if (x.started === true) return { started: true }
  if (x.ok === false) return { ok: false, promised: ballotOf(x.promised) }
  if (x.ok !== true) throw new Error('malformed reply')
  if (x.accepted === undefined) return { ok: true }
  const a = x.accepted
  if (!isObj(a) || !isObj(a.value) || !Array.isArray(a.value.seeds) || !(a.value.seeds as unknown[]).every(s => typeof s === 'string' && isPeerName(s))) throw new Error('malformed reply')
  return { ok: true, accepted: { ballot: ballotOf(a.ballot), value: { seeds: a.value.seeds as PeerName[] } } }
}

export interface ConsensusServiceDeps {
  transport: Transport
  logger: Logger
  /** Answers a request; the daemon hands it to its election (or refuses: it has a cluster). */
  answer: (from: PeerName, req: ConsensusRequest) => Promise<ConsensusReply>
}

export class ConsensusService implements ElectionWire {
  private readonly deps: ConsensusServiceDeps
  private readonly log: Logger

  constructor (deps: ConsensusServiceDeps) {
    this.deps = deps
    this.log = deps.logger.forComponent('weft:consensus')
  }

  async start (): Promise<void> {
    await this.deps.transport.handle(CONSENSUS_PROTOCOL_ID, stream => { void this.serve(stream) }, { maxFrame: MAX_FRAME })
  }

  private async serve (stream: FrameStream): Promise<void> {
    try {
      const req = parseConsensusRequest(await stream.read({ timeoutMs: 10_000 }))
      await stream.write(enc.encode(JSON.stringify(await this.deps.answer(stream.peer, req))))
      await stream.close()
    } catch (err) {
      this.log.warn(`election request from ${stream.peer} failed: ${(err as Error).message}`)
      stream.abort(err as Error)
    }
  }

  async ask (peer: PeerName, req: ElectionRequest, timeoutMs: number): Promise<ElectionReply> {
    return parseReply(await this.exchange(peer, req, timeoutMs))
  }

  async askTakeover (peer: PeerName, req: TakeoverVoteRequest, timeoutMs: number): Promise<TakeoverVoteReply> {
    return parseTakeoverReply(await this.exchange(peer, req, timeoutMs))
  }

  private async exchange (peer: PeerName, req: ConsensusRequest, timeoutMs: number): Promise<Uint8Array> {
    const stream = await this.deps.transport.openStream(peer, CONSENSUS_PROTOCOL_ID, { maxFrame: MAX_FRAME })
    try {
      await stream.write(enc.encode(JSON.stringify(req)))
      return await stream.read({ timeoutMs })
    } finally {
      await stream.close().catch(() => {})
    }
  }
}
