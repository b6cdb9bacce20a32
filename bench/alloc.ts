import { Agent, request } from 'node:http'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { openAllocationStore } from '../node/allocator/store.js'
import type { Allocation, AllocationStore } from '../node/allocator/types.js'
import { ControlClient } from '../node/api/client.js'
import { findSocketPath } from '../node/data-dir.js'
import { cleanup, tempDataDir, WeftPeer } from '../test/helpers/weft-process.js'
import { compared, formatNumber, median, type BenchResult } from './harness.js'

/**
 * Issue 7: durable `alloc` through the control API. One real founder peer
 * (it owns the whole 10.32.0.0/12, so no call waits for a donation); for
 * each concurrency N in 1, 16, 128, N client loops in this process each
 * allocate fresh IDs back to back for ~3 s in all (3 rounds, each after a
 * short unmeasured warm-up),
 * and every call's latency is recorded. An `alloc` answers only once its
 * LMDB transaction has committed (group commit of the calls of one turn).
 *
 * Baseline, at the same N in the same run, right before the daemon's turn:
 * N loops of `openAllocationStore(tmp).write([alloc], [])` in this process,
 * which is the allocator's own durable write without HTTP, JSON or the
 * allocator's bookkeeping.
 *
 * Each point is measured in ROUNDS rounds of 1 s (raw, ControlClient and
 * bare HTTP interleaved, so a slow stretch of the shared machine hits all
 * alike): throughput is the median of the rounds, latency percentiles are
 * over every call of the rounds (~3 s). The CPU the daemon process (all its
 * threads) and this process used during the measured windows is in the notes.
 *
 * Client: the repo's ControlClient (node:http over the unix socket, through
 * http.globalAgent, which keeps connections alive on Node ≥ 19), and for
 * comparison a bare http.request loop with a dedicated keep-alive agent
 * (no timers, no error mapping). The client loops share the machine's 2
 * cores with the daemon.
 *
 * WEFT_BENCH_ALLOC_MS=3000 sets the measuring window per point.
 */

const GROUP = 'alloc'
const CONCURRENCY = [1, 16, 128]
/** Per point: ROUNDS rounds of MEASURE_MS / ROUNDS each, after WARMUP_MS unmeasured. */
const MEASURE_MS = Number(process.env.WEFT_BENCH_ALLOC_MS ?? 3000)
const ROUNDS = 3
const ROUND_MS = MEASURE_MS / ROUNDS
const WARMUP_MS = 300
const RANGE = '10.32.0.0/12'

function log (line: string): void {
  process.stderr.write(`bench alloc: ${line}\n`)
}

/** Nearest-rank percentile, p in (0, 100]. */
function percentile (sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))]!
}

interface Cpu {
  /** ms */
  at: number
  /** The daemon's utime + stime, ms (all threads). */
  daemon: number
  /** This process's user + system, ms. */
  self: number
}

function cpuNow (pid: number | undefined): Cpu {
  let daemon = NaN
  if (pid !== undefined) {
    try {
      // Fields after the ")" of comm: state is [0], utime [11], stime [12] (clock ticks, 100/s).
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
      daemon = (Number(f[11]) + Number(f[12])) * 10
    } catch {}
  }
  const u = process.cpuUsage()
  return { at: performance.now(), daemon, self: (u.user + u.system) / 1000 }
}

interface Round {
  /** Calls completed inside the measuring window, per second. */
  perSecond: number
  /** Latencies (ms) of the calls that started inside the window. */
  latencies: number[]
  errors: number
  firstError?: string
  /** CPU per wall second during the window (1 = one core busy). */
  daemonCores: number
  selfCores: number
}

/**
 * N loops calling `call(seq)` back to back: WARMUP_MS unmeasured, then
 * ROUND_MS measured. Throughput counts completions inside the window;
 * latencies are those of calls started inside it (the last ones may end
 * after it, and are kept so a slow tail is not cut off).
 */
async function round (n: number, daemonPid: number | undefined, call: (seq: number) => Promise<unknown>): Promise<Round> {
  let seq = 0
  const t0 = performance.now()
  const start = t0 + WARMUP_MS
  const end = start + ROUND_MS
  const latencies: number[] = []
  let completed = 0
  let errors = 0
  let firstError: string | undefined
  let cpu0: Cpu | undefined
  let cpu1: Cpu | undefined
  const timers = [
    setTimeout(() => { cpu0 = cpuNow(daemonPid) }, WARMUP_MS),
    setTimeout(() => { cpu1 = cpuNow(daemonPid) }, WARMUP_MS + ROUND_MS)
  ]
  try {
    await Promise.all(Array.from({ length: n }, async () => {
      for (;;) {
        const a = performance.now()
        if (a >= end) return
        try {
          await call(seq++)
        } catch (err) {
          errors++
          firstError ??= (err as Error).message
          if (errors > 100) throw new Error(`more than 100 errors; first: ${firstError}`)
          continue
        }
        const b = performance.now()
        if (a >= start) latencies.push(b - a)
        if (b >= start && b <= end) completed++
      }
    }))
  } finally {
    for (const t of timers) clearTimeout(t)
  }
  // The last loop can end a hair before the closing timer fires: sample now then (timers may also run late: each sample has its own clock).
  cpu1 ??= cpuNow(daemonPid)
  const wall = cpu0 !== undefined && cpu1 !== undefined ? cpu1.at - cpu0.at : NaN
  return {
    perSecond: completed / (ROUND_MS / 1000),
    latencies,
    errors,
    ...(firstError !== undefined ? { firstError } : {}),
    daemonCores: cpu0 !== undefined && cpu1 !== undefined ? (cpu1.daemon - cpu0.daemon) / wall : NaN,
    selfCores: cpu0 !== undefined && cpu1 !== undefined ? (cpu1.self - cpu0.self) / wall : NaN
  }
}

interface Load {
  /** Median of the rounds' throughput. */
  perSecond: number
  rounds: number[]
  /** Every round's latencies, sorted. */
  latencies: number[]
  errors: number
  firstError?: string
  daemonCores: number
  selfCores: number
}

function merge (rounds: Round[]): Load {
  const firstError = rounds.find(r => r.firstError !== undefined)?.firstError
  return {
    perSecond: median(rounds.map(r => r.perSecond)),
    rounds: rounds.map(r => r.perSecond),
    latencies: rounds.flatMap(r => r.latencies).sort((x, y) => x - y),
    errors: rounds.reduce((a, r) => a + r.errors, 0),
    ...(firstError !== undefined ? { firstError } : {}),
    daemonCores: median(rounds.map(r => r.daemonCores)),
    selfCores: median(rounds.map(r => r.selfCores))
  }
}

/** POST /alloc with a bare http.request on a keep-alive agent; rejects unless 200. */
function plainAlloc (agent: Agent, socketPath: string, id: string): Promise<void> {
  const payload = JSON.stringify({ id })
  return new Promise((resolve, reject) => {
    const req = request({
      socketPath,
      agent,
      path: '/alloc',
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
    }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => { chunks.push(c) })
      res.on('error', reject)
      res.on('end', () => {
        if (res.statusCode === 200) resolve()
        else reject(new Error(`HTTP ${res.statusCode ?? '?'}: ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`))
      })
    })
    req.on('error', reject)
    req.end(payload)
  })
}

function allocationOf (i: number): Allocation {
  const v = 0x0a200000 + 1 + i
  return { id: `raw-${i}`, subnet: RANGE, address: `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`, createdAt: Date.now() }
}

const fmtMs = (x: number): string => x.toFixed(x < 10 ? 2 : 1)

function summary (l: Load, daemon: boolean): string {
  const s = l.latencies
  return `${l.rounds.length} rounds of ${ROUND_MS} ms: ${l.rounds.map(x => formatNumber(x)).join(', ')}/s; ` +
    `${s.length} calls timed, p50 ${fmtMs(percentile(s, 50))} ms, p90 ${fmtMs(percentile(s, 90))} ms, p99 ${fmtMs(percentile(s, 99))} ms, max ${fmtMs(s.at(-1) ?? NaN)} ms; ` +
    `CPU ${daemon ? `daemon ${l.daemonCores.toFixed(2)} cores, ` : ''}bench process ${l.selfCores.toFixed(2)} cores` +
    (l.errors > 0 ? `; ${l.errors} errors (first: ${l.firstError ?? '?'})` : '')
}

export async function run (): Promise<BenchResult[]> {
  const results: BenchResult[] = []
  const started = performance.now()
  let store: AllocationStore | undefined
  try {
    log('launching a founder peer')
    const peer = await WeftPeer.launch({ nickname: 'founder' })
    const ready = await peer.client.waitReady(60_000)
    if (!ready.ready) throw new Error(`the founder is not ready: ${ready.reason}`)
    const socketPath = findSocketPath(peer.dataDir)
    const client = new ControlClient({ socketPath, dataDir: peer.dataDir })
    // Sanity: an alloc works and lands in the range.
    const first = await client.alloc('bench-first')
    if (!first.address.startsWith('10.')) throw new Error(`unexpected allocation ${JSON.stringify(first)}`)
    log(`founder ${peer.name} ready; first alloc ${first.address}`)

    const rawDir = tempDataDir('weft-ba-')
    store = openAllocationStore(join(rawDir, 'raw'))
    const rawStore = store
    let rawSeq = 0
    let runTag = 0
    let answeredAllocs = 0

    for (const n of CONCURRENCY) {
      const raws: Round[] = []
      const clients: Round[] = []
      const plains: Round[] = []
      const agent = new Agent({ keepAlive: true })
      const sockets = new Set<unknown>()
      agent.on('free', s => { sockets.add(s) })
      for (let r = 0; r < ROUNDS; r++) {
        // 1. Raw LMDB durable writes (this process; the daemon idles meanwhile).
        raws.push(await round(n, undefined, async () => { await rawStore.write([allocationOf(rawSeq++)], []) }))
        // 2. alloc through ControlClient.
        const tag = `c${++runTag}`
        clients.push(await round(n, peer.pid, async seq => { await client.alloc(`${tag}-${seq}`); answeredAllocs++ }))
        // 3. alloc through a bare http.request with a keep-alive agent.
        const ptag = `p${++runTag}`
        plains.push(await round(n, peer.pid, async seq => { await plainAlloc(agent, socketPath, `${ptag}-${seq}`); answeredAllocs++ }))
      }
      agent.destroy()
      const raw = merge(raws)
      const viaClient = merge(clients)
      const viaPlain = merge(plains)
      log(`raw LMDB write, ${n} concurrent: ${formatNumber(raw.perSecond)} writes/s; ${summary(raw, false)}`)
      log(`alloc via ControlClient, ${n} concurrent: ${formatNumber(viaClient.perSecond)} allocs/s; ${summary(viaClient, true)}`)
      log(`alloc via bare http.request (keep-alive agent, ${sockets.size} connections), ${n} concurrent: ${formatNumber(viaPlain.perSecond)} allocs/s; ${summary(viaPlain, true)}`)

      const rawRows = {
        tput: { group: GROUP, name: `raw LMDB durable write, ${n} concurrent`, value: Math.round(raw.perSecond), unit: 'writes/s', note: `baseline: openAllocationStore().write([alloc], []) in ${n} loops in this process; ${summary(raw, false)}` },
        p50: { group: GROUP, name: `raw LMDB durable write p50, ${n} concurrent`, value: +percentile(raw.latencies, 50).toFixed(3), unit: 'ms' },
        p99: { group: GROUP, name: `raw LMDB durable write p99, ${n} concurrent`, value: +percentile(raw.latencies, 99).toFixed(3), unit: 'ms' }
      } satisfies Record<string, BenchResult>
      results.push(rawRows.tput, rawRows.p50, rawRows.p99)
      for (const [label, l] of [['ControlClient', viaClient], ['bare http keep-alive', viaPlain]] as const) {
        const primary = label === 'ControlClient'
        results.push(
          compared({
            group: GROUP,
            name: `alloc p50, ${n} concurrent (${label})`,
            value: +percentile(l.latencies, 50).toFixed(3),
            unit: 'ms'
          }, rawRows.p50),
          compared({
            group: GROUP,
            name: `alloc p99, ${n} concurrent (${label})`,
            value: +percentile(l.latencies, 99).toFixed(3),
            unit: 'ms',
            ...(n === 16 && primary ? { goal: '< 10 ms' } : {})
          }, rawRows.p99),
          compared({
            group: GROUP,
            name: `alloc throughput, ${n} concurrent (${label})`,
            value: Math.round(l.perSecond),
            unit: 'allocs/s',
            ...(n === 128 && primary ? { goal: '≥ 5000 allocs/s' } : {}),
            note: `median of ${ROUNDS} rounds; ${summary(l, true)}` +
              (primary ? '' : `; ${sockets.size} connections`)
          }, rawRows.tput)
        )
      }
    }

    // Every answered alloc is held: the daemon's count equals ours (+1 for the sanity call).
    const st = await client.status()
    const answered = 1 + answeredAllocs
    log(`status: ${st.addresses.allocated} addresses allocated, ${answered} allocs answered`)
    if (st.addresses.allocated !== answered) log(`WARNING: the daemon holds ${st.addresses.allocated} allocations, but ${answered} allocs were answered`)
    await peer.stop()
  } finally {
    await store?.close()
    await cleanup()
    log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`)
  }
  return results
}
