import { createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto'
import { peerIdBytesFromPublicKey, peerNameFromBytes, peerNameToBytes, publicKeyFromPeerIdBytes, type PeerName } from './peer-id.js'

/**
 * Signs event bytes for one author. node/ builds it from the peer's libp2p
 * key; tests build it from a seed. Ed25519 signing is deterministic, so this
 * stays pure in the sense crdt/ needs: same input, same output, no I/O.
 */
export interface Signer {
  readonly author: PeerName
  sign: (message: Uint8Array) => Uint8Array
}

export interface Verifier {
  verify: (author: PeerName, message: Uint8Array, signature: Uint8Array) => boolean
}

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

/** A signer from a 32-byte Ed25519 seed (libp2p's `raw` key is seed ‖ public key). */
export function ed25519SignerFromSeed (seed: Uint8Array): Signer {
  if (seed.length !== 32 && seed.length !== 64) throw new TypeError('an Ed25519 seed has 32 bytes (or 64: seed ‖ public key)')
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed.subarray(0, 32)]), format: 'der', type: 'pkcs8' })
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' })
  const publicKey = new Uint8Array(spki.subarray(SPKI_ED25519_PREFIX.length))
  const author = peerNameFromBytes(peerIdBytesFromPublicKey(publicKey))
  return {
    author,
    // Node's own Ed25519 with a cached KeyObject: ~2.3× faster than libp2p's
    // key.sign, which rebuilds the key on every call (p2p-lmdb spike §3).
    sign: message => new Uint8Array(cryptoSign(null, message, privateKey))
  }
}

/**
 * Verifies with node:crypto, caching one KeyObject per author: parsing the key
 * costs about as much as the verification itself.
 */
export function createVerifier (cacheSize = 4096): Verifier {
  const keys = new Map<PeerName, KeyObject>()
  const keyOf = (author: PeerName): KeyObject => {
    let key = keys.get(author)
    if (key === undefined) {
      const raw = publicKeyFromPeerIdBytes(peerNameToBytes(author))
      key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' })
      if (keys.size >= cacheSize) keys.clear()
      keys.set(author, key)
    }
    return key
  }
  return {
    verify (author, message, signature) {
      if (signature.length !== 64) return false
      try {
        return cryptoVerify(null, message, keyOf(author), signature)
      } catch {
        return false
      }
    }
  }
}

export const defaultVerifier: Verifier = createVerifier()
