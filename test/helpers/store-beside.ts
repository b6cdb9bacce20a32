import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ControlClient } from '../../node/api/client.js'
import { runningPid } from '../../node/data-dir.js'
import { Store } from '../../node/store/index.js'

/**
 * A read-only Store on a data dir, safe beside its running daemon: a process
 * that opens the daemon's LMDB file while it commits can make it lose a
 * commit (node/offline/readable.ts), so a running daemon is asked for a copy
 * and the copy is opened. Closing the store removes the copy.
 */
export async function openStoreBeside (dataDir: string): Promise<Store> {
  if (runningPid(dataDir) === undefined) return Store.open(dataDir, { readOnly: true })
  const copy = await mkdtemp(join(tmpdir(), 'weft-test-read-'))
  await ControlClient.forDataDir(dataDir).copyStores(copy, { timeoutMs: 60_000 })
  const store = Store.open(copy, { readOnly: true })
  const close = store.close.bind(store)
  store.close = async () => {
    try {
      await close()
    } finally {
      await rm(copy, { recursive: true, force: true })
    }
  }
  return store
}
