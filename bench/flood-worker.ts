// The polyfill stays the first import of every entry point (packages/polyfill/README.md).
import '../packages/polyfill/index.js'
import { multiaddr } from '@multiformats/multiaddr'
import { decodeEvent, defaultVerifier, signEvent } from '../crdt/events/index.js'
import { SyncSession } from '../crdt/log/index.js'
import { OwnershipRing } from '../crdt/ring/index.js'
import { FRAME_SYNC } from '../node/net/frames.js'
import { SPACE_PROTOCOL_ID } from '../node/net/space.js'
import { RawSyncClient, syncLegitimately, type LegitSync } from '../test/helpers/raw-sync-client.js'
import { sleep } from './daemon-helpers.js'

/**
 * The flooder of bench/flood.ts, in a process of its own run at the lowest
 * priority (`nice -n 19`): a hostile host is another machine, whose CPU is
 * not the victim's, and on a two-core runner a flooder at full priority
 * measures the scheduler, not weft. It connects as a host that passed
 * hello, floods until told to stop, and reports counts over IPC.
 */

export interface FloodJob {
  kind: 'noop' | 'member'
  /** no-op frames per second (Infinity: as fast as the stream takes them). */
  rate: number
  addr: string
  victim: string
  cluster: string
  range: string
  events: number
}

export interface FloodReport { sent: number, asked: number, hungUp: boolean }

/** Sends no-op sync frames at `perSecond` (Infinity: as fast as the stream takes them) until `stop()`. */
function noopFlood (client: RawSyncClient, noop: Uint8Array, perSecond: number): { stop: () => Promise<number> } {
  let running = true
  let sent = 0
  const done = (async () => {
    const started = performance.now()
    while (running && !client.isStreamClosed) {
      try { await client.sendSync(noop) } catch { break }
      sent++
      // A send the stream takes at once resolves as a microtask: without a
      // turn of the event loop now and then, this process would never read
      // the victim's hang-up (or anything else) and buffer sends forever.
      if (sent % 100 === 0) await new Promise(resolve => setImmediate(resolve))
      if (Number.isFinite(perSecond)) {
        const due = started + sent * 1000 / perSecond
        const wait = due - performance.now()
        if (wait > 1) await sleep(wait)
      }
    }
  })()
  return { stop: async () => { running = false; await done; return sent } }
}

/**
 * A member's flood of valid events: it signs joins (each a new, correctly
 * signed event the victim must check, fold and store) in batches of 20 and
 * syncs them as fast as the victim takes them, reading its replies.
 */
function memberEventFlood (client: RawSyncClient, synced: LegitSync, clusterId: string): { stop: () => Promise<number> } {
  let running = true
  let made = 0
  const held = [...synced.log.allEvents()].map(e => decodeEvent(e.bytes, { verifier: null, expectedId: e.id }))
  const ring = OwnershipRing.fold(clusterId, held)
  const reading = (async () => {
    while (running && !client.isStreamClosed) {
      const f = await client.readFrame(200)
      if (f === 'closed') break
      if (f !== 'timeout' && f.type === FRAME_SYNC) synced.log.receive(synced.session, f.message, defaultVerifier).adopt()
    }
  })()
  const writing = (async () => {
    while (running && !client.isStreamClosed) {
      for (let i = 0; i < 20; i++) {
        const e = signEvent({ kind: 'join', author: client.name, time: Date.now(), body: { nickname: `flood-${made}`, addrs: [] }, ...ring.nextFields(client.name) }, client.signer)
        ring.apply(e)
        synced.log.append(e)
        made++
      }
      try {
        for (let m = synced.log.generateSyncMessage(synced.session); m !== null; m = synced.log.generateSyncMessage(synced.session)) await client.sendSync(m)
      } catch { break }
      await sleep(5)
    }
  })()
  return { stop: async () => { running = false; await Promise.all([reading, writing]); return made } }
}

/** Donation requests as fast as the victim answers them (it refuses a non-member at once). */
function donationFlood (client: RawSyncClient, addr: string): { stop: () => Promise<number> } {
  let running = true
  let asked = 0
  const body = new TextEncoder().encode(JSON.stringify({ op: 'donate', subnet: '10.32.0.0/12' }))
  const frame = new Uint8Array([body.length, ...body])
  const done = (async () => {
    while (running && client.node.status === 'started') {
      try {
        const s = await client.node.dialProtocol(multiaddr(addr), SPACE_PROTOCOL_ID, { signal: AbortSignal.timeout(2000) })
        s.send(frame)
        await new Promise<void>(resolve => { s.addEventListener('close', () => { resolve() }); setTimeout(resolve, 200) })
        if (s.status === 'open') s.abort(new Error('flood: next request'))
        asked++
      } catch {
        await sleep(10)
      }
    }
  })()
  return { stop: async () => { running = false; await done; return asked } }
}

async function main (): Promise<void> {
  const job = await new Promise<FloodJob>(resolve => { process.once('message', m => { resolve(m as FloodJob) }) })
  const c = await RawSyncClient.connect(job.addr, { sortBelow: job.victim, keyFile: null })
  const synced = await syncLegitimately(c, { cluster: job.cluster, range: job.range, expectEvents: job.events })
  const floods = job.kind === 'member'
    ? [memberEventFlood(c, synced, job.cluster)]
    : [noopFlood(c, synced.log.generateSyncMessage(new SyncSession())!, job.rate), donationFlood(c, job.addr)]
  process.send!({ started: true })
  await new Promise<void>(resolve => { process.once('message', () => { resolve() }) })
  const [sent, asked] = await Promise.all(floods.map(async f => await f.stop()))
  const report: FloodReport = { sent: sent ?? 0, asked: asked ?? 0, hungUp: c.isStreamClosed }
  await c.stop().catch(() => {})
  process.send!({ report })
  process.disconnect()
}

await main()
