import { createHash } from 'node:crypto'
import type { PeerName } from '../../crdt/events/index.js'
import type { Clock } from '../clock.js'
import type { Logger } from '../logger.js'
import { decodeMessage, encodeMessage, transferRefShape, type TransferRef } from '../messages.js'
import { ProtocolError } from './frames.js'
import type { FrameStream } from './transport.js'

/**
 * /weft/snapshot/1.0.0: sync messages over the frame limit travel in chunks
 * on a stream of their own (DESIGN.md §3). Automerge cannot split a sync
 * message, and a peer that missed thousands of events gets one of several
 * MB. The sync stream carries a reference (id, size, sha-256); this stream
 * carries a header and the chunks; the receiver reassembles, checks size and
 * hash, and hands the message to the sync session as if it came whole.
 */
export const SNAPSHOT_PROTOCOL_ID = '/weft/snapshot/1.0.0'

export type { TransferRef }


export function sha256hex (b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex')
}

/** A reference (checked against its schema where it was decoded) within the size limit. */
export function checkRef (r: TransferRef, maxBytes: number): TransferRef {
  if (r.bytes > maxBytes) throw new ProtocolError(`a transfer of ${r.bytes} bytes is over the ${maxBytes}-byte limit`)
  return r
}

/**
 * Transfers one peer may have in flight: its sync session waits for each
 * before it reads on, so one, and one more for the moment the next stream
 * opens while the last is closing.
 */
const MAX_PER_PEER = 2
/**
 * How long a transfer stream waits for its reference on the sync stream
 * (ms). It reads nothing meanwhile: the stream is paused once a little has
 * arrived, so an unannounced transfer costs a window, never its size.
 */
const ANNOUNCE_MS = 10_000

function concatChunks (parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!
  const out = new Uint8Array(total)
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}

/** A reference our sync session read, waiting for its stream's data. */
interface Announced {
  ref: TransferRef
  resolve: (b: Uint8Array) => void
  reject: (e: Error) => void
  timer: unknown
}

export class ChunkedTransfers {
  private readonly frameLimit: number
  private readonly maxBytes: number
  private readonly log: Logger
  /** peer:transfer → the waiting sync session. */
  private readonly announced = new Map<string, Announced>()
  /** peer:transfer → a stream that arrived before its reference, waiting for it. */
  private readonly early = new Map<string, () => void>()
  private readonly clock: Clock
  private next = 1

  constructor (opts: { frameLimit: number, maxBytes: number, logger: Logger, clock: Clock }) {
    this.frameLimit = opts.frameLimit
    this.maxBytes = opts.maxBytes
    this.clock = opts.clock
    this.log = opts.logger.forComponent('weft:snapshot')
  }

  newRef (message: Uint8Array): TransferRef {
    return { transfer: this.next++, bytes: message.length, sha256: sha256hex(message) }
  }

  /** Sends `message` on a fresh snapshot stream: a header frame, then chunks. */
  async send (stream: FrameStream, ref: TransferRef, message: Uint8Array): Promise<void> {
    await stream.write(encodeMessage(ref))
    for (let off = 0; off < message.length; off += this.frameLimit) {
      await stream.write(message.subarray(off, Math.min(message.length, off + this.frameLimit)))
    }
    await stream.close()
  }

  /** Per peer, transfers being read (at most MAX_PER_PEER). */
  private readonly busy = new Map<PeerName, number>()

  private take (peer: PeerName): boolean {
    const n = this.busy.get(peer) ?? 0
    if (n >= MAX_PER_PEER) return false
    this.busy.set(peer, n + 1)
    return true
  }

  private release (peer: PeerName): void {
    const n = (this.busy.get(peer) ?? 1) - 1
    if (n <= 0) this.busy.delete(peer)
    else this.busy.set(peer, n)
  }

  /** The waiting session for `ref`, once our sync stream has read that reference; undefined after ANNOUNCE_MS. */
  private async whenAnnounced (peer: PeerName, ref: TransferRef): Promise<Announced | undefined> {
    const k = this.key(peer, ref.transfer)
    if (!this.announced.has(k)) {
      await new Promise<void>(resolve => {
        const timer = this.clock.setTimeout(() => { this.early.delete(k); resolve() }, ANNOUNCE_MS)
        this.early.set(k, () => { this.clock.clearTimeout(timer); this.early.delete(k); resolve() })
      })
    }
    return this.announced.get(k)
  }

  /**
   * Handles an incoming snapshot stream: only a transfer our own sync session
   * was told of (DESIGN.md §3.3), checked against that reference, read as its
   * bytes arrive. The caller accepts the stream only from a peer whose hello
   * it accepted; at most MAX_PER_PEER at once. Memory grows with the bytes
   * that really arrive, never with what a header announces (issue 15: eight
   * headers announcing 511 MiB each took a daemon to 3.7 GiB).
   */
  async receive (stream: FrameStream): Promise<void> {
    const peer = stream.peer
    if (!this.take(peer)) {
      stream.abort(new ProtocolError(`more than ${MAX_PER_PEER} chunked transfers at a time`))
      return
    }
    let waiter: Announced | undefined
    try {
      const head = await stream.read({ timeoutMs: 10_000 })
      const ref = checkRef(decodeMessage(head, transferRefShape, 'transfer header', 4096, why => new ProtocolError(why)), this.maxBytes)
      waiter = await this.whenAnnounced(peer, ref)
      if (waiter === undefined) throw new ProtocolError(`transfer ${ref.transfer} was not announced on the sync stream`)
      if (waiter.ref.bytes !== ref.bytes || waiter.ref.sha256 !== ref.sha256) throw new ProtocolError('transfer does not match its reference')
      this.announced.delete(this.key(peer, ref.transfer))
      const parts: Uint8Array[] = []
      let got = 0
      // Generous per chunk, so slow links finish and dead ones don't hang.
      while (got < ref.bytes) {
        const chunk = await stream.read({ timeoutMs: 30_000 })
        if (got + chunk.length > ref.bytes) throw new ProtocolError('transfer is longer than its header says')
        parts.push(chunk)
        got += chunk.length
      }
      const data = concatChunks(parts, got)
      if (sha256hex(data) !== ref.sha256) throw new ProtocolError('transfer does not match its sha-256')
      this.clock.clearTimeout(waiter.timer)
      waiter.resolve(data)
      await stream.close()
    } catch (err) {
      this.log.warn(`chunked transfer from ${peer} failed: ${(err as Error).message}`)
      stream.abort(err as Error)
      // The sync session waiting for it must end (and reconnect afresh), or
      // both sides would wait forever for a message that will never come.
      const failed = new ProtocolError(`a chunked transfer failed: ${(err as Error).message}`)
      if (waiter !== undefined) {
        this.clock.clearTimeout(waiter.timer)
        waiter.reject(failed)
      }
      this.failPeer(peer, failed)
    } finally {
      this.release(peer)
    }
  }

  private failPeer (peer: PeerName, err: Error): void {
    for (const [k, p] of this.announced) {
      if (!k.startsWith(peer + ':')) continue
      this.clock.clearTimeout(p.timer)
      this.announced.delete(k)
      p.reject(err)
    }
  }

  private key (peer: PeerName, transfer: number): string { return `${peer}:${transfer}` }

  /** The message a reference on the sync stream points at, once its chunks have arrived. */
  wait (peer: PeerName, ref: TransferRef): Promise<Uint8Array> {
    const k = this.key(peer, ref.transfer)
    if (this.announced.has(k)) return Promise.reject(new ProtocolError(`transfer ${ref.transfer} announced twice`))
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.announced.delete(k)
        reject(new ProtocolError(`transfer ${ref.transfer} of ${ref.bytes} bytes did not arrive`))
      }, 40_000 + Math.ceil(ref.bytes / 1_048_576) * 1000)
      this.announced.set(k, { ref, resolve, reject, timer })
      this.early.get(k)?.()
    })
  }

  /** Forgets every pending transfer of a peer (its session ended). */
  dropPeer (peer: PeerName): void {
    for (const [k, p] of this.announced) {
      if (!k.startsWith(peer + ':')) continue
      this.clock.clearTimeout(p.timer)
      p.reject(new Error('session ended'))
      this.announced.delete(k)
    }
    for (const [k, wake] of this.early) if (k.startsWith(peer + ':')) wake()
  }
}
