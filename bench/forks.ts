import { randomBytes } from 'node:crypto'
import { parseCidr } from '../packages/netaddr/index.js'
import { createGenesis, ed25519SignerFromSeed, signEvent, type BodyOf, type AuthoredEvent, type SignedEvent, type Signer } from '../crdt/events/index.js'
import { EventLog, SyncSession } from '../crdt/log/index.js'
import { OwnershipRing } from '../crdt/ring/index.js'
import { forksIn } from '../crdt/causal/index.js'
import type { BenchResult } from './harness.js'

/**
 * Issue 15's figures for recoverable equivocation (DESIGN.md §2.7): what the
 * chosen mechanism (a fork's events quarantined under actors of their own,
 * the document rewritten when a fork turns up) costs against today's log in
 * the same run, at 10k and 100k events: append, load, bytes to sync one
 * event, and the rewrite itself. The alternative the design named (one
 * Automerge actor per event, always) is measured at 10k: it is why this
 * one was chosen.
 */

const GROUP = 'forks'

/** A writer's log and fold; other authors' events arrive by real sync. */
class Replica {
  readonly ring: OwnershipRing
  log: EventLog
  readonly events: SignedEvent[] = []
  constructor (readonly signer: Signer, genesis: SignedEvent, log?: EventLog, events?: SignedEvent[]) {
    this.ring = events === undefined ? new OwnershipRing(genesis.id) : OwnershipRing.fold(genesis.id, events)
    if (events === undefined) this.ring.apply(genesis)
    this.events = events === undefined ? [genesis] : [...events]
    this.log = log ?? EventLog.create(signer.author)
    if (log === undefined) this.log.addGenesis(genesis)
  }

  append<K extends AuthoredEvent['kind']> (kind: K, body: BodyOf<K>): SignedEvent {
    const e = signEvent({ kind, author: this.signer.author, time: 1_700_000_000_000 + this.events.length, body, ...this.ring.nextFields(this.signer.author) } as never, this.signer)
    this.ring.apply(e)
    this.log.append(e)
    this.events.push(e)
    return e
  }
}

/** Sync rounds until quiet, folding what arrives; the bytes sent both ways. */
function exchange (a: Replica, sa: SyncSession, b: Replica, sb: SyncSession): number {
  let bytes = 0
  for (let round = 0; round < 50; round++) {
    let sent = false
    for (const [from, fs, to, ts] of [[a, sa, b, sb], [b, sb, a, sa]] as const) {
      const m = from.log.generateSyncMessage(fs)
      if (m === null) continue
      sent = true
      bytes += m.length
      const r = to.log.receive(ts, m, null)
      for (const e of [...r.events].sort((x, y) => x.event.lamport - y.event.lamport || (x.id < y.id ? -1 : 1))) { to.ring.apply(e); to.events.push(e) }
      r.adopt()
    }
    if (!sent) return bytes
  }
  throw new Error('sync did not settle')
}

function ms (start: number): number { return Math.round(performance.now() - start) }

/** Bytes and time to sync one new event of `a` into `b`, with sync states kept from a settled session. */
function oneEventSync (a: Replica, b: Replica): { bytes: number, ms: number } {
  const sa = new SyncSession()
  const sb = new SyncSession()
  exchange(a, sa, b, sb)
  const kept = [new SyncSession(sa.encode()), new SyncSession(sb.encode())] as const
  a.append('join', { nickname: `one-more-${a.events.length}`, addrs: [] })
  const t = performance.now()
  const bytes = exchange(a, kept[0], b, kept[1])
  const took = performance.now() - t
  for (const s of [sa, sb, ...kept]) s.free()
  return { bytes, ms: took }
}

/**
 * The alternative: every event under an actor of its own. Quarantining
 * every author from seq 1 writes exactly that document; a newcomer's event
 * (its author not quarantined) then shows what one sync costs in it.
 */
function everyEventItsOwnActor (genesis: SignedEvent, events: SignedEvent[]): { buildMs: number, loadMs: number, save: number, sync: { bytes: number, ms: number } } {
  const all = new Map<string, number>()
  for (const e of events) if (e.event.kind !== 'genesis' && e.event.kind !== 'future') all.set(e.event.author, 1)
  const [zs, ws] = [0, 1].map(() => ed25519SignerFromSeed(randomBytes(32))) as [Signer, Signer]
  let t = performance.now()
  const built = EventLog.rebuild(zs.author, events, all)
  const buildMs = ms(t)
  const save = built.save()
  t = performance.now()
  const wLog = EventLog.load(ws.author, [save], all)
  const loadMs = ms(t)
  const z = new Replica(zs, genesis, built, events)
  const w = new Replica(ws, genesis, wLog, events)
  const sync = oneEventSync(z, w)
  built.close()
  wLog.close()
  return { buildMs, loadMs, save: save.length, sync }
}

async function atSize (n: number): Promise<BenchResult[]> {
  const [ps, xs, qs] = [0, 1, 2].map(() => ed25519SignerFromSeed(randomBytes(32))) as [Signer, Signer, Signer]
  const genesis = createGenesis({ ranges: [parseCidr('10.0.0.0/8')], seeds: [ps.author] })
  const p = new Replica(ps, genesis)
  p.append('join', { nickname: 'p', addrs: [] })
  const x = new Replica(xs, genesis)
  exchange(p, new SyncSession(), x, new SyncSession())
  x.append('join', { nickname: 'x', addrs: [] })
  exchange(p, new SyncSession(), x, new SyncSession())
  // Today's log: n events, mostly p's joins, appended one by one.
  const t0 = performance.now()
  let lastK = t0
  let lastKms = 0
  while (p.events.length < n) {
    p.append('join', { nickname: `p-${p.events.length}`, addrs: [] })
    if (p.events.length % 1000 === 0) { const now = performance.now(); lastKms = (now - lastK) / 1000; lastK = now }
  }
  const today = { appendMs: lastKms, save: p.log.save() }
  let t = performance.now()
  const loaded = EventLog.load(qs.author, [today.save])
  const todayLoadMs = ms(t)
  const q = new Replica(qs, genesis, loaded, p.events)
  const todaySync = oneEventSync(p, q)
  const alternative = n <= 10_000 ? everyEventItsOwnActor(genesis, p.events) : undefined

  // A fork: x's data dir is cloned; x signs a join that p gets, the clone
  // another with the same seq that q gets (through the clone's own log).
  const xClone = new Replica(xs, genesis, EventLog.load(xs.author, [p.log.save()]), p.events)
  const xOrig = new Replica(xs, genesis, EventLog.load(xs.author, [p.log.save()]), p.events)
  const one = xOrig.append('join', { nickname: 'x-one', addrs: [] })
  const two = xClone.append('join', { nickname: 'x-two', addrs: [] })
  exchange(xOrig, new SyncSession(), p, new SyncSession())
  exchange(xClone, new SyncSession(), q, new SyncSession())
  // p flags it, which proves the fork in its log: refold and rewrite.
  const body = { reason: 'equivocation' as const, rivals: [one.id, two.id].sort(), overlap: [], supplier: qs.author, evidence: [one.bytes, two.bytes] }
  p.append('conflict', body)
  t = performance.now()
  const refolded = OwnershipRing.fold(genesis.id, p.events)
  const refoldMs = ms(t)
  t = performance.now()
  const rewritten = EventLog.rebuild(ps.author, p.events, refolded.forks, p.log)
  const rewriteMs = ms(t)
  let scratchMs: number | undefined
  if (n <= 10_000) {
    t = performance.now()
    EventLog.rebuild(ps.author, p.events, refolded.forks).close()
    scratchMs = ms(t)
  }
  p.log.close()
  p.log = rewritten
  const pf = new Replica(ps, genesis, rewritten, p.events)
  // q learns of it the same way and rewrites; then the two sides merge.
  q.append('conflict', body)
  const qForks = forksIn(q.events)
  const qLog = EventLog.rebuild(qs.author, q.events, qForks, q.log)
  q.log.close()
  const qf = new Replica(qs, genesis, qLog, q.events)
  t = performance.now()
  const mergeBytes = exchange(pf, new SyncSession(), qf, new SyncSession())
  const mergeMs = ms(t)
  if (pf.log.heads().join() !== qf.log.heads().join()) throw new Error('the two sides did not converge')
  const forkedSave = pf.log.save()
  t = performance.now()
  EventLog.load(qs.author, [forkedSave], qForks).close()
  const forkedLoadMs = ms(t)
  const forkedSync = oneEventSync(pf, qf)
  t = performance.now()
  for (let i = 0; i < 200; i++) pf.append('join', { nickname: `after-${i}`, addrs: [] })
  const forkedAppendMs = (performance.now() - t) / 200

  const k = `${n / 1000}k`
  const vs = (name: string, value: number, unit: string, base: { name: string, value: number }, note?: string): BenchResult =>
    ({ group: GROUP, name, value, unit, baseline: { ...base, unit }, ratio: +(value / Math.max(base.value, 1e-9)).toFixed(2), ...(note !== undefined ? { note } : {}) })
  const out: BenchResult[] = [
    { group: GROUP, name: `${k}: append, today (ms per event, last 1k)`, value: +today.appendMs.toFixed(3), unit: 'ms' },
    vs(`${k}: append after a fork (ms per event, 200)`, +forkedAppendMs.toFixed(3), 'ms', { name: 'append today', value: +today.appendMs.toFixed(3) }),
    { group: GROUP, name: `${k}: load, today`, value: todayLoadMs, unit: 'ms' },
    vs(`${k}: load after a fork`, forkedLoadMs, 'ms', { name: 'load today', value: todayLoadMs }),
    { group: GROUP, name: `${k}: saved document, today`, value: today.save.length, unit: 'B' },
    vs(`${k}: saved document after a fork`, forkedSave.length, 'B', { name: 'saved today', value: today.save.length }),
    { group: GROUP, name: `${k}: sync 1 event (kept state), today`, value: todaySync.bytes, unit: 'B' },
    vs(`${k}: sync 1 event (kept state) after a fork`, forkedSync.bytes, 'B', { name: 'sync today', value: todaySync.bytes }),
    { group: GROUP, name: `${k}: sync 1 event (kept state), today, time`, value: +todaySync.ms.toFixed(1), unit: 'ms' },
    vs(`${k}: sync 1 event (kept state) after a fork, time`, +forkedSync.ms.toFixed(1), 'ms', { name: 'sync time today', value: +todaySync.ms.toFixed(1) }),
    { group: GROUP, name: `${k}: refold on learning a fork`, value: refoldMs, unit: 'ms' },
    { group: GROUP, name: `${k}: rewrite the document, keeping the unforked part`, value: rewriteMs, unit: 'ms', note: 'once per fork learnt; blocks the log worker, not allocation' },
    { group: GROUP, name: `${k}: the two sides merge (bytes both ways)`, value: mergeBytes, unit: 'B', note: `${mergeMs} ms` }
  ]
  if (alternative !== undefined) {
    out.push(
      vs(`${k}: alternative, an actor per event: load`, alternative.loadMs, 'ms', { name: 'load today', value: todayLoadMs }),
      vs(`${k}: alternative, an actor per event: saved document`, alternative.save, 'B', { name: 'saved today', value: today.save.length }),
      vs(`${k}: alternative, an actor per event: sync 1 event, time`, +alternative.sync.ms.toFixed(1), 'ms', { name: 'sync time today', value: +todaySync.ms.toFixed(1) }),
      { group: GROUP, name: `${k}: alternative, an actor per event: sync 1 event, bytes`, value: alternative.sync.bytes, unit: 'B' },
      { group: GROUP, name: `${k}: alternative, an actor per event: write the document`, value: alternative.buildMs, unit: 'ms' }
    )
  }
  if (scratchMs !== undefined) out.push({ group: GROUP, name: `${k}: rewrite from scratch (a cut-short rewrite, on relaunch)`, value: scratchMs, unit: 'ms' })
  for (const l of [q.log, pf.log, qf.log, xOrig.log, xClone.log, x.log, loaded]) { try { l.close() } catch {} }
  return out
}

export async function run (): Promise<BenchResult[]> {
  return [...await atSize(10_000), ...await atSize(100_000)]
}
