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
  // Two operators remove host3 at once: exactly one takes it over, the other names the winner.
  assert.equal(r.stdout.match(/^ {4}524288 IPs taken over from host3$/gm)?.length, 1)
  const loser = /^ {4}weft: host3 is being taken over by (host[12]) \(approved by 3 of 4 members\)$/m.exec(r.stdout)
  assert.ok(loser !== null, 'the loser names the winner')
  assert.match(r.stdout, new RegExp(`^\\[${loser[1]!}\\] exit 0$`, 'm'))
  assert.match(r.stdout, /host3 \(removed\) .* taken over by host[12], approved by host\d, host\d, host\d \(3 of 4 members\)$/m)
  // In a minority, rmpeer refuses until forced; the forced takeovers collide and resolve heals it.
  assert.equal(r.stdout.match(/^ {4}weft: host4: only 1 of 3 members is reachable \(this peer; 2 needed to approve taking over host4\)/gm)?.length, 2)
  // The drop names the dispute: flagged in this session, or at hello when both sides already hold their party.
  assert.match(r.stdout, /dropped .* dispute: (dispute [0-9a-f]{64} over |unresolved dispute [0-9a-f]{64}: run `weft resolve )/)
  assert.match(r.stdout, /That is weft: /)
  assert.equal(r.stderr, '')
})
