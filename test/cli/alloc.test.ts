import { describe, test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { weft, type Run } from '../helpers/cli-run.js'
import { ALLOC_TIMEOUT_MS, ControlClient, ControlRequestError } from '../../node/api/client.js'
import { startControlServer, type ControlServer } from '../../node/api/server.js'
import { ensureDataDir } from '../../node/data-dir.js'
import { AllocError } from '../../node/allocator/types.js'
import { RemoteError } from '../../node/worker-rpc.js'
import { RangeSet, parseCidr } from '../../packages/netaddr/index.js'
import { FakeAllocator, FakeDaemon, fakeStatus } from '../helpers/fake-daemon.js'

/** `weft alloc`, `claim`, `release` and `ls` through main(), against a fake allocator over a real control socket. */

const root = mkdtempSync(join(tmpdir(), 'weft-cli-alloc-'))
after(() => { rmSync(root, { recursive: true, force: true }) })

function ok (r: Run, out: string): void {
  assert.deepEqual([r.code, r.err, r.out], [0, '', out])
}

function fails (r: Run, code: number, err: RegExp): void {
  assert.equal(r.code, code, `exit ${r.code}, stderr ${JSON.stringify(r.err)}`)
  assert.equal(r.out, '')
  assert.match(r.err, err)
  assert.match(r.err, /^weft: [^\n]*\n$/, 'one line starting "weft: "')
}

async function serve (tag: string, fake: FakeDaemon): Promise<{ dir: string, server: ControlServer }> {
  const dir = join(root, tag)
  ensureDataDir(dir)
  const server = await startControlServer(join(dir, 'weft.sock'), fake)
  return { dir, server }
}

describe('alloc, claim, release and ls against a running (fake) daemon', () => {
  const allocator = new FakeAllocator()
  const fake = new FakeDaemon(fakeStatus(), { allocator })
  let dir: string
  let server: ControlServer
  const d = (): string[] => ['--data-dir', dir]
  before(async () => { ({ dir, server } = await serve('peer', fake)) })
  after(async () => { await server.close() })

  test('alloc prints ADDRESS/PREFIX; the same ID gets the same address again', async () => {
    ok(await weft('alloc', 'web1', ...d()), '10.32.0.1/12\n')
    ok(await weft('alloc', 'web2', ...d()), '10.32.0.2/12\n')
    ok(await weft('alloc', 'web1', ...d()), '10.32.0.1/12\n')
    assert.deepEqual(allocator.calls.at(-1), { method: 'alloc', args: ['web1'] })
  })

  test('alloc --subnet: the prefix is the subnet\'s, idempotent per (ID, subnet); the subnet is sent canonical', async () => {
    ok(await weft('alloc', 'web1', '--subnet', '10.32.1.0/24', ...d()), '10.32.1.1/24\n')
    ok(await weft('alloc', 'web1', '--subnet', '10.32.1.0/24', ...d()), '10.32.1.1/24\n')
    ok(await weft('alloc', 'db', '--subnet=10.32.1.0/24', ...d()), '10.32.1.2/24\n')
    ok(await weft('alloc', 'web1', ...d()), '10.32.0.1/12\n')
  })

  test('alloc --json: the Allocation plus cidr', async () => {
    const r = await weft('alloc', 'web1', '--json', ...d())
    assert.equal(r.code, 0)
    const json = JSON.parse(r.out)
    assert.deepEqual(Object.keys(json).sort(), ['address', 'cidr', 'createdAt', 'id', 'subnet'])
    assert.deepEqual({ ...json, createdAt: 0 }, { id: 'web1', subnet: '10.32.0.0/12', address: '10.32.0.1', cidr: '10.32.0.1/12', createdAt: 0 })
    assert.equal(typeof json.createdAt, 'number')
  })

  test('claim prints ADDRESS/PREFIX; the prefix names the subnet; claiming again is fine', async () => {
    ok(await weft('claim', 'c1', '10.32.0.9', ...d()), '10.32.0.9/12\n')
    ok(await weft('claim', 'c1', '10.32.0.9', ...d()), '10.32.0.9/12\n')
    ok(await weft('claim', 'c2', '10.32.2.10/24', ...d()), '10.32.2.10/24\n')
    assert.deepEqual(allocator.calls.at(-1), { method: 'claim', args: ['c2', '10.32.2.10', 24] })
    const j = JSON.parse((await weft('claim', 'c2', '10.32.2.10/24', '--json', ...d())).out)
    assert.equal(j.cidr, '10.32.2.10/24')
    assert.equal(j.subnet, '10.32.2.0/24')
  })

  test('claim conflicts are daemon errors: one line, exit 1', async () => {
    fails(await weft('claim', 'other', '10.32.0.9', ...d()), 1, /^weft: 10\.32\.0\.9 is in use by c1$/m)
    allocator.ownedElsewhere = RangeSet.fromCidrs(4, [parseCidr('10.40.0.0/13')])
    try {
      fails(await weft('claim', 'x', '10.40.0.5', ...d()), 1, /owned by peer host2/)
    } finally {
      allocator.ownedElsewhere = RangeSet.empty(4)
    }
    fails(await weft('claim', 'x', '10.0.0.5', ...d()), 1, /outside the cluster range/)
  })

  test('ls: one `ID ADDRESS/PREFIX` a line, by address numerically', async () => {
    // 10.32.0.10 sorts after 10.32.0.9 and 10.32.0.100 after both, unlike text.
    ok(await weft('claim', 'ten', '10.32.0.10', ...d()), '10.32.0.10/12\n')
    ok(await weft('claim', 'hundred', '10.32.0.100', ...d()), '10.32.0.100/12\n')
    ok(await weft('ls', ...d()), [
      'web1 10.32.0.1/12',
      'web2 10.32.0.2/12',
      'c1 10.32.0.9/12',
      'ten 10.32.0.10/12',
      'hundred 10.32.0.100/12',
      'web1 10.32.1.1/24',
      'db 10.32.1.2/24',
      'c2 10.32.2.10/24'
    ].join('\n') + '\n')
  })

  test('ls --json: an array in the same order, each with cidr', async () => {
    const r = await weft('ls', '--json', ...d())
    assert.equal(r.code, 0)
    const json = JSON.parse(r.out) as Array<Record<string, unknown>>
    assert.ok(Array.isArray(json))
    assert.deepEqual(json.map(a => `${String(a.id)} ${String(a.cidr)}`), (await weft('ls', ...d())).out.trimEnd().split('\n'))
    assert.deepEqual(Object.keys(json[0] ?? {}).sort(), ['address', 'cidr', 'createdAt', 'id', 'subnet'])
  })

  test('release prints nothing, frees every address of the ID, and is idempotent', async () => {
    ok(await weft('release', 'web1', ...d()), '')
    assert.deepEqual(allocator.calls.at(-1), { method: 'release', args: ['web1'] })
    assert.doesNotMatch((await weft('ls', ...d())).out, /^web1 /m)
    ok(await weft('release', 'web1', ...d()), '')
    const again = await weft('release', 'web1', '--json', ...d())
    assert.deepEqual([again.code, JSON.parse(again.out)], [0, []])
  })

  test('release ID ADDRESS frees only that address; --json lists what was freed', async () => {
    ok(await weft('alloc', 'multi', ...d()), '10.32.0.1/12\n') // web1's old address is free again
    ok(await weft('alloc', 'multi', '--subnet', '10.32.3.0/24', ...d()), '10.32.3.1/24\n')
    const r = await weft('release', 'multi', '10.32.3.1/24', '--json', ...d()) // the form alloc prints is accepted
    assert.equal(r.code, 0)
    const released = JSON.parse(r.out) as Array<Record<string, unknown>>
    assert.deepEqual(released.map(a => [a.id, a.cidr]), [['multi', '10.32.3.1/24']])
    assert.deepEqual(allocator.calls.at(-1), { method: 'release', args: ['multi', '10.32.3.1'] })
    assert.match((await weft('ls', ...d())).out, /^multi 10\.32\.0\.1\/12$/m)
    ok(await weft('release', 'multi', '10.32.0.1', ...d()), '')
    assert.doesNotMatch((await weft('ls', ...d())).out, /^multi /m)
  })

  test('IDs: 1–128 characters, no whitespace or control characters (usage error, exit 2)', async () => {
    const calls = allocator.calls.length
    fails(await weft('alloc', '', ...d()), 2, /^weft: invalid ID "": the ID is empty$/m)
    fails(await weft('alloc', 'a b', ...d()), 2, /invalid ID "a b": the ID contains a space/)
    fails(await weft('claim', 'a\tb', '10.32.0.50', ...d()), 2, /U\+0009/)
    fails(await weft('release', 'a\u0000b', ...d()), 2, /U\+0000/)
    fails(await weft('alloc', 'a\u00a0b', ...d()), 2, /U\+00A0/)
    fails(await weft('alloc', 'x'.repeat(129), ...d()), 2, /^weft: invalid ID "x{40}…": the ID is 129 characters long; at most 128 are allowed$/m)
    assert.equal(allocator.calls.length, calls, 'nothing reached the daemon')
    // The lowest free address first: multi's 10.32.0.1 was released above.
    ok(await weft('alloc', 'x'.repeat(128), ...d()), '10.32.0.1/12\n')
    ok(await weft('alloc', '☃'.repeat(128), ...d()), '10.32.0.3/12\n') // characters, not UTF-16 units
    ok(await weft('alloc', 'pod/ns:web-1@node', ...d()), '10.32.0.4/12\n')
  })

  test('bad addresses, prefixes and subnets are usage errors (exit 2)', async () => {
    const calls = allocator.calls.length
    fails(await weft('claim', 'c', '10.32.0', ...d()), 2, /invalid address "10\.32\.0"/)
    fails(await weft('claim', 'c', '010.32.0.1', ...d()), 2, /invalid address/)
    fails(await weft('claim', 'c', 'host1', ...d()), 2, /invalid address/)
    fails(await weft('claim', 'c', '10.32.0.1/33', ...d()), 2, /invalid prefix in "10\.32\.0\.1\/33": expected a number from 0 to 32/)
    fails(await weft('claim', 'c', '10.32.0.1/', ...d()), 2, /invalid prefix/)
    fails(await weft('claim', 'c', '10.32.0.1/08', ...d()), 2, /invalid prefix/)
    fails(await weft('claim', 'c', 'fd00::1/129', ...d()), 2, /from 0 to 128/)
    fails(await weft('release', 'c', '10.32.0.256', ...d()), 2, /invalid address/)
    fails(await weft('alloc', 'c', '--subnet', '10.32.1.0', ...d()), 2, /invalid --subnet: .*missing "\/prefix"/)
    fails(await weft('alloc', 'c', '--subnet', '10.32.1.1/24', ...d()), 2, /host bits set \(did you mean 10\.32\.1\.0\/24\?\)/)
    assert.equal(allocator.calls.length, calls, 'nothing reached the daemon')
  })

  test('missing or extra arguments and unknown options: exit 2', async () => {
    for (const args of [['alloc'], ['claim', 'c'], ['release'], ['ls', 'extra'], ['alloc', 'a', 'b'], ['alloc', 'a', '--bogus']]) {
      const r = await weft(...args, ...d())
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`)
      assert.match(r.err, /^weft: /)
    }
  })

  test('a subnet outside the range, or a peer that is not ready, is the daemon\'s error: exit 1', async () => {
    fails(await weft('alloc', 'c', '--subnet', '10.0.0.0/24', ...d()), 1, /^weft: subnet 10\.0\.0\.0\/24 is outside the cluster range 10\.32\.0\.0\/12$/m)
    allocator.ready = false
    try {
      fails(await weft('alloc', 'c', ...d()), 1, /^weft: not ready after 30s: waiting for a cluster$/m)
    } finally {
      allocator.ready = true
    }
    allocator.failWith = new Error('disk full')
    try {
      fails(await weft('ls', ...d()), 1, /^weft: disk full$/m)
    } finally {
      delete allocator.failWith
    }
  })

  test('--help works for each command', async () => {
    for (const cmd of ['alloc', 'claim', 'release', 'ls']) {
      const r = await weft(cmd, '--help')
      assert.equal(r.code, 0, r.err)
      assert.match(r.out, new RegExp(`^Usage: weft ${cmd}`, 'm'))
      assert.match(r.out, /--data-dir/)
      assert.match(r.out, /--json/)
    }
    assert.match((await weft('alloc', '--help')).out, /--subnet <cidr>/)
  })
})

describe('the control routes', () => {
  const allocator = new FakeAllocator()
  const fake = new FakeDaemon(fakeStatus(), { allocator })
  let dir: string
  let server: ControlServer
  let client: ControlClient
  before(async () => {
    ({ dir, server } = await serve('routes', fake))
    client = new ControlClient({ socketPath: join(dir, 'weft.sock'), dataDir: dir })
  })
  after(async () => { await server.close() })

  async function status (fn: () => Promise<unknown>): Promise<[number | undefined, string]> {
    try {
      await fn()
    } catch (err) {
      assert.ok(err instanceof ControlRequestError, String(err))
      return [err.status, err.code]
    }
    return [200, 'ok']
  }

  test('AllocError codes map to 409, 400 and 503 with {error: {message, code}}', async () => {
    const cases: Array<[AllocError['code'], number]> = [
      ['in-use', 409], ['owned-elsewhere', 409], ['disputed', 409], ['removed', 409], ['read-only', 409],
      ['bad-request', 400], ['out-of-range', 400], ['not-ready', 503], ['no-space', 503], ['no-cluster', 503]
    ]
    for (const [code, http] of cases) {
      allocator.failWith = new AllocError(code, `failed: ${code}`)
      assert.deepEqual(await status(async () => await client.alloc('a')), [http, code])
      assert.deepEqual(await status(async () => await client.claim('a', '10.32.0.1')), [http, code])
      assert.deepEqual(await status(async () => await client.release('a')), [http, code])
      assert.deepEqual(await status(async () => await client.allocations()), [http, code])
    }
    // An error that crossed the log worker arrives as {name, code, message}: matched by its code.
    allocator.failWith = new RemoteError('AllocError', 'failed remotely', 'no-space')
    assert.deepEqual(await status(async () => await client.alloc('a')), [503, 'no-space'])
    delete allocator.failWith
  })

  test('routes validate their bodies (400) before the allocator sees them', async () => {
    const calls = allocator.calls.length
    for (const [path, body] of [
      ['/alloc', undefined], ['/alloc', []], ['/alloc', { id: 7 }], ['/alloc', { id: 'a b' }], ['/alloc', { id: 'a', subnet: 5 }],
      ['/claim', { id: 'a' }], ['/claim', { id: 'a', address: '10.32.0.1', prefix: 12.5 }], ['/claim', { id: 'a', address: '10.32.0.1', prefix: 129 }],
      ['/release', { id: '' }], ['/release', { id: 'a', address: '' }]
    ] as const) {
      assert.deepEqual(await status(async () => await client.request('POST', path, body)), [400, 'bad-request'], `${path} ${JSON.stringify(body)}`)
    }
    assert.equal(allocator.calls.length, calls)
  })

  test('answers: the Allocation, {released}, {allocations}', async () => {
    const a = await client.alloc('r1')
    assert.deepEqual({ ...a, createdAt: 0 }, { id: 'r1', subnet: '10.32.0.0/12', address: '10.32.0.1', createdAt: 0 })
    assert.deepEqual(await client.request('GET', '/allocations'), { allocations: [a] })
    assert.deepEqual(await client.request('POST', '/release', { id: 'r1' }), { released: [a] })
    assert.deepEqual(await client.request('POST', '/release', { id: 'r1' }), { released: [] })
  })

  test('an alloc that takes longer than the default 10 s control timeout still answers', { timeout: 30_000 }, async () => {
    assert.equal(ALLOC_TIMEOUT_MS, 40_000)
    allocator.beforeAlloc = async () => { await new Promise(resolve => setTimeout(resolve, 10_500)) }
    try {
      ok(await weft('alloc', 'slow', '--data-dir', dir), '10.32.0.1/12\n')
    } finally {
      delete allocator.beforeAlloc
    }
  })
})

describe('without a daemon, or without an allocator', () => {
  test('no peer running: `weft: no peer running in DIR`, exit 1', async () => {
    const dir = join(root, 'nobody')
    ensureDataDir(dir)
    for (const args of [['alloc', 'a'], ['claim', 'a', '10.32.0.1'], ['release', 'a'], ['ls']]) {
      const r = await weft(...args, '--data-dir', dir)
      assert.deepEqual([r.code, r.out, r.err], [1, '', `weft: no peer running in ${dir}\n`], args.join(' '))
    }
  })

  test('a daemon with no allocator: the routes answer 404 with a clear message', async () => {
    const { dir, server } = await serve('noalloc', new FakeDaemon(fakeStatus()))
    try {
      for (const args of [['alloc', 'a'], ['claim', 'a', '10.32.0.1'], ['release', 'a'], ['ls']]) {
        fails(await weft(...args, '--data-dir', dir), 1, /^weft: not found: this peer has no allocator, so it cannot allocate addresses$/m)
      }
    } finally {
      await server.close()
    }
  })
})
