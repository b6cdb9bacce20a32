import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { open } from 'lmdb'
import { Store, type Adoption, type Allocation } from '../node/store/index.js'
import { compared, median, type BenchResult } from './harness.js'

/**
 * Store write throughput (DESIGN.md §4): one-event adoptions one after another,
 * each awaited (with and without waiting for the flush), against raw lmdb-js
 * puts; and allocations written one per call at concurrency 1, 16 and 128,
 * where calls issued together share one LMDB transaction (group commit).
 * Numbers depend on the disk's fdatasync, so they are printed, not asserted.
 */

const ROUNDS = 3
const ADOPTIONS = 400
const ALLOCATIONS = 2048
const CONCURRENCY = [1, 16, 128]

// Sizes from reference/automerge-log-spike.md and DESIGN.md §2.5: a ~250-byte
// event, a ~650-byte saveSince chunk, a ring snapshot of 16 owners (~2 KB JSON).
const EVENT_BYTES = 250
const CHUNK_BYTES = 650
const SNAPSHOT = {
  owners: Array.from({ length: 16 }, (_, i) => ({ peer: `12D3KooW${'x'.repeat(44)}${i}`, ranges: [`10.${32 + i}.0.0/16`, `10.${48 + i}.128.0/17`] })),
  disputes: []
}

function adoptionOf (n: number): Adoption {
  const id = createHash('sha256').update(`bench ${n}`).digest('hex')
  return {
    docChunk: new Uint8Array(CHUNK_BYTES).fill(n & 0xff),
    docHeads: [createHash('sha256').update(`head ${n}`).digest('hex')],
    events: [{ id, bytes: new Uint8Array(EVENT_BYTES).fill(n & 0xff), lamport: n + 1, time: 1_700_000_000_000 + n, author: 'p1', kind: 'transfer' }],
    snapshot: { ...SNAPSHOT, n },
    eventHeads: [id]
  }
}

async function withDir<T> (fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-store-'))
  try {
    return await fn(dir)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Sequential awaited adoptions per second. */
async function adoptions (durable: boolean): Promise<number> {
  return await withDir(async dir => {
    const store = Store.open(dir)
    try {
      for (let n = 0; n < 50; n++) await store.adopt(adoptionOf(n)) // warm up
      const t0 = performance.now()
      for (let n = 50; n < 50 + ADOPTIONS; n++) {
        await (durable ? store.adoptDurable(adoptionOf(n)) : store.adopt(adoptionOf(n)))
      }
      return ADOPTIONS / ((performance.now() - t0) / 1000)
    } finally {
      await store.close()
    }
  })
}

/** The floor: one raw lmdb-js put of about the same bytes, awaited, then flushed. */
async function rawPuts (): Promise<number> {
  return await withDir(async dir => {
    const db = open<Buffer, string>({ path: join(dir, 'raw.mdb'), compression: false, encoding: 'binary' })
    const value = Buffer.alloc(EVENT_BYTES + CHUNK_BYTES + 2200, 7)
    try {
      for (let n = 0; n < 50; n++) await db.put(`w${n}`, value)
      const t0 = performance.now()
      for (let n = 0; n < ADOPTIONS; n++) {
        await db.put(`k${n}`, value)
        await db.flushed
      }
      return ADOPTIONS / ((performance.now() - t0) / 1000)
    } finally {
      await db.close()
    }
  })
}

/** Allocations per second, one per writeAllocations call, `concurrency` calls issued together. */
async function allocations (concurrency: number): Promise<number> {
  return await withDir(async dir => {
    const store = Store.open(dir)
    const alloc = (i: number): Allocation => ({ id: `container-${i}`, subnet: '10.32.0.0/12', address: `10.${32 + (i >> 16)}.${(i >> 8) & 0xff}.${i & 0xff}`, createdAt: i })
    try {
      await store.writeAllocations([alloc(1_000_000)], [])
      const t0 = performance.now()
      for (let i = 0; i < ALLOCATIONS; i += concurrency) {
        await Promise.all(Array.from({ length: concurrency }, async (_, j) => { await store.writeAllocations([alloc(i + j)], []) }))
      }
      const rate = ALLOCATIONS / ((performance.now() - t0) / 1000)
      if (store.allocations().length !== ALLOCATIONS + 1) throw new Error('bench: allocations went missing')
      return rate
    } finally {
      await store.close()
    }
  })
}

export async function run (): Promise<BenchResult[]> {
  const samples = { raw: [] as number[], durable: [] as number[], commit: [] as number[], alloc: CONCURRENCY.map(() => [] as number[]) }
  for (let round = 0; round < ROUNDS; round++) {
    samples.raw.push(await rawPuts())
    samples.durable.push(await adoptions(true))
    samples.commit.push(await adoptions(false))
    for (const [i, c] of CONCURRENCY.entries()) samples.alloc[i]!.push(await allocations(c))
  }

  const group = 'store'
  const spread = (xs: number[]): string => `median of ${xs.length} rounds, range ${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))}`
  const raw: BenchResult = {
    group,
    name: 'raw lmdb put + flushed, sequential',
    value: median(samples.raw),
    unit: 'puts/s',
    note: `one ${EVENT_BYTES + CHUNK_BYTES + 2200}-byte put awaited, then db.flushed; ${spread(samples.raw)}`
  }
  const durable = compared({
    group,
    name: 'adoptDurable, 1 event, sequential',
    value: median(samples.durable),
    unit: 'adoptions/s',
    note: `event ${EVENT_BYTES} B + chunk ${CHUNK_BYTES} B + ~2 KB snapshot, each awaited to the flush; ${spread(samples.durable)}`
  }, raw)
  const commit = compared({
    group,
    name: 'adopt (commit, kill -9 safe), 1 event, sequential',
    value: median(samples.commit),
    unit: 'adoptions/s',
    note: `awaited to the commit only (overlappingSync flushes after); ${spread(samples.commit)}`
  }, raw)
  const alloc1: BenchResult = {
    group,
    name: 'writeAllocations, 1 per call, concurrency 1',
    value: median(samples.alloc[0]!),
    unit: 'allocations/s',
    note: `${ALLOCATIONS} allocations, each call awaited before the next; ${spread(samples.alloc[0]!)}`
  }
  const allocN = CONCURRENCY.slice(1).map((c, k) => compared({
    group,
    name: `writeAllocations, 1 per call, concurrency ${c}`,
    value: median(samples.alloc[k + 1]!),
    unit: 'allocations/s',
    note: `${c} calls issued together (one LMDB transaction), awaited with Promise.all; ${spread(samples.alloc[k + 1]!)}`
  }, alloc1))
  return [raw, durable, commit, alloc1, ...allocN]
}
