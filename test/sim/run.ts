import { Worker } from 'node:worker_threads'
import { InvalidArgumentError } from 'commander'
import { DEFAULT_MIX, runSchedule, type ScheduleOptions, type ScheduleResult } from './schedule.js'

/** The simulator's options, as `npm run sim` parses them (test/sim/main.ts). */
export interface Options {
  seed: number, peers: string, steps: number, schedules: number, bootstrap: string, drop: number, duplicate: number,
  jitter: number, force: number, faults: boolean, workers: number, trace?: boolean, json?: boolean, dump?: boolean, log?: 'warn' | 'info'
}

/** The schedule for seed `seed`: the same options give the same schedule, on any thread. */
export function scheduleFor (o: Options, seed: number): ScheduleOptions {
  const m = /^(\d+)(?:-(\d+))?$/.exec(o.peers)
  if (m === null) throw new InvalidArgumentError('--peers must be N or N-M')
  const lo = Number(m[1])
  const hi = Number(m[2] ?? m[1])
  if (lo < 1 || hi < lo) throw new InvalidArgumentError('--peers must be N ≥ 1, or N-M with M ≥ N')
  const peers = lo + (seed % (hi - lo + 1))
  const bootstrap = o.bootstrap === 'mixed' ? (seed % 4 === 3 ? 'consensus' : 'founder') : o.bootstrap as 'founder' | 'consensus'
  const mix = o.faults
    ? { ...DEFAULT_MIX, force: o.force }
    : { ...DEFAULT_MIX, crash: 0, restart: 0, partition: 0, heal: 0, skew: 0, force: o.force }
  const links = o.faults ? { delayMs: 5, jitterMs: o.jitter, drop: o.drop, duplicate: o.duplicate } : { delayMs: 5, jitterMs: 0, drop: 0, duplicate: 0 }
  return { seed, peers, steps: o.steps, mix, links, bootstrap, fullTrace: o.trace === true, dump: o.dump === true, ...(o.log !== undefined ? { log: o.log } : {}) }
}

/** Runs `count` seeds from `first` on `workers` threads; calls `done` per schedule. */
export async function runMany (o: Options, first: number, count: number, workers: number, done: (r: ScheduleResult) => void): Promise<void> {
  if (workers <= 1 || count === 1) {
    for (let i = 0; i < count; i++) done(await runSchedule(scheduleFor(o, first + i)))
    return
  }
  let next = 0
  await Promise.all(Array.from({ length: Math.min(workers, count) }, async () => {
    const w = new Worker(new URL('./worker.js', import.meta.url), { workerData: o })
    try {
      while (next < count) {
        const seed = first + next++
        const r = await new Promise<ScheduleResult>((resolve, reject) => {
          w.once('message', resolve)
          w.once('error', reject)
          w.postMessage(seed)
        })
        w.removeAllListeners('error')
        done(r)
      }
    } finally {
      await w.terminate()
    }
  }))
}

