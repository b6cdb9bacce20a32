/**
 * What `weft launch` checks in the data dir before it creates or opens
 * anything (DESIGN.md §3.3): damaged, truncated or missing files are refused
 * with the file and the recovery named, never silently re-initialised. A
 * fresh LMDB file, a fresh key, a fresh allocation list would each make this
 * host another peer, or hand out addresses it already handed out.
 *
 * Evidence that a peer ran here: the stores and their lock files, which
 * outlive a deleted store (data-dir.ts STORE_TRACES). A data dir holding only
 * identity.key is the normal state after `weft id`, before the first launch.
 */
import { basename } from 'node:path'
import { WeftError } from '../crdt/errors.js'
import { dataDirPaths, storeTraces } from './data-dir.js'
import { loadIdentity, missingIdentityError } from './identity.js'
import { StoreError } from './store/errors.js'
import { checkDataFile } from './store/header.js'
import { checkPages } from './store/page-check.js'

export type DamagedDataDirCode = 'store-missing' | 'store-damaged' | 'allocations-missing' | 'allocations-damaged'

/** A data dir file that launching would silently replace: refused, with the recovery. */
export class DamagedDataDirError extends WeftError<DamagedDataDirCode> {
  override name = 'DamagedDataDirError'
  constructor (code: DamagedDataDirCode, readonly file: string, message: string, options?: ErrorOptions) {
    super(code, message, options)
  }
}

export interface LaunchCheckOptions {
  /**
   * Walk every page of both stores (store/page-check.ts), not only their
   * meta pages. Only where nothing writes them: the daemon does it holding
   * the pid lock; the launcher, before any daemon runs, checks the rest.
   */
  pages: boolean
}

/** Throws DamagedDataDirError, IdentityError('missing') or StoreError('version' | 'io'); creates nothing. */
export function checkLaunchable (dataDir: string, opts: LaunchCheckOptions): void {
  const traces = storeTraces(dataDir)
  const identity = loadIdentity(dataDir)
  if (identity === undefined) {
    if (traces.length > 0) throw missingIdentityError(dataDir, traces)
    return // a new peer
  }
  const name = identity.peerName
  const newPeer = `to start this host as a new peer, move ${dataDir} aside and launch again, then run \`weft rmpeer ${name}\` on another peer to reclaim the old peer's space`

  const paths = dataDirPaths(dataDir)
  const storeFile = paths.store
  const store = inspect(storeFile, opts.pages, why => new DamagedDataDirError('store-damaged', storeFile,
    `${storeFile} is damaged (${why}): weft will not open it, nor start a new log over it. This peer's events are replicated on the other peers; ${newPeer}`))
  if (store === 'missing' && traces.length > 0) {
    throw new DamagedDataDirError('store-missing', storeFile, `${storeFile} is missing, but ${dataDir} held a store (${traces.join(', ')} remain${traces.length === 1 ? 's' : ''}): ` +
      `launching would start peer ${name}'s log afresh, as if it were new. Put it back; or, ${newPeer}`)
  }

  const allocFile = paths.allocations
  const allocName = basename(allocFile)
  const reRecord = `move ${allocName} and ${allocName}-lock aside, launch, and record every address still in use with \`weft claim ID ADDRESS\` before allocating`
  const allocs = inspect(allocFile, opts.pages, why => new DamagedDataDirError('allocations-damaged', allocFile,
    `${allocFile} is damaged (${why}): it is this peer's only record of the addresses it handed out, and launching without it would hand them out again. To recover, ${reRecord}`))
  if (allocs === 'missing' && traces.includes(`${allocName}-lock`)) {
    throw new DamagedDataDirError('allocations-missing', allocFile, `${allocFile} is missing, but ${allocName}-lock shows this peer had one: it was this peer's only record of the addresses it handed out, ` +
      `and launching without it would hand them out again. Put it back; or, to recover, ${reRecord}`)
  }
}

/** 'missing' or 'valid'; an empty or damaged file is `damaged(why)`. */
function inspect (file: string, pages: boolean, damaged: (why: string) => DamagedDataDirError): 'missing' | 'valid' {
  let state
  try {
    state = pages ? checkPages(file) : checkDataFile(file)
  } catch (err) {
    if (err instanceof StoreError && err.code === 'corrupt') throw damaged(reason(err.message, file))
    throw err
  }
  if (state === 'missing') return 'missing'
  if (state === 'empty') throw damaged('it is empty: 0 bytes')
  return 'valid'
}

/** The store error's reason, without the file name it starts with. */
function reason (message: string, file: string): string {
  const m = /\((.*)\)$/.exec(message)
  return m?.[1] ?? message.replace(file, '').trim()
}
