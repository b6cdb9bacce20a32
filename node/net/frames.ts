import type { Hello } from '../log-service/types.js'
import { byeShape, decodeMessage, encodeMessage, helloShape, seenFrameShape, transferRefShape, type ByeMessage, type TransferRef } from '../messages.js'
import type { Shape } from '../shape.js'
import type { SeenReport } from './liveness.js'
import { printable } from '../../packages/printable/index.js'

/**
 * Frames on /weft/sync/1.0.0: length-prefixed, first byte the type.
 * HELLO and BYE carry small JSON; SYNC carries an Automerge sync message.
 * Everything read here is untrusted: a malformed frame is a protocol error
 * (the stream is closed), never a crash.
 */
export const SYNC_PROTOCOL_ID = '/weft/sync/1.0.0'

export const FRAME_HELLO = 1
export const FRAME_SYNC = 2
export const FRAME_BYE = 3
/** A sync message too big for one frame: it follows on /weft/snapshot/1.0.0. */
export const FRAME_SYNC_REF = 4
/** Every anti-entropy round: how long ago the sender saw each peer (protocol 1.1 on). */
export const FRAME_SEEN = 5
/** Protocol 1.2: send me your epoch (its base and live events); I am behind it, or joining. */
export const FRAME_EPOCH_REQ = 6
/** Protocol 1.2: the epoch asked for, on /weft/snapshot/1.0.0 like a big sync message (node/log-service/offer.ts). */
export const FRAME_EPOCH_REF = 7

/** HELLO and BYE are small; refuse anything bigger before parsing it. */
const MAX_JSON_FRAME = 256 * 1024

export class ProtocolError extends Error {
  override name = 'ProtocolError'
}

export type Frame =
  | { type: typeof FRAME_HELLO, hello: Hello }
  | { type: typeof FRAME_SYNC, message: Uint8Array }
  /** `evidence`: event bytes proving the reason (the two events of an equivocation). */
  | { type: typeof FRAME_BYE, code: string, message: string, evidence: Uint8Array[] }
  | { type: typeof FRAME_SYNC_REF, ref: TransferRef }
  | { type: typeof FRAME_SEEN, seen: SeenReport }
  | { type: typeof FRAME_EPOCH_REQ }
  | { type: typeof FRAME_EPOCH_REF, ref: TransferRef }


function withType (type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 1)
  out[0] = type
  out.set(payload, 1)
  return out
}

export function encodeHello (hello: Hello): Uint8Array { return withType(FRAME_HELLO, encodeMessage(hello)) }
export function encodeSync (message: Uint8Array): Uint8Array { return withType(FRAME_SYNC, message) }
export function encodeBye (code: string, message: string, evidence: Uint8Array[] = []): Uint8Array {
  const bye: ByeMessage = evidence.length > 0 ? { code, message, evidence: evidence.map(b => Buffer.from(b).toString('base64')) } : { code, message }
  return withType(FRAME_BYE, encodeMessage(bye))
}

export function encodeSeen (seen: SeenReport): Uint8Array { return withType(FRAME_SEEN, encodeMessage({ seen })) }

export function encodeSyncRef (ref: TransferRef): Uint8Array { return withType(FRAME_SYNC_REF, encodeMessage(ref)) }
export function encodeEpochRequest (): Uint8Array { return new Uint8Array([FRAME_EPOCH_REQ]) }
export function encodeEpochRef (ref: TransferRef): Uint8Array { return withType(FRAME_EPOCH_REF, encodeMessage(ref)) }

const protocolError = (why: string): Error => new ProtocolError(why)
const json = <T>(payload: Uint8Array, shape: Shape<T>, what: string): T => decodeMessage(payload, shape, what, MAX_JSON_FRAME, protocolError)

/**
 * The hello's texts that are shown (the nickname in `status connections`,
 * the range in refusals) with control characters escaped: whatever a remote
 * host chose must not reach a terminal or a log line raw (DESIGN.md §3.3).
 */
function escapeHello (hello: Hello): Hello {
  hello.peer.nickname = printable(hello.peer.nickname)
  if (hello.range !== undefined) hello.range = printable(hello.range)
  if (hello.init?.mode === 'consensus') hello.init.range = printable(hello.init.range)
  return hello
}

export function decodeFrame (bytes: Uint8Array): Frame {
  if (bytes.length === 0) throw new ProtocolError('empty frame')
  const type = bytes[0]
  const payload = bytes.subarray(1)
  switch (type) {
    case FRAME_HELLO: return { type, hello: escapeHello(json(payload, helloShape, 'hello')) }
    case FRAME_SYNC: return { type, message: payload }
    case FRAME_BYE: {
      const x = json(payload, byeShape, 'bye frame')
      // Shown in `status connections` and logged: escaped here, where it enters.
      const evidence = (x.evidence ?? []).map(item => new Uint8Array(Buffer.from(item, 'base64')))
      return { type, code: printable(x.code), message: printable(x.message.slice(0, 2000)), evidence }
    }
    case FRAME_SYNC_REF: return { type, ref: json(payload, transferRefShape, 'transfer reference') }
    case FRAME_SEEN: return { type, seen: json(payload, seenFrameShape, 'seen frame').seen }
    case FRAME_EPOCH_REQ:
      if (payload.length !== 0) throw new ProtocolError('an epoch request carries nothing')
      return { type }
    case FRAME_EPOCH_REF: return { type, ref: json(payload, transferRefShape, 'epoch transfer reference') }
    default: throw new ProtocolError(`unknown frame type ${String(type)}`)
  }
}
