import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createVerifier, ed25519SignerFromSeed, quorumOf, verifyApproval, type PeerName } from '../../crdt/events/index.js'
import { comparePeerNames } from '../../crdt/events/peer-id.js'
import { jumpingClock } from '../helpers/event-clock.js'
import type { AcceptorState, Ballot } from '../../node/consensus/paxos.js'
import { TakeoverVotes, VoteTimeoutError, type TakeoverValue, type TakeoverVoteReply, type TakeoverVoteRequest, type VoteOutcome } from '../../node/consensus/takeover.js'

/**
 * Takeover votes in scripted situations (the fuzz, takeover-fuzz.test.ts,
 * found each of these): a scripted wire between real TakeoverVotes, whose
 * timers fire at once.
 */

/** Five members, sorted by PeerId bytes (ballots of one round order by proposer). */
const SIGNERS = Array.from({ length: 5 }, (_, i) => ed25519SignerFromSeed(new Uint8Array(32).fill(0x61 + i)))
  .sort((a, b) => comparePeerNames(a.author, b.author))
const CLUSTER = 'ab'.repeat(32)

type State = Record<PeerName, AcceptorState<TakeoverValue>>

interface Cluster {
  peers: Map<PeerName, TakeoverVotes>
  durable: Map<PeerName, State>
  /** Every accept request any acceptor received: ballot → takers. */
  proposed: Map<string, Set<PeerName>>
  boot: (p: PeerName, save?: (s: State) => Promise<void>) => TakeoverVotes
  /** The live members every view shows (all of `names` at first; a test may remove some). */
  live: PeerName[]
}

/** A cluster of `names`; `drop(from, to, req)` says which requests never arrive. */
function cluster (names: PeerName[], initial: Record<PeerName, State>, drop: (from: PeerName, to: PeerName, req: TakeoverVoteRequest) => boolean): Cluster {
  const clock = jumpingClock()
  const peers = new Map<PeerName, TakeoverVotes>()
  const durable = new Map<PeerName, State>(Object.entries(initial))
  const proposed = new Map<string, Set<PeerName>>()
  const c = { live: [...names] }
  const note = (r: TakeoverVoteRequest): void => {
    if (r.req.op !== 'accept') return
    const key = `${r.req.ballot.round}/${r.req.ballot.proposer}`
    proposed.set(key, (proposed.get(key) ?? new Set()).add(r.req.value.taker))
  }
  const boot = (p: PeerName, save?: (s: State) => Promise<void>): TakeoverVotes => {
    const initial = durable.get(p)
    const votes = new TakeoverVotes({
      self: p,
      signer: SIGNERS.find(s => s.author === p)!,
      view: () => ({ cluster: CLUSTER, live: c.live, approvedRemoval: () => undefined }),
      connected: () => c.live.filter(q => q !== p),
      wire: {
        ask: async (to, req): Promise<TakeoverVoteReply> => {
          await new Promise(resolve => setImmediate(resolve))
          if (drop(p, to, req) || peers.get(to) === undefined) throw new Error('unreachable')
          return await peers.get(to)!.handle(p, structuredClone(req))
        }
      },
      store: { save: save ?? (async s => { durable.set(p, structuredClone(s)) }) },
      ...(initial !== undefined ? { initial: structuredClone(initial) } : {}),
      clock,
      random: () => 0,
      timeoutMs: 5000,
      requestTimeoutMs: 100
    })
    const handle = votes.handle.bind(votes)
    votes.handle = async (from, r) => { note(r); return await handle(from, r) }
    peers.set(p, votes)
    return votes
  }
  for (const p of names) boot(p)
  return Object.assign(c, { peers, durable, proposed, boot })
}

const ballot = (round: number, proposer: PeerName): Ballot => ({ round, proposer })
const acceptedAt = (b: Ballot, taker: PeerName, of: number): AcceptorState<TakeoverValue> => ({ promised: b, accepted: { ballot: b, value: { taker, of } } })
const twoValues = (c: Cluster): string[] => [...c.proposed].filter(([, takers]) => takers.size > 1).map(([b, takers]) => `${b}: ${[...takers].join(', ')}`)

test('two rmpeers of one peer on the same host at once never share a ballot (no two values under one ballot)', async () => {
  // T is dead; Q once proposed itself and only A accepted. P's acceptor promised Q's ballot, so P starts at round 2.
  const [q, p, a, b, t] = SIGNERS.map(s => s.author) as [PeerName, PeerName, PeerName, PeerName, PeerName]
  const names = [q, p, a, b, t]
  let prepares = 0
  const c = cluster(names, {
    [a]: { [t]: acceptedAt(ballot(1, q), q, 5) },
    [p]: { [t]: { promised: ballot(1, q) } }
  }, (from, to, req) => {
    if (to === t) return true
    if (from !== p) return false
    // P's first vote hears A but not Q; its second (the operator ran rmpeer again) hears Q but not A.
    if (req.req.op === 'prepare' && (to === a || to === q)) prepares++
    const first = prepares <= 2 && req.req.op === 'prepare' ? to === q : false
    const second = prepares > 2 ? to === a : false
    return first || second
  })
  const pv = c.peers.get(p)!
  const outcomes = await Promise.allSettled([pv.vote(t), pv.vote(t)])
  const done = outcomes.flatMap(o => o.status === 'fulfilled' ? [o.value] : [])
  const won = done.filter((o): o is Extract<VoteOutcome, { won: true }> => 'won' in o)
  const lostTo = done.flatMap(o => 'lost' in o ? [o.winner] : [])
  assert.deepEqual(twoValues(c), [], 'one ballot carried two takers')
  assert.ok(!(won.length > 0 && lostTo.some(w => w !== p)), `one call won while the other lost to ${lostTo.join(', ')}`)
  // The calls decide, and the same way.
  const takers = new Set(done.flatMap(o => 'won' in o ? [p] : 'lost' in o ? [o.winner] : []))
  assert.equal(takers.size, 1, `takers: ${[...takers].join(', ')}`)
})

test('a restarted proposer never reuses a ballot its crashed run sent (its own promise is durable first)', async () => {
  // Q's value {Q} was accepted by A only. P's writes never reach the disk before P crashes.
  const [q, p, a, b, t] = SIGNERS.map(s => s.author) as [PeerName, PeerName, PeerName, PeerName, PeerName]
  const names = [q, p, a, b, t]
  let crashed = false
  const c = cluster(names, { [a]: { [t]: acceptedAt(ballot(0, q), q, 5) } }, (from, to, req) => {
    if (to === t) return true
    // Before the crash, P's accepts reach only A; after, P cannot reach A.
    if (from === p && !crashed) return req.req.op === 'accept' && to !== a
    if (from === p) return to === a
    return false
  })
  const hung = new Promise<void>(() => {})
  const first = c.boot(p, async () => { await hung })
  void first.vote(t)
  // Let P's first round run: phase 1 hears {Q} from A, and phase 2 carries {Q} to A alone (or,
  // with P's own promise durable first, nothing leaves P).
  for (let i = 0; i < 50; i++) await new Promise(resolve => setImmediate(resolve))
  crashed = true
  c.peers.delete(p)
  // The restarted P has only what reached its disk.
  const again = c.boot(p)
  const outcome = await again.vote(t)
  assert.deepEqual(twoValues(c), [], 'one ballot carried two takers')
  assert.ok('won' in outcome, 'the restarted P wins: no voter it reaches accepted anything else')
})

test('a refusal that the adopted taker is being taken over is not reported as this peer being taken over', async () => {
  // A and B remove each other (members W, X, A, B): X and W accepted "A takes B"; B alone accepted "B takes A".
  const [w, x, a, b] = SIGNERS.map(s => s.author).slice(0, 4) as [PeerName, PeerName, PeerName, PeerName]
  const names = [w, x, a, b]
  const c = cluster(names, {
    [w]: { [b]: acceptedAt(ballot(1, a), a, 4), [a]: { promised: ballot(1, b) } },
    [x]: { [b]: acceptedAt(ballot(1, a), a, 4) },
    [b]: { [a]: acceptedAt(ballot(1, b), b, 4) }
  }, (_from, to) => to === a)
  // W votes on removing A: phase 1 hears B's "B takes A"; phase 2 carries it, and W and X refuse: B is being taken over by A.
  const outcome = await c.peers.get(w)!.vote(a).catch((err: unknown) => err)
  assert.ok(!(outcome as { self?: true }).self, `W was told it is itself being taken over: ${JSON.stringify(outcome)}`)
  assert.ok(outcome instanceof VoteTimeoutError, `expected a timeout (the mutual removal is stuck), got ${JSON.stringify(outcome)}`)
  assert.match(outcome.message, /is being taken over by/)
})

test('a taker adopted from before a member was removed is approved over the members counted now', async () => {
  // Six members, T1 and T2 dead; Q's value {Q, of 6} reached X only. Then T1's removal lands: 5 members, quorum 3.
  const [p, q, x, y, t1] = SIGNERS.map(s => s.author) as [PeerName, PeerName, PeerName, PeerName, PeerName]
  const t2 = ed25519SignerFromSeed(new Uint8Array(32).fill(0x70)).author
  const c = cluster([p, q, x, y, t1, t2], { [x]: { [t2]: acceptedAt(ballot(1, q), q, 6) } }, (_from, to) => to === t1 || to === t2)
  c.live = [p, q, x, y, t2]
  const outcome = await c.peers.get(q)!.vote(t2)
  assert.ok('won' in outcome, JSON.stringify(outcome))
  // Before: of 6 with 3 votes, which no event may carry (a quorum of 6 is 4), so Q could never append it.
  assert.equal(outcome.approval.of, 5)
  assert.ok(outcome.approval.votes.length >= quorumOf(5))
  verifyApproval(outcome.approval, t2, q, createVerifier())
})

test('an accepted taker that was itself removed since (by the peer it would take over) is never chosen', async () => {
  // Five members. B voted to remove A, and only C accepted {B}; A won removing B (C refused: A was
  // being taken over), so B is removed. Now E votes to remove A: phase 1 hears {B} from C, adopts it,
  // and every voter accepts (B's instance no longer counts: its target is not live), so "B takes A" is
  // chosen: a mutual removal, and A can never be taken over by a vote again.
  const [a, b, cc, d, e] = SIGNERS.map(s => s.author) as [PeerName, PeerName, PeerName, PeerName, PeerName]
  const c = cluster([a, b, cc, d, e], {
    [cc]: { [a]: acceptedAt(ballot(1, b), b, 5) },
    [d]: { [b]: acceptedAt(ballot(1, a), a, 5) },
    [e]: { [b]: acceptedAt(ballot(1, a), a, 5) }
  }, (_from, to) => to === b)
  c.live = [a, cc, d, e]
  const outcome = await c.peers.get(e)!.vote(a).catch((err: unknown) => err)
  assert.ok(!('lost' in (outcome as object) && (outcome as { winner: PeerName }).winner === b), 'B, removed by A, was chosen to take A over')
  // The acceptors forget the removed taker's value: E, a live member, wins.
  assert.ok(typeof outcome === 'object' && outcome !== null && 'won' in outcome, JSON.stringify(outcome))
})
