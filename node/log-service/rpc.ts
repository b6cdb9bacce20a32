/** Messages between the daemon and the log worker. */
export interface WorkerInit {
  dataDir: string
  seed: Uint8Array
  logLevel: string
}

export interface RpcRequest { id: number, method: string, args: unknown[] }
export type RpcResponse =
  | { id: number, ok: true, result: unknown }
  | { id: number, ok: false, error: { name: string, message: string, code?: string } }

/** Methods of LogService callable from the daemon. */
export const LOG_METHODS = [
  'open', 'found', 'ensureJoin', 'append', 'appendFuture', 'hello', 'helloVerdict', 'generate', 'receive', 'receiveEvidence', 'endSession', 'close', 'knownPeers', 'rememberPeers', 'forgetPeers', 'putSeen', 'getAcceptor', 'putAcceptor', 'appendJoins', 'awaitConfirmation', 'takeover', 'leave', 'conflictRivals', 'describeEvents'
] as const
export type LogMethod = typeof LOG_METHODS[number]
