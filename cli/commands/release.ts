import type { Command } from 'commander'
import { addDataDirOption, addJsonOption, clientFor, printJson, type DataDirOptions, type JsonOptions } from '../common.js'
import type { CliIo } from '../main.js'
import { checkIdArg } from '../alloc-args.js'
import { ID_HELP } from './alloc.js'

export function registerRelease (program: Command, io: CliIo): void {
  const cmd = program.command('release')
    .summary("free an ID's addresses")
    .description('Frees every address ID holds on this peer, or only ADDRESS. Releasing what is not held ' +
      'succeeds and frees nothing. Prints nothing; with --json, the list of what was freed.\n\n' +
      'ADDRESS may carry a /PREFIX (as `weft alloc` prints it); the prefix is checked for form only.\n\n' + ID_HELP)
    .argument('<id>', 'whose addresses to free')
    .argument('[address]', 'free only this address')
  addDataDirOption(cmd)
  addJsonOption(cmd)
  cmd.action(async (id: string, addressText: string | undefined, opts: DataDirOptions & JsonOptions) => {
    const [{ addressArg }, { allocationJson, sortAllocations }] = await Promise.all([import('../address-args.js'), import('../format/alloc.js')])
    checkIdArg(id)
    const address = addressText === undefined ? undefined : addressArg(addressText).address
    const released = await clientFor(opts).release(id, address)
    if (opts.json === true) printJson(io, sortAllocations(released).map(allocationJson))
  })
}
