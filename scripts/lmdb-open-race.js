#!/usr/bin/env node
// Reproduces the lmdb-js hazard behind node/offline/readable.ts: a process
// that opens an LMDB file read-only while another process commits to it can
// make that commit be lost. Each run commits 400 read-modify-write child
// transactions (a counter +1 each) while a second process keeps opening the
// file read-only, reading and closing it; a run "loses" when the counter ends
// below 400.
//
//   node scripts/lmdb-open-race.js [RUNS=15] [--no-overlapping-sync] [--no-opener]
//
// Seen on a 2-core machine: 14 of 15 runs lost updates with lmdb-js's default
// overlappingSync, 3 of 15 without it, 0 without the opener.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { open } from 'lmdb'

const args = process.argv.slice(2)

if (args[0] === '--opener') {
  // The child: open, read, close, forever (until killed).
  for (;;) {
    const root = open({ path: args[1], compression: false, encoding: 'binary', readOnly: true, maxDbs: 4 })
    root.openDB({ name: 'state', encoding: 'binary' }).get('n')
    await root.close()
  }
}

const runs = Number(args.find(a => /^\d+$/.test(a)) ?? 15)
const overlappingSync = !args.includes('--no-overlapping-sync')
const withOpener = !args.includes('--no-opener')
const COMMITS = 400
let lossy = 0
for (let run = 0; run < runs; run++) {
  const dir = mkdtempSync(join(tmpdir(), 'lmdb-open-race-'))
  const file = join(dir, 'race.mdb')
  const root = open({ path: file, compression: false, encoding: 'binary', maxDbs: 4, ...(overlappingSync ? {} : { overlappingSync: false }) })
  const state = root.openDB({ name: 'state', encoding: 'binary' })
  await root.childTransaction(() => { state.putSync('n', Buffer.from('0')) })
  const opener = withOpener ? spawn(process.execPath, [fileURLToPath(import.meta.url), '--opener', file], { stdio: 'inherit' }) : undefined
  await new Promise(resolve => setTimeout(resolve, 100))
  for (let i = 0; i < COMMITS; i++) {
    await root.childTransaction(() => {
      const n = Number(state.get('n').toString())
      state.putSync('n', Buffer.from(String(n + 1)))
    })
  }
  const got = Number(state.get('n').toString())
  opener?.kill('SIGKILL')
  await root.close()
  rmSync(dir, { recursive: true, force: true })
  if (got !== COMMITS) lossy++
  console.log(`run ${run + 1}/${runs}: ${got} of ${COMMITS} increments kept${got === COMMITS ? '' : '  <- lost updates'}`)
}
console.log(`overlappingSync ${overlappingSync ? 'on' : 'off'}, opener ${withOpener ? 'on' : 'off'}: ${lossy} of ${runs} runs lost updates`)
process.exit(0)
