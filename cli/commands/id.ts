import type { Command } from 'commander'
import { addDataDirOption, addJsonOption, dataDirOf, printJson, warn, type DataDirOptions, type JsonOptions } from '../common.js'
import type { CliIo } from '../main.js'

export function registerId (program: Command, io: CliIo): void {
  const cmd = program.command('id')
    .summary("print this peer's name, creating its identity if needed")
    .description("Prints this peer's name (its libp2p PeerId), creating the identity if needed, without launching. " +
      'Use it to list seeds before the first launch.')
  addDataDirOption(cmd)
  addJsonOption(cmd)
  cmd.action(async (opts: DataDirOptions & JsonOptions) => {
    const { loadOrCreateIdentity } = await import('../../node/identity.js')
    const identity = await loadOrCreateIdentity(dataDirOf(opts))
    if (identity.modeWarning !== undefined) warn(io, identity.modeWarning)
    if (opts.json === true) printJson(io, { name: identity.peerName })
    else io.out(identity.peerName + '\n')
  })
}
