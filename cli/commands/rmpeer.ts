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
      'Takes over only after a quorum of the live members (the removed peer counted, not voting) approves: ' +
      'when two hosts remove the same peer at once, one wins and the other names the winner. ' +
      'Without a quorum reachable (a minority partition) refuses unless --force; a forced takeover that collides with another becomes a dispute.')
    .argument('<name...>', 'peer names or nicknames')
    .option('--force', 'remove even a peer that looks alive, and take over without a vote when no quorum is reachable (never against a lost vote)')
  addDataDirOption(cmd)
  addJsonOption(cmd)
  cmd.action(async (names: string[], opts: DataDirOptions & { force?: boolean, json?: boolean }) => {
    const results = await clientFor(opts).rmpeer(names, opts.force === true)
    if (opts.json === true) printJson(io, results)
    else for (const r of results) if (r.ok) io.out(`${String(r.ips)} IPs taken over from ${r.name}\n`)
    const failed = results.filter(r => !r.ok)
    // A lost vote's message names the peer itself (CLI.md: `weft: host3 is being taken over by host1 (…)`).
    const line = (r: typeof results[number]): string => r.lost !== undefined ? r.error ?? 'lost the vote' : `${r.name}: ${r.error ?? 'failed'}`
    if (opts.json !== true) for (const r of failed.slice(0, -1)) io.err(`weft: ${line(r)}\n`)
    const last = failed[failed.length - 1]
    if (last !== undefined) throw new CliError(opts.json === true ? `${failed.length} of ${results.length} failed` : line(last))
  })
}
