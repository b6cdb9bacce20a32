import type { Command } from 'commander'
import { addDataDirOption, addJsonOption, printJson, type DataDirOptions, type JsonOptions } from '../common.js'
import type { CliIo } from '../main.js'
import { OFFLINE_HELP, withReader } from './history.js'

export function registerReplay (program: Command, io: CliIo): void {
  const cmd = program.command('replay')
    .summary('the ring as it was at an event or a time')
    .description('Folds the log as it was at a point and prints the ring: one line per owner with its address count ' +
      'and ranges, then disputed and unowned space. The point is an event (the ring of its causal past) or a time ' +
      '(the largest causally closed set of events whose author\'s clock is at or before it).\n\n' + OFFLINE_HELP)
    .requiredOption('--at <point>', 'EVENT_ID (64 hex digits, or a unique prefix of at least 8) or TIME (ISO 8601 or epoch ms)')
  addDataDirOption(cmd)
  addJsonOption(cmd)
  cmd.action(async (opts: DataDirOptions & JsonOptions & { at: string }) => {
    const [{ parseAt, replayAt }, { formatReplay }] = await Promise.all([import('../../node/offline/history.js'), import('../format/events.js')])
    const result = await withReader(opts, reader => replayAt(reader, parseAt(reader.events(), opts.at)))
    if (opts.json === true) printJson(io, result.json)
    else io.out(formatReplay(result))
  })
}
