/**
 * A hand-driven client of /weft/sync/1.0.0 for tests that play a hostile (or
 * a well-behaved) peer against a real daemon: a libp2p node in the test
 * process dials the daemon, opens the sync stream, and then sends whatever
 * bytes the test asks for. Frames are length-prefixed by hand (unsigned
 * varint, as `lpStream` does) so a test can send what no honest peer would:
 * garbage, unknown frame types, frames over the daemon's limit.
 *
 * Its event author is the node's own key, so a HELLO naming `name` and events
 * signed by `signer` come from the PeerId the daemon sees on the connection.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { identify } from '@libp2p/identify'
import { preSharedKey } from '@libp2p/pnet'
import { readFileSync } from 'node:fs'
import type { Stream } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { concat } from 'uint8arrays/concat'
import { decodeEvent, defaultVerifier, ed25519SignerFromSeed, EVENT_FORMAT_VERSION, type PeerName, type Signer } from '../../crdt/events/index.js'
import { EventLog, SyncSession } from '../../crdt/log/index.js'
import { comparePeerNames } from '../../crdt/events/peer-id.js'
import { decodeFrame, encodeHello, encodeSync, FRAME_BYE, FRAME_HELLO, FRAME_SYNC, SYNC_PROTOCOL_ID, type Frame } from '../../node/net/frames.js'
import { SYNC_PROTOCOL, type Hello } from '../../node/log-service/types.js'
import { testKeyFile } from './weft-process.js'

export type ReadResult = Frame | 'closed' | 'timeout'

/** Unsigned LEB128, the length prefix `lpStream` reads and writes. */
export function encodeVarint (n: number): Uint8Array {
  const out: number[] = []
  let v = n
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80)
    v = Math.floor(v / 0x80)
  }
  out.push(v)
  return Uint8Array.from(out)
}

/** Decodes a varint at the start of `buf`: [value, bytes used], or undefined if it is incomplete. */
function decodeVarint (buf: Uint8Array): [number, number] | undefined {
  let value = 0
  let scale = 1
  for (let i = 0; i < buf.length && i < 8; i++) {
    const b = buf[i]!
    value += (b & 0x7f) * scale
    if ((b & 0x80) === 0) return [value, i + 1]
    scale *= 0x80
  }
  if (buf.length >= 8) throw new Error('raw-sync-client: the daemon sent an over-long varint')
  return undefined
}


export class RawSyncClient {
  readonly node: Libp2p
  readonly stream: Stream
  /** Signs as this node's PeerId: `signer.author === name`. */
  readonly signer: Signer
  readonly name: PeerName
  private buffer: Uint8Array = new Uint8Array(0)
  private readonly frames: Uint8Array[] = []
  private isClosed = false
  /** How the stream ended, for messages: 'remote closed its end', 'reset: …'. */
  closeReason: string | undefined
  private waiters: Array<() => void> = []

  private constructor (node: Libp2p, stream: Stream, signer: Signer) {
    this.node = node
    this.stream = stream
    this.signer = signer
    this.name = signer.author
    stream.addEventListener('message', evt => { this.onData(evt.data.subarray()) })
    stream.addEventListener('remoteCloseWrite', () => { this.markClosed('the daemon closed its end') })
    stream.addEventListener('close', evt => {
      this.markClosed(evt.error !== undefined ? `${evt.local === true ? 'aborted locally' : 'reset'}: ${evt.error.message}` : 'closed')
    })
  }

  /**
   * Starts a node with a fresh Ed25519 key, dials `addr` (with /p2p/…) and opens the sync stream.
   * `sortBelow`: draw keys until this client's PeerId sorts below that peer's,
   * so that the daemon (the higher PeerId) leaves opening the session to this
   * client instead of also dialling /weft/sync back, which this client does not serve.
   * `keyFile`: the cluster key (default: this test file's, which WeftPeer launches with; null: none).
   */
  static async connect (addr: string, opts: { sortBelow?: PeerName, keyFile?: string | null } = {}): Promise<RawSyncClient> {
    let key = await generateKeyPair('Ed25519')
    while (opts.sortBelow !== undefined && comparePeerNames(peerIdFromPrivateKey(key).toString(), opts.sortBelow) >= 0) key = await generateKeyPair('Ed25519')
    const signer = ed25519SignerFromSeed(key.raw.subarray(0, 32))
    const node = await createLibp2p({
      privateKey: key,
      addresses: { listen: [] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      // The test file's cluster key, as WeftPeer launches daemons with it.
      ...(opts.keyFile !== null ? { connectionProtector: preSharedKey({ psk: readFileSync(opts.keyFile ?? testKeyFile()) }) } : {}),
      services: { identify: identify() },
      connectionManager: { inboundConnectionThreshold: 1000 }
    })
    if (node.peerId.toString() !== signer.author) {
      await node.stop()
      throw new Error(`raw-sync-client: signer ${signer.author} is not the node's PeerId ${node.peerId.toString()}`)
    }
    // AbortSignal.timeout's timer does not keep Node running: a dial stalled under
    // load, with no socket left open, let the test runner end the test as
    // "the event loop has already resolved". This timer keeps it alive until
    // the timeout can fire.
    const alive = setTimeout(() => {}, 11_000)
    try {
      const stream = await node.dialProtocol(multiaddr(addr), SYNC_PROTOCOL_ID, { signal: AbortSignal.timeout(10_000) })
      return new RawSyncClient(node, stream, signer)
    } catch (err) {
      await node.stop()
      throw err
    } finally {
      clearTimeout(alive)
    }
  }

  private onData (chunk: Uint8Array): void {
    this.buffer = concat([this.buffer, chunk])
    for (;;) {
      const prefix = decodeVarint(this.buffer)
      if (prefix === undefined) break
      const [length, used] = prefix
      if (this.buffer.length < used + length) break
      this.frames.push(this.buffer.slice(used, used + length))
      this.buffer = this.buffer.subarray(used + length)
    }
    this.wake()
  }

  private markClosed (why: string): void {
    if (!this.isClosed) {
      this.isClosed = true
      this.closeReason = why
    }
    this.wake()
  }

  private wake (): void {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }

  private async waitChange (deadline: number): Promise<boolean> {
    const left = deadline - Date.now()
    if (left <= 0) return false
    return await new Promise<boolean>(resolve => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter(w => w !== done)
        resolve(false)
      }, left)
      const done = (): void => { clearTimeout(timer); resolve(true) }
      this.waiters.push(done)
    })
  }

  /** True once the daemon closed its end or the stream was reset/closed. */
  get isStreamClosed (): boolean { return this.isClosed }

  /**
   * Sends `bytes` as one length-prefixed frame (type byte included by the
   * caller). Resolves once the stream took it all; rejects if the stream
   * closes first (a test sending a huge frame need not await it).
   */
  async sendRaw (bytes: Uint8Array): Promise<void> {
    const ok = this.stream.send(concat([encodeVarint(bytes.length), bytes]))
    if (ok) return
    const alive = setTimeout(() => {}, 11_000) // see connect: AbortSignal.timeout alone keeps nothing running
    try {
      await this.stream.onDrain({ signal: AbortSignal.timeout(10_000) })
    } finally {
      clearTimeout(alive)
    }
  }

  async sendHello (hello: Hello): Promise<void> { await this.sendRaw(encodeHello(hello)) }

  async sendSync (message: Uint8Array): Promise<void> { await this.sendRaw(encodeSync(message)) }

  /** The next frame from the daemon, 'closed' once the stream ended with nothing left to read, or 'timeout'. */
  async readFrame (timeoutMs: number): Promise<ReadResult> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const next = this.frames.shift()
      if (next !== undefined) return decodeFrame(next)
      if (this.isClosed) return 'closed'
      if (!await this.waitChange(deadline)) return 'timeout'
    }
  }

  /** Waits until the daemon closed or reset the stream: true, or false after `timeoutMs`. */
  async closed (timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    while (!this.isClosed) {
      if (!await this.waitChange(deadline)) return false
    }
    return true
  }

  /**
   * Reads until the daemon hangs up: the BYE it sent (if any), the other
   * frame types seen on the way, and whether the stream is closed by the
   * deadline.
   */
  async hangUp (timeoutMs: number, onSync?: (message: Uint8Array) => Promise<void>): Promise<{ bye?: { code: string, message: string }, seen: number[], closed: boolean }> {
    const deadline = Date.now() + timeoutMs
    const seen: number[] = []
    let bye: { code: string, message: string } | undefined
    for (;;) {
      const f = await this.readFrame(Math.max(0, deadline - Date.now()))
      if (f === 'closed') return { ...(bye !== undefined ? { bye } : {}), seen, closed: true }
      if (f === 'timeout') return { ...(bye !== undefined ? { bye } : {}), seen, closed: false }
      seen.push(f.type)
      if (f.type === FRAME_BYE && bye === undefined) bye = { code: f.code, message: f.message }
      if (f.type === FRAME_SYNC && bye === undefined && onSync !== undefined) await onSync(f.message)
    }
  }

  /** A hello as an honest peer of this cluster would send it (override fields to lie). */
  hello (opts: { cluster?: string, range?: string, nickname?: string, name?: PeerName } = {}): Hello {
    return {
      ...(opts.cluster !== undefined ? { cluster: opts.cluster } : {}),
      ...(opts.range !== undefined ? { range: opts.range } : {}),
      protocol: { ...SYNC_PROTOCOL },
      eventFormat: EVENT_FORMAT_VERSION,
      peer: { name: opts.name ?? this.name, nickname: opts.nickname ?? 'raw-client' },
      disputes: [],
      resolved: []
    }
  }

  async stop (): Promise<void> {
    if (!this.isClosed) {
      try { this.stream.abort(new Error('raw client stopping')) } catch {}
    }
    await this.node.stop()
  }
}

export interface LegitSync {
  /** The client's copy of the daemon's log, written as the client's author. */
  log: EventLog
  session: SyncSession
  /** The daemon's hello. */
  daemonHello: Hello
  /** Events the client holds after the exchange. */
  events: number
}

/** Counts events in a log (every key in every bucket). */
export function countEvents (log: EventLog): number {
  let n = 0
  for (const _ of log.allEvents()) n++
  return n
}

/** Lamport of an event held in `log` (decoded without verification). */
export function lamportOf (log: EventLog, id: string): number {
  const bytes = log.getEvent(id)
  if (bytes === undefined) throw new Error(`event ${id} is not in the log`)
  return decodeEvent(bytes, { verifier: null }).event.lamport
}

/**
 * Syncs with the daemon as a real peer would: a HELLO for `cluster`, then
 * Automerge sync messages both ways until the client holds at least
 * `expectEvents` events and the daemon has gone quiet for `quietMs`. Throws
 * if the daemon says BYE or hangs up, or on the deadline.
 */
export async function syncLegitimately (client: RawSyncClient, opts: { cluster: string, range?: string, expectEvents: number, nickname?: string, timeoutMs?: number, quietMs?: number }): Promise<LegitSync> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000)
  const quietMs = opts.quietMs ?? 300
  const log = EventLog.create(client.name)
  const session = new SyncSession()
  await client.sendHello(client.hello({ cluster: opts.cluster, ...(opts.range !== undefined ? { range: opts.range } : {}), nickname: opts.nickname ?? 'raw-client' }))
  const first = await client.readFrame(Math.max(0, deadline - Date.now()))
  if (first === 'closed' || first === 'timeout') throw new Error(`no hello from the daemon: ${first} (${client.closeReason ?? ''})`)
  if (first.type !== FRAME_HELLO) throw new Error(`the daemon's first frame has type ${first.type}, not HELLO`)
  const flush = async (): Promise<void> => {
    for (let msg = log.generateSyncMessage(session); msg !== null; msg = log.generateSyncMessage(session)) await client.sendSync(msg)
  }
  await flush()
  let events = 0
  for (;;) {
    const left = deadline - Date.now()
    if (left <= 0) throw new Error(`legitimate sync did not finish: the client holds ${events} of ${opts.expectEvents} events`)
    const caughtUp = events >= opts.expectEvents
    const f = await client.readFrame(caughtUp ? Math.min(quietMs, left) : left)
    if (f === 'timeout') {
      if (caughtUp) break
      continue
    }
    if (f === 'closed') throw new Error(`the daemon hung up during a legitimate sync (${client.closeReason ?? ''})`)
    if (f.type === FRAME_BYE) throw new Error(`the daemon said BYE during a legitimate sync: ${f.code}: ${f.message}`)
    if (f.type !== FRAME_SYNC) throw new Error(`unexpected frame type ${f.type} during sync`)
    const received = log.receive(session, f.message, defaultVerifier)
    received.adopt()
    events = countEvents(log)
    await flush()
  }
  return { log, session, daemonHello: first.hello, events }
}

/**
 * After the client offered something (a forged change, say), keeps the
 * Automerge sync going until the daemon hangs up or `timeoutMs` passes: an
 * offer the daemon cannot yet place is answered with a request (a SYNC
 * frame), and the change itself travels in the client's next message.
 */
export async function syncUntilHungUp (client: RawSyncClient, synced: LegitSync, timeoutMs: number): Promise<{ bye?: { code: string, message: string }, seen: number[], closed: boolean }> {
  return await client.hangUp(timeoutMs, async message => {
    synced.log.receive(synced.session, message, defaultVerifier).adopt()
    for (let msg = synced.log.generateSyncMessage(synced.session); msg !== null; msg = synced.log.generateSyncMessage(synced.session)) await client.sendSync(msg)
  })
}

