export { Store } from './store.js'
export { StoreError, type StoreErrorCode } from './errors.js'
export { STORE_FILE } from './env.js'
export {
  STORE_FORMAT, type StoreMeta, type StoredEvent, type Adoption, type SnapshotRecord, type KnownPeer,
  type Allocation, type OpenOptions, type EventRangeOptions, type EventBytes, type EpochRecord
} from './types.js'
export type { LogStore } from './memory.js'
export { MemoryDisk, MemoryStore, MemoryAllocationStore, type CommitFn } from './memory.js'
