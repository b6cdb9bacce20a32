import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { readPidFile, isProcessAlive } from '../../node/data-dir.js'
import { parseClusterKey } from '../../node/cluster-key.js'
import type { StatusJson } from '../../node/api/types.js'
import { cleanup, freePort, newKeyFile, runWeft, tempDataDir, WEFT_BIN, WeftPeer } from '../helpers/weft-process.js'
import { waitFor } from '../helpers/wait.js'

/**
 * The cluster key (issue 15, DESIGN.md §3.3), with real daemons on 127.0.0.1:
 * peers holding the key form a cluster; a host without it, or with another,
 * fails at the pnet handshake, before any weft protocol, and both sides say
 * so; a bad key file stops the launch; `weft key` writes keys safely; and a
 * peer open beyond loopback without a key says so loudly.
 */

after(async () => { await cleanup() })

const tuning = { backoffBaseMs: 300, backoffMaxMs: 1500, readyGraceMs: 1500 }
const env = { WEFT_TUNING: JSON.stringify(tuning) }

/** `weft key --out FILE` in a fresh dir: the key file a user would make. */
async function makeKey (): Promise<string> {
  const file = join(tempDataDir('weft-k-'), 'cluster.key')
  const r = await runWeft(['key', '--out', file])
  assert.deepEqual([r.code, r.stdout, r.stderr], [0, '', ''])
  return file
}

describe('a keyed cluster and the hosts it refuses', () => {
  let key: string
  let a: WeftPeer
  let b: WeftPeer

  test('two peers holding the key form a cluster; both show the key\'s fingerprint', async () => {
    key = await makeKey()
    a = await WeftPeer.launch({ nickname: 'key-a', keyFile: key, env })
    b = await WeftPeer.launch({ nickname: 'key-b', keyFile: key, peers: [a.addr], env })
    assert.equal((await b.run(['wait-ready', '--timeout', '30'])).code, 0)
    const alloc = await b.run(['alloc', 'web-1'])
    assert.equal(alloc.code, 0, alloc.stderr)
    const [sa, sb] = await waitFor('each to see the other connected', async () => {
      const ss = await Promise.all([a.status(), b.status()])
      return ss.every(s => s.peers.length === 1 && s.peers[0]!.connected) ? ss : undefined
    })
    const fingerprint = (parseClusterKey(readFileSync(key, 'utf8')) as { fingerprint: string }).fingerprint
    for (const s of [sa, sb]) {
      assert.deepEqual(s.security, { clusterKey: true, keyFingerprint: fingerprint, keyFile: key, warning: null })
    }
    assert.equal(sa.cluster.id, sb.cluster.id)
    assert.match((await a.run(['status'])).stdout, new RegExp(`^security {3}cluster key ${fingerprint}$`, 'm'))
  })

  test('a keyless host and a host with another key are refused at the handshake, and never sync', async () => {
    const before = await a.status()
    const keyless = await WeftPeer.launch({ nickname: 'no-key', keyFile: null, peers: [a.addr], extraArgs: ['--init', 'observer'], env })
    const otherKey = await WeftPeer.launch({ nickname: 'other-key', keyFile: newKeyFile(), peers: [a.addr], extraArgs: ['--init', 'observer'], env })

    // The dialers say why their dials fail.
    const failed = async (p: WeftPeer): Promise<string | undefined> => {
      const c = (await p.status()).connections.find(c => c.addr === a.addr && c.state === 'failed')
      return c?.reason ?? undefined
    }
    const noKeyReason = await waitFor('the keyless host\'s dial to fail', async () => await failed(keyless))
    assert.match(noKeyReason, /^handshake failed: the other side likely needs a cluster key, and this peer has none \(--key-file\) \(/)
    const otherReason = await waitFor('the other key\'s dial to fail', async () => await failed(otherKey))
    assert.match(otherReason, /^handshake failed: likely a different or missing cluster key on the other side \(/)
    assert.match((await otherKey.run(['status', 'connections'])).stdout, /failed .*handshake failed: likely a different or missing cluster key/)

    // The keyed peer says it refused them, in status and in its log (bounded: one row per host).
    const refused = await waitFor('the keyed peer to list the refused host', async () =>
      (await a.status()).connections.find(c => c.peer === null && c.state === 'failed' && c.direction === 'inbound'))
    assert.equal(refused.addr, '/ip4/127.0.0.1')
    assert.match(refused.reason ?? '', /^handshake failed: likely a host without this cluster's key \(a different key, or none\) \(/)
    assert.match(readFileSync(join(a.dataDir, 'weft.log'), 'utf8'), /WARN {2}weft:net refused (a connection|\d+ connections) from \/ip4\/127\.0\.0\.1: handshake failed: likely a host without this cluster's key/)

    // The keyed peer dialling them fails too, with the reason on its side and on the keyless listener's.
    assert.equal((await a.run(['connect', keyless.addr, otherKey.addr])).code, 0)
    for (const p of [keyless, otherKey]) {
      const reason = await waitFor(`the keyed peer's dial to ${p.nickname} to fail`, async () =>
        (await a.status()).connections.find(c => c.addr === p.addr && c.state === 'failed')?.reason ?? undefined)
      assert.match(reason, /^handshake failed: likely a different or missing cluster key on the other side \(/)
    }
    const inbound = await waitFor('the keyless host to list the refused dial', async () =>
      (await keyless.status()).connections.find(c => c.direction === 'inbound' && c.state === 'failed'))
    assert.match(inbound.reason ?? '', /^handshake failed: the other host may use a cluster key, and this peer has none \(--key-file\)/)

    // Nothing reached weft: no peer, no event, no cluster on either side.
    await new Promise(resolve => setTimeout(resolve, 1500))
    const [sa, sk, so] = await Promise.all([a.status(), keyless.status(), otherKey.status()])
    assert.deepEqual(sa.peers.map(p => p.nickname), ['key-b'])
    assert.equal(sa.events, before.events)
    assert.ok(!sa.connections.some(c => c.state === 'connected' && c.peer !== b.name), JSON.stringify(sa.connections))
    for (const s of [sk, so]) {
      assert.deepEqual([s.cluster.id, s.events, s.peers.length, s.ipam.state], [null, 0, 0, 'waiting-for-cluster'], s.peer.nickname)
      assert.ok(!s.connections.some(c => c.state === 'connected'), JSON.stringify(s.connections))
    }
    assert.deepEqual(sk.security, { clusterKey: false, keyFingerprint: null, keyFile: null, warning: null }, 'loopback only: no warning')
    assert.notEqual(so.security.keyFingerprint, sa.security.keyFingerprint)
  })
})

describe('a bad key file stops the launch', () => {
  test('missing, open to others, malformed, a directory: one line, exit 1, nothing started or created', async () => {
    const dir = tempDataDir('weft-kbad-')
    const open = join(dir, 'open.key')
    writeFileSync(open, readFileSync(await makeKey()), { mode: 0o644 })
    const garbage = join(dir, 'garbage.key')
    writeFileSync(garbage, 'not a key\n', { mode: 0o600 })
    const sub = join(dir, 'sub')
    mkdirSync(sub)
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [['--key-file', join(dir, 'none.key')], {}, /^weft: cannot read cluster key .*none\.key: no such file \(make one with `weft key --out FILE`\)$/],
      [['--key-file', open], {}, /^weft: cluster key .*open\.key is accessible by group or others \(mode 0644\): run `chmod 600 .*open\.key`$/],
      [['--key-file', garbage], {}, /^weft: cluster key .*garbage\.key is not a swarm key: expected three lines/],
      [['--key-file', sub], {}, /^weft: cluster key .*sub is not a regular file$/],
      [[], { WEFT_KEY_FILE: garbage }, /^weft: cluster key .*garbage\.key is not a swarm key/]
    ]
    for (const [args, extraEnv, message] of cases) {
      const dataDir = join(dir, 'peer')
      const r = await runWeft(['launch', '--data-dir', dataDir, '--listen', `127.0.0.1:${await freePort()}`, ...args], extraEnv)
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`)
      assert.equal(r.stdout, '')
      assert.match(r.stderr.trimEnd(), message)
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr)
      assert.equal(existsSync(dataDir), false, 'no data dir made, nothing started')
    }
  })
})

describe('weft key', () => {
  test('prints a new key each time; --json adds its fingerprint', async () => {
    const [one, two] = await Promise.all([runWeft(['key']), runWeft(['key'])])
    for (const r of [one, two]) {
      assert.equal(r.code, 0)
      assert.match(r.stdout, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/)
      assert.equal(r.stderr, '')
    }
    assert.notEqual(one.stdout, two.stdout)
    const json = JSON.parse((await runWeft(['key', '--json'])).stdout) as { key: string, fingerprint: string }
    assert.equal((parseClusterKey(json.key) as { fingerprint: string }).fingerprint, json.fingerprint)
    assert.equal((await runWeft(['key', '--help'])).code, 0)
  })

  test('`weft key > FILE` leaves FILE 0600 whatever the umask made it, and launch accepts it', async () => {
    const file = join(tempDataDir('weft-kr-'), 'redirected.key')
    const fd = openSync(file, 'w', 0o644)
    try {
      const code = await new Promise<number | null>((resolve, reject) => {
        const child = spawn(process.execPath, [WEFT_BIN, 'key'], { stdio: ['ignore', fd, 'inherit'] })
        child.once('error', reject)
        child.once('close', resolve)
      })
      assert.equal(code, 0)
    } finally {
      closeSync(fd)
    }
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.ok(!('error' in parseClusterKey(readFileSync(file, 'utf8'))))
  })

  test('--out writes 0600 and never overwrites', async () => {
    const file = await makeKey()
    assert.equal(statSync(file).mode & 0o777, 0o600)
    const text = readFileSync(file, 'utf8')
    const again = await runWeft(['key', '--out', file])
    assert.equal(again.code, 1)
    assert.equal(again.stderr, `weft: ${file} already exists: weft key never overwrites a key (every peer of a cluster needs the same one); remove it first to replace it\n`)
    assert.equal(readFileSync(file, 'utf8'), text, 'the key is unchanged')
    const json = await runWeft(['key', '--out', join(tempDataDir('weft-kj-'), 'k'), '--json'])
    assert.match(JSON.parse(json.stdout).fingerprint as string, /^[0-9a-f]{16}$/)
  })
})

describe('listening beyond loopback', () => {
  /** Launches with `--listen 0.0.0.0:PORT` (no PEER: nothing is dialled), returns stderr and status, and stops. */
  async function launchOpen (args: string[]): Promise<{ stderr: string, status: StatusJson, summary: string, log: string }> {
    const dataDir = tempDataDir('weft-open-')
    const r = await runWeft(['launch', '--data-dir', dataDir, '--listen', `0.0.0.0:${await freePort()}`, '--nickname', 'open', ...args])
    try {
      assert.equal(r.code, 0, r.stderr)
      const status = JSON.parse((await runWeft(['status', '--json', '--data-dir', dataDir])).stdout) as StatusJson
      const summary = (await runWeft(['status', '--data-dir', dataDir])).stdout
      return { stderr: r.stderr, status, summary, log: readFileSync(join(dataDir, 'weft.log'), 'utf8') }
    } finally {
      const pid = readPidFile(join(dataDir, 'weft.pid'))
      await runWeft(['stop', '--data-dir', dataDir])
      if (pid !== undefined && isProcessAlive(pid)) process.kill(pid, 'SIGKILL')
    }
  }

  test('without a key: a warning on stderr, in the log and in status', async () => {
    const { stderr, status, summary, log } = await launchOpen([])
    const lines = stderr.trimEnd().split('\n')
    assert.equal(lines.length, 1, stderr)
    assert.match(lines[0]!, /^weft: warning: no cluster key, and listening beyond loopback on \/ip4\/0\.0\.0\.0\/tcp\/\d+: any host that can reach it can join this cluster and take over its addresses; make a key with `weft key --out FILE` and launch every peer with --key-file FILE$/)
    assert.equal(status.security.clusterKey, false)
    assert.equal(`weft: warning: ${status.security.warning ?? ''}`, lines[0])
    assert.match(summary, /^security {3}WARNING: no cluster key, and listening beyond loopback on \/ip4\/0\.0\.0\.0\//m)
    assert.match(log, /WARN {2}weft:daemon no cluster key, and listening beyond loopback on \/ip4\/0\.0\.0\.0\//)
  })

  test('with a key: no warning', async () => {
    const { stderr, status, log } = await launchOpen(['--key-file', await makeKey()])
    assert.equal(stderr, '')
    assert.doesNotMatch(log, /no cluster key/)
    assert.equal(status.security.clusterKey, true)
    assert.equal(status.security.warning, null)
  })
})
