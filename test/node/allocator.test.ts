import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { AllocError } from '../../node/allocator/types.js'
import { allocator, GatedStore, turns, watch } from '../helpers/alloc-fixtures.js'

/**
 * The allocator against a store whose commits the test releases by hand, so
 * the order of "reserved", "committed" and "answered" is the test's to set:
 * an answer must never come before the commit that makes it durable.
 */

describe('allocator: an answer waits for the commit that makes it durable', () => {
  test('a second alloc of an ID whose first is not committed yet waits for that commit', async () => {
    const store = new GatedStore()
    const alloc = allocator(store)
    const first = watch(alloc.alloc('web-1'))
    await turns()
    assert.equal(store.writes.length, 1, 'the first alloc is writing')
    const second = watch(alloc.alloc('web-1'))
    await turns()
    assert.equal(second.settled(), false, 'the second alloc answered before the first one\'s commit')
    assert.equal(store.writes.length, 1, 'no second write for the same ID')
    store.writes[0]!.commit()
    const [a, b] = await Promise.all([first.promise, second.promise])
    assert.equal(a.address, '10.0.0.1')
    assert.deepEqual(b, a)
  })

  test('and sees that commit fail', async () => {
    const store = new GatedStore()
    const alloc = allocator(store)
    const first = watch(alloc.alloc('web-1'))
    await turns()
    const second = watch(alloc.alloc('web-1'))
    await turns()
    assert.equal(second.settled(), false)
    store.writes[0]!.fail(new Error('disk full'))
    await assert.rejects(first.promise, /disk full/)
    await assert.rejects(second.promise, /disk full/)
    // Nothing is left behind: the next alloc writes afresh and gets the same address.
    const third = watch(alloc.alloc('web-1'))
    await turns()
    assert.equal(store.writes.length, 2)
    store.writes[1]!.commit()
    assert.equal((await third.promise).address, '10.0.0.1')
  })

  test('a claim of the address an uncommitted alloc holds, by the same ID, waits for that commit', async () => {
    const store = new GatedStore()
    const alloc = allocator(store)
    const first = watch(alloc.alloc('web-1'))
    await turns()
    const claim = watch(alloc.claim('web-1', '10.0.0.1'))
    await turns()
    assert.equal(claim.settled(), false, 'the claim answered before the alloc\'s commit')
    store.writes[0]!.fail(new Error('disk full'))
    await assert.rejects(first.promise, /disk full/)
    await assert.rejects(claim.promise, /disk full/)
  })

  test('an alloc of an ID whose claim is not committed yet waits for that commit', async () => {
    const store = new GatedStore()
    const alloc = allocator(store)
    const claim = watch(alloc.claim('db', '10.0.0.9'))
    await turns()
    const again = watch(alloc.alloc('db'))
    await turns()
    assert.equal(again.settled(), false, 'the alloc answered before the claim\'s commit')
    store.writes[0]!.commit()
    assert.equal((await claim.promise).address, '10.0.0.9')
    assert.equal((await again.promise).address, '10.0.0.9')
  })

  test('another ID never gets an address an uncommitted alloc holds', async () => {
    const store = new GatedStore()
    const alloc = allocator(store)
    const first = watch(alloc.alloc('a'))
    await turns()
    await assert.rejects(alloc.claim('b', '10.0.0.1'), (err: unknown) => err instanceof AllocError && err.code === 'in-use')
    const other = watch(alloc.alloc('b'))
    await turns()
    for (const w of store.writes) w.commit()
    assert.equal((await first.promise).address, '10.0.0.1')
    assert.equal((await other.promise).address, '10.0.0.2')
  })

  test('a release of an allocation still committing is written after that commit', async () => {
    const store = new GatedStore()
    const alloc = allocator(store)
    const first = watch(alloc.alloc('web-1'))
    await turns()
    const release = watch(alloc.release('web-1'))
    await turns()
    assert.equal(store.writes.length, 1, 'the release waits for the alloc\'s commit')
    store.writes[0]!.commit()
    await first.promise
    await turns()
    assert.deepEqual(store.writes[1]?.deletes, [{ subnet: '10.0.0.0/24', id: 'web-1' }])
    store.writes[1]!.commit()
    assert.deepEqual((await release.promise).map(a => a.address), ['10.0.0.1'])
    assert.deepEqual(alloc.list(), [])
  })
})
