import type { Command } from 'commander'
import { formatSeconds } from '../../node/api/client.js'
import { dataDirPaths, isProcessAlive, readPidFile } from '../../node/data-dir.js'
import { addDataDirOption, addJsonOption, clientFor, dataDirOf, printJson, sleep, type DataDirOptions, type JsonOptions } from '../common.js'
import { CliError } from '../errors.js'
import type { CliIo } from '../main.js'

export const STOP_TIMEOUT_MS = 30_000

export function registerStop (program: Command, io: CliIo): void {
  const cmd = program.command('stop')
    .summary('stop this peer gracefully, keeping its data')
    .description('Stops the running peer gracefully and waits (up to 30s) until it has exited. Keeps all data.')
  addDataDirOption(cmd)
  addJsonOption(cmd)
  cmd.action(async (opts: DataDirOptions & JsonOptions) => {
    const pid = await stopAndWait(opts)
    if (opts.json === true) printJson(io, { stopped: true, dataDir: dataDirOf(opts), pid: pid ?? null })
  })
}

/** Asks the peer to stop and waits until its process is gone; the pid it had, when its pid file named one. */
export async function stopAndWait (opts: DataDirOptions): Promise<number | undefined> {
  const pidFile = dataDirPaths(dataDirOf(opts)).pid
  const pid = readPidFile(pidFile)
  await clientFor(opts).stop()
  if (pid === undefined) return undefined
  // Stopped once the process is gone (it removes its pid file just before exiting).
  const deadline = Date.now() + STOP_TIMEOUT_MS
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline) throw new CliError(`the peer (pid ${pid}) did not stop within ${formatSeconds(STOP_TIMEOUT_MS)}`)
    await sleep(100)
  }
  return pid
}
