import { RangeSet, type Cidr, type Span } from '../../packages/netaddr/index.js'

/**
 * Which addresses of a subnet may be handed out: all but its network and
 * broadcast addresses (the first and last), for subnets of four or more.
 */
export function hostSpan (subnet: Cidr): Span {
  const bits = subnet.family === 4 ? 32 : 128
  const size = 1n << BigInt(bits - subnet.prefix)
  if (size < 4n) return [subnet.first, subnet.first + size]
  return [subnet.first + 1n, subnet.first + size - 1n]
}

export function hostSet (subnet: Cidr): RangeSet {
  return RangeSet.fromSpans(subnet.family, [hostSpan(subnet)])
}

/**
 * The lowest address in `free` at or after `from` that `taken` does not hold.
 * Walks only as far as the first gap: cost is the number of taken addresses
 * skipped, which a per-subnet cursor keeps small.
 */
export function lowestFree (free: RangeSet, taken: { has: (a: bigint) => boolean }, from: bigint): bigint | undefined {
  for (const [start, end] of free.spans) {
    if (end <= from) continue
    for (let a = start > from ? start : from; a < end; a++) {
      if (!taken.has(a)) return a
    }
  }
  return undefined
}

/**
 * What a donor gives (DESIGN.md §3): half of its biggest free CIDR-aligned
 * block, or the whole block when it is a single address.
 */
export function donation (free: RangeSet): Cidr | undefined {
  const block = free.biggestAlignedBlock()
  if (block === undefined) return undefined
  const bits = block.family === 4 ? 32 : 128
  if (block.prefix >= bits) return block
  // The upper half, as Weave does: the donor keeps the lower addresses, where its own allocations start.
  return { family: block.family, first: block.first + (1n << BigInt(bits - block.prefix - 1)), prefix: block.prefix + 1 }
}
