import * as fc from 'fast-check'
import type { RangeSet } from '../../packages/netaddr/index.js'
import type { EventId } from '../../crdt/events/index.js'

/**
 * The schedule language of the cluster model (cluster-model.ts): the steps a
 * random schedule is made of, their fast-check arbitraries, and the filters
 * a property puts on them. Every step names peers and choices by plain
 * numbers, read modulo what exists when the step runs, so fast-check can
 * shrink a schedule by dropping steps and the rest still means something.
 */

export const MAX_STEPS = 40

export type Step =
  | { t: 'transfer', by: number, to: number, pick: number, depth: number, sub: number }
  /** `target: -1` means the schedule's favourite victim, so duplicate takeovers are common. */
  | { t: 'takeover', by: number, target: number }
  | { t: 'leave', by: number, heirs: number[], split: number[] }
  /** Settles one open dispute, or with `more` (a bit mask over the others) several at once. */
  | { t: 'resolve', by: number, pick: number, owner: number, removals: number, more: number }
  | { t: 'partition', groups: number[], k: number }
  | { t: 'heal' }
  /**
   * b receives all of a's events; with `group`, all events of every peer in
   * b's partition group. With `strict`, b adopts each batch the way the daemon
   * does (validate the diff, DESIGN.md §3): a batch that would open a dispute
   * is not adopted, and b appends a `conflict` carrying the rival as evidence.
   */
  | { t: 'sync', a: number, b: number, group: boolean, strict: boolean }
  /** A late peer joins; a member joins again under a new nickname (a rename). */
  | { t: 'join', by: number, rename: number }
  /**
   * A deliberately faulty event, to exercise voids: 0 moves a random block it
   * may not own, 1 gives to a peer that never joined, 2 takes over with wrong
   * ranges, 3 leaves without all its space, 4 gives to a peer removed in its view.
   */
  | { t: 'bogus', by: number, kind: number, pick: number, to: number }

export interface ClusterSpec {
  peers: number
  seeds: number
  /** Index of the peer `takeover` steps with `target: -1` go after. */
  favourite: number
  /** How many peers (the last ones, never seeds) have not joined when the schedule starts. */
  late?: number
  steps: Step[]
}

export interface StepFilter {
  /** Peers that author nothing in these steps and that no step targets or names as recipient. */
  exclude?: ReadonlySet<number>
  /** Open disputes these steps must leave alone (by a party id). */
  keepDisputesWith?: ReadonlySet<EventId>
  /**
   * Space whose disputes these steps must not resolve: a resolve overrides
   * the dependents of its parties, so it can reassign space a property is
   * watching (ring-props seed 45489395).
   */
  keepSpace?: RangeSet
}

const step = fc.nat({ max: 1023 })

export function stepArb (): fc.Arbitrary<Step> {
  return fc.oneof(
    { weight: 5, arbitrary: fc.record({ t: fc.constant('transfer' as const), by: step, to: step, pick: step, depth: fc.nat({ max: 3 }), sub: step }) },
    {
      weight: 3,
      arbitrary: fc.record({ t: fc.constant('takeover' as const), by: step, target: fc.oneof({ weight: 2, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: step }) })
    },
    {
      weight: 1,
      arbitrary: fc.record({
        t: fc.constant('leave' as const),
        by: step,
        heirs: fc.array(step, { minLength: 1, maxLength: 3 }),
        split: fc.array(fc.nat({ max: 7 }), { minLength: 1, maxLength: 8 })
      })
    },
    { weight: 4, arbitrary: fc.record({ t: fc.constant('resolve' as const), by: step, pick: step, owner: step, removals: fc.nat({ max: 255 }), more: fc.oneof(fc.constant(0), fc.nat({ max: 255 })) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('partition' as const), groups: fc.array(fc.nat({ max: 2 }), { minLength: 8, maxLength: 8 }), k: fc.integer({ min: 2, max: 3 }) }) },
    { weight: 1, arbitrary: fc.constant({ t: 'heal' as const }) },
    { weight: 8, arbitrary: fc.record({ t: fc.constant('sync' as const), a: step, b: step, group: fc.nat({ max: 3 }).map(x => x === 0), strict: fc.boolean() }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('join' as const), by: step, rename: fc.nat({ max: 3 }) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('bogus' as const), by: step, kind: fc.nat({ max: 4 }), pick: step, to: step }) }
  )
}

export function stepsArb (opts: { minLength?: number, maxLength?: number } = {}): fc.Arbitrary<Step[]> {
  return fc.array(stepArb(), { minLength: opts.minLength ?? 0, maxLength: Math.min(opts.maxLength ?? MAX_STEPS, MAX_STEPS), size: 'max' })
}

export function clusterSpecArb (opts: { minPeers?: number, maxPeers?: number, maxSteps?: number } = {}): fc.Arbitrary<ClusterSpec> {
  const minPeers = opts.minPeers ?? 2
  const maxPeers = opts.maxPeers ?? 8
  return fc.integer({ min: minPeers, max: maxPeers }).chain(peers => fc.record({
    peers: fc.constant(peers),
    seeds: fc.integer({ min: 1, max: Math.min(peers, 3) }),
    steps: stepsArb({ maxLength: opts.maxSteps ?? MAX_STEPS })
  }).chain(spec => fc.record({
    peers: fc.constant(spec.peers),
    seeds: fc.constant(spec.seeds),
    // Mostly a seed: a victim that owns space makes duplicate takeovers collide.
    favourite: fc.oneof({ weight: 2, arbitrary: fc.nat({ max: spec.seeds - 1 }) }, { weight: 1, arbitrary: fc.nat({ max: peers - 1 }) }),
    late: fc.nat({ max: Math.min(2, peers - spec.seeds) }),
    steps: fc.constant(spec.steps)
  })))
}
