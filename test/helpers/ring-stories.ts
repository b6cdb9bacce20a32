import assert from 'node:assert/strict'
import { parseCidr, RangeSet, type Cidr } from '../../packages/netaddr/index.js'
import { compareTopological } from '../../crdt/causal/index.js'
import type { EventId, SignedEvent } from '../../crdt/events/index.js'
import { disputeId, OwnershipRing, type RingSnapshot } from '../../crdt/ring/index.js'
import {
  canonicalSnapshot, ClusterModel, firstDifference, foldInOrder, linearExtension, OUTSIDER, tilingProblems, topologicalOrder
} from './cluster-model.js'

/**
 * Shared pieces of the fold's story tests (test/crdt/ring-scenarios*.test.ts):
 * hosts by index, CIDR shorthands, and views of a ClusterModel's snapshots.
 */

export const H1 = 0
export const H2 = 1
export const H3 = 2
export const H4 = 3
export const H5 = 4
export const H6 = 5

export const set = (...cidrs: string[]): RangeSet => RangeSet.fromCidrs(4, cidrs.map(c => parseCidr(c)))
export const list = (...cidrs: string[]): Cidr[] => set(...cidrs).toCidrs()

export function owned (s: RingSnapshot, m: ClusterModel, who: number): RangeSet {
  return s.peers.find(p => p.name === m.name(who))?.owned ?? RangeSet.empty(4)
}

export function removed (s: RingSnapshot, m: ClusterModel, who: number): boolean {
  return s.peers.find(p => p.name === m.name(who))?.removed !== undefined
}

export function openDisputes (s: RingSnapshot): RingSnapshot['disputes'] {
  return s.disputes.filter(d => d.status === 'open')
}

export function verdict (m: ClusterModel, on: number, e: SignedEvent): { status: string, reason?: string } {
  const v = m.peers[on]!.ring.verdict(e.id)
  assert.ok(v !== undefined, `peer ${on + 1} does not hold ${e.id}`)
  return v.reason === undefined ? { status: v.status } : { status: v.status, reason: v.reason }
}

/** Every replica's snapshot. */
export function everywhere (m: ClusterModel): RingSnapshot[] {
  return m.peers.map(p => p.ring.snapshot())
}

/** Folds `events` delivering `first` as early as the deps allow. */
export function foldPreferring (m: ClusterModel, events: SignedEvent[], first: EventId): OwnershipRing {
  return foldInOrder(m.genesis.id, linearExtension(events, ready => Math.max(0, ready.findIndex(e => e.id === first))))
}

/** host1 hands host3 10.0.8.0/21 and host2 10.0.4.0/22; everybody learns of it. */
export function threeHosts (n = 3): ClusterModel {
  const m = new ClusterModel(n, 1)
  m.transfer(H1, H3, list('10.0.8.0/21'))
  m.transfer(H1, H2, list('10.0.4.0/22'))
  m.syncAll()
  return m
}

export { canonicalSnapshot, ClusterModel, firstDifference, foldInOrder, linearExtension, OUTSIDER, tilingProblems, topologicalOrder } from './cluster-model.js'
