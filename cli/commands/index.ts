import type { Command } from 'commander'
import type { CliIo } from '../main.js'

type Register = (program: Command, io: CliIo) => void

/**
 * Every command, in the order `weft --help` lists them. Each lives in its own
 * file and is imported only when needed: a run of one command loads that
 * command's file alone (most of the CLI's start-up was loading all of them).
 */
const COMMANDS: ReadonlyArray<readonly [name: string, load: () => Promise<Register>]> = [
  ['launch', async () => (await import('./launch.js')).registerLaunch],
  ['id', async () => (await import('./id.js')).registerId],
  ['key', async () => (await import('./key.js')).registerKey],
  ['status', async () => (await import('./status.js')).registerStatus],
  ['connect', async () => (await import('./connect.js')).registerConnect],
  ['forget', async () => (await import('./forget.js')).registerForget],
  ['wait-ready', async () => (await import('./wait-ready.js')).registerWaitReady],
  ['stop', async () => (await import('./stop.js')).registerStop],
  ['rmpeer', async () => (await import('./rmpeer.js')).registerRmpeer],
  ['resolve', async () => (await import('./resolve.js')).registerResolve],
  ['reset', async () => (await import('./reset.js')).registerReset],
  ['demo', async () => (await import('./demo.js')).registerDemo],
  ['verify', async () => (await import('./verify.js')).registerVerify],
  ['check', async () => (await import('./check.js')).registerCheck],
  ['alloc', async () => (await import('./alloc.js')).registerAlloc],
  ['claim', async () => (await import('./claim.js')).registerClaim],
  ['release', async () => (await import('./release.js')).registerRelease],
  ['ls', async () => (await import('./ls.js')).registerLs],
  ['history', async () => (await import('./history.js')).registerHistory],
  ['replay', async () => (await import('./replay.js')).registerReplay],
  ['audit', async () => (await import('./audit.js')).registerAudit],
  ['conflicts', async () => (await import('./conflicts.js')).registerConflicts]
]

/**
 * The commands a run with these arguments (after `weft`) needs: the one
 * named first, when it names one (commander then parses, and prints help and
 * errors, with that command alone); none for a leading --version; else all
 * of them (program help, suggestions for a mistyped command).
 */
export function commandsFor (args: readonly string[]): ReadonlyArray<readonly [string, () => Promise<Register>]> {
  const first = args[0]
  if (first === '-V' || first === '--version') return []
  const named = COMMANDS.find(([name]) => name === first)
  return named !== undefined ? [named] : COMMANDS
}

/** Registers on the program the commands that `args` need (all by default). */
export async function registerCommands (program: Command, io: CliIo, args: readonly string[] = []): Promise<void> {
  const wanted = commandsFor(args)
  const registers = await Promise.all(wanted.map(async ([, load]) => await load()))
  registers.forEach((register, i) => {
    register(program, io)
    const name = program.commands.at(-1)?.name()
    if (name !== wanted[i]![0]) throw new Error(`the command table names "${wanted[i]![0]}", but its file registered "${name ?? 'nothing'}"`)
  })
}
