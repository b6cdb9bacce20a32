import { NO_FORKS } from '../../crdt/causal/index.js'
import { createGenesis, ed25519SignerFromSeed, signEvent, type SignedEvent } from '../../crdt/events/index.js'
import { EventLog } from '../../crdt/log/index.js'
import { OwnershipRing } from '../../crdt/ring/index.js'
import { toStored } from '../../node/log-service/persistence.js'
import { STORE_FORMAT } from '../../node/store/index.js'
import { parseCidr } from '../../packages/netaddr/index.js'
import type { World } from './world.js'

/**
 * Writes an already formed cluster onto every host's disk, as if each had
 * founded or joined it and synced: a genesis seeded by host 0 over `range`
 * and every host's signed join (with its memory address). Forming 1,000
 * peers by sync would replay a million adoptions before a scale study could
 * start; a relaunch from this disk is the same state, reached at once.
 */
export function preformCluster (world: World, range: string): SignedEvent[] {
  const first = world.hosts[0]!
  const genesis = createGenesis({ ranges: [parseCidr(range)], seeds: [first.name] })
  const ring = new OwnershipRing(genesis.id)
  ring.apply(genesis)
  const events: SignedEvent[] = [genesis]
  const time = world.clock.now()
  for (const h of world.hosts) {
    const signer = ed25519SignerFromSeed(h.seed)
    // One after another, each on the last: a quiet cluster has one head, not one per peer.
    const join = signEvent({ kind: 'join', author: h.name, time, body: { nickname: h.nickname, addrs: [world.addr(h)] }, ...ring.nextFields(h.name) }, signer)
    ring.apply(join)
    events.push(join)
  }
  const doc = EventLog.rebuild(first.name, events, NO_FORKS)
  const full = doc.save()
  const heads = doc.heads()
  doc.close()
  const stored = events.map(toStored)
  for (const h of world.hosts) {
    h.disk.meta = { format: STORE_FORMAT, peer: h.name, clusterId: genesis.id, range, createdAt: time }
    h.disk.docChunks = [full]
    h.disk.docHeads = [...heads]
    h.disk.putEvents(stored)
  }
  return events
}
