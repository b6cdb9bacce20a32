import { automerge, type SyncState } from './automerge-raw.js'

/**
 * One peer's Automerge sync state. Kept per peer and persisted between
 * sessions (only the shared heads survive encoding), so a reconnect costs
 * ~730 B instead of a Bloom filter of the whole history (DESIGN.md §2.5).
 */
export class SyncSession {
  private state: SyncState

  constructor (encoded?: Uint8Array) {
    this.state = encoded === undefined ? automerge.initSyncState() : automerge.decodeSyncState(encoded)
  }

  /** The wasm state, for EventLog only. */
  get raw (): SyncState { return this.state }

  /** Replaces the state with one that saw an adopted message. */
  replace (next: SyncState): void {
    this.state.free()
    this.state = next
  }

  encode (): Uint8Array { return automerge.encodeSyncState(this.state) }

  /**
   * Forgets in-flight bookkeeping after a disconnect, keeping the shared
   * heads (round-trip through the encoded form: automerge-repo#206).
   */
  reset (): void { this.replace(automerge.decodeSyncState(this.encode())) }

  free (): void { this.state.free() }
}
