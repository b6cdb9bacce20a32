import type { Command } from 'commander'
import { addDataDirOption, addJsonOption, clientFor, printJson, type DataDirOptions, type JsonOptions } from '../common.js'
import type { CliIo } from '../main.js'

export function registerForget (program: Command, io: CliIo): void {
  const cmd = program.command('forget')
    .summary('remove addresses this peer dials')
    .description('Removes addresses added by launch or connect.\n\nPEER is HOST, HOST:PORT or a multiaddr (with or without /p2p/ID).')
    .argument('<peer...>', 'addresses to stop dialling')
  addDataDirOption(cmd)
  addJsonOption(cmd)
  cmd.action(async (peers: string[], opts: DataDirOptions & JsonOptions) => {
    const { peerToMultiaddr } = await import('../peer-addr.js')
    const addrs = peers.map(p => peerToMultiaddr(p))
    await clientFor(opts).forget(addrs)
    if (opts.json === true) printJson(io, { forgotten: addrs })
  })
}
