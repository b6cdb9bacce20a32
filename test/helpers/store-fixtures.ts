import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Adoption, Store, StoredEvent } from '../../node/store/index.js'

/**
 * Deterministic adoptions for the store's crash and multi-process tests: the
 * writer child, the reader child and the test itself all derive adoption n
 * from n alone, so whoever reopens the store can say exactly what must be there.
 */

export const EVENTS_PER_ADOPTION = 3

export function tempDir (tag: string): { dir: string, remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `weft-store-${tag}-`))
  return { dir, remove: () => { rmSync(dir, { recursive: true, force: true }) } }
}

export function burstEventId (n: number, k: number): string {
  return createHash('sha256').update(`burst ${n} ${k}`).digest('hex')
}

export function burstEvent (n: number, k: number): StoredEvent {
  const bytes = new Uint8Array(40 + (n % 7))
  new DataView(bytes.buffer).setUint32(0, n)
  bytes[4] = k
  bytes.fill((n + k) & 0xff, 5)
  return { id: burstEventId(n, k), bytes, lamport: n + 1, time: 1_700_000_000_000 + n, author: `peer-${k}`, kind: 'transfer' }
}

export function burstChunk (n: number): Uint8Array {
  const chunk = new Uint8Array(64 + (n % 50))
  new DataView(chunk.buffer).setUint32(0, n)
  chunk.fill(n & 0xff, 4)
  return chunk
}

export function burstSyncState (n: number): Uint8Array {
  return new Uint8Array([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff])
}

export function burstAdoption (n: number): Adoption {
  const events = Array.from({ length: EVENTS_PER_ADOPTION }, (_, k) => burstEvent(n, k))
  return {
    docChunk: burstChunk(n),
    docHeads: [`doc-${n}`],
    events: events.reverse(), // any order
    snapshot: { n, owners: [{ peer: 'peer-0', ranges: ['10.32.0.0/12'] }], ok: true, none: null, ratio: n / 3 },
    eventHeads: [burstEventId(n, EVENTS_PER_ADOPTION - 1)],
    syncStates: [['peer-0', burstSyncState(n)]]
  }
}

/**
 * Checks that the store holds exactly burst adoptions 0..c for some c ≥ minCommitted,
 * each whole, and that its heads and snapshot describe adoption c. Returns c (-1: none).
 */
export function verifyBurst (store: Store, minCommitted: number): number {
  const record = store.getSnapshot()
  const c = record === undefined ? -1 : (record.snapshot as { n: number }).n
  assert.ok(c >= minCommitted, `committed ${c}, but ${minCommitted} was acknowledged`)
  const count = (c + 1) * EVENTS_PER_ADOPTION
  assert.equal(store.eventCount(), count)
  for (let n = 0; n <= c; n++) {
    for (let k = 0; k < EVENTS_PER_ADOPTION; k++) assert.deepEqual(store.getEvent(burstEventId(n, k)), burstEvent(n, k), `event ${n}/${k}`)
  }
  for (let n = c + 1; n <= c + 3; n++) {
    for (let k = 0; k < EVENTS_PER_ADOPTION; k++) assert.equal(store.hasEvent(burstEventId(n, k)), false, `half adoption ${n}/${k}`)
  }
  const chunks = store.docChunks()
  assert.equal(chunks.length, c + 1)
  chunks.forEach((chunk, n) => { assert.deepEqual(chunk, burstChunk(n), `chunk ${n}`) })
  if (c < 0) {
    assert.deepEqual(store.docHeads(), [])
    return c
  }
  assert.deepEqual(store.docHeads(), [`doc-${c}`])
  const expected = burstAdoption(c)
  assert.deepEqual(record, { snapshot: expected.snapshot, eventHeads: expected.eventHeads, docHeads: expected.docHeads, eventCount: count })
  assert.deepEqual(store.getSyncState('peer-0'), burstSyncState(c))
  assert.equal([...store.eventsInOrder()].length, count)
  return c
}
