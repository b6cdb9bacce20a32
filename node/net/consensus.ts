import type { PeerName } from '../../crdt/events/index.js'
import { printable } from '../../packages/printable/index.js'
import type { ElectionReply, ElectionRequest, ElectionWire } from '../consensus/election.js'
import type { TakeoverVoteReply, TakeoverVoteRequest } from '../consensus/takeover.js'
import { consensusRequestShape, decodeMessage, electionReplyShape, encodeMessage, takeoverReplyShape, type ConsensusRequest } from '../messages.js'
import type { Logger } from '../logger.js'
import type { FrameStream, Transport } from './transport.js'

/**
 * /weft/consensus/1.0.0 (DESIGN.md §3.1, §3.2): one request and its reply
 * per stream, JSON, checked before use: the bootstrap election's, and the
 * takeover votes'. Whoever answers is given by the daemon.
 */
export const CONSENSUS_PROTOCOL_ID = '/weft/consensus/1.0.0'
const MAX_FRAME = 256 * 1024

class BadRequestError extends Error {
  override name = 'BadRequestError'
}

export type { ConsensusRequest }
export type ConsensusReply = ElectionReply | TakeoverVoteReply

/** Checks a request from the network (node/messages.ts); throws BadRequestError. */
export function parseConsensusRequest (bytes: Uint8Array): ConsensusRequest {
  return decodeMessage(bytes, consensusRequestShape, 'consensus request', MAX_FRAME, why => new BadRequestError(why))
}

/** A refusal's text is shown: escaped, and cut to a line. */
function escaped<R extends object> (reply: R): R {
  return 'refused' in reply && typeof reply.refused === 'string' ? { ...reply, refused: printable(reply.refused.slice(0, 1000)) } : reply
}

/** Checks a reply from the network; anything unexpected is a failed request. */
function parseReply (bytes: Uint8Array): ElectionReply {
  return escaped(decodeMessage(bytes, electionReplyShape, 'election reply', MAX_FRAME, why => new Error(why)))
}

function parseTakeoverReply (bytes: Uint8Array): TakeoverVoteReply {
  return escaped(decodeMessage(bytes, takeoverReplyShape, 'takeover vote reply', MAX_FRAME, why => new Error(why)))
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
      await stream.write(encodeMessage(await this.deps.answer(stream.peer, req)))
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
      await stream.write(encodeMessage(req))
      return await stream.read({ timeoutMs })
    } finally {
      await stream.close().catch(() => {})
    }
  }
}
