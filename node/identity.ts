/**
 * A peer's identity: one Ed25519 key in DATA_DIR/identity.key (libp2p protobuf
 * form, mode 0600). Its PeerId is the peer name; its seed signs events.
 * Never copy a data dir: two hosts with one identity equivocate (DESIGN.md §4).
 *
 * Reading and creating the key needs no libp2p: the file is a fixed protobuf
 * layout and node:crypto does Ed25519. libp2p's key object is built only when
 * the network starts (it costs ~150 ms of imports on the launch path).
 */
import { generateKeyPairSync } from 'node:crypto'
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { PrivateKey } from '@libp2p/interface'
import { ed25519SignerFromSeed, peerNameToBytes } from '../crdt/events/index.js'
import { WeftError } from '../crdt/errors.js'
import { ensureDataDir, storeTraces } from './data-dir.js'

export interface Identity {
  /** The libp2p PeerId string, e.g. 12D3KooW…; the peer name everywhere. */
  peerName: string
  /** The 32-byte Ed25519 seed (signs events). */
  seed: Uint8Array
  /** The key file's bytes: protobuf { type: Ed25519, data: seed ‖ public key }. */
  keyBytes: Uint8Array
  /** True when this call generated the key. */
  created: boolean
  /** Set when the key file is readable by group or others (it still loads). */
  modeWarning?: string
}

// protobuf PrivateKey { Type = 1 (Ed25519), Data = 64 bytes }
const KEY_PREFIX = Uint8Array.of(0x08, 0x01, 0x12, 0x40)
const KEY_LENGTH = KEY_PREFIX.length + 64

export type IdentityErrorCode =
  | 'invalid'  // the key file is not an Ed25519 key of ours
  | 'missing'  // no key beside a store that needs one
  | 'io'       // it cannot be read or written

export class IdentityError extends WeftError<IdentityErrorCode> {
  override name = 'IdentityError'
  constructor (code: IdentityErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options)
  }
}

export function identityPath (dataDir: string): string {
  return join(dataDir, 'identity.key')
}

/**
 * Loads DATA_DIR/identity.key, or creates it (and the data dir) when missing.
 * Never beside a store: a store belongs to the key that wrote it, and a new
 * key there would sign as another peer over the old one's log and space.
 */
export async function loadOrCreateIdentity (dataDir: string): Promise<Identity> {
  const file = identityPath(dataDir)
  const loaded = loadIdentity(dataDir)
  if (loaded !== undefined) return loaded
  const traces = storeTraces(dataDir)
  if (traces.length > 0) throw missingIdentityError(dataDir, traces)

  ensureDataDir(dataDir)
  if (!writeKeyFileOnce(file, newKeyBytes())) {
    // Another process (say `weft id` beside `weft launch`) created it first: use theirs.
    return { ...decodeKey(file, readFileSync(file)), created: false }
  }
  return { ...decodeKey(file, readFileSync(file)), created: true }
}

/** Loads DATA_DIR/identity.key; undefined when there is none (nothing is created). */
export function loadIdentity (dataDir: string): Identity | undefined {
  const file = identityPath(dataDir)
  let bytes: Buffer
  try {
    bytes = readFileSync(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new IdentityError('io', `cannot read identity ${file}: ${(err as Error).message}`, { cause: err })
  }
  const modeWarning = checkMode(file)
  return { ...decodeKey(file, bytes), created: false, ...(modeWarning !== undefined ? { modeWarning } : {}) }
}

/** identity.key is gone but the stores it signed for remain (`traces`: their file names). */
export function missingIdentityError (dataDir: string, traces: readonly string[]): IdentityError {
  return new IdentityError('missing', `${identityPath(dataDir)} is missing, but ${dataDir} holds a peer's store (${traces.join(', ')}), ` +
    'which belongs to that key: a new key would be another peer. Put identity.key back; or, to start this host as a new peer, ' +
    `move ${dataDir} aside and launch again (then \`weft rmpeer\` the old peer on another peer to reclaim its space)`)
}

/** A fresh Ed25519 key in the key file's layout. */
function newKeyBytes (): Uint8Array {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url')
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url')
  const out = new Uint8Array(KEY_LENGTH)
  out.set(KEY_PREFIX, 0)
  out.set(seed, KEY_PREFIX.length)
  out.set(pub, KEY_PREFIX.length + 32)
  return out
}

function decodeKey (file: string, bytes: Uint8Array): Omit<Identity, 'created'> {
  const fail = (why: string): never => {
    throw new IdentityError('invalid', `identity ${file} is not a valid key (${why}); move it away to create a new identity`)
  }
  if (bytes.length === KEY_LENGTH + 0 && bytes[0] === 0x08 && bytes[1] !== 0x01) fail(`it holds a key of type ${bytes[1] ?? '?'}; weft needs Ed25519`)
  if (bytes.length !== KEY_LENGTH || KEY_PREFIX.some((b, i) => bytes[i] !== b)) fail('not a libp2p Ed25519 private key')
  const seed = bytes.slice(KEY_PREFIX.length, KEY_PREFIX.length + 32)
  const pub = bytes.subarray(KEY_PREFIX.length + 32)
  let peerName: string
  try {
    peerName = ed25519SignerFromSeed(seed).author
  } catch (err) {
    return fail((err as Error).message)
  }
  // The public half stored beside the seed must be the seed's.
  const derived = publicKeyOf(seed)
  if (!derived.every((b, i) => b === pub[i])) fail('its public key does not match its seed')
  return { peerName, seed, keyBytes: new Uint8Array(bytes) }
}

function publicKeyOf (seed: Uint8Array): Uint8Array {
  const signer = ed25519SignerFromSeed(seed)
  // The PeerId's last 32 bytes are the public key (identity multihash).
  return peerNameToBytes(signer.author).subarray(6)
}

/** libp2p's key object for the network; imported only when the network starts. */
export async function libp2pPrivateKey (identity: Pick<Identity, 'keyBytes'>): Promise<PrivateKey> {
  const { privateKeyFromProtobuf } = await import('@libp2p/crypto/keys')
  return privateKeyFromProtobuf(identity.keyBytes)
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
    throw new IdentityError('io', `cannot write identity ${file}: ${(err as Error).message}`, { cause: err })
  } finally {
    rmSync(tmp, { force: true })
  }
}
