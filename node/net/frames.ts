import type { Hello } from '../log-service/types.js'
import { MAX_SEEN_REPORT, type SeenReport } from './liveness.js'
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
  | { type: typeof FRAME_SYNC_REF, ref: unknown }
  | { type: typeof FRAME_SEEN, seen: SeenReport }

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

function withType (type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 1)
  out[0] = type
  out.set(payload, 1)
  return out
}

export function encodeHello (hello: Hello): Uint8Array { return withType(FRAME_HELLO, encoder.encode(JSON.stringify(hello))) }
export function encodeSync (message: Uint8Array): Uint8Array { return withType(FRAME_SYNC, message) }
export function encodeBye (code: string, message: string, evidence: Uint8Array[] = []): Uint8Array {
  const bye = evidence.length > 0 ? { code, message, evidence: evidence.map(b => Buffer.from(b).toString('base64')) } : { code, message }
  return withType(FRAME_BYE, encoder.encode(JSON.stringify(bye)))
}

/** Evidence in a BYE: a few events, each at most this big (events are a few hundred bytes). */
const MAX_EVIDENCE_ITEMS = 4
const MAX_EVIDENCE_BYTES = 48 * 1024

function checkEvidence (x: unknown): Uint8Array[] {
  if (x === undefined) return []
  if (!Array.isArray(x) || x.length > MAX_EVIDENCE_ITEMS) throw new ProtocolError('bad bye frame: evidence')
  return x.map(item => {
    if (typeof item !== 'string' || item.length > MAX_EVIDENCE_BYTES * 4 / 3 + 4 || !/^[A-Za-z0-9+/]*={0,2}$/.test(item)) {
      throw new ProtocolError('bad bye frame: evidence')
    }
    return new Uint8Array(Buffer.from(item, 'base64'))
  })
}
export function encodeSeen (seen: SeenReport): Uint8Array { return withType(FRAME_SEEN, encoder.encode(JSON.stringify({ seen }))) }

/** A list of [peer name, age in ms]. */
function checkSeen (x: unknown): SeenReport {
  if (!Array.isArray(x) || x.length > MAX_SEEN_REPORT) throw new ProtocolError('bad seen list')
  for (const e of x as unknown[]) {
    if (!Array.isArray(e) || e.length !== 2 || !isStr(e[0]) || !Number.isSafeInteger(e[1]) || (e[1] as number) < 0) throw new ProtocolError('bad seen list')
  }
  return x as SeenReport
}

export function encodeSyncRef (ref: unknown): Uint8Array { return withType(FRAME_SYNC_REF, encoder.encode(JSON.stringify(ref))) }

function parseJson (payload: Uint8Array, what: string): unknown {
  if (payload.length > MAX_JSON_FRAME) throw new ProtocolError(`${what} frame of ${payload.length} bytes is too large`)
  try {
    return JSON.parse(decoder.decode(payload))
  } catch {
    throw new ProtocolError(`${what} frame is not JSON`)
  }
}

const isStr = (x: unknown): x is string => typeof x === 'string' && x.length <= 512
const isStrList = (x: unknown, max: number): x is string[] => Array.isArray(x) && x.length <= max && x.every(isStr)
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)

function checkInit (x: unknown, bad: (why: string) => never): void {
  if (!isObj(x)) bad('init')
  const i = x as Record<string, unknown>
  if (i.mode === 'consensus') {
    if (!Number.isSafeInteger(i.n) || (i.n as number) < 1 || !isStr(i.range)) bad('init')
  } else if (i.mode === 'seed') {
    if (!isStr(i.cluster) || !/^[0-9a-f]{64}$/.test(i.cluster)) bad('init')
  } else if (i.mode !== 'observer' && i.mode !== 'founder') bad('init')
}

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

function checkHello (x: unknown): Hello {
  const bad = (why: string): never => { throw new ProtocolError(`bad hello: ${why}`) }
  if (!isObj(x)) return bad('not an object')
  if (x.cluster !== undefined && !(isStr(x.cluster) && /^[0-9a-f]{64}$/.test(x.cluster))) bad('cluster')
  if (x.range !== undefined && !isStr(x.range)) bad('range')
  const p = x.protocol
  if (!isObj(p) || !Number.isSafeInteger(p.major) || !Number.isSafeInteger(p.minor)) bad('protocol')
  if (!Number.isSafeInteger(x.eventFormat)) bad('eventFormat')
  const peer = x.peer
  if (!isObj(peer) || !isStr(peer.name) || !isStr(peer.nickname)) bad('peer')
  if (!Array.isArray(x.disputes) || x.disputes.length > 1024) bad('disputes')
  for (const d of x.disputes as unknown[]) {
    if (!isObj(d) || !isStr(d.id) || !isStrList(d.held, 64)) bad('disputes')
  }
  if (!isStrList(x.resolved, 4096)) bad('resolved')
  if (x.seen !== undefined) checkSeen(x.seen)
  if (x.init !== undefined) checkInit(x.init, bad)
  return x as unknown as Hello
}

export function decodeFrame (bytes: Uint8Array): Frame {
  if (bytes.length === 0) throw new ProtocolError('empty frame')
  const type = bytes[0]
  const payload = bytes.subarray(1)
  switch (type) {
    case FRAME_HELLO: return { type, hello: escapeHello(checkHello(parseJson(payload, 'hello'))) }
    case FRAME_SYNC: return { type, message: payload }
    case FRAME_BYE: {
      const x = parseJson(payload, 'bye')
      if (!isObj(x) || !isStr(x.code) || typeof x.message !== 'string') throw new ProtocolError('bad bye frame')
      // Shown in `status connections` and logged: escaped here, where it enters.
      return { type, code: printable(x.code), message: printable(x.message.slice(0, 2000)), evidence: checkEvidence(x.evidence) }
    }
    case FRAME_SYNC_REF: return { type, ref: parseJson(payload, 'transfer reference') }
    case FRAME_SEEN: {
      const x = parseJson(payload, 'seen')
      if (!isObj(x)) throw new ProtocolError('bad seen frame')
      return { type, seen: checkSeen(x.seen) }
    }
    default: throw new ProtocolError(`unknown frame type ${String(type)}`)
  }
}
