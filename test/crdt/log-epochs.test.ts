import { test } from 'node:test'
import assert from 'node:assert/strict'
import { compareEventsTopological, NO_FORKS } from '../../crdt/causal/index.js'
import { defaultVerifier, type EventId, type SignedEvent } from '../../crdt/events/index.js'
import { actorFor, automerge, epochRootChange, EventLog, LogError, SKELETON_CHANGE_HASH, SyncSession, type EpochRoot } from '../../crdt/log/index.js'
import type { DecodedChange } from '../../crdt/log/automerge-raw.js'
import { checkChange, type ChangeContext } from '../../crdt/log/change-check.js'
import { eventChange } from '../../crdt/log/event-change.js'
import { OwnershipRing } from '../../crdt/ring/index.js'
import { causalPast } from '../helpers/event-orders.js'
import { cidrs, makeCluster, type SimPeer } from '../helpers/sim-peer.js'

/**
 * An epoch's document (crdt/log/epoch-root.ts, docs/epochs.md): the events
 * outside a checkpoint's cut on the skeleton plus a root change standing for
 * the cut, with seqs counted from it. Members that switch build the same
 * changes from the same events, sync as before, and append as before.
 */

interface Side { log: EventLog, sessions: Map<EventLog, SyncSession> }

function sync (a: Side, b: Side): number {
  const session = (x: Side, y: Side): SyncSession => {
    let s = x.sessions.get(y.log)
    if (s === undefined) x.sessions.set(y.log, s = new SyncSession())
    return s
  }
  let events = 0
  for (let round = 0; round < 20; round++) {
    let sent = false
    for (const [from, to] of [[a, b], [b, a]] as const) {
      const msg = from.log.generateSyncMessage(session(from, to))
      if (msg === null) continue
      sent = true
      const received = to.log.receive(session(to, from), msg, defaultVerifier)
      events += received.events.length
      received.adopt()
    }
    if (!sent) return events
  }
  throw new Error('sync did not converge')
}

function epochOf (peers: SimPeer[], cutHeads: EventId[]): { root: EpochRoot, inCut: Set<EventId> } {
  const all = [...peers[0]!.events.values()]
  const inCut = new Set(cutHeads.flatMap(h => causalPast(all, h).map(e => e.id)))
  const ring = OwnershipRing.fold(peers[0]!.ring.clusterId, all.filter(e => inCut.has(e.id)))
  const vv = ring.causal.mergedVv(cutHeads.map(h => ring.causal.get(h)!))
  const seqBase = new Map(ring.causal.peers.map((name, p) => [name, vv[p] ?? 0] as const).filter(([, s]) => s > 0))
  return { root: { key: 'ab'.repeat(32), seqBase }, inCut }
}

const outside = (p: SimPeer, inCut: ReadonlySet<EventId>): SignedEvent[] =>
  [...p.events.values()].filter(e => !inCut.has(e.id)).sort(compareEventsTopological)

test('members switching to an epoch document build the same changes, sync, and append on it', () => {
  const { peers } = makeCluster(['host1', 'host2', 'host3'])
  const [a, b, c] = peers as [SimPeer, SimPeer, SimPeer]
  const syncAll = (): void => { for (const p of peers) for (const q of peers) p.syncFrom(q) }
  a.author('transfer', { ranges: cidrs('10.32.0.0/16'), to: b.name })
  syncAll()
  const { root, inCut } = epochOf(peers, a.ring.causal.heads().map(h => h.id))
  // Events outside the cut: two concurrent ones on the cut alone (their
  // changes stand on the root), then one on both.
  a.author('transfer', { ranges: cidrs('10.33.0.0/16'), to: c.name })
  c.author('transfer', { ranges: cidrs('10.40.0.0/16'), to: a.name })
  b.syncFrom(a)
  b.syncFrom(c)
  b.author('transfer', { ranges: cidrs('10.32.0.0/17'), to: c.name })

  // Each switches with the events it holds outside the cut.
  const docs = new Map(peers.map(p => [p, { log: EventLog.rebuild(p.name, outside(p, inCut), NO_FORKS, undefined, root), sessions: new Map() }] as const))
  const same = EventLog.rebuild(c.name, outside(b, inCut), NO_FORKS, undefined, root)
  assert.deepEqual(same.heads(), docs.get(b)!.log.heads(), 'the same events give the same changes, whoever writes them')
  assert.deepEqual(docs.get(b)!.log.eventHeads(), [...b.ring.causal.heads().map(h => h.id)].sort())
  assert.equal(docs.get(a)!.log.root?.key, root.key)

  // They sync as any documents do, and end with every event outside the cut.
  assert.equal(sync(docs.get(a)!, docs.get(b)!), 2, 'a receives c\'s event and b\'s')
  assert.equal(sync(docs.get(c)!, docs.get(b)!), 2)
  for (const d of docs.values()) assert.deepEqual(d.log.heads(), docs.get(b)!.log.heads())
  for (const p of peers) p.receive([...b.events.values()])

  // An append after the switch: deps in the cut are the root's, seqs count from the cut.
  const next = a.author('transfer', { ranges: cidrs('10.34.0.0/16'), to: b.name })
  docs.get(a)!.log.append(next)
  assert.equal(sync(docs.get(a)!, docs.get(c)!), 1)
  assert.ok(docs.get(c)!.log.hasEvent(next.id))
  // And a relaunch loads the saved document under the same root.
  const again = EventLog.load(a.name, [docs.get(a)!.log.save()], NO_FORKS, root)
  assert.deepEqual(again.heads(), docs.get(a)!.log.heads())
  assert.throws(() => EventLog.load(a.name, [docs.get(a)!.log.save()], NO_FORKS, { ...root, key: 'cd'.repeat(32) }), LogError)
})

test('a change that counts seqs from the genesis, or skips the root, is refused in an epoch document', () => {
  const { peers } = makeCluster(['host1', 'host2'])
  const [a, b] = peers as [SimPeer, SimPeer]
  a.author('transfer', { ranges: cidrs('10.32.0.0/16'), to: b.name })
  b.syncFrom(a)
  const { root, inCut } = epochOf(peers, a.ring.causal.heads().map(h => h.id))
  const ev = a.author('transfer', { ranges: cidrs('10.33.0.0/16'), to: b.name })
  const rootChange = epochRootChange(root)
  const rootMaxOp = automerge.decodeChange(rootChange.bytes).startOp
  const ctx: ChangeContext = {
    eventIdOf: () => undefined,
    authorSeqOf: () => undefined,
    metaOf: h => h === rootChange.hash ? { maxOp: rootMaxOp } : h === SKELETON_CHANGE_HASH ? { maxOp: rootMaxOp - 1 } : undefined,
    verifier: defaultVerifier,
    forks: NO_FORKS,
    epoch: { root, hash: rootChange.hash, holds: () => false }
  }
  const relative = ev.event.kind === 'genesis' ? 0 : ev.event.seq - root.seqBase.get(a.name)!
  const change = (seq: number, deps: string[]): DecodedChange => automerge.decodeChange(eventChange(ev, actorFor(a.name), seq, deps, rootMaxOp + 1))
  assert.equal(checkChange(change(relative, [rootChange.hash]), ctx).id, ev.id, 'seq from the cut, on the root: accepted')
  assert.throws(() => checkChange(change(relative + root.seqBase.get(a.name)!, [rootChange.hash]), ctx), (err: unknown) => err instanceof LogError && /Automerge seq/.test(err.message))
  assert.throws(() => checkChange(change(relative, [SKELETON_CHANGE_HASH]), ctx), (err: unknown) => err instanceof LogError && /deps/.test(err.message))
  // The document built from the events is the accepted one.
  const good = { log: EventLog.create(b.name, NO_FORKS, root), sessions: new Map() }
  const right = { log: EventLog.rebuild(a.name, outside(a, inCut), NO_FORKS, undefined, root), sessions: new Map() }
  assert.equal(sync(right, good), 1)
})
