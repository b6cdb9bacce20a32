import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { AllocError } from '../../node/allocator/types.js'
import type { Allocator } from '../../node/allocator/allocator.js'
import { LifecycleError } from '../../node/lifecycle.js'
import { reset, type LeaveResult, type ResetContext } from '../../node/reset.js'
import { RingView } from '../../node/ring-view.js'
import { allocator, GatedStore, self, soloView } from '../helpers/alloc-fixtures.js'

/**
 * `reset` beside the allocator, in one process: between counting the
 * allocations and appending the leave, nothing may be allocated in the
 * space being handed away (issue 12), and a failed reset gives it back.
 */

const HEIR = '12D3KooWHeirHeirHeirHeirHeirHeirHeirHeirHeirHeirHeir'

function context (alloc: Allocator, leave: ResetContext['leave'], view = soloView()): ResetContext {
  return {
    self,
    view,
    connected: [],
    allocations: alloc,
    leave,
    confirmMs: 1000
  }
}

const handedOver: LeaveResult = { id: 'e'.repeat(64), heirs: [{ peer: HEIR, ranges: ['10.0.0.0/24'] }], confirmedBy: HEIR }

/** The outcome of an alloc or claim: the address, or the AllocError code. */
async function outcome (p: Promise<{ address: string }>): Promise<string> {
  try {
    return (await p).address
  } catch (err) {
    if (err instanceof AllocError) return `refused: ${err.code}: ${err.message}`
    throw err
  }
}

describe('reset: the space is marked as leaving before the allocations are counted', () => {
  test('an alloc or claim arriving while the leave is being appended is refused, with a clear reason', async () => {
    const alloc = allocator(new GatedStore({ autoCommit: true }))
    let during: string[] = []
    const r = await reset(context(alloc, async () => {
      during = [await outcome(alloc.alloc('late')), await outcome(alloc.claim('late2', '10.0.0.7'))]
      return handedOver
    }), false)
    assert.equal(r.confirmedBy, HEIR)
    for (const o of during) assert.match(o, /^refused: leaving: this peer is leaving the cluster \(`weft reset` is handing its ranges over\)/)
    assert.equal(alloc.count, 0, 'nothing was allocated in the space handed away')
  })

  test('a reset that fails gives the space back to the allocator', async () => {
    const alloc = allocator(new GatedStore({ autoCommit: true }))
    await assert.rejects(reset(context(alloc, async () => { throw new Error('no connected peer can take this peer\'s ranges') }), false), /no connected peer/)
    assert.equal(await outcome(alloc.alloc('after')), '10.0.0.1')
    // Refused for an allocation: also given back.
    await assert.rejects(reset(context(alloc, async () => handedOver), false), (err: unknown) => err instanceof LifecycleError && /1 address is allocated/.test(err.message))
    assert.equal(await outcome(alloc.alloc('after2')), '10.0.0.2')
    // Not confirmed in time: given back (the leave being in the log, the allocator refuses for that reason instead).
    await alloc.release('after')
    await alloc.release('after2')
    await assert.rejects(reset(context(alloc, async () => ({ id: handedOver.id, heirs: handedOver.heirs })), false), /no peer confirmed/)
    assert.equal(await outcome(alloc.alloc('after3')), '10.0.0.1')
  })

  test('two resets at once: the second is refused while the first runs', async () => {
    const alloc = allocator(new GatedStore({ autoCommit: true }))
    let second: unknown
    await reset(context(alloc, async () => {
      second = await reset(context(alloc, async () => handedOver), false).catch((err: Error) => err)
      return handedOver
    }), false)
    assert.ok(second instanceof LifecycleError, String(second))
    assert.match(second.message, /a reset is already running on this peer/)
  })
})

/** soloView with this peer removed by `by` (a takeover by another peer, or our own leave). */
function removedView (by: string, nickname?: string): RingView {
  const json = soloView().json
  const when = Date.UTC(2026, 10, 26, 7)
  return new RingView({
    ...json,
    peers: [
      ...json.peers.map(p => p.name === self ? { ...p, owned: [], removed: { by, event: 'a'.repeat(64), kind: by === self ? 'leave' as const : 'takeover' as const, time: when } } : p),
      ...(by === self ? [] : [{ name: by, ...(nickname !== undefined ? { nickname } : {}), addrs: [], seed: false, member: true, owned: ['10.0.0.0/24'] }])
    ]
  })
}

describe('reset of a peer that is out of the cluster already', () => {
  test('removed by another peer: no leave, no refusal for allocations, and what it still held', async () => {
    const alloc = allocator(new GatedStore({ autoCommit: true }))
    await alloc.alloc('kept')
    let left = false
    const r = await reset(context(alloc, async () => { left = true; return handedOver }, removedView(HEIR, 'host1')), false)
    assert.equal(left, false, 'no leave')
    assert.deepEqual(r, {
      leave: null,
      heirs: [],
      confirmedBy: null,
      confirmedByNickname: null,
      removedBy: { name: HEIR, nickname: 'host1', event: 'a'.repeat(64), time: '2026-11-26T07:00:00.000Z' },
      held: [{ id: 'kept', subnet: '10.0.0.0/24', address: '10.0.0.1' }]
    })
  })

  test('left by its own leave (an earlier reset timed out): waits for that leave, whatever it still holds', async () => {
    const alloc = allocator(new GatedStore({ autoCommit: true }))
    await alloc.alloc('kept')
    const r = await reset(context(alloc, async () => ({ ...handedOver, earlier: true }), removedView(self)), false)
    assert.equal(r.leave, handedOver.id)
    assert.equal(r.earlier, true)
    assert.equal(r.confirmedBy, HEIR)
  })
})
