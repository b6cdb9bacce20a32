/**
 * commander, loaded through `require`. Its package's `import` entry is an ESM
 * wrapper around CommonJS, and importing CommonJS from ESM makes Node run its
 * export lexer over the source first: ~9 ms of every `weft` start-up on
 * Node 20 (bench `cli`). The classes are the same either way.
 */
import { createRequire } from 'node:module'
import type * as Commander from 'commander'

const commander = createRequire(import.meta.url)('commander') as typeof Commander

export const { Argument, Command, CommanderError, Option } = commander
