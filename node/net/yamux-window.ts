import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream'

/**
 * @chainsafe/libp2p-yamux answers every data frame it receives with a
 * window update: one socket write per frame. A peer flooding tiny frames
 * (issue 15: no-op sync frames, ~45 bytes each) had the daemon's main thread
 * spend a core on those writes for seconds, before the flood even reached
 * the session that hangs up on it. Like Go's yamux, grant window only once
 * half of it is used; stream set-up (SYN/ACK flags) and pauses go through
 * unchanged. test/node/stream-backpressure.test.ts checks large transfers
 * still flow; the version is pinned in package.json, and this checks the
 * fields it relies on are still there.
 */

interface WindowFields { state: StreamState, recvWindow: number, recvWindowCapacity: number }

let installed = false

export function coalesceYamuxWindowUpdates (): void {
  if (installed) return
  installed = true
  const proto = YamuxStream.prototype as unknown as { sendWindowUpdate: (this: WindowFields) => void }
  const send = proto.sendWindowUpdate
  if (typeof send !== 'function') throw new Error('@chainsafe/libp2p-yamux changed: YamuxStream has no sendWindowUpdate')
  proto.sendWindowUpdate = function (this: WindowFields): void {
    if (typeof this.recvWindow !== 'number' || typeof this.recvWindowCapacity !== 'number') {
      throw new Error('@chainsafe/libp2p-yamux changed: a stream has no receive window fields')
    }
    if (this.state === StreamState.Established && this.recvWindowCapacity > this.recvWindow / 2) return
    send.call(this)
  }
}
