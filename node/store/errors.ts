export type StoreErrorCode =
  | 'locked'   // the store is already open in this process in a way that excludes this open
  | 'corrupt'  // the file is not a valid LMDB environment, or a record does not decode
  | 'version'  // written by another store format (or another LMDB data version)
  | 'closed'   // used after close()
  | 'io'       // anything the file system or LMDB refused (missing store, permissions, disk full)

export class StoreError extends Error {
  override name = 'StoreError'
  readonly code: StoreErrorCode

  constructor (code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

/** Any error from lmdb-js or the file system, as a StoreError (a StoreError passes through). */
export function toStoreError (err: unknown, what: string): StoreError {
  if (err instanceof StoreError) return err
  const message = err instanceof Error ? err.message : String(err)
  const code = /MDB_INVALID|MDB_CORRUPTED|MDB_PAGE_NOTFOUND|MDB_BAD_/.test(message)
    ? 'corrupt'
    : /MDB_VERSION_MISMATCH/.test(message) ? 'version' : 'io'
  return new StoreError(code, `${what}: ${firstLine(message)}`, { cause: err })
}

function firstLine (s: string): string {
  const i = s.indexOf('\n')
  return i < 0 ? s : s.slice(0, i)
}
