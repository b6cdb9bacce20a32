import type { EventId, PeerName } from '../../crdt/events/index.js'
import type { Tuning } from '../config.js'
import type { LogApi } from '../log-service/api.js'
import { speaksSync11, type Hello, type HelloInit, type ReceiveOutcome } from '../log-service/types.js'
import { initRefusal } from '../consensus/init.js'
import type { Logger } from '../logger.js'
import { checkRef, type ChunkedTransfers } from './chunked.js'
import { FrameTooLargeError, StreamTimeoutError, type FrameStream } from './transport.js'
import {
  decodeFrame, encodeBye, encodeEpochRef, encodeEpochRequest, encodeHello, encodeSeen, encodeSync, encodeSyncRef,
  FRAME_BYE, FRAME_EPOCH_REF, FRAME_EPOCH_REQ, FRAME_HELLO, FRAME_SEEN, FRAME_SYNC_REF, ProtocolError
} from './frames.js'
import type { SeenReport } from './liveness.js'
import { printable } from '../../packages/printable/index.js'

/**
 * One sync session with one peer over /weft/sync/1.0.0 (DESIGN.md §3): both
 * sides send a hello, decide whether to talk at all, then exchange Automerge
 * sync messages until both are in sync, and again whenever either side
 * adopts something. Either side may end it with a BYE naming the reason.
 */

/** The largest sync message accepted in chunks (a whole history for a joiner). */
export const MAX_TRANSFER_BYTES = 512 * 1024 * 1024

export type SessionEnd =
  | { kind: 'closed', message: string }
  | { kind: 'dropped', code: string, message: string, byUs: boolean, gate?: PeerName }

export interface SessionDeps {
  log: LogApi
  nickname: () => string
  /** `--range` given at launch: a joiner refuses a cluster over another range. */
  wantedRange?: string
  logger: Logger
  tuning: Tuning
  onAdopted: (peer: PeerName, ids: EventId[]) => void
  onCaughtUp: (peer: PeerName) => void
  onHello: (peer: PeerName, hello: Hello) => void
  /** What we tell the peer we have seen (in the hello, then in SEEN frames). */
  seenReport: () => SeenReport
  /** The peer's report of whom it has seen, and how long ago. */
  onSeen: (peer: PeerName, seen: SeenReport) => void
  /** While we have no cluster: how we will get one (said in our hello, judged against theirs). */
  helloInit?: () => HelloInit | undefined
  /** Every received sync message's outcome (metrics). */
  onReceived?: (peer: PeerName, outcome: ReceiveOutcome) => void
  /** Chunked transfers for messages over the frame limit. */
  chunks: ChunkedTransfers
  /** Opens a /weft/snapshot/1.0.0 stream to the peer. */
  openSnapshotStream: () => Promise<FrameStream>
  /** Milliseconds, for the frame rate limit. */
  now: () => number
}

/** A peer sent frames faster than any honest sync does. */
export class RateLimitError extends Error {
  override name = 'RateLimitError'
}

type Frame = ReturnType<typeof decodeFrame>

/**
 * Reads frames ahead of their processing, up to MAX_AHEAD (then it waits,
 * and the transport's back-pressure holds the sender), checking each with
 * `check` as it arrives. An error (the stream's, or `check`'s) is thrown by
 * the next `next()` once the frames before it are taken.
 */
class FrameReader {
  private static readonly MAX_AHEAD = 64
  private readonly queue: Frame[] = []
  private error: { err: unknown } | undefined
  private wake: (() => void) | undefined
  private resume: (() => void) | undefined

  constructor (private readonly read: () => Promise<Frame>, private readonly check: (frame: Frame) => void) {
    void this.loop()
  }

  private async loop (): Promise<void> {
    try {
      for (;;) {
        const frame = await this.read()
        this.check(frame)
        this.queue.push(frame)
        this.wake?.()
        if (frame.type === FRAME_BYE) return
        if (this.queue.length >= FrameReader.MAX_AHEAD) await new Promise<void>(resolve => { this.resume = resolve })
      }
    } catch (err) {
      this.error = { err }
      this.wake?.()
    }
  }

  async next (): Promise<Frame> {
    for (;;) {
      const frame = this.queue.shift()
      if (frame !== undefined) {
        if (this.resume !== undefined && this.queue.length < FrameReader.MAX_AHEAD / 2) {
          const resume = this.resume
          this.resume = undefined
          resume()
        }
        return frame
      }
      if (this.error !== undefined) throw this.error.err
      await new Promise<void>(resolve => { this.wake = resolve })
      this.wake = undefined
    }
  }
}

/**
 * Frames a peer may still send: refilled at `rate` per second up to `burst`.
 * An honest peer sends a sync message only in answer to one of ours or to a
 * change; a flood of no-op frames kept the single writer busy (issue 15).
 */
class FrameBudget {
  private tokens: number
  private at: number
  constructor (private readonly rate: number, private readonly burst: number, now: number) {
    this.tokens = burst
    this.at = now
  }

  spend (now: number): boolean {
    // A wall clock stepped back (NTP, or a simulated skew) must not drain the
    // bucket: a negative refill made every frame for that long a "flood" and
    // dropped every peer (simulator seed 15847).
    this.tokens = Math.min(this.burst, this.tokens + Math.max(0, now - this.at) * this.rate / 1000)
    this.at = now
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}

export class SyncSession {
  readonly peer: PeerName
  private readonly stream: FrameStream
  private readonly deps: SessionDeps
  private readonly log: Logger
  private pumping = false
  private again = false
  private started = false
  private ended = false
  private expectCluster: EventId | undefined
  /**
   * Epochs differ (DESIGN.md §2.6): no sync messages either way (ours could
   * not be applied there, nor theirs here) until the peer behind has fetched
   * the later epoch and says so in a hello.
   */
  private hold = false
  /** The epoch both hellos said, which our sync messages are for ('' the first). */
  private syncEpoch = ''
  remote: Hello | undefined
  private readonly budget: FrameBudget
  bytesIn = 0
  bytesOut = 0

  /** `stream` must refuse frames over tuning.frameLimit + 1 (type byte + message). */
  constructor (stream: FrameStream, deps: SessionDeps) {
    this.peer = stream.peer
    this.stream = stream
    this.deps = deps
    this.log = deps.logger.forComponent('weft:sync')
    const rate = deps.tuning.maxSyncFramesPerSecond
    // A catch-up is a burst of round trips; a flood is sustained.
    this.budget = new FrameBudget(rate, Math.max(400, 2 * rate), deps.now())
  }

  /** Whether the peer's hello was accepted: only then may it send a chunked transfer. */
  get accepted (): boolean { return this.started && !this.ended }

  private async write (bytes: Uint8Array): Promise<void> {
    this.bytesOut += bytes.length
    await this.stream.write(bytes)
  }

  private async read (timeoutMs?: number): Promise<ReturnType<typeof decodeFrame>> {
    const bytes = await this.stream.read(timeoutMs !== undefined ? { timeoutMs } : {})
    this.bytesIn += bytes.length
    return decodeFrame(bytes)
  }

  /** Runs the session to its end. Never throws. */
  async run (): Promise<SessionEnd> {
    let end: SessionEnd
    try {
      end = await this.exchange()
    } catch (err) {
      end = this.endFromError(err)
      // A flooder that does not read would leave our BYE waiting for window
      // forever (and its flood arriving meanwhile): say it, never wait for it.
      if (end.kind === 'dropped' && end.byUs) {
        const bye = this.sayBye(end.code, end.message)
        if (end.code !== 'rate-limit') await bye
      }
    }
    this.ended = true
    // A flooder keeps writing: waiting for a graceful close would keep its
    // flood arriving (and costing the main thread) until it stops on its own.
    if (end.kind === 'dropped' && end.byUs && end.code === 'rate-limit') this.stream.abort(new Error('rate-limited'))
    else {
      try { await this.stream.close() } catch { this.stream.abort(new Error('session ended')) }
    }
    return end
  }

  private async exchange (): Promise<SessionEnd> {
    const { log, tuning } = this.deps
    await this.write(encodeHello(await this.ourHello()))
    const first = await this.read(tuning.helloTimeoutMs)
    if (first.type === FRAME_BYE) return await this.byeReceived(first)
    if (first.type !== FRAME_HELLO) throw new ProtocolError('the first frame is not a hello')
    const refused = await this.judge(first.hello)
    if (refused !== undefined) return refused
    this.started = true
    this.pump()
    // Frames are read (and counted against the budget) as they arrive, not
    // as fast as we process them: under a flood, processing slows down and a
    // budget spent per processed frame took seconds to run out (issue 15).
    const frames = new FrameReader(async () => await this.read(), frame => {
      if (frame.type !== FRAME_BYE && !this.budget.spend(this.deps.now())) {
        throw new RateLimitError(`more than ${this.deps.tuning.maxSyncFramesPerSecond} sync frames a second: a flood, not a sync`)
      }
    })
    for (;;) {
      const frame = await frames.next()
      if (frame.type === FRAME_BYE) return await this.byeReceived(frame)
      if (frame.type === FRAME_HELLO) {
        // Protocol 1.1: a peer that found or joined a cluster says so again.
        if (!speaksSync11(this.remote!)) throw new ProtocolError('a second hello')
        const again = await this.judge(frame.hello)
        if (again !== undefined) return again
        this.pump()
        continue
      }
      if (frame.type === FRAME_SEEN) { this.deps.onSeen(this.peer, frame.seen); continue }
      if (frame.type === FRAME_EPOCH_REQ) { this.sendEpoch(); continue }
      if (frame.type === FRAME_EPOCH_REF) {
        const offer = await this.deps.chunks.wait(this.peer, checkRef(frame.ref, MAX_TRANSFER_BYTES))
        const taken = await log.acceptEpoch(this.peer, offer)
        if (!taken.ok) {
          await this.sayBye('epoch', taken.message)
          return { kind: 'dropped', code: 'epoch', message: taken.message, byUs: true }
        }
        // Our hello now says the peer's epoch; it syncs with us once it has judged it.
        this.hold = false
        this.syncEpoch = this.remote?.epoch?.key ?? ''
        this.rehello()
        this.pump()
        continue
      }
      if (this.hold) {
        // Sent before the peer heard that our epochs differ: not for this document.
        if (frame.type === FRAME_SYNC_REF) await this.deps.chunks.wait(this.peer, checkRef(frame.ref, MAX_TRANSFER_BYTES))
        continue
      }
      const message = frame.type === FRAME_SYNC_REF
        ? await this.deps.chunks.wait(this.peer, checkRef(frame.ref, MAX_TRANSFER_BYTES))
        : frame.message
      const outcome = await log.receive(this.peer, message, this.expectCluster, this.deps.wantedRange, this.syncEpoch)
      this.deps.onReceived?.(this.peer, outcome)
      if (outcome.kind === 'rejected') return await this.reject(outcome)
      if (outcome.kind === 'adopted') this.deps.onAdopted(this.peer, outcome.ids)
      if (outcome.caughtUp) this.deps.onCaughtUp(this.peer)
      this.pump()
    }
  }

  private async ourHello (): Promise<Hello> {
    const init = this.deps.helloInit?.()
    return { ...await this.deps.log.hello(this.deps.nickname()), seen: this.deps.seenReport(), ...(init !== undefined ? { init } : {}) }
  }

  /** Takes a hello (the first, or an update): the session's end if we refuse it, else undefined. */
  private async judge (hello: Hello): Promise<SessionEnd | undefined> {
    if (hello.peer.name !== this.peer) throw new ProtocolError(`hello names peer ${printable(hello.peer.name)}, but the connection is with ${this.peer}`)
    this.remote = hello
    this.deps.onHello(this.peer, hello)
    if (hello.seen !== undefined) this.deps.onSeen(this.peer, hello.seen)
    const initRefused = initRefusal(this.deps.helloInit?.(), hello)
    const verdict = initRefused !== undefined
      ? { ok: false as const, code: 'wrong-init' as const, message: initRefused }
      : await this.deps.log.helloVerdict(hello, this.deps.wantedRange)
    if (!verdict.ok) {
      await this.sayBye(verdict.code, verdict.message)
      return { kind: 'dropped', code: verdict.code, message: verdict.message, byUs: true }
    }
    this.expectCluster = verdict.joinCluster
    this.hold = verdict.fetchEpoch === true || verdict.holdSync === true
    if (!this.hold) this.syncEpoch = hello.epoch?.key ?? ''
    if (verdict.fetchEpoch === true) {
      this.log.info(`${this.peer} is at epoch ${hello.epoch?.n ?? 0}, ahead of us: asking it for that epoch`)
      this.write(encodeEpochRequest()).catch(() => {})
    }
    return undefined
  }

  /** Our epoch changed: hold the sync and say so; the peer judges our new hello. */
  epochChanged (): void {
    if (!this.started || this.ended) return
    this.hold = true
    this.rehello()
  }

  /** Sends our epoch to a peer behind it (it asked), on a snapshot stream like a big sync message. */
  private sendEpoch (): void {
    void (async () => {
      const offer = await this.deps.log.epochOffer()
      if (offer === null || this.ended) return
      const ref = this.deps.chunks.newRef(offer)
      await this.write(encodeEpochRef(ref))
      this.bytesOut += offer.length
      await this.deps.chunks.send(await this.deps.openSnapshotStream(), ref, offer)
    })().catch(err => { this.log.warn(`sending our epoch to ${this.peer} failed: ${(err as Error)?.message ?? String(err)}`) })
  }

  /** Says our hello again (we found or joined a cluster), if the peer's protocol takes it. */
  rehello (): void {
    if (!this.started || this.ended || this.remote === undefined || !speaksSync11(this.remote)) return
    void (async () => { await this.write(encodeHello(await this.ourHello())) })().catch(() => {})
  }

  private async reject (outcome: Extract<ReceiveOutcome, { kind: 'rejected' }>): Promise<SessionEnd> {
    await this.sayBye(outcome.reason, outcome.message, outcome.evidence)
    return { kind: 'dropped', code: outcome.reason, message: outcome.message, byUs: true, ...(outcome.gate !== undefined ? { gate: outcome.gate } : {}) }
  }

  /**
   * The peer hung up. A BYE over an equivocation carries both events: check
   * them, and flag and gate the author here too when they prove it (the
   * peer may have caught it before its own rival event reached us).
   */
  private async byeReceived (bye: { code: string, message: string, evidence: Uint8Array[] }): Promise<SessionEnd> {
    if (bye.code === 'equivocation' && bye.evidence.length > 0) {
      const outcome = await this.deps.log.receiveEvidence(this.peer, bye.evidence)
      if (outcome?.kind === 'rejected') {
        this.deps.onReceived?.(this.peer, outcome)
        return { kind: 'dropped', code: outcome.reason, message: outcome.message, byUs: true, ...(outcome.gate !== undefined ? { gate: outcome.gate } : {}) }
      }
    }
    return { kind: 'dropped', code: bye.code, message: bye.message, byUs: false }
  }

  private endFromError (err: unknown): SessionEnd {
    const e = err as Error & { name?: string }
    if (err instanceof ProtocolError) return { kind: 'dropped', code: 'protocol', message: e.message, byUs: true }
    if (err instanceof RateLimitError) return { kind: 'dropped', code: 'rate-limit', message: e.message, byUs: true }
    if (err instanceof FrameTooLargeError) {
      return { kind: 'dropped', code: 'oversized', message: `frame over the ${this.deps.tuning.frameLimit}-byte limit: ${e.message}`, byUs: true }
    }
    if (err instanceof StreamTimeoutError) return { kind: 'dropped', code: 'timeout', message: 'no hello in time', byUs: true }
    if (e.name === 'UnsupportedProtocolError') return { kind: 'dropped', code: 'protocol', message: `the peer does not speak ${e.message}`, byUs: true }
    return { kind: 'closed', message: e.message ?? String(err) }
  }

  private async sayBye (code: string, message: string, evidence?: Uint8Array[]): Promise<void> {
    try {
      await this.write(encodeBye(code, message, evidence))
    } catch {}
  }

  /** Ends the session at once (a newer one replaced it, or the daemon stops). */
  abort (why: string): void {
    if (this.ended) return
    this.ended = true
    this.stream.abort(new Error(why))
  }

  /** Tells the peer whom we have seen (each anti-entropy round), if its protocol takes it. */
  sendSeen (seen: SeenReport): void {
    if (!this.started || this.ended || this.remote === undefined || !speaksSync11(this.remote)) return
    this.write(encodeSeen(seen)).catch(() => {})
  }

  /** Sends whatever Automerge says the peer still needs; coalesces overlapping calls. */
  pump (): void {
    if (!this.started || this.ended || this.hold) return
    if (this.pumping) { this.again = true; return }
    this.pumping = true
    void (async () => {
      try {
        do {
          this.again = false
          for (;;) {
            const msg = await this.deps.log.generate(this.peer, this.syncEpoch)
            if (msg === null || this.ended) break
            if (msg.length >= this.deps.tuning.frameLimit) {
              // Too big for one frame: the reference goes first on this stream, the
              // bytes follow in chunks on a snapshot stream (read concurrently).
              const ref = this.deps.chunks.newRef(msg)
              await this.write(encodeSyncRef(ref))
              this.bytesOut += msg.length
              await this.deps.chunks.send(await this.deps.openSnapshotStream(), ref, msg)
            } else {
              await this.write(encodeSync(msg))
            }
          }
        } while (this.again && !this.ended)
      } catch (err) {
        if (!this.ended) {
          // Once: later pumps see `ended` and stay quiet (a peer hanging up
          // mid-write used to log one line per pending pump).
          this.ended = true
          this.log.warn(`sync with ${this.peer} failed: ${(err as Error)?.message ?? String(err)}`)
          this.stream.abort(err as Error)
        }
      } finally {
        this.pumping = false
      }
    })()
  }
}
