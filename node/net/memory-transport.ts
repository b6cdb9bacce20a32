import type { PeerName } from '../../crdt/events/index.js'
import type { Clock } from '../clock.js'
import { FrameTooLargeError, StreamClosedError, StreamTimeoutError, type ConnectionInfo, type FrameStream, type Transport } from './transport.js'

/**
 * What happens to a frame sent from one peer to another, decided by a
 * simulation (test/sim): its delay in the clock's ms, or `drop` (lost, and
 * the connection with it, as a reset TCP connection loses what was in
 * flight), and whether it arrives twice.
 */
export interface LinkModel {
  frame: (from: PeerName, to: PeerName, bytes: number) => { delayMs: number, duplicate?: boolean } | 'drop'
  /** Delay for connection set-up and stream opening (ms). */
  setupMs: (from: PeerName, to: PeerName) => number
}

/**
 * An in-process network for simulation tests: peers find each other by
 * name (`/memory/NAME`), streams are queues of frames, timeouts run on the
 * given clock, and the test can cut or restore links. Same interface as the
 * libp2p transport. Without a LinkModel, frames arrive on the next
 * event-loop turn; with one, on the clock after the model's delay, in order
 * per stream, so that a simulation on a SimulatedClock is deterministic.
 */
export class MemoryNetwork {
  readonly clock: Clock
  readonly transports = new Map<PeerName, MemoryTransport>()
  readonly links: LinkModel | undefined
  /** Frames and bytes handed to the network (a scale study's counts). */
  readonly sent = { frames: 0, bytes: 0 }
  /** Links the test has cut, as "a b" with a < b. */
  private readonly cut = new Set<string>()

  constructor (clock: Clock, links?: LinkModel) {
    this.clock = clock
    this.links = links
  }

  /** Runs `fn` after `ms` on the clock under a link model, else on the next event-loop turn. */
  defer (fn: () => void, ms = 0): void {
    if (this.links === undefined) setImmediate(fn)
    else this.clock.setTimeout(fn, ms)
  }

  static addr (peer: PeerName): string { return `/memory/${peer}` }

  private key (a: PeerName, b: PeerName): string { return a < b ? `${a} ${b}` : `${b} ${a}` }

  /** Cuts the link between two peers (dropping their connection) until `heal`. */
  partition (a: PeerName, b: PeerName): void {
    this.cut.add(this.key(a, b))
    void this.transports.get(a)?.hangUp(b)
  }

  heal (a: PeerName, b: PeerName): void { this.cut.delete(this.key(a, b)) }

  linked (a: PeerName, b: PeerName): boolean { return !this.cut.has(this.key(a, b)) }
}

const EOF_MARK = Symbol('eof')
type Item = Uint8Array | typeof EOF_MARK | Error

class MemoryFrameStream implements FrameStream {
  readonly peer: PeerName
  other: MemoryFrameStream | undefined
  private readonly net: MemoryNetwork
  private readonly self: PeerName
  private readonly maxFrame: number
  private readonly inbox: Item[] = []
  private waiter: ((item: Item) => void) | undefined
  private ended = false
  /** When the last item sent on this stream arrives: a stream keeps its order, whatever the delays. */
  private lastArrival = 0
  readonly onEnd: Array<() => void> = []
  /** Set by the transport: drops the connection this stream belongs to. */
  breakConnection: () => void = () => {}

  constructor (self: PeerName, peer: PeerName, net: MemoryNetwork, maxFrame: number) {
    this.self = self
    this.peer = peer
    this.net = net
    this.maxFrame = maxFrame
  }

  private get clock (): Clock { return this.net.clock }

  /** Called by the other side: the item arrives after `ms` (next turn of the event loop without a link model). */
  deliver (item: Item, ms = 0): void {
    this.net.defer(() => {
      if (this.ended && item !== EOF_MARK) return
      const w = this.waiter
      if (w !== undefined) { this.waiter = undefined; w(item) } else this.inbox.push(item)
    }, ms)
  }

  /** Sends an item to the other side, in order behind what this stream sent before. */
  private send (item: Item, delayMs: number): void {
    const o = this.other!
    if (this.net.links === undefined) { o.deliver(item); return }
    const now = this.clock.now()
    const at = Math.max(now + delayMs, this.lastArrival)
    this.lastArrival = at
    o.deliver(item, at - now)
  }

  async write (frame: Uint8Array): Promise<void> {
    if (this.ended || this.other === undefined) throw new StreamClosedError('stream closed')
    const o = this.other
    this.net.sent.frames++
    this.net.sent.bytes += frame.length
    const fate = this.net.links?.frame(this.self, this.peer, frame.length) ?? { delayMs: 0 }
    if (fate === 'drop') { this.breakConnection(); return }
    const item = frame.length > o.maxFrame ? new FrameTooLargeError(`frame of ${frame.length} bytes over the ${o.maxFrame}-byte limit`) : frame.slice()
    this.send(item, fate.delayMs)
    if (fate.duplicate === true && !(item instanceof Error)) this.send(item.slice(), fate.delayMs)
  }

  async read (opts: { timeoutMs?: number } = {}): Promise<Uint8Array> {
    const item = this.inbox.shift() ?? await new Promise<Item>((resolve) => {
      let timer: unknown
      this.waiter = item => { if (timer !== undefined) this.clock.clearTimeout(timer); resolve(item) }
      if (opts.timeoutMs !== undefined) {
        timer = this.clock.setTimeout(() => { this.waiter = undefined; resolve(new StreamTimeoutError('no frame in time')) }, opts.timeoutMs)
      }
    })
    if (item === EOF_MARK) throw new StreamClosedError('stream ended')
    if (item instanceof Error) throw item
    return item
  }

  async close (): Promise<void> {
    if (this.other !== undefined && !this.ended) this.send(EOF_MARK, this.net.links?.setupMs(this.self, this.peer) ?? 0)
  }

  abort (err: Error): void {
    if (this.ended) return
    this.end(err)
    this.other?.end(new StreamClosedError(`aborted by the other side: ${err.message}`))
  }

  end (why: Error): void {
    if (this.ended) return
    this.ended = true
    const w = this.waiter
    this.waiter = undefined
    if (w !== undefined) w(why instanceof StreamClosedError ? EOF_MARK : why)
    else this.inbox.push(EOF_MARK)
    for (const f of this.onEnd) f()
  }
}

export class MemoryTransport implements Transport {
  readonly self: PeerName
  private readonly net: MemoryNetwork
  private started = false
  private readonly conns = new Map<PeerName, { direction: 'inbound' | 'outbound', streams: Set<MemoryFrameStream> }>()
  private readonly handlers = new Map<string, { handler: (s: FrameStream) => void, maxFrame: number }>()
  private readonly blocked = new Set<PeerName>()
  private readonly connectFns: Array<(p: PeerName) => void> = []
  private readonly disconnectFns: Array<(p: PeerName) => void> = []

  /** Connections this peer holds at most, inbound and outbound (libp2p's connection manager's cap); none by default. */
  private readonly maxConnections: number

  constructor (net: MemoryNetwork, self: PeerName, opts: { maxConnections?: number } = {}) {
    this.net = net
    this.self = self
    this.maxConnections = opts.maxConnections ?? Infinity
    net.transports.set(self, this)
  }

  async start (): Promise<void> { this.started = true }

  async stop (): Promise<void> {
    for (const p of [...this.conns.keys()]) await this.hangUp(p)
    this.started = false
  }

  listenAddrs (): string[] { return this.started ? [MemoryNetwork.addr(this.self)] : [] }

  async dial (addr: string, peer?: PeerName): Promise<PeerName> {
    const name = peer ?? addr.replace(/^\/memory\//, '')
    const remote = this.net.transports.get(name)
    if (!this.started) throw new Error('transport not started')
    if (remote === undefined || !remote.started || name === this.self) throw new Error(`connection refused: ${addr}`)
    if (this.blocked.has(name) || remote.blocked.has(this.self) || !this.net.linked(this.self, name)) throw new Error(`unreachable: ${addr}`)
    if (!this.conns.has(name)) {
      if (this.conns.size >= this.maxConnections) throw new Error(`connection refused: this peer holds its ${this.maxConnections} connections`)
      if (remote.conns.size >= remote.maxConnections) throw new Error(`connection refused: ${addr} holds its ${remote.maxConnections} connections`)
      this.conns.set(name, { direction: 'outbound', streams: new Set() })
      remote.conns.set(this.self, { direction: 'inbound', streams: new Set() })
      this.net.defer(() => {
        for (const f of this.connectFns) f(name)
        for (const f of remote.connectFns) f(this.self)
      }, this.net.links?.setupMs(this.self, name))
    }
    return name
  }

  async hangUp (peer: PeerName): Promise<void> {
    const conn = this.conns.get(peer)
    if (conn === undefined) return
    this.conns.delete(peer)
    const remote = this.net.transports.get(peer)
    const rconn = remote?.conns.get(this.self)
    remote?.conns.delete(this.self)
    for (const s of [...conn.streams, ...(rconn?.streams ?? [])]) s.end(new StreamClosedError('connection closed'))
    this.net.defer(() => {
      for (const f of this.disconnectFns) f(peer)
      if (remote !== undefined) for (const f of remote.disconnectFns) f(this.self)
    })
  }

  connectedPeers (): PeerName[] { return [...this.conns.keys()] }

  connectionInfo (peer: PeerName): ConnectionInfo | undefined {
    const c = this.conns.get(peer)
    return c === undefined ? undefined : { addr: MemoryNetwork.addr(peer), direction: c.direction }
  }

  async openStream (peer: PeerName, protocol: string, opts: { maxFrame: number }): Promise<FrameStream> {
    const conn = this.conns.get(peer)
    const remote = this.net.transports.get(peer)
    const rconn = remote?.conns.get(this.self)
    const h = remote?.handlers.get(protocol)
    if (conn === undefined || remote === undefined || rconn === undefined) throw new StreamClosedError(`not connected to ${peer}`)
    if (h === undefined) throw new Error(`${peer} does not speak ${protocol}`)
    const mine = new MemoryFrameStream(this.self, peer, this.net, opts.maxFrame)
    const theirs = new MemoryFrameStream(peer, this.self, this.net, h.maxFrame)
    mine.breakConnection = () => { void this.hangUp(peer) }
    theirs.breakConnection = () => { void remote.hangUp(this.self) }
    mine.other = theirs
    theirs.other = mine
    conn.streams.add(mine)
    rconn.streams.add(theirs)
    mine.onEnd.push(() => conn.streams.delete(mine))
    theirs.onEnd.push(() => rconn.streams.delete(theirs))
    this.net.defer(() => { h.handler(theirs) }, this.net.links?.setupMs(this.self, peer))
    return mine
  }

  async handle (protocol: string, handler: (stream: FrameStream) => void, opts: { maxFrame: number }): Promise<void> {
    this.handlers.set(protocol, { handler, maxFrame: opts.maxFrame })
  }

  onConnect (fn: (peer: PeerName) => void): void { this.connectFns.push(fn) }
  onDisconnect (fn: (peer: PeerName) => void): void { this.disconnectFns.push(fn) }

  block (peer: PeerName): void {
    this.blocked.add(peer)
    void this.hangUp(peer)
  }

  unblock (peer: PeerName): void { this.blocked.delete(peer) }
}
