import type { PeerName } from '../../crdt/events/index.js'

/**
 * What weft needs from a network (DESIGN.md §1: components take their
 * transport as a dependency): authenticated peer connections, streams of
 * length-prefixed frames per protocol, and a gate. Libp2pTransport is the
 * real one; MemoryTransport runs a whole cluster in one process for
 * deterministic simulation tests.
 */

/** The stream ended (the other side closed, or the connection went away). */
export class StreamClosedError extends Error {
  override name = 'StreamClosedError'
}

/** A frame over the stream's limit: a protocol violation, hang up. */
export class FrameTooLargeError extends Error {
  override name = 'FrameTooLargeError'
}

/** A read that waited longer than its timeout. */
export class StreamTimeoutError extends Error {
  override name = 'StreamTimeoutError'
}

/**
 * A connection that failed before either side knew the other: with a
 * cluster key, what a different key or none looks like (DESIGN.md §3.3).
 */
export class HandshakeFailedError extends Error {
  override name = 'HandshakeFailedError'
}

/** A bidirectional stream of frames with one peer, on one protocol. */
export interface FrameStream {
  readonly peer: PeerName
  write: (frame: Uint8Array) => Promise<void>
  /** The next frame; throws StreamClosedError at the end, FrameTooLargeError, StreamTimeoutError. */
  read: (opts?: { timeoutMs?: number }) => Promise<Uint8Array>
  /** Half-closes our side once written frames are flushed. */
  close: () => Promise<void>
  /** Ends both sides at once. */
  abort: (err: Error) => void
}

export interface ConnectionInfo {
  addr: string
  direction: 'inbound' | 'outbound'
}

export interface Transport {
  readonly self: PeerName
  start: () => Promise<void>
  stop: () => Promise<void>
  listenAddrs: () => string[]
  /** Dials an address (with or without the peer's name); resolves with who answered. */
  dial: (addr: string, peer?: PeerName) => Promise<PeerName>
  /** `abort`: drop the connection at once, without a graceful close (a flooder). */
  hangUp: (peer: PeerName, opts?: { abort?: boolean }) => Promise<void>
  connectedPeers: () => PeerName[]
  connectionInfo: (peer: PeerName) => ConnectionInfo | undefined
  openStream: (peer: PeerName, protocol: string, opts: { maxFrame: number }) => Promise<FrameStream>
  handle: (protocol: string, handler: (stream: FrameStream) => void, opts: { maxFrame: number }) => Promise<void>
  onConnect: (fn: (peer: PeerName) => void) => void
  onDisconnect: (fn: (peer: PeerName) => void) => void
  /** An inbound connection failed its handshake (a host without our cluster key, say); `addr` is its host. */
  onHandshakeFailure?: (fn: (failure: { addr: string, reason: string }) => void) => void
  /** Refuses and drops a peer until unblocked (equivocation, test partitions). */
  block: (peer: PeerName) => void
  unblock: (peer: PeerName) => void
}
