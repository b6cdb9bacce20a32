import type { AbortOptions, ConnectionProtector, MessageStream, MultiaddrConnection } from '@libp2p/interface'
import { withoutPeer } from './dialer.js'

/**
 * Tells a connection that failed its handshake from other failures, on both
 * sides, so each can say "likely a different or missing cluster key"
 * (DESIGN.md §3.3) instead of what libp2p reports: garbage read by
 * multistream-select (`Missing newline`), ECONNRESET, or a timeout
 * (reference/p2p-lmdb-spike.md §1). pnet has no handshake of its own: a key
 * mismatch only shows as bytes that make no sense.
 *
 * A handshake starts when libp2p hands the raw connection to the protector
 * (wrapped here; a pass-through one when there is no key) and succeeds when
 * the connection gater sees it encrypted, which Noise over a mismatched key
 * never reaches. A connection that closes in between failed its handshake.
 * Nothing is learnt of the other side: pnet fails before it names itself.
 */

export interface HandshakeFailure {
  /** The remote host (the address without its port for an inbound connection: the port is ephemeral). */
  addr: string
  detail: string
}

/** Outbound attempts remembered at most (each dial checks its own a moment later). */
const MAX_OUTBOUND = 256

export class HandshakeWatch {
  private readonly pending = new Set<MessageStream>()
  private readonly outbound = new Map<string, { seq: number, encrypted: boolean }>()
  private seq = 0
  private readonly onInboundFailure: (f: HandshakeFailure) => void

  constructor (onInboundFailure: (f: HandshakeFailure) => void) {
    this.onInboundFailure = onInboundFailure
  }

  /** libp2p's `connectionProtector`: `inner` (pnet) when there is a key, else a pass-through. */
  protector (inner?: ConnectionProtector): ConnectionProtector {
    return {
      protect: async (conn: MessageStream, options?: AbortOptions): Promise<MessageStream> => {
        this.started(conn)
        return inner === undefined ? conn : await inner.protect(conn, options)
      }
    }
  }

  /** Call from the gater's deny{In,Out}boundEncryptedConnection: the handshake is done. */
  encrypted (maConn: MultiaddrConnection): void {
    this.pending.delete(maConn)
    const o = this.outbound.get(addrOf(maConn))
    if (o !== undefined && maConn.direction === 'outbound') o.encrypted = true
  }

  /** A mark to pass to `failedSince`, taken before dialling. */
  mark (): number { return this.seq }

  /** Whether a dial to `addr` since `mark` began a handshake that never completed. */
  failedSince (addr: string, mark: number): boolean {
    const o = this.outbound.get(withoutPeer(addr))
    return o !== undefined && o.seq > mark && !o.encrypted
  }

  private started (conn: MessageStream): void {
    const maConn = conn as MultiaddrConnection
    if (maConn.remoteAddr === undefined) return
    if (maConn.direction === 'outbound') {
      const addr = addrOf(maConn)
      this.outbound.delete(addr)
      this.outbound.set(addr, { seq: ++this.seq, encrypted: false })
      if (this.outbound.size > MAX_OUTBOUND) this.outbound.delete(this.outbound.keys().next().value!)
      return
    }
    this.pending.add(maConn)
    maConn.addEventListener('close', evt => {
      if (!this.pending.delete(maConn)) return
      this.onInboundFailure({ addr: hostOf(maConn), detail: evt.error?.message ?? 'closed during the handshake' })
    }, { once: true })
  }
}

function addrOf (maConn: MultiaddrConnection): string {
  return withoutPeer(maConn.remoteAddr.toString())
}

/** `/ip4/10.0.0.2/tcp/51234` → `/ip4/10.0.0.2`. */
function hostOf (maConn: MultiaddrConnection): string {
  const addr = addrOf(maConn)
  const m = /^\/(ip4|ip6|dns4|dns6|dns)\/[^/]+/.exec(addr)
  return m === null ? addr : m[0]
}

/** Why a handshake failed, as `status connections` and the log say it. */
export function handshakeReason (keyed: boolean, direction: 'inbound' | 'outbound', detail: string): string {
  const likely = keyed
    ? direction === 'outbound' ? 'likely a different or missing cluster key on the other side' : 'likely a host without this cluster\'s key (a different key, or none)'
    : direction === 'outbound' ? 'the other side likely needs a cluster key, and this peer has none (--key-file)' : 'the other host may use a cluster key, and this peer has none (--key-file)'
  // The detail is libp2p's, but may quote bytes the other host sent.
  const shown = detail.split('\n')[0]!.slice(0, 200).replace(/\p{C}/gu, c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  return `handshake failed: ${likely} (${shown})`
}
