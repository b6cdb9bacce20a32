import { test } from 'node:test'
import assert from 'node:assert/strict'
import { runWeft } from '../helpers/weft-process.js'

/**
 * The README's first command is `npx weft demo`: it must run to the end on
 * a fresh machine. (It broke once when rmpeer's memory of "last seen" began
 * to survive a relaunch, and no test noticed.)
 */
test('weft demo runs the whole story and cleans up', async () => {
  const r = await runWeft(['demo'], {}, 240_000)
  assert.equal(r.code, 0, `${r.stdout.slice(-2000)}\n${r.stderr}`)
  assert.match(r.stdout, /^ {4}524288 IPs taken over from host3$/m)
  assert.match(r.stdout, /That is weft: /)
  assert.equal(r.stderr, '')
})
