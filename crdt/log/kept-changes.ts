import type { Forks } from '../causal/index.js'
import type { EventId, PeerName, SignedEvent } from '../events/index.js'
import type { AutomergeDoc } from './automerge-raw.js'
import { changeIdentity } from './change-check.js'
import type { EpochRoot } from './epoch-root.js'

export /**
 * The part of `previous` that a rewrite under `forks` leaves as it was:
 * every event whose change identity (actor: own or its author's) stays the
 * same and whose deps' changes are all kept. Its heads, and each kept
 * event's change hash.
 */
function keptChanges (previous: AutomergeDoc, previousForks: Forks, sorted: readonly SignedEvent[], forks: Forks, root?: EpochRoot): { heads: string[], hashOf: Map<EventId, string> } {
  // Change metadata names each change by (actor, seq), which under the
  // previous forks names one event; no change's bytes need decoding.
  const byActorSeq = new Map<string, { hash: string, deps: string[] }>()
  for (const m of previous.getChangesMeta([])) byActorSeq.set(`${m.actor}/${m.seq}`, { hash: m.hash, deps: m.deps })
  const hashOf = new Map<EventId, string>()
  const depsOf = new Map<string, string[]>()
  const lastOwn = new Map<PeerName, boolean>()
  const held = new Set(sorted.map(e => e.id))
  for (const signed of sorted) {
    const e = signed.event
    const before = changeIdentity(signed, previousForks, root)
    const found = byActorSeq.get(`${before.actor}/${before.seq}`)
    if (found === undefined) continue
    depsOf.set(found.hash, found.deps)
    if (e.kind === 'genesis') { hashOf.set(signed.id, found.hash); continue }
    const after = changeIdentity(signed, forks, root)
    // (In an epoch's document a dep not among the events is the cut's, stood for by the root.)
    let same = before.actor === after.actor && e.deps.every(d => hashOf.has(d) || (root !== undefined && !held.has(d)))
    // An author-actor change also depends on the author's previous change.
    if (same && !after.ownActor && after.seq > 1 && lastOwn.get(e.author) !== true) same = false
    if (!after.ownActor) lastOwn.set(e.author, same)
    if (same) hashOf.set(signed.id, found.hash)
  }
  const kept = new Set(hashOf.values())
  const covered = new Set<string>()
  for (const h of kept) for (const d of depsOf.get(h) ?? []) covered.add(d)
  const heads = [...kept].filter(h => !covered.has(h)).sort()
  return { heads, hashOf }
}

