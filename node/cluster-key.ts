/**
 * The cluster key (DESIGN.md §3.3): a libp2p private-network pre-shared key.
 * Peers launched with `--key-file FILE` talk only to peers holding the same
 * key; a host without it fails the connection's first bytes, before Noise
 * and before any weft protocol runs.
 *
 * The file is libp2p pnet's (and Kubo's) swarm key text:
 *
 *     /key/swarm/psk/1.0.0/
 *     /base16/
 *     <64 hex digits>
 *
 * It is a secret: `weft key` writes it 0600, and a key file that group or
 * others may read is refused, as ssh refuses an open private key.
 *
 * No libp2p here: the CLI checks the file before anything starts, and
 * `weft key` should not pay for libp2p's imports.
 */
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, constants, fsyncSync, openSync, readFileSync, statSync, writeSync } from 'node:fs'
import { WeftError } from '../crdt/errors.js'

export type ClusterKeyErrorCode = 'unreadable' | 'permissions' | 'malformed' | 'exists'

/** A key file that cannot be used, or a key that cannot be written; the message is one line. */
export class ClusterKeyError extends WeftError<ClusterKeyErrorCode> {
  override name = 'ClusterKeyError'
}

export interface ClusterKey {
  /** The key file, absolute. */
  file: string
  /** The key in the canonical three-line form, the bytes libp2p pnet decodes. */
  psk: Uint8Array
  /** A short digest of the key, equal on every host that holds it (safe to show and compare). */
  fingerprint: string
}

const HEADER = '/key/swarm/psk/1.0.0/'
const ENCODING = '/base16/'
const HEX_KEY = /^[0-9a-fA-F]{64}$/
/** A key file is three short lines; anything much bigger is not one (and is not read whole). */
const MAX_KEY_FILE_BYTES = 4096

/** A new random key: the file's text (with a final newline) and its fingerprint. */
export function newClusterKey (): { text: string, fingerprint: string } {
  const hex = randomBytes(32).toString('hex')
  return { text: `${HEADER}\n${ENCODING}\n${hex}\n`, fingerprint: fingerprintOf(hex) }
}

/** Domain-separated, so the fingerprint is no digest anyone else publishes of the key. */
function fingerprintOf (hex: string): string {
  return createHash('sha256').update('weft cluster key fingerprint\n').update(hex).digest('hex').slice(0, 16)
}

/**
 * The key in `text`, or why it is not one. Accepts what libp2p pnet accepts
 * for this format: LF or CRLF line ends, a final newline, upper-case hex.
 */
export function parseClusterKey (text: string): { psk: Uint8Array, fingerprint: string } | { error: string } {
  const lines = text.replace(/(\r\n|\r|\n)$/, '').split(/\r\n|\r|\n/)
  if (lines.length !== 3 || lines[0] !== HEADER || lines[1] !== ENCODING) {
    return { error: `expected three lines: "${HEADER}", "${ENCODING}" and the key in 64 hex digits` }
  }
  const hex = lines[2]!.trim()
  if (!HEX_KEY.test(hex)) return { error: 'the third line must be the key in 64 hex digits' }
  const key = hex.toLowerCase()
  return { psk: new TextEncoder().encode(`${HEADER}\n${ENCODING}\n${key}`), fingerprint: fingerprintOf(key) }
}

/**
 * Reads and checks a key file: a regular file that only its owner can
 * access, holding one key. Every failure is a ClusterKeyError naming the
 * file and what to do.
 */
export function readClusterKeyFile (file: string): ClusterKey {
  let st
  try {
    st = statSync(file)
  } catch (err) {
    throw new ClusterKeyError('unreadable', `cannot read cluster key ${file}: ${reason(err)}` +
      ((err as NodeJS.ErrnoException).code === 'ENOENT' ? ' (make one with `weft key --out FILE`)' : ''))
  }
  if (!st.isFile()) throw new ClusterKeyError('unreadable', `cluster key ${file} is not a regular file`)
  if ((st.mode & 0o077) !== 0) {
    throw new ClusterKeyError('permissions', `cluster key ${file} is accessible by group or others (mode ${modeText(st.mode)}): run \`chmod 600 ${file}\``)
  }
  if (st.size > MAX_KEY_FILE_BYTES) throw new ClusterKeyError('malformed', `cluster key ${file} is not a swarm key: it is ${st.size} bytes long`)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ClusterKeyError('unreadable', `cannot read cluster key ${file}: ${reason(err)}`)
  }
  const parsed = parseClusterKey(text)
  if ('error' in parsed) throw new ClusterKeyError('malformed', `cluster key ${file} is not a swarm key: ${parsed.error} (make one with \`weft key\`)`)
  return { file, ...parsed }
}

/** Writes a new key file, mode 0600; never replaces an existing file. */
export function writeClusterKeyFile (file: string, text: string): void {
  let fd: number
  try {
    fd = openSync(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ClusterKeyError('exists', `${file} already exists: weft key never overwrites a key (every peer of a cluster needs the same one); remove it first to replace it`)
    }
    throw new ClusterKeyError('unreadable', `cannot write ${file}: ${reason(err)}`)
  }
  try {
    writeSync(fd, text)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/**
 * The listen addresses reachable from other hosts: all but loopback
 * (127.0.0.0/8, ::1). Wildcards (0.0.0.0, ::) count: they include every interface.
 */
export function exposedListenAddrs (listen: readonly string[]): string[] {
  return listen.filter(a => !/^\/ip4\/127\.\d+\.\d+\.\d+\/|^\/ip6\/::1\//.test(a))
}

/** What `weft launch` and `weft status` say about a peer exposed without a key; undefined when it is not. */
export function exposureWarning (key: ClusterKey | undefined, listen: readonly string[]): string | undefined {
  if (key !== undefined) return undefined
  const exposed = exposedListenAddrs(listen)
  if (exposed.length === 0) return undefined
  return `no cluster key, and listening beyond loopback on ${exposed.join(', ')}: any host that can reach it can join ` +
    'this cluster and take over its addresses; make a key with `weft key --out FILE` and launch every peer with --key-file FILE'
}

function reason (err: unknown): string {
  const e = err as NodeJS.ErrnoException
  switch (e.code) {
    case 'ENOENT': return 'no such file'
    case 'EACCES': return 'permission denied'
    case 'EISDIR': return 'it is a directory'
    default: return e.message ?? String(err)
  }
}

function modeText (mode: number): string {
  return '0' + (mode & 0o777).toString(8).padStart(3, '0')
}
