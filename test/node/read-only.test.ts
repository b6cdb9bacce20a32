import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseCidr } from '../../packages/netaddr/index.js'
import { ed25519SignerFromSeed, type AuthoredEvent, type BodyOf } from '../../crdt/events/index.js'
import { LogService } from '../../node/log-service/service.js'
import { AppendRefusedError } from '../../node/log-service/types.js'
import { silentLogger } from '../../node/logger.js'

/**
 * A peer that holds an event of a newer format folds without it, so it must
 * sign nothing at all (issue 12): not only alloc and claim, but every kind
 * that any path (appends, donations, rmpeer, resolve, reset) would write.
 */

const dirs: string[] = []
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

const other = ed25519SignerFromSeed(new Uint8Array(32).fill(7)).author

const BODIES: { [K in AuthoredEvent['kind']]: BodyOf<K> } = {
  join: { nickname: 'again', addrs: [] },
  transfer: { ranges: [parseCidr('10.32.0.0/24')], to: other },
  takeover: { from: other, ranges: [] },
  leave: { heirs: [{ peer: other, ranges: [parseCidr('10.32.0.0/12')] }] },
  conflict: { reason: 'dispute', rivals: ['a'.repeat(64), 'b'.repeat(64)], overlap: [parseCidr('10.32.0.0/24')], supplier: other, evidence: [] },
  resolve: { disputes: ['c'.repeat(64)], removals: [], assignments: [] },
  checkpoint: { epoch: 1, cut: ['d'.repeat(64)], digest: 'e'.repeat(64) }
}

test('after an event of a newer format, every kind of append is refused with "upgrade weft"', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'weft-ro-'))
  dirs.push(dataDir)
  const svc = new LogService({ dataDir, seed: new Uint8Array(32).fill(3), now: () => 1_700_000_000_000, logger: silentLogger, notify: () => {} })
  await svc.open()
  await svc.found('10.32.0.0/12')
  await svc.ensureJoin('host1', [])
  // Before: a join is an ordinary append.
  await svc.append('join', { nickname: 'host1b', addrs: [] })
  const future = await svc.appendFuture('shiny-new-kind', 4)
  assert.equal(future.status, 'future')
  assert.equal(svc.view?.readOnly, true)
  const events = svc.view?.events
  for (const kind of Object.keys(BODIES) as Array<AuthoredEvent['kind']>) {
    await assert.rejects(svc.append(kind, BODIES[kind] as never, { allowVoid: true }), (err: Error) => {
      assert.ok(err instanceof AppendRefusedError, `${kind}: ${err.name}`)
      assert.match(err.message, new RegExp(`^${kind} refused: .*upgrade weft`))
      return true
    })
  }
  await assert.rejects(svc.takeover(other), /upgrade weft/)
  await assert.rejects(svc.leave([other], 1000), /upgrade weft/)
  await assert.rejects(svc.ensureJoin('renamed', ['/ip4/127.0.0.1/tcp/1']), /upgrade weft/)
  // Nothing was written: the log is as it was after the future event.
  assert.equal(svc.view?.events, events)
  await svc.close()
})
