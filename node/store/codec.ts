import { checkShape, ShapeError, type Shape } from '../shape.js'
import { StoreError } from './errors.js'
import { eventHeaderShape } from './shapes.js'
import type { StoredEvent } from './types.js'

/**
 * Value encodings. Every sub-database stores bytes; structured values are JSON
 * text, so another process (or a future version) reads them without sharing
 * msgpack record structures, and a snapshot round-trips exactly.
 */

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder('utf-8', { fatal: true })

/** A plain Uint8Array view over lmdb-js's Buffer (which is a fresh copy per read). */
export function bytesOf (b: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(b) === Uint8Array.prototype ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

/**
 * A copy of the caller's bytes: a write's body runs when lmdb-js executes the
 * batch (a later turn), and the caller may reuse its buffer before that.
 */
export function copyOf (b: Uint8Array): Buffer {
  return Buffer.from(b)
}

export function encodeJson (value: unknown, what = 'value'): Buffer {
  return Buffer.from(jsonText(value, what), 'utf8')
}

/** A JSON record, checked against its shape: StoreError('corrupt') naming it when it does not decode or fit. */
export function decodeJson<T> (bytes: Uint8Array | undefined, what: string, shape: Shape<T>): T | undefined {
  if (bytes === undefined) return undefined
  let value: unknown
  try {
    value = JSON.parse(fromUtf8.decode(bytes))
  } catch (err) {
    throw new StoreError('corrupt', `the store's ${what} record does not decode: ${(err as Error).message}`, { cause: err })
  }
  try {
    return checkShape(value, shape)
  } catch (err) {
    if (!(err instanceof ShapeError)) throw err
    throw new StoreError('corrupt', `the store's ${what} record is malformed (${err.message})`, { cause: err })
  }
}

/** For records whose reader checks them itself (acceptor states). */
export const anyJson: Shape<unknown> = x => x

/** Text that is already JSON, spliced into a larger record without re-serialising. */
export function jsonText (value: unknown, what: string): string {
  const text = JSON.stringify(value)
  if (text === undefined) throw new TypeError(`${what} is not JSON-serialisable`)
  return text
}

// An event value: [version 1][u32 BE header length][header JSON][event bytes].
const EVENT_VALUE_VERSION = 1

interface EventHeader { l: number, t: number, k: string, a?: string }

export function encodeEvent (e: StoredEvent): Buffer {
  const header: EventHeader = { l: e.lamport, t: e.time, k: e.kind }
  if (e.author !== undefined) header.a = e.author
  const h = utf8.encode(JSON.stringify(header))
  const out = Buffer.allocUnsafe(5 + h.length + e.bytes.length)
  out[0] = EVENT_VALUE_VERSION
  out.writeUInt32BE(h.length, 1)
  out.set(h, 5)
  out.set(e.bytes, 5 + h.length)
  return out
}

export function decodeEvent (id: string, value: Uint8Array): StoredEvent {
  const v = bytesOf(value)
  if (v.length < 5 || v[0] !== EVENT_VALUE_VERSION) throw new StoreError('corrupt', `the store's record of event ${id} does not decode`)
  const len = new DataView(v.buffer, v.byteOffset, v.byteLength).getUint32(1)
  if (5 + len > v.length) throw new StoreError('corrupt', `the store's record of event ${id} does not decode`)
  const header: EventHeader = decodeJson(v.subarray(5, 5 + len), `event ${id}`, eventHeaderShape)!
  const e: StoredEvent = { id, bytes: v.subarray(5 + len), lamport: header.l, time: header.t, kind: header.k }
  if (header.a !== undefined) e.author = header.a
  return e
}

/** The event bytes of a record, its header skipped unread. */
export function eventBytesOf (id: string, value: Uint8Array): Uint8Array {
  const v = bytesOf(value)
  if (v.length < 5 || v[0] !== EVENT_VALUE_VERSION) throw new StoreError('corrupt', `the store's record of event ${id} does not decode`)
  const len = new DataView(v.buffer, v.byteOffset, v.byteLength).getUint32(1)
  if (5 + len > v.length) throw new StoreError('corrupt', `the store's record of event ${id} does not decode`)
  return v.subarray(5 + len)
}

/** Lamports key the topological index, so they must order exactly: non-negative safe integers. */
export function checkLamport (e: StoredEvent): void {
  if (!Number.isSafeInteger(e.lamport) || e.lamport < 0) throw new RangeError(`event ${e.id}: lamport ${e.lamport} is not a non-negative integer`)
}
