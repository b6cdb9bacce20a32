import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { open } from 'lmdb'
import { ALLOCATIONS_FILE, openAllocationStore } from '../../node/allocator/store.js'
import type { Allocation, AllocationStore } from '../../node/allocator/types.js'
import { StoreError } from '../../node/store/errors.js'

/**
 * The allocation store (node/allocator/store.ts): durable, group-committed,
 * atomic per write, and a damaged file is a StoreError, never a crash.
 */

const CHILD = join(dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'alloc-store-child.js')
const SUBNET = '10.32.0.0/12'

const cleanups: Array<() => void | Promise<void>> = []
const children = new Set<ChildProcessWithoutNullStreams>()
after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  for (const c of cleanups.reverse()) await c()
})

function dataDir (tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), `weft-alloc-${tag}-`))
  cleanups.push(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

function openStore (dir: string): AllocationStore {
  const store = openAllocationStore(dir)
  cleanups.push(async () => { await store.close() })
  return store
}

/** Allocation n; the same function as in test/helpers/alloc-store-child.ts. */
function allocation (n: number, subnet = SUBNET): Allocation {
  return { id: `c${n}`, subnet, address: `10.${32 + ((n >> 16) & 15)}.${(n >> 8) & 255}.${n & 255}`, createdAt: n }
}

const byKey = (a: Allocation, b: Allocation): number =>
  a.subnet < b.subnet ? -1 : a.subnet > b.subnet ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0

function assertStoreError (fn: () => unknown, code: string, file: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StoreError, `not a StoreError: ${String(err)}`)
    assert.equal(err.code, code, err.message)
    assert.ok(err.message.includes(file), `message does not name ${file}: ${err.message}`)
    assert.equal(err.message.includes('\n'), false, 'message is not one line')
    return true
  })
}

describe('allocation store', () => {
  test('round trip, and the same after reopening', async () => {
    const dir = dataDir('roundtrip')
    let store = openAllocationStore(dir)
    assert.deepEqual(store.all(), [])
    const puts = [
      allocation(1),
      allocation(2),
      { id: 'web-☃', subnet: '10.32.1.0/24', address: '10.32.1.1', createdAt: 1_700_000_000_000 },
      { id: 'v6', subnet: 'fd00::/64', address: 'fd00::1', createdAt: 5 }
    ]
    await store.write(puts, [])
    const expected = [...puts].sort(byKey)
    assert.deepEqual(store.all(), expected)
    await store.close()
    assert.ok(statSync(join(dir, ALLOCATIONS_FILE)).isFile())

    store = openStore(dir)
    assert.deepEqual(store.all(), expected)
    await store.write([], [{ subnet: SUBNET, id: 'c1' }, { subnet: SUBNET, id: 'never-held' }])
    assert.deepEqual(store.all(), expected.filter(a => a.id !== 'c1'))
  })

  test('only the Allocation fields are stored; a put replaces the record under its key', async () => {
    const store = openStore(dataDir('fields'))
    await store.write([{ ...allocation(1), extra: 'not stored' } as unknown as Allocation], [])
    await store.write([{ ...allocation(1), address: '10.32.9.9' }], [])
    assert.deepEqual(store.all(), [{ ...allocation(1), address: '10.32.9.9' }])
  })

  test('one write is one batch: deletes apply before puts, and all of it lands together', async () => {
    const store = openStore(dataDir('batch'))
    await store.write([allocation(1), allocation(2)], [])
    // Release and re-allocate c1 in one call: it stays; c2 goes; 50 new ones arrive.
    const puts = [{ ...allocation(1), address: '10.32.7.7' }, ...Array.from({ length: 50 }, (_, i) => allocation(100 + i))]
    await store.write(puts, [{ subnet: SUBNET, id: 'c1' }, { subnet: SUBNET, id: 'c2' }])
    assert.deepEqual(store.all(), [...puts].sort(byKey))
  })

  test('a bad record rejects its whole write before anything is written, and not its neighbours', async () => {
    const store = openStore(dataDir('bad'))
    const bad = { ...allocation(2), createdAt: 10n } as unknown as Allocation // BigInt: not JSON
    const results = await Promise.allSettled([
      store.write([allocation(1)], []),
      store.write([allocation(3), bad], []),
      store.write([allocation(4)], [])
    ])
    assert.deepEqual(results.map(r => r.status), ['fulfilled', 'rejected', 'fulfilled'])
    assert.deepEqual(store.all().map(a => a.id), ['c1', 'c4'])
  })

  test('200 concurrent writes (one event-loop turn) are all present after reopening', async () => {
    const dir = dataDir('concurrent')
    let store = openAllocationStore(dir)
    const writes = Array.from({ length: 200 }, async (_, n) => { await store.write([allocation(n)], []) })
    await Promise.all(writes)
    await store.close()
    store = openStore(dir)
    const all = store.all()
    assert.equal(all.length, 200)
    assert.deepEqual(all, Array.from({ length: 200 }, (_, n) => allocation(n)).sort(byKey))
  })

  test('a second open in this process is refused; use after close is StoreError(closed)', async () => {
    const dir = dataDir('locked')
    const store = openAllocationStore(dir)
    await store.write([allocation(1)], [])
    assertStoreError(() => openAllocationStore(dir), 'locked', join(dir, ALLOCATIONS_FILE))
    await store.close()
    await store.close() // twice is fine
    assertStoreError(() => store.all(), 'closed', join(dir, ALLOCATIONS_FILE))
    await assert.rejects(store.write([allocation(2)], []), (err: unknown) => err instanceof StoreError && err.code === 'closed')
    const again = openStore(dir) // closing released it
    assert.deepEqual(again.all(), [allocation(1)])
  })
})

describe('a damaged allocations.mdb is a StoreError naming the file, never a crash', () => {
  const garbage: Array<[string, () => Buffer]> = [
    ['random bytes', () => randomBytes(100_000)],
    ['bytes that pass the meta-page flag test', () => Buffer.alloc(100_000, 0x5a)],
    ['a few bytes', () => Buffer.from('hello')],
    ['a text file', () => Buffer.from('{"not": "lmdb"}\n'.repeat(1000))]
  ]
  for (const [what, bytes] of garbage) {
    test(what, () => {
      const dir = dataDir('garbage')
      const file = join(dir, ALLOCATIONS_FILE)
      writeFileSync(file, bytes())
      assertStoreError(() => openAllocationStore(dir), 'corrupt', file)
    })
  }

  test('an empty file (a crash before the first commit) is an empty store, not an error', async () => {
    const dir = dataDir('empty')
    writeFileSync(join(dir, ALLOCATIONS_FILE), '')
    const store = openStore(dir)
    assert.deepEqual(store.all(), [])
    await store.write([allocation(1)], [])
    assert.deepEqual(store.all(), [allocation(1)])
  })

  test('a directory where the file should be', () => {
    const dir = dataDir('dir')
    mkdirSync(join(dir, ALLOCATIONS_FILE))
    assertStoreError(() => openAllocationStore(dir), 'corrupt', join(dir, ALLOCATIONS_FILE))
  })

  test('a valid file truncated to its meta pages', async () => {
    const dir = dataDir('truncated')
    const store = openAllocationStore(dir)
    // Enough records that the tree's root page lies past the first few pages.
    for (let i = 0; i < 20; i++) await store.write(Array.from({ length: 100 }, (_, k) => allocation(i * 100 + k)), [])
    await store.close()
    const file = join(dir, ALLOCATIONS_FILE)
    const size = statSync(file).size
    const psize = readFileSync(file).readUInt32LE(48)
    assert.ok(size > 4 * psize, `file is only ${size} bytes`)
    truncateSync(file, 2 * psize)
    assertStoreError(() => openAllocationStore(dir), 'corrupt', file)
  })

  test('a record that is not an allocation: all() throws StoreError(corrupt)', async () => {
    const dir = dataDir('record')
    const file = join(dir, ALLOCATIONS_FILE)
    const store = openAllocationStore(dir)
    await store.write([allocation(1)], [])
    await store.close()
    const raw = open({ path: file, compression: false, encoding: 'binary', maxDbs: 4 })
    const allocs = raw.openDB<Buffer, [string, string]>({ name: 'allocs', encoding: 'binary' })
    await allocs.put([SUBNET, 'c2'], Buffer.from('not json'))
    await raw.close()
    const reopened = openStore(dir)
    assertStoreError(() => reopened.all(), 'corrupt', file)
  })

  test('another record format: StoreError(version)', async () => {
    const dir = dataDir('format')
    const file = join(dir, ALLOCATIONS_FILE)
    const store = openAllocationStore(dir)
    await store.write([allocation(1)], [])
    await store.close()
    const raw = open({ path: file, compression: false, encoding: 'binary', maxDbs: 4 })
    const meta = raw.openDB<Buffer, string>({ name: 'meta', encoding: 'binary' })
    assert.equal(meta.get('format')?.toString(), '1', 'the first write stamps the format')
    await meta.put('format', Buffer.from('99'))
    await raw.close()
    assertStoreError(() => openAllocationStore(dir), 'version', file)
  })
})

describe('kill -9 of a writer process', () => {
  const BATCH = 8

  function start (args: string[]): ChildProcessWithoutNullStreams {
    const child = spawn(process.execPath, ['--enable-source-maps', CHILD, ...args], { stdio: 'pipe' })
    children.add(child)
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    child.on('exit', code => { if (code !== 0 && code !== null) console.error(`alloc-store-child exited ${code}: ${stderr}`) })
    return child
  }

  async function trial (mode: 'single' | 'batch', delayMs: number): Promise<{ acked: number, stored: number }> {
    const dir = dataDir('kill')
    const child = start([dir, mode, '16'])
    const acked = new Set<number>()
    let firstAck!: () => void
    const gotFirst = new Promise<void>(resolve => { firstAck = resolve })
    createInterface({ input: child.stdout }).on('line', line => {
      const m = /^ack (\d+)$/.exec(line)
      if (m === null) return
      acked.add(Number(m[1]))
      firstAck()
    })
    const closed = once(child, 'close')
    await Promise.race([gotFirst, closed.then(() => { throw new Error('the writer exited before its first ack') })])
    await new Promise(resolve => setTimeout(resolve, delayMs))
    child.kill('SIGKILL')
    await closed // every ack the child printed has been read
    assert.equal(child.signalCode, 'SIGKILL', 'the writer finished before the kill')

    const store = openAllocationStore(dir)
    try {
      const all = store.all()
      const held = new Map(all.map(a => [a.id, a]))
      if (mode === 'single') {
        for (const n of acked) assert.deepEqual(held.get(`c${n}`), allocation(n), `acknowledged write ${n} is missing`)
        for (const a of all) assert.deepEqual(a, allocation(a.createdAt), 'a record is not what was written')
      } else {
        // Batch n puts c(8n)…c(8n+7) and deletes c(8(n-1)): whole or not at all.
        const committed = (n: number): boolean => held.has(`c${n * BATCH + 1}`)
        for (const n of acked) assert.ok(committed(n), `acknowledged batch ${n} is missing`)
        const batches = new Set(all.map(a => Math.floor(a.createdAt / BATCH)))
        for (const n of batches) {
          for (let k = 1; k < BATCH; k++) assert.deepEqual(held.get(`c${n * BATCH + k}`), allocation(n * BATCH + k), `batch ${n} is torn`)
          assert.equal(held.has(`c${n * BATCH}`), !committed(n + 1), `batch ${n + 1}'s delete is torn from its puts`)
        }
      }
      return { acked: acked.size, stored: all.length }
    } finally {
      await store.close()
    }
  }

  test('every acknowledged write survives, whole', { timeout: 60_000 }, async () => {
    const results: string[] = []
    for (const mode of ['single', 'batch', 'single', 'batch', 'single', 'batch'] as const) {
      const delayMs = Math.floor(Math.random() * 300)
      const r = await trial(mode, delayMs)
      assert.ok(r.acked > 0)
      results.push(`${mode}+${delayMs}ms: acked ${r.acked}, stored ${r.stored}`)
    }
    console.log(`kill -9 trials (16 writes in flight): ${results.join('; ')}`)
  })
})

describe('throughput (printed, not asserted)', () => {
  test('writes/s at concurrency 1, 16 and 128', { timeout: 120_000 }, async () => {
    const lines: string[] = []
    for (const [concurrency, n] of [[1, 500], [16, 4000], [128, 12_800]] as const) {
      const store = openStore(dataDir(`bench${concurrency}`))
      const latencies: number[] = []
      let next = 0
      const t0 = performance.now()
      await Promise.all(Array.from({ length: concurrency }, async () => {
        while (next < n) {
          const i = next++
          const t = performance.now()
          await store.write([allocation(i)], [])
          latencies.push(performance.now() - t)
        }
      }))
      const seconds = (performance.now() - t0) / 1000
      latencies.sort((a, b) => a - b)
      const pct = (p: number): string => (latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0).toFixed(2)
      assert.equal(store.all().length, n)
      lines.push(`concurrency ${concurrency}: ${Math.round(n / seconds)} writes/s, p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms (${n} writes)`)
    }
    console.log(`allocation store throughput:\n  ${lines.join('\n  ')}`)
  })
})
