import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { encodeBye } from '../../node/net/frames.js'
import type { StatusJson } from '../../node/api/types.js'
import { RawSyncClient, syncLegitimately } from '../helpers/raw-sync-client.js'
import { cleanup, WeftPeer } from '../helpers/weft-process.js'
import { waitFor } from '../helpers/wait.js'

/**
 * Text another host chose reaches no terminal and no log line raw (issue
 * 15): before, a hello nickname and a BYE text with escape sequences showed
 * in `weft status connections` as colour, a cleared screen, a window title
 * and a forged `weft: all peers ok READY` line, and weft.log got the same.
 * A raw client sends them; status (text and JSON) and weft.log are read back.
 */

let daemon: WeftPeer
const clients: RawSyncClient[] = []

before(async () => { daemon = await WeftPeer.launch({ nickname: 'victim' }) })
after(async () => {
  await Promise.all(clients.map(async c => { await c.stop().catch(() => {}) }))
  await cleanup()
})

// Colour, clear screen, window title, a carriage return and a forged line, an 8-bit CSI, a bidi override.
const NICKNAME = 'evil\u001b[31m\u001b[2J\u001b]0;pwned\u0007\rweft: all peers ok READY\u009b1m\u202e'
const BYE_CODE = 'bye\u001b[5m'
const BYE_TEXT = 'so long\u001b[2J\r\nweft: all peers ok READY\u0085\u2028end'

/** Any character a terminal or a line-based log would act on, except the newlines that end lines. */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/

async function weft (...args: string[]): Promise<string> {
  const r = await daemon.run(args)
  assert.equal(r.code, 0, r.stderr)
  assert.ok(!RAW_CONTROL.test(r.stdout), `raw control characters in \`weft ${args.join(' ')}\`: ${JSON.stringify(r.stdout)}`)
  assert.ok(!RAW_CONTROL.test(r.stderr))
  return r.stdout
}

test('a hello nickname and a BYE with escape sequences: status and weft.log show them escaped', async () => {
  const cluster = (await daemon.status()).cluster.id!
  const client = await RawSyncClient.connect(daemon.fullAddr, { sortBelow: daemon.name })
  clients.push(client)
  await syncLegitimately(client, { cluster, expectEvents: 2, nickname: NICKNAME })

  const connected = await weft('status', 'connections')
  assert.ok(connected.includes('evil\\x1b[31m\\x1b[2J\\x1b]0;pwned\\x07\\x0dweft: all peers ok READY\\x9b1m\\u{202e}'), connected)
  const json = JSON.parse(await weft('status', 'connections', '--json')) as Pick<StatusJson, 'connections'>
  assert.equal(json.connections.find(c => c.peer === client.name)?.nickname, 'evil\\x1b[31m\\x1b[2J\\x1b]0;pwned\\x07\\x0dweft: all peers ok READY\\x9b1m\\u{202e}')

  await client.sendRaw(encodeBye(BYE_CODE, BYE_TEXT))
  const dropped = await waitFor('the daemon to record the BYE', async () => {
    const s = await daemon.status()
    return s.connections.find(c => c.peer === client.name && c.state === 'dropped')
  })
  assert.equal(dropped.reason, 'bye\\x1b[5m: so long\\x1b[2J\\x0d\\x0aweft: all peers ok READY\\x85\\u{2028}end')
  const text = await weft('status', 'connections')
  assert.ok(text.includes('bye\\x1b[5m: so long\\x1b[2J\\x0d\\x0aweft: all peers ok READY\\x85\\u{2028}end'), text)
  assert.ok(!/^weft: all peers ok/m.test(text), 'no forged line')
  for (const section of [[], ['peers'], ['ipam'], ['--json']]) await weft('status', ...section)

  const log = readFileSync(join(daemon.dataDir, 'weft.log'), 'utf8')
  assert.ok(!RAW_CONTROL.test(log), `raw control characters in weft.log: ${JSON.stringify(log.slice(-2000))}`)
  assert.ok(log.includes(`dropped by ${client.name}: so long\\x1b[2J\\x0d\\x0aweft: all peers ok READY\\x85\\u{2028}end`), log.slice(-2000))
  assert.ok(!/^weft: all peers ok/m.test(log), 'no forged line in the log')
})

test('a hello naming another peer with escapes: the protocol error that names it is escaped too', async () => {
  const client = await RawSyncClient.connect(daemon.fullAddr, { sortBelow: daemon.name })
  clients.push(client)
  await client.sendHello(client.hello({ name: 'forged\u001b[2J\u0007', cluster: (await daemon.status()).cluster.id! }))
  const end = await client.hangUp(10_000)
  assert.equal(end.bye?.code, 'protocol')
  assert.match(end.bye?.message ?? '', /^hello names peer forged\\x1b\[2J\\x07, but the connection is with /)
  await waitFor('the daemon to log the drop', async () => readFileSync(join(daemon.dataDir, 'weft.log'), 'utf8').includes('hello names peer forged\\x1b[2J\\x07') || undefined)
  const log = readFileSync(join(daemon.dataDir, 'weft.log'), 'utf8')
  assert.ok(!RAW_CONTROL.test(log))
  await weft('status', 'connections')
})
