import { createHash } from 'node:crypto'
import { isQuarantined, type Forks } from '../causal/forks.js'
import { decodeEvent, EventError, peerNameToBytes, type PeerName, type SignedEvent, type Verifier } from '../events/index.js'
import type { ChangeMeta, DecodedChange } from './automerge-raw.js'
import { seqBaseOf, type EpochRoot } from './epoch-root.js'
import { LogError } from './errors.js'
import { bucketOf, SKELETON_CHANGE_HASH } from './skeleton.js'

/**
 * The binding between an event and its Automerge change (DESIGN.md §2.5).
 * Each event is exactly one change that is a function of the event, so no
 * relay can forge an author's change or make two changes collide:
 * actor = first 16 bytes of sha-256(author) (genesis: of its id), Automerge
 * seq = event seq (genesis: 1), time 0, no message, change deps = the
 * changes of the event's deps (genesis: the skeleton) plus, as Automerge
 * always adds it, the author's previous change, and exactly one `set`
 * with no predecessors into bucket id[0..2] under key id, whose value hashes
 * to the id.
 *
 * A quarantined event (its author forked: crdt/causal/forks.ts) has an
 * actor of its own instead, like the genesis: actor = first 16 bytes of its
 * id, seq 1, deps exactly the changes of its deps. Both sides of a fork can
 * then live in one document, which Automerge refuses for one (actor, seq).
 */

export function actorFor (author: PeerName): string {
  return createHash('sha256').update(peerNameToBytes(author)).digest('hex').slice(0, 32)
}

export function genesisActor (id: string): string {
  return id.slice(0, 32)
}

export interface ChangeContext {
  /** The event id held in the change with this hash (in the document or the same batch). */
  eventIdOf: (changeHash: string) => string | undefined
  /** The author and seq of the event held in that change (decoded, not verified). */
  authorSeqOf: (changeHash: string) => { author: string, seq: number } | undefined
  /** Metadata of a dep change, for the startOp rule. */
  metaOf: (changeHash: string) => Pick<ChangeMeta, 'maxOp'> | undefined
  verifier: Verifier | null
  /** The forks the receiving document is written under. */
  forks: Forks
  /**
   * An epoch's document (epoch-root.ts): its root change's hash, seqs
   * counted from the cut, and whether the document (or the batch) holds an
   * event; deps it does not hold are the cut's, stood for by the root.
   */
  epoch?: { root: EpochRoot, hash: string, holds: (id: string) => boolean }
}

/** The actor and Automerge seq an event's change must have under `forks` (in an epoch's document: seqs from its cut). */
export function changeIdentity (signed: SignedEvent, forks: Forks, root?: EpochRoot): { actor: string, seq: number, ownActor: boolean } {
  const e = signed.event
  if (e.kind === 'genesis') return { actor: genesisActor(signed.id), seq: 1, ownActor: true }
  if (isQuarantined(forks, e.author, e.seq)) return { actor: genesisActor(signed.id), seq: 1, ownActor: true }
  return { actor: actorFor(e.author), seq: e.seq - seqBaseOf(root, e.author), ownActor: false }
}

function bad (change: DecodedChange, why: string): LogError {
  return new LogError('bad-change', `change ${change.hash}: ${why}`)
}

/** Checks one decoded change and returns its event, decoded (and verified unless verifier is null). */
export function checkChange (change: DecodedChange, ctx: ChangeContext): SignedEvent {
  if (change.ops.length !== 1) throw bad(change, `has ${change.ops.length} ops, expected exactly one`)
  const op = change.ops[0]!
  if (op.action !== 'set' || op.pred.length !== 0 || op.insert === true) throw bad(change, 'its op is not a single set without predecessors')
  if (!/^[0-9a-f]{64}$/.test(op.key)) throw bad(change, `key "${op.key}" is not an event id`)
  if (op.obj !== bucketOf(op.key)) throw bad(change, `puts ${op.key} outside its bucket`)
  if (!Array.isArray(op.value) || op.datatype !== undefined) throw bad(change, 'its value is not bytes')
  const bytes = Uint8Array.from(op.value as number[])
  let signed: SignedEvent
  try {
    signed = decodeEvent(bytes, { verifier: ctx.verifier, expectedId: op.key })
  } catch (err) {
    if (err instanceof EventError) throw new LogError('bad-event', `change ${change.hash}: event ${op.key}: ${err.message}`)
    throw err
  }
  if (change.time !== 0) throw bad(change, 'has a time')
  if (change.message !== null && change.message !== '') throw bad(change, 'has a message')
  const e = signed.event
  const epoch = ctx.epoch
  if (epoch !== undefined && e.kind === 'genesis') throw bad(change, 'an epoch\'s document holds no genesis')
  const expected = changeIdentity(signed, ctx.forks, epoch?.root)
  if (expected.seq < 1) throw bad(change, `event seq ${(e as { seq: number }).seq} is at or below its author's seq at the epoch's cut`)
  if (change.actor !== expected.actor) {
    throw bad(change, expected.ownActor && e.kind !== 'genesis'
      ? `actor ${change.actor} is its author's, but the author forked at seq ${ctx.forks.get(e.author)}: its events from there have actors of their own`
      : `actor ${change.actor} does not belong to the event's author`)
  }
  if (change.seq !== expected.seq) throw bad(change, `Automerge seq ${change.seq} is not the event's seq ${expected.seq}`)
  const depIds = new Set<string>()
  let maxOp = 0
  let onRoot = false
  for (const h of change.deps) {
    const meta = ctx.metaOf(h)
    if (meta === undefined) throw bad(change, `dep ${h} is unknown`)
    if (meta.maxOp > maxOp) maxOp = meta.maxOp
    if (h === SKELETON_CHANGE_HASH) continue
    if (h === epoch?.hash) { onRoot = true; continue }
    const id = ctx.eventIdOf(h)
    if (id === undefined) throw bad(change, `dep ${h} holds no event`)
    depIds.add(id)
  }
  if (epoch !== undefined) {
    checkEpochDeps(change, e as Exclude<typeof e, { kind: 'genesis' }>, expected.ownActor, depIds, onRoot, epoch.holds, ctx)
  } else if (e.kind === 'genesis') {
    if (change.deps.length !== 1 || change.deps[0] !== SKELETON_CHANGE_HASH) throw bad(change, 'a genesis change depends on the skeleton only')
  } else if (expected.ownActor) {
    const want = new Set(e.deps)
    if (change.deps.includes(SKELETON_CHANGE_HASH) || depIds.size !== want.size || [...want].some(d => !depIds.has(d)) || change.deps.length !== want.size) {
      throw bad(change, 'its deps are not the changes of the event\'s deps')
    }
  } else {
    // Automerge always adds the actor's own previous change to a new
    // change's deps, even when it is not a head. So the deps are exactly the
    // changes of the event's deps, plus possibly the author's event seq - 1.
    const want = new Set(e.deps)
    const missing = [...want].filter(d => !depIds.has(d))
    const extra = change.deps.filter(h => h !== SKELETON_CHANGE_HASH && !want.has(ctx.eventIdOf(h)!))
    const extraOk = extra.length === 0 || (extra.length === 1 && (() => {
      const prev = ctx.authorSeqOf(extra[0]!)
      return prev !== undefined && prev.author === e.author && prev.seq === e.seq - 1
    })())
    if (change.deps.includes(SKELETON_CHANGE_HASH) || missing.length > 0 || !extraOk) {
      throw bad(change, 'its deps are not the changes of the event\'s deps')
    }
  }
  // A relay could re-encode the same event with another startOp, making a
  // second change with the author's (actor, seq) and a false equivocation.
  if (change.startOp !== maxOp + 1) throw bad(change, `startOp ${change.startOp} is not ${maxOp + 1}`)
  return signed
}

/**
 * An epoch document's dep rule (epoch-root.ts): the changes of the deps it
 * holds, or the root alone when it holds none; an author's change may also
 * depend on its previous one, as Automerge adds it.
 */
function checkEpochDeps (
  change: DecodedChange, e: { author: string, seq: number, deps: readonly string[] }, ownActor: boolean,
  depIds: ReadonlySet<string>, onRoot: boolean, holds: (id: string) => boolean, ctx: ChangeContext
): void {
  const want = e.deps.filter(holds)
  const fail = (): never => { throw bad(change, 'its deps are not the changes of the event\'s deps in this epoch') }
  if (change.deps.includes(SKELETON_CHANGE_HASH)) fail()
  if (want.length === 0) {
    if (!onRoot || change.deps.length !== 1) fail()
    return
  }
  if (onRoot || want.some(d => !depIds.has(d))) fail()
  const extra = [...depIds].filter(id => !want.includes(id))
  if (extra.length === 0) return
  if (ownActor || extra.length > 1) fail()
  const prevHash = change.deps.find(h => ctx.eventIdOf(h) === extra[0])!
  const prev = ctx.authorSeqOf(prevHash)
  if (prev === undefined || prev.author !== e.author || prev.seq !== e.seq - 1) fail()
}
