import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { ControlClient } from '../node/api/client.js'
import type { FloodJob, FloodReport } from './flood-worker.js'
import type { BenchResult } from './harness.js'
import { log, percentile, probeStatus, sleep, socketOf, spawnForeground, stopChild, vmRssMb } from './daemon-helpers.js'

/**
 * A hostile host against a victim's allocations (issue 15, DESIGN.md §3.3):
 * the victim's `alloc` latency while a host that passed hello floods it with
 * no-op sync frames (just under the rate limit, and far over it) and
 * donation requests, against the same victim unflooded, in the same run.
 * Goal: p99 alloc latency within 2× of unflooded.
 */

const GROUP = 'flood'
const ALLOCS = 400

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => { const a = s.address(); s.close(() => { resolve(typeof a === 'object' && a !== null ? a.port : 0) }) })
  })
}

/** Alloc then release, ALLOCS times, one at a time: each alloc's latency (ms), sorted. */
async function allocLatencies (client: ControlClient, tag: string): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < ALLOCS; i++) {
    const t0 = performance.now()
    await client.alloc(`${tag}-${i}`)
    out.push(performance.now() - t0)
    await client.release(`${tag}-${i}`)
  }
  return out.sort((a, b) => a - b)
}

export async function run (): Promise<BenchResult[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'weft-bench-flood-'))
  const port = await freePort()
  const peer = spawnForeground({ dataDir, port, nickname: 'victim' })
  const results: BenchResult[] = []
  const workers: ChildProcess[] = []
  /** A flooder in a process of its own at the lowest priority, started once it passed hello and synced. */
  const startFlood = async (job: FloodJob): Promise<{ stop: () => Promise<FloodReport> }> => {
    const w = fork(fileURLToPath(new URL('./flood-worker.js', import.meta.url)), [], { execPath: 'nice', execArgv: ['-n', '19', process.execPath], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    workers.push(w)
    const exited = new Promise<never>((_resolve, reject) => { w.once('exit', code => { reject(new Error(`the flooder exited (${String(code)})`)) }) })
    w.send(job)
    await Promise.race([new Promise<void>(resolve => { w.once('message', () => { resolve() }) }), exited])
    return {
      stop: async () => await Promise.race([new Promise<FloodReport>(resolve => {
        w.once('message', (m: { report: FloodReport }) => { resolve(m.report) })
        w.send('stop')
      }), exited])
    }
  }
  try {
    const socket = socketOf(dataDir)
    let status = await probeStatus(socket, 30_000)
    for (let i = 0; i < 300 && status?.ipam.state !== 'ready'; i++) { await sleep(100); status = await probeStatus(socket) }
    if (status?.ipam.state !== 'ready') throw new Error('the victim did not become ready')
    const client = ControlClient.forDataDir(dataDir)
    await allocLatencies(client, 'warm')
    const calm = await allocLatencies(client, 'calm')
    const calmP99 = percentile(calm, 99)
    results.push({ group: GROUP, name: `alloc p99, unflooded (${ALLOCS} allocs)`, value: +calmP99.toFixed(2), unit: 'ms', note: `p50 ${percentile(calm, 50).toFixed(2)} ms` })

    const addr = `/ip4/127.0.0.1/tcp/${port}/p2p/${status.peer.name}`
    const scenarios: Array<[string, FloodJob['kind'], number]> = [
      ['190 no-op frames/s (under the limit) + donation requests', 'noop', 190],
      ['no-op frames as fast as they go + donation requests', 'noop', Infinity],
      // Last: the victim's log then outgrows one frame, which the raw client cannot sync.
      ['a member flooding valid events', 'member', 0]
    ]
    for (const [label, kind, rate] of scenarios) {
      const events0 = (await client.status()).events
      const flood = await startFlood({ kind, rate, addr, victim: status.peer.name, cluster: status.cluster.id!, range: status.cluster.range!, events: events0 })
      const rss0 = vmRssMb(peer.child.pid!)
      const flooded = await allocLatencies(client, `flood-${kind}-${Number.isFinite(rate) ? rate : 'max'}`)
      const report = await flood.stop()
      const adopted = (await client.status()).events - events0
      const p99 = percentile(flooded, 99)
      const what = kind === 'member'
        ? `the member signed ${report.sent} events, the victim adopted ${adopted} meanwhile`
        : `${report.sent} frames and ${report.asked} donation requests sent meanwhile; flooder ${report.hungUp ? 'hung up on' : 'still connected'}`
      results.push({
        group: GROUP,
        name: `alloc p99, ${label}`,
        value: +p99.toFixed(2),
        unit: 'ms',
        goal: '≤ 2× unflooded',
        baseline: { name: 'alloc p99, unflooded', value: +calmP99.toFixed(2), unit: 'ms' },
        ratio: +(p99 / calmP99).toFixed(2),
        note: `p50 ${percentile(flooded, 50).toFixed(2)} ms; ${what}; victim RSS ${rss0.toFixed(0)} → ${vmRssMb(peer.child.pid!).toFixed(0)} MiB`
      })
      log(`flood: ${label}: p99 ${p99.toFixed(2)} ms vs ${calmP99.toFixed(2)} ms unflooded`)
    }
  } finally {
    for (const w of workers) if (w.exitCode === null) w.kill()
    await stopChild(peer.child)
    rmSync(dataDir, { recursive: true, force: true })
  }
  return results
}
