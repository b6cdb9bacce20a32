/**
 * Address arguments of the allocation commands (`alloc --subnet`, claim,
 * release), imported only when a command has one to parse.
 */
import { familyBits, formatAddress, formatCidr, NetaddrError, parseAddress, parseCidr } from '../packages/netaddr/index.js'
import { UsageError } from './errors.js'

/** The subnet in canonical form, so one subnet written two ways is one key on the daemon. */
export function subnetArg (text: string): string {
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
