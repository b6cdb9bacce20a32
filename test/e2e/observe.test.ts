import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { request } from 'node:http'
import { cleanup, WEFT_BIN, WeftPeer } from '../helpers/weft-process.js'
import { waitFor } from '../helpers/wait.js'

/** Watching a running peer (issues 6 and 9): GET /metrics and `weft history --follow`. */

after(async () => { await cleanup() })

function get (socketPath: string, path: string): Promise<{ status: number, type: string, body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET' }, res => {
      let body = ''
      res.on('data', (c: Buffer) => { body += c.toString() })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }) })
    })
    req.on('error', reject)
    req.end()
  })
}

const metric = (text: string, name: string): number | undefined => {
  const line = text.split('\n').find(l => l.startsWith(name + ' ') || l.startsWith(name + '{'))
  return line === undefined ? undefined : Number(line.split(' ').pop())
}

test('GET /metrics answers Prometheus text with events, disputes, peers, sync rounds, bytes and timings', async () => {
  const a = await WeftPeer.launch({ nickname: 'met1' })
  const b = await WeftPeer.launch({ nickname: 'met2', peers: [a.addr] })
  await waitFor('the two to sync', async () => (await a.status()).events === 3 && (await b.status()).events === 3)
  await b.testHook('append', { kind: 'join', body: { nickname: 'met2', addrs: [] } })
  await waitFor('a to adopt it', async () => (await a.status()).events === 4)
  const socket = a.client.socketPath
  const m = await waitFor('metrics with the adoption', async () => {
    const r = await get(socket, '/metrics')
    return metric(r.body, 'weft_events') === 4 ? r : undefined
  })
  assert.equal(m.status, 200)
  assert.match(m.type, /^text\/plain; version=0\.0\.4/)
  assert.equal(metric(m.body, 'weft_peers_connected'), 1)
  assert.equal(metric(m.body, 'weft_disputes_open'), 0)
  assert.ok((metric(m.body, 'weft_sync_messages_received_total{outcome="adopted"}') ?? 0) >= 1)
  assert.ok((metric(m.body, 'weft_sync_bytes_received_total') ?? 0) > 0)
  assert.ok((metric(m.body, 'weft_sync_bytes_sent_total') ?? 0) > 0)
  assert.ok((metric(m.body, 'weft_receive_validate_seconds_count') ?? 0) >= 1)
  assert.ok((metric(m.body, 'weft_receive_merge_seconds_count') ?? 0) >= 1)
  assert.equal(metric(m.body, 'weft_addresses_owned'), 1048576)
})

test('weft history --follow prints the log, then new events as they arrive', async () => {
  const a = await WeftPeer.launch({ nickname: 'fol1' })
  const b = await WeftPeer.launch({ nickname: 'fol2', peers: [a.addr] })
  await waitFor('the two to sync', async () => (await a.status()).events === 3)
  const child = spawn(process.execPath, [WEFT_BIN, 'history', '--follow', '--json', '--data-dir', a.dataDir], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  try {
    await waitFor('the history so far', () => out.split('\n').filter(l => l.trim() !== '').length >= 3)
    const t = await b.testHook('append', { kind: 'transfer', body: { ranges: ['10.40.0.0/13'], to: a.name }, allowVoid: true }) as { id: string }
    const r = await a.testHook('append', { kind: 'transfer', body: { ranges: ['10.40.0.0/13'], to: b.name } }) as { id: string }
    const rows = await waitFor('both new events on the stream', () => {
      const parsed = out.split('\n').filter(l => l.trim() !== '').map(l => JSON.parse(l) as { id: string, kind: string, status: string })
      return parsed.some(x => x.id === t.id) && parsed.some(x => x.id === r.id) ? parsed : undefined
    })
    assert.equal(rows.find(x => x.id === r.id)?.kind, 'transfer')
    assert.equal(rows.find(x => x.id === t.id)?.status, 'void', 'b could not give away what it does not own')
  } finally {
    child.kill('SIGINT')
  }
  const code = await new Promise(resolve => child.once('close', resolve))
  assert.equal(code, 0, 'Ctrl-C ends --follow cleanly')
})
