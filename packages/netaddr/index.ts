/**
 * netaddr: IPv4/IPv6 address, CIDR and address-set maths on bigints.
 * Domain-free on purpose: nothing here knows about leases, owners or CRDTs.
 */
export { NetaddrError, type NetaddrErrorCode } from './errors.js'
export {
  type Family, type Address,
  familyBits, address, compareAddress,
  parseAddress, formatAddress, addressToBytes, addressFromBytes
} from './address.js'
export {
  type Cidr, type ParseCidrOptions,
  cidr, parseCidr, formatCidr, cidrSize, cidrSpan, cidrContains,
  cidrToBytes, cidrFromBytes, compareCidr, halveIntoBlocks
} from './cidr.js'
export { type Span, spanToCidrs } from './span.js'
export { RangeSet } from './range-set.js'
