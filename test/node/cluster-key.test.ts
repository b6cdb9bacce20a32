import { describe, test, after } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { preSharedKey } from '@libp2p/pnet'
import {
  ClusterKeyError, exposedListenAddrs, exposureWarning, newClusterKey, parseClusterKey, readClusterKeyFile, writeClusterKeyFile
} from '../../node/cluster-key.js'
import { handshakeReason } from '../../node/net/handshake-watch.js'
import { RefusedHosts } from '../../node/net/refused-hosts.js'
import { SimulatedClock } from '../../node/clock.js'
import { createLogger } from '../../node/logger.js'

/** The cluster key file (DESIGN.md §3.3): its format, its checks, and what is said without one. */

const root = mkdtempSync(join(tmpdir(), 'weft-ckey-'))
after(() => { rmSync(root, { recursive: true, force: true }) })
let n = 0
const file = (text: string, mode = 0o600): string => {
  const f = join(root, `k${n++}`)
  writeFileSync(f, text, { mode })
  chmodSync(f, mode)
  return f
}
const HEX = 'a1'.repeat(32)

describe('the swarm key format', () => {
  test('a new key is libp2p pnet\'s format, decodes in pnet, and differs every time', () => {
    const a = newClusterKey()
    const b = newClusterKey()
    assert.match(a.text, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/)
    assert.notEqual(a.text, b.text)
    assert.notEqual(a.fingerprint, b.fingerprint)
    const parsed = parseClusterKey(a.text)
    assert.ok(!('error' in parsed))
    assert.equal(parsed.fingerprint, a.fingerprint)
    preSharedKey({ psk: parsed.psk })() // throws "Your private shared key is invalid" on a bad key
  })

  test('accepts CRLF, no final newline and upper-case hex, as pnet does; the fingerprint is the key\'s', () => {
    const forms = [`/key/swarm/psk/1.0.0/\n/base16/\n${HEX}\n`, `/key/swarm/psk/1.0.0/\r\n/base16/\r\n${HEX}\r\n`,
      `/key/swarm/psk/1.0.0/\n/base16/\n${HEX}`, `/key/swarm/psk/1.0.0/\n/base16/\n${HEX.toUpperCase()}\n`]
    const fingerprints = forms.map(t => { const p = parseClusterKey(t); assert.ok(!('error' in p), JSON.stringify(t)); return p.fingerprint })
    assert.equal(new Set(fingerprints).size, 1)
    assert.match(fingerprints[0]!, /^[0-9a-f]{16}$/)
    assert.ok(!fingerprints[0]!.startsWith(HEX.slice(0, 16)), 'the fingerprint is not the key')
  })

  test('refuses what is not one key in that format', () => {
    for (const text of [HEX, `/key/swarm/psk/1.0.0/\n/base64/\n${HEX}\n`, `/key/swarm/psk/1.0.0/\n/base16/\n${HEX.slice(2)}\n`,
      `/key/swarm/psk/1.0.0/\n/base16/\n${HEX}\n${HEX}\n`, `/key/swarm/psk/1.0.0/\n/base16/\n${'zz'.repeat(32)}\n`, '']) {
      assert.ok('error' in parseClusterKey(text), JSON.stringify(text))
    }
  })
})

describe('reading a key file', () => {
  const refused = (f: string, code: string, message: RegExp): void => {
    assert.throws(() => readClusterKeyFile(f), (err: unknown) => {
      assert.ok(err instanceof ClusterKeyError)
      assert.equal(err.code, code)
      assert.match(err.message, message)
      assert.ok(err.message.includes(f), 'names the file')
      assert.equal(err.message.split('\n').length, 1, 'one line')
      return true
    })
  }

  test('a good file gives the key and its fingerprint', () => {
    const { text, fingerprint } = newClusterKey()
    const f = file(text)
    const key = readClusterKeyFile(f)
    assert.equal(key.file, f)
    assert.equal(key.fingerprint, fingerprint)
    assert.equal(new TextDecoder().decode(key.psk), text.trimEnd())
  })

  test('missing, a directory, open to others, malformed, oversized: a clear error each', () => {
    refused(join(root, 'nope'), 'unreadable', /^cannot read cluster key .*: no such file \(make one with `weft key --out FILE`\)$/)
    const dir = join(root, 'dir')
    mkdirSync(dir)
    refused(dir, 'unreadable', /is not a regular file$/)
    refused(file(newClusterKey().text, 0o644), 'permissions', /is accessible by group or others \(mode 0644\): run `chmod 600 /)
    refused(file(newClusterKey().text, 0o640), 'permissions', /\(mode 0640\)/)
    refused(file('hello\n'), 'malformed', /is not a swarm key: expected three lines/)
    refused(file(HEX + '\n'), 'malformed', /is not a swarm key/)
    refused(file('x'.repeat(10_000)), 'malformed', /is not a swarm key: it is 10000 bytes long/)
  })
})

describe('writing a key file', () => {
  test('mode 0600; never overwrites', () => {
    const f = join(root, 'new.key')
    const { text } = newClusterKey()
    writeClusterKeyFile(f, text)
    assert.equal(statSync(f).mode & 0o777, 0o600)
    assert.equal(readFileSync(f, 'utf8'), text)
    assert.throws(() => { writeClusterKeyFile(f, newClusterKey().text) }, (err: unknown) =>
      err instanceof ClusterKeyError && err.code === 'exists' && /already exists: weft key never overwrites a key/.test(err.message))
    assert.equal(readFileSync(f, 'utf8'), text, 'the first key is kept')
  })
})

describe('a peer open beyond loopback without a key', () => {
  test('loopback is 127.0.0.0/8 and ::1; wildcards and other addresses are exposed', () => {
    assert.deepEqual(exposedListenAddrs(['/ip4/127.0.0.1/tcp/1', '/ip4/127.8.9.10/tcp/2', '/ip6/::1/tcp/3']), [])
    assert.deepEqual(exposedListenAddrs(['/ip4/0.0.0.0/tcp/1', '/ip6/::/tcp/2', '/ip4/10.0.0.1/tcp/3', '/ip4/127.0.0.1/tcp/4']),
      ['/ip4/0.0.0.0/tcp/1', '/ip6/::/tcp/2', '/ip4/10.0.0.1/tcp/3'])
  })

  test('warns only without a key, naming the exposed addresses', () => {
    const key = readClusterKeyFile(file(newClusterKey().text))
    assert.equal(exposureWarning(key, ['/ip4/0.0.0.0/tcp/6783']), undefined)
    assert.equal(exposureWarning(undefined, ['/ip4/127.0.0.1/tcp/6783']), undefined)
    assert.match(exposureWarning(undefined, ['/ip4/0.0.0.0/tcp/6783'])!, /^no cluster key, and listening beyond loopback on \/ip4\/0\.0\.0\.0\/tcp\/6783: .*weft key --out FILE/)
  })
})

describe('handshake failures', () => {
  test('the reason names the likely cause for each side, and escapes what the other host sent', () => {
    assert.match(handshakeReason(true, 'outbound', 'Missing newline'), /^handshake failed: likely a different or missing cluster key on the other side \(Missing newline\)$/)
    assert.match(handshakeReason(false, 'outbound', 'read ECONNRESET'), /^handshake failed: the other side likely needs a cluster key, and this peer has none/)
    assert.match(handshakeReason(true, 'inbound', 'x'), /likely a host without this cluster's key/)
    assert.equal(handshakeReason(true, 'inbound', 'bad \u001b[2J\u0007 bytes\nsecond line'), "handshake failed: likely a host without this cluster's key (a different key, or none) (bad \\u001b[2J\\u0007 bytes)")
  })

  test('refused hosts are bounded, counted, and logged at most once a minute each', async () => {
    const clock = new SimulatedClock()
    const lines: string[] = []
    const refused = new RefusedHosts({ clock, logger: createLogger({ write: (_l, _c, m) => { lines.push(m) } }), max: 3, logEveryMs: 60_000 })
    for (let i = 0; i < 5; i++) refused.note('/ip4/10.0.0.1', 'handshake failed: x')
    assert.equal(lines.length, 1)
    assert.equal(lines[0], 'refused a connection from /ip4/10.0.0.1: handshake failed: x')
    await clock.advance(60_000)
    refused.note('/ip4/10.0.0.1', 'handshake failed: y')
    assert.equal(lines[1], 'refused 5 connections from /ip4/10.0.0.1: handshake failed: y')
    for (let i = 2; i <= 6; i++) refused.note(`/ip4/10.0.0.${i}`, 'handshake failed: z')
    const rows = refused.rows()
    assert.deepEqual(rows.map(r => r.addr), ['/ip4/10.0.0.6', '/ip4/10.0.0.5', '/ip4/10.0.0.4'], 'the most recent hosts, at most 3')
    assert.ok(rows.every(r => r.state === 'failed' && r.direction === 'inbound' && r.peer === null))
    refused.note('/ip4/10.0.0.4', 'handshake failed: z')
    assert.match(refused.rows()[0]!.reason!, /^handshake failed: z; 2 times since /)
  })
})
