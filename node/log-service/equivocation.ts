import { forkInConflict, isQuarantined } from '../../crdt/causal/index.js'
import { decodeEvent, type SignedEvent } from '../../crdt/events/index.js'
import { changeEventBytes, LogError, messageChanges } from '../../crdt/log/index.js'
import type { OwnershipRing } from '../../crdt/ring/index.js'

/**
 * Finding forks (equivocations, DESIGN.md §2.1, §2.7): two correctly signed
 * events with one (author, seq) that the fold does not quarantine yet.
 * They turn up in a sync message's changes (looked at before it is
 * received: until we rewrite our document, Automerge would refuse the
 * second change of an (actor, seq)), in a conflict that carries both as
 * evidence, or in the BYE of a peer that hung up over one: the way a peer
 * whose document predates the fork learns of it from one that knows.
 */
export interface Equivocation {
  /** One side: held here, or carried beside the other. */
  held: SignedEvent
  /** The other side: same author and seq, another id; signature verified. */
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

function verified (c: { id: string, bytes: Uint8Array }): SignedEvent {
  try {
    return decodeEvent(c.bytes, { expectedId: c.id })
  } catch (err) {
    throw new EquivocationCheckError('bad-event', (err as Error).message)
  }
}

/**
 * The first fork that `candidates` (id + bytes, unverified) prove and the
 * fold does not quarantine: a candidate that reuses the seq of an event we
 * hold, two candidates with one author and seq, or a candidate conflict
 * carrying both sides. Undecodable candidates are skipped (the copy's
 * validation names them); the sides' signatures are verified before they
 * count: a forged "rival" is a bad event, not evidence.
 */
function firstRival (ring: OwnershipRing, candidates: Iterable<{ id: string, bytes: Uint8Array }>): Equivocation | undefined {
  const seen = new Map<string, { id: string, bytes: Uint8Array }>()
  for (const c of candidates) {
    let e: SignedEvent
    try {
      e = decodeEvent(c.bytes, { verifier: null, expectedId: c.id })
    } catch {
      continue
    }
    const ev = e.event
    const inConflict = forkInConflict(ev)
    if (inConflict !== undefined && !isQuarantined(ring.forks, inConflict.author, inConflict.seq) && ev.kind === 'conflict') {
      const [a, b] = ev.body.evidence.slice(0, 2).map(bytes => verified({ id: decodeEvent(bytes, { verifier: null }).id, bytes }))
      return { held: a!, rival: b! }
    }
    if (ev.kind === 'genesis' || ev.kind === 'future' || ring.has(c.id) || isQuarantined(ring.forks, ev.author, ev.seq)) continue
    const idx = ring.causal.peerIndexOf(ev.author)
    // An author our log has never named proves nothing about our cluster.
    if (idx === undefined) continue
    const held = ring.causal.bySeq(idx, ev.seq)
    if (held !== undefined && held.id !== c.id) return { held: held.signed, rival: verified(c) }
    const key = `${ev.author}/${ev.seq}`
    const other = seen.get(key)
    if (other !== undefined && other.id !== c.id) return { held: verified(other), rival: verified(c) }
    seen.set(key, c)
  }
  return undefined
}

/** Both sides of the fork that quarantines `author`'s events, to send a peer that does not know it. */
export function forkEvidence (ring: OwnershipRing, author: string): Uint8Array[] | undefined {
  const seq = ring.forks.get(author)
  if (seq === undefined) return undefined
  for (const c of ring.state.conflicts) {
    const proof = forkInConflict(c.node.event)
    if (proof?.author === author && proof.seq === seq && c.node.event.kind === 'conflict') return c.node.event.body.evidence.slice(0, 2)
  }
  const sides = ring.causal.nodes.filter(n => n.event.kind !== 'genesis' && n.event.kind !== 'future' && n.event.author === author && n.seq === seq)
  return sides.length >= 2 ? sides.slice(0, 2).map(n => n.signed.bytes) : undefined
}

/**
 * The forked author of an event in `message` that the sender wrote under
 * its author's actor although our fold quarantines it: the sender has not
 * heard of the fork, and needs the evidence.
 */
export function staleForkIn (ring: OwnershipRing, message: Uint8Array): string | undefined {
  if (ring.forks.size === 0) return undefined
  let changes: ReturnType<typeof messageChanges>
  try {
    changes = messageChanges(message)
  } catch {
    return undefined
  }
  for (const change of changes) {
    const eb = changeEventBytes(change)
    if (eb === undefined) continue
    try {
      const ev = decodeEvent(eb.bytes, { verifier: null, expectedId: eb.id }).event
      if (ev.kind !== 'genesis' && ev.kind !== 'future' && isQuarantined(ring.forks, ev.author, ev.seq) && change.actor !== eb.id.slice(0, 32)) return ev.author
    } catch {}
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
