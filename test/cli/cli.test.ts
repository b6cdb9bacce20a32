import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildProgram, oneLine } from '../../cli/main.js'
import { weft } from '../helpers/cli-run.js'
import { startControlServer, type ControlServer } from '../../node/api/server.js'
import { FAKE_OTHER, FAKE_PEER, FakeDaemon, fakeStatus } from '../helpers/fake-daemon.js'

const root = mkdtempSync(join(tmpdir(), 'weft-cli-'))
after(() => { rmSync(root, { recursive: true, force: true }) })

describe('commands against a running (fake) daemon', () => {
  const dir = join(root, 'peer1')
  const fake = new FakeDaemon(fakeStatus())
  let server: ControlServer
  before(async () => {
    const { ensureDataDir } = await import('../../node/data-dir.js')
    ensureDataDir(dir)
    server = await startControlServer(join(dir, 'weft.sock'), fake)
  })
  after(async () => { await server.close() })

  test('status (human)', async () => {
    const r = await weft('status', '--data-dir', dir)
    assert.equal(r.code, 0)
    assert.equal(r.err, '')
    assert.match(r.out, new RegExp(`^peer {7}${FAKE_PEER} host1$`, 'm'))
    assert.match(r.out, /^addresses {2}1048576 total, 524288 owned \(50\.0%\)/m)
  })

  test('status --json prints the StatusJson', async () => {
    const r = await weft('status', '--json', '--data-dir', dir)
    assert.equal(r.code, 0)
    const json = JSON.parse(r.out)
    assert.deepEqual(json, fake.statusJson)
    for (const field of ['peer', 'ipam', 'cluster', 'addresses', 'peers', 'conflicts', 'events']) assert.ok(field in json, field)
  })

  test('status sections, human and JSON', async () => {
    const peers = await weft('status', 'peers', '--data-dir', dir)
    assert.match(peers.out, /^NAME +NICKNAME +OWNED +CONNECTED +LAST-SEEN +REMOVED$/m)
    assert.match(peers.out, new RegExp(`^${FAKE_OTHER} +host2 +262144 \\(25\\.0%\\) +yes +now +-$`, 'm'))
    assert.deepEqual(JSON.parse((await weft('status', 'peers', '--json', '--data-dir', dir)).out), { peers: fake.statusJson.peers })
    assert.match((await weft('status', 'ipam', '--data-dir', dir)).out, /^owned +10\.32\.0\.0\/13$/m)
    assert.match((await weft('status', 'connections', '--data-dir', dir)).out, /^host2 +\/ip4\/10\.0\.0\.2\/tcp\/6783 +connected/m)
  })

  test('WEFT_DATA_DIR selects the peer when --data-dir is absent', async () => {
    process.env.WEFT_DATA_DIR = dir
    try {
      assert.equal((await weft('status', '--json')).code, 0)
    } finally {
      delete process.env.WEFT_DATA_DIR
    }
  })

  test('connect and forget convert PEERs and print nothing', async () => {
    const c = await weft('connect', 'host2', '10.0.0.3:7000', '--data-dir', dir)
    assert.deepEqual([c.code, c.out, c.err], [0, '', ''])
    assert.deepEqual(fake.calls.at(-1), { method: 'connect', args: [['/dns4/host2/tcp/6783', '/ip4/10.0.0.3/tcp/7000']] })
    const f = await weft('forget', '[::1]:7000', '--data-dir', dir)
    assert.deepEqual([f.code, f.out, f.err], [0, '', ''])
    assert.deepEqual(fake.calls.at(-1), { method: 'forget', args: [['/ip6/::1/tcp/7000']] })
  })

  test('connect, forget, wait-ready and stop take --json', async () => {
    const c = await weft('connect', 'host2', '--json', '--data-dir', dir)
    assert.deepEqual([c.code, JSON.parse(c.out), c.err], [0, { dialling: ['/dns4/host2/tcp/6783'] }, ''])
    const f = await weft('forget', 'host2', '--json', '--data-dir', dir)
    assert.deepEqual([f.code, JSON.parse(f.out), f.err], [0, { forgotten: ['/dns4/host2/tcp/6783'] }, ''])
    fake.ready = true
    const w = await weft('wait-ready', '--json', '--data-dir', dir)
    assert.deepEqual([w.code, JSON.parse(w.out), w.err], [0, { ready: true }, ''])
    fake.ready = false
    const late = await weft('wait-ready', '--json', '--timeout', '0.2', '--data-dir', dir)
    assert.deepEqual([late.code, JSON.parse(late.out), late.err], [1, { ready: false, reason: 'waiting for a cluster' }, 'weft: not ready after 0.2s: waiting for a cluster\n'])
    fake.ready = true
    writeFileSync(join(dir, 'weft.pid'), '999999999\n') // a dead pid: stopped at once
    const st = await weft('stop', '--json', '--data-dir', dir)
    assert.deepEqual([st.code, JSON.parse(st.out), st.err], [0, { stopped: true, dataDir: dir, pid: 999999999 }, ''])
  })

  test('a daemon error is one line, exit 1', async () => {
    fake.failWith = new Error('cannot dial yourself')
    try {
      const r = await weft('connect', 'host2', '--data-dir', dir)
      assert.deepEqual([r.code, r.out, r.err], [1, '', 'weft: cannot dial yourself\n'])
    } finally {
      delete fake.failWith
    }
  })

  test('wait-ready: exit 0 when ready', async () => {
    fake.ready = true
    const r = await weft('wait-ready', '--data-dir', dir)
    assert.deepEqual([r.code, r.out, r.err], [0, '', ''])
  })

  test('wait-ready: exit 1 with the reason at the timeout', async () => {
    fake.ready = false
    const started = Date.now()
    const r = await weft('wait-ready', '--timeout', '0.3', '--data-dir', dir)
    assert.deepEqual([r.code, r.out, r.err], [1, '', 'weft: not ready after 0.3s: waiting for a cluster\n'])
    assert.ok(Date.now() - started >= 290)
    fake.ready = true
  })

  test('stop posts /stop and returns once the pid is gone', async () => {
    writeFileSync(join(dir, 'weft.pid'), '999999999\n') // a dead pid: stopped at once
    const r = await weft('stop', '--data-dir', dir)
    assert.deepEqual([r.code, r.out, r.err], [0, '', ''])
    assert.deepEqual(fake.calls.at(-1), { method: 'stop', args: [] })
  })
})

describe('errors and usage', () => {
  const none = join(root, 'nobody')

  test('no daemon: "weft: no peer running in DIR", exit 1', async () => {
    for (const args of [['status'], ['status', 'peers', '--json'], ['connect', 'h'], ['forget', 'h'], ['wait-ready'], ['stop']]) {
      const r = await weft(...args, '--data-dir', none)
      assert.deepEqual([r.code, r.out, r.err], [1, '', `weft: no peer running in ${none}\n`], args.join(' '))
    }
  })

  test('usage errors exit 2 with one "weft: " line', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['nosuch'], /^weft: unknown command 'nosuch'/],
      [['status', 'bogus'], /^weft: .*'bogus' is invalid for argument 'section'/],
      [['status', '--bogus'], /^weft: unknown option '--bogus'/],
      [['connect'], /^weft: missing required argument 'peer'/],
      [['connect', 'host:99999', '--data-dir', none], /^weft: invalid PEER "host:99999": port must be 1\.\.65535$/],
      [['wait-ready', '--timeout', 'soon', '--data-dir', none], /^weft: invalid --timeout "soon": expected seconds >= 0$/],
      [['launch', '--range', '10.32.0.0/33', '--data-dir', none], /^weft: invalid --range: invalid CIDR "10\.32\.0\.0\/33"/],
      [['launch', '--listen', 'localhost:1', '--data-dir', none], /^weft: invalid --listen "localhost:1"/],
      [['launch', '--advertise', '0.0.0.0:1', '--data-dir', none], /^weft: invalid --advertise "0\.0\.0\.0:1"/],
      [['launch', '--log-level', 'loud', '--data-dir', none], /^weft: option '--log-level <level>' argument 'loud' is invalid/],
      [['launch', 'bad_host!', '--data-dir', none], /^weft: invalid PEER "bad_host!"/]
    ]
    for (const [args, message] of cases) {
      const r = await weft(...args)
      assert.equal(r.code, 2, args.join(' '))
      assert.equal(r.out, '')
      assert.match(r.err.trimEnd(), message, args.join(' '))
      assert.equal(r.err.trimEnd().split('\n').length, 1, `one line: ${r.err}`)
    }
  })

  test('--help on the program and every command exits 0', async () => {
    const names = (await buildProgram()).commands.map(c => c.name())
    assert.deepEqual(names.sort(), ['alloc', 'audit', 'check', 'claim', 'conflicts', 'connect', 'demo', 'forget', 'history', 'id', 'key', 'launch', 'ls', 'release', 'replay', 'reset', 'resolve', 'rmpeer', 'status', 'stop', 'verify', 'wait-ready'])
    for (const args of [[], ...names.map(n => [n])]) {
      const r = await weft(...args, '--help')
      assert.equal(r.code, 0, args.join(' '))
      assert.match(r.out, /^Usage: weft/, args.join(' '))
      // Every command acts on one peer's data dir, but the demo, which makes its own, and key, which needs none.
      assert.match(r.out, args.length === 0 ? /Commands:/ : args[0] === 'demo' ? /temporary data dirs/ : args[0] === 'key' ? /--out <file>/ : /--data-dir <dir>/)
    }
  })

  test('id creates the identity and prints the peer name; --json', async () => {
    const dir = join(root, 'ident')
    const first = await weft('id', '--data-dir', dir)
    assert.equal(first.code, 0)
    assert.match(first.out, /^12D3KooW[1-9A-HJ-NP-Za-km-z]+\n$/)
    const json = await weft('id', '--json', '--data-dir', dir)
    assert.deepEqual(JSON.parse(json.out), { name: first.out.trim() })
  })
})

test('library errors spanning lines print as one line without stack frames', async () => {
  assert.equal(oneLine('Some addresses failed:\n  /ip4/1.2.3.4/tcp/1: Error: listen EADDRINUSE\n      at Server.setupListenHandle (node:net:1908:16)\n'),
    'Some addresses failed: /ip4/1.2.3.4/tcp/1: Error: listen EADDRINUSE')
})
