import type { AbortOptions, ConnectionEncrypter, ConnectionProtector, MessageStream, MultiaddrConnection } from '@libp2p/interface'
import { withoutPeer } from './dialer.js'

/**
 * Tells a connection that failed its handshake from other failures, on both
 * sides, so each can say "likely a different or missing cluster key"
 * (DESIGN.md §3.3) instead of what libp2p reports: garbage read by
 * multistream-select (`Missing newline`), ECONNRESET, or a timeout
 * (reference/p2p-lmdb-spike.md §1). pnet has no handshake of its own: a key
 * mismatch only shows as bytes that make no sense.
 *
 * The handshake starts when libp2p hands the raw connection to the
 * protector (wrapped here; a pass-through one when there is no key) and is
 * through once multistream-select has agreed on Noise over the protected
 * bytes, which garbage never does: libp2p then calls the encrypter (wrapped
 * here too). A connection that ends in between failed the handshake; one
 * that fails inside Noise (a peer with another identity than the dialled
 * /p2p/ID) did not. Nothing is learnt of the other side: pnet fails before
 * it names itself.
 *
 * Inbound connections are watched until they close; a dial learns how far
 * its own connection got from progress events (libp2p hands a dial's
 * onProgress down to the protector and the encrypter), which works for
 * addresses by name as well.
 */

export interface HandshakeFailure {
  /** The remote host: the address without its port (an inbound connection's port is ephemeral). */
  addr: string
  detail: string
}

const STARTED = 'weft:handshake-started'
const NEGOTIATED = 'weft:handshake-negotiated'

interface Progress { type: string, detail?: unknown }
type WithProgress = { onProgress?: (evt: Progress) => void } | undefined

export class HandshakeWatch {
  /** Inbound connections between protector and encrypter. */
  private readonly pending = new Set<MessageStream>()
  /** The raw connection under each protected one. */
  private readonly raw = new WeakMap<MessageStream, MessageStream>()
  private readonly onInboundFailure: (f: HandshakeFailure) => void

  constructor (onInboundFailure: (f: HandshakeFailure) => void) {
    this.onInboundFailure = onInboundFailure
  }

  /** libp2p's `connectionProtector`: `inner` (pnet) when there is a key, else a pass-through. */
  protector (inner?: ConnectionProtector): ConnectionProtector {
    return {
      protect: async (conn: MessageStream, options?: AbortOptions): Promise<MessageStream> => {
        if (conn.direction === 'outbound') (options as WithProgress)?.onProgress?.({ type: STARTED })
        else this.watchInbound(conn as MultiaddrConnection)
        const out = inner === undefined ? conn : await inner.protect(conn, options)
        this.raw.set(out, conn)
        return out
      }
    }
  }

  /** Wraps a connection encrypter (Noise) in place, keeping everything else it declares. */
  encrypter<E extends ConnectionEncrypter> (enc: E): E {
    const secureInbound = enc.secureInbound.bind(enc)
    const secureOutbound = enc.secureOutbound.bind(enc)
    enc.secureInbound = async (conn, options) => { this.negotiated(conn, options); return await secureInbound(conn, options) }
    enc.secureOutbound = async (conn, options) => { this.negotiated(conn, options); return await secureOutbound(conn, options) }
    return enc
  }

  /** What one dial passes as onProgress, and whether its connection then failed in the handshake. */
  static dial (): { onProgress: (evt: Progress) => void, failedHandshake: () => boolean } {
    let stage: 'none' | 'started' | 'negotiated' = 'none'
    return {
      onProgress: evt => {
        if (evt.type === STARTED && stage === 'none') stage = 'started'
        if (evt.type === NEGOTIATED) stage = 'negotiated'
      },
      failedHandshake: () => stage === 'started'
    }
  }

  private negotiated (conn: MessageStream, options: unknown): void {
    this.pending.delete(this.raw.get(conn) ?? conn)
    ;(options as WithProgress)?.onProgress?.({ type: NEGOTIATED })
  }

  private watchInbound (maConn: MultiaddrConnection): void {
    if (maConn.remoteAddr === undefined) return
    this.pending.add(maConn)
    maConn.addEventListener('close', evt => {
      if (!this.pending.delete(maConn)) return
      this.onInboundFailure({ addr: hostOf(maConn), detail: evt.error?.message ?? 'closed during the handshake' })
    }, { once: true })
  }
}

/** `/ip4/10.0.0.2/tcp/51234` → `/ip4/10.0.0.2`. */
function hostOf (maConn: MultiaddrConnection): string {
  const addr = withoutPeer(maConn.remoteAddr.toString())
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
