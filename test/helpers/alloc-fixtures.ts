import { parseCidr } from '../../packages/netaddr/index.js'
import { createGenesis, ed25519SignerFromSeed } from '../../crdt/events/index.js'
import { OwnershipRing } from '../../crdt/ring/index.js'
import { Allocator } from '../../node/allocator/allocator.js'
import type { Allocation, AllocationStore } from '../../node/allocator/types.js'
import { systemClock } from '../../node/clock.js'
import { silentLogger } from '../../node/logger.js'
import { RingView, ringViewFromSnapshot } from '../../node/ring-view.js'

/**
 * One allocator in one process, for tests of its ordering: a peer that owns a
 * whole /24 alone, and a store whose commits the test releases by hand.
 */

export const self = ed25519SignerFromSeed(new Uint8Array(32).fill(7)).author

/** A cluster founded by `self` alone over 10.0.0.0/24: it owns everything. */
export function soloView (): RingView {
  const genesis = createGenesis({ ranges: [parseCidr('10.0.0.0/24')], seeds: [self] })
  const ring = new OwnershipRing(genesis.id)
  ring.apply(genesis)
  return new RingView(ringViewFromSnapshot(ring.snapshot())!)
}

export interface Write { puts: Allocation[], deletes: Array<{ subnet: string, id: string }>, commit: () => void, fail: (err: Error) => void }

/** Writes wait until the test commits or fails them (or, with `autoCommit`, commit at once). */
export class GatedStore implements AllocationStore {
  readonly writes: Write[] = []
  readonly committed: Allocation[] = []

  constructor (private readonly opts: { autoCommit?: boolean } = {}) {}

  all (): Allocation[] { return [...this.committed] }

  async write (puts: Allocation[], deletes: Array<{ subnet: string, id: string }>): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const w: Write = { puts, deletes, commit: () => { this.committed.push(...puts); resolve() }, fail: reject }
      this.writes.push(w)
      if (this.opts.autoCommit === true) w.commit()
    })
  }

  async backup (): Promise<void> {}
  async close (): Promise<void> {}
}

export function allocator (store: AllocationStore): Allocator {
  const view = soloView()
  return new Allocator({
    self,
    store,
    view: () => view,
    ready: async () => ({ ready: true }),
    space: { request: async () => { throw new Error('no donors in this test') } },
    clock: systemClock,
    logger: silentLogger
  })
}

/** Lets every callback that can run now run (the allocator awaits nothing else here). */
export async function turns (n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise(resolve => setImmediate(resolve))
}

/** Tracks whether a promise has settled, without a timer. */
export function watch<T> (p: Promise<T>): { settled: () => boolean, promise: Promise<T> } {
  let done = false
  p.then(() => { done = true }, () => { done = true })
  return { settled: () => done, promise: p }
}
