import { createHash } from 'node:crypto'
import { concat } from 'uint8arrays/concat'
import { LogError } from './errors.js'

/**
 * Rewrites the header of an Automerge change chunk (the binary format of
 * automerge.org's spec: magic, checksum, type 1, uLEB length, then deps,
 * actor, seq, startOp, time, message, other actors, op columns).
 *
 * Why: since events have their own Automerge actor (DESIGN.md §2.7), an
 * event's change has deps that are not the document's heads and a startOp
 * that Automerge would not pick for a scratch document. Automerge's
 * `encodeChange` takes JSON, which cannot carry bytes values, so the log
 * commits the put in a scratch document and moves the result onto the right
 * deps and startOp here. The op columns do not depend on either, so they
 * are copied as they are; the checksum and hash are recomputed.
 */

const MAGIC = [0x85, 0x6f, 0x4a, 0x83]
const CHUNK_CHANGE = 1
const HASH_BYTES = 32

function readUleb (bytes: Uint8Array, at: number): [value: number, next: number] {
  let value = 0
  let shift = 0
  for (let i = at; i < bytes.length && i < at + 8; i++) {
    const b = bytes[i]!
    value += (b & 0x7f) * 2 ** shift
    if ((b & 0x80) === 0) return [value, i + 1]
    shift += 7
  }
  throw new LogError('bad-change', 'truncated LEB128 number in a change header')
}

function uleb (value: number): Uint8Array {
  const out: number[] = []
  let v = value
  do {
    let b = v % 128
    v = Math.floor(v / 128)
    if (v > 0) b |= 0x80
    out.push(b)
  } while (v > 0)
  return Uint8Array.from(out)
}

function hexToBytes (hex: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new LogError('bad-change', `"${hex}" is not a change hash`)
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}

/** A change identical to `template` but with these deps (sorted here) and this startOp. */
export function rebaseChange (template: Uint8Array, deps: readonly string[], startOp: number, seq?: number): Uint8Array {
  if (MAGIC.some((m, i) => template[i] !== m) || template[8] !== CHUNK_CHANGE) {
    throw new LogError('bad-change', 'template is not an uncompressed Automerge change')
  }
  const [length, bodyAt] = readUleb(template, 9)
  if (bodyAt + length !== template.length) throw new LogError('bad-change', 'template change has a wrong length')
  let at = bodyAt
  const [depCount, afterCount] = readUleb(template, at)
  at = afterCount + depCount * HASH_BYTES
  const [actorLength, actorAt] = readUleb(template, at)
  const actorEnd = actorAt + actorLength
  const [oldSeq, seqEnd] = readUleb(template, actorEnd)
  const [, startOpEnd] = readUleb(template, seqEnd)
  const sorted = [...deps].sort()
  const body = concat([
    uleb(sorted.length),
    ...sorted.map(hexToBytes),
    template.subarray(at, actorEnd), // actor
    uleb(seq ?? oldSeq),
    uleb(startOp),
    template.subarray(startOpEnd) // time, message, other actors, op columns, extra
  ])
  const typed = concat([Uint8Array.of(CHUNK_CHANGE), uleb(body.length), body])
  const hash = createHash('sha256').update(typed).digest()
  return concat([Uint8Array.from(MAGIC), hash.subarray(0, 4), typed])
}
