import '../../packages/polyfill/index.js'
import { parentPort, workerData } from 'node:worker_threads'
import { createLogger, parseLogLevel, type LogLevel } from '../logger.js'
import { serveRequest, type RpcRequest } from '../worker-rpc.js'
import type { LogWorkerApi, WorkerInit } from './rpc.js'
import type { LogService } from './service.js'
import { Store } from '../store/index.js'
import type { LogNotice } from './types.js'

/**
 * The log worker: the Automerge document lives here, away from the event
 * loop that serves the network and the control socket (a 100k-event load
 * blocks for seconds in wasm). It is also the one serialised writer.
 */
const init = workerData as WorkerInit
const port = parentPort!
const level = parseLogLevel(init.logLevel)
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

const notify = (notice: LogNotice): void => { port.postMessage({ notice }) }
const logger = createLogger({
  write (lvl, component, message) {
    if (ORDER[lvl] < ORDER[level] || lvl === 'debug') return
    notify({ type: 'log', level: lvl, component, message })
  }
})

// The daemon reads the persisted ring snapshot read-only while this worker
// starts (status answers from it at once), then says "go"; only then may we
// open the store read-write (lmdb-js refuses read-write beside an open
// read-only handle in one process). Automerge loads after that.
let go!: () => void
const gone = new Promise<void>(resolve => { go = resolve })
const service: Promise<LogService> = gone
  .then(async () => {
    const store = Store.open(init.dataDir)
    const { LogService } = await import('./service.js')
    return new LogService({ dataDir: init.dataDir, seed: init.seed, now: Date.now, logger, notify, store, ...(init.epochEvents !== undefined ? { epochEvents: init.epochEvents } : {}) })
  })

// The handler is the service, typed as the RPC's interface (rpc.ts).
const handler: Promise<LogWorkerApi> = service

port.on('message', (req: RpcRequest | { go: true }) => {
  if ('go' in req) { go(); return }
  serveRequest(port, handler, req)
})
