import { randomBytes } from 'node:crypto'
import { parseCidr, type Cidr } from '../../packages/netaddr/index.js'
import { compareEventsTopological } from '../../crdt/causal/index.js'
import {
  createGenesis, ed25519SignerFromSeed, signEvent, comparePeerNames, type AuthoredEvent, type EventId, type PeerName,
  type SignedEvent, type Signer, type BodyOf } from '../../crdt/events/index.js'
import { OwnershipRing } from '../../crdt/ring/index.js'


/**
 * One simulated peer for crdt tests: a signer, the events it holds and its
 * own fold of them. It authors events on its current view, the way the
 * daemon's writer will, and receives others' events in causal order.
 */
export class SimPeer {
  readonly signer: Signer
  readonly nickname: string
  readonly events = new Map<EventId, SignedEvent>()
  ring: OwnershipRing
  clock = 1_700_000_000_000

  constructor (nickname: string, clusterId: EventId, seed: Uint8Array = randomBytes(32)) {
    this.nickname = nickname
    this.signer = ed25519SignerFromSeed(seed)
    this.ring = new OwnershipRing(clusterId)
  }

  get name (): PeerName { return this.signer.author }

  author<K extends AuthoredEvent['kind']> (kind: K, body: BodyOf<K>): SignedEvent {
    const fields = this.ring.nextFields(this.name)
    const signed = signEvent({ kind, author: this.name, time: this.clock++, body, ...fields } as never, this.signer)
    this.receive([signed])
    return signed
  }

  /** Folds in every event it does not hold yet, in causal (topological) order. */
  receive (events: Iterable<SignedEvent>): void {
    const fresh = [...events].filter(e => !this.events.has(e.id))
    fresh.sort(compareEventsTopological)
    for (const e of fresh) {
      if (this.events.has(e.id)) continue
      this.ring.apply(e)
      this.events.set(e.id, e)
    }
  }

  syncFrom (other: SimPeer): void { this.receive(other.events.values()) }
}

export function cidrs (...text: string[]): Cidr[] { return text.map(t => parseCidr(t)) }

/**
 * A cluster founded by `seeds` peers over `range`; the rest join. Every peer
 * ends up holding every event.
 */
export function makeCluster (nicknames: string[], opts: { range?: string, seeds?: number } = {}): { peers: SimPeer[], genesis: SignedEvent } {
  const seedsCount = opts.seeds ?? 1
  const signers = nicknames.map(() => randomBytes(32))
  const names = signers.map(s => ed25519SignerFromSeed(s).author)
  const seeds = names.slice(0, seedsCount).sort(comparePeerNames)
  const genesis = createGenesis({ ranges: [parseCidr(opts.range ?? '10.32.0.0/12')], seeds })
  const peers = nicknames.map((n, i) => new SimPeer(n, genesis.id, signers[i]))
  for (const p of peers) p.receive([genesis])
  for (const p of peers) {
    p.author('join', { nickname: p.nickname, addrs: [] })
    for (const q of peers) q.syncFrom(p)
  }
  return { peers, genesis }
}
