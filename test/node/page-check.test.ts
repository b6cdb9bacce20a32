import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { copyFileSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openAllocationStore, ALLOCATIONS_FILE } from '../../node/allocator/store.js'
import { Store, StoreError, STORE_FILE } from '../../node/store/index.js'
import { checkPages } from '../../node/store/page-check.js'
import { burstAdoption, tempDir } from '../helpers/store-fixtures.js'

/**
 * The page walk (node/store/page-check.ts): every file LMDB wrote passes, and
 * a damaged one either fails it with StoreError('corrupt') naming the file,
 * or is harmless to read. "Harmless" is checked the hard way: a child process
 * reads every record, and must not die of a signal (SIGBUS is what damaged
 * pages did to `weft history` before the walk).
 */

const removals: Array<() => void> = []
after(() => { for (const r of removals) r() })

function dataDir (tag: string): string {
  const { dir, remove } = tempDir(tag)
  removals.push(remove)
  return dir
}

/** A deterministic generator, so a failure replays. */
function prng (seed: number): (n: number) => number {
  let s = seed >>> 0
  return n => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s % n
  }
}

let rich: string | undefined

/**
 * A copy of a store with what the daemon writes: many adoptions (in many
 * transactions), deletes (compaction), known peers, values on overflow pages.
 */
async function richStore (): Promise<string> {
  if (rich === undefined) {
    rich = dataDir('rich')
    const store = Store.open(rich)
    for (let n = 0; n < 600; n += 20) await Promise.all(Array.from({ length: 20 }, async (_, k) => { await store.adopt(burstAdoption(n + k)) }))
    for (let n = 0; n < 40; n++) await store.putKnownPeer({ addr: `/ip4/10.0.0.${n}/tcp/6783`, source: 'connect' })
    for (let n = 0; n < 40; n += 2) await store.deleteKnownPeer(`/ip4/10.0.0.${n}/tcp/6783`)
    await store.compactDoc(new Uint8Array(50_000).fill(7), ['compacted'])
    await store.putSyncState('big', new Uint8Array(30_000).fill(9))
    await store.close()
  }
  const dir = dataDir('copy')
  copyFileSync(join(rich, STORE_FILE), join(dir, STORE_FILE))
  return dir
}

const storeIndex = fileURLToPath(new URL('../../node/store/index.js', import.meta.url))

/** Reads every record of DIR's store in a child: the signal it died of, or null. */
function readAllInChild (dir: string): { signal: NodeJS.Signals | null, out: string } {
  const script = `import('${storeIndex}').then(({ Store }) => {
    try {
      const s = Store.open(process.argv[1], { readOnly: true })
      s.getMeta(); s.getSnapshot(); s.docChunks(); s.docHeads(); s.knownPeers(); s.getSyncState('big')
      let n = 0
      for (const e of s.eventsInOrder()) n += e.bytes.length
      for (const e of s.eventBytesInOrder()) n += e.bytes.length
      console.log('read ' + n)
    } catch (e) { console.log('error ' + e.code) } })`
  const r = spawnSync(process.execPath, ['-e', script, dir], { encoding: 'utf8', timeout: 20_000 })
  return { signal: r.signal, out: r.stdout + r.stderr }
}

function assertCorrupt (file: string): void {
  assert.throws(() => checkPages(file), (err: unknown) => {
    assert.ok(err instanceof StoreError, String(err))
    assert.equal(err.code, 'corrupt')
    assert.ok(err.message.startsWith(`${file} is `), err.message)
    assert.ok(!err.message.includes('\n'))
    return true
  })
}

test('stores LMDB wrote pass, and every page is accounted for', async () => {
  const dir = await richStore()
  const file = join(dir, STORE_FILE)
  const stats = checkPages(file)
  assert.ok(typeof stats === 'object')
  const pages = statSync(file).size / 4096
  assert.ok(stats.pages > 100, `only ${stats.pages} pages reached`)
  assert.ok(stats.pages + 2 <= pages, `${stats.pages} reached of ${pages}`)

  const allocs = openAllocationStore(dir)
  for (let i = 0; i < 300; i++) await allocs.write([{ id: `c${i}`, subnet: '10.32.0.0/12', address: `10.32.${i >> 8}.${i & 255}`, createdAt: i }], [])
  await allocs.write([], Array.from({ length: 150 }, (_, i) => ({ subnet: '10.32.0.0/12', id: `c${2 * i}` })))
  await allocs.close()
  assert.ok(typeof checkPages(join(dir, ALLOCATIONS_FILE)) === 'object')

  assert.equal(checkPages(join(dir, 'none.mdb')), 'missing')
  writeFileSync(join(dir, 'empty.mdb'), '')
  assert.equal(checkPages(join(dir, 'empty.mdb')), 'empty')
})

test('the main root page damaged: StoreError(corrupt), for random bytes, zeros, or a wrong page number', async () => {
  const dir = await richStore()
  const file = join(dir, STORE_FILE)
  const good = readFileSync(file)
  const meta = good.readBigUInt64LE(152) >= good.readBigUInt64LE(4096 + 152) ? 0 : 4096
  const root = Number(good.readBigUInt64LE(meta + 136))
  const damage: Array<(b: Buffer) => void> = [
    b => { b.fill(0xa5, root * 4096, (root + 1) * 4096) },
    b => { b.fill(0, root * 4096, (root + 1) * 4096) },
    b => { b.writeBigUInt64LE(BigInt(root + 1), root * 4096) },
    b => { b.writeUInt16LE(0x04, root * 4096 + 18) } // an overflow page where a tree page should be
  ]
  for (const d of damage) {
    const bytes = Buffer.from(good)
    d(bytes)
    writeFileSync(file, bytes)
    assertCorrupt(file)
  }
})

test('a store cut short: StoreError(corrupt)', async () => {
  const dir = await richStore()
  const file = join(dir, STORE_FILE)
  const size = statSync(file).size
  for (const keep of [Math.floor(size / 2 / 4096) * 4096, size - 4096, size - 100]) {
    copyFileSync(file, `${file}.orig`)
    truncateSync(file, keep)
    assertCorrupt(file)
    copyFileSync(`${file}.orig`, file)
  }
})

test('random damage to random pages: caught by the walk, or harmless to read (no SIGBUS)', async () => {
  const dir = await richStore()
  const file = join(dir, STORE_FILE)
  const good = readFileSync(file)
  const pages = good.length / 4096
  const random = prng(15)
  let caught = 0
  const trials = 40
  for (let t = 0; t < trials; t++) {
    const bytes = Buffer.from(good)
    const mode = random(4)
    for (let j = 1 + random(3); j > 0; j--) {
      const at = (2 + random(pages - 2)) * 4096
      if (mode === 0) for (let i = 0; i < 4096; i++) bytes[at + i] = random(256)
      else if (mode === 1) bytes.fill(0, at, at + 4096)
      else if (mode === 2) for (let k = 0; k < 8; k++) bytes[at + random(4096)]! ^= 1 << random(8)
      else for (let k = 0; k < 4; k++) bytes[at + random(64)] = random(256)
    }
    writeFileSync(file, bytes)
    try {
      checkPages(file)
    } catch (err) {
      assert.ok(err instanceof StoreError && err.code === 'corrupt', String(err))
      caught++
      continue
    }
    const r = readAllInChild(dir)
    assert.equal(r.signal, null, `trial ${t} (mode ${mode}) passed the walk, then reading it died of ${String(r.signal)}: ${r.out}`)
  }
  // Most pages are tree pages; most damage to them is structural.
  assert.ok(caught > trials / 3, `only ${caught} of ${trials} caught`)
})
