import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, chownSync, lchownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ControlClient } from '../../node/api/client.js'
import { startControlServer } from '../../node/api/server.js'
import { SocketDirError } from '../../node/api/socket-dir.js'
import { chooseSocketPath } from '../../node/data-dir.js'
import { createLogger, lineSink } from '../../node/logger.js'
import { FakeDaemon, fakeStatus } from '../helpers/fake-daemon.js'

/**
 * The control socket lives in a 0700 directory this user owns, and the client
 * talks only to a socket this user owns there (DESIGN.md §3.3). Changing
 * owners needs root: those cases are skipped for other users.
 */

const root = mkdtempSync(join(tmpdir(), 'weft-sockdir-'))
after(() => { rmSync(root, { recursive: true, force: true }) })

const asRoot = process.geteuid?.() === 0
const NOBODY = 65534
const uid = process.geteuid?.() ?? 0

function assertRefused (err: unknown, code: string, message: RegExp): boolean {
  assert.ok(err instanceof SocketDirError, String(err))
  assert.equal(err.code, code)
  assert.match(err.message, message)
  assert.ok(!err.message.includes('\n'))
  return true
}

test('the temp-dir fallback: the daemon makes weft-UID 0700, and a client of the same user gets through', async () => {
  const long = join(root, 'd'.repeat(120))
  const socket = chooseSocketPath(long, { XDG_RUNTIME_DIR: join(root, 'run') })
  assert.equal(socket.startsWith(join(root, 'run', `weft-${uid}`) + '/'), true, socket)
  const fake = new FakeDaemon(fakeStatus())
  const server = await startControlServer(socket, fake)
  try {
    assert.equal(statSync(join(root, 'run', `weft-${uid}`)).mode & 0o777, 0o700)
    assert.equal(statSync(socket).mode & 0o777, 0o600)
    assert.deepEqual(await new ControlClient({ socketPath: socket, dataDir: long }).status(), fake.statusJson)
  } finally {
    await server.close()
  }
})

test('a socket directory of ours that others can enter is made 0700, with a warning', async () => {
  const dir = join(root, 'loose')
  mkdirSync(dir)
  chmodSync(dir, 0o755)
  const lines: string[] = []
  const server = await startControlServer(join(dir, 'weft.sock'), new FakeDaemon(fakeStatus()), createLogger(lineSink(l => { lines.push(l) }, 'warn')))
  await server.close()
  assert.equal(statSync(dir).mode & 0o777, 0o700)
  assert.match(lines.join(''), /WARN .*made .*loose mode 0700 \(it was 0755\): the control socket's directory must be this user's alone/)
})

test('the daemon refuses a socket directory another user owns, even a symlink to its own', { skip: !asRoot }, async () => {
  const theirs = join(root, 'theirs')
  mkdirSync(theirs, { mode: 0o700 })
  chownSync(theirs, NOBODY, NOBODY)
  await assert.rejects(startControlServer(join(theirs, 'weft.sock'), new FakeDaemon(fakeStatus())),
    err => assertRefused(err, 'not-ours', new RegExp(`the directory .*theirs of the control socket is owned by uid ${NOBODY}, not by this user \\(uid 0\\)`)))
  const mine = join(root, 'mine')
  mkdirSync(mine, { mode: 0o700 })
  const link = join(root, 'planted')
  symlinkSync(mine, link)
  lchownSync(link, NOBODY, NOBODY)
  await assert.rejects(startControlServer(join(link, 'weft.sock'), new FakeDaemon(fakeStatus())),
    err => assertRefused(err, 'not-ours', /is a symlink owned by uid 65534/))
})

test('the client refuses a socket another user owns, and a directory another user owns or can write', async () => {
  const dir = join(root, 'client')
  mkdirSync(dir, { mode: 0o700 })
  const socket = join(dir, 'weft.sock')
  const server = await startControlServer(socket, new FakeDaemon(fakeStatus()))
  const client = new ControlClient({ socketPath: socket, dataDir: dir })
  try {
    await client.status()
    chmodSync(dir, 0o777)
    await assert.rejects(client.status(), err => assertRefused(err, 'unsafe-dir', /the directory .*client of control socket .*weft\.sock is writable by other users \(mode 0777\)/))
    chmodSync(dir, 0o700)
    if (asRoot) {
      chownSync(socket, NOBODY, NOBODY)
      await assert.rejects(client.status(), err => assertRefused(err, 'not-ours', /^control socket .*weft\.sock is owned by uid 65534, not by this user \(uid 0\): refusing to talk to it/))
      await assert.rejects(client.followEvents(() => {}), err => assertRefused(err, 'not-ours', /owned by uid 65534/))
      chownSync(socket, 0, 0)
      chownSync(dir, NOBODY, NOBODY)
      await assert.rejects(client.status(), err => assertRefused(err, 'not-ours', /the directory .*client of control socket .* is owned by uid 65534/))
      chownSync(dir, 0, 0)
    }
    await client.status()
  } finally {
    await server.close()
  }
})
