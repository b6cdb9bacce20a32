import type { Command } from 'commander'
import { addDataDirOption, addJsonOption, printJson, type DataDirOptions, type JsonOptions } from '../common.js'
import type { CliIo } from '../main.js'
import { OFFLINE_HELP, withReader } from './history.js'

export function registerConflicts (program: Command, io: CliIo): void {
  const cmd = program.command('conflicts')
    .summary('disputes, then void and overridden events')
    .description('Lists disputes (their id is the same on every replica), unresolved first, with parties, claimants ' +
      'and the resolve that settled them; then void events with their reason, moves a resolve overrode, and ' +
      'equivocations. Exits 0 whether or not there are any.\n\n' + OFFLINE_HELP)
  addDataDirOption(cmd)
  addJsonOption(cmd)
  cmd.action(async (opts: DataDirOptions & JsonOptions) => {
    const [{ conflicts }, { formatConflicts }] = await Promise.all([import('../../node/offline/history.js'), import('../format/events.js')])
    const result = await withReader(opts, reader => conflicts(reader))
    if (opts.json === true) printJson(io, result)
    else io.out(formatConflicts(result))
  })
}
