import { readFileSync } from 'node:fs'
import type { Command as CommandType } from 'commander'
import { Command, CommanderError } from './commander.js'
import { CliError } from './errors.js'
import { registerCommands } from './commands/index.js'
import { guardOutput } from './format/text.js'

export interface CliIo {
  out: (text: string) => void
  err: (text: string) => void
}

const processIo: CliIo = {
  out: text => { process.stdout.write(text) },
  err: text => { process.stderr.write(text) }
}

export function weftVersion (): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

/**
 * Builds the `weft` program with the commands that `args` (what follows
 * `weft` on the command line) need; all of them by default. Exposed for tests
 * that check help and parsing.
 */
export async function buildProgram (io: CliIo = processIo, args: readonly string[] = []): Promise<CommandType> {
  const program = new Command()
  program
    .name('weft')
    .description('weft: a decentralised IP address manager.\nEvery host runs one peer; the peers divide an address range with no central server.')
    .version(weftVersion(), '-V, --version', 'print the weft version')
    .helpOption('-h, --help', 'show help for a command')
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: io.out,
      writeErr: io.err,
      // Commander prints "error: ..."; the contract is one line "weft: ...".
      outputError: (text, write) => { write(`weft: ${text.replace(/^error: /, '').trimEnd()}\n`) }
    })
    .exitOverride()
  await registerCommands(program, io, args)
  for (const cmd of program.commands) cmd.exitOverride().configureOutput(program.configureOutput())
  return program
}

/** Runs the CLI and returns the process exit status. */
export async function main (argv: string[], rawIo: CliIo = processIo): Promise<number> {
  // Nothing reaches the terminal with a raw control character in it, whatever printed it.
  const io: CliIo = { out: text => { rawIo.out(guardOutput(text)) }, err: text => { rawIo.err(guardOutput(text)) } }
  const program = await buildProgram(io, argv.slice(2))
  try {
    await program.parseAsync(argv)
    return 0
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version are "errors" to commander; the rest are usage errors.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0
      return 2
    }
    if (err instanceof CliError) {
      io.err(`weft: ${err.message}\n`)
      return err.exitCode
    }
    const message = err instanceof Error ? err.message : String(err)
    io.err(`weft: ${oneLine(message)}\n`)
    if (process.env.WEFT_DEBUG === '1' && err instanceof Error && err.stack != null) io.err(err.stack + '\n')
    return 1
  }
}

/**
 * Errors from libraries can span lines and even embed stack frames (libp2p's
 * listen failure does); the contract is one line, so join the meaningful parts.
 */
export function oneLine (message: string): string {
  return message.split('\n').map(l => l.trim()).filter(l => l !== '' && !/^at \S/.test(l)).join(' ')
}
