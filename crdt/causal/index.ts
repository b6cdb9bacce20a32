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

export type CausalErrorCode = 'missing-dep' | 'bad-seq' | 'bad-lamport' | 'equivocation' | 'duplicate' | 'not-genesis' | 'before-cut'

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
  /** Position in this index's arrival order; local, differs between replicas (and changes when the index is compacted). */
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
  /**
   * chains[p][s - 1 - chainBase[p]] = peer p's event with seq s; causal
   * delivery makes each a prefix. chainBase[p] is p's seq at the cut the
   * index was compacted below (0 before any compaction).
   */
  private readonly chains: CausalNode[][] = []
  private readonly chainBase: number[] = []
  /** The cut compacted below: events added since must have it in their view. */
  private cut: Int32Array | undefined
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
      this.chainBase.push(0)
    }
    return i
  }

  peerIndexOf (name: PeerName): number | undefined { return this.peerIdx.get(name) }

  /** The node of `peer`'s event with sequence number `seq`, if held. */
  bySeq (peer: number, seq: number): CausalNode | undefined {
    const base = this.chainBase[peer] ?? 0
    return seq > base ? this.chains[peer]?.[seq - 1 - base] : undefined
  }

  /** Highest seq held for a peer. */
  latestSeq (peer: number): number { return (this.chainBase[peer] ?? 0) + (this.chains[peer]?.length ?? 0) }

  /**
   * Whether an event of `author` with `seq` lies below the cut this index was
   * compacted below: a log event every later event has seen, though the
   * index may no longer hold it (a fork's quarantined side never is).
   */
  isBelowCut (author: PeerName, seq: number): boolean {
    if (this.cut === undefined || isQuarantined(this.forks, author, seq)) return false
    const p = this.peerIdx.get(author)
    return p !== undefined && (this.cut[p] ?? 0) >= seq
  }

  /** Whether the index was compacted below a cut (then it holds only part of the log). */
  get compacted (): boolean { return this.cut !== undefined }

  /** The cut compacted below, as a version vector over `peers` (undefined before any compaction). */
  get cutVv (): Int32Array | undefined { return this.cut }

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
    if (this.cut !== undefined && !this.viewHolds(deps, this.cut)) {
      throw new CausalError('before-cut', id, `event ${id} has a view without the cut this log was compacted below: judge it against the whole history`)
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

  /** Whether the merged view of `deps` holds every event of `cut`. */
  private viewHolds (deps: readonly CausalNode[], cut: Int32Array): boolean {
    for (let p = 0; p < cut.length; p++) {
      const need = cut[p]!
      if (need === 0) continue
      let seen = 0
      for (const d of deps) { const v = d.vv[p] ?? 0; if (v > seen) seen = v }
      if (seen < need) return false
    }
    return true
  }

  /**
   * Forgets every node in the past of `cut` (a version vector) but those in
   * `keep` (DESIGN.md §2.6, docs/epochs.md). Afterwards only events whose
   * view contains the cut may be added (else CausalError 'before-cut'): to
   * them every event of the cut's past is seen, kept or not, so the kept
   * nodes (still with their version vectors) answer every question the fold
   * asks. Heads and the genesis are always kept. Nodes are renumbered in
   * arrival order; `renumbered` hears each kept node's old and new idx.
   */
  compact (cut: Int32Array, keep: ReadonlySet<CausalNode>, renumbered: (from: number, to: number) => void): void {
    const inCut = (n: CausalNode): boolean => n.author < 0 || (!n.quarantined && (cut[n.author] ?? 0) >= n.seq)
    // A later event's deps in the cut's past are heads of the cut (the
    // maxima of any view containing it are), not of the whole index: keep them.
    // (Found by scanning: a cut head at or below an earlier cut is held but
    // no longer in its author's chain.)
    const latest = this.order.filter(n => n.author >= 0 && !n.quarantined && (cut[n.author] ?? 0) === n.seq)
    const cutHeads = new Set(latest.filter(n => !latest.some(o => o !== n && this.hasSeen(o, n))))
    const kept: CausalNode[] = []
    for (const n of this.order) {
      // Nothing walks deps below the cut: dropping them frees the history.
      if (inCut(n) && n.deps.length > 0) (n as { deps: readonly CausalNode[] }).deps = []
      if (inCut(n) && !keep.has(n) && !this.headSet.has(n) && !cutHeads.has(n) && n !== this.genesisNode) {
        this.byId.delete(n.id)
        continue
      }
      const to = kept.length
      if (n.idx !== to) {
        renumbered(n.idx, to);
        (n as { idx: number }).idx = to
      }
      kept.push(n)
    }
    this.order.length = 0
    this.order.push(...kept)
    for (let p = 0; p < this.chains.length; p++) {
      const base = this.chainBase[p]!
      const drop = Math.max(0, Math.min((cut[p] ?? 0) - base, this.chains[p]!.length))
      if (drop > 0) {
        this.chains[p]!.splice(0, drop)
        this.chainBase[p] = base + drop
      }
    }
    const merged = new Int32Array(Math.max(cut.length, this.cut?.length ?? 0))
    merged.set(cut)
    if (this.cut !== undefined) for (let p = 0; p < this.cut.length; p++) if (this.cut[p]! > merged[p]!) merged[p] = this.cut[p]!
    this.cut = merged
  }

  /**
   * An index compacted below `cut`, rebuilt from an epoch's base (crdt/ring/base.ts):
   * `nodes` in a causal order, each with its version vector over `peers`;
   * every event above the cut must be among them (the chains above the cut
   * are whole), and `heads` their positions. Throws CausalError on a base
   * that breaks that.
   */
  static restore (forks: Forks, peers: readonly PeerName[], cut: Int32Array, nodes: ReadonlyArray<{ signed: SignedEvent, vv: Int32Array }>, heads: readonly number[]): CausalIndex {
    const index = new CausalIndex(forks)
    for (const name of peers) index.peer(name)
    for (let p = 0; p < peers.length; p++) index.chainBase[p] = cut[p] ?? 0
    index.cut = Int32Array.from({ length: peers.length }, (_, p) => cut[p] ?? 0)
    for (const { signed, vv } of nodes) {
      const { id, event } = signed
      if (index.byId.has(id)) throw new CausalError('duplicate', id, `the base holds event ${id} twice`)
      const name = event.kind === 'genesis' ? undefined : event.author
      const author = name === undefined ? -1 : index.peer(name)
      const seq = event.kind === 'genesis' ? 0 : event.seq
      const quarantined = name !== undefined && isQuarantined(forks, name, seq)
      const node: CausalNode = { idx: index.order.length, id, signed, event, author, seq, lamport: event.lamport, quarantined, vv, deps: [] }
      if (author < 0) index.genesisNode = node
      else if (!quarantined && seq > index.chainBase[author]!) {
        if (seq !== index.latestSeq(author) + 1) throw new CausalError('bad-seq', id, `the base holds seq ${seq} of ${name!} without seq ${index.latestSeq(author) + 1}`)
        index.chains[author]!.push(node)
      }
      index.byId.set(id, node)
      index.order.push(node)
    }
    index.headSet = new Set(heads.map(i => index.order[i]!))
    return index
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
      const seen = Math.max(0, (e.vv[p] ?? 0) - this.chainBase[p]!)
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
   * Removes every node added after the first `size` (a rolled-back batch),
   * and restores the heads as they were then (`heads()` read at that point).
   * Peers interned meanwhile stay interned; that is harmless.
   */
  truncate (size: number, heads: readonly CausalNode[]): void {
    while (this.order.length > size) {
      const node = this.order.pop()!
      this.byId.delete(node.id)
      if (node.author < 0) this.genesisNode = undefined
      else if (!node.quarantined) this.chains[node.author]!.pop()
    }
    this.headSet = new Set(heads)
  }
}

/** The causal past of `heads` (inclusive) among the events of `byId`, walking deps; deps it lacks are skipped. */
export function pastOf (byId: ReadonlyMap<EventId, SignedEvent>, heads: Iterable<EventId>): SignedEvent[] {
  const past = new Map<EventId, SignedEvent>()
  const stack = [...heads]
  while (stack.length > 0) {
    const id = stack.pop()!
    const e = byId.get(id)
    if (e === undefined || past.has(id)) continue
    past.set(id, e)
    stack.push(...e.event.deps)
  }
  return [...past.values()]
}

/** Canonical topological order: lamport, then id (DESIGN.md §2.4). */
export function compareTopological (a: { lamport: number, id: string }, b: { lamport: number, id: string }): number {
  return a.lamport - b.lamport || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

/** The same order for signed events: sort a batch or a whole log with it to fold or write it. */
export function compareEventsTopological (a: SignedEvent, b: SignedEvent): number {
  return a.event.lamport - b.event.lamport || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}
