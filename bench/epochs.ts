import { join } from 'node:path'
import { cleanup, WeftPeer } from '../test/helpers/weft-process.js'
import { fileSize, log, sleep, vmRssMb, waitForLogLine } from './daemon-helpers.js'
import { compared, type BenchResult } from './harness.js'

/**
 * Epochs (DESIGN.md §2.6, issue 17): a peer with a long history, with a
 * checkpoint every 5,000 events and without (today's behaviour), in the same
 * run: its RSS after a relaunch, the relaunch's time to ready, and a new
 * peer's time to join and be ready. WEFT_BENCH_EPOCH_EVENTS sets the history
 * length (default 100,000), appended 5,000 at a time so checkpoints fall due.
 */

const GROUP = 'epochs'
const CHUNK = 5_000
const results: BenchResult[] = []

interface Figures { rss: number, relaunchMs: number, joinMs: number, epoch: number, events: number }

async function measure (label: string, epochEvents: number, total: number): Promise<Figures> {
  const env = { WEFT_TUNING: JSON.stringify({ epochEvents, readyGraceMs: 1000, syncIntervalMs: 2000 }) }
  const peer = await WeftPeer.launch({ nickname: `hist-${epochEvents}`, env })
  const t0 = performance.now()
  for (let n = 0; n < total; n += CHUNK) await peer.testHook('append-joins', { count: Math.min(CHUNK, total - n) }, 600_000)
  if (epochEvents > 0) {
    const want = Math.floor(total / epochEvents) - 1
    for (let i = 0; i < 600 && ((await peer.status()).epoch?.n ?? 0) < want; i++) await sleep(100)
  }
  const built = await peer.status()
  log(`${label}: ${total} events appended in ${((performance.now() - t0) / 1000).toFixed(1)} s; epoch ${built.epoch?.n ?? 0}`)
  await peer.stop()
  const logFile = join(peer.dataDir, 'weft.log')
  const from = fileSize(logFile)
  const t1 = performance.now()
  await peer.relaunch()
  const ready = await peer.client.waitReady(300_000)
  if (!ready.ready) throw new Error(`${label}: not ready after relaunch: ${ready.reason}`)
  const relaunchMs = performance.now() - t1
  await waitForLogLine(logFile, from, /loaded the document/, 300_000)
  await sleep(2_000)
  const rss = vmRssMb(peer.pid)
  const t2 = performance.now()
  const joiner = await WeftPeer.launch({ nickname: `join-${epochEvents}`, peers: [peer.addr], env })
  const joined = await joiner.client.waitReady(300_000)
  if (!joined.ready) throw new Error(`${label}: the joiner is not ready: ${joined.reason}`)
  const joinMs = performance.now() - t2
  const status = await peer.status()
  log(`${label}: relaunch ready in ${relaunchMs.toFixed(0)} ms, VmRSS ${rss.toFixed(1)} MB; a joiner ready in ${joinMs.toFixed(0)} ms`)
  await joiner.stop()
  await peer.stop()
  return { rss, relaunchMs, joinMs, epoch: status.epoch?.n ?? 0, events: total }
}

export async function run (): Promise<BenchResult[]> {
  const total = Number(process.env.WEFT_BENCH_EPOCH_EVENTS ?? 100_000)
  try {
    const today = await measure('no epochs', 0, total)
    const epochs = await measure('epochs every 5,000', 5_000, total)
    const k = `${Math.round(total / 1000)}k`
    const base = (name: string, value: number, unit: string): BenchResult => ({ group: GROUP, name: `${name}, ${k} events, no epochs`, value: +value.toFixed(1), unit })
    const rssBase = base('RSS after a relaunch', today.rss, 'MB')
    const relBase = base('relaunch → ready', today.relaunchMs, 'ms')
    const joinBase = base('a new peer joins → ready', today.joinMs, 'ms')
    results.push(rssBase, relBase, joinBase)
    const note = `epoch ${epochs.epoch} after ${epochs.events} events`
    results.push(compared({ group: GROUP, name: `RSS after a relaunch, ${k} events, epochs`, value: +epochs.rss.toFixed(1), unit: 'MB', goal: '< 150 MB', note }, rssBase))
    results.push(compared({ group: GROUP, name: `relaunch → ready, ${k} events, epochs`, value: +epochs.relaunchMs.toFixed(0), unit: 'ms', note }, relBase))
    results.push(compared({ group: GROUP, name: `a new peer joins → ready, ${k} events, epochs`, value: +epochs.joinMs.toFixed(0), unit: 'ms', ...(total >= 100_000 ? { goal: '< 2 s' } : {}), note }, joinBase))
  } finally {
    await cleanup()
  }
  return results
}
