import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import * as dagCbor from '@ipld/dag-cbor'
import { formatCidr, parseCidr } from '../../packages/netaddr/index.js'
import { decodeEvent, ed25519SignerFromSeed, EventError, eventId, peerNameToBytes, signEvent } from '../../crdt/events/index.js'
import { OwnershipRing } from '../../crdt/ring/index.js'
import { loadOrCreateIdentity } from '../../node/identity.js'
import type { VerifyReport } from '../../node/offline/verify.js'
import type { RingViewJson } from '../../node/ring-view.js'
import { Store, type StoredEvent } from '../../node/store/index.js'
import { cleanup, runWeft, WeftPeer } from '../helpers/weft-process.js'
import { waitFor } from '../helpers/wait.js'
import { openStoreBeside } from '../helpers/store-beside.js'

/**
 * `weft verify` on real data dirs (issue 9): a clean history passes, beside
 * a running daemon too; a data dir into which the test wrote a forged event
 * (bad signature) and a corrupted one (bytes no longer hash to their id) is
 * refused with exit 1, naming both.
 */

after(async () => { await cleanup() })

const env = { WEFT_TUNING: JSON.stringify({ backoffBaseMs: 300, backoffFactor: 1.5, backoffMaxMs: 1000, readyGraceMs: 1000, syncIntervalMs: 2000 }) }
const view = async (p: WeftPeer): Promise<RingViewJson> => await p.testHook('view') as RingViewJson
type VerifyJson = VerifyReport & { ok: boolean }

async function verify (dataDir: string, json = false): Promise<{ code: number, stdout: string, stderr: string }> {
  return await runWeft(['verify', '--data-dir', dataDir, ...(json ? ['--json'] : [])])
}

let host1: WeftPeer
let host2: WeftPeer
let transferId = ''

test('a small real history: donations and a transfer; verify passes beside the running daemon', async () => {
  host1 = await WeftPeer.launch({ nickname: 'v-host1', env })
  host2 = await WeftPeer.launch({ nickname: 'v-host2', peers: [host1.addr], env })
  for (const p of [host1, host2]) assert.equal((await p.run(['wait-ready', '--timeout', '20'])).code, 0)
  // host2 starts with nothing: its allocations make host1 donate.
  for (let i = 0; i < 3; i++) await host2.client.alloc(`c${i}`)
  await host1.client.alloc('a0')
  const donated = await view(host1)
  assert.ok(donated.peers.find(p => p.name === host2.name)!.owned.length > 0, 'host1 donated space to host2')
  // A transfer through the test hook: the last /20 of host1's biggest block, to host2.
  const v1 = donated
  const mine = v1.peers.find(p => p.name === host1.name)!.owned.map(c => parseCidr(c)).sort((a, b) => a.prefix - b.prefix)[0]!
  const last20 = { family: mine.family, prefix: 20, first: mine.first + (1n << BigInt(32 - mine.prefix)) - (1n << 12n) }
  const t = await host1.testHook('append', { kind: 'transfer', body: { ranges: [formatCidr(last20)], to: host2.name } }) as { id: string, status: string }
  assert.equal(t.status, 'valid')
  transferId = t.id
  const heads = await waitFor('host2 to adopt the transfer (both at one head)', async () => {
    const [a, b] = await Promise.all([view(host1), view(host2)])
    return a.heads.join() === t.id && b.heads.join() === t.id ? b.heads : undefined
  })
  assert.deepEqual(heads, [t.id])
  const v2 = await view(host2)
  assert.ok(v2.peers.find(p => p.name === host2.name)!.owned.includes(formatCidr(last20)))

  // Read-only beside the running daemon (LMDB readers do not block the writer).
  assert.ok(host1.running)
  const r = await verify(host1.dataDir)
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stderr, '')
  assert.match(r.stdout, /^verified \d+ events in /)
  assert.match(r.stdout, /ids, form and signatures: ok/)
  assert.match(r.stdout, /saved ring snapshot: matches the fold of the log/)
  assert.ok(host1.running, 'the daemon is untouched')
  assert.equal((await host1.status()).events, v1.events + 1)
})

test('verify on a clean, stopped data dir: exit 0, ok summary, --json fields', async () => {
  await host1.stop()
  await host2.stop()
  const r = await verify(host2.dataDir)
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stderr, '')
  const lines = r.stdout.trimEnd().split('\n')
  assert.match(lines[0]!, /^verified \d+ events in \d+\.\d\d s on \d+ cores? \(\d+ events\/s\)$/)
  assert.deepEqual(lines.slice(1), [
    'ids, form and signatures: ok',
    'causal structure: ok',
    'ownership rule: no void events',
    'saved ring snapshot: matches the fold of the log'
  ])
  const j = await verify(host2.dataDir, true)
  assert.equal(j.code, 0, j.stderr)
  const json = JSON.parse(j.stdout) as VerifyJson
  const store = await openStoreBeside(host2.dataDir)
  const held = store.eventCount()
  await store.close()
  assert.equal(json.events, held)
  assert.ok(json.events >= 5, `genesis, 2 joins, a donation, the transfer: ${json.events}`)
  assert.ok(Number.isInteger(json.threads) && json.threads >= 1)
  assert.ok(Number.isInteger(json.ms) && json.ms >= 0)
  assert.deepEqual(json.byteFaults, [])
  assert.deepEqual(json.causalFaults, [])
  assert.equal(json.voids, 0)
  assert.equal(json.snapshot, 'matches')
  assert.equal(json.ok, true)
})

test('a forged event and a corrupted one written into the store: both named, exit 1', async () => {
  const store = Store.open(host2.dataDir)
  let forged: StoredEvent
  let corrupted: StoredEvent
  let eventsBefore: number
  try {
    const meta = store.getMeta()!
    const record = store.getSnapshot()!
    const stored = [...store.eventsInOrder()]
    eventsBefore = stored.length
    assert.deepEqual(record.eventHeads, [transferId])
    const ring = new OwnershipRing(meta.clusterId!)
    for (const e of stored) ring.apply(decodeEvent(e.bytes))

    // (a) Forged: a well-formed transfer by host2 of its space to host1, at
    // host2's next seq on top of the current heads (so the causal structure
    // is fine), whose signature does not verify: one byte of it flipped.
    const { seed } = await loadOrCreateIdentity(host2.dataDir)
    const signer = ed25519SignerFromSeed(seed)
    assert.equal(signer.author, host2.name)
    const fields = ring.nextFields(host2.name)
    assert.deepEqual(fields.deps, [transferId])
    const ranges = (record.snapshot as RingViewJson).peers.find(p => p.name === host2.name)!.owned.map(c => parseCidr(c))
    const good = signEvent({ kind: 'transfer', author: host2.name, time: Date.now(), body: { ranges, to: host1.name }, ...fields }, signer)
    const sig = (dagCbor.decode(good.bytes) as { sig: Uint8Array }).sig
    const at = Buffer.from(good.bytes).indexOf(Buffer.from(sig))
    assert.ok(at > 0)
    const forgedBytes = new Uint8Array(good.bytes)
    forgedBytes[at + 31] ^= 0x01
    forged = { id: eventId(forgedBytes), bytes: forgedBytes, lamport: fields.lamport, time: good.event.time, author: host2.name, kind: 'transfer' }
    assert.throws(() => decodeEvent(forgedBytes), (e: unknown) => e instanceof EventError && e.code === 'bad-signature')

    // (b) Corrupted: the transfer's stored bytes with one byte of its body
    // (inside `to`) changed, kept under its ORIGINAL id.
    const original = store.getEvent(transferId)!
    const to = Buffer.from(peerNameToBytes(host2.name))
    const body = Buffer.from(original.bytes).indexOf(to)
    assert.ok(body > 0)
    const corruptBytes = new Uint8Array(original.bytes)
    corruptBytes[body + to.length - 1] ^= 0x01
    corrupted = { ...original, bytes: corruptBytes }
    assert.throws(() => decodeEvent(corruptBytes, { expectedId: transferId }), (e: unknown) => e instanceof EventError && e.code === 'wrong-id')

    // Adopted as if real; the saved snapshot record passes through unchanged.
    await store.adopt({ events: [forged, corrupted], docHeads: record.docHeads, snapshot: record.snapshot, eventHeads: record.eventHeads })
    assert.equal(store.eventCount(), eventsBefore + 1)
    assert.deepEqual(store.getSnapshot()!.snapshot, record.snapshot)
  } finally {
    await store.close()
  }

  const r = await verify(host2.dataDir)
  const j = await verify(host2.dataDir, true)
  assert.equal(r.code, 1, r.stdout)
  assert.equal(j.code, 1, j.stdout)
  const json = JSON.parse(j.stdout) as VerifyJson
  assert.equal(json.ok, false)
  assert.equal(json.events, eventsBefore + 1)
  assert.deepEqual(json.byteFaults.map(f => [f.id, f.code]).sort(), [[forged.id, 'bad-signature'], [corrupted.id, 'wrong-id']].sort())
  // Nothing valid depends on either (the forged one sits on the corrupted
  // head): no causal faults. The fold of what verifies lacks the corrupted
  // transfer, so the saved snapshot (which reflects it) no longer matches.
  assert.deepEqual(json.causalFaults, [])
  assert.equal(json.snapshot, 'differs')
  const n = json.byteFaults.length + json.causalFaults.length + (json.snapshot === 'differs' ? 1 : 0)
  assert.equal(r.stderr, `weft: ${n} faults in ${host2.dataDir}\n`)
  assert.equal(j.stderr, r.stderr)
  assert.match(r.stdout, /ids, form and signatures: 2 faults\n/)
  const line = (id: string, code: string): string | undefined => r.stdout.split('\n').find(l => l.startsWith(`  ${id}: ${code}: `))
  assert.ok(line(forged.id, 'bad-signature'), `stdout names the forged event:\n${r.stdout}`)
  assert.ok(line(corrupted.id, 'wrong-id'), `stdout names the corrupted event:\n${r.stdout}`)
  assert.match(r.stdout, /causal structure: ok\n/)
  assert.match(r.stdout, /saved ring snapshot: DIFFERS from the fold of the log\n/)

  // The untouched peer still verifies.
  assert.equal((await verify(host1.dataDir)).code, 0)
})

// verify reads the events and the saved snapshot in one read transaction:
// beside a daemon that keeps writing they still agree.
test('verify beside a daemon that keeps appending: no false fault', async () => {
  const p = await WeftPeer.launch({ nickname: 'v-busy', env })
  assert.equal((await p.run(['wait-ready', '--timeout', '20'])).code, 0)
  await p.testHook('append-joins', { count: 2000 })
  let writing = true
  const writer = (async () => { while (writing) await p.testHook('append-joins', { count: 20 }) })()
  const reports: VerifyJson[] = []
  try {
    for (let i = 0; i < 3; i++) {
      const r = await verify(p.dataDir, true)
      reports.push(JSON.parse(r.stdout) as VerifyJson)
    }
  } finally {
    writing = false
    await writer
  }
  for (const j of reports) {
    assert.deepEqual(j.byteFaults, [])
    assert.deepEqual(j.causalFaults, [])
    assert.equal(j.snapshot, 'matches', `verify of ${j.events} events beside a writing daemon`)
  }
})
