import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ControlClient, NoPeerRunningError } from '../api/client.js'
import { runningPid } from '../data-dir.js'

/**
 * Where an offline command may open a data dir's LMDB files read-only.
 *
 * Not in the files of a running daemon: lmdb-js's read-only open in another
 * process writes the lock file's last-transaction id from the meta page it
 * read, and a commit that lands meanwhile is lost: the writer's next
 * transaction builds on the older meta (a stress test of 400 committed
 * read-modify-writes beside a process that kept opening the file lost
 * updates in 14 of 15 runs; scripts/lmdb-open-race.js). So beside a
 * running daemon the daemon copies its stores (an LMDB backup through its own
 * environment) into a private temporary directory, and the command reads the
 * copy. A stopped peer's files are read in place.
 */

export class ReadableDataDirError extends Error {
  override name = 'ReadableDataDirError'
}

/** A big store takes a while to copy; the copy is what the command needs, so wait for it. */
const COPY_TIMEOUT_MS = 120_000

export interface ReadableDeps {
  runningPid: (dataDir: string) => number | undefined
  copyStores: (dataDir: string, into: string) => Promise<unknown>
}

const defaultDeps: ReadableDeps = {
  runningPid,
  copyStores: async (dataDir, into) => await ControlClient.forDataDir(dataDir).copyStores(into, { timeoutMs: COPY_TIMEOUT_MS })
}

/**
 * Runs `fn` on a directory holding the data dir's stores that is safe to open
 * read-only: the data dir itself when no daemon runs there, else a copy made
 * by the daemon (removed afterwards). Messages that name the copy name the
 * data dir instead.
 */
export async function withReadableDataDir<T> (dataDir: string, fn: (dir: string) => Promise<T> | T, deps: ReadableDeps = defaultDeps): Promise<T> {
  if (deps.runningPid(dataDir) === undefined) return await fn(dataDir)
  const copy = await mkdtemp(join(tmpdir(), 'weft-read-'))
  try {
    try {
      await deps.copyStores(dataDir, copy)
    } catch (err) {
      // It stopped between the pid check and the request: its files are at rest now.
      if (err instanceof NoPeerRunningError && deps.runningPid(dataDir) === undefined) return await fn(dataDir)
      throw new ReadableDataDirError(`the peer in ${dataDir} is running, and reading its store beside it needs a copy from it, which failed: ${(err as Error).message}`, { cause: err })
    }
    try {
      return await fn(copy)
    } catch (err) {
      if (err instanceof Error) err.message = err.message.replaceAll(copy, dataDir)
      throw err
    }
  } finally {
    await rm(copy, { recursive: true, force: true })
  }
}
