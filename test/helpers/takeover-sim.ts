import { createVerifier, ed25519SignerFromSeed, quorumOf, verifyApproval, type PeerName, type TakeoverApproval } from '../../crdt/events/index.js'
import type { Clock } from '../../node/clock.js'
import type { AcceptorState } from '../../node/consensus/paxos.js'
import { TakeoverVotes, VoteTimeoutError, type TakeoverValue, type TakeoverVoteReply, type TakeoverVoteRequest, type VoteOutcome, type VoteView } from '../../node/consensus/takeover.js'
import { EventClock } from './event-clock.js'
import { mulberry32 } from './sim-cluster.js'

/**
 * Takeover votes (DESIGN.md §3.2) under hostile schedules: the real
 * TakeoverVotes (proposer loop, acceptors, clash guard, Ed25519 approvals)
 * of 3 to 7 members on a discrete-event clock and a message layer that
 * delays (up to ~200 ms), drops (up to 30 %), duplicates (up to 20 %) and
 * reorders requests and replies, partitions off a minority, and crashes
 * members (alone, or several at once in a power cut): a crashed member runs
 * nothing more and restarts from what `store.save` made durable (a crash
 * during a save lands it or not; no reply leaves).
 *
 * Operators: two or three remove the same dead peer at once (some run
 * rmpeer again while theirs still runs, after a timeout, a loss or a
 * restart); or two dead peers are removed at once; or live peers remove
 * each other (mutual removal, chains, cycles of three). Where the targets
 * are dead, a member's view may drop a target once the winner's takeover
 * reaches it, so later votes count fewer members and views differ meanwhile.
 *
 * Safety, from the outcomes and from the acceptors' durable state: (1) one
 * taker per removed peer, and one value per ballot; (2) never both of a
 * mutual removal, nor both links of a chain; (3) every won approval holds a
 * quorum of distinct members' votes that verify; (4) `minority` exactly when
 * fewer than a quorum of voters is reachable. Each seed replays exactly.
 */

/** Seven real members; ballots order by PeerId bytes, so roles are shuffled over them per schedule. */
const SIGNERS = Array.from({ length: 7 }, (_, i) => ed25519SignerFromSeed(new Uint8Array(32).fill(0x41 + i)))
const CLUSTER = 'c1'.repeat(32)
const verifier = createVerifier()

/** Test-only faults injected into the simulation (production code unchanged), for checking that the fuzz catches them. */
export type Mutant =
  /**
   * The acceptor's store drops promises: after a restart it remembers only what it accepted.
   * Not caught in 10,000 schedules, and not expected to be often: the voters exclude the target
   * while the quorum counts it, so any two quorums of voters share at least two (three for an
   * even membership), and a forgotten promise matters only when several of them restart between a
   * higher prepare and a stale accept that arrives after.
   */
  | 'amnesia'
  /** The acceptor's store writes nothing: after a restart it has forgotten every promise and every accepted value. */
  | 'forgetful'
  /** The proposer ignores the accepted values that phase-1 replies carry (the wire strips them). */
  | 'deaf-proposer'

export type Kind = 'same' | 'multi' | 'mutual' | 'chain'

interface Faults { drop: number, dup: number, maxDelay: number, crash: number, powerCuts: boolean, partition: boolean }

export interface RunResult {
  violations: string[]
  /** No crash, no partition, few drops, and a quorum of voters alive: some proposer should decide. */
  calm: boolean
  decided: boolean
  kind: Kind
  /** How the votes ended: won, lost (to another taker), lost because this peer is being taken over, minority, timed out. */
  tally: Tally
}

export interface Tally { won: number, lost: number, self: number, minority: number, timeout: number }

/** `of`: the members the vote counted (its view's live members and the target). */
interface Recorded { peer: PeerName, target: PeerName, of: number, outcome: VoteOutcome }

function shuffle<T> (xs: readonly T[], random: () => number): T[] {
  const a = [...xs]
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[a[i], a[j]] = [a[j]!, a[i]!]
  }
  return a
}

const short = (p: string): string => p.slice(-4)
/** WEFT_TAKEOVER_TRACE=1 prints what happens (with WEFT_TAKEOVER_SEED, one schedule's story). */
const trace = (msg: () => string): void => { if (process.env.WEFT_TAKEOVER_TRACE !== undefined) console.log(msg().replace(/12D3KooW\w+/g, short)) }

export async function runOnce (seed: number, mutant?: Mutant): Promise<RunResult> {
  const random = mulberry32(seed)
  const violations: string[] = []
  const violate = (msg: string): void => { if (violations.length < 5) violations.push(msg) }

  // ---- the schedule ----------------------------------------------------------
  const n = 3 + Math.floor(random() * 5)
  const quorum = quorumOf(n)
  const signers = SIGNERS.slice(0, n)
  const names = signers.map(s => s.author)
  const order = shuffle(names, random)
  const roll = random()
  let kind: Kind = roll < 0.45 ? 'same' : roll < 0.6 ? 'multi' : roll < 0.85 ? 'mutual' : 'chain'
  if (kind === 'multi' && n < 5) kind = 'same'
  const dead = new Set<PeerName>()
  /** Who votes on removing whom, and when (ms). */
  const plan: Array<{ peer: PeerName, target: PeerName, at: number }> = []
  const at = (spread: number): number => Math.floor(random() * spread)
  if (kind === 'same' || kind === 'multi') {
    const targets = kind === 'same' ? [order[0]!] : [order[0]!, order[1]!]
    for (const t of targets) dead.add(t)
    const alive = order.filter(p => !dead.has(p))
    for (const t of targets) {
      const k = Math.min(alive.length, kind === 'same' ? 2 + Math.floor(random() * 2) : 1 + Math.floor(random() * 2))
      for (const p of shuffle(alive, random).slice(0, k)) plan.push({ peer: p, target: t, at: at(random() < 0.5 ? 200 : 2000) })
    }
  } else if (kind === 'mutual') {
    const [a, b] = [order[0]!, order[1]!]
    const spread = random() < 0.5 ? 100 : 1500
    plan.push({ peer: a, target: b, at: at(spread) }, { peer: b, target: a, at: at(spread) })
    // Sometimes a third operator removes one of them too.
    if (random() < 0.4) plan.push({ peer: order[2]!, target: random() < 0.5 ? a : b, at: at(spread) })
  } else {
    // A removes B while B removes C (and sometimes C removes A: a cycle).
    const [a, b, c] = [order[0]!, order[1]!, order[2]!]
    const spread = random() < 0.5 ? 100 : 1500
    plan.push({ peer: a, target: b, at: at(spread) }, { peer: b, target: c, at: at(spread) })
    if (random() < 0.5) plan.push({ peer: c, target: a, at: at(spread) })
  }
  const calmDraw = random() < 0.25
  // Where the removed peers are dead, a member's view drops a target once the winner's takeover
  // reaches it (the winner at once, the others after a sync delay), so later votes count fewer
  // members and views differ meanwhile. Mutual removals and chains keep fixed views (a removed
  // taker there is covered by a scripted test in takeover-vote-ballots.test.ts).
  const dynamic = dead.size > 0 && random() < 0.5
  const faults: Faults = calmDraw
    ? { drop: random() * 0.08, dup: random() * 0.2, maxDelay: 5 + Math.floor(random() * 200), crash: 0, powerCuts: false, partition: false }
    : { drop: random() * 0.3, dup: random() * 0.2, maxDelay: 5 + Math.floor(random() * 200), crash: random() < 0.5 ? random() * 0.05 : 0, powerCuts: random() < 0.5, partition: random() < 0.3 }
  const timeoutMs = 3000 + Math.floor(random() * 7000)
  const requestTimeoutMs = 300 + Math.floor(random() * 1200)

  // ---- the world -------------------------------------------------------------
  const clock = new EventClock()
  const views = new Map<PeerName, VoteView>(names.map(p => [p, { cluster: CLUSTER, live: names, approvedRemoval: () => undefined }]))
  const learn = (p: PeerName, removed: PeerName): void => {
    const v = views.get(p)!
    if (v.live.includes(removed)) views.set(p, { ...v, live: v.live.filter(x => x !== removed) })
  }
  const membersOf = (p: PeerName, target: PeerName): number => new Set([...views.get(p)!.live, target]).size
  const durable = new Map<PeerName, Record<PeerName, AcceptorState<TakeoverValue>>>()
  const generation = new Map<PeerName, number>(names.map(p => [p, 0]))
  const up = new Set<PeerName>(names.filter(p => !dead.has(p)))
  const peers = new Map<PeerName, TakeoverVotes>()
  /** Partition: the members on side 1 (a minority of the voters) reach only each other. */
  let side = new Set<PeerName>()
  const together = (a: PeerName, b: PeerName): boolean => side.has(a) === side.has(b)
  const connectedOf = (p: PeerName): PeerName[] => names.filter(q => q !== p && up.has(q) && together(p, q))

  // Durable acceptances (instance|round|proposer → value, acceptors): the chosen takers follow from them.
  const acceptedAt = new Map<string, { taker: PeerName, by: Set<PeerName> }>()
  const chosen = new Map<PeerName, Set<PeerName>>()
  const everAccepted = new Map<PeerName, Set<PeerName>>()
  const addTo = (m: Map<PeerName, Set<PeerName>>, k: PeerName, v: PeerName): void => {
    const s = m.get(k) ?? new Set<PeerName>()
    s.add(v)
    m.set(k, s)
  }
  const recordDurable = (peer: PeerName, states: Record<PeerName, AcceptorState<TakeoverValue>>): void => {
    for (const [instance, st] of Object.entries(states)) {
      const a = st.accepted
      if (a === undefined) continue
      if (instance === peer) violate(`${peer} accepted a value in the vote on removing itself`)
      if (a.value.of > n || a.value.of < n - (dynamic ? dead.size - 1 : 0)) violate(`${peer} accepted a value counted over ${a.value.of} members (of ${n})`)
      const key = `${instance}|${a.ballot.round}|${a.ballot.proposer}`
      const rec = acceptedAt.get(key) ?? { taker: a.value.taker, by: new Set<PeerName>() }
      if (rec.taker !== a.value.taker) violate(`two values accepted at ballot ${key}: ${rec.taker} and ${a.value.taker}`)
      rec.by.add(peer)
      acceptedAt.set(key, rec)
      addTo(everAccepted, instance, a.value.taker)
      // All acceptances under one ballot counted the same members (the request's digest): `of`, the proposer's count.
      if (rec.by.size >= quorumOf(a.value.of)) addTo(chosen, instance, rec.taker)
    }
  }

  // A proposer sends one value per ballot (else two values may be accepted under one ballot).
  const valueAt = new Map<string, PeerName>()
  const sent = (r: TakeoverVoteRequest): void => {
    if (r.req.op !== 'accept') return
    const key = `${r.target}|${r.req.ballot.round}|${r.req.ballot.proposer}`
    const v = valueAt.get(key)
    if (v === undefined) valueAt.set(key, r.req.value.taker)
    else if (v !== r.req.value.taker) violate(`two values proposed at ballot ${key}: ${v} and ${r.req.value.taker}`)
  }

  const deliver = (from: PeerName, fromGen: number, to: PeerName, req: TakeoverVoteRequest, reply: (r: TakeoverVoteReply) => void): void => {
    const copies = random() < faults.dup ? 2 : 1
    for (let c = 0; c < copies; c++) {
      if (random() < faults.drop || !together(from, to)) continue
      clock.setTimeout(() => {
        const acceptor = peers.get(to)
        if (!up.has(to) || acceptor === undefined || !together(from, to)) return
        const gen = generation.get(to)
        acceptor.handle(from, structuredClone(req)).then(r => {
          trace(() => `${clock.now()} ${short(to)} answers ${short(from)} on ${short(req.target)} ${JSON.stringify(req.req)} -> ${JSON.stringify(r).slice(0, 200)}`)
          if (generation.get(to) !== gen || random() < faults.drop) return
          clock.setTimeout(() => {
            if (generation.get(from) === fromGen && together(from, to)) reply(structuredClone(r))
          }, Math.floor(random() * faults.maxDelay))
        }, () => {})
      }, Math.floor(random() * faults.maxDelay))
    }
  }

  const boot = (peer: PeerName): void => {
    const gen = generation.get(peer)!
    const alive = (): boolean => generation.get(peer) === gen
    // A crashed process runs nothing more: its timers never fire.
    const own: Clock = {
      now: () => clock.now(),
      setTimeout: (fn, ms) => clock.setTimeout(() => { if (alive()) fn() }, ms),
      clearTimeout: h => { clock.clearTimeout(h) }
    }
    const initial = durable.get(peer)
    const votes = new TakeoverVotes({
      self: peer,
      signer: signers[names.indexOf(peer)]!,
      view: () => views.get(peer)!,
      connected: () => connectedOf(peer),
      wire: {
        ask: async (to, req, ms) => await new Promise<TakeoverVoteReply>((resolve, reject) => {
          let settled = false
          const timer = own.setTimeout(() => { if (!settled) { settled = true; reject(new Error('timeout')) } }, ms)
          deliver(peer, gen, to, req, r => {
            if (settled) return
            settled = true
            own.clearTimeout(timer)
            if (mutant === 'deaf-proposer' && 'ok' in r && r.ok) {
              const { accepted: _, ...rest } = r
              resolve(rest)
            } else resolve(r)
          })
        })
      },
      store: {
        save: async states => {
          await new Promise<void>(resolve => { clock.setTimeout(resolve, Math.floor(random() * 3)) })
          // A crash during the write: it reached the disk or not; either way no reply leaves.
          const crashed = !alive()
          if (crashed && random() < 0.5) throw new Error('crashed before the write')
          const kept = structuredClone(states)
          if (mutant === 'amnesia') {
            for (const st of Object.values(kept)) {
              if (st.accepted !== undefined) st.promised = st.accepted.ballot
              else delete st.promised
            }
          }
          if (mutant !== 'forgetful') durable.set(peer, kept)
          trace(() => `${clock.now()} ${short(peer)} saved ${JSON.stringify(states)}`)
          recordDurable(peer, states)
          if (crashed) throw new Error('crashed after the write')
        }
      },
      ...(initial !== undefined ? { initial: structuredClone(initial) } : {}),
      clock: own,
      random,
      timeoutMs,
      requestTimeoutMs
    })
    // Every request this peer's acceptor answers, its own proposer's included, passes here.
    const handle = votes.handle.bind(votes)
    votes.handle = async (from, r) => { sent(r); return await handle(from, r) }
    peers.set(peer, votes)
  }

  // ---- operators -------------------------------------------------------------
  const outcomes: Recorded[] = []
  let pending = 0
  let timeouts = 0
  const inFlight = new Map<PeerName, number>()
  const tries = new Map<string, number>()
  const later = (peer: PeerName, target: PeerName, ms: number): void => {
    const key = `${peer}>${target}`
    if ((tries.get(key) ?? 0) >= 5) return
    tries.set(key, (tries.get(key) ?? 0) + 1)
    pending++
    clock.setTimeout(() => { pending--; if (up.has(peer)) run(peer, target) }, ms)
  }
  const run = (peer: PeerName, target: PeerName): void => {
    const gen = generation.get(peer)!
    // What the vote must find reachable (invariant 4), from the same connectivity it reads.
    const connected = new Set(connectedOf(peer))
    const members = [...new Set([...views.get(peer)!.live, target])]
    const of = members.length
    const need = quorumOf(of)
    const reachable = members.filter(m => m !== target && (m === peer || connected.has(m))).length
    pending++
    inFlight.set(peer, (inFlight.get(peer) ?? 0) + 1)
    const done = (): boolean => {
      if (generation.get(peer) !== gen) return false // crashed meanwhile: the count was dropped then
      pending--
      inFlight.set(peer, inFlight.get(peer)! - 1)
      return true
    }
    trace(() => `${clock.now()} ${short(peer)} votes on ${short(target)}`)
    peers.get(peer)!.vote(target).then(outcome => {
      trace(() => `${clock.now()} ${short(peer)} vote on ${short(target)}: ${JSON.stringify(outcome).slice(0, 200)}`)
      if (!done()) return
      outcomes.push({ peer, target, of, outcome })
      if (dynamic && 'won' in outcome) {
        // The winner appends its takeover: every member's view drops the target, this one's first.
        learn(peer, target)
        for (const q of names) if (q !== peer) clock.setTimeout(() => { learn(q, target) }, 50 + at(3000))
      }
      if ('minority' in outcome) {
        if (reachable >= need) violate(`${peer} got minority on ${target} with ${reachable} of ${need} voters reachable`)
        if (outcome.quorum !== need || outcome.of !== of || outcome.reachable.length !== reachable) violate(`${peer}: minority outcome miscounts: ${JSON.stringify(outcome)}`)
        if (random() < 0.5) later(peer, target, 500 + at(3000))
        return
      }
      if (reachable < need) violate(`${peer} held a vote on ${target} with only ${reachable} of ${need} voters reachable`)
      if (random() < ('won' in outcome ? 0.1 : 0.2)) later(peer, target, at(2000))
    }, (err: unknown) => {
      if (!done()) return
      if (!(err instanceof VoteTimeoutError)) violate(`${peer}: vote on ${target} threw ${String(err)}`)
      timeouts++
      // Operators mostly retry after a timeout (always, in a calm schedule: liveness is checked there).
      if (calmDraw || random() < 0.7) later(peer, target, at(2000))
    })
  }

  for (const p of names) if (!dead.has(p)) boot(p)
  for (const v of plan) {
    later(v.peer, v.target, v.at)
    // An impatient operator runs the same rmpeer again on the same host while the first still runs
    // (the CLI gave up waiting; the daemon's vote goes on).
    if (random() < 0.15) later(v.peer, v.target, v.at + at(600))
  }

  // Crashes and restarts of live members, at random (`faults.crash` per member and 50 ms), during the
  // first 15 simulated seconds; in some schedules power cuts take down several members at once.
  const crash = (p: PeerName): void => {
    up.delete(p)
    generation.set(p, generation.get(p)! + 1)
    pending -= inFlight.get(p) ?? 0
    inFlight.set(p, 0)
    trace(() => `${clock.now()} ${short(p)} crashes`)
    clock.setTimeout(() => {
      up.add(p)
      boot(p)
      trace(() => `${clock.now()} ${short(p)} restarts`)
      nextCrash(p)
      // The operator may run rmpeer again on the restarted host.
      for (const v of plan) if (v.peer === p && random() < 0.6) later(p, v.target, at(1000))
    }, 20 + at(random() < 0.5 ? 300 : 2000))
  }
  const after = (): number => Math.ceil(-Math.log(1 - random()) * 50 / faults.crash)
  const nextCrash = (p: PeerName): void => {
    const gen = generation.get(p)!
    clock.setTimeout(() => {
      if (clock.now() <= 15_000 && generation.get(p) === gen && up.has(p)) crash(p)
    }, after())
  }
  const powerCut = (): void => {
    if (clock.now() > 15_000) return
    const hit = shuffle([...up], random).slice(0, 2 + Math.floor(random() * (quorum - 1)))
    for (const p of hit) crash(p)
    clock.setTimeout(powerCut, 3 * after())
  }
  if (faults.crash > 0) {
    for (const p of up) nextCrash(p)
    if (faults.powerCuts) clock.setTimeout(powerCut, 3 * after())
  }
  // A partition that leaves a minority of the voters on one side, for a while.
  if (faults.partition) {
    clock.setTimeout(() => {
      const minority = shuffle(names, random).slice(0, 1 + Math.floor(random() * (quorum - 1)))
      side = new Set(minority)
      clock.setTimeout(() => { side = new Set() }, 500 + at(6000))
    }, at(3000))
  }

  await clock.runUntil(300_000, () => pending === 0)
  if (pending !== 0) violate(`the schedule did not settle: ${pending} operator actions pending at ${clock.now()} ms`)

  // ---- invariants ------------------------------------------------------------
  const takers = new Map<PeerName, Set<PeerName>>()
  for (const [t, s] of chosen) for (const x of s) addTo(takers, t, x)
  for (const { peer, target, of, outcome } of outcomes) {
    if ('won' in outcome) {
      addTo(takers, target, peer)
      checkApproval(outcome.approval, peer, target, of)
      const rec = acceptedAt.get(`${target}|${outcome.approval.round}|${outcome.approval.proposer}`)
      if (rec === undefined || rec.taker !== peer || rec.by.size < quorumOf(of)) violate(`${peer} won ${target} at round ${outcome.approval.round} without a durable quorum of accepts (${rec?.by.size ?? 0} of ${quorumOf(of)}, for ${rec?.taker ?? 'nobody'})`)
    } else if ('lost' in outcome) {
      if (outcome.self === true) {
        // This peer is itself being taken over: some acceptor accepted that.
        if (!(everAccepted.get(peer)?.has(outcome.winner) ?? false)) violate(`${peer} lost ${target} because ${outcome.winner} takes it over, which no acceptor accepted`)
      } else {
        addTo(takers, target, outcome.winner)
        if (!(chosen.get(target)?.has(outcome.winner) ?? false)) violate(`${peer} lost ${target} to ${outcome.winner}, which no quorum accepted`)
      }
    }
  }
  // (1) one taker per removed peer.
  for (const [t, s] of takers) if (s.size > 1) violate(`${[...s].join(' and ')} both take over ${t}`)
  // (2) never both of a mutual removal; nor a chain (X takes Y while Y takes Z: Y was alive).
  for (const [y, s] of takers) {
    for (const x of s) {
      if (takers.get(x)?.has(y) ?? false) violate(`mutual removal: ${x} takes ${y} and ${y} takes ${x}`)
      for (const [z, s2] of takers) if (z !== x && s2.has(y)) violate(`chain: ${x} takes ${y} while ${y} takes ${z}`)
    }
  }
  const calm = calmDraw && (kind === 'same' || kind === 'multi') && n - dead.size >= quorum
  const decided = outcomes.some(o => 'won' in o.outcome || ('lost' in o.outcome && o.outcome.self !== true))
  const tally: Tally = { won: 0, lost: 0, self: 0, minority: 0, timeout: timeouts }
  for (const { outcome: o } of outcomes) tally['won' in o ? 'won' : 'minority' in o ? 'minority' : o.self === true ? 'self' : 'lost']++
  return { violations, calm, decided, kind, tally }

  /** (3) a quorum of distinct members' votes, none from the removed peer, every one verifying. */
  function checkApproval (a: TakeoverApproval, peer: PeerName, target: PeerName, of: number): void {
    const voters = new Set(a.votes.map(v => v.peer))
    if (voters.size !== a.votes.length) violate(`${peer}'s approval to take ${target} repeats a voter`)
    if (a.of !== of || a.cluster !== CLUSTER || a.proposer !== peer) violate(`${peer}'s approval to take ${target} names of=${a.of}, proposer ${a.proposer}`)
    if (voters.size < quorumOf(a.of)) violate(`${peer}'s approval to take ${target} has ${voters.size} votes of ${a.of}`)
    if (voters.has(target) || [...voters].some(v => !names.includes(v))) violate(`${peer}'s approval to take ${target} has a vote from the target or a stranger`)
    try {
      verifyApproval(a, target, peer, verifier)
    } catch (err) {
      violate(`${peer}'s approval to take ${target} does not verify: ${String(err)}`)
    }
  }
}

