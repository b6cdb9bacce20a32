import type { PeerName } from '../../crdt/events/index.js'
import { comparePeerNames, isPeerName } from '../../crdt/events/peer-id.js'
import { count, object, strWhere, type Shape } from '../shape.js'

/**
 * Single-decree Paxos (Lamport, "Paxos made simple"): the pure steps, with
 * no I/O, clock or randomness, so that the daemon and the fuzz test run the
 * same code. The bootstrap (DESIGN.md §3.1) agrees on a seed set with it;
 * takeovers approved by a quorum (§3.2) will reuse it.
 *
 * Safety rests on two things the callers must keep: an acceptor's state is
 * durable before its reply leaves (a restarted acceptor never forgets a
 * promise), and any two quorums intersect (quorum = ⌊N/2⌋ + 1 of N voters).
 */

/** A proposal number: rounds first, then the proposer's name, so two proposers never share one. */
export interface Ballot {
  round: number
  proposer: PeerName
}

export function compareBallots (a: Ballot, b: Ballot): number {
  return a.round !== b.round ? a.round - b.round : comparePeerNames(a.proposer, b.proposer)
}

export interface Accepted<V> { ballot: Ballot, value: V }

/** What an acceptor remembers, durably. */
export interface AcceptorState<V> {
  promised?: Ballot
  accepted?: Accepted<V>
}

const ballotShape: Shape<Ballot> = object({ round: count, proposer: strWhere('a peer name', isPeerName) })

/** The shape of an acceptor's stored state, its values checked by `value`: it is read back from the store at launch. */
export function acceptorStateShape<V> (value: Shape<V>): Shape<AcceptorState<V>> {
  return object({}, { promised: ballotShape, accepted: object({ ballot: ballotShape, value }) }) as Shape<AcceptorState<V>>
}

export type PaxosRequest<V> =
  | { op: 'prepare', ballot: Ballot }
  | { op: 'accept', ballot: Ballot, value: V }

export type PaxosReply<V> =
  | { ok: true, accepted?: Accepted<V> }
  /** Refused: the acceptor promised a higher ballot (the proposer retries above its round). */
  | { ok: false, promised: Ballot }

export { quorumOf } from '../../crdt/events/approval.js'

/**
 * One acceptor step. `changed` says whether the new state must be made
 * durable before the reply is sent (it must, whenever it changed).
 */
export function acceptorStep<V> (state: AcceptorState<V>, req: PaxosRequest<V>): { state: AcceptorState<V>, reply: PaxosReply<V>, changed: boolean } {
  const promised = state.promised
  if (req.op === 'prepare') {
    if (promised !== undefined && compareBallots(req.ballot, promised) <= 0) {
      // The same ballot again (a duplicated or retried message) gets the same answer.
      if (compareBallots(req.ballot, promised) === 0) return { state, reply: { ok: true, ...(state.accepted !== undefined ? { accepted: state.accepted } : {}) }, changed: false }
      return { state, reply: { ok: false, promised }, changed: false }
    }
    const next: AcceptorState<V> = { ...state, promised: req.ballot }
    return { state: next, reply: { ok: true, ...(state.accepted !== undefined ? { accepted: state.accepted } : {}) }, changed: true }
  }
  if (promised !== undefined && compareBallots(req.ballot, promised) < 0) return { state, reply: { ok: false, promised }, changed: false }
  // A repeat of what we already accepted (a proposer sends one value per ballot) changes nothing.
  const same = state.accepted !== undefined && compareBallots(state.accepted.ballot, req.ballot) === 0 &&
    promised !== undefined && compareBallots(promised, req.ballot) === 0
  if (same) return { state, reply: { ok: true }, changed: false }
  return { state: { promised: req.ballot, accepted: { ballot: req.ballot, value: req.value } }, reply: { ok: true }, changed: true }
}

/**
 * Asks every voter and settles as soon as `need` answered yes, or when
 * every answer is in (failures count as no). Slow or dead voters never
 * hold up a round that already has its quorum.
 */
export async function gather<R> (voters: readonly PeerName[], ask: (voter: PeerName) => Promise<R>, isYes: (r: R) => boolean, need: number): Promise<{ yes: R[], no: R[] }> {
  return await new Promise(resolve => {
    const yes: R[] = []
    const no: R[] = []
    let pending = voters.length
    let done = false
    const finish = (): void => { if (!done) { done = true; resolve({ yes, no }) } }
    if (pending === 0 || need <= 0) { finish(); return }
    for (const v of voters) {
      ask(v).then(r => { (isYes(r) ? yes : no).push(r) }, () => {}).finally(() => {
        pending--
        if (yes.length >= need || pending === 0) finish()
      })
    }
  })
}

export type RoundOutcome<V, R> =
  /** `accepts`: the phase-2 replies of the quorum (a takeover's votes carry their signatures). */
  | { chosen: V, ballot: Ballot, accepts: R[] }
  /** No quorum this round: `above` is the highest round an acceptor had promised (retry above it). */
  | { failed: 'prepare' | 'accept', above: number, no: R[] }

/**
 * One proposer round at `round`: phase 1 (prepare) to a quorum, then phase 2
 * (accept) with the value of the highest ballot any of them accepted, else
 * our own `candidate`. Returns the chosen value once a quorum accepted it.
 * `ask` rejects (or answers with something other than a PaxosReply: a
 * refusal) to count as a no.
 */
export async function proposeRound<V, R = PaxosReply<V>> (opts: {
  self: PeerName
  voters: readonly PeerName[]
  quorum: number
  round: number
  candidate: V
  ask: (voter: PeerName, req: PaxosRequest<V>) => Promise<R>
}): Promise<RoundOutcome<V, R>> {
  const ballot: Ballot = { round: opts.round, proposer: opts.self }
  const isOk = (r: R): boolean => (r as { ok?: unknown }).ok === true
  const above = (replies: R[]): number => Math.max(opts.round, ...replies.map(r => {
    const x = r as { ok?: unknown, promised?: Ballot }
    return x.ok === false && x.promised !== undefined ? x.promised.round : 0
  }))
  const p1 = await gather(opts.voters, v => opts.ask(v, { op: 'prepare', ballot }), isOk, opts.quorum)
  if (p1.yes.length < opts.quorum) return { failed: 'prepare', above: above(p1.no), no: p1.no }
  let best: Accepted<V> | undefined
  for (const r of p1.yes) {
    const accepted = (r as { accepted?: Accepted<V> }).accepted
    if (accepted !== undefined && (best === undefined || compareBallots(accepted.ballot, best.ballot) > 0)) best = accepted
  }
  const value = best !== undefined ? best.value : opts.candidate
  const p2 = await gather(opts.voters, v => opts.ask(v, { op: 'accept', ballot, value }), isOk, opts.quorum)
  if (p2.yes.length < opts.quorum) return { failed: 'accept', above: above(p2.no), no: p2.no }
  return { chosen: value, ballot, accepts: p2.yes }
}

/**
 * The acceptors of any number of instances, behind one queue: each request
 * is answered from the state the previous one left, and a changed state is
 * durable (`save`) before its reply leaves. `guard` may refuse a request
 * after seeing every instance's state (a takeover vote refuses to approve
 * removing a peer that is itself taking over, DESIGN.md §3.2).
 */
export class Acceptors<V> {
  private readonly states: Map<string, AcceptorState<V>>
  private readonly save: (states: ReadonlyMap<string, AcceptorState<V>>, instance: string) => Promise<void>
  private queue: Promise<unknown> = Promise.resolve()

  constructor (opts: { initial?: Iterable<[string, AcceptorState<V>]>, save: (states: ReadonlyMap<string, AcceptorState<V>>, instance: string) => Promise<void> }) {
    this.states = new Map(opts.initial ?? [])
    this.save = opts.save
  }

  state (instance: string): AcceptorState<V> { return this.states.get(instance) ?? {} }

  entries (): IterableIterator<[string, AcceptorState<V>]> { return this.states.entries() }

  async step<G> (instance: string, req: PaxosRequest<V>, guard?: (states: ReadonlyMap<string, AcceptorState<V>>) => G | undefined): Promise<PaxosReply<V> | G> {
    const run = this.queue.then(async (): Promise<PaxosReply<V> | G> => {
      const refusal = guard?.(this.states)
      if (refusal !== undefined) return refusal
      const step = acceptorStep(this.state(instance), req)
      if (step.changed) {
        const next = new Map(this.states).set(instance, step.state)
        await this.save(next, instance)
        this.states.set(instance, step.state)
      }
      return step.reply
    })
    this.queue = run.catch(() => {})
    return await run
  }
}
