import { WeftError } from '../../crdt/errors.js'
/**
 * Address allocation (DESIGN.md §3–4, CLI.md): allocations are local to the
 * peer that owns the space, never in the replicated log.
 */

export interface Allocation {
  /** The caller's identifier: a container, a VM, anything. */
  id: string
  /** The subnet asked for, CIDR text (the cluster range when none was given). */
  subnet: string
  /** The address, without prefix. */
  address: string
  /** When it was allocated or claimed (ms). */
  createdAt: number
}

/** What `alloc`, `claim` and `ls` print: ADDRESS/PREFIX, the prefix being the subnet's. */
export function formatAllocation (a: Pick<Allocation, 'address' | 'subnet'>): string {
  return `${a.address}/${a.subnet.split('/')[1] ?? ''}`
}

export type AllocErrorCode =
  | 'bad-request'     // malformed ID, subnet or address
  | 'out-of-range'    // subnet or address outside the cluster range
  | 'not-ready'       // not synced yet (waits first; this is the timeout)
  | 'no-space'        // no free address here and no donor gave any in time
  | 'disputed'        // the address is in disputed space
  | 'removed'         // this peer was removed from the network
  | 'leaving'         // `weft reset` is handing this peer's space over
  | 'read-only'       // the log holds events of a newer format
  | 'owned-elsewhere' // claim: another peer owns the address
  | 'in-use'          // claim: another ID holds the address
  | 'no-cluster'      // not in a cluster yet

export class AllocError extends WeftError<AllocErrorCode> {
  override name = 'AllocError'
}

/** The allocator as the control API sees it. */
export interface AllocatorApi {
  alloc: (id: string, subnet?: string) => Promise<Allocation>
  claim: (id: string, address: string, prefix?: number) => Promise<Allocation>
  /** Frees ID's addresses (or the one given); returns what was freed. Idempotent. */
  release: (id: string, address?: string) => Promise<Allocation[]>
  list: () => Allocation[]
}

/**
 * Durable local allocations. Every write resolves once committed; writes
 * issued in one event-loop turn commit as one transaction (group commit).
 */
export interface AllocationStore {
  all: () => Allocation[]
  write: (puts: Allocation[], deletes: Array<{ subnet: string, id: string }>) => Promise<void>
  /** A consistent copy of the file at `path` (an LMDB backup from this handle's environment). */
  backup: (path: string) => Promise<void>
  close: () => Promise<void>
}
