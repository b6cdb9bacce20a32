import { parentPort } from 'node:worker_threads'
import { decodeEvent, EventError } from '../../crdt/events/index.js'
import type { VerifyDone, VerifyJob } from './verify-pool.js'

/**
 * One core's share of `weft verify`: strict decoding with signatures (id,
 * canonical form, structure, signature, evidence) of slices of the log,
 * claimed one at a time until none is left; then one report.
 */
parentPort!.once('message', (job: VerifyJob) => {
  const bytes = new Uint8Array(job.bytes)
  const ends = new Uint32Array(job.ends)
  const next = new Int32Array(job.next)
  const done: VerifyDone = { checked: 0, faults: [] }
  for (;;) {
    const from = Atomics.add(next, 0, 1) * job.slice
    if (from >= job.count) break
    const to = Math.min(job.count, from + job.slice)
    for (let i = from; i < to; i++) {
      const id = job.ids[i]!
      try {
        // A copy out of shared memory: the decoder keeps views of it, and some
        // APIs (TextDecoder) refuse shared buffers.
        decodeEvent(bytes.slice(i === 0 ? 0 : ends[i - 1]!, ends[i]!), { expectedId: id })
      } catch (err) {
        done.faults.push({ index: i, id, code: err instanceof EventError ? err.code : 'error', message: (err as Error).message })
      }
    }
    done.checked += to - from
  }
  parentPort!.postMessage(done)
})
