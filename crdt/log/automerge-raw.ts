import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

/**
 * Automerge's low-level (wasm) API, without the materialised JS document.
 *
 * The log writes through the wasm handle (0.03 ms per append instead of
 * 0.2–0.3 ms through `change`) and never reads the JS view, which at 100k
 * events costs 0.3–0.4 s to build on load and patches on every sync
 * (reference/automerge-log-spike.md). The public package hides the wasm
 * sync-state class behind JS conversions, so we load the wasm-bindgen module
 * that the package itself loads, by path. The version is pinned exactly in
 * package.json; test/crdt/log.test.ts checks this module still has the calls
 * we rely on.
 */

export type Heads = string[]

export interface DecodedOp {
  action: string
  obj: string
  key: string
  value?: unknown
  datatype?: string
  pred: string[]
  insert?: boolean
}

export interface DecodedChange {
  actor: string
  seq: number
  startOp: number
  time: number
  message: string | null
  deps: Heads
  hash: string
  ops: DecodedOp[]
}

export interface ChangeMeta {
  actor: string
  seq: number
  startOp: number
  maxOp: number
  time: number
  message: string | null
  deps: Heads
  hash: string
}

export interface DecodedSyncMessage {
  heads: Heads
  need: Heads
  have: Array<{ lastSync: Heads, bloom: Uint8Array }>
  changes: Uint8Array[]
}

/** A wasm sync state; free() it when dropped. */
export interface SyncState {
  free: () => void
  clone: () => SyncState
}

/** A wasm document handle; free() it when dropped. */
export interface AutomergeDoc {
  free: () => void
  clone: (actor?: string | null) => AutomergeDoc
  /** A copy holding only the changes in the past of `heads`. */
  fork: (actor?: string | null, heads?: Heads) => AutomergeDoc
  put: (obj: string, prop: string, value: Uint8Array) => void
  get: (obj: string, prop: string, heads?: Heads) => unknown
  keys: (obj: string, heads?: Heads) => string[]
  commit: (message?: string | null, time?: number | null) => string | null
  getHeads: () => Heads
  getActorId: () => string
  getChanges: (haveDeps: Heads) => Uint8Array[]
  getChangeByHash: (hash: string) => Uint8Array | null
  getChangeMetaByHash: (hash: string) => ChangeMeta | null
  getChangesMeta: (haveDeps: Heads) => ChangeMeta[]
  getDecodedChangeByHash: (hash: string) => DecodedChange | null
  getMissingDeps: (heads?: Heads) => Heads
  applyChanges: (changes: Uint8Array[]) => void
  loadIncremental: (data: Uint8Array) => number
  save: () => Uint8Array
  saveSince: (heads: Heads) => Uint8Array
  generateSyncMessage: (state: SyncState) => Uint8Array | null
  receiveSyncMessage: (state: SyncState, message: Uint8Array) => void
  hasOurChanges: (state: SyncState) => boolean
  stats: () => { numChanges: number, numOps: number, numActors: number }
}

export interface AutomergeApi {
  create: (options?: { actor?: string }) => AutomergeDoc
  load: (data: Uint8Array, options?: { actor?: string }) => AutomergeDoc
  decodeChange: (change: Uint8Array) => DecodedChange
  decodeSyncMessage: (message: Uint8Array) => DecodedSyncMessage
  encodeSyncMessage: (message: DecodedSyncMessage) => Uint8Array
  initSyncState: () => SyncState
  encodeSyncState: (state: SyncState) => Uint8Array
  decodeSyncState: (data: Uint8Array) => SyncState
  wasmReleaseInfo: () => { cargoPackageVersion: string }
}

const require = createRequire(import.meta.url)
const dist = dirname(require.resolve('@automerge/automerge/automerge.wasm'))

export const automerge: AutomergeApi = require(join(dist, 'mjs/wasm_bindgen_output/nodejs/automerge_wasm.cjs')) as AutomergeApi
