import type { Command } from 'commander'
import { formatAllocation } from '../../node/allocator/types.js'
import { checkIdArg } from '../alloc-args.js'
import { addDataDirOption, addJsonOption, clientFor, printJson, type DataDirOptions, type JsonOptions } from '../common.js'
import type { CliIo } from '../main.js'

/** ID rules, for the help text of every allocation command. */
export const ID_HELP = 'ID names what the address is for (a container, a VM): 1–128 characters, no whitespace or control characters.'

export function registerAlloc (program: Command, io: CliIo): void {
  const cmd = program.command('alloc')
    .summary('allocate an address for an ID')
    .description('Allocates an address for ID from this peer\'s space and prints it as ADDRESS/PREFIX, the prefix ' +
      'being the subnet\'s. The same ID (and subnet) gets the same address again. Waits until the peer is ready ' +
      '(and, when it has no free address, for another peer to donate space), up to about 35 seconds.\n\n' + ID_HELP)
    .argument('<id>', 'what the address is for')
    .option('--subnet <cidr>', 'allocate within this subnet (default: the cluster range)')
  addDataDirOption(cmd)
  addJsonOption(cmd)
  cmd.action(async (id: string, opts: DataDirOptions & JsonOptions & { subnet?: string }) => {
    checkIdArg(id)
    // Loaded as needed: the address parser (for --subnet) is most of what this command would import.
    const subnet = opts.subnet === undefined ? undefined : (await import('../address-args.js')).subnetArg(opts.subnet)
    const a = await clientFor(opts).alloc(id, subnet)
    if (opts.json === true) printJson(io, (await import('../format/alloc.js')).allocationJson(a))
    else io.out(formatAllocation(a) + '\n')
  })
}
