/**
 * Addresses to dial or listen on (CLI.md): `HOST`, `HOST:PORT` or a
 * multiaddr (with or without /p2p/ID), turned into multiaddr text. One
 * place, used by both sides: the CLI checks its PEER, --listen and
 * --advertise arguments with it, and the control API the addresses that
 * `weft connect` sends. Pure, so every form is unit-tested; bad input is a
 * one-line PeerAddrError, its text quoted with control characters escaped.
 *
 * Only what weft can dial passes: TCP over an IP address or a DNS name, and
 * a /p2p/ part only if it is a weft peer name (Ed25519).
 */
import { isIPv4, isIPv6 } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { WeftError } from '../crdt/errors.js'
import { isPeerName } from '../crdt/events/peer-id.js'
import { printable } from '../packages/printable/index.js'
import { DEFAULT_PORT } from './config.js'

/** Longer than any address weft can dial (a 253-character DNS name, a port, a peer name). */
export const MAX_ADDRESS_CHARS = 400

export class PeerAddrError extends WeftError<'invalid-address'> {
  override name = 'PeerAddrError'
  constructor (message: string) { super('invalid-address', message) }
}

/** The text of a bad address, for a message: quoted, escaped, shortened. */
function quoted (text: string): string {
  return `"${printable(text.length > 80 ? text.slice(0, 80) + '…' : text)}"`
}

const HOSTNAME = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/
const HOST_PROTOCOLS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6'])

/** A PEER to dial: IPs become /ip4 or /ip6, names /dns4; the port defaults to 6783. */
export function peerToMultiaddr (text: string, what = 'PEER'): string {
  checkText(text, what)
  if (text.startsWith('/')) return checkMultiaddr(text, what, true)
  const { host, port } = splitHostPort(text, what)
  if (isIPv4(host)) return `/ip4/${host}/tcp/${port}`
  if (isIPv6(host)) return `/ip6/${host}/tcp/${port}`
  if (/^[0-9.]+$/.test(host)) throw new PeerAddrError(`invalid ${what} ${quoted(text)}: bad IPv4 address ${quoted(host)}`)
  if (HOSTNAME.test(host)) return `/dns4/${host.replace(/\.$/, '')}/tcp/${port}`
  throw new PeerAddrError(`invalid ${what} ${quoted(text)}: expected HOST, HOST:PORT or a multiaddr`)
}

/** A --listen address: an IP (no names), `:PORT` meaning all IPv4 interfaces. */
export function listenToMultiaddr (text: string): string {
  checkText(text, '--listen')
  if (text.startsWith('/')) {
    const ma = checkMultiaddr(text, '--listen', false)
    if (!/^\/ip[46]\//.test(ma)) throw new PeerAddrError(`invalid --listen ${quoted(text)}: listen on an IP address (/ip4 or /ip6)`)
    return ma
  }
  const { host, port } = splitHostPort(text.startsWith(':') ? `0.0.0.0${text}` : text, '--listen')
  if (isIPv4(host)) return `/ip4/${host}/tcp/${port}`
  if (isIPv6(host)) return `/ip6/${host}/tcp/${port}`
  throw new PeerAddrError(`invalid --listen ${quoted(text)}: expected IP:PORT (e.g. 0.0.0.0:${DEFAULT_PORT}) or a multiaddr`)
}

/** An --advertise address: what other peers dial, so never a wildcard address. */
export function advertiseToMultiaddr (text: string): string {
  const ma = peerToMultiaddr(text, '--advertise')
  if (/^\/ip4\/0\.0\.0\.0\/|^\/ip6\/::\//.test(ma)) {
    throw new PeerAddrError(`invalid --advertise ${quoted(text)}: other peers cannot dial a wildcard address`)
  }
  return ma
}

/** Before any parsing: bounded, and nothing that prints as something else. */
function checkText (text: string, what: string): void {
  if (text.length > MAX_ADDRESS_CHARS) throw new PeerAddrError(`invalid ${what} ${quoted(text)}: longer than ${MAX_ADDRESS_CHARS} characters`)
  if (/[\p{C}\p{Z}]/u.test(text)) throw new PeerAddrError(`invalid ${what} ${quoted(text)}: it contains spaces or control characters`)
}

function splitHostPort (text: string, what: string): { host: string, port: number } {
  const bad = (why: string): PeerAddrError => new PeerAddrError(`invalid ${what} ${quoted(text)}: ${why}`)
  let host = text
  let portText: string | undefined
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(text)
  if (bracketed !== null) {
    host = bracketed[1] ?? ''
    portText = bracketed[2]
    if (!isIPv6(host)) throw bad('expected an IPv6 address inside [ ]')
  } else if ((text.match(/:/g) ?? []).length === 1) {
    const colon = text.indexOf(':')
    host = text.slice(0, colon)
    portText = text.slice(colon + 1)
  }
  if (host === '') throw bad('missing host')
  return { host, port: portText === undefined ? DEFAULT_PORT : parsePort(portText, bad) }
}

function parsePort (text: string, bad: (why: string) => PeerAddrError): number {
  const port = Number(text)
  if (!/^[0-9]{1,5}$/.test(text) || port < 1 || port > 65535) throw bad('port must be 1..65535')
  return port
}

function checkMultiaddr (text: string, what: string, allowPeerId: boolean): string {
  const bad = (why: string): PeerAddrError => new PeerAddrError(`invalid ${what} ${quoted(text)}: ${why}`)
  let ma
  try {
    ma = multiaddr(text)
  } catch (err) {
    throw bad(printable((err as Error).message))
  }
  const components = ma.getComponents()
  const names = components.map(c => c.name)
  const allowed = allowPeerId ? names.length === 2 || (names.length === 3 && names[2] === 'p2p') : names.length === 2
  if (!allowed || !HOST_PROTOCOLS.has(names[0] ?? '') || names[1] !== 'tcp') {
    const shape = allowPeerId ? '/ip4|ip6|dns4|dns6|dns/HOST/tcp/PORT[/p2p/ID]' : '/ip4|ip6/HOST/tcp/PORT'
    throw bad(`expected a multiaddr like ${shape}`)
  }
  const [host, port, peer] = components
  if (names[0]!.startsWith('dns') && !HOSTNAME.test(host?.value ?? '')) throw bad(`bad DNS name ${quoted(host?.value ?? '')}`)
  // A listener may take port 0 (any free port); a dial needs a real one.
  const minPort = allowPeerId ? 1 : 0
  if (!/^[0-9]{1,5}$/.test(port?.value ?? '') || Number(port?.value) < minPort || Number(port?.value) > 65535) throw bad(`port must be ${minPort}..65535`)
  if (peer !== undefined && !isPeerName(peer.value ?? '')) {
    throw bad(`/p2p/${printable(peer.value ?? '')} is not a weft peer name (weft peer names look like 12D3KooW…; \`weft id\` prints one)`)
  }
  return ma.toString()
}
