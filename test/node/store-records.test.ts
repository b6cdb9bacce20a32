import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as fc from 'fast-check'
import { open } from 'lmdb'
import { acceptorStateShape } from '../../node/consensus/paxos.js'
import { LogService } from '../../node/log-service/service.js'
import { createLogger, lineSink } from '../../node/logger.js'
import { checkRingViewJson, ringViewFromSnapshot, type RingViewJson } from '../../node/ring-view.js'
import { arrayOf, checkShape, object, ShapeError, str } from '../../node/shape.js'
import { Store, StoreError, STORE_FILE, STORE_FORMAT } from '../../node/store/index.js'
import { clusterSpecArb, ClusterModel } from '../helpers/cluster-model.js'

/**
 * The store's JSON records and the persisted ring snapshot are checked on
 * read (issue 15), not cast: a record that does not fit is an error naming
 * the file, the record and the field; the snapshot, a cache of the fold of
 * the log, is ignored with a warning and rebuilt.
 */

const dirs: string[] = []
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

function tempDir (): string {
  const dir = mkdtempSync(join(tmpdir(), 'weft-records-'))
  dirs.push(dir)
  return dir
}

/** Writes raw bytes under `key` of sub-database `db`, past the Store's encoders. */
async function writeRaw (dir: string, db: string, key: string, text: string): Promise<void> {
  const root = open({ path: join(dir, STORE_FILE), compression: false, maxDbs: 16 })
  await root.openDB<Buffer, string>({ name: db, encoding: 'binary' }).put(key, Buffer.from(text))
  await root.close()
}

function assertMalformed (fn: () => unknown, file: string, record: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StoreError, String(err))
    assert.equal(err.code, 'corrupt')
    assert.ok(err.message.startsWith(`${file}: the store's `), err.message)
    assert.match(err.message, record)
    return true
  })
}

/** A founded cluster's store, its log service closed. */
async function foundedStore (): Promise<{ dir: string, view: RingViewJson }> {
  const dir = tempDir()
  const svc = new LogService({ dataDir: dir, seed: new Uint8Array(32).fill(3), now: () => 1_700_000_000_000, logger: createLogger({ write () {} }), notify: () => {} })
  await svc.open()
  await svc.found('10.32.0.0/12')
  await svc.ensureJoin('host1', ['/ip4/127.0.0.1/tcp/6783'])
  const view = svc.view!
  await svc.close()
  return { dir, view }
}

test('each JSON record that does not fit its shape is StoreError(corrupt) naming the file, the record and the field', async () => {
  const dir = tempDir()
  const file = join(dir, STORE_FILE)
  const store = Store.open(dir)
  await store.putMeta({ format: STORE_FORMAT, peer: 'p1', createdAt: 1 })
  await store.close()
  const cases: Array<[string, string, string, (s: Store) => unknown, RegExp]> = [
    ['state', 'seen', '{"p1": "yesterday"}', s => s.getSeen(), /seen record is malformed \(\["p1"\]: expected a number, got "yesterday"\)/],
    ['state', 'docHeads', '{"a": 1}', s => s.docHeads(), /docHeads record is malformed \(the value: expected an array/],
    ['state', 'snapshot', '{"eventCount": 3, "eventHeads": "abc", "docHeads": [], "snapshot": null}', s => s.getSnapshot(), /snapshot record is malformed \(\.eventHeads: expected an array/],
    ['events', 'e1', '"7"', s => s.getEvent('e1'), /event e1 record is malformed \(the value: expected a non-negative integer, got "7"\)/],
    ['state', 'meta', `{"format": ${STORE_FORMAT}, "peer": 5, "createdAt": 1}`, s => s.getMeta(), /meta record is malformed \(\.peer: expected a string, got 5\)/]
  ]
  for (const [db, key, text, read, message] of cases) {
    await writeRaw(dir, db, key, text)
    if (key === 'meta') {
      assertMalformed(() => Store.open(dir, { readOnly: true }), file, message)
      continue
    }
    const s = Store.open(dir, { readOnly: true })
    try {
      assertMalformed(() => read(s), file, message)
    } finally {
      await s.close()
    }
  }
})

test('known peers: a malformed record, or one filed under another address, is refused, or skipped and reported', async () => {
  const dir = tempDir()
  const file = join(dir, STORE_FILE)
  const store = Store.open(dir)
  await store.putKnownPeer({ addr: '/ip4/10.0.0.1/tcp/6783', source: 'connect' })
  await store.close()
  await writeRaw(dir, 'peers', '/ip4/10.0.0.2/tcp/6783', '{"addr": "/ip4/10.0.0.2/tcp/6783", "source": "evil"}')
  await writeRaw(dir, 'peers', '/ip4/10.0.0.3/tcp/6783', '{"addr": "/ip4/10.0.0.9/tcp/6783", "source": "join"}')
  const s = Store.open(dir, { readOnly: true })
  try {
    assertMalformed(() => s.knownPeers(), file, /known peer \/ip4\/10\.0\.0\.2\/tcp\/6783 record is malformed \(\.source: expected "launch" or "connect" or "join", got "evil"\)/)
    const skipped: string[] = []
    const peers = s.knownPeers((addr, err) => { skipped.push(`${addr}: ${err.message}`) })
    assert.deepEqual(peers.map(p => p.addr), ['/ip4/10.0.0.1/tcp/6783'])
    assert.equal(skipped.length, 2)
    assert.match(skipped[1]!, /10\.0\.0\.3.*it names \/ip4\/10\.0\.0\.9/)
  } finally {
    await s.close()
  }
})

test('a ring view: a real one passes; a field of the wrong type or a CIDR that does not parse is named by its path', async () => {
  const { view } = await foundedStore()
  assert.deepEqual(checkRingViewJson(JSON.parse(JSON.stringify(view))), view)
  const broken: Array<[(v: any) => void, RegExp]> = [
    [v => { v.peers[0].owned = ['10.32.0.0/33'] }, /^\.peers\[0\]\.owned\[0\]: expected an IPv4 CIDR, got "10\.32\.0\.0\/33"$/],
    [v => { v.peers[0].owned = ['fd00::/8'] }, /expected an IPv4 CIDR/],
    [v => { v.peers[0].name = 'not-a-peer' }, /^\.peers\[0\]\.name: expected a peer name/],
    [v => { v.events = -1 }, /^\.events: expected a non-negative integer, got -1$/],
    [v => { v.disputes = {} }, /^\.disputes: expected an array, got an object$/],
    [v => { v.v = 2 }, /^\.v: expected 1, got 2$/],
    [v => { v.peers[0].removed = { by: v.peers[0].name, event: 'x', kind: 'takeover', time: 1 } }, /\.removed\.event: expected an event id/],
    [v => { v.heads = null }, /^\.heads: expected an array, got null$/]
  ]
  for (const [damage, message] of broken) {
    const copy = JSON.parse(JSON.stringify(view))
    damage(copy)
    assert.throws(() => checkRingViewJson(copy), (err: unknown) => err instanceof ShapeError && message.test(err.message))
  }
  assert.throws(() => checkRingViewJson('a string'), ShapeError)
})

test('every view a fold makes passes the check (random clusters: transfers, takeovers, disputes, resolves)', () => {
  let disputes = 0
  fc.assert(fc.property(clusterSpecArb(), spec => {
    const m = ClusterModel.run(spec)
    for (const p of m.peers) {
      const view = ringViewFromSnapshot(p.ring.snapshot())
      if (view === undefined) continue
      disputes += view.disputes.length
      assert.deepEqual(checkRingViewJson(JSON.parse(JSON.stringify(view))), view)
    }
  }), { numRuns: 100 })
  assert.ok(disputes > 0, 'some runs had disputes')
})

test('the log service ignores a malformed saved snapshot with a warning, and writes a good one from the log', async () => {
  const { dir, view } = await foundedStore()
  await writeRaw(dir, 'state', 'snapshot', JSON.stringify({ eventCount: 2, eventHeads: view.heads, docHeads: [], snapshot: { ...view, peers: 'everyone' } }))
  const warnings: string[] = []
  const logger = createLogger(lineSink(line => { if (line.includes('WARN')) warnings.push(line) }, 'warn'))
  const svc = new LogService({ dataDir: dir, seed: new Uint8Array(32).fill(3), now: () => 1_700_000_000_000, logger, notify: () => {} })
  await svc.open()
  assert.deepEqual(svc.view, view)
  await svc.close()
  assert.equal(warnings.length, 1, warnings.join(''))
  assert.match(warnings[0]!, /ignoring the saved ring snapshot, which is rebuilt from the log: .*\.peers: expected an array, got "everyone"/)
  const store = Store.open(dir, { readOnly: true })
  try {
    assert.deepEqual(checkRingViewJson(store.getSnapshot()!.snapshot), view)
  } finally {
    await store.close()
  }
})

test('acceptor states are checked: ballots need a round and a proposer that is a peer name', () => {
  const shape = acceptorStateShape(object({ seeds: arrayOf(str) }))
  const proposer = '12D3KooWAQBdCitBPuSyPhdoz9MGqcV1TqxYyH3T3iY6QekrRZSa'
  assert.doesNotThrow(() => checkShape({}, shape))
  assert.doesNotThrow(() => checkShape({ promised: { round: 2, proposer }, accepted: { ballot: { round: 1, proposer }, value: { seeds: [proposer] } } }, shape))
  assert.throws(() => checkShape({ promised: { round: '2', proposer } }, shape), /^ShapeError: \.promised\.round: expected a non-negative integer/)
  assert.throws(() => checkShape({ accepted: { ballot: { round: 1, proposer: 'me' }, value: { seeds: [] } } }, shape), /\.accepted\.ballot\.proposer: expected a peer name/)
  assert.throws(() => checkShape({ accepted: { ballot: { round: 1, proposer }, value: { seeds: 'all' } } }, shape), /\.accepted\.value\.seeds: expected an array/)
})
