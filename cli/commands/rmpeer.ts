import type { Command } from 'commander'
import { addDataDirOption, addJsonOption, clientFor, printJson, type DataDirOptions } from '../common.js'
import { CliError } from '../errors.js'
import type { CliIo } from '../main.js'

export function registerRmpeer (program: Command, io: CliIo): void {
  const cmd = program.command('rmpeer')
    .summary('take over the ranges of dead peers, to this peer')
    .description('Takes over all ranges of each named peer, to this peer, and prints `N IPs taken over from NAME` per NAME.\n\n' +
      'NAME is a peer name or a nickname (removed peers are ignored unless no live peer has that nickname). ' +
      'Refuses, unless --force, a peer that is connected, was seen within the last two anti-entropy rounds, ' +
      'or is in an unresolved dispute. A peer already removed may be named again: it reclaims what reached it later (often 0 IPs). ' +
      'Only one host should remove a given peer: two that do it without seeing each other create a dispute.')
    .argument('<name...>', 'peer names or nicknames')
    .option('--force', 'remove even a peer that looks alive')
  addDataDirOption(cmd)
  addJsonOption(cmd)
  cmd.action(async (names: string[], opts: DataDirOptions & { force?: boolean, json?: boolean }) => {
    const results = await clientFor(opts).rmpeer(names, opts.force === true)
    if (opts.json === true) printJson(io, results)
    else for (const r of results) if (r.ok) io.out(`${String(r.ips)} IPs taken over from ${r.name}\n`)
    const failed = results.filter(r => !r.ok)
    if (opts.json !== true) for (const r of failed.slice(0, -1)) io.err(`weft: ${r.name}: ${r.error ?? 'failed'}\n`)
    const last = failed[failed.length - 1]
    if (last !== undefined) throw new CliError(opts.json === true ? `${failed.length} of ${results.length} failed` : `${last.name}: ${last.error ?? 'failed'}`)
  })
}
