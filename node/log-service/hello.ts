import { EVENT_FORMAT_VERSION, type EventId, type PeerName } from '../../crdt/events/index.js'
import type { RingViewJson } from '../ring-view.js'
import { SYNC_PROTOCOL, clonedMessage, type ClonedIdentity, type Hello, type HelloVerdict } from './types.js'

/**
 * The hello two peers exchange before syncing (DESIGN.md §3): building ours
 * and judging theirs, as functions of the log service's state, passed in.
 */

/** What a hello is built and judged from: the log service's state at the time. */
export interface HelloState {
  self: PeerName
  /** Our cluster's genesis id; undefined while we wait for a cluster. */
  clusterId: EventId | undefined
  view: RingViewJson | undefined
  cloned: ClonedIdentity | undefined
  /** The epoch our live document belongs to (absent: 0). */
  epoch?: { n: number, key: string }
}

export function buildHello (state: HelloState, nickname: string): Hello {
  const view = state.view
  const open = view?.disputes.filter(d => d.status === 'open') ?? []
  return {
    ...(state.clusterId !== undefined ? { cluster: state.clusterId } : {}),
    ...(view !== undefined ? { range: view.range } : {}),
    protocol: { ...SYNC_PROTOCOL },
    eventFormat: EVENT_FORMAT_VERSION,
    peer: { name: state.self, nickname },
    disputes: open.map(d => ({ id: d.id, held: d.parties.filter(p => !d.evidenceOnly.includes(p)) })),
    resolved: view?.disputes.filter(d => d.status === 'settled').map(d => d.id) ?? [],
    ...(state.epoch !== undefined ? { epoch: { ...state.epoch } } : {})
  }
}

/**
 * Which of two epochs is later: the higher number, and of two final
 * checkpoints ending one epoch the smaller key (crdt/ring chooseFinal).
 * Negative when `a` is later, 0 when they are one.
 */
function compareEpochs (a: { n: number, key: string } | undefined, b: { n: number, key: string } | undefined): number {
  const an = a?.n ?? 0
  const bn = b?.n ?? 0
  if (an !== bn) return bn - an
  const ak = a?.key ?? ''
  const bk = b?.key ?? ''
  return ak === bk ? 0 : ak < bk ? -1 : 1
}

/**
 * Whether to sync with a peer after its hello (DESIGN.md §3). Hang up on
 * another cluster or protocol major, and when each side holds a party of
 * an unresolved dispute the other lacks and neither holds a resolve for
 * it: re-sending that batch would only be refused again.
 */
export function judgeHello (state: HelloState, remote: Hello, wantedRange?: string): HelloVerdict {
  if (remote.protocol.major !== SYNC_PROTOCOL.major) {
    return { ok: false, code: 'wrong-protocol', message: `peer ${remote.peer.name} speaks sync protocol ${remote.protocol.major}.${remote.protocol.minor}, we speak ${SYNC_PROTOCOL.major}.${SYNC_PROTOCOL.minor}` }
  }
  if (state.cloned !== undefined) return { ok: false, code: 'identity-cloned', message: clonedMessage(state.self, state.cloned) }
  const flagged = state.view?.equivocations.find(q => q.author === remote.peer.name)
  if (flagged !== undefined) {
    return { ok: false, code: 'equivocation', message: `equivocation by ${remote.peer.name}: events ${flagged.events.join(' and ')} share seq ${flagged.seq}; this identity is gated` }
  }
  const ours = state.clusterId
  if (ours === undefined) {
    if (remote.cluster === undefined) return { ok: true }
    if (wantedRange !== undefined && remote.range !== undefined && remote.range !== wantedRange) {
      return { ok: false, code: 'wrong-cluster', message: `peer ${remote.peer.name} belongs to a cluster over ${remote.range}, but this peer was launched with --range ${wantedRange}` }
    }
    // A cluster past its first epoch: join from its current one (DESIGN.md §2.6).
    return { ok: true, joinCluster: remote.cluster, ...(remote.epoch !== undefined ? { fetchEpoch: true as const } : {}) }
  }
  // A joiner of a cluster past its first epoch fetches the epoch; until then it gets no sync.
  if (remote.cluster === undefined) return state.epoch !== undefined ? { ok: true, holdSync: true } : { ok: true }
  if (remote.cluster !== ours) {
    return {
      ok: false,
      code: 'wrong-cluster',
      message: `peer ${remote.peer.name} (${remote.peer.nickname}) was seeded by different peers: its cluster is ${remote.cluster} over ${remote.range ?? '?'}, ours is ${ours} over ${state.view?.range ?? '?'}`
    }
  }
  const mine = new Map(buildHello(state, '').disputes.map(d => [d.id, new Set(d.held)]))
  const resolved = new Set([...remote.resolved, ...(state.view?.disputes.filter(d => d.status === 'settled').map(d => d.id) ?? [])])
  for (const d of remote.disputes) {
    if (resolved.has(d.id)) continue
    const myHeld = mine.get(d.id) ?? new Set<string>()
    const theirs = new Set(d.held)
    const iLackTheirs = [...theirs].some(p => !myHeld.has(p))
    const theyLackMine = [...myHeld].some(p => !theirs.has(p))
    if (iLackTheirs && theyLackMine) {
      return { ok: false, code: 'dispute', message: `unresolved dispute ${d.id}: run \`weft resolve ${d.id}\`` }
    }
  }
  const order = compareEpochs(remote.epoch, state.epoch)
  if (order < 0) return { ok: true, fetchEpoch: true }
  if (order > 0) return { ok: true, holdSync: true }
  return { ok: true }
}
