import { statSync } from 'node:fs'
import { join } from 'node:path'
import { open, type Database, type Key, type RootDatabase } from 'lmdb'
import { makeDirs } from '../data-dir.js'
import { StoreError, toStoreError } from './errors.js'
import { checkDataFile } from './header.js'
import { checkPages } from './page-check.js'

/** The data file inside the data dir; an extension makes lmdb-js use one file plus `store.mdb-lock`. */
export const STORE_FILE = 'store.mdb'

export type Db<K extends Key = Key> = Database<Buffer, K>

/** The named sub-databases; every value is bytes (JSON text where structured). */
export interface Dbs {
  /** 'meta', 'docHeads', 'docNext', 'eventCount', 'snapshot' → JSON. */
  state: Db<string>
  /** chunk sequence number → Automerge chunk. */
  doc: Db<number>
  /** event id → encoded StoredEvent (codec.ts). */
  events: Db<string>
  /** [lamport, id] → the event record: events in topological order, read in one scan. */
  topo: Db<[number, string]>
  /** addr → KnownPeer JSON. */
  peers: Db<string>
  /** peer → Automerge sync state. */
  sync: Db<string>
  /** [subnet, id] → Allocation JSON. */
  allocs: Db<[string, string]>
  /** address → [subnet, id] JSON. */
  allocAddr: Db<string>
}

const DB_NAMES = ['state', 'doc', 'events', 'topo', 'peers', 'sync', 'allocs', 'allocAddr'] as const

export interface OpenEnv {
  root: RootDatabase<Buffer, Key>
  dbs: Dbs
  release: () => void
}

/**
 * lmdb-js shares one native MDB_env per file (by device and inode) among every
 * open() in the process, whatever options the later opens pass. So:
 * - read-only beside read-write works (a second JS handle on the read-write env);
 * - read-write after read-only does not (the env is MDB_RDONLY; lmdb-js fails
 *   with "No transaction to renew"), nor do two read-write handles (two write
 *   queues on one env). Both are refused here as 'locked'.
 */
const openHere = new Map<string, { rw: number, ro: number }>()

/*
 * overlappingSync (lmdb-js's default on Linux) is off. A process that opens
 * the file read-only while the writer commits can make the writer lose that
 * commit (node/offline/readable.ts: so offline commands read a copy beside a
 * running daemon); with overlappingSync the window is far wider: a process
 * re-opening the file beside 400 committed read-modify-writes lost updates in
 * 14 of 15 runs with it, 3 of 15 without, and once a commit spun forever in
 * mdb_txn_commit waiting for the lock file's txn id to match the meta page.
 * The price: a commit syncs inside the write lock instead of after it, which
 * bench/store and bench/alloc did not show as slower.
 */

export function openEnv (dataDir: string, readOnly: boolean, walkPages = false): OpenEnv {
  const file = join(dataDir, STORE_FILE)
  const checked = walkPages ? checkPages(file) : checkDataFile(file)
  const state = typeof checked === 'string' ? checked : 'valid'
  if (readOnly && state === 'missing') throw new StoreError('io', `no store at ${file}`)
  if (readOnly && state === 'empty') throw new StoreError('corrupt', `${file} is not a valid LMDB store (empty file)`)
  if (!readOnly) {
    try {
      makeDirs(dataDir, 0o700)
    } catch (err) {
      throw new StoreError('io', (err as Error).message, { cause: err })
    }
  }
  const before = state === 'missing' ? undefined : fileKey(file)
  const held = before === undefined ? undefined : openHere.get(before)
  if (!readOnly && held !== undefined) {
    throw new StoreError('locked', `${file} is already open ${held.rw > 0 ? 'read-write' : 'read-only'} in this process; close it first`)
  }

  let root: RootDatabase<Buffer, Key>
  try {
    root = open<Buffer, Key>({ path: file, compression: false, encoding: 'binary', readOnly, maxDbs: 16, overlappingSync: false })
  } catch (err) {
    throw toStoreError(err, `cannot open ${file}`)
  }
  let dbs: Dbs
  try {
    dbs = openDbs(root, readOnly)
  } catch (err) {
    void root.close()
    throw toStoreError(err, `cannot open the databases in ${file}`)
  }
  const key = before ?? fileKey(file)
  const entry = openHere.get(key) ?? { rw: 0, ro: 0 }
  if (readOnly) entry.ro++
  else entry.rw++
  openHere.set(key, entry)
  let released = false
  return {
    root,
    dbs,
    release: () => {
      if (released) return
      released = true
      if (readOnly) entry.ro--
      else entry.rw--
      if (entry.rw + entry.ro === 0 && openHere.get(key) === entry) openHere.delete(key)
    }
  }
}

function openDbs (root: RootDatabase<Buffer, Key>, readOnly: boolean): Dbs {
  const out: Partial<Record<keyof Dbs, Db<any>>> = {}
  for (const name of DB_NAMES) {
    const opts = name === 'doc'
      ? { name, encoding: 'binary' as const, keyEncoding: 'uint32' as const }
      : { name, encoding: 'binary' as const }
    // A read-only open of a sub-database nobody created yet returns undefined:
    // that store simply holds nothing of that kind.
    out[name] = root.openDB<Buffer, Key>(opts) ?? (readOnly ? EMPTY_DB : undefined)
    if (out[name] === undefined) throw new Error(`sub-database ${name} could not be created`)
  }
  return out as Dbs
}

function fileKey (file: string): string {
  const st = statSync(file)
  return `${st.dev}:${st.ino}`
}

/** Stands in, read-only, for a sub-database the file does not have yet. */
const EMPTY_DB = {
  get: () => undefined,
  doesExist: () => false,
  getRange: () => [],
  getKeys: () => [],
  getStats: () => ({ entryCount: 0 })
} as unknown as Db<any>
