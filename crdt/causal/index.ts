import type { EventId, PeerName, SignedEvent, WeftEvent } from '../events/index.js'
import { isQuarantined, NO_FORKS, type Forks } from './forks.js'

export { ForkFinder, forkInConflict, forksGrew, forksIn, forksKey, isQuarantined, mergeForks, NO_FORKS, type ForkProof, type Forks } from './forks.js'

/**
 * The causal structure of the log: one node per event with its version
 * vector, so "has E seen F?" is one array read (DESIGN.md §2.1). Nodes are
 * added in any causal order (every dep first); the index checks the two
 * structural rules that need context: `seq` is 1 + the author's previous
 * event, and `lamport` is 1 + the largest `lamport` of `deps`.
 */

export type CausalErrorCode = 'missing-dep' | 'bad-seq' | 'bad-lamport' | 'equivocation' | 'duplicate' | 'not-genesis'

export class CausalError extends Error {
  override name = 'CausalError'
  readonly code: CausalErrorCode
  readonly eventId: EventId

  constructor (code: CausalErrorCode, eventId: EventId, message: string) {
    super(message)
    this.code = code
    this.eventId = eventId
  }
}

export interface CausalNode {
  /** Position in this index's arrival order; local, differs between replicas. */
  readonly idx: number
  readonly id: EventId
  readonly signed: SignedEvent
  readonly event: WeftEvent
  /** Index of the author in `peers`, or -1 for genesis. */
  readonly author: number
  readonly seq: number
  readonly lamport: number
  /**
   * The author's fork made it evidence only (forks.ts): it is in no chain
   * and in no version vector, so nothing "sees" it; it still counts for
   * heads and lamports, as the document holds it.
   */
  readonly quarantined: boolean
  /** vv[p] = highest seq of peer p in this event's causal past, itself included. */
  readonly vv: Int32Array
  readonly deps: readonly CausalNode[]
}

export class CausalIndex {
  private readonly byId = new Map<EventId, CausalNode>()
  private readonly order: CausalNode[] = []
  private readonly peerIdx = new Map<PeerName, number>()
  private readonly peerNames: PeerName[] = []
  /** chains[p][s - 1] = peer p's event with seq s; causal delivery makes each a prefix. */
  private readonly chains: CausalNode[][] = []
  private genesisNode: CausalNode | undefined
  private headSet = new Set<CausalNode>()

  /** Authors whose events from some seq on are quarantined; fixed for the index's life. */
  constructor (readonly forks: Forks = NO_FORKS) {}

  get size (): number { return this.order.length }
  get genesis (): CausalNode | undefined { return this.genesisNode }
  get nodes (): readonly CausalNode[] { return this.order }
  get peers (): readonly PeerName[] { return this.peerNames }

  get (id: EventId): CausalNode | undefined { return this.byId.get(id) }
  has (id: EventId): boolean { return this.byId.has(id) }

  /** Interns a peer name; indices are stable for the life of the index. */
  peer (name: PeerName): number {
    let i = this.peerIdx.get(name)
    if (i === undefined) {
      i = this.peerNames.length
      this.peerIdx.set(name, i)
      this.peerNames.push(name)
      this.chains.push([])
    }
    return i
  }

  peerIndexOf (name: PeerName): number | undefined { return this.peerIdx.get(name) }

  /** The node of `peer`'s event with sequence number `seq`, if held. */
  bySeq (peer: number, seq: number): CausalNode | undefined { return this.chains[peer]?.[seq - 1] }

  /** Highest seq held for a peer. */
  latestSeq (peer: number): number { return this.chains[peer]?.length ?? 0 }

  /**
   * Checks an event against the index without adding it. Throws CausalError.
   * Returns the dep nodes so `add` need not look them up twice.
   */
  check (signed: SignedEvent): CausalNode[] {
    const { id, event } = signed
    if (this.byId.has(id)) throw new CausalError('duplicate', id, `event ${id} is already in the log`)
    const deps: CausalNode[] = []
    for (const d of event.deps) {
      const node = this.byId.get(d)
      if (node === undefined) throw new CausalError('missing-dep', id, `event ${id} depends on ${d}, which is not in the log`)
      deps.push(node)
    }
    if (event.kind === 'genesis') {
      if (this.genesisNode !== undefined) throw new CausalError('not-genesis', id, `a second genesis ${id}; the log already has ${this.genesisNode.id}`)
      return deps
    }
    if (this.genesisNode === undefined) throw new CausalError('not-genesis', id, `event ${id} arrived before the genesis`)
    const a = this.peerIdx.get(event.author)
    const quarantined = isQuarantined(this.forks, event.author, event.seq)
    let maxLamport = 0
    let prevSeq = 0
    for (const d of deps) {
      if (d.lamport > maxLamport) maxLamport = d.lamport
      if (a !== undefined && a < d.vv.length && d.vv[a]! > prevSeq) prevSeq = d.vv[a]!
    }
    if (event.lamport !== maxLamport + 1) {
      throw new CausalError('bad-lamport', id, `event ${id} has lamport ${event.lamport}, expected ${maxLamport + 1}`)
    }
    // A quarantined event's seq and rivals are the fork itself: not checked.
    if (quarantined) return deps
    if (a !== undefined && event.seq <= this.latestSeq(a) && this.bySeq(a, event.seq)?.id !== id) {
      throw new CausalError('equivocation', id, `event ${id} reuses seq ${event.seq} of ${event.author}, already held as ${this.bySeq(a, event.seq)?.id ?? '?'}`)
    }
    if (event.seq !== prevSeq + 1) {
      throw new CausalError('bad-seq', id, `event ${id} has seq ${event.seq}, but its deps hold seq ${prevSeq} of ${event.author}`)
    }
    return deps
  }

  add (signed: SignedEvent): CausalNode {
    const deps = this.check(signed)
    const { id, event } = signed
    const author = event.kind === 'genesis' ? -1 : this.peer(event.author)
    const seq = event.kind === 'genesis' ? 0 : event.seq
    const quarantined = event.kind !== 'genesis' && isQuarantined(this.forks, event.author, event.seq)
    const n = this.peerNames.length
    // A copy of the first dep's vector when it has every peer (the usual
    // case): one allocation, where a new array and a set cost twice as much.
    let vv: Int32Array
    if (deps.length > 0 && deps[0]!.vv.length === n) vv = deps[0]!.vv.slice()
    else {
      vv = new Int32Array(n)
      if (deps.length > 0) vv.set(deps[0]!.vv)
    }
    for (let k = 1; k < deps.length; k++) {
      const dv = deps[k]!.vv
      for (let i = 0; i < dv.length; i++) if (dv[i]! > vv[i]!) vv[i] = dv[i]!
    }
    if (author >= 0 && !quarantined) vv[author] = seq
    const node: CausalNode = { idx: this.order.length, id, signed, event, author, seq, lamport: event.lamport, quarantined, vv, deps }
    this.byId.set(id, node)
    this.order.push(node)
    if (author < 0) this.genesisNode = node
    else if (!quarantined) this.chains[author]!.push(node)
    for (const d of deps) this.headSet.delete(d)
    this.headSet.add(node)
    return node
  }

  /** True when `f` is in the causal past of `e`, or is `e`. */
  hasSeen (e: CausalNode, f: CausalNode): boolean {
    if (f.quarantined) return e === f
    if (f.author < 0) return true
    return (e.vv[f.author] ?? 0) >= f.seq
  }

  /** Same test from a bare version vector (a head set's merged vv). */
  vvHasSeen (vv: Int32Array, f: CausalNode): boolean {
    if (f.quarantined) return false
    if (f.author < 0) return true
    return (vv[f.author] ?? 0) >= f.seq
  }

  /** Every held event that `e` has not seen (and is not `e`): the events concurrent with it. */
  * concurrentWith (e: CausalNode): Generator<CausalNode> {
    for (let p = 0; p < this.chains.length; p++) {
      const chain = this.chains[p]!
      const seen = e.vv[p] ?? 0
      for (let s = seen; s < chain.length; s++) {
        const node = chain[s]!
        if (node !== e) yield node
      }
    }
  }

  /** The merged version vector of a set of events (e.g. a head set). */
  mergedVv (nodes: Iterable<CausalNode>): Int32Array {
    const vv = new Int32Array(this.peerNames.length)
    for (const n of nodes) for (let i = 0; i < n.vv.length; i++) if (n.vv[i]! > vv[i]!) vv[i] = n.vv[i]!
    return vv
  }

  /** Current heads: events no other held event depends on, in arrival order. */
  heads (): CausalNode[] {
    return [...this.headSet].sort((a, b) => a.idx - b.idx)
  }

  /**
   * Removes every node added after the first `size` (a rolled-back batch).
   * Peers interned meanwhile stay interned; that is harmless.
   */
  truncate (size: number): void {
    while (this.order.length > size) {
      const node = this.order.pop()!
      this.byId.delete(node.id)
      if (node.author < 0) this.genesisNode = undefined
      else if (!node.quarantined) this.chains[node.author]!.pop()
    }
    const covered = new Set<CausalNode>()
    for (const n of this.order) for (const d of n.deps) covered.add(d)
    this.headSet = new Set(this.order.filter(n => !covered.has(n)))
  }
}

/** Canonical topological order: lamport, then id (DESIGN.md §2.4). */
export function compareTopological (a: { lamport: number, id: string }, b: { lamport: number, id: string }): number {
  return a.lamport - b.lamport || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

/** The same order for signed events: sort a batch or a whole log with it to fold or write it. */
export function compareEventsTopological (a: SignedEvent, b: SignedEvent): number {
  return a.event.lamport - b.event.lamport || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}
