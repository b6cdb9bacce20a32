import { randomBytes } from 'node:crypto'
import { parseCidr, type Cidr } from '../packages/netaddr/index.js'
import { createGenesis, ed25519SignerFromSeed, signEvent, type SignedEvent, type Signer } from '../crdt/events/index.js'
import { OwnershipRing } from '../crdt/ring/index.js'

/**
 * Builds a realistic event history for benchmarks: `peers` peers join a
 * cluster founded by the first, then donate space to each other (half of a
 * free block, as the allocator does) until there are `events` events. Each
 * event is authored on the author's up-to-date view, so the history is a
 * chain with occasional fan-in, like a healthy cluster's.
 */
export interface History {
  genesis: SignedEvent
  events: SignedEvent[]
  signers: Signer[]
}

export function buildHistory (events: number, peers = 20, range = '10.0.0.0/8'): History {
  const signers = Array.from({ length: peers }, () => ed25519SignerFromSeed(randomBytes(32)))
  const genesis = createGenesis({ ranges: [parseCidr(range)], seeds: [signers[0]!.author] })
  const ring = new OwnershipRing(genesis.id)
  ring.apply(genesis)
  const out: SignedEvent[] = []
  let time = 1_700_000_000_000
  const append = (signer: Signer, kind: string, body: unknown): SignedEvent => {
    const e = signEvent({ kind, author: signer.author, time: time++, body, ...ring.nextFields(signer.author) } as never, signer)
    ring.apply(e)
    out.push(e)
    return e
  }
  for (const s of signers) append(s, 'join', { nickname: `host${out.length + 1}`, addrs: [] })
  // Track each peer's blocks by prefix length here rather than reading ring
  // snapshots: building the history is not what the benchmarks measure.
  const blocks = new Map<string, Cidr[][]>(signers.map(s => [s.author, Array.from({ length: 33 }, () => [])]))
  const root = parseCidr(range)
  blocks.get(signers[0]!.author)![root.prefix]!.push(root)
  let i = 0
  while (out.length < events) {
    const from = signers[i % peers]!
    const to = signers[(i * 7 + 3) % peers]!
    i++
    if (from === to) continue
    const mine = blocks.get(from.author)!
    const prefix = mine.findIndex(list => list.length > 0)
    if (prefix < 0 || prefix >= 30) continue
    const block = mine[prefix]!.pop()!
    const low: Cidr = { family: 4, first: block.first, prefix: prefix + 1 }
    const high: Cidr = { family: 4, first: block.first + (1n << BigInt(31 - prefix)), prefix: prefix + 1 }
    append(from, 'transfer', { ranges: [high], to: to.author })
    mine[prefix + 1]!.push(low)
    blocks.get(to.author)![prefix + 1]!.push(high)
  }
  return { genesis, events: out.slice(0, events), signers }
}
