import { randomBytes } from 'node:crypto'
import { parseCidr } from '../packages/netaddr/index.js'
import { createGenesis, decodeEvent, ed25519SignerFromSeed, signEvent, type SignedEvent, type Signer } from '../crdt/events/index.js'
import { EventLog, SyncSession } from '../crdt/log/index.js'
import { OwnershipRing } from '../crdt/ring/index.js'
import type { BenchResult } from './harness.js'
import { buildHistory } from './history.js'

/**
 * Issue 4's figures: folding 10k and 100k events, appending 10k events one
 * by one (encode + sign + put + commit + fold update), and the bytes on the
 * wire to sync one new event into a 10k- and a 100k-event replica with a
 * kept sync state.
 */

const GROUP = 'crdt'

function fold (genesis: SignedEvent, events: readonly SignedEvent[]): number {
  const t = performance.now()
  const ring = new OwnershipRing(genesis.id)
  ring.apply(genesis)
  for (const e of events) ring.apply(e)
  return performance.now() - t
}

/** A fixed CPU-bound piece of work (ms): sorting 1M pseudo-random doubles. */
function referenceWork (): number {
  const xs = new Float64Array(1_000_000)
  let seed = 12345
  for (let i = 0; i < xs.length; i++) { seed = (seed * 1103515245 + 12345) >>> 0; xs[i] = seed / 2 ** 32 }
  const t = performance.now()
  xs.sort()
  return performance.now() - t
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[s.length >> 1]!
}

/** A writer like the daemon's: fold, sign, put/commit, for one author. */
class Writer {
  readonly ring: OwnershipRing
  readonly log: EventLog
  constructor (readonly signer: Signer, genesis: SignedEvent) {
    this.ring = new OwnershipRing(genesis.id)
    this.ring.apply(genesis)
    this.log = EventLog.create(signer.author)
    this.log.addGenesis(genesis)
  }

  append (kind: string, body: unknown, time: number): SignedEvent {
    const e = signEvent({ kind, author: this.signer.author, time, body, ...this.ring.nextFields(this.signer.author) } as never, this.signer)
    this.ring.apply(e)
    this.log.append(e)
    return e
  }
}

function appendBench (n: number): BenchResult[] {
  const signer = ed25519SignerFromSeed(randomBytes(32))
  const genesis = createGenesis({ ranges: [parseCidr('10.0.0.0/8')], seeds: [signer.author] })
  const w = new Writer(signer, genesis)
  const perK: number[] = []
  const start = performance.now()
  let t = start
  for (let i = 0; i < n; i++) {
    w.append('join', { nickname: `host-${i}`, addrs: ['/ip4/10.1.2.3/tcp/6783'] }, 1_700_000_000_000 + i)
    if ((i + 1) % 1000 === 0) { const now = performance.now(); perK.push((now - t) / 1000); t = now }
  }
  const total = performance.now() - start
  w.log.close()
  return [
    { group: GROUP, name: `append ${n / 1000}k events one by one (encode+sign+put+commit+fold)`, value: Math.round(total), unit: 'ms', goal: '< 2000 ms' },
    { group: GROUP, name: 'append: mean ms per event, first 1k', value: +perK[0]!.toFixed(3), unit: 'ms' },
    { group: GROUP, name: 'append: mean ms per event, last 1k', value: +perK[perK.length - 1]!.toFixed(3), unit: 'ms', baseline: { name: 'first 1k', value: +perK[0]!.toFixed(3), unit: 'ms' }, ratio: +(perK[perK.length - 1]! / perK[0]!).toFixed(2), goal: 'flat (ratio ≈ 1)' }
  ]
}

/**
 * Bytes to sync one new event between two replicas that hold the same `n`
 * events and kept their sync states from the previous session.
 */
function syncBytesBench (n: number): BenchResult {
  const signer = ed25519SignerFromSeed(randomBytes(32))
  const genesis = createGenesis({ ranges: [parseCidr('10.0.0.0/8')], seeds: [signer.author] })
  const w = new Writer(signer, genesis)
  for (let i = 0; i < n; i++) w.append('join', { nickname: `host-${i}`, addrs: [] }, 1_700_000_000_000 + i)
  const other = ed25519SignerFromSeed(randomBytes(32))
  const A = w.log
  const B = EventLog.load(other.author, [A.save()])
  const sa = new SyncSession()
  const sb = new SyncSession()
  exchange(A, sa, B, sb)
  const e = w.append('join', { nickname: 'one-more', addrs: [] }, 1)
  const bytes = exchange(A, sa, B, sb)
  if (!B.hasEvent(e.id)) throw new Error('the new event did not arrive')
  A.close()
  B.close()
  return { group: GROUP, name: `sync 1 new event into a ${n / 1000}k-event replica (kept sync state)`, value: bytes, unit: 'B', goal: '< 1 KB' }
}

/** Runs sync rounds until quiet; returns the bytes sent both ways. */
function exchange (A: EventLog, sa: SyncSession, B: EventLog, sb: SyncSession): number {
  let bytes = 0
  for (let round = 0; round < 50; round++) {
    let sent = false
    for (const [from, fs, to, ts] of [[A, sa, B, sb], [B, sb, A, sa]] as const) {
      const m = from.generateSyncMessage(fs)
      if (m === null) continue
      sent = true
      bytes += m.length
      to.receive(ts, m, null).adopt()
    }
    if (!sent) return bytes
  }
  throw new Error('sync did not settle')
}

export async function run (): Promise<BenchResult[]> {
  const out: BenchResult[] = []
  const h100 = buildHistory(100_000)
  const decodeStart = performance.now()
  const decoded = h100.events.map(e => decodeEvent(e.bytes, { trusted: true }))
  const decodeMs = performance.now() - decodeStart
  // The baseline: a fixed piece of work measured beside each fold, so a run
  // on a busy machine shows as a slow baseline too.
  const reference: number[] = []
  for (const n of [10_000, 100_000]) {
    const runs: number[] = []
    for (let i = 0; i < 3; i++) {
      reference.push(referenceWork())
      runs.push(fold(h100.genesis, decoded.slice(0, n)))
    }
    const goal = n === 10_000 ? 100 : 1000
    out.push({ group: GROUP, name: `fold ${n / 1000}k events (median of 3)`, value: Math.round(median(runs)), unit: 'ms', goal: `< ${goal} ms every run`, note: `runs ${runs.map(x => x.toFixed(0)).join(', ')} ms; slowest ${Math.max(...runs) < goal ? 'within' : 'over'} the goal` })
  }
  const base: BenchResult = { group: GROUP, name: 'baseline: sort 1M random doubles (beside each fold)', value: +median(reference).toFixed(1), unit: 'ms', note: `Float64Array sort, one before each fold run: ${reference.map(x => x.toFixed(0)).join(', ')} ms` }
  for (const r of out) Object.assign(r, { baseline: { name: base.name, value: base.value, unit: base.unit }, ratio: r.value / base.value })
  out.unshift(base)
  out.push({ group: GROUP, name: 'decode 100k events from our own store (trusted)', value: Math.round(decodeMs), unit: 'ms', note: 'relaunch cost before the fold' })
  out.push(...appendBench(10_000))
  out.push(syncBytesBench(10_000))
  out.push(syncBytesBench(100_000))
  return out
}
