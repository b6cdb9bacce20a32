/** Text and JSON forms of allocations for `alloc`, `claim`, `release` and `ls`. */
import { formatAllocation, type Allocation } from '../../node/allocator/types.js'
import { parseAddress, type Address } from '../../packages/netaddr/index.js'

/** An allocation as `--json` prints it: the record plus `cidr`, the ADDRESS/PREFIX the text form prints. */
export type AllocationJson = Allocation & { cidr: string }

export function allocationJson (a: Allocation): AllocationJson {
  return { ...a, cidr: formatAllocation(a) }
}

/** By address, numerically (IPv4 before IPv6); then by ID and subnet, so the order is total. */
export function sortAllocations (list: Allocation[]): Allocation[] {
  const keyed = list.map(a => ({ a, addr: addressOrUndefined(a.address) }))
  keyed.sort((x, y) => compareAddresses(x.addr, y.addr) || compareText(x.a.address, y.a.address) ||
    compareText(x.a.id, y.a.id) || compareText(x.a.subnet, y.a.subnet))
  return keyed.map(k => k.a)
}

/** `ls`: one `ID ADDRESS/PREFIX` a line, sorted by address. */
export function formatAllocationList (list: Allocation[]): string {
  return sortAllocations(list).map(a => `${a.id} ${formatAllocation(a)}\n`).join('')
}

function addressOrUndefined (text: string): Address | undefined {
  try {
    return parseAddress(text)
  } catch {
    return undefined // not expected from a daemon; such records sort last, by text
  }
}

function compareAddresses (a: Address | undefined, b: Address | undefined): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? 1 : -1
  if (a.family !== b.family) return a.family - b.family
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0
}

function compareText (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
