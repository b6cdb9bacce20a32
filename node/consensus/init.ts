import { parseCidr } from '../../packages/netaddr/index.js'
import { createGenesis, type EventId, type PeerName } from '../../crdt/events/index.js'
import { comparePeerNames } from '../../crdt/events/peer-id.js'
import type { InitMode } from '../config.js'
import type { Hello, HelloInit } from '../log-service/types.js'

/**
 * How a peer with no cluster gets one (DESIGN.md §3.1, `--init`): what its
 * hello says about that, and which peers it refuses to talk to while it
 * waits (another consensus group, or a cluster its seeds did not make).
 */

/** The genesis id that `--init seed=…` over `range` makes: every seed computes the same one. */
export function seededClusterId (range: string, seeds: PeerName[]): EventId {
  return createGenesis({ ranges: [parseCidr(range)], seeds: [...new Set(seeds)].sort(comparePeerNames) }).id
}

export function helloInit (init: InitMode, range: string): HelloInit {
  switch (init.mode) {
    case 'consensus': return { mode: 'consensus', n: init.n, range }
    case 'seed': return { mode: 'seed', cluster: seededClusterId(range, init.seeds) }
    case 'observer': return { mode: 'observer' }
    case 'founder': return { mode: 'founder' }
  }
}

export function describeInit (init: HelloInit): string {
  switch (init.mode) {
    case 'consensus': return `--init consensus=${init.n} over ${init.range}`
    case 'seed': return `--init seed=… (cluster ${init.cluster})`
    case 'observer': return '--init observer'
    case 'founder': return 'no --init (founder)'
  }
}

/**
 * Why a peer waiting for a cluster refuses `remote`, or undefined. Both
 * values are named, so either operator can see which side to relaunch.
 */
export function initRefusal (ours: HelloInit | undefined, remote: Hello): string | undefined {
  if (ours === undefined) return undefined
  const who = `peer ${remote.peer.name} (${remote.peer.nickname})`
  if (ours.mode === 'consensus' && remote.cluster === undefined && remote.init?.mode === 'consensus') {
    if (remote.init.n !== ours.n || remote.init.range !== ours.range) {
      return `${who} was launched with ${describeInit(remote.init)}, this peer with ${describeInit(ours)}: relaunch one of them with the other's value`
    }
  }
  if (ours.mode === 'seed' && remote.cluster !== undefined && remote.cluster !== ours.cluster) {
    return `${who} belongs to cluster ${remote.cluster}, but this peer was seeded into cluster ${ours.cluster} (${describeInit(ours)})`
  }
  return undefined
}

/** Whether `hello` comes from a voter of our consensus group that still has no cluster. */
export function isVoterOf (ours: HelloInit, hello: Hello | undefined): boolean {
  return ours.mode === 'consensus' && hello !== undefined && hello.cluster === undefined &&
    hello.init?.mode === 'consensus' && hello.init.n === ours.n && hello.init.range === ours.range
}
