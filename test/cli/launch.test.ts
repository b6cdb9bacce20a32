/**
 * `weft launch`/`stop` as real processes, with the fake daemon standing in for
 * node/daemon.ts (WEFT_TEST_DAEMON_MODULE), so the launch machinery is tested
 * on its own: detaching, the pid lock, readiness, failures, the socket fallback.
 */
import { describe, test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isProcessAlive } from '../../node/data-dir.js'
import { cleanup, runWeft, tempDataDir, WEFT_BIN, WeftPeer } from '../helpers/weft-process.js'

const FAKE_MODULE = fileURLToPath(new URL('../helpers/fake-daemon.js', import.meta.url))
const env = { WEFT_TEST_DAEMON_MODULE: FAKE_MODULE }

after(async () => { await cleanup() })

describe('background launch (fake daemon)', () => {
  test('launch, status, refuse a second launch, stop, relaunch with the same identity', async () => {
    const peer = await WeftPeer.launch({ nickname: 'alpha', env })
    assert.match(peer.name, /^12D3KooW/)
    assert.ok(peer.running, 'the daemon runs detached after launch returned')
    assert.equal(readFileSync(join(peer.dataDir, 'weft.pid'), 'utf8').trim(), String(peer.pid))

    const status = await peer.status()
    assert.equal(status.peer.name, peer.name)
    assert.equal(status.peer.nickname, 'alpha')
    assert.deepEqual(status.peer.listen, [peer.addr])
    assert.equal(status.pid, peer.pid)
    assert.equal((await peer.run(['id'])).stdout.trim(), peer.name)

    const again = await peer.run(['launch', '--nickname=alpha'])
    assert.equal(again.code, 1)
    assert.equal(again.stderr, `weft: a peer is already running in ${peer.dataDir} (pid ${peer.pid})\n`)

    const cliStatus = await peer.run(['status', '--json'])
    assert.equal(cliStatus.code, 0)
    assert.equal(JSON.parse(cliStatus.stdout).peer.name, peer.name)

    const pid = peer.pid
    await peer.stop()
    assert.equal(existsSync(join(peer.dataDir, 'weft.pid')), false, 'pid file removed on a clean stop')
    assert.equal(existsSync(join(peer.dataDir, 'weft.sock')), false, 'socket removed on a clean stop')
    assert.equal(isProcessAlive(pid), false)
    const after = await peer.run(['status'])
    assert.deepEqual([after.code, after.stderr], [1, `weft: no peer running in ${peer.dataDir}\n`])

    await peer.relaunch()
    assert.notEqual(peer.pid, pid)
    assert.equal((await peer.status()).peer.name, peer.name)
    await peer.stop()
  })

  test('after kill -9 the stale pid file and socket do not block a relaunch', async () => {
    const peer = await WeftPeer.launch({ nickname: 'beta', env })
    await peer.kill('SIGKILL')
    assert.ok(existsSync(join(peer.dataDir, 'weft.pid')), 'kill -9 leaves the pid file')
    assert.equal((await peer.run(['status'])).stderr, `weft: no peer running in ${peer.dataDir}\n`)
    await peer.relaunch()
    assert.equal((await peer.status()).peer.nickname, 'beta')
    await peer.stop()
  })

  test('a daemon that fails at start: launch exits 1 with the cause from the log', async () => {
    const dir = tempDataDir()
    const r = await runWeft(['launch', '--listen', '127.0.0.1:1', '--data-dir', dir], { ...env, WEFT_FAKE_FAIL: '1' })
    assert.equal(r.code, 1)
    assert.equal(r.stdout, '')
    // One line: what else the daemon logged stays in the log file.
    assert.equal(r.stderr, 'weft: the peer exited during launch (exit code 1): fake daemon failed to start on purpose\n')
    assert.match(readFileSync(join(dir, 'weft.log'), 'utf8'), /fake daemon failed to start on purpose/)
    assert.equal(existsSync(join(dir, 'weft.pid')), false, 'the lock is released')
  })

  test('a real daemon whose port is taken: one line naming the address, the rest in the log', async () => {
    const holder = createServer()
    await new Promise<void>(resolve => { holder.listen(0, '127.0.0.1', resolve) })
    const port = (holder.address() as AddressInfo).port
    try {
      const dir = tempDataDir()
      const r = await runWeft(['launch', '--listen', `127.0.0.1:${port}`, '--data-dir', dir])
      assert.equal(r.code, 1)
      assert.equal(r.stdout, '')
      assert.equal(r.stderr, `weft: the peer exited during launch (exit code 1): cannot listen on /ip4/127.0.0.1/tcp/${port}: address already in use (EADDRINUSE)\n`)
      assert.match(readFileSync(join(dir, 'weft.log'), 'utf8'), /INFO/)
      assert.equal(existsSync(join(dir, 'weft.pid')), false, 'the lock is released')
    } finally {
      holder.close()
    }
  })

  test('a data dir too long for a unix socket falls back, and clients follow', async () => {
    const base = tempDataDir()
    const dir = join(base, 'd'.repeat(100))
    mkdirSync(dir)
    const peer = await WeftPeer.launch({ nickname: 'gamma', env, dataDir: dir })
    const published = readFileSync(join(dir, 'weft.sock.path'), 'utf8').trim()
    assert.match(published, new RegExp(`/weft-${process.geteuid?.() ?? 'user'}/weft-[0-9a-f]{16}\\.sock$`))
    assert.equal(statSync(dirname(published)).mode & 0o777, 0o700, 'the fallback directory is this user\'s alone')
    assert.equal((await peer.run(['status', '--json'])).code, 0)
    await peer.stop()
    assert.equal(existsSync(published), false)
  })
})

describe('foreground launch (fake daemon)', () => {
  test('prints NAME NICKNAME when ready, stops on SIGTERM and releases the lock', async () => {
    const dir = tempDataDir()
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, WEFT_TEST_HOOKS: '1' }
    delete childEnv.NODE_TEST_CONTEXT
    const child = spawn(process.execPath, [WEFT_BIN, 'launch', '--foreground', '--nickname=delta', '--listen', '127.0.0.1:1', '--data-dir', dir], { env: childEnv })
    let out = ''
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('no ready line within 20s')) }, 20_000)
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString()
        if (out.includes('\n')) { clearTimeout(timer); resolve(out.trim()) }
      })
      child.once('exit', code => { clearTimeout(timer); reject(new Error(`exited ${code}`)) })
    })
    assert.match(line, /^12D3KooW\S+ delta$/)
    assert.equal(readFileSync(join(dir, 'weft.pid'), 'utf8').trim(), String(child.pid))
    const exited = new Promise<number | null>(resolve => child.once('exit', code => { resolve(code) }))
    child.kill('SIGTERM')
    assert.equal(await exited, 0)
    assert.equal(existsSync(join(dir, 'weft.pid')), false)
  })
})
