import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { newClusterKey, parseClusterKey } from '../node/cluster-key.js'
import { Libp2pTransport } from '../node/net/libp2p-transport.js'
import type { BenchResult } from './harness.js'

/**
 * What the cluster key (libp2p pnet, DESIGN.md §3.3) costs, through the
 * daemon's own transport on loopback: connection set-up (dial, open a
 * stream, one frame there and back, hang up) and bulk throughput through
 * one stream, with and without a key, measured alternately.
 */

const PROTOCOL = '/weft-bench/echo/1.0.0'
const DIALS = 120
const BULK_FRAME = 256 * 1024
const BULK_FRAMES = 64
const WINDOW = 4

async function transport (psk: Uint8Array | undefined): Promise<Libp2pTransport> {
  const privateKey = await generateKeyPair('Ed25519')
  const t = new Libp2pTransport({ privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], announce: [], maxConnections: 16, ...(psk !== undefined ? { psk } : {}) },
    peerIdFromPrivateKey(privateKey).toString())
  await t.start()
  return t
}

interface Pair { a: Libp2pTransport, b: Libp2pTransport }

async function pair (psk: Uint8Array | undefined): Promise<Pair> {
  const [a, b] = await Promise.all([transport(psk), transport(psk)])
  await a.handle(PROTOCOL, stream => {
    void (async () => {
      try {
        for (;;) await stream.write(await stream.read())
      } catch {
        await stream.close()
      }
    })()
  }, { maxFrame: BULK_FRAME })
  return { a, b }
}

/** One connection from nothing to an answered frame, then hung up (ms). */
async function setUp ({ a, b }: Pair): Promise<number> {
  const started = performance.now()
  await b.dial(a.listenAddrs()[0]!, a.self)
  const s = await b.openStream(a.self, PROTOCOL, { maxFrame: BULK_FRAME })
  await s.write(new Uint8Array(32))
  await s.read()
  const ms = performance.now() - started
  await s.close()
  await b.hangUp(a.self)
  return ms
}

/** MB/s of frames written and echoed back through one stream, WINDOW at a time. */
async function bulk ({ a, b }: Pair): Promise<number> {
  await b.dial(a.listenAddrs()[0]!, a.self)
  const s = await b.openStream(a.self, PROTOCOL, { maxFrame: BULK_FRAME })
  const frame = new Uint8Array(BULK_FRAME).fill(7)
  const started = performance.now()
  // A few frames in flight: more overflows a stream's read buffer (a known
  // limit of the sync protocol, issue 15), which is not what is measured here.
  for (let i = 0; i < BULK_FRAMES; i += WINDOW) {
    for (let j = 0; j < WINDOW; j++) await s.write(frame)
    for (let j = 0; j < WINDOW; j++) await s.read({ timeoutMs: 30_000 })
  }
  const seconds = (performance.now() - started) / 1000
  await s.close()
  await b.hangUp(a.self)
  return (2 * BULK_FRAME * BULK_FRAMES) / 1e6 / seconds
}

const percentile = (xs: number[], p: number): number => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!

export async function run (): Promise<BenchResult[]> {
  const parsed = parseClusterKey(newClusterKey().text)
  if ('error' in parsed) throw new Error(parsed.error)
  const open = await pair(undefined)
  const keyed = await pair(parsed.psk)
  try {
    const times = { open: [] as number[], keyed: [] as number[] }
    for (let i = 0; i < 5; i++) { await setUp(open); await setUp(keyed) } // warm-up
    for (let i = 0; i < DIALS; i++) {
      times.open.push(await setUp(open))
      times.keyed.push(await setUp(keyed))
    }
    const rates = { open: [] as number[], keyed: [] as number[] }
    for (let i = 0; i < 3; i++) {
      rates.open.push(await bulk(open))
      rates.keyed.push(await bulk(keyed))
    }
    const results: BenchResult[] = []
    for (const [stat, p] of [['p50', 0.5], ['p95', 0.95]] as const) {
      const base = percentile(times.open, p)
      const value = percentile(times.keyed, p)
      results.push({ group: 'net', name: `connection set-up ${stat} (dial, stream, one frame back), no key`, value: base, unit: 'ms' })
      results.push({
        group: 'net',
        name: `connection set-up ${stat}, cluster key (pnet)`,
        value,
        unit: 'ms',
        baseline: { name: 'no key', value: base, unit: 'ms' },
        ratio: value / base
      })
    }
    const base = Math.max(...rates.open)
    const value = Math.max(...rates.keyed)
    results.push({ group: 'net', name: 'one stream, 16 MiB each way, no key (best of 3)', value: base, unit: 'MB/s' })
    results.push({ group: 'net', name: 'one stream, 16 MiB each way, cluster key (best of 3)', value, unit: 'MB/s', baseline: { name: 'no key', value: base, unit: 'MB/s' }, ratio: value / base })
    return results
  } finally {
    await Promise.all([open.a.stop(), open.b.stop(), keyed.a.stop(), keyed.b.stop()])
  }
}
