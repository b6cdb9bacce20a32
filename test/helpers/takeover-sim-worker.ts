import { parentPort, workerData } from 'node:worker_threads'
import { runOnce, type Mutant, type RunResult } from './takeover-sim.js'

/**
 * Runs a share of the takeover fuzz schedules off the test runner's thread
 * (whose async bookkeeping about doubles the cost of every promise) and
 * posts one summary. Stops at the first violation when asked to.
 */

export interface WorkerJob { seeds: number[], mutant?: Mutant, stopAtFirst?: boolean }
export interface WorkerSummary { runs: Array<Omit<RunResult, 'violations'> & { seed: number }>, failures: Array<{ seed: number, kind: string, violations: string[] }> }

const job = workerData as WorkerJob
const summary: WorkerSummary = { runs: [], failures: [] }
for (const seed of job.seeds) {
  const { violations, ...rest } = await runOnce(seed, job.mutant)
  summary.runs.push({ seed, ...rest })
  if (violations.length > 0) {
    summary.failures.push({ seed, kind: rest.kind, violations })
    if (job.stopAtFirst === true) break
  }
}
parentPort!.postMessage(summary)
