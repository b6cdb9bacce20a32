import { createHash } from 'node:crypto'
import type { PeerName } from '../../crdt/events/index.js'
import type { Clock } from '../clock.js'
import type { Logger } from '../logger.js'
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

export interface TransferRef { transfer: number, bytes: number, sha256: string }

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

export function sha256hex (b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex')
}

export function checkRef (x: unknown, maxBytes: number): TransferRef {
  const r = x as Partial<TransferRef> | null
  if (typeof r !== 'object' || r === null || !Number.isSafeInteger(r.transfer) || !Number.isSafeInteger(r.bytes) ||
    typeof r.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(r.sha256)) {
    throw new ProtocolError('bad transfer reference')
  }
  if (r.bytes! <= 0 || r.bytes! > maxBytes) throw new ProtocolError(`a transfer of ${r.bytes!} bytes is over the ${maxBytes}-byte limit`)
  return r as TransferRef
}

/**
 * Transfers one peer may have in flight: its sync session waits for each
 * before it reads on, so one, and one more for the moment the next stream
 * opens while the last is closing.
 */
const MAX_PER_PEER = 2
/** How long data that beat its reference is kept for it (ms). */
const STASH_MS = 20_000

function concatChunks (parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0]!
  const out = new Uint8Array(total)
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}

interface Pending {
  resolve?: (b: Uint8Array) => void
  reject?: (e: Error) => void
  data?: Uint8Array
  timer?: unknown
}

export class ChunkedTransfers {
  private readonly frameLimit: number
  private readonly maxBytes: number
  private readonly log: Logger
  private readonly pending = new Map<string, Pending>()
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
    await stream.write(encoder.encode(JSON.stringify(ref)))
    for (let off = 0; off < message.length; off += this.frameLimit) {
      await stream.write(message.subarray(off, Math.min(message.length, off + this.frameLimit)))
    }
    await stream.close()
  }

  /** Per peer, transfers being read or read and not yet asked for (at most MAX_PER_PEER). */
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

  /**
   * Handles an incoming snapshot stream: reassemble, check, deliver. Frames
   * are at most frameLimit. The caller accepts the stream only from a peer
   * whose hello it accepted; a peer has one transfer in flight at a time (its
   * sync session waits for each before reading on), and memory grows with the
   * bytes that really arrive, never with what a header announces (issue 15:
   * eight headers announcing 511 MiB each took a daemon to 3.7 GiB).
   */
  async receive (stream: FrameStream): Promise<void> {
    const peer = stream.peer
    if (!this.take(peer)) {
      stream.abort(new ProtocolError(`more than ${MAX_PER_PEER} chunked transfers at a time`))
      return
    }
    let delivered = false
    try {
      const head = await stream.read({ timeoutMs: 10_000 })
      let json: unknown
      try { json = JSON.parse(decoder.decode(head)) } catch { throw new ProtocolError('transfer header is not JSON') }
      const ref = checkRef(json, this.maxBytes)
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
      delivered = this.deliver(peer, ref.transfer, data)
      await stream.close()
    } catch (err) {
      this.log.warn(`chunked transfer from ${peer} failed: ${(err as Error).message}`)
      stream.abort(err as Error)
      // The sync session waiting for it must end (and reconnect afresh), or
      // both sides would wait forever for a message that will never come.
      this.failPeer(peer, new ProtocolError(`a chunked transfer failed: ${(err as Error).message}`))
    } finally {
      // Kept (not yet asked for) data holds the peer's slot until taken or expired.
      if (!delivered) this.release(peer)
    }
  }

  private readonly failed = new Map<PeerName, Error>()

  private failPeer (peer: PeerName, err: Error): void {
    let waited = false
    for (const [k, p] of this.pending) {
      if (!k.startsWith(peer + ':') || p.reject === undefined) continue
      this.clock.clearTimeout(p.timer)
      this.pending.delete(k)
      p.reject(err)
      waited = true
    }
    if (!waited) this.failed.set(peer, err)
  }

  private key (peer: PeerName, transfer: number): string { return `${peer}:${transfer}` }

  /** Hands the data to its waiter; true when it is kept for one instead (the peer's slot stays taken). */
  private deliver (peer: PeerName, transfer: number, data: Uint8Array): boolean {
    const k = this.key(peer, transfer)
    const p = this.pending.get(k)
    if (p?.resolve !== undefined) {
      this.clock.clearTimeout(p.timer)
      this.pending.delete(k)
      p.resolve(data)
      return false
    }
    // The data beat its reference on the sync stream: keep it briefly.
    const timer = this.clock.setTimeout(() => { this.pending.delete(k); this.release(peer) }, STASH_MS)
    this.pending.set(k, { data, timer })
    return true
  }

  /** The message a reference on the sync stream points at, once its chunks have arrived. */
  wait (peer: PeerName, ref: TransferRef): Promise<Uint8Array> {
    const failure = this.failed.get(peer)
    if (failure !== undefined) {
      this.failed.delete(peer)
      return Promise.reject(failure)
    }
    const k = this.key(peer, ref.transfer)
    const had = this.pending.get(k)
    if (had?.data !== undefined) {
      this.clock.clearTimeout(had.timer)
      this.pending.delete(k)
      this.release(peer)
      if (had.data.length !== ref.bytes || sha256hex(had.data) !== ref.sha256) return Promise.reject(new ProtocolError('transfer does not match its reference'))
      return Promise.resolve(had.data)
    }
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.pending.delete(k)
        reject(new ProtocolError(`transfer ${ref.transfer} of ${ref.bytes} bytes did not arrive`))
      }, 40_000 + Math.ceil(ref.bytes / 1_048_576) * 1000)
      this.pending.set(k, {
        resolve: data => {
          if (data.length !== ref.bytes || sha256hex(data) !== ref.sha256) reject(new ProtocolError('transfer does not match its reference'))
          else resolve(data)
        },
        reject,
        timer
      })
    })
  }

  /** Forgets every pending transfer of a peer (its session ended). */
  dropPeer (peer: PeerName): void {
    this.failed.delete(peer)
    this.busy.delete(peer)
    for (const [k, p] of this.pending) {
      if (!k.startsWith(peer + ':')) continue
      this.clock.clearTimeout(p.timer)
      p.reject?.(new Error('session ended'))
      this.pending.delete(k)
    }
  }
}
