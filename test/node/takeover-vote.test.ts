import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createVerifier, ed25519SignerFromSeed, verifyApproval, type PeerName, type Signer } from '../../crdt/events/index.js'
import type { Clock } from '../../node/clock.js'
import type { AcceptorState } from '../../node/consensus/paxos.js'
import { TakeoverVotes, type TakeoverValue, type VoteView } from '../../node/consensus/takeover.js'

/**
 * Takeover votes in one process (DESIGN.md §3.2), each case spelled out:
 * the fuzz (takeover-fuzz.test.ts) covers hostile schedules, these the
 * answers a user sees.
 */

const CLUSTER = 'c1'.repeat(32)
/** Real time with timers that keep the test alive (systemClock's are unref'd, as a daemon wants). */
const clock: Clock = { now: () => Date.now(), setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: h => { clearTimeout(h as NodeJS.Timeout) } }
const signers: Signer[] = Array.from({ length: 5 }, (_, i) => ed25519SignerFromSeed(new Uint8Array(32).fill(40 + i)))
const names = signers.map(s => s.author)

interface Net {
  votes: Map<PeerName, TakeoverVotes>
  saved: Map<PeerName, Record<PeerName, AcceptorState<TakeoverValue>>>
  down: Set<PeerName>
  live: PeerName[]
}

/** Peers `members` (indexes into `names`), all live, all connected to each other but `down`. */
function cluster (members: number[], opts: { views?: Map<PeerName, PeerName[]> } = {}): Net {
  const net: Net = { votes: new Map(), saved: new Map(), down: new Set(), live: members.map(i => names[i]!) }
  for (const i of members) start(net, i, opts.views)
  return net
}

function start (net: Net, i: number, views?: Map<PeerName, PeerName[]>): TakeoverVotes {
  const self = names[i]!
  const view = (): VoteView => ({ cluster: CLUSTER, live: views?.get(self) ?? net.live, approvedRemoval: () => undefined })
  const saved = net.saved.get(self)
  const votes = new TakeoverVotes({
    self,
    signer: signers[i]!,
    view,
    connected: () => net.live.filter(p => p !== self && !net.down.has(p)),
    wire: {
      ask: async (peer, req) => {
        const to = net.votes.get(peer)
        if (to === undefined || net.down.has(peer)) throw new Error(`${peer} unreachable`)
        return JSON.parse(JSON.stringify(await to.handle(self, JSON.parse(JSON.stringify(req)))))
      }
    },
    store: { save: async states => { net.saved.set(self, structuredClone(states)) } },
    ...(saved !== undefined ? { initial: saved } : {}),
    clock,
    random: Math.random,
    timeoutMs: 1500,
    requestTimeoutMs: 500
  })
  net.votes.set(self, votes)
  return votes
}

describe('takeover votes', () => {
  test('a lone proposer wins with a quorum of signed votes that verify', async () => {
    const net = cluster([0, 1, 2, 3])
    net.down.add(names[3]!)
    const out = await net.votes.get(names[0]!)!.vote(names[3]!)
    assert.ok('won' in out, JSON.stringify(out))
    assert.equal(out.approval.of, 4)
    assert.equal(out.approval.votes.length, 3)
    verifyApproval(out.approval, names[3]!, names[0]!, createVerifier())
  })

  test('two proposers at once: exactly one wins, the other names it', async () => {
    for (let run = 0; run < 20; run++) {
      const net = cluster([0, 1, 2, 3, 4])
      net.down.add(names[4]!)
      const outs = await Promise.all([0, 1].map(async i => await net.votes.get(names[i]!)!.vote(names[4]!)))
      const won = outs.flatMap((o, i) => 'won' in o ? [names[i]!] : [])
      assert.equal(won.length, 1, JSON.stringify(outs))
      const lost = outs.find(o => 'lost' in o)
      assert.ok(lost !== undefined && 'lost' in lost)
      assert.equal(lost.winner, won[0])
      assert.equal(lost.of, 5)
      assert.ok(lost.votes >= 3)
      // And a third, later, learns the same winner.
      const late = await net.votes.get(names[2]!)!.vote(names[4]!)
      assert.ok('lost' in late && late.winner === won[0])
    }
  })

  test('a minority gets no vote: it says how many it reaches and how many are needed', async () => {
    const net = cluster([0, 1, 2, 3, 4])
    for (const i of [2, 3, 4]) net.down.add(names[i]!)
    const out = await net.votes.get(names[0]!)!.vote(names[4]!)
    assert.deepEqual(out, { minority: true, reachable: [names[0]!, names[1]!].sort(), quorum: 3, of: 5 })
    // Two members: each side could be the live one, so there is never a quorum.
    const pair = cluster([0, 1])
    pair.down.add(names[1]!)
    assert.deepEqual(await pair.votes.get(names[0]!)!.vote(names[1]!), { minority: true, reachable: [names[0]!], quorum: 2, of: 2 })
  })

  test('mutual removal: A removing B while B removes A, one wins and the other learns it is being taken over', async () => {
    for (let run = 0; run < 20; run++) {
      const net = cluster([0, 1, 2])
      const [a, b] = [names[0]!, names[1]!]
      const outs = await Promise.all([net.votes.get(a)!.vote(b), net.votes.get(b)!.vote(a)])
      const won = outs.filter(o => 'won' in o)
      assert.equal(won.length, 1, JSON.stringify(outs))
      const lost = outs.find(o => 'lost' in o)
      assert.ok(lost !== undefined && 'lost' in lost, JSON.stringify(outs))
      assert.equal(lost.self, true)
      assert.equal(lost.winner, 'won' in outs[0]! ? a : b)
    }
  })

  test('an acceptor relaunched from its saved state keeps its vote', async () => {
    const net = cluster([0, 1, 2, 3])
    net.down.add(names[3]!)
    // names[0] wins but "crashes" before appending; the voters restart from what they saved.
    assert.ok('won' in await net.votes.get(names[0]!)!.vote(names[3]!))
    for (const i of [1, 2]) start(net, i)
    const out = await net.votes.get(names[1]!)!.vote(names[3]!)
    assert.ok('lost' in out && out.winner === names[0]!, JSON.stringify(out))
  })

  test('views that count different members refuse, and the vote times out with a clear error', async () => {
    const views = new Map([[names[1]!, [names[0]!, names[1]!, names[2]!, names[3]!, names[4]!]]])
    const net = cluster([0, 1, 2, 3], { views })
    net.down.add(names[3]!)
    // Quorum 3 of 4 needs names[1], whose view has a fifth member: it refuses every request.
    await assert.rejects(net.votes.get(names[0]!)!.vote(names[3]!, 'host4'), (err: Error) => {
      assert.equal(err.name, 'VoteTimeoutError')
      assert.match(err.message, /^the vote on taking over host4 did not finish within 2 s \(3 reachable voters, 3 needed\); .*counts 5 members: views differ, retry after sync.*: retry$/)
      return true
    })
  })

  test('an acceptor refuses a vote on removing itself, from a non-member, or for another cluster', async () => {
    const net = cluster([0, 1, 2])
    const v = net.votes.get(names[1]!)!
    const req = { op: 'takeover' as const, cluster: CLUSTER, target: names[1]!, members: 'ab'.repeat(32), req: { op: 'prepare' as const, ballot: { round: 1, proposer: names[0]! } } }
    assert.match(JSON.stringify(await v.handle(names[0]!, req)), /is alive: it answered this vote/)
    assert.match(JSON.stringify(await v.handle(names[4]!, { ...req, target: names[2]! })), /is not a live member/)
    assert.match(JSON.stringify(await v.handle(names[0]!, { ...req, target: names[2]!, cluster: 'c2'.repeat(32) })), /belongs to cluster/)
  })
})
