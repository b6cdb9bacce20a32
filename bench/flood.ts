import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { SyncSession } from '../crdt/log/index.js'
import { ControlClient } from '../node/api/client.js'
import { SPACE_PROTOCOL_ID } from '../node/net/space.js'
import { RawSyncClient, syncLegitimately } from '../test/helpers/raw-sync-client.js'
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

/** Sends no-op sync frames at `perSecond` (Infinity: as fast as the stream takes them) until `stop()`. */
function noopFlood (client: RawSyncClient, noop: Uint8Array, perSecond: number): { stop: () => Promise<number> } {
  let running = true
  let sent = 0
  const done = (async () => {
    const started = performance.now()
    while (running && !client.isStreamClosed) {
      try { await client.sendSync(noop) } catch { break }
      sent++
      if (Number.isFinite(perSecond)) {
        const due = started + sent * 1000 / perSecond
        const wait = due - performance.now()
        if (wait > 1) await sleep(wait)
      }
    }
  })()
  return { stop: async () => { running = false; await done; return sent } }
}

/** Donation requests as fast as the victim answers them (it refuses a non-member at once). */
function donationFlood (client: RawSyncClient, addr: string): { stop: () => Promise<number> } {
  let running = true
  let asked = 0
  const body = new TextEncoder().encode(JSON.stringify({ op: 'donate', subnet: '10.32.0.0/12' }))
  const frame = new Uint8Array([body.length, ...body])
  const done = (async () => {
    while (running && client.node.status === 'started') {
      try {
        const s = await client.node.dialProtocol(multiaddr(addr), SPACE_PROTOCOL_ID, { signal: AbortSignal.timeout(2000) })
        s.send(frame)
        await new Promise<void>(resolve => { s.addEventListener('close', () => { resolve() }); setTimeout(resolve, 200) })
        if (s.status === 'open') s.abort(new Error('flood: next request'))
        asked++
      } catch {
        await sleep(10)
      }
    }
  })()
  return { stop: async () => { running = false; await done; return asked } }
}

export async function run (): Promise<BenchResult[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'weft-bench-flood-'))
  const port = await freePort()
  const peer = spawnForeground({ dataDir, port, nickname: 'victim' })
  const results: BenchResult[] = []
  const flooders: RawSyncClient[] = []
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
    const connect = async (): Promise<{ c: RawSyncClient, noop: Uint8Array }> => {
      const c = await RawSyncClient.connect(addr, { sortBelow: status!.peer.name, keyFile: null })
      flooders.push(c)
      const synced = await syncLegitimately(c, { cluster: status!.cluster.id!, range: status!.cluster.range!, expectEvents: status!.events })
      // A fresh sync state's first message: heads and a Bloom filter, no change.
      return { c, noop: synced.log.generateSyncMessage(new SyncSession())! }
    }
    for (const [label, rate] of [['190 no-op frames/s (under the limit) + donation requests', 190], ['no-op frames as fast as they go + donation requests', Infinity]] as const) {
      const { c, noop } = await connect()
      const frames = noopFlood(c, noop, rate)
      const asks = donationFlood(c, addr)
      const rss0 = vmRssMb(peer.child.pid!)
      const flooded = await allocLatencies(client, `flood-${Number.isFinite(rate) ? rate : 'max'}`)
      const [sent, asked] = [await frames.stop(), await asks.stop()]
      const p99 = percentile(flooded, 99)
      results.push({
        group: GROUP,
        name: `alloc p99, ${label}`,
        value: +p99.toFixed(2),
        unit: 'ms',
        goal: '≤ 2× unflooded',
        baseline: { name: 'alloc p99, unflooded', value: +calmP99.toFixed(2), unit: 'ms' },
        ratio: +(p99 / calmP99).toFixed(2),
        note: `p50 ${percentile(flooded, 50).toFixed(2)} ms; ${sent} frames and ${asked} donation requests sent meanwhile; ` +
          `flooder ${c.isStreamClosed ? 'hung up on' : 'still connected'}; victim RSS ${rss0.toFixed(0)} → ${vmRssMb(peer.child.pid!).toFixed(0)} MiB`
      })
      log(`flood: ${label}: p99 ${p99.toFixed(2)} ms vs ${calmP99.toFixed(2)} ms unflooded`)
    }
  } finally {
    await Promise.all(flooders.map(async c => { await c.stop().catch(() => {}) }))
    await stopChild(peer.child)
    rmSync(dataDir, { recursive: true, force: true })
  }
  return results
}
