import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ed25519SignerFromSeed, type PeerName } from '../../crdt/events/index.js'
import { comparePeerNames } from '../../crdt/events/peer-id.js'
import { jumpingClock } from '../helpers/event-clock.js'
import { Election, type ElectionReply, type ElectionRequest, type SeedSet } from '../../node/consensus/election.js'
import type { AcceptorState } from '../../node/consensus/paxos.js'

const turns = async (n: number): Promise<void> => { for (let i = 0; i < n; i++) await new Promise(resolve => setImmediate(resolve)) }

test('a proposer restarted mid-election never reuses a ballot with another seed set (its own promise is durable first)', async () => {
  const [p, a, b] = Array.from({ length: 3 }, (_, i) => ed25519SignerFromSeed(new Uint8Array(32).fill(0x71 + i)).author).sort(comparePeerNames) as [PeerName, PeerName, PeerName]
  const clock = jumpingClock()
  const group = { n: 3, range: '10.32.0.0/12' }
  const durable = new Map<PeerName, AcceptorState<SeedSet>>()
  const elections = new Map<PeerName, Election>()
  const learned = new Map<PeerName, string>()
  const proposed = new Map<string, Set<string>>()
  let crashed = false
  const make = (self: PeerName, opts: { voters: () => PeerName[], save?: (instance: string, s: AcceptorState<SeedSet>) => Promise<void> }): Election => {
    const gen = crashed
    const e = new Election({
      self,
      group,
      instance: 'bootstrap',
      clock,
      random: () => 0,
      delayMs: 0,
      requestTimeoutMs: 100,
      voters: opts.voters,
      ...(durable.has(self) ? { initial: structuredClone(durable.get(self)!) } : {}),
      wire: {
        ask: async (to, req): Promise<ElectionReply> => {
          await turns(1)
          // Before P's crash its accepts reach A only; the crashed P sends nothing; after, P cannot reach A.
          const drop = self === p && (gen !== crashed || (!crashed && req.op === 'paxos' && req.req.op === 'accept' && to !== a) || (crashed && to === a))
          if (drop) throw new Error('unreachable')
          return await elections.get(to)!.handle(self, structuredClone(req))
        }
      },
      store: { save: opts.save ?? (async (_i, s) => { durable.set(self, structuredClone(s)) }) },
      onChosen: async v => { learned.set(self, JSON.stringify(v.seeds)) }
    })
    const handle = e.handle.bind(e)
    e.handle = async (from: PeerName, req: ElectionRequest) => {
      if (req.op === 'paxos' && req.req.op === 'accept') {
        const key = `${req.req.ballot.round}/${req.req.ballot.proposer}`
        proposed.set(key, (proposed.get(key) ?? new Set()).add(JSON.stringify(req.req.value.seeds)))
      }
      return await handle(from, req)
    }
    elections.set(self, e)
    return e
  }
  make(a, { voters: () => [b] })
  make(b, { voters: () => [a] })
  // P proposes {P, A, B}; its own writes never reach the disk before it crashes.
  make(p, { voters: () => [a, b], save: async () => { await new Promise(() => {}) } }).start()
  await turns(50)
  elections.get(p)!.stop()
  crashed = true
  // Restarted with what reached its disk, P now reaches B only and proposes {P, B}.
  make(p, { voters: () => [b] }).start()
  await turns(200)
  // Later A proposes too (reaching B): it must learn what P's election chose, if anything was.
  elections.get(a)!.start()
  await turns(400)
  assert.deepEqual([...proposed].filter(([, v]) => v.size > 1), [], 'one ballot carried two seed sets')
  assert.ok(learned.size >= 2, 'the restarted P and A both learn a seed set')
  assert.ok(new Set(learned.values()).size <= 1, `two seed sets chosen: ${JSON.stringify([...learned])}`)
})
