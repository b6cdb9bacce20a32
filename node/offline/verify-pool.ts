import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'

/**
 * Checks events' bytes on every core: worker threads take slices of the log
 * until none is left. Ed25519 verification (~9k/s per core here) is what
 * `weft verify` spends its time on, so the rest stays out of its way: the
 * log goes to the workers once, packed in shared memory, and each worker
 * claims its next slice with an atomic counter, never waiting for the main
 * thread (which is busy with the fold meanwhile).
 */
export interface VerifyItem { id: string, bytes: Uint8Array }
export interface VerifyFault { id: string, code: string, message: string }

/** The whole log, as every worker sees it. */
export interface VerifyJob {
  /** Every event's bytes, one after another. */
  bytes: SharedArrayBuffer
  /** Uint32 end offset of each event in `bytes`. */
  ends: SharedArrayBuffer
  /** Each event's id, as the store names it. */
  ids: string[]
  /** Int32 [0]: the next slice to take. */
  next: SharedArrayBuffer
  count: number
  slice: number
}

/** What a worker sends back once no slice is left. */
export interface VerifyDone { checked: number, faults: Array<VerifyFault & { index: number }> }

/** Small enough that the last slices spread over every worker. */
const SLICE = 250
/** Fewer events than this per thread are not worth a thread's start-up. */
const MIN_PER_THREAD = 1000

/** Worker threads used for `count` events: at most `threads`, at most one per MIN_PER_THREAD events. */
export function verifyThreads (count: number, threads = availableParallelism()): number {
  return Math.max(1, Math.min(threads, Math.ceil(count / MIN_PER_THREAD)))
}

export async function verifyOnAllCores (items: VerifyItem[], threads = availableParallelism()): Promise<VerifyFault[]> {
  const n = verifyThreads(items.length, threads)
  // Started first: they load their modules while the log is packed.
  const workers = Array.from({ length: n }, () => new Worker(new URL('./verify-worker.js', import.meta.url)))
  try {
    const job = pack(items)
    const done = await Promise.all(workers.map(async w => await new Promise<VerifyDone>((resolve, reject) => {
      w.once('message', resolve)
      w.once('error', reject)
      w.once('exit', code => { reject(new Error(`a verify worker exited (${code}) before reporting`)) })
      w.postMessage(job)
    })))
    const checked = done.reduce((sum, d) => sum + d.checked, 0)
    if (checked !== items.length) throw new Error(`the verify workers checked ${checked} of ${items.length} events`)
    return done.flatMap(d => d.faults).sort((a, b) => a.index - b.index).map(({ id, code, message }) => ({ id, code, message }))
  } finally {
    await Promise.all(workers.map(async w => await w.terminate()))
  }
}

function pack (items: VerifyItem[]): VerifyJob {
  let total = 0
  for (const it of items) total += it.bytes.length
  if (total > 0xffffffff) throw new RangeError(`${total} bytes of events do not fit 32-bit offsets`)
  const job: VerifyJob = {
    bytes: new SharedArrayBuffer(total),
    ends: new SharedArrayBuffer(4 * items.length),
    ids: items.map(it => it.id),
    next: new SharedArrayBuffer(4),
    count: items.length,
    slice: SLICE
  }
  const bytes = new Uint8Array(job.bytes)
  const ends = new Uint32Array(job.ends)
  let at = 0
  items.forEach((it, i) => {
    bytes.set(it.bytes, at)
    at += it.bytes.length
    ends[i] = at
  })
  return job
}
