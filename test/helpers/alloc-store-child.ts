// The polyfill stays the first import of every entry point (packages/polyfill/README.md).
import '../../packages/polyfill/index.js'
import { openAllocationStore } from '../../node/allocator/store.js'
import type { Allocation } from '../../node/allocator/types.js'

/**
 * Writes allocations into DATA_DIR with INFLIGHT writes outstanding at all
 * times and prints `ack N` once write N resolved; the parent SIGKILLs it.
 *   node alloc-store-child.js DATA_DIR [single|batch] [INFLIGHT] [COUNT]
 * single: write N puts allocation N. batch: write N puts BATCH allocations
 * (childAllocation(N * BATCH + k)) and releases the previous batch's first one.
 * (childAllocation is repeated in test/node/alloc-store.test.ts: importing this script would run it.)
 * stdout is a pipe, and pipe writes are synchronous on Linux: an `ack` the
 * parent reads was printed after the commit, never before.
 */
const BATCH = 8

function childAllocation (n: number): Allocation {
  return { id: `c${n}`, subnet: '10.32.0.0/12', address: `10.${32 + ((n >> 16) & 15)}.${(n >> 8) & 255}.${n & 255}`, createdAt: n }
}

const [dir, mode = 'single', inflightText = '16', countText = '1000000'] = process.argv.slice(2)
if (dir === undefined) throw new Error('usage: alloc-store-child DATA_DIR [single|batch] [INFLIGHT] [COUNT]')
const inflight = Number(inflightText)
const count = Number(countText)
const store = openAllocationStore(dir)
process.stdout.write('ready\n')

let next = 0
async function writer (): Promise<void> {
  while (next < count) {
    const n = next++
    if (mode === 'batch') {
      const puts = Array.from({ length: BATCH }, (_, k) => childAllocation(n * BATCH + k))
      const deletes = n === 0 ? [] : [{ subnet: '10.32.0.0/12', id: `c${(n - 1) * BATCH}` }]
      await store.write(puts, deletes)
    } else {
      await store.write([childAllocation(n)], [])
    }
    process.stdout.write(`ack ${n}\n`)
  }
}
await Promise.all(Array.from({ length: inflight }, writer))
await store.close()
process.stdout.write('done\n')
