import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { UsageError } from '../../cli/errors.js'
import { advertiseToMultiaddr, listenToMultiaddr, peerToMultiaddr } from '../../cli/peer-addr.js'
import { buildLaunchConfig, launchArgs, parseInit, parseTuning } from '../../cli/launch-config.js'
import { ed25519SignerFromSeed } from '../../crdt/events/index.js'
import { ClusterKeyError, newClusterKey, writeClusterKeyFile } from '../../node/cluster-key.js'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const ID = '12D3KooWNxZyy15r7UKr9BoNGKqtBSH3rFC1ntvohJrEXcL5XHf9'

function rejects (fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UsageError, `expected UsageError, got ${String(err)}`)
    assert.equal(err.exitCode, 2)
    assert.ok(!err.message.includes('\n'), 'one line')
    assert.match(err.message, message)
    return true
  })
}

describe('PEER to multiaddr', () => {
  const cases: Array<[string, string]> = [
    ['10.0.0.1', '/ip4/10.0.0.1/tcp/6783'],
    ['10.0.0.1:7000', '/ip4/10.0.0.1/tcp/7000'],
    ['host2', '/dns4/host2/tcp/6783'],
    ['host2.example.com:1', '/dns4/host2.example.com/tcp/1'],
    ['host2.example.com.', '/dns4/host2.example.com/tcp/6783'],
    ['::1', '/ip6/::1/tcp/6783'],
    ['fe80::1:2', '/ip6/fe80::1:2/tcp/6783'],
    ['[::1]:7000', '/ip6/::1/tcp/7000'],
    ['[2001:db8::1]', '/ip6/2001:db8::1/tcp/6783'],
    ['/ip4/1.2.3.4/tcp/5', '/ip4/1.2.3.4/tcp/5'],
    [`/ip4/1.2.3.4/tcp/5/p2p/${ID}`, `/ip4/1.2.3.4/tcp/5/p2p/${ID}`],
    ['/dns4/host/tcp/6783', '/dns4/host/tcp/6783'],
    ['/ip6/::1/tcp/9', '/ip6/::1/tcp/9']
  ]
  for (const [input, expected] of cases) {
    test(input, () => { assert.equal(peerToMultiaddr(input), expected) })
  }

  test('bad input is a one-line usage error', () => {
    rejects(() => peerToMultiaddr(''), /invalid PEER "": missing host/)
    rejects(() => peerToMultiaddr('host:0'), /port must be 1..65535/)
    rejects(() => peerToMultiaddr('host:65536'), /port must be 1..65535/)
    rejects(() => peerToMultiaddr('host:abc'), /port must be 1..65535/)
    rejects(() => peerToMultiaddr('host:'), /port must be 1..65535/)
    rejects(() => peerToMultiaddr('1.2.3.256'), /bad IPv4 address/)
    rejects(() => peerToMultiaddr('010.1.1.1:5'), /bad IPv4 address/)
    rejects(() => peerToMultiaddr('bad_host!'), /expected HOST, HOST:PORT or a multiaddr/)
    rejects(() => peerToMultiaddr('[nope]:5'), /IPv6 address inside/)
    rejects(() => peerToMultiaddr('/ip4/1.2.3.4'), /expected a multiaddr like/)
    rejects(() => peerToMultiaddr('/ip4/1.2.3.4/udp/5'), /expected a multiaddr like/)
    rejects(() => peerToMultiaddr('/ip4/999.2.3.4/tcp/5'), /invalid PEER "\/ip4\/999.2.3.4\/tcp\/5": /)
    rejects(() => peerToMultiaddr('/garbage'), /invalid PEER/)
  })

  test('only what weft can dial: a /p2p/ part must be a weft peer name; no control characters, no port 0, bounded', () => {
    rejects(() => peerToMultiaddr('/ip4/127.0.0.1/tcp/1/p2p/garbage'), /^invalid PEER "\/ip4\/127\.0\.0\.1\/tcp\/1\/p2p\/garbage": \/p2p\/garbage is not a weft peer name \(weft peer names look like 12D3KooW…; `weft id` prints one\)$/)
    rejects(() => peerToMultiaddr('/ip4/1.2.3.4/tcp/1/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'), /is not a weft peer name/)
    rejects(() => peerToMultiaddr('/ip4/1.2.3.4/tcp/0'), /port must be 1\.\.65535/)
    rejects(() => peerToMultiaddr('/dns4/bad_name!/tcp/1'), /bad DNS name "bad_name!"/)
    rejects(() => peerToMultiaddr('host\u001b[31m'), /^invalid PEER "host\\x1b\[31m": it contains spaces or control characters$/)
    rejects(() => peerToMultiaddr('/dns4/a\u202eb/tcp/1'), /"\/dns4\/a\\u\{202e\}b\/tcp\/1": it contains spaces or control characters/)
    rejects(() => peerToMultiaddr('h'.repeat(401)), /^invalid PEER "h{80}…": longer than 400 characters$/)
  })
})

describe('--listen and --advertise', () => {
  test('listen forms', () => {
    assert.equal(listenToMultiaddr('0.0.0.0:6783'), '/ip4/0.0.0.0/tcp/6783')
    assert.equal(listenToMultiaddr(':7000'), '/ip4/0.0.0.0/tcp/7000')
    assert.equal(listenToMultiaddr('127.0.0.1'), '/ip4/127.0.0.1/tcp/6783')
    assert.equal(listenToMultiaddr('[::]:7000'), '/ip6/::/tcp/7000')
    assert.equal(listenToMultiaddr('/ip4/127.0.0.1/tcp/0'), '/ip4/127.0.0.1/tcp/0')
  })
  test('listen refuses names and peer ids', () => {
    rejects(() => listenToMultiaddr('localhost:7000'), /expected IP:PORT/)
    rejects(() => listenToMultiaddr('/dns4/x/tcp/1'), /listen on an IP address/)
    rejects(() => listenToMultiaddr(`/ip4/1.2.3.4/tcp/5/p2p/${ID}`), /expected a multiaddr like/)
  })
  test('advertise refuses wildcards', () => {
    assert.equal(advertiseToMultiaddr('10.0.0.1:7000'), '/ip4/10.0.0.1/tcp/7000')
    rejects(() => advertiseToMultiaddr('0.0.0.0:7000'), /wildcard/)
    rejects(() => advertiseToMultiaddr('[::]:7000'), /wildcard/)
  })
})

describe('launch config', () => {
  test('defaults and round trip through the child arguments', () => {
    const config = buildLaunchConfig(['host2', '10.0.0.3:7000'], { nickname: 'n1', range: '10.32.0.0/12', listen: [], advertise: [] }, '/tmp/d', {})
    assert.deepEqual(config.listen, ['/ip4/0.0.0.0/tcp/6783'])
    assert.deepEqual(config.peers, ['/dns4/host2/tcp/6783', '/ip4/10.0.0.3/tcp/7000'])
    assert.equal(config.socketPath, '/tmp/d/weft.sock')
    assert.equal(config.range, '10.32.0.0/12')
    assert.equal(config.testHooks, false)
    assert.equal(config.logToStderr, true)
    const args = launchArgs(config)
    assert.deepEqual(args.slice(-3), ['--', '/dns4/host2/tcp/6783', '/ip4/10.0.0.3/tcp/7000'])
    assert.ok(args.includes('--nickname=n1'))
  })
  test('env: test hooks, daemonized, tuning', () => {
    const config = buildLaunchConfig([], { nickname: 'n1' }, '/tmp/d', { WEFT_TEST_HOOKS: '1', WEFT_DAEMONIZED: '1', WEFT_TUNING: '{"readyGraceMs":100}' })
    assert.equal(config.testHooks, true)
    assert.equal(config.logToStderr, false)
    assert.deepEqual(config.tuning, { readyGraceMs: 100 })
    assert.equal(config.range, undefined)
    rejects(() => parseTuning('{"nope":1}'), /unknown key "nope"/)
    rejects(() => parseTuning('{"readyGraceMs":-1}'), /positive number/)
    rejects(() => parseTuning('[1]'), /JSON object/)
  })
  test('--init: its default, each mode, bad values, and the round trip to the child', () => {
    assert.deepEqual(parseInit(undefined, 0), { mode: 'founder' })
    assert.deepEqual(parseInit(undefined, 2), { mode: 'consensus', n: 3 })
    assert.deepEqual(parseInit('consensus', 4), { mode: 'consensus', n: 5 })
    assert.deepEqual(parseInit('consensus=7', 1), { mode: 'consensus', n: 7 })
    assert.deepEqual(parseInit('observer', 1), { mode: 'observer' })
    const [s1, s2] = [1, 2].map(i => ed25519SignerFromSeed(new Uint8Array(32).fill(i)).author)
    const seed = parseInit(`seed=${s2!},${s1!},${s2!}`, 0)
    assert.equal(seed.mode, 'seed')
    assert.deepEqual(seed.mode === 'seed' ? new Set(seed.seeds) : undefined, new Set([s1, s2]))
    rejects(() => parseInit('consensus=0', 1), /invalid --init consensus=0/)
    rejects(() => parseInit('consensus=x', 1), /invalid --init consensus=x/)
    rejects(() => parseInit('seed=', 1), /list the seeds/)
    rejects(() => parseInit('seed=host1', 1), /"host1" is not a peer name/)
    rejects(() => parseInit('observer=2', 1), /takes no value/)
    rejects(() => parseInit('leader', 1), /expected consensus\[=N\], seed=PEERID,\.\.\. or observer/)
    for (const init of ['consensus=4', `seed=${s1!}`, 'observer']) {
      const config = buildLaunchConfig(['h2'], { nickname: 'n', init }, '/d', {})
      const args = launchArgs(config)
      const i = args.indexOf('--init')
      assert.deepEqual(parseInit(args[i + 1], 1), config.init)
    }
    assert.ok(!launchArgs(buildLaunchConfig([], { nickname: 'n' }, '/d', {})).includes('--init'))
  })
  test('--key-file or $WEFT_KEY_FILE: read here, passed to the child as an absolute path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-lc-'))
    try {
      const a = join(dir, 'a.key')
      const b = join(dir, 'b.key')
      writeClusterKeyFile(a, newClusterKey().text)
      writeClusterKeyFile(b, newClusterKey().text)
      const cwd = process.cwd()
      process.chdir(dir)
      let relative
      try {
        relative = buildLaunchConfig([], { nickname: 'n', keyFile: 'a.key' }, '/d', {})
      } finally {
        process.chdir(cwd)
      }
      assert.equal(relative.clusterKey?.file, a)
      const args = launchArgs(relative)
      assert.equal(args[args.indexOf('--key-file') + 1], a)
      assert.ok(!args.some(x => x.includes('/key/swarm')), 'the file, never the key, on the command line')
      assert.equal(buildLaunchConfig([], { nickname: 'n' }, '/d', { WEFT_KEY_FILE: b }).clusterKey?.file, b)
      assert.equal(buildLaunchConfig([], { nickname: 'n', keyFile: a }, '/d', { WEFT_KEY_FILE: b }).clusterKey?.file, a, 'the option wins')
      assert.equal(buildLaunchConfig([], { nickname: 'n' }, '/d', { WEFT_KEY_FILE: '' }).clusterKey, undefined)
      assert.ok(!launchArgs(buildLaunchConfig([], { nickname: 'n' }, '/d', {})).includes('--key-file'))
      assert.throws(() => buildLaunchConfig([], { nickname: 'n', keyFile: join(dir, 'none') }, '/d', {}), (err: unknown) =>
        err instanceof ClusterKeyError && !(err instanceof UsageError) && /no such file/.test(err.message))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
  test('bad range and nickname', () => {
    rejects(() => buildLaunchConfig([], { range: '10.32.1.0/12', nickname: 'a' }, '/d', {}), /invalid --range: .*host bits set .*10\.32\.0\.0\/12/)
    rejects(() => buildLaunchConfig([], { range: '10.32.0.0', nickname: 'a' }, '/d', {}), /invalid --range/)
    rejects(() => buildLaunchConfig([], { nickname: 'two words' }, '/d', {}), /invalid --nickname/)
    rejects(() => buildLaunchConfig([], { nickname: '' }, '/d', {}), /invalid --nickname/)
  })
})
