import { spawn } from 'node:child_process'
import { generateKeyPairSync, randomBytes, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto'
import { cpSync, existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { verifyOnAllCores, type VerifyItem } from '../node/offline/verify-pool.js'
import type { VerifyReport } from '../node/offline/verify.js'
import { Store } from '../node/store/index.js'
import { cleanup, WEFT_BIN, WeftPeer } from '../test/helpers/weft-process.js'
import { compared, formatNumber, median, timeOps, type BenchResult } from './harness.js'

/**
 * Issue 9: the offline commands over a 100k-event log.
 *
 * The log: a founder and two joiners; each joiner allocates in a few subnets,
 * so the founder donates space (transfers); the joiners stop, and the founder
 * appends 100k joins through the test hook (WEFT_TEST_HOOKS=1); then it stops.
 * The joiners are stopped before the append only so they do not spend the
 * machine's 2 cores syncing 100k events meanwhile; the log is the same.
 *
 * Then, each as its own process (`node bin/weft.js CMD --json --data-dir DIR`,
 * stdout to /dev/null, median of RUNS): `weft history`, `weft audit
 * 10.32.0.7`, `weft audit <joiner nickname>`, `weft verify`. Verify's
 * events/s is set against the single-core raw Ed25519 verify rate
 * (node:crypto, cached KeyObject, 200-byte message) measured here; and
 * `verifyOnAllCores` in this process on 1 thread and on all, for the scaling.
 *
 * WEFT_BENCH_OFFLINE_DIR=PATH keeps the built log: when PATH holds a founder's
 * data dir (from an earlier run) it is used as is, else the log is built and
 * copied there (for profiling the commands by hand).
 */

const GROUP = 'offline'
const EVENTS = Number(process.env.WEFT_BENCH_OFFLINE_EVENTS ?? 100_000)
const RUNS = 3
const MESSAGE_BYTES = 200
const JOINER_SUBNETS = [undefined, '10.40.0.0/16', '10.44.0.0/24']

function log (line: string): void {
  process.stderr.write(`bench offline: ${line}\n`)
}

const s3 = (ms: number): number => +(ms / 1000).toFixed(3)
const list = (xs: number[]): string => xs.map(x => `${(x / 1000).toFixed(2)}`).join(', ') + ' s'

interface Timed { ms: number, stdout: string }

/** `node bin/weft.js ARGS`: wall time from spawn to exit; throws on a non-zero exit. stdout kept only when asked. */
async function timeWeft (args: string[], keepStdout = false): Promise<Timed> {
  const t = performance.now()
  const child = spawn(process.execPath, [WEFT_BIN, ...args], { stdio: ['ignore', keepStdout ? 'pipe' : 'ignore', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (c: Buffer) => { stdout += c.toString() })
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString() })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', c => { resolve(c) })
  })
  const ms = performance.now() - t
  if (code !== 0) throw new Error(`weft ${args.join(' ')} exited ${code ?? 'by a signal'}: ${stderr.trim().slice(0, 500)}`)
  return { ms, stdout }
}

async function buildLog (): Promise<{ founder: WeftPeer, events: number, transfers: number }> {
  const t0 = performance.now()
  const founder = await WeftPeer.launch({ nickname: 'founder' })
  const r0 = await founder.client.waitReady(60_000)
  if (!r0.ready) throw new Error(`founder not ready: ${r0.reason}`)
  const joiners = await Promise.all(['joiner1', 'joiner2'].map(async nickname => await WeftPeer.launch({ nickname, peers: [founder.addr] })))
  for (const j of joiners) {
    const r = await j.client.waitReady(60_000)
    if (!r.ready) throw new Error(`${j.nickname} not ready: ${r.reason}`)
  }
  log(`founder and 2 joiners ready after ${(performance.now() - t0).toFixed(0)} ms`)
  for (const j of joiners) {
    for (const subnet of JOINER_SUBNETS) {
      for (let i = 0; i < 3; i++) {
        const a = await j.client.alloc(`${j.nickname}-${subnet ?? 'range'}-${i}`, subnet)
        if (i === 0) log(`${j.nickname} alloc in ${subnet ?? 'the range'}: ${a.address}`)
      }
    }
  }
  const before = await founder.status()
  log(`after the allocs: founder has ${before.events} events`)
  for (const j of joiners) await j.stop()

  const t = performance.now()
  const r = await founder.testHook('append-joins', { count: EVENTS }, 600_000) as { appended: number }
  if (r.appended !== EVENTS) throw new Error(`append-joins appended ${r.appended}, not ${EVENTS}`)
  log(`appended ${formatNumber(EVENTS)} joins in ${((performance.now() - t) / 1000).toFixed(1)} s`)
  const after = await founder.status()
  await founder.stop()
  // Transfers in the log: read back below through `weft history --kind transfer`.
  const hist = await timeWeft(['history', '--json', '--kind', 'transfer', '--data-dir', founder.dataDir], true)
  const transfers = (JSON.parse(hist.stdout) as unknown[]).length
  log(`log built in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${after.events} events, ${transfers} transfers`)
  return { founder, events: after.events, transfers }
}

/** Raw verify in `threads` worker threads at once for `ms`: the sum of their rates (what the machine gives crypto on all cores now). */
const PARALLEL_VERIFY = `
const { parentPort, workerData } = require('node:worker_threads')
const { generateKeyPairSync, randomBytes, sign, verify } = require('node:crypto')
const { privateKey, publicKey } = generateKeyPairSync('ed25519')
const m = randomBytes(workerData.bytes)
const s = sign(null, m, privateKey)
let end = performance.now() + 150
while (performance.now() < end) verify(null, m, publicKey, s)
let n = 0
const t = performance.now()
end = t + workerData.ms
while (performance.now() < end) { for (let i = 0; i < 50; i++) verify(null, m, publicKey, s); n += 50 }
parentPort.postMessage(n / ((performance.now() - t) / 1000))
`

async function rawVerifyParallel (threads: number, ms = 1000): Promise<number> {
  const rates = await Promise.all(Array.from({ length: threads }, async () => await new Promise<number>((resolve, reject) => {
    const w = new Worker(PARALLEL_VERIFY, { eval: true, workerData: { ms, bytes: MESSAGE_BYTES } })
    w.once('message', (r: number) => { resolve(r); void w.terminate() })
    w.once('error', reject)
  })))
  return rates.reduce((a, b) => a + b, 0)
}

function rawVerifyRate (): number {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const message = randomBytes(MESSAGE_BYTES)
  const signature = cryptoSign(null, message, privateKey)
  if (!cryptoVerify(null, message, publicKey, signature)) throw new Error('raw verify failed')
  return timeOps(() => cryptoVerify(null, message, publicKey, signature), { minMs: 700, warmupMs: 150 })
}

export async function run (): Promise<BenchResult[]> {
  const results: BenchResult[] = []
  const started = performance.now()
  try {
    const keep = process.env.WEFT_BENCH_OFFLINE_DIR
    let dir: string
    let events: number
    let transfers: number
    const joinerNick = 'joiner1'
    if (keep !== undefined && existsSync(join(keep, 'store.mdb'))) {
      dir = keep
      const h = await timeWeft(['history', '--json', '--data-dir', dir], true)
      const rows = JSON.parse(h.stdout) as Array<{ kind: string }>
      events = rows.length
      transfers = rows.filter(r => r.kind === 'transfer').length
      log(`using the log in ${dir}: ${events} events, ${transfers} transfers`)
    } else {
      const built = await buildLog()
      dir = built.founder.dataDir
      events = built.events
      transfers = built.transfers
      if (keep !== undefined) {
        cpSync(dir, keep, { recursive: true, filter: src => !/weft\.(sock|pid)$/.test(src) })
        log(`copied the log to ${keep}`)
      }
    }
    const logNote = `${formatNumber(events)}-event log (${transfers} transfers, the rest joins)`

    // CLI start-up floor, included in every process time below.
    // CLI start-up floor, included in every process time below; measured in
    // the same rounds as the commands, so it sees the same machine.
    const startup: number[] = []

    const commands: Array<{ name: string, args: string[], goal?: string }> = [
      { name: 'weft history --json', args: ['history', '--json'], goal: '< 2 s' },
      { name: 'weft audit 10.32.0.7 --json', args: ['audit', '10.32.0.7', '--json'], goal: '< 2 s' },
      { name: `weft audit ${joinerNick} --json`, args: ['audit', joinerNick, '--json'], goal: '< 2 s' }
    ]
    const times = new Map<string, number[]>(commands.map(c => [c.name, []]))
    const verifyWall: number[] = []
    const verifyOwn: number[] = []
    let report: VerifyReport | undefined
    const raw: number[] = []
    const rawAll: number[] = []
    const all = availableParallelism()
    // Rounds interleave the commands, so a slow stretch of the machine hits all alike.
    for (let round = 0; round < RUNS; round++) {
      startup.push((await timeWeft(['--version'])).ms)
      for (const c of commands) {
        const { ms } = await timeWeft([...c.args, '--data-dir', dir])
        times.get(c.name)!.push(ms)
        log(`round ${round + 1}: ${c.name}: ${(ms / 1000).toFixed(2)} s`)
      }
      const v = await timeWeft(['verify', '--json', '--data-dir', dir], true)
      report = JSON.parse(v.stdout) as VerifyReport & { ok: boolean }
      verifyWall.push(v.ms)
      verifyOwn.push(report.ms)
      log(`round ${round + 1}: weft verify: ${(v.ms / 1000).toFixed(2)} s (its own timing ${report.ms} ms on ${report.threads} threads, ${report.events} events, ${report.byteFaults.length + report.causalFaults.length} faults, snapshot ${report.snapshot})`)
      raw.push(rawVerifyRate())
      rawAll.push(await rawVerifyParallel(all))
      log(`round ${round + 1}: raw ed25519 verify ${formatNumber(raw.at(-1)!)} /s on 1 core, ${formatNumber(rawAll.at(-1)!)} /s on ${all} threads`)
    }
    const floor: BenchResult = { group: GROUP, name: 'baseline: spawn → exit of `weft --version`', value: s3(median(startup)), unit: 's', note: `median of ${RUNS}, one per round: ${list(startup)}; node start-up + the CLI's imports, inside every figure below` }
    results.push(floor)
    for (const c of commands) {
      const xs = times.get(c.name)!
      results.push(compared({ group: GROUP, name: `${c.name}, 100k events`, value: s3(median(xs)), unit: 's', ...(c.goal !== undefined ? { goal: c.goal } : {}), note: `separate process, stdout to /dev/null, median of ${RUNS}: ${list(xs)}; ${logNote}` }, floor))
    }
    const rawVerify: BenchResult = {
      group: GROUP,
      name: 'raw ed25519 verify, 1 core',
      value: Math.round(median(raw)),
      unit: 'ops/s',
      note: `node:crypto verify, cached KeyObject, ${MESSAGE_BYTES}-byte message, main thread; median of ${RUNS} rounds between the verify runs: ${raw.map(x => formatNumber(x)).join(', ')}`
    }
    const rawCeiling: BenchResult = {
      group: GROUP,
      name: `raw ed25519 verify, ${all} threads (ceiling)`,
      value: Math.round(median(rawAll)),
      unit: 'ops/s',
      note: `the same raw verify in ${all} worker threads at once, summed: what this shared machine gives crypto on all cores right now (${(median(rawAll) / median(raw)).toFixed(2)}× the 1-core rate); median of ${RUNS} rounds: ${rawAll.map(x => formatNumber(x)).join(', ')}`
    }
    const vsCeiling = (eventsPerSecond: number): string => `; = ${(eventsPerSecond / rawCeiling.value).toFixed(2)}× the raw ${all}-thread ceiling`
    results.push({ group: GROUP, name: 'weft verify, 100k events', value: s3(median(verifyWall)), unit: 's', note: `separate process, spawn → exit, median of ${RUNS}: ${list(verifyWall)}` })
    results.push(rawVerify, rawCeiling)
    const n = report!.events
    const wallRate = Math.round(n / (median(verifyWall) / 1000))
    const ownRate = Math.round(n / (median(verifyOwn) / 1000))
    results.push(compared({
      group: GROUP,
      name: 'weft verify, events/s (spawn → exit)',
      value: wallRate,
      unit: 'events/s',
      goal: '≥ 1.6× raw verify (2 cores)',
      note: `${n} events ÷ median wall time; includes node start-up, reading the store, the fold and the snapshot check${vsCeiling(wallRate)}`
    }, rawVerify))
    results.push(compared({
      group: GROUP,
      name: 'weft verify, events/s (its own timing)',
      value: ownRate,
      unit: 'events/s',
      goal: '≥ 1.6× raw verify (2 cores)',
      note: `${n} events ÷ the ms verify reports (store read, signatures on ${report!.threads} threads, fold, snapshot check), median of ${RUNS}: ${verifyOwn.join(', ')} ms${vsCeiling(ownRate)}`
    }, rawVerify))

    // In this process: the signature pass alone, 1 thread vs all.
    const store = Store.open(dir, { readOnly: true })
    let items: VerifyItem[]
    try {
      items = [...store.eventsInOrder()].map(e => ({ id: e.id, bytes: e.bytes }))
    } finally {
      await store.close()
    }
    const threadCounts = [...new Set([1, all])]
    const pool = new Map<number, number[]>(threadCounts.map(t => [t, []]))
    for (let round = 0; round < RUNS; round++) {
      for (const t of threadCounts) {
        const t0 = performance.now()
        const faults = await verifyOnAllCores(items, t)
        const ms = performance.now() - t0
        if (faults.length > 0) throw new Error(`verifyOnAllCores found ${faults.length} faults: ${faults[0]!.message}`)
        pool.get(t)!.push(ms)
        log(`round ${round + 1}: verifyOnAllCores, ${t} thread${t === 1 ? '' : 's'}: ${ms.toFixed(0)} ms (${formatNumber(items.length / (ms / 1000))} events/s)`)
      }
    }
    for (const t of threadCounts) {
      const xs = pool.get(t)!
      const rate = Math.round(items.length / (median(xs) / 1000))
      results.push(compared({
        group: GROUP,
        name: `verifyOnAllCores, ${t} thread${t === 1 ? '' : 's'}, events/s`,
        value: rate,
        unit: 'events/s',
        ...(t === all && all > 1 ? { goal: `≥ 1.6× raw verify (${all} cores)` } : {}),
        note: `in this process: ${items.length} events' bytes through decodeEvent with signatures in worker threads (start-up included), median of ${RUNS}: ${xs.map(x => x.toFixed(0)).join(', ')} ms${t === all ? vsCeiling(rate) : ''}`
      }, rawVerify))
    }
    if (threadCounts.length > 1) {
      const one = median(pool.get(1)!)
      const many = median(pool.get(all)!)
      results.push({ group: GROUP, name: `verifyOnAllCores speed-up, ${all} threads vs 1`, value: +(one / many).toFixed(2), unit: '×', note: `on a shared ${all}-core machine that also runs this process` })
    }
  } finally {
    await cleanup()
    log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`)
  }
  return results
}
