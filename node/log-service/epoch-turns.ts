import type { CheckpointBody, PeerName, SignedEvent } from '../../crdt/events/index.js'
import type { EventLog, EpochRoot } from '../../crdt/log/index.js'
import type { OwnershipRing } from '../../crdt/ring/index.js'
import type { Logger } from '../logger.js'
import type { EpochRecord, LogStore } from '../store/index.js'
import { Epochs, type EpochStatus } from './epochs.js'
import { acceptOffer, decodeOffer, EpochOfferError, laterThan, offerBytes } from './offer.js'
import type { LogNotice } from './types.js'

/**
 * Epochs as the log service runs them (DESIGN.md §2.6): after every turn
 * that adopted something, Epochs judges, signs, proposes and switches;
 * status hears of it when it changes; a peer's later epoch is taken from
 * its offer; a session's sync is only for the live document's epoch. Every
 * call runs inside the service's serialised turn.
 */

export interface EpochTurnsInit {
  self: PeerName
  logger: Logger
  /** Events in the live document that make this member propose a checkpoint; 0: never. */
  threshold: number
  store: () => LogStore
  ring: () => OwnershipRing | undefined
  doc: () => EventLog | undefined
  /** Signs and adopts a checkpoint event. */
  sign: (body: CheckpointBody) => Promise<void>
  /** Puts an epoch's fold and document in place (Replica.switchTo); `fresh`: events the store lacks. */
  switchTo: (next: { ring: OwnershipRing, doc: EventLog, record: EpochRecord, base: Uint8Array }, fresh?: SignedEvent[]) => Promise<void>
  notify: (n: LogNotice) => void
  /** A joiner took the cluster from an offer: record the cluster (before the switch). */
  joining: (ring: OwnershipRing, peer: PeerName, epoch: number) => Promise<void>
  /** A joiner's switch is done: the log is ready. */
  ready: () => void
}

export class EpochTurns {
  private readonly init: EpochTurnsInit
  private readonly log: Logger
  readonly epochs: Epochs
  /** An adoption happened in this turn: epochs look at it before the turn ends. */
  private due = false
  /** What status was last told (JSON), to tell it again only on a change. */
  private said = ''

  constructor (init: EpochTurnsInit, current: EpochRecord | undefined) {
    this.init = init
    this.log = init.logger
    this.epochs = new Epochs({
      self: init.self,
      logger: init.logger,
      threshold: init.threshold,
      store: init.store,
      ring: () => init.ring()!,
      doc: () => init.doc()!,
      sign: init.sign,
      switchTo: async next => { await init.switchTo(next) },
      // After the switch is recorded: hellos built from now on say the new epoch.
      switched: epoch => { init.notify({ type: 'epoch', epoch }) }
    }, current)
  }

  get current (): EpochRecord | undefined { return this.epochs.current }
  get root (): EpochRoot | undefined { return this.epochs.root }
  status (): EpochStatus { return this.epochs.status() }

  /** Something was adopted: look at the epochs before the turn ends. */
  adopted (): void { this.due = true }

  /** At the end of a turn that adopted something: checkpoints to sign or propose, an epoch to switch to. */
  async turn (): Promise<void> {
    if (!this.due || this.init.ring() === undefined || this.init.doc() === undefined) return
    this.due = false
    try {
      await this.epochs.afterAdoption()
    } catch (err) {
      this.log.error(`epochs: ${(err as Error).message}`)
    } finally {
      // Our own signatures adopted meanwhile were looked at by that call.
      this.due = false
    }
    this.tell()
  }

  /** Tells status of the epochs, if that changed. */
  tell (): void {
    if (this.init.ring() === undefined) return
    const status = this.epochs.status()
    const said = JSON.stringify(status)
    if (said === this.said) return
    this.said = said
    this.init.notify({ type: 'epoch-status', status })
  }

  /**
   * Whether a session's sync is for our live document: `epochKey` is the
   * epoch both sides said in their hellos ('' the first). A session agreed
   * before we switched must not feed our new document the old one's
   * changes, nor be sent the new one's, until the hellos agree again.
   */
  inEpoch (epochKey: string | undefined): boolean {
    return epochKey === undefined || epochKey === (this.epochs.current?.key ?? '')
  }

  /** Our epoch for a peer behind it or joining (FRAME_EPOCH_REQ): encoded, or null in the first epoch. */
  offer (): Uint8Array | null {
    const doc = this.init.doc()
    return doc === undefined ? null : offerBytes(this.init.store(), doc, this.epochs.current)
  }

  /**
   * Catches up with a peer's later epoch (its offer): checks it, carries the
   * events we hold outside its cut over, and switches; a joiner joins the
   * cluster this way. Refuses what does not prove itself.
   */
  async catchUp (peer: PeerName, bytes: Uint8Array): Promise<{ ok: true, epoch: number } | { ok: false, message: string }> {
    const ring = this.init.ring()
    let next
    try {
      const offer = decodeOffer(bytes)
      // Not later than ours (a second answer, or we moved on meanwhile): nothing to do.
      if (!laterThan(offer.record, this.epochs.current)) return { ok: true, epoch: this.epochs.epoch }
      next = acceptOffer(offer, this.init.self, ring?.clusterId, ring?.causal.nodes.map(n => n.signed) ?? [], this.log)
    } catch (err) {
      if (err instanceof EpochOfferError) return { ok: false, message: err.message }
      throw err
    }
    if (ring === undefined) await this.init.joining(next.ring, peer, next.record.epoch)
    const before = new Set(ring?.causal.nodes.map(n => n.id) ?? [])
    // The offered events we lacked are new to our store too (what we store
    // outside our old cut, our fold holds); the cut's past is the archive's.
    const fresh = next.ring.causal.nodes.filter(n => !before.has(n.id) && next.doc.hasEvent(n.id)).map(n => n.signed)
    await this.init.switchTo(next, fresh)
    this.epochs.switched(next.record)
    this.init.notify({ type: 'epoch', epoch: next.record.epoch })
    this.tell()
    this.log.info(`caught up with ${peer}: epoch ${next.record.epoch}, from checkpoint ${next.record.key.slice(0, 12)}`)
    if (ring === undefined) this.init.ready()
    this.due = true
    this.init.notify({ type: 'adopted', ids: fresh.map(e => e.id), local: false })
    return { ok: true, epoch: next.record.epoch }
  }
}
