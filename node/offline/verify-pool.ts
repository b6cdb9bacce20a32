import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'

/**
 * Checks events' bytes on every core: worker threads each take slices of
 * the log off a queue. Ed25519 verification (~9k/s per core here) is what
 * `weft verify` spends its time on.
 */
export interface VerifyItem { id: string, bytes: Uint8Array }
export interface VerifyJob { job: number, items: VerifyItem[] }
export interface VerifyFault { id: string, code: string, message: string }

const SLICE = 1000

/** Worker threads used for `count` events: one per slice of SLICE, at most `threads`. */
export function verifyThreads (count: number, threads = availableParallelism()): number {
  return Math.max(1, Math.min(threads, Math.ceil(count / SLICE)))
}

export async function verifyOnAllCores (items: VerifyItem[], threads = availableParallelism()): Promise<VerifyFault[]> {
  const slices: VerifyItem[][] = []
  for (let i = 0; i < items.length; i += SLICE) slices.push(items.slice(i, i + SLICE))
  const n = verifyThreads(items.length, threads)
  const faults: VerifyFault[] = []
  let next = 0
  const workers = Array.from({ length: n }, () => new Worker(new URL('./verify-worker.js', import.meta.url)))
  try {
    await Promise.all(workers.map(async w => {
      while (next < slices.length) {
        const job = next++
        const done = new Promise<{ faults: VerifyFault[] }>((resolve, reject) => {
          const onMessage = (m: { job: number, faults: VerifyFault[] }): void => { if (m.job === job) { w.off('message', onMessage); w.off('error', reject); resolve(m) } }
          w.on('message', onMessage)
          w.once('error', reject)
        })
        w.postMessage({ job, items: slices[job]! } satisfies VerifyJob)
        faults.push(...(await done).faults)
      }
    }))
  } finally {
    await Promise.all(workers.map(async w => await w.terminate()))
  }
  return faults
}
