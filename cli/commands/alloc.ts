import type { Command } from 'commander'
import { allocIdProblem } from '../../node/api/server.js'
import { formatAllocation } from '../../node/allocator/types.js'
import { familyBits, formatAddress, formatCidr, NetaddrError, parseAddress, parseCidr } from '../../packages/netaddr/index.js'
import { addDataDirOption, addJsonOption, clientFor, printJson, type DataDirOptions, type JsonOptions } from '../common.js'
import { UsageError } from '../errors.js'
import { allocationJson } from '../format/alloc.js'
import type { CliIo } from '../main.js'

/** ID rules, for the help text of every allocation command. */
export const ID_HELP = 'ID names what the address is for (a container, a VM): 1–128 characters, no whitespace or control characters.'

export function registerAlloc (program: Command, io: CliIo): void {
  const cmd = program.command('alloc')
    .summary('allocate an address for an ID')
    .description('Allocates an address for ID from this peer\'s space and prints it as ADDRESS/PREFIX, the prefix ' +
      'being the subnet\'s. The same ID (and subnet) gets the same address again. Waits until the peer is ready ' +
      '(and, when it has no free address, for another peer to donate space), up to about 35 seconds.\n\n' + ID_HELP)
    .argument('<id>', 'what the address is for')
    .option('--subnet <cidr>', 'allocate within this subnet (default: the cluster range)')
  addDataDirOption(cmd)
  addJsonOption(cmd)
  cmd.action(async (id: string, opts: DataDirOptions & JsonOptions & { subnet?: string }) => {
    checkIdArg(id)
    const subnet = opts.subnet === undefined ? undefined : subnetArg(opts.subnet)
    const a = await clientFor(opts).alloc(id, subnet)
    if (opts.json === true) printJson(io, allocationJson(a))
    else io.out(formatAllocation(a) + '\n')
  })
}

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

/** The subnet in canonical form, so one subnet written two ways is one key on the daemon. */
function subnetArg (text: string): string {
  try {
    return formatCidr(parseCidr(text))
  } catch (err) {
    if (err instanceof NetaddrError) throw new UsageError(`invalid --subnet: ${err.message}`)
    throw err
  }
}

/**
 * ADDRESS or ADDRESS/PREFIX (prefix 0–32 for IPv4, 0–128 for IPv6), the
 * address in canonical form. A usage error (exit 2) on anything else.
 */
export function addressArg (text: string): { address: string, prefix?: number } {
  const slash = text.indexOf('/')
  const addrText = slash < 0 ? text : text.slice(0, slash)
  let address
  try {
    address = parseAddress(addrText)
  } catch (err) {
    if (err instanceof NetaddrError) throw new UsageError(`invalid address ${JSON.stringify(text)}: expected ADDRESS or ADDRESS/PREFIX, e.g. 10.32.0.5 or 10.32.0.5/12`)
    throw err
  }
  if (slash < 0) return { address: formatAddress(address) }
  const prefixText = text.slice(slash + 1)
  const bits = familyBits(address.family)
  const prefix = Number(prefixText)
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || prefix > bits) {
    throw new UsageError(`invalid prefix in ${JSON.stringify(text)}: expected a number from 0 to ${bits}`)
  }
  return { address: formatAddress(address), prefix }
}
