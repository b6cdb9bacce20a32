import type { EventId, PeerName } from '../../crdt/events/index.js'
import type { Hello, HelloVerdict, ReceiveOutcome } from './types.js'

/**
 * What the network needs from the log: the worker client implements it in
 * the daemon; simulation tests wrap an in-process LogService.
 */
export interface LogApi {
  hello: (nickname: string) => Promise<Hello>
  helloVerdict: (remote: Hello, wantedRange?: string) => Promise<HelloVerdict>
  generate: (peer: PeerName) => Promise<Uint8Array | null>
  /** `expectCluster`: the cluster the peer's hello named; `wantedRange`: --range, checked against a genesis we would adopt. */
  receive: (peer: PeerName, message: Uint8Array, expectCluster?: EventId, wantedRange?: string) => Promise<ReceiveOutcome>
  endSession: (peer: PeerName) => Promise<void>
  /** Checks the event bytes a peer's BYE offered as evidence of an equivocation; an outcome when they prove one. */
  receiveEvidence: (peer: PeerName, evidence: Uint8Array[]) => Promise<ReceiveOutcome | undefined>
}
