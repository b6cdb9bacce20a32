import { OwnershipRing } from '../crdt/ring/index.js'
import { buildHistory } from './history.js'
import { Session } from 'node:inspector/promises'
import { writeFileSync } from 'node:fs'
const n = Number(process.argv[2] ?? 10000)
let t = performance.now()
const h = buildHistory(n)
console.log('build', n, Math.round(performance.now() - t), 'ms')
const session = new Session()
session.connect()
if (process.env.PROF) { await session.post('Profiler.enable'); await session.post('Profiler.start') }
t = performance.now()
const r = new OwnershipRing(h.genesis.id)
r.apply(h.genesis)
for (const e of h.events) r.apply(e)
const foldMs = performance.now() - t
if (process.env.PROF) { const { profile } = await session.post('Profiler.stop'); writeFileSync('/tmp/fold.cpuprofile', JSON.stringify(profile)) }
t = performance.now()
const s = r.snapshot()
console.log('fold', Math.round(foldMs), 'ms; snapshot', Math.round(performance.now() - t), 'ms; segments', s.segments.length)
