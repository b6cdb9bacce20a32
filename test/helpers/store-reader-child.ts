// The polyfill stays the first import of every entry point (packages/polyfill/README.md).
import '../../packages/polyfill/index.js'
import { createInterface } from 'node:readline'
import { Store } from '../../node/store/index.js'
import { verifyBurst } from './store-fixtures.js'

/**
 * Opens DATA_DIR read-only in its own process (beside the test's read-write
 * handle) and, for each `read` line on stdin, prints what it sees as one JSON
 * line; `exit` closes it. It stays open between reads, so it shows that a
 * long-lived reader sees new commits without reopening. `spin` makes it read
 * the whole store on every turn until `exit` (then it prints how many times).
 *   node store-reader-child.js DATA_DIR
 */
const dir = process.argv[2]
if (dir === undefined) throw new Error('usage: store-reader-child DATA_DIR')

function summary (store: Store): Record<string, unknown> {
  // The test grows the file with one big sync state under 'big', beside the burst adoptions.
  const big = store.getSyncState('big')?.length ?? 0
  try {
    const committed = verifyBurst(store, -1)
    return { ok: true, committed, eventCount: store.eventCount(), big, meta: store.getMeta() ?? null }
  } catch (err) {
    return { ok: false, error: (err as Error).message, eventCount: store.eventCount(), big }
  }
}

let store: Store
try {
  store = Store.open(dir, { readOnly: true })
} catch (err) {
  process.stdout.write(JSON.stringify({ ok: false, error: (err as Error).message, code: (err as { code?: string }).code }) + '\n')
  process.exit(1)
}
// `spin`: read the whole store on every turn until `exit`, as a busy offline reader would.
let spinning = false
let spins = 0
const spin = (): void => {
  if (!spinning) return
  summary(store)
  spins++
  setImmediate(spin)
}
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'read') process.stdout.write(JSON.stringify(summary(store)) + '\n')
  else if (line === 'spin') {
    spinning = true
    summary(store)
    process.stdout.write(JSON.stringify({ spinning: true }) + '\n')
    setImmediate(spin)
  } else if (line === 'exit') break
}
spinning = false
process.stdout.write(JSON.stringify({ spins }) + '\n')
await store.close()
process.exit(0) // stdin is still open and would keep the process alive
