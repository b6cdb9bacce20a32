import type { Remote } from '../worker-rpc.js'
import type { LogWorkerApi } from './rpc.js'

/**
 * What the network needs from the log, cut from the worker's API (rpc.ts):
 * the worker client implements it in the daemon; simulation tests wrap an
 * in-process LogService. `receiveEvidence` checks the event bytes a peer's
 * BYE offered as evidence of an equivocation (an outcome when they prove one).
 */
export type LogApi = Pick<Remote<LogWorkerApi>, 'hello' | 'helloVerdict' | 'generate' | 'receive' | 'endSession' | 'receiveEvidence'>
