import { generateKeyPairSync, randomBytes, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto'
import { parseCidr } from '../packages/netaddr/index.js'
import { decodeEvent, ed25519SignerFromSeed, signEvent, type UnsignedEvent } from '../crdt/events/index.js'
import { compared, median, timeOps, type BenchResult } from './harness.js'

/**
 * Event codec throughput against raw Ed25519 (DESIGN.md §2.1: a peer verifies
 * each event once, when it adopts it). Baselines and codec runs are interleaved
 * over a few rounds and the median taken, so a slow stretch of the machine
 * hits both sides alike.
 */

const ROUNDS = 3
const TIMING = { minMs: 700, warmupMs: 150 }
const MESSAGE_BYTES = 200

export async function run (): Promise<BenchResult[]> {
  // Raw node:crypto Ed25519 with cached KeyObjects: the floor for any signed-event codec.
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const message = randomBytes(MESSAGE_BYTES)
  const signature = cryptoSign(null, message, privateKey)

  const alice = ed25519SignerFromSeed(new Uint8Array(32).fill(1))
  const bob = ed25519SignerFromSeed(new Uint8Array(32).fill(2))
  const unsigned: UnsignedEvent = {
    kind: 'transfer',
    author: alice.author,
    seq: 42,
    lamport: 1234,
    deps: ['3f'.repeat(32), 'a7'.repeat(32)],
    time: 1_700_000_000_000,
    body: { ranges: [parseCidr('10.32.4.0/22'), parseCidr('10.32.9.0/24')], to: bob.author }
  }
  const signed = signEvent(unsigned, alice)
  const bytes = signed.bytes
  // Sanity: what is measured actually works.
  if (!cryptoVerify(null, message, publicKey, signature)) throw new Error('bench: raw verify failed')
  if (decodeEvent(bytes).id !== signed.id) throw new Error('bench: decodeEvent round trip failed')

  const samples = { rawSign: [] as number[], rawVerify: [] as number[], sign: [] as number[], decode: [] as number[], decodeNoVerify: [] as number[] }
  for (let round = 0; round < ROUNDS; round++) {
    samples.rawSign.push(timeOps(() => cryptoSign(null, message, privateKey), TIMING))
    samples.sign.push(timeOps(() => signEvent(unsigned, alice), TIMING))
    samples.rawVerify.push(timeOps(() => cryptoVerify(null, message, publicKey, signature), TIMING))
    samples.decode.push(timeOps(() => decodeEvent(bytes), TIMING))
    samples.decodeNoVerify.push(timeOps(() => decodeEvent(bytes, { verifier: null }), TIMING))
  }

  const group = 'events'
  const spread = (xs: number[]): string => `median of ${xs.length} rounds, range ${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))}`
  const rawSign: BenchResult = {
    group,
    name: 'raw ed25519 sign',
    value: median(samples.rawSign),
    unit: 'ops/s',
    note: `node:crypto sign, cached KeyObject, ${MESSAGE_BYTES}-byte message; ${spread(samples.rawSign)}`
  }
  const rawVerify: BenchResult = {
    group,
    name: 'raw ed25519 verify',
    value: median(samples.rawVerify),
    unit: 'ops/s',
    note: `node:crypto verify, cached KeyObject, ${MESSAGE_BYTES}-byte message; ${spread(samples.rawVerify)}`
  }
  return [
    rawSign,
    compared({
      group,
      name: 'signEvent (transfer)',
      value: median(samples.sign),
      unit: 'ops/s',
      note: `encode + sign + re-parse of a ${bytes.length}-byte transfer event; ${spread(samples.sign)}`
    }, rawSign),
    rawVerify,
    compared({
      group,
      name: 'decodeEvent + verify',
      value: median(samples.decode),
      unit: 'ops/s',
      note: `hash, decode, canonical re-encode, parse, verify (default verifier, cached key); ${spread(samples.decode)}`
    }, rawVerify),
    compared({
      group,
      name: 'decodeEvent, verifier: null',
      value: median(samples.decodeNoVerify),
      unit: 'ops/s',
      note: `the codec alone, as for events read back from the own store; ${spread(samples.decodeNoVerify)}`
    }, rawVerify)
  ]
}
