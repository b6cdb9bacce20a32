import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { parseCidr, RangeSet } from '../../packages/netaddr/index.js'
import { ed25519SignerFromSeed, type PeerName } from '../../crdt/events/index.js'
import { SimulatedClock } from '../../node/clock.js'
import { createLogger } from '../../node/logger.js'
import { MemoryNetwork, MemoryTransport } from '../../node/net/memory-transport.js'
import { parseAnswer, SPACE_PROTOCOL_ID, SpaceService } from '../../node/net/space.js'
import type { Allocator } from '../../node/allocator/allocator.js'
import type { RingView } from '../../node/ring-view.js'

/**
 * Donations under a hostile member (issue 15): a donor gives one requester a
 * few donations at once, then one per interval, whatever it asks; and a
 * requester checks a donor's answer before using it.
 */

const [donor, greedy] = [1, 2].map(i => ed25519SignerFromSeed(new Uint8Array(32).fill(70 + i)).author) as [PeerName, PeerName]
const enc = new TextEncoder()
const dec = new TextDecoder()

function fixture (): { clock: SimulatedClock, ask: () => Promise<unknown>, appended: () => number } {
  const clock = new SimulatedClock()
  const net = new MemoryNetwork(clock)
  const donorTransport = new MemoryTransport(net, donor)
  const greedyTransport = new MemoryTransport(net, greedy)
  let free = RangeSet.fromCidrs(4, [parseCidr('10.0.0.0/8')])
  let transfers = 0
  const allocator = {
    freeSpace: (within: RangeSet) => free.intersect(within),
    markLeaving: (r: RangeSet) => { free = free.subtract(r) },
    unmarkLeaving: (r: RangeSet) => { free = free.union(r) }
  } as unknown as Allocator
  const view = { peer: (p: PeerName) => ({ name: p, member: true }), json: { readOnly: false } } as unknown as RingView
  const space = new SpaceService({
    self: donor,
    transport: donorTransport,
    allocator,
    view: () => view,
    writer: { append: async () => { transfers++; return { id: 'f'.repeat(64), status: 'valid' } as never } },
    logger: createLogger({ write: () => {} }),
    clock
  })
  return {
    clock,
    appended: () => transfers,
    ask: async () => {
      await Promise.all([donorTransport.start(), greedyTransport.start(), space.start()])
      await greedyTransport.dial(MemoryNetwork.addr(donor), donor)
      const s = await greedyTransport.openStream(donor, SPACE_PROTOCOL_ID, { maxFrame: 65536 })
      await s.write(enc.encode(JSON.stringify({ op: 'donate', subnet: '10.0.0.0/8' })))
      return JSON.parse(dec.decode(await s.read({ timeoutMs: 1000 })))
    }
  }
}

describe('donations', () => {
  test('a member asking in a loop gets a burst of four, then one per two seconds', async () => {
    const f = fixture()
    const answers: unknown[] = []
    for (let i = 0; i < 10; i++) answers.push(await f.ask())
    assert.deepEqual(answers.map(a => (a as { ok: boolean }).ok), [true, true, true, true, false, false, false, false, false, false])
    assert.match((answers[4] as { reason: string }).reason, /^too many donation requests: at most 4 at once, then one every 2 s$/)
    assert.equal(f.appended(), 4, 'one transfer per donation, none for the refused requests')
    await f.clock.advance(2000)
    assert.equal((await f.ask() as { ok: boolean }).ok, true)
    assert.equal((await f.ask() as { ok: boolean }).ok, false)
  })

  test('a requester refuses an answer of the wrong shape', () => {
    const bad = [
      'not json', '[]', '{}', '{"free":"-1"}', '{"free":12}', '{"ok":true,"transfer":"xyz","ranges":["10.0.0.0/8"]}',
      '{"ok":true,"transfer":"' + 'a'.repeat(64) + '","ranges":[]}', '{"ok":true,"transfer":"' + 'a'.repeat(64) + '","ranges":["10.0.0.0/33"]}',
      '{"ok":true,"transfer":"' + 'a'.repeat(64) + '","ranges":' + JSON.stringify(Array(17).fill('10.0.0.0/24')) + '}', '{"ok":false}'
    ]
    for (const b of bad) assert.throws(() => parseAnswer(enc.encode(b)), Error, b)
    assert.deepEqual(parseAnswer(enc.encode('{"free":"256"}')), { free: '256' })
    assert.deepEqual(parseAnswer(enc.encode('{"ok":false,"reason":"' + 'x'.repeat(900) + '"}')), { ok: false, reason: 'x'.repeat(500) })
    assert.deepEqual(parseAnswer(enc.encode(`{"ok":true,"transfer":"${'a'.repeat(64)}","ranges":["10.1.0.0/16"]}`)), { ok: true, transfer: 'a'.repeat(64), ranges: ['10.1.0.0/16'] })
  })
})
