// The polyfill stays the first import of every entry point (packages/polyfill/README.md).
import '../../packages/polyfill/index.js'
import { createInterface } from 'node:readline'
import { Store } from '../../node/store/index.js'
import { burstAdoption } from './store-fixtures.js'

/**
 * Writes burst adoptions 0, 1, 2, … into DATA_DIR and prints `ack N` once
 * adoption N's promise resolved; the parent SIGKILLs it mid-burst.
 *   node store-writer-child.js DATA_DIR MODE COUNT [wait]
 * With `wait`, it opens the store, prints `ready`, and writes once it reads `go`.
 * MODE: seq (await each adopt), durable (await each adoptDurable),
 *       group (8 adopts issued in one turn, so one LMDB transaction).
 * stdout is a pipe, and pipe writes are synchronous on Linux: an `ack` the
 * parent reads was printed after the commit, never before.
 */
const [dir, mode = 'seq', countText = '100000', wait] = process.argv.slice(2)
if (dir === undefined) throw new Error('usage: store-writer-child DATA_DIR [seq|durable|group] [COUNT] [wait]')
const count = Number(countText)
const store = Store.open(dir)
const ack = (n: number): void => { process.stdout.write(`ack ${n}\n`) }
process.stdout.write('ready\n')
if (wait === 'wait') {
  // Start writing only on a `go` line, once the parent has set up whatever must watch.
  for await (const line of createInterface({ input: process.stdin })) if (line === 'go') break
}

let n = 0
while (n < count) {
  if (mode === 'group') {
    const batch = Array.from({ length: Math.min(8, count - n) }, (_, i) => n + i)
    await Promise.all(batch.map(async i => { await store.adopt(burstAdoption(i)); ack(i) }))
    n += batch.length
  } else {
    await (mode === 'durable' ? store.adoptDurable(burstAdoption(n)) : store.adopt(burstAdoption(n)))
    ack(n++)
  }
}
await store.close()
process.stdout.write('done\n')
