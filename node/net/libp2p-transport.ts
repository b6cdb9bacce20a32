import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import type { Connection, PeerId, PrivateKey, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { PeerName } from '../../crdt/events/index.js'
import { handshakeReason, HandshakeWatch } from './handshake-watch.js'
import { FrameTooLargeError, HandshakeFailedError, StreamClosedError, StreamTimeoutError, type ConnectionInfo, type FrameStream, type Transport } from './transport.js'
import { coalesceYamuxWindowUpdates } from './yamux-window.js'

coalesceYamuxWindowUpdates()

/**
 * The real transport: libp2p with TCP, Noise, yamux, identify and ping
 * (reference/stack-spike.md §3), frames via lpStream; with a cluster key,
 * a private network (pnet) under Noise.
 */
export interface Libp2pTransportInit {
  privateKey: PrivateKey
  listen: string[]
  announce: string[]
  maxConnections: number
  /** The cluster key's bytes in swarm key form (node/cluster-key.ts); none = an open network. */
  psk?: Uint8Array
}

function withoutPeer (addr: string): string {
  const i = addr.indexOf('/p2p/')
  return i < 0 ? addr : addr.slice(0, i)
}

/**
 * libp2p says a port is taken in a paragraph about its transport manager's
 * fault tolerance; say it the way a user needs it, in one line.
 */
function listenFailure (err: Error): Error {
  const m = /(\/ip[46]\/\S+?): (?:Error: )?listen (E[A-Z]+):? ([a-z ]+)/.exec(err.message ?? '')
  return m === null ? err : new Error(`cannot listen on ${m[1]}: ${m[3]!.trim()} (${m[2]})`)
}

/**
 * Bytes the frame reader may hold before the stream is paused, and the
 * most yamux lets a peer send before we grant more (its default grows to
 * 16 MiB). Paused, yamux stops granting window, so the sender waits.
 */
const PAUSE_AT_BYTES = 2 * 1024 * 1024
const MAX_STREAM_WINDOW = 2 * 1024 * 1024

class Libp2pFrameStream implements FrameStream {
  readonly peer: PeerName
  private readonly stream: Stream
  private readonly lp: ReturnType<typeof lpStream<Stream>>
  /** Bytes received and not yet read as frames (with their length prefixes). */
  private buffered = 0
  private paused = false
  private readonly pauseAt: number

  constructor (peer: PeerName, stream: Stream, maxFrame: number) {
    this.peer = peer
    this.stream = stream
    // Resuming below half of it leaves room for more than a whole frame, so a
    // reader never waits on a paused stream for the rest of a frame.
    this.pauseAt = Math.max(4 * maxFrame + 64, PAUSE_AT_BYTES)
    // Frames over the limit are refused by the reader before being buffered
    // whole. A reader slower than its sender pauses the stream (back-pressure)
    // once pauseAt bytes wait, so at most one more window lands after that:
    // the frame reader's buffer never overflows for an honest sender (issue 15).
    const limit = this.pauseAt + 2 * MAX_STREAM_WINDOW + 2 * maxFrame
    this.lp = lpStream(stream, { maxDataLength: maxFrame, maxBufferSize: limit })
    stream.maxReadBufferLength = limit
    stream.addEventListener('message', evt => {
      this.buffered += evt.data.byteLength
      if (!this.paused && this.buffered >= this.pauseAt) {
        this.paused = true
        try { stream.pause() } catch {}
      }
    })
  }

  /** Bytes waiting to be read (for tests). */
  get bufferedBytes (): number { return this.buffered }

  private consumed (frameBytes: number): void {
    this.buffered = Math.max(0, this.buffered - frameBytes - varintLength(frameBytes))
    if (this.paused && this.buffered < this.pauseAt / 2) {
      this.paused = false
      try { this.stream.resume() } catch {}
    }
  }

  async write (frame: Uint8Array): Promise<void> { await this.lp.write(frame) }

  async read (opts: { timeoutMs?: number } = {}): Promise<Uint8Array> {
    try {
      const list = await this.lp.read(opts.timeoutMs !== undefined ? { signal: AbortSignal.timeout(opts.timeoutMs) } : {})
      this.consumed(list.byteLength)
      return list.subarray()
    } catch (err) {
      const e = err as Error
      if (e.name === 'InvalidDataLengthError' || e.name === 'StreamBufferError') throw new FrameTooLargeError(e.message)
      if (e.name === 'TimeoutError' || e.name === 'AbortError') throw new StreamTimeoutError('no frame in time')
      throw new StreamClosedError(e.message)
    }
  }

  async close (): Promise<void> {
    try { await this.stream.close() } catch { this.stream.abort(new Error('close failed')) }
  }

  abort (err: Error): void { this.stream.abort(err) }
}

export class Libp2pTransport implements Transport {
  private readonly init: Libp2pTransportInit
  private node: Libp2p | undefined
  private readonly blocked = new Set<PeerName>()
  private readonly connectFns: Array<(p: PeerName) => void> = []
  private readonly disconnectFns: Array<(p: PeerName) => void> = []
  private readonly handshakeFailureFns: Array<(f: { addr: string, reason: string }) => void> = []
  private readonly handshakes: HandshakeWatch
  readonly self: PeerName

  constructor (init: Libp2pTransportInit, self: PeerName) {
    this.init = init
    this.self = self
    this.handshakes = new HandshakeWatch(f => {
      const reason = handshakeReason(this.keyed, 'inbound', f.detail)
      for (const fn of this.handshakeFailureFns) fn({ addr: f.addr, reason })
    })
  }

  private get keyed (): boolean { return this.init.psk !== undefined }

  async start (): Promise<void> {
    const isBlocked = (p: PeerId): boolean => this.blocked.has(p.toString())
    const pnet = this.init.psk !== undefined ? preSharedKey({ psk: this.init.psk }) : undefined
    try {
      this.node = await createLibp2p({
        privateKey: this.init.privateKey,
        addresses: { listen: this.init.listen, ...(this.init.announce.length > 0 ? { announce: this.init.announce } : {}) },
        transports: [tcp()],
        connectionEncrypters: [components => this.handshakes.encrypter(noise()(components))],
        streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: MAX_STREAM_WINDOW } })],
        connectionProtector: () => this.handshakes.protector(pnet?.()),
        services: { identify: identify(), ping: ping() },
        connectionGater: {
          denyDialPeer: isBlocked,
          denyInboundEncryptedConnection: isBlocked,
          denyOutboundEncryptedConnection: isBlocked
        },
        connectionManager: {
          maxConnections: this.init.maxConnections,
          // Local clusters re-dial from one address often; the default of 5 per
          // second per host resets them (stack spike §3).
          inboundConnectionThreshold: 1000,
          dialTimeout: 5_000,
          addressDialTimeout: 3_000,
          inboundUpgradeTimeout: 5_000
        }
      })
    } catch (err) {
      throw listenFailure(err as Error)
    }
    this.node.addEventListener('peer:connect', evt => { for (const f of this.connectFns) f(evt.detail.toString()) })
    this.node.addEventListener('peer:disconnect', evt => { for (const f of this.disconnectFns) f(evt.detail.toString()) })
  }

  async stop (): Promise<void> { await this.node?.stop() }

  listenAddrs (): string[] {
    return (this.node?.getMultiaddrs() ?? []).map(a => withoutPeer(a.toString()))
  }

  async dial (addr: string, peer?: PeerName): Promise<PeerName> {
    const progress = HandshakeWatch.dial()
    try {
      const conn = await this.node!.dial(multiaddr(peer !== undefined ? `${withoutPeer(addr)}/p2p/${peer}` : addr), { signal: AbortSignal.timeout(10_000), onProgress: progress.onProgress })
      return conn.remotePeer.toString()
    } catch (err) {
      if (progress.failedHandshake()) throw new HandshakeFailedError(handshakeReason(this.keyed, 'outbound', (err as Error).message))
      throw err
    }
  }

  async hangUp (peer: PeerName, opts: { abort?: boolean } = {}): Promise<void> {
    if (opts.abort === true) {
      // No graceful close: a flooder would keep sending (and us decoding) until it ends.
      for (const c of this.node?.getConnections(peerIdFromString(peer)) ?? []) c.abort(new Error('hung up on'))
      return
    }
    await this.node?.hangUp(peerIdFromString(peer))
  }

  connectedPeers (): PeerName[] {
    return [...new Set(this.node?.getConnections().map(c => c.remotePeer.toString()) ?? [])]
  }

  connectionInfo (peer: PeerName): ConnectionInfo | undefined {
    const c: Connection | undefined = this.node?.getConnections(peerIdFromString(peer))[0]
    return c === undefined ? undefined : { addr: withoutPeer(c.remoteAddr.toString()), direction: c.direction }
  }

  async openStream (peer: PeerName, protocol: string, opts: { maxFrame: number }): Promise<FrameStream> {
    const stream = await this.node!.dialProtocol(peerIdFromString(peer), protocol, { signal: AbortSignal.timeout(10_000) })
    return new Libp2pFrameStream(peer, stream, opts.maxFrame)
  }

  async handle (protocol: string, handler: (stream: FrameStream) => void, opts: { maxFrame: number }): Promise<void> {
    await this.node!.handle(protocol, (stream, connection) => {
      handler(new Libp2pFrameStream(connection.remotePeer.toString(), stream, opts.maxFrame))
    }, { maxInboundStreams: 8, maxOutboundStreams: 8 })
  }

  onConnect (fn: (peer: PeerName) => void): void { this.connectFns.push(fn) }
  onDisconnect (fn: (peer: PeerName) => void): void { this.disconnectFns.push(fn) }
  onHandshakeFailure (fn: (f: { addr: string, reason: string }) => void): void { this.handshakeFailureFns.push(fn) }

  block (peer: PeerName): void {
    this.blocked.add(peer)
    void this.hangUp(peer).catch(() => {})
  }

  unblock (peer: PeerName): void { this.blocked.delete(peer) }
}

/** Bytes of the unsigned varint length prefix of a frame of `n` bytes. */
function varintLength (n: number): number {
  let len = 1
  while (n >= 128) { n = Math.floor(n / 128); len++ }
  return len
}
