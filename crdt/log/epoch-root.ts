import type { PeerName } from '../events/index.js'
import { automerge } from './automerge-raw.js'
import { LogError } from './errors.js'
import { SKELETON_BYTES } from './skeleton.js'

/**
 * Where an epoch's document starts (DESIGN.md §2.6, docs/epochs.md). After
 * checkpoint N is final, the live document holds only the events outside
 * its cut H_N, on the skeleton plus one root change that stands for H_N:
 *
 * - the root change is a function of the checkpoint's key (actor = its
 *   first 16 bytes, seq 1, deps the skeleton, one put of the key's bytes under
 *   `epoch` in the root map), so every member builds the same one;
 * - an event's Automerge seq counts from the cut: event seq minus its
 *   author's seq at the cut (Automerge numbers each actor's changes from 1
 *   in every document);
 * - an event's change depends on the changes of its deps that the document
 *   holds, or on the root change when it holds none of them (its view's
 *   part outside the cut is empty). That is exactly what Automerge's commit
 *   gives its author: the document's heads in the author's view.
 */
export interface EpochRoot {
  /** The final checkpoint's key (`checkpointKey`): names the document. */
  readonly key: string
  /** Each author's seq at the cut; absent authors had none. */
  readonly seqBase: ReadonlyMap<PeerName, number>
}

const rootChanges = new Map<string, { bytes: Uint8Array, hash: string }>()

/** The root change of an epoch's document, and its hash. */
export function epochRootChange (root: EpochRoot): { bytes: Uint8Array, hash: string } {
  if (!/^[0-9a-f]{64}$/.test(root.key)) throw new LogError('bad-append', `epoch key "${root.key}" is not a 64-character hex digest`)
  let found = rootChanges.get(root.key)
  if (found !== undefined) return found
  const doc = automerge.load(SKELETON_BYTES, { actor: root.key.slice(0, 32) })
  try {
    doc.put('_root', 'epoch', new Uint8Array(Buffer.from(root.key, 'hex')))
    const hash = doc.commit(null, 0)
    if (hash === null) throw new LogError('bad-append', 'the epoch root change was empty')
    found = { bytes: doc.getChangeByHash(hash)!, hash }
  } finally {
    doc.free()
  }
  if (rootChanges.size > 64) rootChanges.clear()
  rootChanges.set(root.key, found)
  return found
}

/** An author's seq at the cut of `root` (0 without an epoch). */
export function seqBaseOf (root: EpochRoot | undefined, author: PeerName): number {
  return root?.seqBase.get(author) ?? 0
}
