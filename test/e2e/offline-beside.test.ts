/**
 * Offline commands beside a busy daemon (issue 9: "works beside the running
 * daemon"). An LMDB read-only open in another process while the daemon
 * commits can make the daemon lose that commit (node/offline/readable.ts), so
 * the CLI reads a copy the daemon makes. Here the daemon appends events
 * non-stop while `weft history` and `weft verify` run beside it again and
 * again; afterwards the stopped peer's store holds every event, whole, and
 * its saved ring snapshot equals the fold of its log.
 */
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { cleanup, WeftPeer } from '../helpers/weft-process.js'

after(async () => { await cleanup() })

const readCopies = (): string[] => readdirSync(tmpdir()).filter(n => n.startsWith('weft-read-'))

test('history and verify beside a daemon that is appending: every run sees a whole log, the daemon loses nothing', { timeout: 180_000 }, async () => {
  const copiesBefore = new Set(readCopies())
  const peer = await WeftPeer.launch({ nickname: 'busy' })
  const start = (await peer.status()).events

  const ROUNDS = 60
  const PER_ROUND = 20
  let appending = true
  const appender = (async () => {
    try {
      for (let i = 0; i < ROUNDS; i++) {
        await peer.testHook('append-joins', { count: PER_ROUND })
        await new Promise(resolve => setTimeout(resolve, 50))
      }
    } finally {
      appending = false
    }
  })()

  const seen: number[] = []
  let verifies = 0
  while (appending) {
    const h = await peer.run(['history', '--json'])
    assert.equal(h.code, 0, h.stderr)
    seen.push((JSON.parse(h.stdout) as unknown[]).length)
    if (seen.length % 2 === 0) {
      const v = await peer.run(['verify', '--json'])
      assert.equal(v.code, 0, `verify beside the daemon: ${v.stdout}${v.stderr}`)
      verifies++
    }
  }
  await appender
  assert.ok(seen.length >= 2, `history ran ${seen.length} times while the daemon appended`)
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!, `the log only grows between runs: ${seen.join(', ')}`)

  const total = start + ROUNDS * PER_ROUND
  assert.equal((await peer.status()).events, total)
  await peer.stop()
  // Stopped: read in place. Every event is there and the saved snapshot is the fold of them all.
  const v = await peer.run(['verify', '--json'])
  assert.equal(v.code, 0, `${v.stdout}${v.stderr}`)
  const report = JSON.parse(v.stdout) as { events: number, snapshot: string }
  assert.equal(report.events, total)
  assert.equal(report.snapshot, 'matches')
  assert.deepEqual(readCopies().filter(n => !copiesBefore.has(n)), [], 'no copy left behind')
  console.log(`history ran ${seen.length} times and verify ${verifies} times beside the daemon while it appended ${ROUNDS * PER_ROUND} events`)
})
