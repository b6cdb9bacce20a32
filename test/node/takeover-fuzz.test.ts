import { test } from 'node:test'
import assert from 'node:assert/strict'
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { Kind, Mutant, Tally } from '../helpers/takeover-sim.js'
import type { WorkerJob, WorkerSummary } from '../helpers/takeover-sim-worker.js'

/**
 * Takeover votes (DESIGN.md §3.2) under hostile schedules: see
 * test/helpers/takeover-sim.ts for the simulation and the invariants.
 * WEFT_TAKEOVER_RUNS=n runs n schedules; WEFT_TAKEOVER_SEED=n replays one
 * (add WEFT_TAKEOVER_TRACE=1 for its story). The schedules run on
 * WEFT_TAKEOVER_WORKERS worker threads (default: one per core, at most 2);
 * each seed replays the same wherever it runs.
 */

const WORKERS = Number(process.env.WEFT_TAKEOVER_WORKERS ?? Math.min(2, availableParallelism()))

/** Runs `seeds` split over the workers (interleaved, so each gets a fair share of slow schedules). */
async function fuzz (seeds: number[], opts: { mutant?: Mutant, stopAtFirst?: boolean } = {}): Promise<WorkerSummary> {
  const shares = Array.from({ length: Math.max(1, Math.min(WORKERS, seeds.length)) }, (_, w) => seeds.filter((_, i) => i % WORKERS === w))
  const summaries = await Promise.all(shares.map(async share => await new Promise<WorkerSummary>((resolve, reject) => {
    const job: WorkerJob = { seeds: share, ...opts }
    const worker = new Worker(new URL('../helpers/takeover-sim-worker.js', import.meta.url), { workerData: job, env: process.env })
    worker.once('message', resolve)
    worker.once('error', reject)
    worker.once('exit', code => { if (code !== 0) reject(new Error(`fuzz worker exited with ${code}`)) })
  })))
  return {
    runs: summaries.flatMap(s => s.runs).sort((a, b) => a.seed - b.seed),
    failures: summaries.flatMap(s => s.failures).sort((a, b) => a.seed - b.seed)
  }
}

test('10,000 takeover vote schedules: one taker per removed peer, never a mutual removal, every approval a verified quorum', async () => {
  const only = process.env.WEFT_TAKEOVER_SEED
  const seeds = only !== undefined ? [Number(only)] : Array.from({ length: Number(process.env.WEFT_TAKEOVER_RUNS ?? 10_000) }, (_, i) => i + 1)
  const { runs, failures } = await fuzz(seeds)
  const first = failures[0]
  assert.equal(first, undefined, first === undefined ? '' : `${failures.length} failing schedules; seed ${first.seed} (${first.kind}): ${first.violations.join('; ')}`)
  assert.equal(runs.length, seeds.length)
  const kinds = new Map<Kind, number>()
  const tally: Tally = { won: 0, lost: 0, self: 0, minority: 0, timeout: 0 }
  for (const r of runs) {
    kinds.set(r.kind, (kinds.get(r.kind) ?? 0) + 1)
    for (const k of Object.keys(tally) as Array<keyof Tally>) tally[k] += r.tally[k]
  }
  // Liveness, loosely: with no crash, no partition and few drops, somebody decides.
  const calm = runs.filter(r => r.calm)
  const undecided = calm.filter(r => !r.decided).map(r => r.seed)
  assert.deepEqual(undecided, [], `calm schedules where nobody decided: seeds ${undecided.slice(0, 10).join(', ')}`)
  console.log(`# ${runs.length} schedules (${[...kinds].map(([k, v]) => `${v} ${k}`).join(', ')}); votes: ${Object.entries(tally).map(([k, v]) => `${v} ${k}`).join(', ')}; all ${calm.length} calm schedules decided`)
})

test('the fuzz catches a proposer that ignores accepted values, and acceptors whose store writes nothing', async () => {
  for (const mutant of ['deaf-proposer', 'forgetful'] satisfies Mutant[]) {
    const { failures } = await fuzz(Array.from({ length: 1000 }, (_, i) => i + 1), { mutant, stopAtFirst: true })
    const caught = failures[0]
    assert.ok(caught !== undefined, `the ${mutant} mutant survived 1000 schedules`)
    console.log(`# mutant ${mutant} caught at seed ${caught.seed} (${caught.kind}): ${caught.violations[0]}`)
  }
})
