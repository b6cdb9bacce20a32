/**
 * Generates the log document's skeleton: one change that creates the
 * `events` map and its 16×16×16 bucket maps. Run once; the output is
 * committed in crdt/log/skeleton.ts and pinned by a test. Never regenerate
 * it for a running network: another Automerge version could produce other
 * bytes, and two skeletons make two `events` maps whose events hide each
 * other (DESIGN.md §2.5).
 *
 *   npx tsc -p . && node dist/scripts/gen-skeleton.js
 */
import { createHash } from 'node:crypto'
import * as A from '@automerge/automerge'

const HEX = '0123456789abcdef'
let doc = A.init<{ events: Record<string, unknown> }>({ actor: '00'.repeat(16) })
doc = A.change(doc, { time: 0 }, d => {
  const events: Record<string, Record<string, Record<string, Record<string, never>>>> = {}
  for (const a of HEX) {
    const level1: Record<string, Record<string, Record<string, never>>> = {}
    for (const b of HEX) {
      const level2: Record<string, Record<string, never>> = {}
      for (const c of HEX) level2[c] = {}
      level1[b] = level2
    }
    events[a] = level1
  }
  d.events = events
})
const bytes = A.save(doc)
console.log(JSON.stringify({
  automerge: A.releaseInfo?.() ?? null,
  bytes: bytes.length,
  sha256: createHash('sha256').update(bytes).digest('hex'),
  changeHash: A.getHeads(doc)[0],
  base64: Buffer.from(bytes).toString('base64')
}, null, 2))
