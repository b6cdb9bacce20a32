import { parseCidr, RangeSet, type Cidr } from '../packages/netaddr/index.js'
import { EVENT_FORMAT_VERSION, type AuthoredEvent } from '../crdt/events/index.js'
import type { Daemon } from './daemon.js'

/**
 * Control routes for multi-process tests, enabled only by WEFT_TEST_HOOKS=1:
 * append any signed event (even one that will be void), block and unblock a
 * peer to make partitions, read the whole ring view, and hold a takeover
 * vote without appending the takeover.
 */

class HookError extends Error {
  override name = 'HookError'
}

function ranges (value: unknown, family: 4 | 6): Cidr[] {
  if (!Array.isArray(value) || !value.every(v => typeof v === 'string')) throw new HookError('ranges must be a list of CIDR strings')
  return RangeSet.fromCidrs(family, value.map(v => parseCidr(v))).toCidrs()
}

/** Turns a JSON body (CIDR strings, base64 evidence) into an event body. */
function eventBody (kind: string, b: Record<string, unknown>, family: 4 | 6): unknown {
  switch (kind) {
    case 'transfer': return { ranges: ranges(b.ranges, family), to: String(b.to) }
    case 'takeover': return { from: String(b.from), ranges: ranges(b.ranges ?? [], family) }
    case 'leave': return { heirs: (b.heirs as Array<{ peer: string, ranges: string[] }>).map(h => ({ peer: h.peer, ranges: ranges(h.ranges, family) })) }
    case 'join': return { nickname: String(b.nickname), addrs: (b.addrs as string[] | undefined) ?? [] }
    case 'conflict': return {
      reason: b.reason === 'equivocation' ? 'equivocation' : 'dispute',
      rivals: [...(b.rivals as string[])].sort(),
      overlap: ranges(b.overlap ?? [], family),
      supplier: String(b.supplier),
      evidence: ((b.evidence as string[] | undefined) ?? []).map(e => new Uint8Array(Buffer.from(e, 'base64')))
    }
    case 'resolve': return {
      disputes: [...(b.disputes as string[])].sort(),
      removals: (b.removals as string[] | undefined) ?? [],
      assignments: (b.assignments as Array<{ owner: string, ranges: string[] }>).map(a => ({ owner: a.owner, ranges: ranges(a.ranges, family) }))
    }
    default: throw new HookError(`no such event kind: ${kind}`)
  }
}

export async function runTestHook (daemon: Daemon, name: string, body: unknown): Promise<unknown> {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>
  switch (name) {
    case 'append': {
      const kind = String(b.kind) as AuthoredEvent['kind']
      const family = daemon.log.latestView?.family ?? 4
      const typed = eventBody(kind, (b.body ?? {}) as Record<string, unknown>, family)
      return await daemon.log.append(kind, typed as never, { allowVoid: b.allowVoid === true })
    }
    case 'append-future': {
      const v = b.v === undefined ? EVENT_FORMAT_VERSION + 1 : Number(b.v)
      if (!Number.isSafeInteger(v) || v <= EVENT_FORMAT_VERSION) throw new HookError(`v must be an integer above ${EVENT_FORMAT_VERSION}`)
      return await daemon.log.appendFuture(String(b.kind ?? 'future-kind'), v)
    }
    case 'append-joins': {
      const count = Number(b.count)
      if (!Number.isSafeInteger(count) || count < 1 || count > 1_000_000) throw new HookError('count must be an integer in [1, 1000000]')
      const me = daemon.log.latestView?.peers.find(p => p.name === daemon.self)
      return { appended: await daemon.log.appendJoins(count, daemon.config.nickname, me?.addrs ?? daemon.network?.advertiseAddrs() ?? []) }
    }
    case 'block':
      daemon.network?.block(String(b.peer))
      return { blocked: String(b.peer) }
    case 'unblock':
      daemon.network?.unblock(String(b.peer))
      return { unblocked: String(b.peer) }
    case 'view':
      return daemon.log.latestView ?? null
    case 'vote': {
      // Wins or loses the takeover vote on a peer without appending the takeover:
      // a winner that crashed before appending, to show votes outlive voters' crashes.
      const outcome = await daemon.voteOnly(String(b.target))
      return 'won' in outcome ? { won: true, votes: outcome.approval.votes.map(v => v.peer), of: outcome.approval.of } : outcome
    }
    default:
      throw new HookError(`no such test hook: ${name}`)
  }
}
