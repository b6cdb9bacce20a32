/**
 * Who owns the control socket (DESIGN.md §3.3). Whoever can reach the socket
 * can run every command, and whoever can replace it answers the CLI's
 * requests. So the daemon puts it only in a directory that this user owns
 * and nobody else can enter (mode 0700: the data dir, or weft-UID under the
 * runtime or temp dir for a data dir whose path is too long), and the client
 * talks only to a socket this user owns, in a directory this user owns that
 * nobody else can write.
 */
import { chmodSync, lstatSync, statSync, type Stats } from 'node:fs'
import { dirname } from 'node:path'
import { WeftError } from '../../crdt/errors.js'
import { makeDirs } from '../data-dir.js'

export type SocketDirErrorCode = 'not-ours' | 'unsafe-dir'

export class SocketDirError extends WeftError<SocketDirErrorCode> {
  override name = 'SocketDirError'
}

/** This process's effective uid; undefined where there are none (Windows): nothing to check. */
function myUid (): number | undefined {
  return process.geteuid?.()
}

function mode (st: Stats): string {
  return (st.mode & 0o777).toString(8).padStart(4, '0')
}

/**
 * The daemon's side, before it listens: the socket's directory exists (made
 * 0700 if missing), is this user's, and is 0700 (tightened if it was looser,
 * which the returned text says, for a warning). Throws SocketDirError when
 * the directory belongs to someone else.
 */
export function prepareSocketDir (socketPath: string): string | undefined {
  const dir = dirname(socketPath)
  makeDirs(dir, 0o700, 'control socket directory')
  const uid = myUid()
  if (uid === undefined) return undefined
  const st = ownDirectory(dir, uid, 'the control socket')
  if ((st.mode & 0o077) === 0) return undefined
  try {
    chmodSync(dir, 0o700)
  } catch (err) {
    throw new SocketDirError('unsafe-dir', `the directory ${dir} of the control socket is mode ${mode(st)}, and making it 0700 failed: ${(err as Error).message}`, { cause: err })
  }
  return `made ${dir} mode 0700 (it was ${mode(st)}): the control socket's directory must be this user's alone`
}

/**
 * The client's side, before each request: refuses a socket, or a socket
 * directory, that another user owns, and a directory others can write
 * (they could swap the socket). A socket that does not exist is left to
 * the connection (no peer running).
 */
export function checkSocketOwner (socketPath: string): void {
  const uid = myUid()
  if (uid === undefined) return
  let sock: Stats
  try {
    sock = lstatSync(socketPath)
  } catch {
    return
  }
  const dir = dirname(socketPath)
  const st = ownDirectory(dir, uid, `control socket ${socketPath}`)
  if ((st.mode & 0o022) !== 0) {
    throw new SocketDirError('unsafe-dir', `the directory ${dir} of control socket ${socketPath} is writable by other users (mode ${mode(st)}): ` +
      'one of them could replace the socket; refusing to use it (the peer makes it 0700 when it starts)')
  }
  if (sock.uid !== uid) {
    throw new SocketDirError('not-ours', `control socket ${socketPath} is owned by uid ${sock.uid}, not by this user (uid ${uid}): ` +
      'refusing to talk to it (run weft as the user who launched the peer)')
  }
}

/** The directory's stats, after checking that it, and a symlink to it, belong to `uid`. */
function ownDirectory (dir: string, uid: number, what: string): Stats {
  const link = lstatSync(dir)
  if (link.isSymbolicLink() && link.uid !== uid) {
    throw new SocketDirError('not-ours', `the directory ${dir} of ${what} is a symlink owned by uid ${link.uid}, not by this user (uid ${uid}); refusing to use it`)
  }
  const st = statSync(dir)
  if (!st.isDirectory()) throw new SocketDirError('unsafe-dir', `${dir}, the directory of ${what}, is not a directory`)
  if (st.uid !== uid) {
    throw new SocketDirError('not-ours', `the directory ${dir} of ${what} is owned by uid ${st.uid}, not by this user (uid ${uid}); refusing to use it`)
  }
  return st
}
