import type { RingViewJson } from '../ring-view.js'
import type { Remote } from '../worker-rpc.js'
import type { LogWorkerApi } from './rpc.js'
import type { ClonedIdentity, LogNotice, LogState } from './types.js'
import type { EpochStatus } from './epochs.js'

/**
 * What the network needs from the log, cut from the worker's API (rpc.ts):
 * the worker client implements it in the daemon; simulation tests wrap an
 * in-process LogService. `receiveEvidence` checks the event bytes a peer's
 * BYE offered as evidence of an equivocation (an outcome when they prove one).
 */
export type LogApi = Pick<Remote<LogWorkerApi>, 'hello' | 'helloVerdict' | 'generate' | 'receive' | 'endSession' | 'receiveEvidence' | 'epochOffer' | 'acceptEpoch'>

/**
 * The log as a peer's components see it (node/peer.ts): every LogWorkerApi
 * call as a promise, the latest view and state kept at hand, and notices.
 * LogClient (a worker) is the daemon's; LocalLog (in-process) the simulator's.
 */
export interface PeerLog extends Omit<Remote<LogWorkerApi>, 'close'> {
  readonly latestView: RingViewJson | undefined
  readonly state: LogState
  readonly cloned: ClonedIdentity | undefined
  /** Epochs as the log last said (DESIGN.md §2.6); undefined until it has. */
  readonly epoch: EpochStatus | undefined
  onNotice: (fn: (n: LogNotice) => void) => void
  close: () => Promise<void>
}
