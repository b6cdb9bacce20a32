/**
 * The ID check of the allocation commands (alloc, claim, release). Addresses
 * have their own module (address-args.ts), imported only when a command has
 * one: the address parser is the larger part of a command's imports, and
 * `weft alloc ID` needs none.
 */
import { allocIdProblem } from '../node/api/alloc-id.js'
import { UsageError } from './errors.js'

/** A usage error (exit 2) unless ID is acceptable. */
export function checkIdArg (id: string): void {
  const problem = allocIdProblem(id)
  if (problem !== undefined) throw new UsageError(`invalid ID ${quoteId(id)}: ${problem}`)
}

/** JSON quoting shows control characters; a long ID is cut so the error stays readable. */
function quoteId (id: string): string {
  const chars = [...id]
  return chars.length <= 40 ? JSON.stringify(id) : `${JSON.stringify(chars.slice(0, 40).join('')).slice(0, -1)}…"`
}
