/**
 * PEER, --listen and --advertise arguments: node/peer-addr.ts parses them
 * (the control API checks `weft connect`'s addresses with the same code);
 * here a bad one is a usage error (exit 2).
 */
import * as addr from '../node/peer-addr.js'
import { UsageError } from './errors.js'

function usage<A extends unknown[]> (parse: (...args: A) => string): (...args: A) => string {
  return (...args) => {
    try {
      return parse(...args)
    } catch (err) {
      if (err instanceof addr.PeerAddrError) throw new UsageError(err.message)
      throw err
    }
  }
}

export const peerToMultiaddr = usage(addr.peerToMultiaddr)
export const listenToMultiaddr = usage(addr.listenToMultiaddr)
export const advertiseToMultiaddr = usage(addr.advertiseToMultiaddr)
