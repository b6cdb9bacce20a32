import { describe, test, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  acquirePidLock, chooseSocketPath, DataDirError, dataDirPaths, ensureDataDir, findSocketPath, isWeftDaemon, makeDirs,
  MAX_SOCKET_PATH_BYTES, PeerAlreadyRunningError, publishSocketPath, resolveDataDir, runningPid
} from '../../node/data-dir.js'

const root = mkdtempSync(join(tmpdir(), 'weft-dd-'))
after(() => { rmSync(root, { recursive: true, force: true }) })

/** The pid of a process that has exited. */
function deadPid (): number {
  const child = spawnSync(process.execPath, ['-e', ''])
  return child.pid
}

const children: ChildProcess[] = []
after(() => { for (const c of children) c.kill('SIGKILL') })

/** A live process; with `weft`, one whose command line reads like a weft daemon's (`…/weft.js launch`). */
async function liveProcess (weft: boolean): Promise<number> {
  const args = ['-e', 'setInterval(() => {}, 1000)', ...(weft ? ['/opt/weft/bin/weft.js', 'launch', '--foreground'] : ['some-other-program'])]
  const child = spawn(process.execPath, args, { stdio: 'ignore' })
  children.push(child)
  await new Promise(resolve => child.once('spawn', resolve))
  return child.pid!
}

describe('resolveDataDir', () => {
  test('--data-dir, then WEFT_DATA_DIR, then XDG_DATA_HOME/weft, then ~/.local/share/weft', () => {
    const env = { WEFT_DATA_DIR: '/w', XDG_DATA_HOME: '/x', HOME: '/home/u' }
    assert.equal(resolveDataDir('/opt', env, false), '/opt')
    assert.equal(resolveDataDir(undefined, env, false), '/w')
    assert.equal(resolveDataDir(undefined, { XDG_DATA_HOME: '/x', HOME: '/home/u' }, false), '/x/weft')
    assert.equal(resolveDataDir(undefined, { HOME: '/home/u' }, false), '/home/u/.local/share/weft')
    assert.equal(resolveDataDir('', { WEFT_DATA_DIR: '', HOME: '/home/u' }, false), '/home/u/.local/share/weft')
  })
  test('root defaults to /var/lib/weft unless an env var says otherwise', () => {
    assert.equal(resolveDataDir(undefined, { HOME: '/root' }, true), '/var/lib/weft')
    assert.equal(resolveDataDir(undefined, { XDG_DATA_HOME: '/x' }, true), '/x/weft')
    assert.equal(resolveDataDir(undefined, { WEFT_DATA_DIR: '/w' }, true), '/w')
  })
  test('relative paths become absolute', () => {
    assert.equal(resolveDataDir('rel/dir', {}, false), join(process.cwd(), 'rel/dir'))
  })
})

describe('paths and the socket', () => {
  test('file names', () => {
    const p = dataDirPaths('/d', {})
    assert.deepEqual(
      [p.identity, p.store, p.socket, p.pid, p.log, p.socketPathFile],
      ['/d/identity.key', '/d/store.mdb', '/d/weft.sock', '/d/weft.pid', '/d/weft.log', '/d/weft.sock.path'])
  })
  test('a 200-character data dir falls back to this user\'s directory in XDG_RUNTIME_DIR or the temp dir, deterministically', () => {
    const long = '/' + 'a'.repeat(199)
    const a = chooseSocketPath(long, { XDG_RUNTIME_DIR: '/run/user/1000' }, 1000)
    assert.match(a, /^\/run\/user\/1000\/weft-1000\/weft-[0-9a-f]{16}\.sock$/)
    assert.equal(chooseSocketPath(long, { XDG_RUNTIME_DIR: '/run/user/1000' }, 1000), a)
    assert.notEqual(chooseSocketPath(long + 'b', { XDG_RUNTIME_DIR: '/run/user/1000' }, 1000), a)
    assert.match(chooseSocketPath(long, {}, 1001), new RegExp(`^${tmpdir()}/weft-1001/weft-[0-9a-f]{16}\\.sock$`))
  })
  test('the limit is 107 bytes, counted in UTF-8', () => {
    const fits = '/' + 'a'.repeat(MAX_SOCKET_PATH_BYTES - '/weft.sock'.length - 1)
    assert.equal(chooseSocketPath(fits, {}), `${fits}/weft.sock`)
    assert.notEqual(chooseSocketPath(fits + 'a', {}), `${fits}a/weft.sock`)
    const multibyte = '/' + 'é'.repeat(50) // 101 bytes + /weft.sock
    assert.notEqual(chooseSocketPath(multibyte, {}), `${multibyte}/weft.sock`)
  })
  test('clients find a published fallback path', () => {
    const long = join(root, 'x'.repeat(120))
    ensureDataDir(long)
    const paths = dataDirPaths(long, { XDG_RUNTIME_DIR: '/run/daemon-env' })
    publishSocketPath(paths)
    assert.equal(readFileSync(paths.socketPathFile, 'utf8').trim(), paths.socket)
    // A client whose environment differs still finds the daemon's choice.
    assert.equal(findSocketPath(long, {}), paths.socket)
    const short = join(root, 'short')
    ensureDataDir(short)
    writeFileSync(join(short, 'weft.sock.path'), '/stale\n')
    publishSocketPath(dataDirPaths(short, {}))
    assert.equal(existsSync(join(short, 'weft.sock.path')), false, 'a stale record is removed')
    assert.equal(findSocketPath(short, {}), join(short, 'weft.sock'))
  })
  test('ensureDataDir creates the directory with mode 0700', () => {
    const dir = join(root, 'new', 'nested')
    ensureDataDir(dir)
    assert.equal(statSync(dir).mode & 0o777, 0o700)
  })
})

describe('making directories', () => {
  test('a data dir under /proc fails at once with a clear error (Node\'s recursive mkdir loops there for ever)', { skip: !existsSync('/proc/self') }, () => {
    const started = Date.now()
    assert.throws(() => { ensureDataDir('/proc/nope/weft') }, (err: unknown) => {
      assert.ok(err instanceof DataDirError)
      assert.equal(err.code, 'io')
      assert.match(err.message, /^cannot create data dir \/proc\/nope\/weft: ENOENT/)
      return true
    })
    assert.ok(Date.now() - started < 1000)
  })
  test('creates every missing level with the mode; a file in the way is an error', () => {
    const dir = join(root, 'mk', 'a', 'b')
    makeDirs(dir, 0o700)
    assert.equal(statSync(dir).mode & 0o777, 0o700)
    makeDirs(dir, 0o700) // already there
    writeFileSync(join(root, 'mk', 'file'), '')
    assert.throws(() => { makeDirs(join(root, 'mk', 'file', 'c'), 0o700) }, /cannot create directory .*not a directory/)
  })
})

describe('pid lock', () => {
  test('acquire writes the pid; a second holder is refused; release removes it', async () => {
    const dir = join(root, 'lock1')
    const daemon = await liveProcess(true)
    const release = acquirePidLock(dir, daemon)
    assert.equal(readFileSync(join(dir, 'weft.pid'), 'utf8').trim(), String(daemon))
    assert.equal(runningPid(dir), daemon)
    assert.throws(() => acquirePidLock(dir, process.pid + 1_000_000), (err: unknown) => {
      assert.ok(err instanceof PeerAlreadyRunningError)
      assert.equal(err.message, `a peer is already running in ${dir} (pid ${daemon})`)
      return true
    })
    release()
    assert.equal(existsSync(join(dir, 'weft.pid')), false)
    assert.equal(runningPid(dir), undefined)
  })
  test('a pid file naming a live process that is not a weft daemon is stale (its pid was reused)', async () => {
    const dir = join(root, 'lock-reused')
    ensureDataDir(dir)
    const other = await liveProcess(false)
    assert.equal(isWeftDaemon(other), false)
    assert.equal(isWeftDaemon(await liveProcess(true)), true)
    writeFileSync(join(dir, 'weft.pid'), `${other}\n`)
    assert.equal(runningPid(dir), undefined)
    const release = acquirePidLock(dir)
    assert.equal(readFileSync(join(dir, 'weft.pid'), 'utf8').trim(), String(process.pid))
    release()
  })
  test('a stale pid file (dead process, garbage) is replaced', () => {
    const dir = join(root, 'lock2')
    ensureDataDir(dir)
    writeFileSync(join(dir, 'weft.pid'), `${deadPid()}\n`)
    assert.equal(runningPid(dir), undefined)
    const release = acquirePidLock(dir)
    assert.equal(readFileSync(join(dir, 'weft.pid'), 'utf8').trim(), String(process.pid))
    release()
    writeFileSync(join(dir, 'weft.pid'), 'garbage')
    acquirePidLock(dir)()
  })
  test('release leaves a pid file that is no longer ours', () => {
    const dir = join(root, 'lock3')
    const release = acquirePidLock(dir)
    writeFileSync(join(dir, 'weft.pid'), '1\n')
    release()
    assert.equal(readFileSync(join(dir, 'weft.pid'), 'utf8').trim(), '1')
  })
})
