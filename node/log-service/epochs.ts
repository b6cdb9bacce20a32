import { CausalError, compareTopological } from '../../crdt/causal/index.js'
import { decodeEvent, type CheckpointBody, type EventId, type PeerName, type SignedEvent } from '../../crdt/events/index.js'
import { EventLog, type EpochRoot } from '../../crdt/log/index.js'
import { baseDigest, checkpointKey, chooseFinal, finality, OwnershipRing, type CheckpointSnapshot, type RingSnapshot } from '../../crdt/ring/index.js'
import type { Logger } from '../logger.js'
import type { EpochRecord, LogStore } from '../store/index.js'

/**
 * Epochs in the log service (DESIGN.md §2.6, docs/epochs.md): a member
 * proposes a checkpoint when the live document holds `threshold` events,
 * signs every proposal whose cut it folds to the same digest, and switches
 * when a proposal is final: the next live fold is the base plus every held
 * event outside the cut, the next document holds only those events, and
 * the store keeps the base beside every event.
 *
 * The base at a cut is made from the previous base and the epoch's events
 * in the cut (never the whole history), so computing it costs one epoch.
 */

/** A proposal as this member judged it: the base it folds the cut to, or why not. */
type Judged =
  | { ok: true, bytes: Uint8Array, digest: string, atCut: RingSnapshot, record: EpochRecord }
  | { ok: false, digest: string, ours: string }

export interface EpochsInit {
  self: PeerName
  logger: Logger
  /** Events in the live document that make a member propose a checkpoint; 0: never. */
  threshold: number
  store: () => LogStore
  ring: () => OwnershipRing
  doc: () => EventLog
  /** Signs and adopts a checkpoint event (the log service's own append). */
  sign: (body: CheckpointBody) => Promise<void>
  /** Puts the next epoch's fold and document in place (the replica). */
  switchTo: (next: { ring: OwnershipRing, doc: EventLog, record: EpochRecord, base: Uint8Array }) => Promise<void>
  /** Said once the switch is recorded here: peers must hear of it. */
  switched: (epoch: number) => void
}

/** What `status` and `check` say of epochs. */
export interface EpochStatus {
  /** The epoch the live document belongs to (0 before the first checkpoint). */
  readonly epoch: number
  /** The checkpoint waiting to be final, if any: the members it waits for, since when (ms). */
  readonly waiting?: { readonly epoch: number, readonly key: string, readonly for: readonly PeerName[], readonly since: number }
  /** Proposals whose digest differs from what this member folds their cut to: a bug or an attack, never adopted. */
  readonly mismatches: ReadonlyArray<{ readonly key: string, readonly signers: readonly PeerName[], readonly digest: string, readonly ours: string }>
}

export class Epochs {
  /** The checkpoint the live document starts at (undefined: the genesis). */
  current: EpochRecord | undefined
  private readonly init: EpochsInit
  private readonly log: Logger
  private readonly judged = new Map<string, Judged>()
  private waiting: EpochStatus['waiting']

  constructor (init: EpochsInit, current: EpochRecord | undefined) {
    this.init = init
    this.log = init.logger
    this.current = current
  }

  get epoch (): number { return this.current?.epoch ?? 0 }

  /** The service switched to a peer's epoch (a catch-up): forget what was judged for the old one. */
  switched (record: EpochRecord): void {
    this.current = record
    this.judged.clear()
    this.waiting = undefined
  }

  /** The live document as an epoch's (undefined: the first, from the genesis). */
  get root (): EpochRoot | undefined { return rootOf(this.current) }

  status (): EpochStatus {
    const mismatches = [...this.judged].flatMap(([key, j]) => j.ok ? [] : [{ key, signers: this.signersOf(key), digest: j.digest, ours: j.ours }])
    return { epoch: this.epoch, ...(this.waiting !== undefined ? { waiting: this.waiting } : {}), mismatches }
  }

  private signersOf (key: string): PeerName[] {
    return this.init.ring().snapshot().checkpoints.find(p => p.key === key)?.signers.slice() ?? []
  }

  /**
   * After every adoption (in the log service's serial turn): judge and sign
   * the proposals of the next epoch, propose one when the document is full,
   * and switch once one is final.
   */
  async afterAdoption (): Promise<void> {
    if (this.init.threshold <= 0) return
    const next = this.epoch + 1
    let snap = this.init.ring().snapshot()
    const me = snap.peers.find(p => p.name === this.init.self)
    const live = me !== undefined && me.member && me.removed === undefined && !snap.readOnly
    for (const p of snap.checkpoints) {
      if (p.epoch !== next) continue
      const j = this.judge(p)
      if (j?.ok === true && live && !p.signers.includes(this.init.self)) {
        await this.init.sign({ epoch: next, cut: [...p.cut], digest: p.digest })
        this.log.info(`signed checkpoint ${p.key.slice(0, 12)} ending epoch ${p.epoch - 1}`)
      }
    }
    snap = this.init.ring().snapshot()
    const signedOne = snap.checkpoints.some(p => p.epoch === next && p.signers.includes(this.init.self))
    if (live && !signedOne && this.documentEvents() >= this.init.threshold) {
      const cut = this.init.ring().causal.heads().map(h => h.id).sort()
      const base = this.baseAt(cut)
      if (base !== undefined) {
        this.judged.set(checkpointKey(next, cut, base.digest), { ok: true, ...base })
        await this.init.sign({ epoch: next, cut, digest: base.digest })
        this.log.info(`proposed checkpoint ${base.record.key.slice(0, 12)} ending epoch ${next - 1} at ${this.documentEvents()} events`)
      }
      snap = this.init.ring().snapshot()
    }
    await this.settle(snap, next)
  }

  /** Switches when a proposal of the next epoch is final; otherwise notes whom it waits for. */
  private async settle (snap: RingSnapshot, next: number): Promise<void> {
    const finals: CheckpointSnapshot[] = []
    let waiting: EpochStatus['waiting']
    for (const p of snap.checkpoints) {
      if (p.epoch !== next) continue
      const j = this.judged.get(p.key)
      if (j?.ok !== true) continue
      const f = finality(p, j.atCut, snap)
      if (f.final) finals.push(p)
      else if (waiting === undefined || f.waitingFor.length < waiting.for.length) waiting = { epoch: p.epoch - 1, key: p.key, for: f.waitingFor, since: p.since }
    }
    this.waiting = waiting
    const chosen = chooseFinal(finals)
    if (chosen !== undefined) await this.switchTo(chosen)
  }

  /** Folds a proposal's cut once (when all of it is held) and remembers the verdict. */
  private judge (p: CheckpointSnapshot): Judged | undefined {
    const had = this.judged.get(p.key)
    if (had !== undefined) return had
    const base = this.baseAt(p.cut)
    if (base === undefined) return undefined
    const j: Judged = base.digest === p.digest ? { ok: true, ...base } : { ok: false, digest: p.digest, ours: base.digest }
    if (!j.ok) this.log.warn(`checkpoint ${p.key.slice(0, 12)} by ${p.signers.join(', ')} names digest ${p.digest.slice(0, 12)} for its cut, which folds to ${base.digest.slice(0, 12)} here: not signed, not adopted`)
    this.judged.set(p.key, j)
    return j
  }

  /** Events in the live document: its changes but the skeleton and the first (the genesis, or the epoch's root). */
  private documentEvents (): number {
    return this.init.doc().changeCount - 2
  }

  /**
   * The base at `cut` (sorted head ids), from the previous base and the
   * events of the cut's past since; undefined while some head is not held.
   */
  private baseAt (cut: readonly EventId[]): { bytes: Uint8Array, digest: string, atCut: RingSnapshot, record: EpochRecord } | undefined {
    const ring = this.init.ring()
    const heads = cut.map(id => ring.causal.get(id))
    if (heads.some(h => h === undefined)) return undefined
    const cutVv = ring.causal.mergedVv(heads as NonNullable<typeof heads[number]>[])
    const prev = this.current
    const prevBase = prev === undefined ? undefined : this.init.store().getBase(prev.epoch)
    if (prev !== undefined && prevBase === undefined) throw new Error(`the store has no base for epoch ${prev.epoch}`)
    const at = prevBase !== undefined ? OwnershipRing.fromBase(prevBase) : new OwnershipRing(ring.clusterId, ring.forks)
    for (const n of [...ring.causal.nodes].sort(compareTopological)) {
      if (!ring.causal.vvHasSeen(cutVv, n)) continue
      if (n.author < 0) { if (prevBase === undefined) at.apply(n.signed); continue }
      if (n.seq <= (prev?.seqBase[ring.causal.peers[n.author]!] ?? 0)) continue
      at.apply(n.signed)
    }
    if (prev !== undefined) at.compactBelow(at.causal.mergedVv(prev.cut.map(id => at.causal.get(id)!)))
    const bytes = at.encodeBase()
    const digest = baseDigest(bytes)
    const seqBase: Record<PeerName, number> = {}
    ring.causal.peers.forEach((name, p) => { if ((cutVv[p] ?? 0) > 0) seqBase[name] = cutVv[p]! })
    const floor = prev === undefined ? 0 : Math.max(0, ...prev.cut.map(id => ring.causal.get(id)?.lamport ?? 0))
    const record: EpochRecord = { epoch: this.epoch + 1, key: checkpointKey(this.epoch + 1, cut, digest), digest, cut: [...cut], seqBase, floor }
    return { bytes, digest, atCut: at.snapshot(), record }
  }

  private async switchTo (p: CheckpointSnapshot): Promise<void> {
    const j = this.judged.get(p.key)
    if (j?.ok !== true) return
    const ring = this.init.ring()
    const cutVv = ring.causal.mergedVv(p.cut.map(id => ring.causal.get(id)!))
    const outside = [...ring.causal.nodes].filter(n => !ring.causal.vvHasSeen(cutVv, n)).sort(compareTopological).map(n => n.signed)
    const next = OwnershipRing.fromBase(j.bytes)
    try {
      for (const e of outside) next.apply(e)
    } catch (err) {
      if (!(err instanceof CausalError)) throw err
      this.log.error(`cannot switch to epoch ${j.record.epoch}: ${err.message}`)
      return
    }
    const doc = EventLog.rebuild(this.init.self, outside, ring.forks, undefined, rootOf(j.record))
    await this.init.switchTo({ ring: next, doc, record: j.record, base: j.bytes })
    this.current = j.record
    this.judged.clear()
    this.waiting = undefined
    this.init.switched(j.record.epoch)
    this.log.info(`epoch ${j.record.epoch} began at checkpoint ${p.key.slice(0, 12)}, signed by ${p.signers.length}: the live document holds ${outside.length} events`)
  }
}

export function rootOf (rec: EpochRecord | undefined): EpochRoot | undefined {
  return rec === undefined ? undefined : { key: rec.key, seqBase: new Map(Object.entries(rec.seqBase)) }
}

/**
 * The live fold of a store that switched epochs: the base, then every stored
 * event outside its cut (read from the floor up, so two epochs at most).
 */
export function foldFromBase (store: LogStore, rec: EpochRecord): OwnershipRing {
  const base = store.getBase(rec.epoch)
  if (base === undefined) throw new Error(`the store has epoch ${rec.epoch} but not its base; the data dir is damaged`)
  const ring = OwnershipRing.fromBase(base)
  const events: SignedEvent[] = []
  for (const e of store.eventsInOrder({ fromLamport: rec.floor })) {
    if (ring.has(e.id)) continue
    const signed = decodeEvent(e.bytes, { verifier: null, trusted: true, expectedId: e.id })
    const ev = signed.event
    if (ev.kind === 'genesis' || ev.seq <= (rec.seqBase[ev.author] ?? 0)) continue
    events.push(signed)
  }
  for (const e of events) ring.apply(e)
  return ring
}
