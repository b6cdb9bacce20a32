import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { open } from 'lmdb'
import { cleanup, freePort, runWeft, tempDataDir, WeftPeer, type RunResult } from '../helpers/weft-process.js'

/**
 * A stopped peer's data dir, damaged the ways issue 15 measured: every one is
 * refused with one line naming the file and the recovery, exit 1, and nothing
 * in the data dir is created or changed (weft.log aside). Before, a truncated
 * or deleted store founded a new cluster, a truncated allocation list handed
 * addresses out again, damaged pages killed `history` with SIGBUS, and a
 * missing key was replaced by a new one.
 */

after(async () => { await cleanup() })

let pristine = ''
let peerName = ''

before(async () => {
  const peer = await WeftPeer.launch({ nickname: 'damaged' })
  assert.equal((await peer.run(['wait-ready', '--timeout', '20'])).code, 0)
  await peer.client.alloc('c1')
  await peer.client.alloc('c2')
  peerName = peer.name
  await peer.stop()
  pristine = peer.dataDir
})

/** A copy of the stopped peer's data dir, changed by `damage`. */
function damaged (damage: (dir: string) => void): string {
  const dir = tempDataDir('weft-dmg-')
  rmSync(dir, { recursive: true })
  cpSync(pristine, dir, { recursive: true })
  damage(dir)
  return dir
}

/** Every file but the log, by content (LMDB's lock files by name only: any open rewrites their reader table). */
function contents (dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of readdirSync(dir).sort()) {
    if (name === 'weft.log') continue
    out[name] = name.endsWith('-lock') ? 'present' : createHash('sha256').update(readFileSync(join(dir, name))).digest('hex')
  }
  return out
}

async function launch (dir: string): Promise<RunResult> {
  return await runWeft(['launch', '--data-dir', dir, '--listen', `127.0.0.1:${await freePort()}`, '--nickname=damaged'])
}

/** `weft ARGS` fails with exit 1 and one line matching `message`, and leaves the data dir as it was. */
async function assertRefused (dir: string, args: string[] | 'launch', message: RegExp): Promise<void> {
  const before = contents(dir)
  const r = args === 'launch' ? await launch(dir) : await runWeft([...args, '--data-dir', dir])
  assert.equal(r.code, 1, `exit ${r.code}; stdout ${r.stdout}; stderr ${r.stderr}`)
  assert.equal(r.stdout, '')
  assert.match(r.stderr, /^weft: [^\n]+\n$/, 'one line on stderr')
  assert.match(r.stderr, message)
  assert.deepEqual(contents(dir), before, 'nothing in the data dir was created or changed')
  assert.equal(existsSync(join(dir, 'weft.pid')), false, 'no pid file is left')
}

test('store.mdb truncated to 0 bytes: launch refuses, founding no new cluster', async () => {
  const dir = damaged(d => { truncateSync(join(d, 'store.mdb'), 0) })
  await assertRefused(dir, 'launch', /store\.mdb is damaged \(it is empty: 0 bytes\).*move .* aside and launch again, then run `weft rmpeer 12D3KooW\w+` on another peer/)
  await assertRefused(dir, ['history'], /store\.mdb is not a valid LMDB store \(empty file\)/)
})

test('store.mdb deleted beside identity.key: launch refuses', async () => {
  const dir = damaged(d => { rmSync(join(d, 'store.mdb')) })
  await assertRefused(dir, 'launch', new RegExp(`store\\.mdb is missing, but .* held a store \\(store\\.mdb-lock, allocations\\.mdb, allocations\\.mdb-lock remain\\): launching would start peer ${peerName}'s log afresh`))
})

test('allocations.mdb truncated, or deleted beside its lock file: launch refuses rather than hand addresses out again', async () => {
  const truncated = damaged(d => { truncateSync(join(d, 'allocations.mdb'), 0) })
  await assertRefused(truncated, 'launch', /allocations\.mdb is damaged \(it is empty: 0 bytes\): it is this peer's only record of the addresses it handed out.*`weft claim ID ADDRESS`/)
  const deleted = damaged(d => { rmSync(join(d, 'allocations.mdb')) })
  await assertRefused(deleted, 'launch', /allocations\.mdb is missing, but allocations\.mdb-lock shows this peer had one/)
})

test('damaged pages in store.mdb: history, verify, check and launch exit 1 naming the file, without a signal or a stale pid file', async () => {
  const dir = damaged(d => {
    const file = join(d, 'store.mdb')
    const bytes = readFileSync(file)
    let s = 7
    for (let i = 2 * 4096; i < bytes.length; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; bytes[i] = s >>> 24 }
    writeFileSync(file, bytes)
  })
  for (const cmd of [['history'], ['verify'], ['check'], ['audit', '10.32.0.1']]) {
    await assertRefused(dir, cmd, /store\.mdb is damaged \(.*\): this peer's log cannot be read here/)
  }
  // The launcher checks the meta pages; the daemon walks the pages, holding the pid lock, and must let it go.
  await assertRefused(dir, 'launch', /the peer exited during launch \(exit code 1\): .*store\.mdb is damaged \(.*\): weft will not open it/)
})

test('a store cut short: refused, naming the file', async () => {
  const dir = damaged(d => { truncateSync(join(d, 'store.mdb'), 3 * 4096) })
  await assertRefused(dir, ['history'], /store\.mdb is (damaged|not a valid LMDB store)/)
  await assertRefused(dir, 'launch', /store\.mdb is damaged/)
})

test('identity.key deleted beside the store: launch and id refuse, and no new key is left behind', async () => {
  const dir = damaged(d => { rmSync(join(d, 'identity.key')) })
  for (const args of ['launch', ['id']] as const) {
    await assertRefused(dir, args === 'launch' ? 'launch' : [...args], /identity\.key is missing, but .* holds a peer's store .*Put identity\.key back/)
    assert.equal(existsSync(join(dir, 'identity.key')), false)
  }
})

test('a pid file naming an unrelated live process: commands see a stopped peer, and launch starts it', async () => {
  const dir = damaged(() => {})
  const stranger = spawn('sleep', ['60'], { stdio: 'ignore' })
  try {
    await new Promise(resolve => stranger.once('spawn', resolve))
    writeFileSync(join(dir, 'weft.pid'), `${stranger.pid}\n`)
    const history = await runWeft(['history', '--data-dir', dir])
    assert.equal(history.code, 0, history.stderr)
    assert.match(history.stdout, /genesis/)
    const status = await runWeft(['status', '--data-dir', dir])
    assert.equal(status.code, 1)
    assert.equal(status.stderr, `weft: no peer running in ${dir}\n`)
    const peer = await WeftPeer.launch({ nickname: 'damaged', dataDir: dir })
    assert.equal(peer.name, peerName)
    const ls = await peer.run(['ls'])
    assert.deepEqual(ls.stdout.trim().split('\n').map(l => l.split(' ')[0]), ['c1', 'c2'])
    await peer.stop()
  } finally {
    stranger.kill('SIGKILL')
  }
})

/** Rewrites one record of the stopped peer's store, past the store's encoders. */
async function rewriteState (dir: string, key: string, edit: (json: any) => unknown): Promise<void> {
  const root = open({ path: join(dir, 'store.mdb'), compression: false, maxDbs: 16 })
  const state = root.openDB<Buffer, string>({ name: 'state', encoding: 'binary' })
  await state.put(key, Buffer.from(JSON.stringify(edit(JSON.parse(state.get(key)!.toString())))))
  await root.close()
}

test('a malformed saved ring snapshot: verify names it; launch ignores it with a warning and writes a good one', async () => {
  const dir = damaged(() => {})
  await rewriteState(dir, 'snapshot', rec => ({ ...rec, snapshot: { ...rec.snapshot, peers: [{ name: 'nobody' }] } }))
  const bad = await runWeft(['verify', '--data-dir', dir])
  assert.equal(bad.code, 1)
  assert.match(bad.stdout, /saved ring snapshot: MALFORMED \(\.peers\[0\]\.name: expected a peer name, got "nobody"\)/)
  const peer = await WeftPeer.launch({ nickname: 'damaged', dataDir: dir })
  assert.equal((await peer.status()).peers.length, 0)
  await peer.stop()
  assert.match(readFileSync(join(dir, 'weft.log'), 'utf8'), /WARN.*ignoring the saved ring snapshot.*expected a peer name/)
  const good = await runWeft(['verify', '--data-dir', dir])
  assert.equal(good.code, 0, good.stdout + good.stderr)
  assert.match(good.stdout, /saved ring snapshot: matches the fold of the log/)
})

test('a malformed meta record: launch refuses, naming the store and the field', async () => {
  const dir = damaged(() => {})
  await rewriteState(dir, 'meta', meta => ({ ...meta, clusterId: 42 }))
  await assertRefused(dir, 'launch', /store\.mdb: the store's meta record is malformed \(\.clusterId: expected a string, got 42\)/)
  await assertRefused(dir, ['history'], /store\.mdb: the store's meta record is malformed/)
})

test('--data-dir under /proc: launch and id fail at once with a clear error (no mkdir loop)', { skip: !existsSync('/proc/self') }, async () => {
  for (const args of [['launch', '--listen', '127.0.0.1:1'], ['id']]) {
    const started = Date.now()
    const r = await runWeft([...args, '--data-dir', '/proc/nope'], {}, 15_000)
    assert.equal(r.code, 1)
    assert.equal(r.stderr, "weft: cannot create data dir /proc/nope: ENOENT: no such file or directory, mkdir '/proc/nope'\n")
    assert.ok(Date.now() - started < 10_000)
  }
})
