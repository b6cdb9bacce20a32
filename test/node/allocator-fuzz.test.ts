import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { formatAddress, parseAddress, parseCidr } from '../../packages/netaddr/index.js'
import { hostSet } from '../../node/allocator/addresses.js'
import { AllocError, type Allocation } from '../../node/allocator/types.js'
import { SimulatedClock, settle } from '../../node/clock.js'
import { createLogger, type Logger } from '../../node/logger.js'
import { mulberry32, SimCluster } from '../helpers/sim-cluster.js'

/**
 * In the spirit of Weave's TestAllocatorFuzz (ipam/allocator_test.go): five
 * peers in one process on the in-memory transport and a simulated clock,
 * over a /22. First 1000 allocations spread over the peers (Weave's first
 * pass: the range has 1022 host addresses, so this ends nearly full), then
 * random steps, a few at a time so donations race with allocations:
 * 40 % allocate a new ID, 40 % release a held ID, 15 % re-allocate a held ID
 * on its peer (must return the same address), 5 % claim a random address
 * with a fresh ID. Live allocations stay at or below 900 in the second pass.
 *
 * After every batch: no address is held twice across the cluster, every
 * peer's allocations lie in the space its own view says it owns, and every
 * peer's list is exactly what the test was told it holds.
 *
 * Reproduce a failure with WEFT_FUZZ_SEED=<printed seed>; WEFT_FUZZ_STEPS
 * shortens or lengthens the second pass.
 */

const SEED = Number(process.env.WEFT_FUZZ_SEED ?? 0x5eed_f00d) >>> 0
const STEPS = Number(process.env.WEFT_FUZZ_STEPS ?? 10_000)
const FIRST_PASS = 1000
const CAP = 900
const PEERS = 5
const RANGE = '10.0.0.0/22'
const MAX_IN_FLIGHT = 8
/** Free host addresses below which a no-space failure counts as genuine exhaustion. */
const NEARLY_EXHAUSTED = 64
/** Simulated ms to wait for one batch before calling it stuck (the allocator times out at 30 s). */
const BATCH_LIMIT_MS = 120_000

const range = parseCidr(RANGE)
const hosts = hostSet(range)
const HOSTS = Number(hosts.size)

interface Held { id: string, peer: number, address: string }

type Op =
  | { kind: 'alloc', peer: number, id: string }
  | { kind: 'release', held: Held }
  | { kind: 'realloc', held: Held }
  | { kind: 'claim', peer: number, id: string, address: string }

const stats = {
  seed: SEED,
  batches: 0,
  steps: 0,
  firstPass: { allocs: 0, failed: 0 },
  allocs: 0,
  releases: 0,
  reallocs: 0,
  claims: 0,
  claimsOk: 0,
  claimErrors: {} as Record<string, number>,
  allocFailures: {} as Record<string, number>,
  skippedAtCap: 0,
  donations: 0,
  maxLive: 0,
  minFreeAtFailure: Infinity,
  simulatedMs: 0,
  wallMs: 0
}

const warnings: string[] = []
const countingLogger: Logger = createLogger({
  write (level, component, message) {
    if (component === 'weft:space' && level === 'info' && message.startsWith('gave ')) stats.donations++
    if ((level === 'warn' || level === 'error') && warnings.length < 50) warnings.push(`${level} ${component} ${message}`)
  }
})

let cluster: SimCluster | undefined
after(async () => { await cluster?.cleanup() })

test(`allocator fuzz: ${PEERS} peers, ${RANGE}, ${FIRST_PASS} allocations then ${STEPS} random steps, never a duplicate address`, { timeout: 90_000 }, async () => {
  const started = Date.now()
  const clock = new SimulatedClock()
  const t0 = clock.now()
  const rand = mulberry32(SEED)
  console.log(`# allocator fuzz seed ${SEED} (WEFT_FUZZ_SEED=${SEED} to reproduce)`)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!

  cluster = await SimCluster.create(PEERS, { range: RANGE, seed: SEED, clock, logger: countingLogger })
  const c = cluster
  console.log(`# cluster formed in ${clock.now() - t0} simulated ms, ${Date.now() - started} ms`)

  /** What the test believes each ID holds: the model the peers must agree with. */
  const held = new Map<string, Held>()
  let nextId = 0
  const freshId = (): string => `c${nextId++}`

  function globalFree (): number {
    let n = 0
    for (const p of c.peers) n += p.allocator.count
    return HOSTS - n
  }

  function checkInvariants (where: string): void {
    const owners = new Map<string, { peer: number, a: Allocation }>()
    for (const p of c.peers) {
      const view = p.view()
      assert.ok(view !== undefined, `${where}: ${p.nickname} has no view`)
      const mine = view.ownedBy(p.name)
      const list = p.allocator.list()
      for (const a of list) {
        const other = owners.get(a.address)
        if (other !== undefined) {
          assert.fail(`${where}: DUPLICATE address ${a.address}: ${c.peers[other.peer]!.nickname} holds it for ${other.a.id}, ${p.nickname} for ${a.id}\n${c.describe()}`)
        }
        owners.set(a.address, { peer: p.index, a })
        const v = parseAddress(a.address).value
        assert.ok(mine.containsAddress(v), `${where}: ${p.nickname} holds ${a.address} (${a.id}) outside the space its view says it owns: ${view.peer(p.name)?.owned.join(' ')}`)
        const want = held.get(a.id)
        assert.ok(want !== undefined && want.peer === p.index && want.address === a.address,
          `${where}: ${p.nickname} lists ${a.id} → ${a.address}, the test expected ${want === undefined ? 'nothing' : `${c.peers[want.peer]!.nickname} → ${want.address}`}`)
      }
    }
    assert.equal(owners.size, held.size, `${where}: the peers hold ${owners.size} allocations, the test expected ${held.size}`)
    stats.maxLive = Math.max(stats.maxLive, held.size)
  }

  /** Runs one operation; updates the model on success, classifies failures. */
  async function run (op: Op, phase: 1 | 2): Promise<void> {
    switch (op.kind) {
      case 'alloc': {
        try {
          const a = await c.peers[op.peer]!.allocator.alloc(op.id)
          assert.ok(hosts.containsAddress(parseAddress(a.address).value), `alloc ${op.id} got ${a.address}, not a host address of ${RANGE}`)
          held.set(op.id, { id: op.id, peer: op.peer, address: a.address })
          if (phase === 1) stats.firstPass.allocs++
          else stats.allocs++
        } catch (err) {
          const free = globalFree()
          const code = err instanceof AllocError ? err.code : `not an AllocError: ${(err as Error).stack ?? String(err)}`
          if (phase === 1) stats.firstPass.failed++
          stats.allocFailures[code] = (stats.allocFailures[code] ?? 0) + 1
          stats.minFreeAtFailure = Math.min(stats.minFreeAtFailure, free)
          assert.ok(err instanceof AllocError && err.code === 'no-space', `alloc ${op.id} on ${c.peers[op.peer]!.nickname} failed with ${code}: ${(err as Error).message}`)
          assert.ok(free < NEARLY_EXHAUSTED, `alloc ${op.id} on ${c.peers[op.peer]!.nickname} found no space while ${free} of ${HOSTS} host addresses were free: ${(err as Error).message}\n${c.describe()}`)
        }
        return
      }
      case 'release': {
        const { held: h } = op
        const gone = await c.peers[h.peer]!.allocator.release(h.id)
        assert.deepEqual(gone.map(a => a.address), [h.address], `release ${h.id} on ${c.peers[h.peer]!.nickname}`)
        held.delete(h.id)
        stats.releases++
        return
      }
      case 'realloc': {
        const { held: h } = op
        const a = await c.peers[h.peer]!.allocator.alloc(h.id)
        assert.equal(a.address, h.address, `re-allocating ${h.id} on ${c.peers[h.peer]!.nickname} must return the same address`)
        stats.reallocs++
        return
      }
      case 'claim': {
        stats.claims++
        try {
          const a = await c.peers[op.peer]!.allocator.claim(op.id, op.address)
          assert.equal(a.address, op.address)
          held.set(op.id, { id: op.id, peer: op.peer, address: a.address })
          stats.claimsOk++
        } catch (err) {
          assert.ok(err instanceof AllocError, `claim ${op.address} threw ${(err as Error).stack ?? String(err)}`)
          assert.ok(['in-use', 'owned-elsewhere'].includes(err.code), `claim ${op.address} on ${c.peers[op.peer]!.nickname} failed with ${err.code}: ${err.message}`)
          stats.claimErrors[err.code] = (stats.claimErrors[err.code] ?? 0) + 1
        }
      }
    }
  }

  /** Runs a batch concurrently, advancing the simulated clock while any operation waits (donations time out on it). */
  async function runBatch (ops: Op[], phase: 1 | 2): Promise<void> {
    let pending = ops.length
    const failures: unknown[] = []
    for (const op of ops) {
      void run(op, phase).catch(err => { failures.push(err) }).finally(() => { pending-- })
    }
    const limit = clock.now() + BATCH_LIMIT_MS
    await settle()
    while (pending > 0) {
      if (clock.now() > limit) assert.fail(`batch ${stats.batches} stuck: ${pending} of ${ops.length} operations unresolved after ${BATCH_LIMIT_MS} simulated ms: ${JSON.stringify(ops)}\n${c.describe()}`)
      await clock.advance(10)
    }
    stats.batches++
    if (failures.length > 0) throw failures[0]
    checkInvariants(`batch ${stats.batches} (${ops.map(o => o.kind).join(',')})`)
    const converged = await c.settle({ maxSteps: 3_000 })
    assert.ok(converged, `batch ${stats.batches}: the peers did not converge\n${c.describe()}`)
    checkInvariants(`after settling batch ${stats.batches}`)
  }

  // ---- first pass: 1000 allocations spread over the peers ----
  for (let done = 0; done < FIRST_PASS;) {
    const n = Math.min(FIRST_PASS - done, 1 + Math.floor(rand() * MAX_IN_FLIGHT))
    const ops: Op[] = []
    for (let i = 0; i < n; i++) ops.push({ kind: 'alloc', peer: Math.floor(rand() * PEERS), id: freshId() })
    await runBatch(ops, 1)
    done += n
  }
  console.log(`# first pass: ${stats.firstPass.allocs} allocations, ${stats.firstPass.failed} failed, ${stats.donations} donations, live ${held.size}/${HOSTS}, ${clock.now() - t0} simulated ms, ${Date.now() - started} ms`)

  // ---- second pass: random steps ----
  while (stats.steps < STEPS) {
    const n = Math.min(STEPS - stats.steps, 1 + Math.floor(rand() * MAX_IN_FLIGHT))
    const ops: Op[] = []
    const busy = new Set<string>()
    let adds = 0
    const free = (): Held[] => [...held.values()].filter(h => !busy.has(h.id))
    while (ops.length < n) {
      const r = rand()
      if (r < 0.40 || r >= 0.95) {
        if (held.size + adds >= CAP) { stats.skippedAtCap++; continue }
        adds++
        const id = freshId()
        busy.add(id)
        if (r < 0.40) ops.push({ kind: 'alloc', peer: Math.floor(rand() * PEERS), id })
        else ops.push({ kind: 'claim', peer: Math.floor(rand() * PEERS), id, address: formatAddress({ family: 4, value: range.first + BigInt(Math.floor(rand() * 1024)) }) })
      } else {
        const candidates = free()
        if (candidates.length === 0) continue
        const h = pick(candidates)
        busy.add(h.id)
        ops.push(r < 0.80 ? { kind: 'release', held: h } : { kind: 'realloc', held: h })
      }
    }
    await runBatch(ops, 2)
    stats.steps += ops.length
  }

  // ---- the end: one view everywhere ----
  assert.ok(await c.settle({ maxSteps: 5_000 }), `the peers did not converge at the end\n${c.describe()}`)
  const heads = c.peers.map(p => p.heads())
  assert.ok(heads.every(h => h === heads[0] && h !== ''), `the peers' event heads differ at the end:\n${heads.join('\n')}`)
  checkInvariants('the end')
  // In the one shared view: owned sets are disjoint, and every allocation lies in its peer's share.
  const view = c.peers[0]!.view()!
  for (const p of c.peers) {
    for (const q of c.peers) if (p !== q) assert.ok(!view.ownedBy(p.name).overlaps(view.ownedBy(q.name)), `${p.nickname} and ${q.nickname} own overlapping space`)
    for (const a of p.allocator.list()) assert.ok(view.ownedBy(p.name).containsAddress(parseAddress(a.address).value), `${a.address} of ${p.nickname} is not in its share of the converged view`)
  }

  stats.simulatedMs = clock.now() - t0
  stats.wallMs = Date.now() - started
  console.log(`# ${JSON.stringify(stats)}`)
  console.log(`# owned at the end: ${c.peers.map(p => `${p.nickname}=${view.peer(p.name)?.owned.length ?? 0} blocks/${p.allocator.count} held`).join(' ')}; events ${view.json.events}`)
  if (warnings.length > 0) console.log(`# first warnings:\n# ${warnings.slice(0, 20).join('\n# ')}`)
})
