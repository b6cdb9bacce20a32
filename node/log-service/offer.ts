import * as dagCbor from '@ipld/dag-cbor'
import { CausalError, compareTopological } from '../../crdt/causal/index.js'
import { decodeEvent, type EventId, type PeerName, type SignedEvent } from '../../crdt/events/index.js'
import { EventLog } from '../../crdt/log/index.js'
import { baseDigest, checkpointKey, finality, OwnershipRing } from '../../crdt/ring/index.js'
import type { Logger } from '../logger.js'
import { epochShape } from '../store/shapes.js'
import type { EpochRecord, LogStore } from '../store/index.js'
import { ShapeError } from '../shape.js'
import { rootOf } from './epochs.js'

/**
 * Catching up with a later epoch (DESIGN.md §2.6): the offer a peer sends
 * one behind it (FRAME_EPOCH_REF): the record, the base and the live
 * document's event bytes, as DAG-CBOR. What arrives is untrusted: decoded
 * strictly here, then checked against itself (digest, key, signatures,
 * finality) by acceptOffer.
 */

/** An offer's bytes are one chunked transfer: the base and an epoch's events, far below this. */
export const MAX_OFFER_EVENTS = 1_000_000

export function encodeOffer (offer: EpochOffer): Uint8Array {
  return dagCbor.encode({ record: offer.record, base: offer.base, events: [...offer.events] })
}

export function decodeOffer (bytes: Uint8Array): EpochOffer {
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (err) {
    throw new EpochOfferError(`an epoch offer is not DAG-CBOR: ${(err as Error).message}`)
  }
  const v = value as { record?: unknown, base?: unknown, events?: unknown }
  if (typeof v !== 'object' || v === null || !(v.base instanceof Uint8Array) || !Array.isArray(v.events) || v.events.length > MAX_OFFER_EVENTS || !v.events.every(e => e instanceof Uint8Array)) {
    throw new EpochOfferError('an epoch offer needs a record, a base and a list of events')
  }
  let record
  try {
    record = epochShape(v.record, 'record')
  } catch (err) {
    if (err instanceof ShapeError) throw new EpochOfferError(`an epoch offer's record: ${err.message}`)
    throw err
  }
  return { record, base: v.base, events: v.events as Uint8Array[] }
}

/** Our epoch as an offer's bytes; null in the first epoch. */
export function offerBytes (store: LogStore, doc: EventLog, record: EpochRecord | undefined): Uint8Array | null {
  if (record === undefined) return null
  const base = store.getBase(record.epoch)
  if (base === undefined) throw new Error(`the store has no base for epoch ${record.epoch}`)
  return encodeOffer({ record, base, events: [...doc.allEvents()].map(e => e.bytes) })
}

/** Whether an offered epoch is later than ours: a higher number, or the same one ended by a checkpoint of smaller key. */
export function laterThan (offered: EpochRecord, ours: EpochRecord | undefined): boolean {
  return ours === undefined || offered.epoch > ours.epoch || (offered.epoch === ours.epoch && offered.key < ours.key)
}

/** Another peer's current epoch, for a peer behind it (or a joiner) to catch up with: its base and its live document's events. */
export interface EpochOffer {
  readonly record: EpochRecord
  readonly base: Uint8Array
  readonly events: readonly Uint8Array[]
}

export class EpochOfferError extends Error {
  override name = 'EpochOfferError'
}

/**
 * Checks an offered epoch and builds the fold and document to switch to:
 * the base must hash to the record's digest and key; the events (signatures
 * checked) must fold onto it and hold a final checkpoint with that key.
 * `own`: the events we hold outside the offered cut, carried over (one whose
 * view lacks the cut is left in the store and reported, never dropped
 * silently). Throws EpochOfferError.
 */
export function acceptOffer (offer: EpochOffer, self: PeerName, clusterId: EventId | undefined, own: readonly SignedEvent[], logger: Logger): { ring: OwnershipRing, doc: EventLog, record: EpochRecord, base: Uint8Array, left: SignedEvent[] } {
  const { record, base } = offer
  const digest = baseDigest(base)
  if (digest !== record.digest) throw new EpochOfferError(`the offered base hashes to ${digest.slice(0, 12)}, not ${record.digest.slice(0, 12)}`)
  if (checkpointKey(record.epoch, record.cut, record.digest) !== record.key) throw new EpochOfferError('the offered epoch\'s key does not name its cut and digest')
  let ring: OwnershipRing
  try {
    ring = OwnershipRing.fromBase(base)
  } catch (err) {
    throw new EpochOfferError(`the offered base is not one: ${(err as Error).message}`)
  }
  if (clusterId !== undefined && ring.clusterId !== clusterId) throw new EpochOfferError(`the offered base is of cluster ${ring.clusterId}, not ours`)
  const atCut = ring.snapshot()
  const events: SignedEvent[] = []
  try {
    for (const bytes of offer.events) events.push(decodeEvent(bytes))
  } catch (err) {
    throw new EpochOfferError(`an offered event does not decode: ${(err as Error).message}`)
  }
  try {
    for (const e of events.sort((a, b) => compareTopological({ lamport: a.event.lamport, id: a.id }, { lamport: b.event.lamport, id: b.id }))) ring.apply(e)
  } catch (err) {
    throw new EpochOfferError(`the offered events do not fold onto the base: ${(err as Error).message}`)
  }
  const snap = ring.snapshot()
  const proposal = snap.checkpoints.find(p => p.key === record.key)
  if (proposal === undefined || !finality(proposal, atCut, snap).final) throw new EpochOfferError(`checkpoint ${record.key.slice(0, 12)} is not final in the offered events`)
  const left: SignedEvent[] = []
  const inCut = (e: SignedEvent): boolean => e.event.kind === 'genesis' || e.event.seq <= (record.seqBase[e.event.author] ?? 0)
  for (const e of [...own].sort((a, b) => compareTopological({ lamport: a.event.lamport, id: a.id }, { lamport: b.event.lamport, id: b.id }))) {
    if (inCut(e) || ring.has(e.id)) continue
    try {
      ring.apply(e)
    } catch (err) {
      if (!(err instanceof CausalError)) throw err
      left.push(e)
      logger.warn(`event ${e.id} (${e.event.kind}) cannot be judged in epoch ${record.epoch}: ${err.message}; it stays in the store`)
    }
  }
  const outside = ring.causal.nodes.filter(n => !inCut(n.signed)).map(n => n.signed)
  const doc = EventLog.rebuild(self, outside, ring.forks, undefined, rootOf(record))
  return { ring, doc, record, base, left }
}
