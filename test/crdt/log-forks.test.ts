import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { parseCidr } from '../../packages/netaddr/index.js'
import { forksIn, NO_FORKS, type Forks } from '../../crdt/causal/index.js'
import { createGenesis, defaultVerifier, ed25519SignerFromSeed, signEvent, type AuthoredEvent, type BodyOf, type SignedEvent, type Signer } from '../../crdt/events/index.js'
import { EventLog, LogError, SyncSession } from '../../crdt/log/index.js'
import { OwnershipRing } from '../../crdt/ring/index.js'
import { canonicalSnapshot, randomLinearExtension } from '../helpers/event-orders.js'

/**
 * Forks (DESIGN.md §2.7): a cloned identity signs two events with one seq.
 * From that seq on its events are quarantined: both sides stay in the log
 * as evidence, with no effect, under Automerge actors of their own; so two
 * replicas that hold the two sides, once each knows of the fork, merge into
 * one document and one ring.
 */

/** One replica: a writer's log and fold, synced with real Automerge messages. */
class Replica {
  log: EventLog
  ring: OwnershipRing
  readonly sessions = new Map<string, SyncSession>()

  constructor (readonly signer: Signer, genesis: SignedEvent) {
    this.log = EventLog.create(signer.author)
    this.log.addGenesis(genesis)
    this.ring = new OwnershipRing(genesis.id)
    this.ring.apply(genesis)
  }

  /** A copy of this replica's state under another writer (how a cloned data dir starts). */
  copy (signer: Signer = this.signer): Replica {
    const r = Object.create(Replica.prototype) as Replica
    Object.assign(r, { signer, sessions: new Map(), log: EventLog.load(signer.author, [this.log.save()], this.log.forks), ring: OwnershipRing.fold(this.ring.clusterId, this.ring.allEvents()) })
    return r
  }

  author<K extends AuthoredEvent['kind']> (kind: K, body: BodyOf<K>): SignedEvent {
    const e = signEvent({ kind, author: this.signer.author, time: 1, body, ...this.ring.nextFields(this.signer.author) } as never, this.signer)
    this.ring.apply(e)
    this.log.append(e)
    if (this.ring.unfoldedForks.length > 0) this.refold()
    return e
  }

  /** What the log service does when the log proves a fork the fold does not quarantine. */
  refold (): void {
    this.ring = OwnershipRing.fold(this.ring.clusterId, this.ring.allEvents())
    const previous = this.log
    this.log = EventLog.rebuild(this.signer.author, this.ring.allEvents(), this.ring.forks, previous)
    previous.close()
    for (const s of this.sessions.values()) s.free()
    this.sessions.clear()
  }

  session (peer: Replica): SyncSession {
    let s = this.sessions.get(peer.signer.author + peer.log.actor)
    if (s === undefined) this.sessions.set(peer.signer.author + peer.log.actor, s = new SyncSession())
    return s
  }

  events (): SignedEvent[] { return this.ring.allEvents() }
}

/** Sync rounds until quiet; every received batch is folded, then adopted. */
function syncPair (a: Replica, b: Replica): void {
  for (let round = 0; round < 30; round++) {
    let sent = false
    for (const [from, to] of [[a, b], [b, a]] as const) {
      const msg = from.log.generateSyncMessage(from.session(to))
      if (msg === null) continue
      sent = true
      const r = to.log.receive(to.session(from), msg, defaultVerifier)
      const sorted = [...r.events].sort((x, y) => x.event.lamport - y.event.lamport || (x.id < y.id ? -1 : 1))
      for (const e of sorted) to.ring.apply(e)
      r.adopt()
      if (to.ring.unfoldedForks.length > 0) to.refold()
    }
    if (!sent) return
  }
  throw new Error('sync did not settle')
}

function flagFork (by: Replica, sides: [SignedEvent, SignedEvent], supplier: string): SignedEvent {
  return by.author('conflict', { reason: 'equivocation', rivals: sides.map(s => s.id).sort(), overlap: [], supplier, evidence: sides.map(s => s.bytes) })
}

/**
 * P founds; X and Q join. X's data dir is cloned: X writes a transfer of
 * half its space to P, the clone writes a join (one seq), P and Q each
 * build on their side.
 */
function forkedPair (): { p: Replica, q: Replica, x: Replica, clone: Replica, sides: [SignedEvent, SignedEvent] } {
  const [ps, qs, xs] = [0, 1, 2].map(() => ed25519SignerFromSeed(randomBytes(32))) as [Signer, Signer, Signer]
  const genesis = createGenesis({ ranges: [parseCidr('10.0.0.0/16')], seeds: [ps.author] })
  const p = new Replica(ps, genesis)
  const q = new Replica(qs, genesis)
  const x = new Replica(xs, genesis)
  p.author('join', { nickname: 'p', addrs: [] })
  syncPair(p, x)
  x.author('join', { nickname: 'x', addrs: [] })
  syncPair(p, x)
  p.author('transfer', { ranges: [parseCidr('10.0.128.0/17')], to: xs.author })
  syncPair(p, x)
  syncPair(p, q)
  q.author('join', { nickname: 'q', addrs: [] })
  syncPair(p, q)
  syncPair(q, x)
  const clone = x.copy()
  const one = x.author('transfer', { ranges: [parseCidr('10.0.192.0/18')], to: ps.author })
  const two = clone.author('join', { nickname: 'x-copy', addrs: [] })
  syncPair(x, p)
  p.author('join', { nickname: 'p-after', addrs: [] })
  syncPair(clone, q)
  q.author('join', { nickname: 'q-after', addrs: [] })
  return { p, q, x, clone, sides: [one, two] }
}

test('an unforked document rewritten from its events keeps every change hash', () => {
  const { p, q } = forkedPair()
  for (const r of [p, q]) {
    const rebuilt = EventLog.rebuild(r.signer.author, r.events(), NO_FORKS)
    assert.deepEqual(rebuilt.heads(), r.log.heads())
    assert.equal(rebuilt.changeCount, r.log.changeCount)
    rebuilt.close()
  }
})

test('two replicas holding the two sides of a fork refuse each other until they know of it, then converge', () => {
  const { p, q, sides } = forkedPair()
  // Before: Automerge refuses the second change of X's (actor, seq).
  assert.throws(() => syncPair(p, q), (err: unknown) => err instanceof LogError && /duplicate seq/.test(err.message))
  for (const s of [...p.sessions.values(), ...q.sessions.values()]) s.reset()

  // Each flags the fork with both sides as evidence, and refolds.
  flagFork(p, sides, q.signer.author)
  flagFork(q, sides, p.signer.author)
  const x = sides[0].event.kind === 'genesis' ? '' : sides[0].event.author
  for (const r of [p, q]) assert.deepEqual([...r.ring.forks], [[x, (sides[0].event as AuthoredEvent).seq]])

  syncPair(p, q)
  assert.deepEqual(p.log.heads(), q.log.heads())
  assert.equal(canonicalSnapshot(p.ring.snapshot()), canonicalSnapshot(q.ring.snapshot()))
  for (const r of [p, q]) {
    for (const s of sides) {
      assert.ok(r.log.hasEvent(s.id))
      const v = r.ring.verdict(s.id)!
      assert.equal(v.status, 'void')
      assert.match(v.reason ?? '', /^evidence only/)
    }
    // The transfer on X's side has no effect: X still owns the /17 it had.
    const snap = r.ring.snapshot()
    const xPeer = snap.peers.find(pp => pp.name === x)!
    assert.equal(xPeer.owned.size, 32768n)
    assert.equal(xPeer.nickname, 'x')
    assert.equal(snap.equivocations.length, 1)
    assert.equal(snap.equivocations[0]!.settled, false)
    // The document rewritten from scratch is the same document as the one
    // rewritten keeping the unforked part of the previous one.
    const again = EventLog.rebuild(r.signer.author, r.events(), r.ring.forks)
    assert.deepEqual(again.heads(), r.log.heads())
    again.close()
  }

  // Removing the forked author settles it.
  p.author('takeover', { from: x, ranges: [parseCidr('10.0.128.0/17')] })
  syncPair(p, q)
  for (const r of [p, q]) {
    const snap = r.ring.snapshot()
    assert.equal(snap.equivocations[0]!.settled, true)
    assert.equal(snap.peers.find(pp => pp.name === p.signer.author)!.owned.size, 65536n)
  }
})

test('a replica that hears of a fork from one that knows: its stale changes are refused, and after the evidence it catches up', () => {
  const { p, q, sides } = forkedPair()
  flagFork(p, sides, q.signer.author)
  // q has not heard: p refuses q's side written under X's own actor.
  assert.throws(() => syncPair(q, p), (err: unknown) => err instanceof LogError && /forked at seq/.test(err.message))
  for (const s of [...p.sessions.values(), ...q.sessions.values()]) s.reset()
  // The evidence (as a BYE carries it) lets q flag it too; then they merge.
  flagFork(q, sides, p.signer.author)
  syncPair(p, q)
  assert.deepEqual(p.log.heads(), q.log.heads())
})

test('a newcomer joins a cluster with a fork in its history: it learns the forks from the first sync', () => {
  const { p, q, sides } = forkedPair()
  flagFork(p, sides, q.signer.author)
  flagFork(q, sides, p.signer.author)
  syncPair(p, q)
  const ns = ed25519SignerFromSeed(randomBytes(32))
  const log = EventLog.create(ns.author)
  const session = new SyncSession()
  const theirs = new SyncSession()
  for (let round = 0; round < 10; round++) {
    const out = log.generateSyncMessage(session)
    if (out !== null) p.log.receive(theirs, out, defaultVerifier).adopt()
    const back = p.log.generateSyncMessage(theirs)
    if (back === null && out === null) break
    if (back !== null) log.receive(session, back, defaultVerifier, { learnForks: true }).adopt()
  }
  assert.deepEqual(log.heads(), p.log.heads())
  assert.deepEqual([...log.forks], [...p.ring.forks])
})

test('folding a forked history gives the same ring in every causal order', () => {
  const { p, q, sides } = forkedPair()
  flagFork(p, sides, q.signer.author)
  flagFork(q, sides, p.signer.author)
  syncPair(p, q)
  const events = p.events()
  const forks: Forks = forksIn(events)
  const want = canonicalSnapshot(OwnershipRing.fold(p.ring.clusterId, events).snapshot())
  fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), seed => {
    const ring = new OwnershipRing(p.ring.clusterId, forks)
    for (const e of randomLinearExtension(events, seed)) ring.apply(e)
    assert.equal(canonicalSnapshot(ring.snapshot()), want)
  }), { numRuns: 50 })
})
