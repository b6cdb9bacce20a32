import type { Command } from 'commander'
import { addDataDirOption, addJsonOption, printJson, type DataDirOptions, type JsonOptions } from '../common.js'
import type { CliIo } from '../main.js'
import { OFFLINE_HELP, withReader } from './history.js'

export function registerAudit (program: Command, io: CliIo): void {
  const cmd = program.command('audit')
    .summary('every event that moved an address, a range or a peer\'s space')
    .description('For an ADDRESS (ADDRESS/PREFIX as `weft alloc` prints it is fine) or a CIDR: every event that moved ' +
      'any of it, oldest first, then who owns it now, since when, and who gave it to them.\n\n' +
      'For a NAME (peer name or nickname): every range the peer ever received, and where each went.\n\n' +
      'Only valid moves that no resolve overrode count; void and overridden events are shown, marked.\n\n' + OFFLINE_HELP)
    .argument('<target>', 'ADDRESS, CIDR or NAME')
  addDataDirOption(cmd)
  addJsonOption(cmd)
  cmd.action(async (target: string, opts: DataDirOptions & JsonOptions) => {
    const [{ audit, parseTarget }, { formatAudit }] = await Promise.all([import('../../node/offline/audit.js'), import('../format/events.js')])
    const result = await withReader(opts, reader => audit(reader, parseTarget(reader, target)))
    if (opts.json === true) printJson(io, result)
    else io.out(formatAudit(result))
  })
}
