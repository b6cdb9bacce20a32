import type { Command } from 'commander'
import { formatAllocation } from '../../node/allocator/types.js'
import { addDataDirOption, addJsonOption, clientFor, printJson, type DataDirOptions, type JsonOptions } from '../common.js'
import type { CliIo } from '../main.js'
import { checkIdArg } from '../alloc-args.js'
import { ID_HELP } from './alloc.js'

export function registerClaim (program: Command, io: CliIo): void {
  const cmd = program.command('claim')
    .summary('record ID as the holder of a given address')
    .description('Records ID as the holder of ADDRESS, e.g. for a container that already has it, and prints ' +
      'ADDRESS/PREFIX. PREFIX names the subnet (default: the cluster range\'s). Fails if another peer owns the ' +
      'address or another ID holds it; claiming again what ID already holds succeeds.\n\n' + ID_HELP)
    .argument('<id>', 'what the address is for')
    .argument('<address>', 'ADDRESS or ADDRESS/PREFIX')
  addDataDirOption(cmd)
  addJsonOption(cmd)
  cmd.action(async (id: string, addressText: string, opts: DataDirOptions & JsonOptions) => {
    const [{ addressArg }, { allocationJson }] = await Promise.all([import('../address-args.js'), import('../format/alloc.js')])
    checkIdArg(id)
    const { address, prefix } = addressArg(addressText)
    const a = await clientFor(opts).claim(id, address, prefix)
    if (opts.json === true) printJson(io, allocationJson(a))
    else io.out(formatAllocation(a) + '\n')
  })
}
