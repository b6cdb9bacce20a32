/**
 * A peer's identity: one Ed25519 key in DATA_DIR/identity.key (libp2p protobuf
 * form, mode 0600). Its PeerId is the peer name; its seed signs events.
 * Never copy a data dir: two hosts with one identity equivocate (DESIGN.md §4).
 */
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Ed25519PrivateKey } from '@libp2p/interface'
import { ensureDataDir } from './data-dir.js'

export interface Identity {
  privateKey: Ed25519PrivateKey
  /** The libp2p PeerId string, e.g. 12D3KooW…; the peer name everywhere. */
  peerName: string
  /** The 32-byte Ed25519 seed (signs events). */
  seed: Uint8Array
  /** True when this call generated the key. */
  created: boolean
  /** Set when the key file is readable by group or others (it still loads). */
  modeWarning?: string
}

export class IdentityError extends Error {
  override name = 'IdentityError'
}

export function identityPath (dataDir: string): string {
  return join(dataDir, 'identity.key')
}

/** Loads DATA_DIR/identity.key, or creates it (and the data dir) when missing. */
export async function loadOrCreateIdentity (dataDir: string): Promise<Identity> {
  const file = identityPath(dataDir)
  let bytes: Buffer | undefined
  try {
    bytes = readFileSync(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new IdentityError(`cannot read identity ${file}: ${(err as Error).message}`)
    }
  }
  if (bytes !== undefined) return { ...describe(decodeKey(file, bytes)), created: false, modeWarning: checkMode(file) }

  ensureDataDir(dataDir)
  const key = await generateKeyPair('Ed25519')
  if (!writeKeyFileOnce(file, privateKeyToProtobuf(key))) {
    // Another process (say `weft id` beside `weft launch`) created it first: use theirs.
    return { ...describe(decodeKey(file, readFileSync(file))), created: false }
  }
  return { ...describe(key), created: true }
}

function decodeKey (file: string, bytes: Uint8Array): Ed25519PrivateKey {
  let key
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new IdentityError(`identity ${file} is not a valid key (${(err as Error).message}); move it away to create a new identity`)
  }
  if (key.type !== 'Ed25519') {
    throw new IdentityError(`identity ${file} holds a ${key.type} key; weft needs Ed25519`)
  }
  return key
}

function describe (key: Ed25519PrivateKey): Omit<Identity, 'created'> {
  return {
    privateKey: key,
    peerName: peerIdFromPrivateKey(key).toString(),
    seed: key.raw.subarray(0, 32)
  }
}

function checkMode (file: string): string | undefined {
  const mode = statSync(file).mode & 0o777
  if ((mode & 0o077) === 0) return undefined
  return `identity ${file} is readable by others (mode ${mode.toString(8).padStart(4, '0')}); run: chmod 600 ${file}`
}

/**
 * Writes the key durably unless the file exists: temp file (0600), fsync,
 * link (an exclusive create, unlike rename), fsync the directory.
 * Returns false when another process created the file first.
 */
function writeKeyFileOnce (file: string, bytes: Uint8Array): boolean {
  const tmp = `${file}.${process.pid}.tmp`
  try {
    const fd = openSync(tmp, 'w', 0o600)
    try {
      writeSync(fd, bytes)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    try {
      linkSync(tmp, file)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw err
    }
    const dirFd = openSync(dirname(file), 'r')
    try {
      fsyncSync(dirFd)
    } finally {
      closeSync(dirFd)
    }
    return true
  } catch (err) {
    throw new IdentityError(`cannot write identity ${file}: ${(err as Error).message}`)
  } finally {
    rmSync(tmp, { force: true })
  }
}
