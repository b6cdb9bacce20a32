#!/usr/bin/env node
// Runs every compiled test file under dist/test with node's test runner.
//
// Node 20 has no glob support in `node --test` and silently runs zero tests when
// given a folder of .ts files, so this script lists the files itself and refuses
// to pass when it finds none. Arguments narrow the run: `npm test -- netaddr`
// runs only files whose path contains "netaddr".
import { readdirSync, statSync, existsSync } from 'node:fs'
import { join, relative } from 'node:path'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = join(fileURLToPath(import.meta.url), '..', '..')
const testDir = join(root, 'dist', 'test')
const polyfill = join(root, 'dist', 'packages', 'polyfill', 'index.js')

function listTests (dir) {
  const out = []
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...listTests(path))
    else if (name.endsWith('.test.js')) out.push(path)
  }
  return out
}

if (!existsSync(testDir)) {
  console.error(`run-tests: ${relative(root, testDir)} does not exist; run "tsc -p ." first`)
  process.exit(1)
}
const filters = process.argv.slice(2)
const files = listTests(testDir).filter(f => filters.length === 0 || filters.some(s => f.includes(s)))
if (files.length === 0) {
  console.error('run-tests: no test files found' + (filters.length > 0 ? ` matching ${filters.join(', ')}` : ''))
  process.exit(1)
}
console.log(`run-tests: ${files.length} test files`)

// Multi-process tests spawn real daemons; on a 2-core machine running files one
// at a time keeps their timing honest. WEFT_TEST_CONCURRENCY overrides.
const concurrency = process.env.WEFT_TEST_CONCURRENCY ?? '1'
const args = ['--enable-source-maps', '--import', polyfill, '--test', `--test-concurrency=${concurrency}`, ...files]
const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], cwd: root })

// Count what the runner reports so a run that executed no test fails loudly.
let tail = ''
child.stdout.on('data', chunk => {
  process.stdout.write(chunk)
  tail = (tail + chunk.toString()).slice(-4096)
})
child.on('exit', (code, signal) => {
  const m = /# tests (\d+)/.exec(tail) ?? /ℹ tests (\d+)/.exec(tail)
  const count = m ? Number(m[1]) : 0
  if (code === 0 && count === 0) {
    console.error('run-tests: the runner reported 0 tests; failing')
    process.exit(1)
  }
  process.exit(code ?? (signal ? 1 : 0))
})
