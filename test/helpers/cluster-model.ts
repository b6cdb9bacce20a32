import { createHash } from 'node:crypto'
import { cidr, formatCidr, parseCidr, RangeSet, type Cidr } from '../../packages/netaddr/index.js'
import {
  comparePeerNames, createGenesis, ed25519SignerFromSeed, MAX_EVIDENCE, type EventId, type PeerName, type SignedEvent
} from '../../crdt/events/index.js'
import type { DisputeSnapshot, RingSnapshot } from '../../crdt/ring/index.js'
import { SimPeer } from './sim-peer.js'
import { byId, causalPast } from './event-orders.js'
import type { ClusterSpec, Step, StepFilter } from './cluster-steps.js'

export { MAX_STEPS, stepArb, stepsArb, clusterSpecArb, type ClusterSpec, type Step, type StepFilter } from './cluster-steps.js'

/**
 * A fast-check model of small weft clusters (2–8 SimPeers over a /20) driven
 * by a random schedule of steps. Every step names peers and choices by plain
 * numbers, read modulo what exists when the step runs, so fast-check can
 * shrink a schedule by dropping steps and the rest still means something.
 * Keys are derived from the peer's index, so a schedule replays to the very
 * same event ids.
 */

export const MODEL_RANGE = '10.0.0.0/20'
/** One event a model peer authored, with the verdict its own fold gave it. */
export interface Authored {
  step: number
  peer: number
  signed: SignedEvent
  status: string
  reason?: string
  /** Authored by a `bogus` step, on purpose faulty. */
  bogus: boolean
  /** The verdict the author's own snapshot predicts for it. */
  expect: 'valid' | 'void'
}

export function peerSeed (i: number): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`weft/cluster-model/peer/${i}`).digest())
}

export function peerNickname (i: number): string { return `host${i + 1}` }

/** A peer that never joins any model cluster (as a recipient it makes a transfer void). */
export const OUTSIDER = 99

const nameCache = new Map<number, PeerName>()
const bootCache = new Map<string, SignedEvent[]>()

export function peerName (i: number): PeerName {
  let name = nameCache.get(i)
  if (name === undefined) nameCache.set(i, name = ed25519SignerFromSeed(peerSeed(i)).author)
  return name
}

/** Splits a set into CIDR blocks, halving the largest until there are at least `n` (or nothing splits). */
export function splitBlocks (set: RangeSet, n: number): Cidr[] {
  const blocks = set.toCidrs().slice()
  while (blocks.length < n) {
    let best = -1
    for (let i = 0; i < blocks.length; i++) if (blocks[i]!.prefix < 32 && (best < 0 || blocks[i]!.prefix < blocks[best]!.prefix)) best = i
    if (best < 0) break
    const b = blocks[best]!
    const half = 1n << BigInt(31 - b.prefix)
    blocks.splice(best, 1, cidr(4, b.first, b.prefix + 1), cidr(4, b.first + half, b.prefix + 1))
  }
  return blocks
}

export function canonicalCidrs (cidrs: Iterable<Cidr>): Cidr[] {
  return RangeSet.fromCidrs(4, cidrs).toCidrs()
}

export class ClusterModel {
  readonly peers: SimPeer[]
  readonly genesis: SignedEvent
  /** Partition group per peer; peers sync only within a group. */
  group: number[]
  readonly authored: Authored[] = []
  readonly trace: string[] = []
  readonly favourite: number
  private stepNo = 0

  constructor (n: number, seeds: number, favourite = 0, late = 0) {
    const names = Array.from({ length: n }, (_, i) => peerName(i))
    const seedNames = names.slice(0, seeds).sort(comparePeerNames)
    this.genesis = createGenesis({ ranges: [parseCidr(MODEL_RANGE)], seeds: seedNames })
    this.peers = names.map((_, i) => new SimPeer(peerNickname(i), this.genesis.id, peerSeed(i)))
    for (const p of this.peers) p.receive([this.genesis])
    // Every peer but the last `late` ones joins, and every peer learns of every
    // join. The joins of a cluster shape are authored once and replayed (with
    // the clock tick the join took), which keeps runs fast and ids identical.
    const joining = this.peers.slice(0, n - Math.min(late, n - seeds))
    const key = `${n}/${seeds}/${joining.length}`
    const joins = bootCache.get(key)
    if (joins === undefined) {
      for (const p of joining) {
        p.author('join', { nickname: p.nickname, addrs: [] })
        for (const q of this.peers) q.syncFrom(p)
      }
      bootCache.set(key, joining.map(p => [...p.events.values()].find(e => e.event.kind === 'join' && e.event.author === p.name)!))
    } else {
      for (const p of this.peers) p.receive(joins)
      for (const p of joining) p.clock++
    }
    this.group = this.peers.map(() => 0)
    this.favourite = favourite % n
  }

  static run (spec: ClusterSpec, filter: StepFilter = {}): ClusterModel {
    const m = new ClusterModel(spec.peers, spec.seeds, spec.favourite, spec.late ?? 0)
    m.runSteps(spec.steps, filter)
    return m
  }

  get n (): number { return this.peers.length }

  index (name: PeerName): number { return this.peers.findIndex(p => p.name === name) }
  name (i: number): PeerName { return this.peers[i]!.name }
  snap (i: number): RingSnapshot { return this.peers[i]!.ring.snapshot() }

  /** Undisputed space of `who` in peer `i`'s view. */
  ownedIn (i: number, who: number): RangeSet {
    return this.snap(i).peers.find(p => p.name === this.name(who))?.owned ?? RangeSet.empty(4)
  }

  removedIn (i: number, who: number): boolean {
    return this.snap(i).peers.find(p => p.name === this.name(who))?.removed !== undefined
  }

  memberIn (i: number, who: number): boolean {
    return this.snap(i).peers.find(p => p.name === this.name(who))?.member === true
  }

  /** A peer acts only while it is a member and not removed (or gone) in its own view. */
  active (i: number): boolean { return this.memberIn(i, i) && !this.removedIn(i, i) }

  /** Every event any peer holds (a causally closed set). */
  allEvents (): SignedEvent[] {
    const all = new Map<EventId, SignedEvent>()
    for (const p of this.peers) for (const [id, e] of p.events) all.set(id, e)
    return [...all.values()]
  }

  runSteps (steps: readonly Step[], filter: StepFilter = {}): void {
    for (const s of steps) this.runStep(s, filter)
  }

  private bogus = false
  private expect: 'valid' | 'void' = 'valid'

  private record (peer: number, signed: SignedEvent, what: string): SignedEvent {
    const v = this.peers[peer]!.ring.verdict(signed.id)!
    const a: Authored = { step: this.stepNo, peer, signed, status: v.status, bogus: this.bogus, expect: this.bogus ? this.expect : 'valid' }
    if (v.reason !== undefined) a.reason = v.reason
    this.authored.push(a)
    this.trace.push(`${this.stepNo}: ${peerNickname(peer)} ${what} -> ${signed.id.slice(0, 8)} ${v.status}${v.reason !== undefined ? ` (${v.reason})` : ''}`)
    return signed
  }

  // ---- primitive actions (also used directly by scenario properties) ----

  /** `to` is a peer index, or OUTSIDER. */
  transfer (by: number, to: number, ranges: Cidr[]): SignedEvent {
    const c = canonicalCidrs(ranges)
    const name = to === OUTSIDER ? peerName(OUTSIDER) : this.name(to)
    return this.record(by, this.peers[by]!.author('transfer', { ranges: c, to: name }), `transfer ${c.map(formatCidr).join(',')} to ${peerNickname(to)}`)
  }

  join (by: number, nickname: string): SignedEvent {
    return this.record(by, this.peers[by]!.author('join', { nickname, addrs: [] }), `join as ${nickname}`)
  }

  /** A takeover with the given ranges, right or wrong. */
  takeoverWith (by: number, target: number, ranges: Cidr[]): SignedEvent {
    const c = canonicalCidrs(ranges)
    return this.record(by, this.peers[by]!.author('takeover', { from: this.name(target), ranges: c }), `takeover ${peerNickname(target)} claiming ${c.map(formatCidr).join(',') || 'nothing'}`)
  }

  /** A leave with the given heirs, right or wrong. */
  leaveWith (by: number, heirs: Array<{ peer: number, ranges: Cidr[] }>): SignedEvent {
    const body = { heirs: heirs.filter(h => h.ranges.length > 0).map(h => ({ peer: this.name(h.peer), ranges: canonicalCidrs(h.ranges) })) }
    return this.record(by, this.peers[by]!.author('leave', body), `leave to ${heirs.map(h => `${peerNickname(h.peer)}:${h.ranges.map(formatCidr).join(',')}`).join(' ') || 'nobody'}`)
  }

  takeover (by: number, target: number): SignedEvent {
    const ranges = this.ownedIn(by, target).toCidrs()
    return this.record(by, this.peers[by]!.author('takeover', { from: this.name(target), ranges }), `takeover ${peerNickname(target)} (${ranges.map(formatCidr).join(',') || 'nothing'})`)
  }

  leave (by: number, heirs: number[], split: number[] = [0]): SignedEvent {
    const blocks = splitBlocks(this.ownedIn(by, by), heirs.length)
    const per = new Map<number, Cidr[]>()
    blocks.forEach((b, i) => {
      const h = heirs[((split[i % split.length] ?? 0) + i) % heirs.length]!
      per.set(h, [...(per.get(h) ?? []), b])
    })
    const body = { heirs: [...per.entries()].map(([h, cs]) => ({ peer: this.name(h), ranges: canonicalCidrs(cs) })) }
    const what = body.heirs.map(h => `${peerNickname(this.index(h.peer))}:${h.ranges.map(formatCidr).join(',')}`).join(' ')
    return this.record(by, this.peers[by]!.author('leave', body), `leave to ${what || 'nobody'}`)
  }

  /** A resolve of one or more disputes; assignments to the same owner are merged. */
  resolve (by: number, dispute: DisputeSnapshot | DisputeSnapshot[], assignments: Array<{ owner: number, ranges: RangeSet }>, removals: number[] = []): SignedEvent {
    const disputes = Array.isArray(dispute) ? dispute : [dispute]
    const per = new Map<number, RangeSet>()
    for (const a of assignments) per.set(a.owner, (per.get(a.owner) ?? RangeSet.empty(4)).union(a.ranges))
    const body = {
      disputes: disputes.map(d => d.id),
      removals: [...new Set(removals)].map(r => this.name(r)),
      assignments: [...per.entries()].filter(([, r]) => !r.isEmpty).map(([owner, r]) => ({ owner: this.name(owner), ranges: r.toCidrs() }))
    }
    const what = `resolve ${disputes.map(d => d.id.slice(0, 8)).join('+')} -> ${assignments.map(a => `${peerNickname(a.owner)}:${a.ranges.toString()}`).join(' ')}` +
      (removals.length > 0 ? ` removing ${removals.map(peerNickname).join(',')}` : '')
    return this.record(by, this.peers[by]!.author('resolve', body), what)
  }

  sync (a: number, b: number): void {
    this.peers[b]!.syncFrom(this.peers[a]!)
    this.trace.push(`${this.stepNo}: ${peerNickname(b)} <- ${peerNickname(a)}`)
  }

  /**
   * b receives a's events the way the daemon adopts a batch (DESIGN.md §3,
   * "validate the diff"): the batch is folded inside begin(); if it adds, as
   * a log event, a party of an open dispute whose other party b already held
   * as a log event, it is rolled back and b appends one `conflict` per such
   * dispute, carrying the parties it does not hold as evidence (unless it
   * already holds a conflict naming them). Returns whether b adopted it.
   */
  validatedSync (a: number, b: number, filter: StepFilter = {}): boolean {
    const pb = this.peers[b]!
    const fresh = [...this.peers[a]!.events.values()].filter(e => !pb.events.has(e.id))
    if (fresh.length === 0) return true
    const before = new Set(pb.events.keys())
    const batch = new Set(fresh.map(e => e.id))
    pb.ring.begin()
    pb.receive(fresh)
    const blocking = pb.ring.snapshot().disputes.filter(d => d.status === 'open' && d.parties.some(p => batch.has(p)) && d.parties.some(p => before.has(p)))
    if (blocking.length === 0) {
      pb.ring.commit()
      this.trace.push(`${this.stepNo}: ${peerNickname(b)} <- ${peerNickname(a)} (validated)`)
      return true
    }
    pb.ring.rollback()
    for (const id of batch) pb.events.delete(id)
    this.trace.push(`${this.stepNo}: ${peerNickname(b)} refuses ${peerNickname(a)}'s batch: it opens ${blocking.map(d => d.id.slice(0, 8)).join(', ')}`)
    if (!this.active(b) || filter.exclude?.has(b) === true) return false
    const all = byId(this.allEvents())
    for (const d of blocking) {
      const known = [...pb.events.values()].some(e => e.event.kind === 'conflict' && d.parties.every(p => e.event.kind === 'conflict' && e.event.body.rivals.includes(p)))
      const evidence = d.parties.filter(p => !pb.events.has(p)).map(p => all.get(p)!.bytes)
      if (known || evidence.length > MAX_EVIDENCE || d.parties.length > 64) continue
      const body = { reason: 'dispute' as const, rivals: [...d.parties].sort(), overlap: d.ranges.toCidrs(), supplier: this.name(a), evidence }
      this.record(b, pb.author('conflict', body), `conflict over ${d.id.slice(0, 8)} (${d.ranges.toString()}) carrying ${evidence.length} rival(s)`)
    }
    return false
  }

  /** Delivers exactly the causal past of `event` (inclusive) to peer `to`. */
  deliverPast (event: SignedEvent, to: number): void {
    this.peers[to]!.receive(causalPast(this.allEvents(), event.id))
    this.trace.push(`${this.stepNo}: ${peerNickname(to)} <- past of ${event.id.slice(0, 8)}`)
  }

  partition (groups: number[]): void {
    this.group = this.peers.map((_, i) => groups[i] ?? 0)
    this.trace.push(`${this.stepNo}: partition ${this.group.join('')}`)
  }

  heal (): void {
    this.group = this.peers.map(() => 0)
    this.trace.push(`${this.stepNo}: heal`)
  }

  /** Every peer receives every event. */
  syncAll (): void {
    const all = this.allEvents()
    for (const p of this.peers) p.receive(all)
    this.trace.push(`${this.stepNo}: full sync`)
  }

  private runBogus (by: number, s: Extract<Step, { t: 'bogus' }>, ex: ReadonlySet<number>): void {
    this.expect = 'void'
    const others = this.peers.map((_, j) => j).filter(j => j !== by && !ex.has(j))
    if (others.length === 0) return
    const other = others[s.to % others.length]!
    const own = this.ownedIn(by, by)
    // A random /22–/24 block of the cluster range: owned, partly owned, or not at all.
    const prefix = 22 + (s.pick % 3)
    const count = 1 << (prefix - 20)
    const random = cidr(4, parseCidr(MODEL_RANGE).first + BigInt(s.pick % count) * (1n << BigInt(32 - prefix)), prefix)
    switch (s.kind % 5) {
      case 0:
        if (!this.memberIn(by, other) || this.removedIn(by, other)) return
        // Valid exactly when the author's snapshot shows it owning all of the block.
        this.expect = own.containsSet(RangeSet.fromCidrs(4, [random])) ? 'valid' : 'void'
        this.transfer(by, other, [random])
        return
      case 1: {
        const late = this.peers.map((_, j) => j).filter(j => j !== by && !this.memberIn(by, j))
        const to = late.length > 0 && s.to % 2 === 0 ? late[s.to % late.length]! : OUTSIDER
        this.transfer(by, to, own.isEmpty ? [random] : [own.toCidrs()[0]!])
        return
      }
      case 2: {
        if (!this.memberIn(by, other)) return
        const right = this.ownedIn(by, other)
        const block = RangeSet.fromCidrs(4, [random])
        const wrong = right.containsSet(block) ? right.subtract(block) : right.union(block)
        this.takeoverWith(by, other, wrong.toCidrs())
        return
      }
      case 3: {
        const heirs = this.peers.map((_, j) => j).filter(j => j !== by && this.memberIn(by, j) && !this.removedIn(by, j))
        if (heirs.length === 0) return
        const blocks = splitBlocks(own, 2)
        const given = blocks.length > 1 ? blocks.slice(1) : [random]
        this.leaveWith(by, [{ peer: heirs[s.to % heirs.length]!, ranges: given }])
        return
      }
      default: {
        const removed = this.peers.map((_, j) => j).filter(j => j !== by && this.removedIn(by, j))
        if (removed.length === 0 || own.isEmpty) return
        this.transfer(by, removed[s.to % removed.length]!, [own.toCidrs()[0]!])
      }
    }
  }

  // ---- interpreting a random step ----

  runStep (s: Step, filter: StepFilter = {}): void {
    this.stepNo++
    const n = this.n
    const ex = filter.exclude ?? new Set<number>()
    // `by` picks among the peers that can do the step at all (active, not
    // excluded, and for transfers and resolves owning space or seeing a
    // dispute), so few steps are wasted.
    const able = (can: (i: number) => boolean): number[] => this.peers.map((_, i) => i).filter(i => !ex.has(i) && this.active(i) && can(i))
    let by = -1
    if ('by' in s) {
      const owners = able(i => !this.ownedIn(i, i).isEmpty)
      const who = s.t === 'transfer'
        ? owners
        : s.t === 'resolve'
          ? able(i => this.snap(i).disputes.some(d => d.status === 'open'))
          : s.t === 'join'
            // Late peers that have not joined yet come first; else a member renames.
            ? (() => {
                const late = this.peers.map((_, i) => i).filter(i => !ex.has(i) && !this.memberIn(i, i))
                return late.length > 0 ? late : able(() => true)
              })()
            : s.t === 'leave' && owners.length > 0 ? owners : able(() => true)
      if (who.length === 0) return
      by = who[s.by % who.length]!
    }
    // Candidates a peer may name as recipient: members not removed in its view, not itself.
    const recipients = (i: number): number[] => this.peers.map((_, j) => j).filter(j => j !== i && !ex.has(j) && this.memberIn(i, j) && !this.removedIn(i, j))
    switch (s.t) {
      case 'transfer': {
        const owned = this.ownedIn(by, by).toCidrs()
        const to = recipients(by)
        if (owned.length === 0 || to.length === 0) return
        const block = owned[s.pick % owned.length]!
        const depth = Math.min(s.depth, 32 - block.prefix)
        const size = 1n << BigInt(32 - block.prefix - depth)
        const part = cidr(4, block.first + BigInt(s.sub % (1 << depth)) * size, block.prefix + depth)
        this.transfer(by, to[s.to % to.length]!, [part])
        return
      }
      case 'takeover': {
        const target = s.target < 0 ? this.favourite : s.target % n
        if (target === by || ex.has(target) || !this.memberIn(by, target)) return
        this.takeover(by, target)
        return
      }
      case 'join': {
        const nickname = this.memberIn(by, by) ? `${peerNickname(by)}-${s.rename}` : peerNickname(by)
        this.join(by, nickname)
        return
      }
      case 'bogus': {
        this.bogus = true
        try { this.runBogus(by, s, ex) } finally { this.bogus = false }
        return
      }
      case 'leave': {
        const to = recipients(by)
        if (to.length === 0) return
        const heirs = [...new Set(s.heirs.map(h => to[h % to.length]!))]
        this.leave(by, heirs, s.split)
        return
      }
      case 'resolve': {
        const snap = this.snap(by)
        const keep = filter.keepDisputesWith
        const open = snap.disputes.filter(d => d.status === 'open' && !(keep !== undefined && d.parties.some(p => keep.has(p))) &&
          !(filter.keepSpace?.overlaps(d.ranges) ?? false))
        if (open.length === 0) return
        const first = s.pick % open.length
        const chosen = open.filter((_, i) => i === first || ((s.more >> (i % 8)) & 1) === 1)
        const assignments: Array<{ owner: number, ranges: RangeSet }> = []
        const stake: number[] = []
        let assigned = RangeSet.empty(4)
        for (const [k, d] of chosen.entries()) {
          // A claimant may be unknown to the resolver (its join reached it only inside a
          // conflict's evidence): owners must be members, not removed, in its view.
          const owners = d.claimants.map(c => this.index(c)).filter(o => o >= 0 && this.memberIn(by, o) && !this.removedIn(by, o) && !ex.has(o))
          if (owners.length === 0) return
          // Overlapping disputes: an address goes to the owner of the first that names it.
          assignments.push({ owner: owners[(s.owner + k) % owners.length]!, ranges: d.ranges.subtract(assigned) })
          assigned = assigned.union(d.ranges)
          stake.push(...d.atStake.map(p => this.index(p)))
        }
        const owners = new Set(assignments.map(a => a.owner))
        const removals = [...new Set(stake)].filter((p, i) => !owners.has(p) && !ex.has(p) && ((s.removals >> (i % 8)) & 1) === 1)
        this.resolve(by, chosen, assignments, removals)
        return
      }
      case 'partition': {
        this.partition(s.groups.map(g => g % s.k))
        return
      }
      case 'heal': this.heal(); return
      case 'sync': {
        const a = s.a % n
        const b = s.b % n
        const from = s.group ? this.peers.map((_, i) => i).filter(i => i !== b && this.group[i] === this.group[b]) : [a]
        for (const x of from) {
          if (x === b || this.group[x] !== this.group[b]) continue
          if (s.strict) this.validatedSync(x, b, filter)
          else this.sync(x, b)
        }
      }
    }
  }
}

// Event-set helpers live in event-orders.ts; re-exported for the tests that import them from here.
export { byId, causalPast, topologicalOrder, prng, linearExtension, randomLinearExtension, authorFirstExtension, deepestFirstExtension, foldInOrder, type CanonicalOptions, canonicalSnapshot, firstDifference, tilingProblems } from './event-orders.js'
