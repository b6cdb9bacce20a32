import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { NoPeerRunningError } from '../../node/api/client.js'
import { ReadableDataDirError, withReadableDataDir, type ReadableDeps } from '../../node/offline/readable.js'

/** Where offline commands read: in place on a stopped peer, a copy the daemon made beside a running one. */

const DATA = '/data/weft'

test('a stopped peer: read in place, nothing copied', async () => {
  let copies = 0
  const deps: ReadableDeps = { runningPid: () => undefined, copyStores: async () => { copies++ } }
  assert.equal(await withReadableDataDir(DATA, dir => dir, deps), DATA)
  assert.equal(copies, 0)
})

test('a running peer: read its copy, which is removed afterwards, and errors name the data dir', async () => {
  let copyDir = ''
  const deps: ReadableDeps = {
    runningPid: () => 4242,
    copyStores: async (dataDir, into) => {
      assert.equal(dataDir, DATA)
      copyDir = into
      writeFileSync(join(into, 'store.mdb'), 'copy')
    }
  }
  const seen = await withReadableDataDir(DATA, dir => { assert.ok(existsSync(join(dir, 'store.mdb'))); return dir }, deps)
  assert.equal(seen, copyDir)
  assert.notEqual(seen, DATA)
  assert.equal(existsSync(copyDir), false, 'the copy is removed')

  await assert.rejects(withReadableDataDir(DATA, dir => { throw new Error(`no weft data in ${dir}: broken`) }, deps),
    (err: Error) => err.message === `no weft data in ${DATA}: broken`)
  assert.equal(existsSync(copyDir), false, 'removed after a failure too')
})

test('the daemon stopped between the check and the copy: read in place', async () => {
  let alive = true
  const deps: ReadableDeps = {
    runningPid: () => (alive ? 4242 : undefined),
    copyStores: async () => { alive = false; throw new NoPeerRunningError(DATA) }
  }
  assert.equal(await withReadableDataDir(DATA, dir => dir, deps), DATA)
})

test('a running daemon that cannot copy: a clear error, and its files are not opened', async () => {
  let opened = false
  const deps: ReadableDeps = {
    runningPid: () => 4242,
    copyStores: async () => { throw new NoPeerRunningError(DATA) } // starting up: pid alive, socket not yet up
  }
  await assert.rejects(withReadableDataDir(DATA, () => { opened = true }, deps), (err: Error) =>
    err instanceof ReadableDataDirError && err.message.startsWith(`the peer in ${DATA} is running, and reading its store beside it needs a copy from it, which failed: `))
  assert.equal(opened, false)
})
