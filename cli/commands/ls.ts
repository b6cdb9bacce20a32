import type { Command } from 'commander'
import { addDataDirOption, addJsonOption, clientFor, printJson, type DataDirOptions, type JsonOptions } from '../common.js'
import type { CliIo } from '../main.js'

export function registerLs (program: Command, io: CliIo): void {
  const cmd = program.command('ls')
    .summary("this peer's allocations")
    .description('Lists the addresses allocated or claimed on this peer, one `ID ADDRESS/PREFIX` a line, by address.')
  addDataDirOption(cmd)
  addJsonOption(cmd)
  cmd.action(async (opts: DataDirOptions & JsonOptions) => {
    const list = await clientFor(opts).allocations()
    const { allocationJson, formatAllocationList, sortAllocations } = await import('../format/alloc.js')
    if (opts.json === true) printJson(io, sortAllocations(list).map(allocationJson))
    else io.out(formatAllocationList(list))
  })
}
