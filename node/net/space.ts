import { formatCidr, parseCidr, RangeSet, type Cidr } from '../../packages/netaddr/index.js'
import { printable } from '../../packages/printable/index.js'
import type { AuthoredEvent, BodyOf, PeerName } from '../../crdt/events/index.js'
import { donation, hostSet } from '../allocator/addresses.js'
import type { Allocator, SpaceRequester } from '../allocator/allocator.js'
import { AllocError } from '../allocator/types.js'
import { UPGRADE_NEEDED, type AppendResult } from '../log-service/types.js'
import type { Clock } from '../clock.js'
import type { Logger } from '../logger.js'
import type { RingView } from '../ring-view.js'
import { decodeMessage, encodeMessage, spaceAnswerShape, spaceRequestShape, type SpaceAnswer, type SpaceRequest } from '../messages.js'
import { StreamClosedError, type FrameStream, type Transport } from './transport.js'

/**
 * /weft/space/1.0.0 (DESIGN.md §3): a peer short of addresses asks the
 * others how much is free in a subnet, then asks the one with the most to
 * donate. The donor appends a transfer of half its biggest free CIDR-aligned
 * block; the space reaches the requester through sync like any event.
 * One request and one answer per stream, JSON, every step with a timeout.
 */
export const SPACE_PROTOCOL_ID = '/weft/space/1.0.0'
const MAX_FRAME = 64 * 1024

type Request = SpaceRequest
type Answer = SpaceAnswer

export interface EventWriter {
  append: <K extends AuthoredEvent['kind']> (kind: K, body: BodyOf<K>, opts?: { allowVoid?: boolean }) => Promise<AppendResult>
}

export interface SpaceDeps {
  self: PeerName
  transport: Transport
  allocator: Allocator
  view: () => RingView | undefined
  writer: EventWriter
  logger: Logger
  clock: Clock
  /** Per-peer timeouts (ms) for the free query and the donation. */
  queryTimeoutMs?: number
  donateTimeoutMs?: number
}

/**
 * Donations one requester may get: a burst of DONATION_BURST, then one per
 * DONATION_INTERVAL_MS. Each gives half the donor's biggest free block, so an
 * honest peer short of space needs a few; a member asking in a loop drained
 * donors and grew the log by one transfer per request (issue 15).
 */
const DONATION_BURST = 4
const DONATION_INTERVAL_MS = 2_000

/** Checks a donor's answer before anything uses it; throws on anything unexpected. */
export function parseAnswer (bytes: Uint8Array): Answer {
  const a = decodeMessage(bytes, spaceAnswerShape, 'answer', MAX_FRAME, why => new Error(why))
  if ('ranges' in a) for (const r of a.ranges) parseCidr(r) // throws on a bad CIDR
  return 'reason' in a ? { ok: false, reason: a.reason.slice(0, 500) } : a
}

const send = async (s: FrameStream, x: Request | Answer): Promise<void> => { await s.write(encodeMessage(x)) }

export class SpaceService implements SpaceRequester {
  private readonly deps: SpaceDeps
  private readonly log: Logger

  constructor (deps: SpaceDeps) {
    this.deps = deps
    this.log = deps.logger.forComponent('weft:space')
  }

  async start (): Promise<void> {
    await this.deps.transport.handle(SPACE_PROTOCOL_ID, stream => { void this.serve(stream) }, { maxFrame: MAX_FRAME })
  }

  // ---- donor side ------------------------------------------------------------

  private async serve (stream: FrameStream): Promise<void> {
    try {
      const req = this.parse(await stream.read({ timeoutMs: 10_000 }))
      await send(stream, req.op === 'free' ? this.free(req.subnet) : await this.donate(stream.peer, req.subnet))
      await stream.close()
    } catch (err) {
      this.log.warn(`space request from ${stream.peer} failed: ${(err as Error).message}`)
      stream.abort(err as Error)
    }
  }

  private parse (bytes: Uint8Array): Request {
    return decodeMessage(bytes, spaceRequestShape, 'space request', MAX_FRAME, why => new Error(why))
  }

  private subnetOf (text: string): Cidr | undefined {
    try {
      return parseCidr(text)
    } catch {
      return undefined
    }
  }

  /** Free addresses that can be allocated (a subnet's network and broadcast addresses never are). */
  private free (subnet: string): Answer {
    const c = this.subnetOf(subnet)
    if (c === undefined || this.deps.view() === undefined) return { free: '0' }
    return { free: this.deps.allocator.freeSpace(hostSet(c)).size.toString() }
  }

  /**
   * Half the biggest free aligned block of the subnet, network and broadcast
   * addresses included (they are part of the space, and leaving them out would
   * halve the first donation of a range); but never a block holding nothing
   * that can be allocated (say, only the network address).
   */
  private chooseDonation (c: Cidr): Cidr | undefined {
    const hosts = hostSet(c)
    const block = donation(this.deps.allocator.freeSpace(RangeSet.fromCidrs(c.family, [c])))
    if (block !== undefined && RangeSet.fromCidrs(c.family, [block]).overlaps(hosts)) return block
    return donation(this.deps.allocator.freeSpace(hosts))
  }

  /** Why we will not give `peer` space, or undefined. */
  private refusal (peer: PeerName, view: RingView | undefined): string | undefined {
    if (view === undefined) return 'no cluster yet'
    if (view.peer(this.deps.self)?.removed !== undefined) return 'this peer was removed'
    if (view.json.readOnly) return UPGRADE_NEEDED
    const p = view.peer(peer)
    if (p === undefined || !p.member) return `${peer} has not joined the cluster`
    if (p.removed !== undefined) return `${peer} was removed from the cluster`
    return undefined
  }

  /** Per requester: donations left in its burst, and when that was last counted. */
  private readonly allowance = new Map<PeerName, { left: number, at: number }>()

  /** Takes one donation from `peer`'s allowance; false when it asks too often. */
  private allowDonation (peer: PeerName): boolean {
    const now = this.deps.clock.now()
    const a = this.allowance.get(peer) ?? { left: DONATION_BURST, at: now }
    a.left = Math.min(DONATION_BURST, a.left + (now - a.at) / DONATION_INTERVAL_MS)
    a.at = now
    if (a.left < 1) { this.allowance.set(peer, a); return false }
    a.left -= 1
    this.allowance.set(peer, a)
    // Members only get here, so the map is bounded by the membership.
    return true
  }

  private async donate (peer: PeerName, subnet: string): Promise<Answer> {
    const view = this.deps.view()
    const why = this.refusal(peer, view)
    if (why !== undefined) return { ok: false, reason: why }
    if (!this.allowDonation(peer)) return { ok: false, reason: `too many donation requests: at most ${DONATION_BURST} at once, then one every ${DONATION_INTERVAL_MS / 1000} s` }
    const c = this.subnetOf(subnet)
    if (c === undefined) return { ok: false, reason: `not a subnet: ${subnet}` }
    const block = this.chooseDonation(c)
    if (block === undefined) return { ok: false, reason: `no free space in ${subnet}` }
    const ranges = RangeSet.fromCidrs(block.family, [block])
    // Nothing here may hand out these addresses while the transfer is on its way.
    this.deps.allocator.markLeaving(ranges)
    try {
      const r = await this.deps.writer.append('transfer', { ranges: [block], to: peer })
      if (r.status !== 'valid') throw new Error(r.reason ?? 'the transfer would be void')
      this.log.info(`gave ${formatCidr(block)} to ${view?.peer(peer)?.nickname ?? peer} (transfer ${r.id})`)
      return { ok: true, transfer: r.id, ranges: [formatCidr(block)] }
    } catch (err) {
      this.deps.allocator.unmarkLeaving(ranges)
      return { ok: false, reason: (err as Error).message }
    }
  }

  // ---- requester side --------------------------------------------------------

  private async ask (peer: PeerName, req: Request, timeoutMs: number): Promise<Answer> {
    const stream = await this.deps.transport.openStream(peer, SPACE_PROTOCOL_ID, { maxFrame: MAX_FRAME })
    try {
      await send(stream, req)
      return parseAnswer(await stream.read({ timeoutMs }))
    } finally {
      await stream.close().catch(() => {})
    }
  }

  /**
   * Asks donors by most free space first (SpaceRequester), again and again
   * until the deadline: a donor may refuse only for now (our join has not
   * reached it yet, or its space is on its way elsewhere).
   */
  async request (subnet: Cidr, timeoutMs: number): Promise<{ donor: PeerName, transfer: string, ranges: string[] }> {
    const { clock } = this.deps
    const deadline = clock.now() + timeoutMs
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.requestOnce(subnet, Math.max(1, deadline - clock.now()))
      } catch (err) {
        const wait = Math.min(2000, 100 * 2 ** attempt)
        if (clock.now() + wait >= deadline) throw err
        this.log.debug(`no donation yet (${(err as Error).message}); asking again in ${wait} ms`)
        await new Promise<void>(resolve => { clock.setTimeout(resolve, wait) })
      }
    }
  }

  private async requestOnce (subnet: Cidr, timeoutMs: number): Promise<{ donor: PeerName, transfer: string, ranges: string[] }> {
    const view = this.deps.view()
    const text = formatCidr(subnet)
    const candidates = this.deps.transport.connectedPeers().filter(p => {
      const q = view?.peer(p)
      return q !== undefined && q.member && q.removed === undefined
    })
    if (candidates.length === 0) {
      throw new AllocError('no-space', `no free address in ${text}: this peer has none and no other peer is connected to give some`)
    }
    const queryMs = Math.min(this.deps.queryTimeoutMs ?? 3_000, timeoutMs)
    const offers = await Promise.all(candidates.map(async peer => {
      try {
        const a = await this.ask(peer, { op: 'free', subnet: text }, queryMs)
        return { peer, free: 'free' in a && /^\d+$/.test(a.free) ? BigInt(a.free) : 0n }
      } catch (err) {
        return { peer, free: 0n, error: err instanceof StreamClosedError ? 'disconnected' : (err as Error).message }
      }
    }))
    // Most free space first; ties by peer name, so every peer asks in the same order.
    offers.sort((a, b) => (a.free < b.free ? 1 : a.free > b.free ? -1 : a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0))
    const reasons: string[] = []
    for (const o of offers) {
      if (o.free === 0n) { reasons.push(`${view?.peer(o.peer)?.nickname ?? o.peer}: ${'error' in o ? o.error : 'none free'}`); continue }
      try {
        const a = await this.ask(o.peer, { op: 'donate', subnet: text }, Math.min(this.deps.donateTimeoutMs ?? 10_000, timeoutMs))
        if ('ok' in a && a.ok) return { donor: o.peer, transfer: a.transfer, ranges: a.ranges }
        reasons.push(`${view?.peer(o.peer)?.nickname ?? o.peer}: ${'reason' in a ? printable(String(a.reason)) : 'refused'}`)
      } catch (err) {
        reasons.push(`${view?.peer(o.peer)?.nickname ?? o.peer}: ${(err as Error).message}`)
      }
    }
    throw new AllocError('no-space', `no free address in ${text}: no peer could give any (${reasons.join('; ')})`)
  }
}
