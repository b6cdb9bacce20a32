import { spawn } from 'node:child_process'
import { cleanup, WEFT_BIN, WeftPeer } from '../test/helpers/weft-process.js'
import { compared, median, type BenchResult } from './harness.js'

/**
 * Issue 12: CLI start-up. Spawn → exit wall times of `node -e 0` (the floor
 * every figure is set against), `weft --version`, and `weft alloc ID` against
 * a running peer (a real daemon on 127.0.0.1 with a temp data dir, killed
 * afterwards). The same ID each time: after the first, the daemon answers
 * from its table without writing, so the figure is the CLI's own cost plus
 * one control-socket round trip. Rounds interleave the three, so a slow
 * stretch of the shared machine hits all alike; medians of RUNS.
 */

const GROUP = 'cli'
const RUNS = Number(process.env.WEFT_BENCH_CLI_RUNS ?? 21)
const GOAL = '≤ 1.5× node -e 0'

function log (line: string): void {
  process.stderr.write(`bench cli: ${line}\n`)
}

/** Wall time of one process from spawn to exit; throws on a non-zero exit. */
async function timeProcess (args: string[]): Promise<number> {
  const t = performance.now()
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString() })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', c => { resolve(c) })
  })
  const ms = performance.now() - t
  if (code !== 0) throw new Error(`node ${args.join(' ')} exited ${code ?? 'by a signal'}: ${stderr.trim().slice(0, 500)}`)
  return ms
}

const list = (xs: number[]): string => [...xs].sort((a, b) => a - b).map(x => x.toFixed(0)).join(', ') + ' ms'

export async function run (): Promise<BenchResult[]> {
  const results: BenchResult[] = []
  try {
    const peer = await WeftPeer.launch({ nickname: 'bench-cli' })
    const ready = await peer.client.waitReady(60_000)
    if (!ready.ready) throw new Error(`the peer is not ready: ${ready.reason}`)
    const cases: Array<{ name: string, args: string[] }> = [
      { name: 'node -e 0', args: ['-e', '0'] },
      { name: 'weft --version', args: [WEFT_BIN, '--version'] },
      { name: 'weft alloc ID (running peer)', args: [WEFT_BIN, 'alloc', 'bench-id', '--data-dir', peer.dataDir] }
    ]
    // Unmeasured once each: the first alloc writes, and the OS caches the files.
    for (const c of cases) await timeProcess(c.args)
    const times = cases.map(() => [] as number[])
    for (let round = 0; round < RUNS; round++) {
      for (const [i, c] of cases.entries()) times[i]!.push(await timeProcess(c.args))
    }
    const floor: BenchResult = {
      group: GROUP,
      name: 'node -e 0 (floor)',
      value: +median(times[0]!).toFixed(1),
      unit: 'ms',
      note: `spawn → exit, median of ${RUNS}: ${list(times[0]!)}`
    }
    results.push(floor)
    for (const [i, c] of cases.entries()) {
      if (i === 0) continue
      const xs = times[i]!
      // The fastest runs are the least disturbed by other work on a shared machine.
      const best = `fastest ${Math.min(...xs).toFixed(0)} ms = ${(Math.min(...xs) / Math.min(...times[0]!)).toFixed(2)}× the fastest node -e 0`
      results.push(compared({ group: GROUP, name: c.name, value: +median(xs).toFixed(1), unit: 'ms', goal: GOAL, note: `spawn → exit, median of ${RUNS}: ${list(xs)}; ${best}` }, floor))
      log(`${c.name}: ${median(xs).toFixed(1)} ms = ${(median(xs) / floor.value).toFixed(2)}× node -e 0 (${floor.value} ms)`)
    }
  } finally {
    await cleanup()
  }
  return results
}
