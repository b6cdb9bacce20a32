import type { SignedEvent } from '../events/index.js'
import { automerge, type AutomergeDoc } from './automerge-raw.js'
import { rebaseChange } from './change-bytes.js'
import { LogError } from './errors.js'
import { bucketOf, SKELETON_BYTES } from './skeleton.js'

/**
 * The change that carries an event, built without the document it goes
 * into: its one put is committed in a scratch copy of the skeleton under
 * the right actor, then moved onto its deps and startOp (change-bytes.ts).
 * For an event of an unforked author this gives the very bytes its author's
 * commit gave (test/crdt/log-forks.test.ts checks it), so a document
 * rewritten from its events keeps every change hash but the ones it means
 * to change.
 */

let skeleton: AutomergeDoc | undefined

export function eventChange (signed: SignedEvent, actor: string, seq: number, deps: readonly string[], startOp: number): Uint8Array {
  skeleton ??= automerge.load(SKELETON_BYTES)
  const scratch = skeleton.clone(actor)
  try {
    scratch.put(bucketOf(signed.id), signed.id, signed.bytes)
    const hash = scratch.commit(null, 0)
    if (hash === null) throw new LogError('bad-append', 'the scratch commit made no change')
    return rebaseChange(scratch.getChangeByHash(hash)!, deps, startOp, seq)
  } finally {
    scratch.free()
  }
}
