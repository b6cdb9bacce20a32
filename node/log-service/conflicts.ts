import { formatCidr } from '../../packages/netaddr/index.js'
import type { ConflictBody, EventId, PeerName, SignedEvent } from '../../crdt/events/index.js'
import type { DisputeRecord, OwnershipRing } from '../../crdt/ring/index.js'
import type { Logger } from '../logger.js'
import type { RingViewJson } from '../ring-view.js'
import { equivocationInEvidence, equivocationInMessage, EquivocationCheckError, forkEvidence, staleForkIn, type Equivocation } from './equivocation.js'
import { AppendRefusedError, type AppendResult, type ClonedIdentity, type ReceiveOutcome } from './types.js'

/**
 * Recording what a receive turns up (DESIGN.md §2.5, §3): equivocations
 * (someone's identity signed two events with one seq, or ours did) and
 * disputes a batch would open with what we hold, each flagged once in a
 * signed `conflict` event. Functions of the log service's state and writer,
 * passed in as ConflictDeps; they run inside its serialised writer.
 */

export interface ConflictDeps {
  self: PeerName
  log: Logger
  now: () => number
  /** The fold, read when needed. */
  ring: () => OwnershipRing | undefined
  /** The current view, read when needed: each conflict appended updates it. */
  view: () => RingViewJson | undefined
  /** Appends a conflict we sign (already inside the serialised writer). */
  appendConflict: (body: ConflictBody, allowVoid: boolean) => Promise<AppendResult>
  /** Records, persistently, that our own identity was cloned. */
  markCloned: (cloned: ClonedIdentity) => Promise<void>
}

/** A peer as people know it: its nickname when the log has one, else its name. */
function who (deps: ConflictDeps, peer: PeerName | undefined): string {
  if (peer === undefined) return 'genesis'
  return deps.view()?.peers.find(p => p.name === peer)?.nickname ?? peer
}

function flaggedBySelf (deps: ConflictDeps, rivals: EventId[]): boolean {
  const key = rivals.join()
  return deps.ring()!.state.conflicts.some(c => c.node.event.kind === 'conflict' && c.node.event.author === deps.self && [...c.node.event.body.rivals].sort().join() === key)
}

/**
 * Two changes with one (author, seq) prove a cloned identity. Automerge
 * would refuse the message and lose the evidence, so look first
 * (DESIGN.md §2.5).
 */
export async function checkEquivocation (deps: ConflictDeps, peer: PeerName, message: Uint8Array): Promise<ReceiveOutcome | undefined> {
  const ring = deps.ring()
  if (ring === undefined) return undefined
  let found
  try {
    found = equivocationInMessage(ring, message)
  } catch (err) {
    if (err instanceof EquivocationCheckError) return { kind: 'rejected', reason: err.code, message: err.message, conflicts: [] }
    throw err
  }
  if (found !== undefined) return await onEquivocation(deps, peer, found)
  const stale = staleForkIn(ring, message)
  if (stale === undefined) return undefined
  // The sender wrote a forked author's event under that author's actor: it
  // has not heard of the fork. Hang up with the evidence, which it checks
  // and then rewrites its document as we did (DESIGN.md §2.7).
  return {
    kind: 'rejected',
    reason: 'equivocation',
    message: `${peer} has not heard that ${who(deps, stale)} (${stale}) forked at seq ${ring.forks.get(stale)}: sending it the evidence`,
    conflicts: [],
    evidence: forkEvidence(ring, stale) ?? []
  }
}

/** A peer hung up offering event bytes as evidence of an equivocation: flag it too when they prove one. */
export async function checkEvidence (deps: ConflictDeps, peer: PeerName, evidence: Uint8Array[]): Promise<ReceiveOutcome | undefined> {
  const ring = deps.ring()
  if (ring === undefined) return undefined
  const found = equivocationInEvidence(ring, evidence)
  return found === undefined ? undefined : await onEquivocation(deps, peer, found)
}

/**
 * Someone else's identity: record both events in a signed conflict (once),
 * gate the author. The conflict makes the fork part of our log, so the log
 * service refolds and rewrites the document with the author's events from
 * that seq quarantined (DESIGN.md §2.7), and the two sides' holders can
 * merge. Our own: this data dir or another was copied; we cannot
 * tell which is the original, and anything more we sign makes it worse, so
 * stop writing and syncing (persisted), and send the peer both events so
 * it flags and gates this identity in the rest of the cluster.
 */
async function onEquivocation (deps: ConflictDeps, peer: PeerName, { held, rival }: Equivocation): Promise<ReceiveOutcome> {
  const ev = rival.event
  if (ev.kind === 'genesis') throw new Error('a genesis cannot equivocate') // firstRival skips them
  const { author, seq } = ev
  const rivals = [held.id, rival.id].sort()
  const evidence = [held.bytes, rival.bytes]
  const message = `equivocation by ${author}: events ${held.id} and ${rival.id} share seq ${seq}`
  if (author === deps.self) {
    await deps.markCloned({ seq, ours: held.id, theirs: rival.id, supplier: peer, at: deps.now() })
    return { kind: 'rejected', reason: 'equivocation', message, conflicts: [], evidence }
  }
  const conflicts: EventId[] = []
  if (!flaggedBySelf(deps, rivals)) {
    try {
      const r = await deps.appendConflict({ reason: 'equivocation', rivals, overlap: [], supplier: peer, evidence }, true)
      conflicts.push(r.id)
    } catch (err) {
      // A read-only peer (newer event formats) signs nothing; it still gates the author.
      if (!(err instanceof AppendRefusedError)) throw err
      deps.log.warn(`could not record the equivocation by ${author}: ${err.message}`)
    }
  }
  deps.log.error(`equivocation: ${author} signed two events with seq ${seq} (${held.id} and ${rival.id}); supplied by ${peer}. Its identity was cloned or restored from a backup.`)
  return { kind: 'rejected', reason: 'equivocation', message, conflicts, gate: author, evidence }
}

/**
 * A batch from `supplier` would open `blocking` disputes with what we hold
 * (the batch already rolled back): flag them, and say what to run.
 */
export async function rejectDisputes (deps: ConflictDeps, blocking: DisputeRecord[], batch: SignedEvent[], supplier: PeerName): Promise<ReceiveOutcome> {
  const conflicts = await flagDisputes(deps, blocking, batch, supplier)
  const d = blocking[0]!
  return {
    kind: 'rejected',
    reason: 'dispute',
    message: `dispute ${d.id} over ${d.ranges.toCidrs().map(formatCidr).join(', ')}: ${d.parties.map(p => `${p.event.kind} by ${who(deps, p.event.kind === 'genesis' ? undefined : p.event.author)} (${p.id.slice(0, 12)})`).join(' vs ')}; run \`weft resolve ${d.id}\``,
    conflicts
  }
}

/** Appends one conflict per dispute, carrying the rivals we do not hold as evidence. */
async function flagDisputes (deps: ConflictDeps, disputes: DisputeRecord[], batch: SignedEvent[], supplier: PeerName): Promise<EventId[]> {
  const out: EventId[] = []
  const byId = new Map(batch.map(e => [e.id, e]))
  for (const d of disputes) {
    const rivals = d.parties.map(p => p.id).sort()
    const evidence = rivals.map(id => byId.get(id)?.bytes).filter((b): b is Uint8Array => b !== undefined)
    const desc = `dispute ${d.id} over ${d.ranges.toCidrs().map(formatCidr).join(', ')}: ${d.parties.map(p => `${p.id} (${p.event.kind} by ${p.event.kind === 'genesis' ? 'genesis' : `${who(deps, p.event.author)} ${p.event.author}`})`).join(' vs ')}; supplied by ${who(deps, supplier)} ${supplier}`
    deps.log.error(desc)
    if (flaggedBySelf(deps, rivals)) continue
    try {
      const r = await deps.appendConflict({ reason: 'dispute', rivals, overlap: d.ranges.toCidrs(), supplier, evidence }, false)
      out.push(r.id)
    } catch (err) {
      deps.log.warn(`could not record ${desc}: ${(err as Error).message}`)
    }
  }
  return out
}

/** The rival ids a conflict event names (so `weft resolve` accepts a conflict's id). */
export function rivalsOf (ring: OwnershipRing | undefined, id: EventId): EventId[] | undefined {
  const e = ring?.causal.get(id)?.event
  return e?.kind === 'conflict' ? [...e.body.rivals] : undefined
}
