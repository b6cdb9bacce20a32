import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { once } from 'node:events'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Store, STORE_FORMAT } from '../../node/store/index.js'
import { burstAdoption, tempDir, verifyBurst } from '../helpers/store-fixtures.js'

/** Multi-process behaviour: a read-only reader process, and kill -9 of a writer process mid-burst. */

const helpers = join(dirname(fileURLToPath(import.meta.url)), '..', 'helpers')
const WRITER = join(helpers, 'store-writer-child.js')
const READER = join(helpers, 'store-reader-child.js')

const children = new Set<ChildProcessWithoutNullStreams>()
const cleanups: Array<() => void | Promise<void>> = []
after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  for (const c of cleanups.reverse()) await c()
})

function start (script: string, args: string[]): ChildProcessWithoutNullStreams {
  const child = spawn(process.execPath, ['--enable-source-maps', script, ...args], { stdio: 'pipe' })
  children.add(child)
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  child.on('exit', code => { if (code !== 0 && code !== null && stderr !== '') console.error(`${script} exited ${code}: ${stderr}`) })
  return child
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

describe('a read-only store in another process', () => {
  test('sees committed adoptions while this process holds the store read-write, without reopening', { timeout: 15_000 }, async () => {
    const { dir, remove } = tempDir('reader')
    cleanups.push(remove)
    const rw = Store.open(dir)
    cleanups.push(async () => { await rw.close() })
    await rw.putMeta({ format: STORE_FORMAT, peer: 'p1', createdAt: 1 })
    for (let n = 0; n < 100; n++) await rw.adopt(burstAdoption(n))

    const reader = start(READER, [dir])
    const lines = createInterface({ input: reader.stdout })[Symbol.asyncIterator]()
    const ask = async (): Promise<Record<string, unknown>> => {
      reader.stdin.write('read\n')
      const { value, done } = await lines.next()
      assert.equal(done, false, 'the reader went away')
      return JSON.parse(value as string) as Record<string, unknown>
    }
    assert.deepEqual(await ask(), { ok: true, committed: 99, eventCount: 300, big: 0, meta: { format: STORE_FORMAT, peer: 'p1', createdAt: 1 } })

    // More adoptions, and 8 MiB more file: lmdb-js grows the map; the reader must follow.
    await Promise.all(Array.from({ length: 200 }, async (_, i) => { await rw.adopt(burstAdoption(100 + i)) }))
    await rw.putSyncState('big', new Uint8Array(8 << 20).fill(3))
    const t0 = Date.now()
    const later = await ask()
    assert.deepEqual(later, { ok: true, committed: 299, eventCount: 900, big: 8 << 20, meta: { format: STORE_FORMAT, peer: 'p1', createdAt: 1 } })
    // The reader holds no lock that stops the writer.
    await rw.adopt(burstAdoption(300))
    assert.equal((await ask()).committed, 300)
    console.log(`second-process reader answered in ${Date.now() - t0} ms`)
    reader.stdin.end('exit\n')
    const [code] = await once(reader, 'exit') as [number | null]
    assert.equal(code, 0)
  })
})

describe('a writer beside a busy reader process', () => {
  // lmdb-js's default overlappingSync lost a child transaction's
  // read-modify-write (event count, chunk number) now and then while another
  // process read the file; the store opens without it (node/store/env.ts).
  test('loses no update: every count, chunk and snapshot exact', { timeout: 60_000 }, async () => {
    for (const mode of ['seq', 'group', 'durable'] as const) {
      const { dir, remove } = tempDir('busy')
      cleanups.push(remove)
      const writer = start(WRITER, [dir, mode, '600', 'wait'])
      const writerLines = createInterface({ input: writer.stdout })[Symbol.asyncIterator]()
      assert.equal((await writerLines.next()).value, 'ready')
      const reader = start(READER, [dir])
      const readerLines = createInterface({ input: reader.stdout })[Symbol.asyncIterator]()
      reader.stdin.write('spin\n')
      assert.deepEqual(JSON.parse((await readerLines.next()).value as string), { spinning: true })
      writer.stdin.write('go\n')
      let done = false
      for await (const line of { [Symbol.asyncIterator]: () => writerLines }) if (line === 'done') { done = true; break }
      assert.ok(done, `${mode}: the writer finished`)
      const readerExit = once(reader, 'exit')
      const writerExit = once(writer, 'exit')
      reader.stdin.end('exit\n')
      writer.stdin.end()
      const { spins } = JSON.parse((await readerLines.next()).value as string) as { spins: number }
      assert.ok(spins > 0, `${mode}: the reader read while the writer wrote`)
      // Both gone before this process opens the file: opening it while another
      // process closes its handle failed now and then (EINVAL renewing the read txn).
      await Promise.all([readerExit, writerExit])
      const store = Store.open(dir, { readOnly: true })
      try {
        assert.equal(verifyBurst(store, 599), 599, `${mode}: all 600 adoptions, whole`)
      } finally {
        await store.close()
      }
    }
  })
})

describe('kill -9 of a writer mid-burst', () => {
  interface Trial { mode: 'seq' | 'group' | 'durable', delayMs: number }

  async function trial ({ mode, delayMs }: Trial): Promise<{ acked: number, committed: number, liveRead: number }> {
    const { dir, remove } = tempDir('kill')
    cleanups.push(remove)
    // The writer opens the store and waits; the read-only handle opens before
    // any commit: a process opening the file while a writer commits can make
    // that commit lost (lmdb-js; node/offline/readable.ts).
    const child = start(WRITER, [dir, mode, '1000000', 'wait'])
    const ready = new Promise<void>(resolve => { child.stdout.once('data', () => { resolve() }) })
    let acked = -1
    let firstAck!: () => void
    const gotFirst = new Promise<void>(resolve => { firstAck = resolve })
    createInterface({ input: child.stdout }).on('line', line => {
      const m = /^ack (\d+)$/.exec(line)
      if (m === null) return
      acked = Math.max(acked, Number(m[1]))
      firstAck()
    })
    const closed = once(child, 'close')
    await ready
    const live = Store.open(dir, { readOnly: true })
    child.stdin.write('go\n')
    await Promise.race([gotFirst, closed.then(() => { throw new Error('the writer exited before its first ack') })])
    // lmdb-js renews a handle's read snapshot on the next timer tick: let it see the acked commits.
    await sleep(0)

    // Mid-burst, read the live store from here too: one consistent snapshot, at least what was acknowledged.
    const seen = acked
    let liveRead: number
    try {
      liveRead = verifyBurst(live, seen)
    } catch (err) {
      throw new Error(`${mode}: the live read-only read after ack ${seen} failed: ${(err as Error).message}`, { cause: err })
    } finally {
      await live.close()
    }

    await sleep(delayMs)
    child.kill('SIGKILL')
    await closed // all stdout read: every ack the child printed is counted
    assert.equal(child.signalCode, 'SIGKILL', `${mode}: the writer ended (exit ${String(child.exitCode)}) before the kill`)

    const store = Store.open(dir)
    try {
      return { acked, committed: verifyBurst(store, acked), liveRead }
    } catch (err) {
      throw new Error(`${mode}+${delayMs}ms: after kill -9 with ${acked + 1} acked: ${(err as Error).message}`, { cause: err })
    } finally {
      await store.close()
      remove()
    }
  }

  test('every acknowledged adoption survives, whole; the snapshot matches its heads', { timeout: 20_000 }, async () => {
    const modes = ['seq', 'group', 'durable', 'seq', 'group', 'seq', 'durable', 'group'] as const
    const results: string[] = []
    for (const mode of modes) {
      const delayMs = Math.floor(Math.random() * 200)
      const r = await trial({ mode, delayMs })
      assert.ok(r.committed >= r.acked)
      results.push(`${mode}+${delayMs}ms: acked ${r.acked + 1}, committed ${r.committed + 1}`)
    }
    console.log(`kill -9 trials: ${results.join('; ')}`)
  })
})
