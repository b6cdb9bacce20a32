import type { CausalNode } from '../../crdt/causal/index.js'
import { decodeEvent, type SignedEvent } from '../../crdt/events/index.js'
import { changeEventBytes, LogError, messageChanges } from '../../crdt/log/index.js'
import type { OwnershipRing } from '../../crdt/ring/index.js'

/**
 * Finding equivocations (DESIGN.md §2.1, §2.5): two correctly signed events
 * with one (author, seq). Automerge refuses the second change of an
 * (actor, seq) and fails the whole message, losing the evidence, so a sync
 * message's changes are looked at before it is received; and a peer that
 * hangs up over one offers both events in its BYE, so the other side can
 * check them itself (the only way a cloned peer's rival event reaches a
 * peer when the clone is the one that noticed).
 */
export interface Equivocation {
  /** The event we hold. */
  held: CausalNode
  /** Its rival: same author and seq, another id; signature verified. */
  rival: SignedEvent
}

export class EquivocationCheckError extends Error {
  override name = 'EquivocationCheckError'
  readonly code: 'bad-message' | 'bad-event'
  constructor (code: 'bad-message' | 'bad-event', message: string) {
    super(message)
    this.code = code
  }
}

/** At most this many evidence events are looked at per BYE. */
export const MAX_EVIDENCE = 4

/**
 * The first event of `candidates` (id + bytes, unverified) that reuses the
 * seq of one we hold. Undecodable candidates are skipped (the copy's
 * validation names them); the rival's signature is verified before it
 * counts: a forged "rival" is a bad event, not evidence.
 */
function firstRival (ring: OwnershipRing, candidates: Iterable<{ id: string, bytes: Uint8Array }>): Equivocation | undefined {
  for (const c of candidates) {
    if (ring.has(c.id)) continue
    let e: SignedEvent
    try {
      e = decodeEvent(c.bytes, { verifier: null, expectedId: c.id })
    } catch {
      continue
    }
    if (e.event.kind === 'genesis') continue
    const idx = ring.causal.peerIndexOf(e.event.author)
    const held = idx === undefined ? undefined : ring.causal.bySeq(idx, e.event.seq)
    if (held === undefined || held.id === e.id) continue
    try {
      return { held, rival: decodeEvent(c.bytes, { expectedId: c.id }) }
    } catch (err) {
      throw new EquivocationCheckError('bad-event', (err as Error).message)
    }
  }
  return undefined
}

/** An equivocation among a sync message's (change-chunk) changes, if any. */
export function equivocationInMessage (ring: OwnershipRing, message: Uint8Array): Equivocation | undefined {
  let changes: ReturnType<typeof messageChanges>
  try {
    changes = messageChanges(message)
  } catch (err) {
    throw new EquivocationCheckError('bad-message', err instanceof LogError ? err.message : String(err))
  }
  function * events (): Generator<{ id: string, bytes: Uint8Array }> {
    for (const change of changes) {
      const eb = changeEventBytes(change)
      if (eb !== undefined) yield eb
    }
  }
  return firstRival(ring, events())
}

/** An equivocation proved by event bytes a peer offered in its BYE, if they prove one. */
export function equivocationInEvidence (ring: OwnershipRing, evidence: Uint8Array[]): Equivocation | undefined {
  const candidates: Array<{ id: string, bytes: Uint8Array }> = []
  for (const bytes of evidence.slice(0, MAX_EVIDENCE)) {
    try {
      candidates.push({ id: decodeEvent(bytes, { verifier: null }).id, bytes })
    } catch {}
  }
  try {
    return firstRival(ring, candidates)
  } catch {
    return undefined // a forged rival in a BYE proves nothing; the peer is gone anyway
  }
}
