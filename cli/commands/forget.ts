import type { Command } from 'commander'
import { addDataDirOption, clientFor, type DataDirOptions } from '../common.js'
import type { CliIo } from '../main.js'

export function registerForget (program: Command, _io: CliIo): void {
  const cmd = program.command('forget')
    .summary('remove addresses this peer dials')
    .description('Removes addresses added by launch or connect.\n\nPEER is HOST, HOST:PORT or a multiaddr (with or without /p2p/ID).')
    .argument('<peer...>', 'addresses to stop dialling')
  addDataDirOption(cmd)
  cmd.action(async (peers: string[], opts: DataDirOptions) => {
    const { peerToMultiaddr } = await import('../peer-addr.js')
    const addrs = peers.map(p => peerToMultiaddr(p))
    await clientFor(opts).forget(addrs)
  })
}
