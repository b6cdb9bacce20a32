import type { Command } from 'commander'
import { addDataDirOption, clientFor, type DataDirOptions } from '../common.js'
import type { CliIo } from '../main.js'

export function registerConnect (program: Command, _io: CliIo): void {
  const cmd = program.command('connect')
    .summary('add addresses for this peer to dial')
    .description('Adds addresses to dial; they are kept across relaunches.\n\nPEER is HOST, HOST:PORT or a multiaddr (with or without /p2p/ID).')
    .argument('<peer...>', 'peers to dial')
  addDataDirOption(cmd)
  cmd.action(async (peers: string[], opts: DataDirOptions) => {
    const { peerToMultiaddr } = await import('../peer-addr.js')
    const addrs = peers.map(p => peerToMultiaddr(p))
    await clientFor(opts).connect(addrs)
  })
}
