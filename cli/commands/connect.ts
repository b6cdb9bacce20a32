import type { Command } from 'commander'
import { addDataDirOption, addJsonOption, clientFor, printJson, type DataDirOptions, type JsonOptions } from '../common.js'
import type { CliIo } from '../main.js'

export function registerConnect (program: Command, io: CliIo): void {
  const cmd = program.command('connect')
    .summary('add addresses for this peer to dial')
    .description('Adds addresses to dial; they are kept across relaunches.\n\nPEER is HOST, HOST:PORT or a multiaddr (with or without /p2p/ID).')
    .argument('<peer...>', 'peers to dial')
  addDataDirOption(cmd)
  addJsonOption(cmd)
  cmd.action(async (peers: string[], opts: DataDirOptions & JsonOptions) => {
    const { peerToMultiaddr } = await import('../peer-addr.js')
    const addrs = peers.map(p => peerToMultiaddr(p))
    await clientFor(opts).connect(addrs)
    if (opts.json === true) printJson(io, { dialling: addrs })
  })
}
