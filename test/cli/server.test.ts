import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { request } from 'node:http'
import { createServer as createNetServer } from 'node:net'
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ControlClient, ControlRequestError, NoPeerRunningError } from '../../node/api/client.js'
import { ControlApiError, MAX_BODY_BYTES, startControlServer, type ControlServer } from '../../node/api/server.js'
import { FakeDaemon, fakeStatus } from '../helpers/fake-daemon.js'

const root = mkdtempSync(join(tmpdir(), 'weft-srv-'))
after(() => { rmSync(root, { recursive: true, force: true }) })

/** A raw request: any body bytes, any method; returns status and parsed JSON. */
async function raw (socketPath: string, method: string, path: string, body?: string | Buffer): Promise<{ status: number, json: any }> {
  return await new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) }) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** A socket file nobody listens on, as a daemon killed with -9 leaves it. */
function leaveStaleSocket (path: string): void {
  spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`])
  assert.ok(statSync(path).isSocket())
}

describe('control server', () => {
  const socket = join(root, 'weft.sock')
  const fake = new FakeDaemon(fakeStatus(), { testHooks: true })
  let server: ControlServer
  const client = new ControlClient({ socketPath: socket, dataDir: root })
  before(async () => { server = await startControlServer(socket, fake) })
  after(async () => { await server.close() })

  test('the socket is mode 0600', () => {
    assert.equal(statSync(socket).mode & 0o777, 0o600)
  })

  test('GET /status', async () => {
    assert.deepEqual(await client.status(), fake.statusJson)
  })

  test('POST /connect and /forget pass the peers on', async () => {
    await client.connect(['/ip4/10.0.0.2/tcp/6783'])
    await client.forget(['/dns4/h/tcp/1', '/ip4/10.0.0.3/tcp/6783'])
    assert.deepEqual(fake.calls.slice(-2), [
      { method: 'connect', args: [['/ip4/10.0.0.2/tcp/6783']] },
      { method: 'forget', args: [['/dns4/h/tcp/1', '/ip4/10.0.0.3/tcp/6783']] }
    ])
  })

  test('wrong body types are 400 with a message and code', async () => {
    for (const body of ['{}', '{"peers":[]}', '{"peers":"x"}', '{"peers":[1]}', '{"peers":[""]}', '[]', 'null', '"x"']) {
      const res = await raw(socket, 'POST', '/connect', body)
      assert.equal(res.status, 400, body)
      assert.deepEqual(res.json, { error: { message: 'body must be {"peers": [non-empty strings]}', code: 'bad-request' } })
    }
  })

  test('POST /connect takes only addresses weft can dial: normalised, bounded, and a bad one named with its text escaped', async () => {
    const id = '12D3KooWNxZyy15r7UKr9BoNGKqtBSH3rFC1ntvohJrEXcL5XHf9'
    await client.connect(['10.0.0.7:7000', `/ip4/10.0.0.8/tcp/1/p2p/${id}`])
    assert.deepEqual(fake.calls.at(-1), { method: 'connect', args: [['/ip4/10.0.0.7/tcp/7000', `/ip4/10.0.0.8/tcp/1/p2p/${id}`]] })
    const calls = fake.calls.length
    const bad: Array<[string, RegExp]> = [
      ['garbage-not-a-multiaddr!', /^invalid address "garbage-not-a-multiaddr!": expected HOST, HOST:PORT or a multiaddr$/],
      ['/ip4/10.0.0.1/udp/6783', /expected a multiaddr like \/ip4\|ip6\|dns4\|dns6\|dns\/HOST\/tcp\/PORT\[\/p2p\/ID\]/],
      ['/ip4/127.0.0.1/tcp/1/p2p/notapeerid', /\/p2p\/notapeerid is not a weft peer name/],
      ['/ip4/127.0.0.1/tcp/1/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N', /is not a weft peer name/],
      ['/ip4/127.0.0.1/tcp/0', /port must be 1\.\.65535/],
      ['host\u001b[2J\u001b]0;owned\u0007:1', /^invalid address "host\\x1b\[2J\\x1b\]0;owned\\x07:1": it contains spaces or control characters$/],
      ['/dns4/\u009bevil/tcp/1', /it contains spaces or control characters/],
      ['a'.repeat(5000), /^invalid address "a{80}…": longer than 400 characters$/]
    ]
    for (const [addr, message] of bad) {
      const res = await raw(socket, 'POST', '/connect', JSON.stringify({ peers: ['10.0.0.9', addr] }))
      assert.equal(res.status, 400, addr)
      assert.equal(res.json.error.code, 'invalid-address')
      assert.match(res.json.error.message, message)
      assert.ok(!/[\u0000-\u001f\u007f-\u009f]/.test(res.json.error.message), 'no raw control characters in the answer')
    }
    const many = await raw(socket, 'POST', '/connect', JSON.stringify({ peers: Array.from({ length: 257 }, (_, i) => `10.0.${i >> 8}.${i & 255}`) }))
    assert.equal(many.status, 400)
    assert.equal(many.json.error.message, 'at most 256 addresses at once, got 257')
    // Refused unread: a 413, unless the server's drop of the connection overtakes the answer while the body is still being written.
    const huge = await raw(socket, 'POST', '/connect', JSON.stringify({ peers: Array.from({ length: 30_000 }, (_, i) => `h${i}`) })).catch((err: NodeJS.ErrnoException) => ({ status: err.code, json: null }))
    assert.ok(huge.status === 413 || huge.status === 'EPIPE' || huge.status === 'ECONNRESET', String(huge.status))
    assert.equal(fake.calls.length, calls, 'nothing bad reached the daemon')
    // Forgetting takes any address: it may have been stored before addresses were checked.
    await client.forget(['garbage-not-a-multiaddr!', '10.0.0.7:7000'])
    assert.deepEqual(fake.calls.at(-1), { method: 'forget', args: [['garbage-not-a-multiaddr!', '/ip4/10.0.0.7/tcp/7000']] })
  })

  test('malformed JSON is 400 bad-json', async () => {
    const res = await raw(socket, 'POST', '/connect', '{"peers": [')
    assert.equal(res.status, 400)
    assert.equal(res.json.error.code, 'bad-json')
    assert.match(res.json.error.message, /^malformed JSON body: /)
  })

  test('a body over 1 MiB is 413', async () => {
    const res = await raw(socket, 'POST', '/connect', Buffer.alloc(MAX_BODY_BYTES + 1, 0x20))
    assert.equal(res.status, 413)
    assert.equal(res.json.error.code, 'payload-too-large')
    // The server is still fine afterwards.
    assert.equal((await client.status()).events, 12)
  })

  test('unknown route 404, wrong method 405', async () => {
    const missing = await raw(socket, 'GET', '/nope')
    assert.equal(missing.status, 404)
    assert.deepEqual(missing.json, { error: { message: 'not found: GET /nope', code: 'not-found' } })
    const wrong = await raw(socket, 'POST', '/status')
    assert.equal(wrong.status, 405)
    assert.equal(wrong.json.error.code, 'method-not-allowed')
    assert.equal((await raw(socket, 'GET', '/test/%E0%A4%A')).status, 400)
  })

  test('daemon errors become JSON errors; typed ones keep their status', async () => {
    fake.failWith = new ControlApiError('invalid multiaddr "x"', 'bad-addr', 422)
    await assert.rejects(client.connect(['x']), (err: unknown) => {
      assert.ok(err instanceof ControlRequestError)
      assert.equal(err.message, 'invalid multiaddr "x"')
      assert.equal(err.code, 'bad-addr')
      assert.equal(err.status, 422)
      return true
    })
    fake.failWith = new Error('disk on fire')
    const res = await raw(socket, 'POST', '/forget', '{"peers":["a"]}')
    assert.equal(res.status, 500)
    assert.deepEqual(res.json, { error: { message: 'disk on fire', code: 'internal' } })
    delete fake.failWith
  })

  test('GET /wait-ready: ready, not ready at the timeout, woken early, bad timeout', async () => {
    assert.deepEqual(await client.waitReady(1000), { ready: true })
    fake.ready = false
    const started = Date.now()
    assert.deepEqual(await client.waitReady(200), { ready: false, reason: 'waiting for a cluster' })
    assert.ok(Date.now() - started >= 190)
    const pending = client.waitReady(10_000)
    setTimeout(() => { fake.setReady() }, 50)
    assert.deepEqual(await pending, { ready: true })
    for (const bad of ['x', '-1', '']) {
      const res = await raw(socket, 'GET', `/wait-ready?timeout=${bad}`)
      assert.equal(res.status, 400, bad)
    }
  })

  test('wait-ready caps one long-poll at 10 minutes', async () => {
    fake.ready = true
    await raw(socket, 'GET', '/wait-ready?timeout=99999999')
    assert.deepEqual(fake.calls.at(-1), { method: 'waitReady', args: [600_000] })
  })

  test('POST /test/:name reaches the hook with its body', async () => {
    assert.deepEqual(await client.testHook('block peer', { peer: 'x' }), { hook: 'block peer', body: { peer: 'x' } })
    const res = await raw(socket, 'POST', '/test/fail', '{}')
    assert.equal(res.status, 500)
    assert.equal(res.json.error.message, 'hook failed on purpose')
  })

  test('POST /stop answers, then the daemon stops', async () => {
    assert.deepEqual(await client.request('POST', '/stop'), { stopping: true })
    assert.deepEqual(fake.calls.at(-1), { method: 'stop', args: [] })
  })
})

describe('control server lifecycle', () => {
  test('no test hook: /test/* is 404', async () => {
    const socket = join(root, 'nohooks.sock')
    const server = await startControlServer(socket, new FakeDaemon())
    try {
      const res = await raw(socket, 'POST', '/test/anything', '{}')
      assert.equal(res.status, 404)
      assert.equal(res.json.error.code, 'not-found')
    } finally {
      await server.close()
    }
    assert.equal(existsSync(socket), false, 'close removes the socket file')
  })

  test('a stale socket file is replaced; a live one is refused', async () => {
    const socket = join(root, 'stale.sock')
    const live = createNetServer()
    await new Promise<void>(resolve => live.listen(socket, resolve))
    await assert.rejects(startControlServer(socket, new FakeDaemon()), /^Error: a control server already answers on .*stale\.sock$/)
    await new Promise<void>(resolve => { live.close(() => { resolve() }) })
    leaveStaleSocket(socket)
    const server = await startControlServer(socket, new FakeDaemon())
    assert.equal((await new ControlClient({ socketPath: socket, dataDir: root }).status()).events, 12)
    await server.close()
  })

  test('a regular file in the way is refused', async () => {
    const path = join(root, 'file.sock')
    writeFileSync(path, 'x')
    await assert.rejects(startControlServer(path, new FakeDaemon()), /exists and is not a socket/)
  })

  test('close ends a long-poll in flight within the grace period', async () => {
    const socket = join(root, 'grace.sock')
    const fake = new FakeDaemon()
    fake.ready = false
    const server = await startControlServer(socket, fake)
    const client = new ControlClient({ socketPath: socket, dataDir: root })
    const pending = client.waitReady(60_000).catch((err: Error) => err)
    await new Promise(resolve => setTimeout(resolve, 50))
    const started = Date.now()
    await server.close()
    assert.ok(Date.now() - started < 3000)
    assert.ok((await pending) instanceof ControlRequestError)
  })
})

describe('control client errors', () => {
  test('no socket: "no peer running in DIR"', async () => {
    const client = new ControlClient({ socketPath: join(root, 'absent.sock'), dataDir: '/some/dir' })
    await assert.rejects(client.status(), (err: unknown) => {
      assert.ok(err instanceof NoPeerRunningError)
      assert.equal(err.message, 'no peer running in /some/dir')
      return true
    })
  })

  test('a socket nobody listens on: "no peer running in DIR"', async () => {
    const socket = join(root, 'dead.sock')
    leaveStaleSocket(socket)
    await assert.rejects(new ControlClient({ socketPath: socket, dataDir: 'D' }).status(), /^NoPeerRunningError: no peer running in D$/)
  })

  test('a server that never answers: a timeout naming the request', async () => {
    const socket = join(root, 'mute.sock')
    const mute = createNetServer(() => {})
    await new Promise<void>(resolve => mute.listen(socket, resolve))
    try {
      const client = new ControlClient({ socketPath: socket, dataDir: 'D', timeoutMs: 100 })
      await assert.rejects(client.status(), /^ControlRequestError: the peer in D did not answer GET \/status within 0\.1s$/)
    } finally {
      mute.close()
    }
  })
})
