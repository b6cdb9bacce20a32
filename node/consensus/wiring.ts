import { ed25519SignerFromSeed, isPeerName, type PeerName } from '../../crdt/events/index.js'
import type { Clock } from '../clock.js'
import type { Tuning } from '../config.js'
import type { Logger } from '../logger.js'
import type { RingView } from '../ring-view.js'
import type { AcceptorState } from './paxos.js'
import { TakeoverVotes, type TakeoverValue, type TakeoverVoteWire, type VoteView } from './takeover.js'

/** Every takeover instance's acceptor state, in one store record (a few hundred bytes per removed peer). */
const TAKEOVERS = 'takeovers'

/** What a takeover vote sees of the ring: the cluster, its live members, approved removals. */
export function voteViewOf (view: RingView | undefined): VoteView | undefined {
  if (view === undefined) return undefined
  const peers = view.json.peers
  return {
    cluster: view.json.clusterId,
    live: peers.filter(p => p.member && p.removed === undefined).map(p => p.name),
    approvedRemoval: name => {
      const r = peers.find(p => p.name === name)?.removed
      return r?.approved === undefined ? undefined : { by: r.by, votes: r.approved.votes.length, of: r.approved.of }
    }
  }
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)
const isBallot = (x: unknown): boolean => isObj(x) && Number.isSafeInteger(x.round) && typeof x.proposer === 'string' && isPeerName(x.proposer)

/** The stored acceptor states, checked: a vote must never be answered from a state we misread. */
function checkedStates (x: unknown): Record<PeerName, AcceptorState<TakeoverValue>> | undefined {
  if (x === undefined) return undefined
  const ok = isObj(x) && Object.entries(x).every(([peer, st]) => isPeerName(peer) && isObj(st) &&
    (st.promised === undefined || isBallot(st.promised)) &&
    (st.accepted === undefined || (isObj(st.accepted) && isBallot(st.accepted.ballot) && isObj(st.accepted.value) &&
      typeof st.accepted.value.taker === 'string' && isPeerName(st.accepted.value.taker) && Number.isSafeInteger(st.accepted.value.of))))
  if (!ok) throw new Error(`the store's takeover vote record (state key acceptor:${TAKEOVERS}) is not valid: restore the data dir from a backup, or reset this peer`)
  return x as Record<PeerName, AcceptorState<TakeoverValue>>
}

/** The daemon's takeover votes: acceptor state loaded from the store, approvals signed with the peer's key. */
export async function startTakeoverVotes (deps: {
  self: PeerName
  seed: Uint8Array
  view: () => RingView | undefined
  connected: () => readonly PeerName[]
  wire: { askTakeover: TakeoverVoteWire['ask'] }
  log: { getAcceptor: (instance: string) => Promise<unknown>, putAcceptor: (instance: string, state: unknown) => Promise<void> }
  logger: Logger
  tuning: Tuning
  clock: Clock
  random: () => number
}): Promise<TakeoverVotes> {
  const initial = checkedStates(await deps.log.getAcceptor(TAKEOVERS))
  return new TakeoverVotes({
    self: deps.self,
    signer: ed25519SignerFromSeed(deps.seed),
    view: () => voteViewOf(deps.view()),
    connected: deps.connected,
    wire: { ask: async (peer, req, ms) => await deps.wire.askTakeover(peer, req, ms) },
    store: { save: async states => { await deps.log.putAcceptor(TAKEOVERS, states) } },
    ...(initial !== undefined ? { initial } : {}),
    clock: deps.clock,
    random: deps.random,
    logger: deps.logger,
    timeoutMs: deps.tuning.voteTimeoutMs
  })
}
