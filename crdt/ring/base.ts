import { createHash } from 'node:crypto'
import * as dagCbor from '@ipld/dag-cbor'
import { RangeSet, type Span } from '../../packages/netaddr/index.js'
import { CausalIndex, compareTopological, type CausalNode } from '../causal/index.js'
import { WeftError } from '../errors.js'
import { comparePeerNames, decodeEvent, type EventId, type PeerName, type SignedEvent } from '../events/index.js'
import { unionOf } from './moves.js'
import type { DisputeRecord, Grant, MoveNode, Party, RingEvent } from './records.js'
import { SegmentMap, type Segment } from './segments.js'
import { RingState } from './state.js'

/**
 * An epoch's base (docs/epochs.md, DESIGN.md §2.6): the fold's state at a
 * checkpoint's cut, compacted, as canonical bytes. Canonical means a function
 * of the event set alone: every table is in an order the events fix (events
 * by lamport and id, peers by name, moves by event, claimant and
 * predecessors), never the order a replica received them in. So every
 * member that folds the cut encodes the same bytes, and a checkpoint can
 * sign their digest; a new peer starts from bytes that match it.
 */

export const BASE_FORMAT = 1

export type BaseErrorCode = 'malformed' | 'format' | 'incomplete'

export class BaseError extends WeftError<BaseErrorCode> {
  override name = 'BaseError'
}

/** SHA-256 of a base's bytes, domain-separated: what a checkpoint signs. */
export function baseDigest (bytes: Uint8Array): string {
  return createHash('sha256').update('weft/base\n').update(bytes).digest('hex')
}

type Spans = string[]
type EncGrant = [peer: number, spans: Spans]
type EncParty = [id: EventId, event: number | Uint8Array, moves: EncGrant[]]
type EncRecord = [id: EventId, parties: EncParty[], ranges: Spans, removal: boolean, atStake: number[]]
type EncEvent = [status: number, reason: string | null, grants: EncGrant[] | null, removes: number[] | null, settles: EncRecord[] | null, overriddenBy: number[]]

interface EncodedBase {
  v: number
  cluster: EventId
  names: PeerName[]
  forks: Array<[number, number]>
  cut: Array<[number, number]>
  /** Each event's bytes and its version vector as differences from the cut's. */
  nodes: Array<[Uint8Array, Array<[number, number]>]>
  heads: number[]
  events: EncEvent[]
  moves: Array<[event: number, claimant: number, preds: number[]]>
  segments: Array<[start: string, heads: number[]]>
  end: string
  pins: string[]
  peers: Array<[seed: boolean, joins: number[], removals: number[]]>
  resolves: number[]
  conflicts: number[]
  checkpoints: number[]
  evidence: Array<[conflict: number, record: EncRecord]>
  removalDisputes: Array<[removal: number, mover: number, removed: number, record: EncRecord]>
  settledBy: Array<[dispute: EventId, resolves: number[]]>
  equivocations: Array<[author: number, seq: number, events: EventId[], flaggedBy: number]>
  unfoldedForks: Array<[author: number, seq: number, events: EventId[]]>
  futureEvents: number
  /** Log events in the cut's past that the base does not hold. */
  below: number
}

const STATUS = ['valid', 'void', 'future'] as const
const byNumber = (a: number, b: number): number => a - b
const hex = (v: bigint): string => v.toString(16)
const spansOf = (set: RangeSet): Spans => set.spans.flatMap(([a, b]) => [hex(a), hex(b)])
const plain = (bytes: Uint8Array): Uint8Array => bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)

function compareLists (a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}

/** The canonical bytes of the fold's state (compacted or not). */
export function encodeBase (s: RingState): Uint8Array {
  const causal = s.causal
  const names = [...causal.peers].sort(comparePeerNames)
  const nameIdx = new Map(names.map((n, i) => [n, i]))
  const peerOf = (p: number): number => nameIdx.get(causal.peers[p]!)!
  const cut = causal.cutVv ?? new Int32Array(causal.peers.length)

  const nodes = [...causal.nodes].sort(compareTopological)
  const pos = new Map<CausalNode, number>(nodes.map((n, i) => [n, i]))
  const posOf = (ev: RingEvent, what: string): number => {
    const k = pos.get(ev.node)
    if (k === undefined) throw new BaseError('incomplete', `the state points at ${what} ${ev.node.id}, which it does not hold`)
    return k
  }
  const positions = (evs: readonly RingEvent[], what: string): number[] => evs.map(e => posOf(e, what)).sort(byNumber)
  const grants = (gs: readonly Grant[]): EncGrant[] => gs.map(g => [peerOf(g.peer), spansOf(g.ranges)] as EncGrant).sort((a, b) => a[0] - b[0] || (a[1].join() < b[1].join() ? -1 : 1))
  const party = (p: Party): EncParty => {
    const held = causal.get(p.id)
    return [p.id, held !== undefined ? pos.get(held)! : plain(p.bytes), grants(p.moves)]
  }
  const record = (d: DisputeRecord): EncRecord =>
    [d.id, d.parties.map(party).sort((a, b) => a[0] < b[0] ? -1 : 1), spansOf(d.ranges), d.removal, d.atStake.map(peerOf).sort(byNumber)]

  const vvDelta = (vv: Int32Array): Array<[number, number]> => {
    const out: Array<[number, number]> = []
    for (let p = 0; p < Math.max(vv.length, cut.length); p++) {
      const v = vv[p] ?? 0
      if (v !== (cut[p] ?? 0)) out.push([peerOf(p), v])
    }
    return out.sort((a, b) => a[0] - b[0])
  }

  // Moves, numbered canonically: by event, then claimant, then predecessors
  // (which belong to earlier events, so are numbered already).
  const moveList: MoveNode[] = []
  const seen = new Set<MoveNode>()
  const stack: MoveNode[] = []
  for (const seg of s.segments?.all() ?? []) stack.push(...seg.heads)
  while (stack.length > 0) {
    const m = stack.pop()!
    if (seen.has(m)) continue
    seen.add(m)
    moveList.push(m)
    stack.push(...m.preds)
  }
  moveList.sort((a, b) => posOf(a.ev, 'a move') - posOf(b.ev, 'a move'))
  const moveIdx = new Map<MoveNode, number>()
  const moves: EncodedBase['moves'] = []
  for (let i = 0; i < moveList.length;) {
    let j = i
    while (j < moveList.length && moveList[j]!.ev === moveList[i]!.ev) j++
    const group = moveList.slice(i, j).map(m => ({ m, claimant: peerOf(m.claimant), preds: [...new Set(m.preds.map(p => moveIdx.get(p)!))].sort(byNumber) }))
    group.sort((a, b) => a.claimant - b.claimant || compareLists(a.preds, b.preds))
    for (const g of group) {
      const last = moves[moves.length - 1]
      // Moves equal in all three are one move (compaction can make them so).
      if (last !== undefined && last[0] === pos.get(g.m.ev.node) && last[1] === g.claimant && compareLists(last[2], g.preds) === 0) {
        moveIdx.set(g.m, moves.length - 1)
      } else {
        moveIdx.set(g.m, moves.length)
        moves.push([pos.get(g.m.ev.node)!, g.claimant, g.preds])
      }
    }
    i = j
  }

  const pins = s.segments?.pinned() ?? []
  const pinSet = new Set(pins)
  const segments: EncodedBase['segments'] = []
  for (const seg of s.segments?.all() ?? []) {
    const heads = [...new Set(seg.heads.map(h => moveIdx.get(h)!))].sort(byNumber)
    const last = segments[segments.length - 1]
    // Neighbours with the same heads are one segment, unless a pin keeps them apart.
    if (last !== undefined && !pinSet.has(seg.start) && compareLists(last[1], heads) === 0) continue
    segments.push([hex(seg.start), heads])
  }

  const base: EncodedBase = {
    v: BASE_FORMAT,
    cluster: s.clusterId,
    names,
    forks: [...causal.forks].map(([name, seq]) => [nameIdx.get(name) ?? -1, seq] as [number, number]).filter(f => f[0] >= 0).sort((a, b) => a[0] - b[0]),
    cut: [...cut].map((seq, p) => [peerOf(p), seq] as [number, number]).filter(c => c[1] > 0).sort((a, b) => a[0] - b[0]),
    nodes: nodes.map(n => [plain(n.signed.bytes), vvDelta(n.vv)]),
    heads: causal.heads().map(h => pos.get(h)!).sort(byNumber),
    events: nodes.map(n => {
      const ev = s.eventOf(n)
      return [
        STATUS.indexOf(ev.status), ev.reason ?? null,
        ev.grants === undefined ? null : grants(ev.grants),
        ev.removes === undefined ? null : ev.removes.map(peerOf).sort(byNumber),
        ev.settles === undefined ? null : ev.settles.map(record).sort((a, b) => a[0] < b[0] ? -1 : 1),
        positions(ev.overriddenBy, 'an overriding resolve')
      ]
    }),
    moves,
    segments,
    end: hex(s.segments?.end ?? 0n),
    pins: pins.map(hex),
    peers: names.map(name => {
      const rec = s.peers[causal.peerIndexOf(name)!]
      return [rec?.seed ?? false, (rec?.joins ?? []).map(j => posOf(j, 'a join')), positions(rec?.removals ?? [], 'a removal')]
    }),
    resolves: positions(s.resolves, 'a resolve'),
    conflicts: positions(s.conflicts, 'a conflict'),
    checkpoints: positions(s.checkpoints, 'a checkpoint'),
    evidence: s.evidence.map(e => [posOf(e.conflict, 'a conflict'), record(e.record)] as [number, EncRecord])
      .sort((a, b) => a[0] - b[0] || (a[1][0] < b[1][0] ? -1 : 1)),
    removalDisputes: s.removalDisputes.map(r => [posOf(r.removal, 'a removal'), posOf(r.mover, 'a move'), peerOf(r.removed), record(r.record)] as [number, number, number, EncRecord])
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]),
    settledBy: [...s.settledBy].map(([id, list]) => [id, positions(list, 'a resolve')] as [EventId, number[]]).sort((a, b) => a[0] < b[0] ? -1 : 1),
    equivocations: s.equivocations.map(q => [peerOf(q.author), q.seq, [...q.events].sort(), posOf(q.flaggedBy, 'a conflict')] as [number, number, EventId[], number])
      .sort((a, b) => a[3] - b[3] || a[0] - b[0] || a[1] - b[1]),
    unfoldedForks: s.unfoldedForks.map(f => [nameIdx.get(f.author) ?? -1, f.seq, [...f.events].sort()] as [number, number, EventId[]])
      .sort((a, b) => a[0] - b[0] || a[1] - b[1] || (a[2][0]! < b[2][0]! ? -1 : 1)),
    futureEvents: s.futureEvents,
    below: s.below
  }
  return dagCbor.encode(base)
}

/** Rebuilds the fold's state from a base's bytes. Throws BaseError on bytes that are not a base. */
export function decodeBase (bytes: Uint8Array): RingState {
  let b: EncodedBase
  try {
    b = dagCbor.decode(bytes)
  } catch (err) {
    throw new BaseError('malformed', `an epoch base is not DAG-CBOR: ${(err as Error).message}`)
  }
  if (typeof b !== 'object' || b === null || !Array.isArray(b.nodes)) throw new BaseError('malformed', 'not an epoch base')
  if (b.v !== BASE_FORMAT) throw new BaseError('format', `epoch base format ${String(b.v)} needs a newer weft (this one reads ${BASE_FORMAT})`)
  try {
    return rebuild(b)
  } catch (err) {
    if (err instanceof BaseError) throw err
    throw new BaseError('malformed', `a damaged epoch base: ${(err as Error).message}`, { cause: err })
  }
}

function rebuild (b: EncodedBase): RingState {
  const names = b.names
  const n = names.length
  const forks = new Map(b.forks.map(([p, seq]) => [names[p]!, seq]))
  const cut = new Int32Array(n)
  for (const [p, seq] of b.cut) cut[p] = seq
  const nodes = b.nodes.map(([bytes, delta]) => {
    const signed: SignedEvent = decodeEvent(bytes, { verifier: null, trusted: true })
    const vv = cut.slice()
    for (const [p, seq] of delta) vv[p] = seq
    return { signed, vv }
  })
  const causal = CausalIndex.restore(forks, names, cut, nodes, b.heads)
  for (let i = 0; i < names.length; i++) if (causal.peerIndexOf(names[i]!) !== i) throw new BaseError('malformed', `peer ${names[i]!} is not in the base's table`)
  const s = new RingState(b.cluster, forks, causal)
  const genesis = causal.genesis
  if (genesis === undefined || genesis.event.kind !== 'genesis' || genesis.id !== b.cluster) throw new BaseError('incomplete', 'the base holds no genesis of its cluster')
  const range = genesis.event.body.ranges[0]!
  const family = range.family
  s.family = family
  s.clusterRange = RangeSet.fromCidrs(family, [range])

  const set = (spans: Spans): RangeSet => {
    const out: Span[] = []
    for (let i = 0; i + 1 < spans.length; i += 2) out.push([BigInt('0x' + spans[i]!), BigInt('0x' + spans[i + 1]!)])
    return RangeSet.fromSpans(family, out)
  }
  const grants = (gs: EncGrant[]): Grant[] => gs.map(([p, spans]) => ({ peer: p, ranges: set(spans) }))
  const events: RingEvent[] = causal.nodes.map(node => ({ node, status: 'valid', reason: undefined, grants: undefined, moved: undefined, removes: undefined, settles: undefined, overriddenBy: [] }))
  const at = (k: number): RingEvent => {
    const ev = events[k]
    if (ev === undefined) throw new BaseError('malformed', `the base points at event ${k} of ${events.length}`)
    return ev
  }
  const party = ([id, ref, moves]: EncParty): Party => {
    const signed = typeof ref === 'number' ? at(ref).node.signed : decodeEvent(ref, { verifier: null, trusted: true })
    if (signed.id !== id) throw new BaseError('malformed', `party ${id} is carried as ${signed.id}`)
    return { id, event: signed.event, bytes: signed.bytes, moves: grants(moves) }
  }
  const record = ([id, parties, ranges, removal, atStake]: EncRecord): DisputeRecord =>
    ({ id, parties: parties.map(party), ranges: set(ranges), removal, atStake })

  b.events.forEach(([status, reason, gs, removes, settles, overriddenBy], k) => {
    const ev = at(k)
    ev.status = STATUS[status] ?? 'void'
    if (reason !== null) ev.reason = reason
    if (gs !== null) {
      ev.grants = grants(gs)
      ev.moved = unionOf(family, ev.grants)
    }
    if (removes !== null) ev.removes = removes
    if (settles !== null) ev.settles = settles.map(record)
    ev.overriddenBy.push(...overriddenBy.map(at))
  })
  s.events.push(...events)

  const moves: MoveNode[] = []
  for (const [k, claimant, preds] of b.moves) {
    for (const p of preds) if (p >= moves.length) throw new BaseError('malformed', `move ${moves.length} follows move ${p}`)
    moves.push({ serial: moves.length, ev: at(k), claimant, preds: preds.map(p => moves[p]!) })
  }
  s.moveSerial = moves.length
  const segments: Segment[] = b.segments.map(([start, heads], i) => ({
    start: BigInt('0x' + start),
    end: BigInt('0x' + (b.segments[i + 1]?.[0] ?? b.end)),
    heads: heads.map(h => moves[h]!)
  }))
  s.segments = SegmentMap.fromSegments(segments, b.pins.map(p => BigInt('0x' + p)))

  b.peers.forEach(([seed, joins, removals], p) => {
    const rec = s.peer(p)
    rec.seed = seed
    rec.joins.push(...joins.map(at))
    rec.removals.push(...removals.map(at))
  })
  s.resolves.push(...b.resolves.map(at))
  s.conflicts.push(...b.conflicts.map(at))
  s.checkpoints.push(...b.checkpoints.map(at))
  for (const [c, r] of b.evidence) s.evidence.push({ conflict: at(c), record: record(r) })
  for (const [r, m, removed, rec] of b.removalDisputes) s.removalDisputes.push({ removal: at(r), mover: at(m), removed, record: record(rec) })
  for (const [id, list] of b.settledBy) s.settledBy.set(id, list.map(at))
  for (const [author, seq, ids, by] of b.equivocations) s.equivocations.push({ author, seq, events: ids, flaggedBy: at(by) })
  for (const [author, seq, ids] of b.unfoldedForks) s.unfoldedForks.push({ author: names[author]!, seq, events: [ids[0]!, ids[1]!] })
  s.futureEvents = b.futureEvents
  s.below = b.below
  return s
}
