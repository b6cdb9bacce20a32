import type { Command } from 'commander'
import { Argument } from '../commander.js'
import { addDataDirOption, addJsonOption, clientFor, printJson, type DataDirOptions, type JsonOptions } from '../common.js'
import { formatStatus, STATUS_SECTIONS, statusSectionJson, type StatusSection } from '../format/status.js'
import type { CliIo } from '../main.js'

export function registerStatus (program: Command, io: CliIo): void {
  const cmd = program.command('status')
    .summary('what this peer knows')
    .description('Reports this peer, its cluster and address space; a section narrows it:\n\n' +
      '  peers        every other peer in the log\n' +
      '  ipam         allocation state and the ranges this peer owns\n' +
      '  connections  live and pending connections, with why they dropped')
    .addArgument(new Argument('[section]', 'peers, ipam or connections').choices(STATUS_SECTIONS))
  addDataDirOption(cmd)
  addJsonOption(cmd)
  cmd.action(async (section: StatusSection | undefined, opts: DataDirOptions & JsonOptions) => {
    const status = await clientFor(opts).status()
    if (opts.json === true) printJson(io, statusSectionJson(status, section))
    else io.out(formatStatus(status, section))
  })
}
