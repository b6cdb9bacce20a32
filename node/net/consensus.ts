import type { PeerName } from '../../crdt/events/index.js'
import { isPeerName } from '../../crdt/events/peer-id.js'
import type { ElectionReply, ElectionRequest, ElectionWire } from '../consensus/election.js'
import type { Ballot } from '../consensus/paxos.js'
import type { Logger } from '../logger.js'
import type { FrameStream, Transport } from './transport.js'

/**
 * /weft/consensus/1.0.0 (DESIGN.md §3.1): one election request and its
 * reply per stream, JSON, checked before use. Whoever answers is given
 * by the daemon: the running election, or a refusal once a cluster exists.
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

/** Checks a request from the network; throws BadRequestError. */
export function parseElectionRequest (bytes: Uint8Array): ElectionRequest {
  let x: unknown
  try { x = JSON.parse(dec.decode(bytes)) } catch { throw new BadRequestError('request is not JSON') }
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

/** Checks a reply from the network; anything unexpected is a failed request. */
function parseReply (bytes: Uint8Array): ElectionReply {
  const x = JSON.parse(dec.decode(bytes)) as unknown
  if (!isObj(x)) throw new Error('malformed reply')
  if (typeof x.refused === 'string') return { refused: x.refused.slice(0, 1000) }
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
  answer: (from: PeerName, req: ElectionRequest) => Promise<ElectionReply>
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
      const req = parseElectionRequest(await stream.read({ timeoutMs: 10_000 }))
      await stream.write(enc.encode(JSON.stringify(await this.deps.answer(stream.peer, req))))
      await stream.close()
    } catch (err) {
      this.log.warn(`election request from ${stream.peer} failed: ${(err as Error).message}`)
      stream.abort(err as Error)
    }
  }

  async ask (peer: PeerName, req: ElectionRequest, timeoutMs: number): Promise<ElectionReply> {
    const stream = await this.deps.transport.openStream(peer, CONSENSUS_PROTOCOL_ID, { maxFrame: MAX_FRAME })
    try {
      await stream.write(enc.encode(JSON.stringify(req)))
      return parseReply(await stream.read({ timeoutMs }))
    } finally {
      await stream.close().catch(() => {})
    }
  }
}
