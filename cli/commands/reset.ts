import { existsSync, rmSync } from 'node:fs'
import type { Command } from 'commander'
import { runningPid } from '../../node/data-dir.js'
import type { ResetJson } from '../../node/api/types.js'
import { formatAllocation } from '../../node/allocator/types.js'
import { addDataDirOption, addJsonOption, clientFor, dataDirOf, printJson, warn, type DataDirOptions } from '../common.js'
import { CliError } from '../errors.js'
import type { CliIo } from '../main.js'
import { stopAndWait } from './stop.js'

export function registerReset (program: Command, io: CliIo): void {
  const cmd = program.command('reset')
    .summary('hand this peer\'s ranges to connected peers, then delete its data; the next launch is a new peer')
    .description('Hands every range this peer owns to the connected peers (spread over them, CIDR-aligned) in one `leave` event, ' +
      'waits until one of them confirms holding it (up to 30 s), stops the peer and deletes its data dir. Prints what went to whom.\n\n' +
      'Refuses while allocations exist, and on a stopped peer (whose ranges cannot be handed over: `weft rmpeer NAME` on another peer reclaims them); ' +
      '--force deletes anyway. Run again after its wait timed out, it waits for the same leave (it appends no second one). ' +
      'A peer that another peer removed owns nothing: its reset says which allocations it still held and deletes its data, without --force.')
    .option('--force', 'delete even with allocations, without a confirmation, or while stopped')
  addDataDirOption(cmd)
  addJsonOption(cmd)
  cmd.action(async (opts: DataDirOptions & { force?: boolean, json?: boolean }) => {
    const dir = dataDirOf(opts)
    const force = opts.force === true
    const running = runningPid(dir) !== undefined
    if (!running) {
      const name = await peerNameOf(dir)
      const state = name === undefined ? undefined : await (await import('../../node/reset.js')).stoppedPeerState(dir, name)
      // Removed by another peer (and it knew before it stopped): nothing to hand over.
      const removed = state !== undefined && 'removed' in state ? state.removed : undefined
      if (removed !== undefined) {
        if (opts.json !== true) printRemoved(io, removed)
        deleteDataDir(dir)
        if (opts.json === true) printJson(io, { ...removed, deleted: dir, handedOver: false })
        else io.out(`deleted ${dir}: the next launch is a new peer\n`)
        return
      }
      if (!force && state !== undefined && 'left' in state) {
        throw new CliError(`the peer in ${dir} is not running, and no peer may hold its leave (${state.left}) yet: launch it and run \`weft reset\` again, which waits for that leave (or \`weft reset --force\` to delete this data dir anyway)`)
      }
      if (!force) {
        throw new CliError(`the peer in ${dir} is not running, so its ranges could not be handed over: run \`weft rmpeer ${name ?? 'NAME'}\` on another peer to reclaim them (or \`weft reset --force\` to delete this data dir anyway)`)
      }
      deleteDataDir(dir)
      if (opts.json === true) printJson(io, { deleted: dir, handedOver: false })
      else io.out(`deleted ${dir} without handing its ranges over: run \`weft rmpeer\` on another peer to reclaim them\n`)
      return
    }
    let result
    try {
      result = await clientFor(opts).reset(force)
    } catch (err) {
      if (!force) throw err
      warn(io, `could not hand the ranges over (${(err as Error).message}); deleting anyway (--force)`)
    }
    if (result?.removedBy !== undefined && opts.json !== true) {
      printRemoved(io, result)
    } else if (result !== undefined && opts.json !== true) {
      for (const h of result.heirs) for (const r of h.ranges) io.out(`${r} → ${h.nickname ?? h.peer} (${h.peer})\n`)
      if (result.heirs.length === 0) io.out('this peer owned no addresses\n')
      io.out(result.confirmedBy !== null
        ? `confirmed by ${result.confirmedByNickname ?? result.confirmedBy} (${result.confirmedBy})\n`
        : 'no peer confirmed the handover; deleting anyway (--force)\n')
    }
    await stopAndWait(opts)
    deleteDataDir(dir)
    if (opts.json === true) printJson(io, { ...result, deleted: dir, handedOver: result !== undefined && result.removedBy === undefined })
    else io.out(`deleted ${dir}: the next launch is a new peer\n`)
  })
}

/** A removed peer's reset: by whom, then each allocation it still held (other peers may hand those addresses out again). */
function printRemoved (io: CliIo, r: ResetJson): void {
  const by = r.removedBy!
  io.out(`this peer was removed from the network by ${by.nickname ?? by.name} (${by.name}) at ${by.time}: it owns nothing to hand over\n`)
  for (const a of r.held ?? []) io.out(`still held: ${a.id} ${formatAllocation(a)} (in space this peer no longer owns)\n`)
}

function deleteDataDir (dir: string): void {
  if (!existsSync(dir)) return
  rmSync(dir, { recursive: true, force: true })
}

async function peerNameOf (dir: string): Promise<string | undefined> {
  try {
    const { loadIdentity } = await import('../../node/identity.js')
    return loadIdentity(dir)?.peerName
  } catch {
    return undefined
  }
}
