import { availableParallelism } from 'node:os'
import { CausalError, forksIn } from '../../crdt/causal/index.js'
import { decodeEvent, type SignedEvent } from '../../crdt/events/index.js'
import { OwnershipRing } from '../../crdt/ring/index.js'
import { checkRingViewJson, ringViewFromSnapshot, type RingViewJson } from '../ring-view.js'
import { ShapeError } from '../shape.js'
import { Store, StoreError, type EventBytes } from '../store/index.js'
import { LogReaderError, readerOpenError } from './reader.js'
import { verifyOnAllCores, verifyThreads, type VerifyFault } from './verify-pool.js'

/**
 * `weft verify` (DESIGN.md §2.1): re-checks what the daemon checked once,
 * when it adopted each event, and trusts on relaunch: every id, canonical
 * form and signature (on every core), the causal structure (deps, seq,
 * lamport), the ownership rule (a fresh fold), and that the saved ring
 * snapshot is that fold. Read-only.
 */
export interface VerifyReport {
  events: number
  threads: number
  ms: number
  /** Events whose bytes fail: wrong id, not canonical, malformed, bad signature. */
  byteFaults: VerifyFault[]
  /** Events that break the causal structure (or depend on one that does). */
  causalFaults: VerifyFault[]
  /** Void events: they break the ownership rule, kept and flagged by design. */
  voids: number
  snapshot: 'matches' | 'differs' | 'missing' | 'malformed'
  /** What is wrong with a malformed snapshot. */
  snapshotProblem?: string
}

export function verifyFailed (r: VerifyReport): boolean {
  return r.byteFaults.length > 0 || r.causalFaults.length > 0 || r.snapshot === 'differs' || r.snapshot === 'malformed'
}

/** The saved ring snapshot, checked: a malformed one is a fault to report, not a reason to stop. */
function savedSnapshot (store: Store): { view: RingViewJson | undefined } | { problem: string } {
  try {
    const rec = store.getSnapshot()
    return { view: rec === undefined || rec.snapshot === null ? undefined : checkRingViewJson(rec.snapshot) }
  } catch (err) {
    if (err instanceof ShapeError || (err instanceof StoreError && err.code === 'corrupt')) return { problem: err.message }
    throw err
  }
}

export async function verifyDataDir (dataDir: string, threads = availableParallelism()): Promise<VerifyReport> {
  let store: Store
  try {
    // Like openLogReader: a stopped peer's files or the daemon's copy, so walk the pages first.
    store = Store.open(dataDir, { readOnly: true, checkPages: true })
  } catch (err) {
    throw readerOpenError(dataDir, err)
  }
  try {
    const meta = store.getMeta()
    if (meta?.clusterId === undefined) throw new LogReaderError(`the peer in ${dataDir} has not joined a cluster yet: it has no log`)
    const started = performance.now()
    // Both in one macrotask: lmdb-js reads see one transaction per macrotask,
    // so the events and the snapshot agree even while the daemon writes.
    const stored = [...store.eventBytesInOrder()]
    const saved = savedSnapshot(store)
    // Fold while the pool checks the bytes (its workers need nothing more from
    // this thread until they report); fold again without the faulty ones if
    // there are any.
    const pool = verifyOnAllCores(stored, threads)
    let folded = foldStored(meta.clusterId, stored, new Set())
    const byteFaults = await pool
    if (byteFaults.length > 0) folded = foldStored(meta.clusterId, stored, new Set(byteFaults.map(f => f.id)))
    const { ring, causalFaults } = folded
    const fold = ringViewFromSnapshot(ring.snapshot())
    const snapshot = 'problem' in saved ? 'malformed' : saved.view === undefined ? 'missing' : JSON.stringify(saved.view) === JSON.stringify(fold) ? 'matches' : 'differs'
    return {
      ...('problem' in saved ? { snapshotProblem: saved.problem } : {}),
      events: stored.length,
      threads: verifyThreads(stored.length, threads),
      ms: Math.round(performance.now() - started),
      byteFaults,
      causalFaults,
      voids: fold?.voids.length ?? 0,
      snapshot
    }
  } finally {
    await store.close()
  }
}

/** Folds the stored events but `bad`, naming those that break the causal structure. */
function foldStored (clusterId: string, stored: EventBytes[], bad: ReadonlySet<string>): { ring: OwnershipRing, causalFaults: VerifyFault[] } {
  const causalFaults: VerifyFault[] = []
  const faulty = new Set<string>(bad)
  const ring = new OwnershipRing(clusterId, forksIn(decodable(stored, bad)))
  for (const e of stored) {
    if (bad.has(e.id)) continue
    const fault = (code: string, message: string): void => { faulty.add(e.id); causalFaults.push({ id: e.id, code, message }) }
    let signed
    try {
      signed = decodeEvent(e.bytes, { trusted: true, expectedId: e.id }) // the pool checks the bytes in full
    } catch (err) {
      fault('undecodable', (err as Error).message)
      continue
    }
    if (signed.event.lamport !== e.lamport) {
      fault('index', `the store indexes it at lamport ${e.lamport}, but the event says ${signed.event.lamport}`)
      continue
    }
    try {
      ring.apply(signed)
    } catch (err) {
      if (!(err instanceof CausalError)) throw err
      const dep = signed.event.deps.find(d => faulty.has(d))
      fault(err.code, dep !== undefined ? `depends on faulty event ${dep}` : err.message)
    }
  }
  return { ring, causalFaults }
}

/** The stored events that decode (but `bad`), to find the forks they prove before folding. */
function * decodable (stored: EventBytes[], bad: ReadonlySet<string>): Generator<SignedEvent> {
  for (const e of stored) {
    if (bad.has(e.id)) continue
    try {
      yield decodeEvent(e.bytes, { trusted: true, expectedId: e.id })
    } catch {}
  }
}
