import { decodeEvent, type EventId, type PeerName, type SignedEvent, type WeftEvent } from '../events/index.js'

/**
 * Forks: authors proved to have signed two events with one seq (a cloned
 * data dir, or a hostile member), and the lowest such seq (DESIGN.md §2.7).
 *
 * From a fork's seq on, the author's events are quarantined: held in the
 * log as evidence, on both sides of the fork, with no effect on the ring,
 * and written to the Automerge document under an actor of their own, so two
 * replicas that hold the two sides can still merge. What counts as proof is
 * a function of the event set alone (two held events with one author and
 * seq, or an equivocation `conflict` carrying both as evidence), so every
 * replica with the same events quarantines the same ones.
 */
export type Forks = ReadonlyMap<PeerName, number>

export const NO_FORKS: Forks = new Map()

/** One proved fork: two distinct events by `author` with `seq`. */
export interface ForkProof {
  readonly author: PeerName
  readonly seq: number
  readonly events: readonly [EventId, EventId]
}

function authored (e: WeftEvent): { author: PeerName, seq: number } | undefined {
  return e.kind === 'genesis' || e.kind === 'future' ? undefined : { author: e.author, seq: e.seq }
}

/**
 * The fork an equivocation conflict's evidence proves, if it does. The
 * evidence was signature-checked when the conflict was decoded, so here it
 * is decoded as trusted bytes.
 */
export function forkInConflict (e: WeftEvent): ForkProof | undefined {
  if (e.kind !== 'conflict' || e.body.reason !== 'equivocation' || e.body.evidence.length < 2) return undefined
  const inner = e.body.evidence.slice(0, 2).map(bytes => {
    try {
      return decodeEvent(bytes, { verifier: null })
    } catch {
      return undefined
    }
  })
  const [a, b] = inner
  if (a === undefined || b === undefined || a.id === b.id) return undefined
  const x = authored(a.event)
  const y = authored(b.event)
  if (x === undefined || y === undefined || x.author !== y.author || x.seq !== y.seq) return undefined
  return { author: x.author, seq: x.seq, events: a.id < b.id ? [a.id, b.id] : [b.id, a.id] }
}

/** Collects fork proofs incrementally; `forks` is the lowest seq per author. */
export class ForkFinder {
  private readonly firstAt = new Map<string, EventId>()
  private readonly lowest = new Map<PeerName, number>()
  private readonly proofs: ForkProof[] = []

  /** Adds an event; returns the proof it completes, if any. */
  add (signed: SignedEvent): ForkProof | undefined {
    const fromConflict = forkInConflict(signed.event)
    if (fromConflict !== undefined) this.record(fromConflict)
    const a = authored(signed.event)
    if (a === undefined) return fromConflict
    const key = `${a.author}/${a.seq}`
    const first = this.firstAt.get(key)
    if (first === undefined) {
      this.firstAt.set(key, signed.id)
      return fromConflict
    }
    if (first === signed.id) return fromConflict
    const proof: ForkProof = { author: a.author, seq: a.seq, events: first < signed.id ? [first, signed.id] : [signed.id, first] }
    this.record(proof)
    return proof
  }

  private record (p: ForkProof): void {
    this.proofs.push(p)
    const was = this.lowest.get(p.author)
    if (was === undefined || p.seq < was) this.lowest.set(p.author, p.seq)
  }

  get forks (): Forks { return this.lowest }
  get found (): readonly ForkProof[] { return this.proofs }
}

/** The forks an event set proves. */
export function forksIn (events: Iterable<SignedEvent>): Map<PeerName, number> {
  const finder = new ForkFinder()
  for (const e of events) finder.add(e)
  return new Map(finder.forks)
}

/** True when `author`'s event with `seq` is quarantined under `forks`. */
export function isQuarantined (forks: Forks, author: PeerName, seq: number): boolean {
  const from = forks.get(author)
  return from !== undefined && seq >= from
}

/** True when `more` quarantines something `forks` does not. */
export function forksGrew (forks: Forks, more: Forks): boolean {
  for (const [author, seq] of more) {
    const was = forks.get(author)
    if (was === undefined || seq < was) return true
  }
  return false
}

/** The union of two fork maps (lowest seq per author). */
export function mergeForks (a: Forks, b: Forks): Map<PeerName, number> {
  const out = new Map(a)
  for (const [author, seq] of b) {
    const was = out.get(author)
    if (was === undefined || seq < was) out.set(author, seq)
  }
  return out
}

/** A stable text form, to remember which forks a stored document was written under. */
export function forksKey (forks: Forks): string {
  return [...forks].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([a, s]) => `${a}@${s}`).join(',')
}
