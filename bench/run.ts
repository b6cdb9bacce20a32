// The polyfill stays the first import of every entry point (packages/polyfill/README.md).
import '../packages/polyfill/index.js'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { formatTable, type BenchResult } from './harness.js'

/**
 * Runs every bench module in sequence and reports:
 *   npm run bench                 all modules
 *   npm run bench -- events       only modules whose path contains "events"
 * Prints a table, then the results as JSON, also merged into dist/bench-results.json
 * (a run of some modules replaces only their groups' results).
 */

const MODULES = ['./events.js', './crdt.js', './store.js', './daemon.js', './alloc.js', './offline.js', './cli.js', './net.js', './flood.js', './forks.js', './scale.js', './epochs.js']

interface BenchModule { run: () => Promise<BenchResult[]> }

function previousResults (path: string): Array<BenchResult & { measuredAt?: string }> {
  try {
    const prev = JSON.parse(readFileSync(path, 'utf8')) as { date?: string, results?: Array<BenchResult & { measuredAt?: string }> }
    return (prev.results ?? []).map(r => ({ ...r, measuredAt: r.measuredAt ?? prev.date }))
  } catch {
    return []
  }
}

async function main (): Promise<void> {
  const filters = process.argv.slice(2)
  const selected = MODULES.filter(m => filters.length === 0 || filters.some(f => m.includes(f)))
  if (selected.length === 0) {
    console.error(`bench: no module matches ${filters.join(', ')} (have ${MODULES.join(', ')})`)
    process.exitCode = 1
    return
  }
  const results: BenchResult[] = []
  for (const path of selected) {
    const started = Date.now()
    console.error(`bench: ${path} ...`)
    const mod = await import(path) as BenchModule
    results.push(...await mod.run())
    console.error(`bench: ${path} done in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  }
  console.log(formatTable(results))
  console.log()
  const json = JSON.stringify({ node: process.version, date: new Date().toISOString(), results }, null, 2)
  console.log(json)
  // dist/bench/run.js → dist/bench-results.json. A run of some groups keeps
  // the other groups' last results (each result says when it was measured).
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench-results.json')
  mkdirSync(dirname(out), { recursive: true })
  const date = new Date().toISOString()
  const groups = new Set(results.map(r => r.group))
  const kept = previousResults(out).filter(r => !groups.has(r.group))
  writeFileSync(out, JSON.stringify({ node: process.version, date, results: [...kept, ...results.map(r => ({ ...r, measuredAt: date }))] }, null, 2) + '\n')
  console.error(`bench: wrote ${out}`)
}

await main()
