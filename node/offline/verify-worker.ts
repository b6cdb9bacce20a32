import { parentPort } from 'node:worker_threads'
import { decodeEvent, EventError } from '../../crdt/events/index.js'
import type { VerifyFault, VerifyJob } from './verify-pool.js'

/**
 * One core's share of `weft verify`: strict decoding with signatures for a
 * slice of the log (id, canonical form, structure, signature, evidence).
 */
parentPort!.on('message', (job: VerifyJob) => {
  const faults: VerifyFault[] = []
  for (const { id, bytes } of job.items) {
    try {
      decodeEvent(bytes, { expectedId: id })
    } catch (err) {
      faults.push({ id, code: err instanceof EventError ? err.code : 'error', message: (err as Error).message })
    }
  }
  parentPort!.postMessage({ job: job.job, checked: job.items.length, faults })
})
