import type { Command } from 'commander'
import { formatSeconds } from '../../node/api/client.js'
import { MAX_WAIT_READY_MS } from '../../node/api/server.js'
import { addDataDirOption, addJsonOption, clientFor, printJson, sleep, type DataDirOptions, type JsonOptions } from '../common.js'
import { CliError, UsageError } from '../errors.js'
import type { CliIo } from '../main.js'

export const DEFAULT_WAIT_READY_S = 60

export function registerWaitReady (program: Command, io: CliIo): void {
  const cmd = program.command('wait-ready')
    .summary('wait until this peer can allocate')
    .description('Returns 0 once this peer can allocate (its ring is loaded and it has synced with a reachable ' +
      'peer, or none was reachable); exits 1 with the reason at the timeout.')
    .option('--timeout <seconds>', 'how long to wait', String(DEFAULT_WAIT_READY_S))
  addDataDirOption(cmd)
  addJsonOption(cmd)
  cmd.action(async (opts: DataDirOptions & JsonOptions & { timeout: string }) => {
    const seconds = Number(opts.timeout)
    if (opts.timeout.trim() === '' || !Number.isFinite(seconds) || seconds < 0) {
      throw new UsageError(`invalid --timeout "${opts.timeout}": expected seconds >= 0`)
    }
    const client = clientFor(opts)
    const deadline = Date.now() + seconds * 1000
    // One long-poll is capped server-side; poll again until our own deadline.
    for (;;) {
      const remaining = Math.max(0, deadline - Date.now())
      const result = await client.waitReady(Math.min(remaining, MAX_WAIT_READY_MS))
      if (result.ready) {
        if (opts.json === true) printJson(io, { ready: true })
        return
      }
      if (Date.now() >= deadline - 50) {
        // JSON readers get the reason on stdout too; the error line stays the contract's.
        if (opts.json === true) printJson(io, { ready: false, reason: result.reason })
        throw new CliError(`not ready after ${formatSeconds(seconds * 1000)}: ${result.reason}`)
      }
      await sleep(Math.min(250, deadline - Date.now())) // the daemon answered early; do not spin
    }
  })
}
