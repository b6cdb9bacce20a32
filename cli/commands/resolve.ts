import type { Command } from 'commander'
import { addDataDirOption, addJsonOption, clientFor, printJson, type DataDirOptions } from '../common.js'
import type { CliIo } from '../main.js'

export function registerResolve (program: Command, io: CliIo): void {
  const cmd = program.command('resolve')
    .summary('settle a dispute; the cliques re-merge')
    .description('Settles a dispute (`weft conflicts` lists them; a conflict event\'s id works too) by giving its whole space to one owner, ' +
      'and prints the resolve event id. Without --owner: the first claimant by (lamport, id) that is a live member (DESIGN.md §2.3). ' +
      'In a removal dispute, the removals of the other peers at stake stand. Once any peer holds the resolve, the cliques re-merge on their next reconnect.')
    .argument('<dispute>', 'dispute id (or a conflict event id, or a unique prefix of 8+ hex digits)')
    .option('--owner <name>', 'the peer to own the space (peer name or nickname)')
  addDataDirOption(cmd)
  addJsonOption(cmd)
  cmd.action(async (dispute: string, opts: DataDirOptions & { owner?: string, json?: boolean }) => {
    const r = await clientFor(opts).resolve(dispute, opts.owner)
    if (opts.json === true) printJson(io, r)
    else io.out(`${r.id}\n`)
  })
}
