import type { Command } from 'commander'
import type { CliIo } from '../main.js'

/** Registers every command on the program. Each command lives in its own file. */
export function registerCommands (_program: Command, _io: CliIo): void {
}
