import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { open } from 'lmdb'
import { Store, StoreError, STORE_FILE } from '../../node/store/index.js'
import { burstAdoption, tempDir, verifyBurst } from '../helpers/store-fixtures.js'

/**
 * A damaged data dir must give StoreError with one line naming the file, and
 * never crash the process: lmdb-js 3.5.6 segfaults on a failed mdb_env_open
 * and a truncated file SIGBUSes on the first read, so the store checks the
 * file before lmdb-js sees it (node/store/header.ts).
 */

const removals: Array<() => void> = []
after(() => { for (const r of removals) r() })

function dataDir (tag: string): string {
  const { dir, remove } = tempDir(tag)
  removals.push(remove)
  return dir
}

function assertStoreError (fn: () => unknown, code: string, file: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StoreError, `not a StoreError: ${String(err)}`)
    assert.equal(err.code, code, err.message)
    assert.ok(err.message.includes(file), `message does not name ${file}: ${err.message}`)
    assert.equal(err.message.includes('\n'), false, 'message is not one line')
    return true
  })
}

/** A valid store with some history, closed. */
async function validStore (tag: string, adoptions = 50): Promise<string> {
  const dir = dataDir(tag)
  const store = Store.open(dir)
  for (let n = 0; n < adoptions; n++) await store.adopt(burstAdoption(n))
  await store.close()
  return dir
}

describe('corrupt data dirs', () => {
  const garbage: Array<[string, () => Buffer]> = [
    ['random bytes', () => randomBytes(100_000)],
    ['bytes that pass the meta-page flag test', () => Buffer.alloc(100_000, 0x5a)],
    ['a few bytes', () => Buffer.from('hello')],
    ['a text file', () => Buffer.from('{"not": "lmdb"}\n'.repeat(1000))]
  ]
  for (const [what, bytes] of garbage) {
    test(`${what} in store.mdb: StoreError(corrupt), read-write and read-only`, () => {
      const dir = dataDir('garbage')
      const file = join(dir, STORE_FILE)
      writeFileSync(file, bytes())
      assertStoreError(() => Store.open(dir), 'corrupt', file)
      assertStoreError(() => Store.open(dir, { readOnly: true }), 'corrupt', file)
    })
  }

  test('an empty store.mdb: corrupt read-only; a read-write open initialises it', async () => {
    const dir = dataDir('empty')
    const file = join(dir, STORE_FILE)
    writeFileSync(file, Buffer.alloc(0))
    assertStoreError(() => Store.open(dir, { readOnly: true }), 'corrupt', file)
    const store = Store.open(dir)
    await store.adopt(burstAdoption(0))
    await store.close()
  })

  test('a directory named store.mdb: corrupt', () => {
    const dir = dataDir('dir')
    mkdirSync(join(dir, STORE_FILE))
    assertStoreError(() => Store.open(dir), 'corrupt', join(dir, STORE_FILE))
  })

  test('no store: read-only open is StoreError(io)', () => {
    const dir = join(dataDir('none'), 'missing')
    assertStoreError(() => Store.open(dir, { readOnly: true }), 'io', join(dir, STORE_FILE))
  })

  test('another LMDB data version: StoreError(version)', async () => {
    const dir = await validStore('lmdbver', 1)
    const file = join(dir, STORE_FILE)
    const bytes = readFileSync(file)
    const psize = bytes.readUInt32LE(48)
    for (const meta of [0, psize]) bytes.writeUInt32LE(1, meta + 28) // mm_version
    writeFileSync(file, bytes)
    assertStoreError(() => Store.open(dir, { readOnly: true }), 'version', file)
  })

  test('a garbage lock file is rebuilt when nobody else has the store open', async () => {
    const dir = await validStore('lock', 3)
    writeFileSync(join(dir, `${STORE_FILE}-lock`), randomBytes(8272))
    const store = Store.open(dir, { readOnly: true })
    assert.equal(verifyBurst(store, 2), 2)
    await store.close()
  })

  test('a record that does not decode is StoreError(corrupt), not a crash', async () => {
    const dir = await validStore('record', 2)
    const file = join(dir, STORE_FILE)
    const raw = open({ path: file, compression: false, maxDbs: 16 })
    const state = raw.openDB<Buffer, string>({ name: 'state', encoding: 'binary' })
    const events = raw.openDB<Buffer, string>({ name: 'events', encoding: 'binary' })
    await state.put('snapshot', Buffer.from('{"eventCount": 3, "snaps'))
    await events.put('zz', Buffer.from([7, 7, 7]))
    await raw.close()
    const store = Store.open(dir, { readOnly: true })
    try {
      assertStoreError(() => store.getSnapshot(), 'corrupt', 'snapshot')
      assertStoreError(() => store.getEvent('zz'), 'corrupt', 'event zz')
      assert.equal(store.docChunks().length, 2) // the rest still reads
    } finally {
      await store.close()
    }
  })

  test('a truncated store: StoreError(corrupt) in a child process that does not crash', async () => {
    // In a child: should a truncation slip past the check, the SIGBUS fails this test, not the runner.
    const dir = await validStore('trunc', 400)
    const file = join(dir, STORE_FILE)
    const psize = readFileSync(file).readUInt32LE(48)
    assert.ok(statSync(file).size > 20 * psize)
    const index = fileURLToPath(new URL('../../node/store/index.js', import.meta.url))
    for (const size of [psize + 500, 3 * psize]) {
      truncateSync(file, size)
      for (const readOnly of [true, false]) {
        const script = `import('${index}').then(({ Store }) => {
          try { Store.open(process.argv[1], { readOnly: ${String(readOnly)} }); console.log('opened') }
          catch (e) { console.log(e.code + ' ' + e.message) } })`
        const r = spawnSync(process.execPath, ['-e', script, dir], { encoding: 'utf8', timeout: 10_000 })
        assert.equal(r.signal, null, `the child died of ${String(r.signal)} (size ${size}, readOnly ${String(readOnly)})`)
        assert.match(r.stdout, /^corrupt .*store\.mdb is not a valid LMDB store/, r.stdout + r.stderr)
      }
    }
  })
})
