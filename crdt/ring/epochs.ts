import type { PeerName } from '../events/index.js'
import type { CheckpointSnapshot, RingSnapshot } from './snapshot.js'

/**
 * When a checkpoint is final (DESIGN.md §2.6, docs/epochs.md), as a pure
 * function of two snapshots: the fold at the checkpoint's cut (who was a
 * live member there) and the fold now (who has signed since, who has been
 * removed since: `rmpeer` of a down member unblocks its epoch).
 */

export interface Finality {
  readonly final: boolean
  /** Members live at the cut that have neither signed nor been removed since, sorted. */
  readonly waitingFor: readonly PeerName[]
}

/** The members live at a fold: joined (or seeds) and not removed. */
export function liveMembers (atCut: RingSnapshot): PeerName[] {
  return atCut.peers.filter(p => p.member && p.removed === undefined).map(p => p.name)
}

export function finality (proposal: CheckpointSnapshot, atCut: RingSnapshot, now: RingSnapshot): Finality {
  const signed = new Set(proposal.signers)
  const removedNow = new Set(now.peers.filter(p => p.removed !== undefined).map(p => p.name))
  const waitingFor = liveMembers(atCut).filter(name => !signed.has(name) && !removedNow.has(name))
  return { final: waitingFor.length === 0, waitingFor }
}

/**
 * Among the final proposals of one epoch, the one every replica bases the
 * next epoch on: the smallest key. (The fold is exact from any final cut;
 * the rule only makes replicas agree on which document they sync.)
 */
export function chooseFinal (finals: readonly CheckpointSnapshot[]): CheckpointSnapshot | undefined {
  let best: CheckpointSnapshot | undefined
  for (const p of finals) if (best === undefined || p.key < best.key) best = p
  return best
}
