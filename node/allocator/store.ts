import { statSync } from 'node:fs'
import { join } from 'node:path'
import { open, type Database, type Key, type RootDatabase } from 'lmdb'
import { checkDataFile } from '../store/header.js'
import { checkPages } from '../store/page-check.js'
import { makeDirs } from '../data-dir.js'
import { StoreError, toStoreError } from '../store/errors.js'
import { decodeJson, encodeJson } from '../store/codec.js'
import { count } from '../shape.js'
import type { Allocation, AllocationStore } from './types.js'

/**
 * Local allocations on disk (DESIGN.md §4): `DATA_DIR/allocations.mdb`, an
 * LMDB file of its own. The log worker owns `store.mdb`, and lmdb-js shares
 * one native environment per file within a process, so the main thread
 * (which allocates) keeps its own file rather than a second writer on the
 * worker's.
 *
 * Records: `[subnet, id]` → Allocation as JSON text (readable by any process
 * without lmdb-js's msgpack structures). Every write is one child transaction;
 * lmdb-js commits the child transactions issued in one event-loop turn as one
 * LMDB transaction (group commit), and each write resolves once that commit is
 * done, which survives kill -9 of this process.
 */

export const ALLOCATIONS_FILE = 'allocations.mdb'
/** The record layout; a file written by another layout is refused, never misread. */
export const ALLOCATIONS_FORMAT = 1

const FORMAT_KEY = 'format'

/** Files open read-write in this process (by device and inode): lmdb-js would share their env. */
const openHere = new Set<string>()

export function openAllocationStore (dataDir: string): AllocationStore {
  const file = join(dataDir, ALLOCATIONS_FILE)
  // Before lmdb-js sees the file: on a damaged one it crashes the process (node/store/header.ts).
  const state = checkDataFile(file)
  try {
    makeDirs(dataDir, 0o700)
  } catch (err) {
    throw new StoreError('io', (err as Error).message, { cause: err })
  }
  if (state !== 'missing' && openHere.has(fileKey(file))) {
    throw new StoreError('locked', `${file} is already open in this process; close it first`)
  }

  let root: RootDatabase<Buffer, Key>
  try {
    root = open<Buffer, Key>({ path: file, compression: false, encoding: 'binary', maxDbs: 4, overlappingSync: false }) // why: node/store/env.ts
  } catch (err) {
    throw toStoreError(err, `cannot open ${file}`)
  }
  let allocs: Database<Buffer, [string, string]>
  let meta: Database<Buffer, string>
  try {
    allocs = root.openDB<Buffer, [string, string]>({ name: 'allocs', encoding: 'binary' })
    meta = root.openDB<Buffer, string>({ name: 'meta', encoding: 'binary' })
    const format = decodeJson(meta.get(FORMAT_KEY), `${file} format`, count)
    if (format !== undefined && format !== ALLOCATIONS_FORMAT) {
      throw new StoreError('version', `${file} has allocation format ${String(format)}; this weft reads format ${ALLOCATIONS_FORMAT}`)
    }
  } catch (err) {
    void root.close()
    throw toStoreError(err, `cannot open the allocations in ${file}`)
  }
  const key = fileKey(file)
  openHere.add(key)

  let closed = false
  let formatWritten = meta.get(FORMAT_KEY) !== undefined
  const live = (): void => {
    if (closed) throw new StoreError('closed', `${file}: the allocation store is closed`)
  }

  return {
    all (): Allocation[] {
      live()
      const out: Allocation[] = []
      try {
        for (const { key: k, value } of allocs.getRange()) out.push(decodeAllocation(file, k, value))
      } catch (err) {
        throw toStoreError(err, `${file}: reading allocations failed`)
      }
      return out
    },

    async write (puts: Allocation[], deletes: Array<{ subnet: string, id: string }>): Promise<void> {
      live()
      // Encoded now: a bad value throws before anything is written, and the
      // caller may change its objects before the batch runs.
      const records = puts.map(a => ({ key: [a.subnet, a.id] as [string, string], value: encodeAllocation(a) }))
      const removals = deletes.map(d => [d.subnet, d.id] as [string, string])
      const stampFormat = !formatWritten
      formatWritten = true
      try {
        await root.childTransaction(() => {
          // Deletes first, so a release and a re-allocation of one key in one call leave the allocation.
          for (const k of removals) allocs.removeSync(k)
          for (const r of records) allocs.putSync(r.key, r.value)
          if (stampFormat) meta.putSync(FORMAT_KEY, encodeJson(ALLOCATIONS_FORMAT))
        })
      } catch (err) {
        if (stampFormat) formatWritten = false
        throw toStoreError(err, `${file}: writing allocations failed`)
      }
    },

    async backup (path: string): Promise<void> {
      live()
      try {
        await root.backup(path, false)
      } catch (err) {
        throw toStoreError(err, `${file}: copying to ${path} failed`)
      }
    },

    async close (): Promise<void> {
      if (closed) return
      closed = true
      try {
        await root.close()
      } finally {
        openHere.delete(key)
      }
    }
  }
}

function encodeAllocation (a: Allocation): Buffer {
  if (typeof a.id !== 'string' || typeof a.subnet !== 'string' || typeof a.address !== 'string' || typeof a.createdAt !== 'number') {
    throw new TypeError(`not an allocation: ${JSON.stringify(a)}`)
  }
  // Only the Allocation's own fields: a caller's extra properties never reach the disk.
  return encodeJson({ id: a.id, subnet: a.subnet, address: a.address, createdAt: a.createdAt }, `allocation ${a.id}`)
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

function decodeAllocation (file: string, key: Key, value: Buffer): Allocation {
  const k = key as unknown
  const what = Array.isArray(k) ? `allocation ${String(k[1])} in ${String(k[0])}` : 'allocation'
  let a: Allocation | null
  try {
    a = JSON.parse(utf8.decode(value)) as Allocation | null
  } catch (err) {
    throw new StoreError('corrupt', `${file}: the ${what} record does not decode: ${(err as Error).message}`, { cause: err })
  }
  const ok = typeof a === 'object' && a !== null &&
    typeof a.id === 'string' && typeof a.subnet === 'string' && typeof a.address === 'string' && typeof a.createdAt === 'number' &&
    Array.isArray(k) && k[0] === a.subnet && k[1] === a.id
  if (!ok) throw new StoreError('corrupt', `${file}: the ${what} record is malformed`)
  return a as Allocation
}

function fileKey (file: string): string {
  const st = statSync(file)
  return `${st.dev}:${st.ino}`
}

/**
 * Reads every allocation of a data dir read-only (offline commands, on a
 * stopped peer's files or a copy the daemon made): never creates or writes
 * the file, and walks its pages first (a damaged file would SIGBUS).
 * Missing file: none.
 */
export async function readAllocations (dataDir: string): Promise<Allocation[]> {
  const file = join(dataDir, ALLOCATIONS_FILE)
  const state = checkPages(file)
  if (state === 'missing') return []
  if (state === 'empty') throw new StoreError('corrupt', `${file} is not a valid LMDB store (empty file)`)
  let root: RootDatabase<Buffer, Key> | undefined
  try {
    root = open<Buffer, Key>({ path: file, compression: false, encoding: 'binary', maxDbs: 4, readOnly: true })
    const allocs = root.openDB<Buffer, [string, string]>({ name: 'allocs', encoding: 'binary' })
    const out: Allocation[] = []
    for (const { key: k, value } of allocs.getRange()) out.push(decodeAllocation(file, k, value))
    return out
  } catch (err) {
    throw toStoreError(err, `cannot read the allocations in ${file}`)
  } finally {
    await root?.close()
  }
}
