import { availableParallelism } from 'node:os'
import { Command, InvalidArgumentError, Option } from 'commander'
import { DEFAULT_LINKS, DEFAULT_MIX, type ScheduleResult } from './schedule.js'
import { runMany, scheduleFor, type Options } from './run.js'

/**
 * `npm run sim`: the deterministic cluster simulator (DESIGN.md §8).
 *
 *   npm run sim -- --seed 7 --peers 5 --steps 200       one schedule, its trace on a violation
 *   npm run sim -- --schedules 20000                    many seeds, on worker threads
 *
 * Exit 0 when every schedule keeps the invariants, 1 on a violation (its
 * seed and step are printed: rerun with --seed to replay it exactly).
 */

const int = (what: string, min: number) => (v: string): number => {
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${what} must be an integer ≥ ${min}`)
  return n
}
const rate = (v: string): number => {
  const n = Number(v)
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('a rate must be a number in [0, 1]')
  return n
}

const program = new Command('sim')
  .description('run weft peers in one process under simulated time, faults and operators, and check the invariants')
  .addOption(new Option('--seed <n>', 'the first seed (schedule i runs seed + i)').argParser(int('--seed', 0)).default(1))
  .addOption(new Option('--peers <n>', 'peers per schedule; "3-8" picks per seed').default('3-8'))
  .addOption(new Option('--steps <n>', 'steps per schedule').argParser(int('--steps', 0)).default(40))
  .addOption(new Option('--schedules <n>', 'how many seeds to run').argParser(int('--schedules', 1)).default(1))
  .addOption(new Option('--bootstrap <how>', 'how the cluster forms').choices(['founder', 'consensus', 'mixed']).default('mixed'))
  .addOption(new Option('--drop <rate>', 'frames lost, with their connection').argParser(rate).default(DEFAULT_LINKS.drop))
  .addOption(new Option('--duplicate <rate>', 'frames delivered twice').argParser(rate).default(DEFAULT_LINKS.duplicate))
  .addOption(new Option('--jitter <ms>', 'link delay jitter (ms, on 5 ms)').argParser(int('--jitter', 0)).default(DEFAULT_LINKS.jitterMs))
  .addOption(new Option('--force <rate>', 'share of rmpeers forced past a minority').argParser(rate).default(DEFAULT_MIX.force))
  .addOption(new Option('--no-faults', 'no crashes, partitions, skew or link faults: operators only'))
  .addOption(new Option('--workers <n>', 'worker threads for many schedules').argParser(int('--workers', 1)).default(Math.max(1, availableParallelism())))
  .option('--trace', 'print the whole trace of each schedule')
  .addOption(new Option('--log <level>', 'peers\' log lines in the trace').choices(['warn', 'info']))
  .option('--dump', 'on a violation, print every replica\'s ring')
  .option('--json', 'print the summary as JSON')

async function main (): Promise<void> {
  program.parse()
  const o = program.opts<Options>()
  scheduleFor(o, o.seed) // checks --peers before any work
  const started = Date.now()
  const failed: ScheduleResult[] = []
  let ran = 0
  let simulatedMs = 0
  const counts: Record<string, number> = {}
  await runMany(o, o.seed, o.schedules, o.workers, r => {
    ran++
    simulatedMs += r.simulatedMs
    for (const [k, v] of Object.entries(r.counts)) counts[k] = (counts[k] ?? 0) + v
    if (!r.ok) {
      failed.push(r)
      // At once, not only in the summary: a long run's failures are worth reading while it goes on.
      if (o.schedules > 1) console.error(`sim: VIOLATION seed ${r.seed} (${r.peers} peers) at step ${r.violation!.step}: ${r.violation!.message}`)
    }
    if (o.trace === true || (!r.ok && o.schedules === 1)) for (const line of r.trace) console.log(line)
    if (o.schedules > 1 && ran % 100 === 0 && o.json !== true) console.error(`sim: ${ran}/${o.schedules} schedules, ${failed.length} failed`)
    if (o.schedules === 1 && o.json !== true) console.log(`seed ${r.seed}: ${r.peers} peers, ${r.steps} steps, ${(r.simulatedMs / 1000).toFixed(1)} simulated s, digest ${r.digest}: ${r.ok ? 'ok' : 'VIOLATION'}`)
  })
  const summary = {
    schedules: ran,
    failed: failed.map(r => ({ seed: r.seed, peers: r.peers, step: r.violation!.step, violation: r.violation!.message })),
    wallSeconds: Math.round((Date.now() - started) / 100) / 10,
    simulatedSeconds: Math.round(simulatedMs / 1000),
    steps: counts
  }
  if (o.json === true) console.log(JSON.stringify(summary, null, 2))
  else {
    if (o.schedules > 1) console.log(`sim: ${ran} schedules from seed ${o.seed}, ${failed.length} failed, ${summary.wallSeconds} s wall, ${summary.simulatedSeconds} simulated s`)
    for (const f of failed.slice(0, 20)) {
      console.log(`VIOLATION seed ${f.seed} (${f.peers} peers) at step ${f.violation!.step}: ${f.violation!.message}`)
      if (o.schedules > 1) {
        console.log('  last steps:')
        for (const line of f.trace.slice(-12)) console.log(`    ${line}`)
        console.log(`  replay: npm run sim -- --seed ${f.seed} --peers ${f.peers} --steps ${f.steps}${o.faults ? '' : ' --no-faults'} --trace`)
      }
    }
  }
  process.exitCode = failed.length > 0 ? 1 : 0
}

main().catch((err: Error) => { console.error(`sim: ${err.stack ?? err.message}`); process.exitCode = 2 })
