import { automerge, type DecodedChange } from './automerge-raw.js'
import { LogError } from './errors.js'

/**
 * Looking inside a sync message before Automerge applies it. Automerge 3's
 * v2 sync messages put all changes in one blob: change chunks back to back,
 * or a whole document chunk when the peer needs more than a third of the
 * history (reference/automerge-log-spike.md §5). We need the change chunks
 * to catch equivocation: Automerge refuses a second change with a known
 * (actor, seq) and fails the whole message, losing the evidence.
 */

const MAGIC = [0x85, 0x6f, 0x4a, 0x83] as const
export const CHUNK_DOCUMENT = 0
export const CHUNK_CHANGE = 1
export const CHUNK_DEFLATED_CHANGE = 2

export interface Chunk { type: number, bytes: Uint8Array }

export function splitChunks (blob: Uint8Array): Chunk[] {
  const out: Chunk[] = []
  let i = 0
  while (i < blob.length) {
    for (let k = 0; k < 4; k++) if (blob[i + k] !== MAGIC[k]) throw new LogError('bad-message', 'sync message holds bytes that are not an Automerge chunk')
    const type = blob[i + 8]
    if (type === undefined) throw new LogError('bad-message', 'truncated Automerge chunk')
    let p = i + 9
    let len = 0
    let mul = 1
    let b: number | undefined
    do {
      b = blob[p++]
      if (b === undefined || mul > 2 ** 35) throw new LogError('bad-message', 'truncated Automerge chunk length')
      len += (b & 0x7f) * mul
      mul *= 128
    } while ((b & 0x80) !== 0)
    if (p + len > blob.length) throw new LogError('bad-message', 'Automerge chunk runs past the end of the message')
    out.push({ type, bytes: blob.subarray(i, p + len) })
    i = p + len
  }
  return out
}

/**
 * The changes a sync message carries as change chunks, decoded. Document
 * chunks are skipped (a whole history for a joiner): their changes are
 * validated after receiving into a copy like any other.
 */
export function messageChanges (message: Uint8Array): DecodedChange[] {
  let decoded
  try {
    decoded = automerge.decodeSyncMessage(message)
  } catch (err) {
    throw new LogError('bad-message', `not an Automerge sync message: ${(err as Error).message}`)
  }
  const out: DecodedChange[] = []
  for (const blob of decoded.changes) {
    for (const chunk of splitChunks(blob)) {
      if (chunk.type !== CHUNK_CHANGE && chunk.type !== CHUNK_DEFLATED_CHANGE) continue
      try {
        out.push(automerge.decodeChange(chunk.bytes))
      } catch (err) {
        throw new LogError('bad-message', `undecodable change: ${(err as Error).message}`)
      }
    }
  }
  return out
}

/** The event bytes a decoded change puts, if it has the shape of an event change. */
export function changeEventBytes (change: DecodedChange): { id: string, bytes: Uint8Array } | undefined {
  const op = change.ops[0]
  if (change.ops.length !== 1 || op === undefined || op.action !== 'set' || !Array.isArray(op.value)) return undefined
  return { id: op.key, bytes: Uint8Array.from(op.value as number[]) }
}
