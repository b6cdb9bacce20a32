/**
 * PEER, --listen and --advertise arguments (CLI.md): `HOST`, `HOST:PORT` or a
 * multiaddr (with or without /p2p/ID), turned into multiaddr text. Pure, so
 * every form is unit-tested; bad input is a one-line UsageError.
 */
import { isIPv4, isIPv6 } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { DEFAULT_PORT } from '../node/config.js'
import { UsageError } from './errors.js'

const HOSTNAME = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/
const HOST_PROTOCOLS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6'])

/** A PEER to dial: IPs become /ip4 or /ip6, names /dns4; the port defaults to 6783. */
export function peerToMultiaddr (text: string, what = 'PEER'): string {
  if (text.startsWith('/')) return checkMultiaddr(text, what, true)
  const { host, port } = splitHostPort(text, what)
  if (isIPv4(host)) return `/ip4/${host}/tcp/${port}`
  if (isIPv6(host)) return `/ip6/${host}/tcp/${port}`
  if (/^[0-9.]+$/.test(host)) throw new UsageError(`invalid ${what} "${text}": bad IPv4 address "${host}"`)
  if (HOSTNAME.test(host)) return `/dns4/${host.replace(/\.$/, '')}/tcp/${port}`
  throw new UsageError(`invalid ${what} "${text}": expected HOST, HOST:PORT or a multiaddr`)
}

/** A --listen address: an IP (no names), `:PORT` meaning all IPv4 interfaces. */
export function listenToMultiaddr (text: string): string {
  if (text.startsWith('/')) {
    const ma = checkMultiaddr(text, '--listen', false)
    if (!/^\/ip[46]\//.test(ma)) throw new UsageError(`invalid --listen "${text}": listen on an IP address (/ip4 or /ip6)`)
    return ma
  }
  const { host, port } = splitHostPort(text.startsWith(':') ? `0.0.0.0${text}` : text, '--listen')
  if (isIPv4(host)) return `/ip4/${host}/tcp/${port}`
  if (isIPv6(host)) return `/ip6/${host}/tcp/${port}`
  throw new UsageError(`invalid --listen "${text}": expected IP:PORT (e.g. 0.0.0.0:${DEFAULT_PORT}) or a multiaddr`)
}

/** An --advertise address: what other peers dial, so never a wildcard address. */
export function advertiseToMultiaddr (text: string): string {
  const ma = peerToMultiaddr(text, '--advertise')
  if (/^\/ip4\/0\.0\.0\.0\/|^\/ip6\/::\//.test(ma)) {
    throw new UsageError(`invalid --advertise "${text}": other peers cannot dial a wildcard address`)
  }
  return ma
}

function splitHostPort (text: string, what: string): { host: string, port: number } {
  const bad = (why: string): UsageError => new UsageError(`invalid ${what} "${text}": ${why}`)
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

function parsePort (text: string, bad: (why: string) => UsageError): number {
  const port = Number(text)
  if (!/^[0-9]{1,5}$/.test(text) || port < 1 || port > 65535) throw bad('port must be 1..65535')
  return port
}

function checkMultiaddr (text: string, what: string, allowPeerId: boolean): string {
  let components
  try {
    components = multiaddr(text).getComponents()
  } catch (err) {
    throw new UsageError(`invalid ${what} "${text}": ${(err as Error).message}`)
  }
  const names = components.map(c => c.name)
  const allowed = allowPeerId ? names.length === 2 || (names.length === 3 && names[2] === 'p2p') : names.length === 2
  if (!allowed || !HOST_PROTOCOLS.has(names[0] ?? '') || names[1] !== 'tcp') {
    const shape = allowPeerId ? '/ip4|ip6|dns4|dns6|dns/HOST/tcp/PORT[/p2p/ID]' : '/ip4|ip6/HOST/tcp/PORT'
    throw new UsageError(`invalid ${what} "${text}": expected a multiaddr like ${shape}`)
  }
  return multiaddr(text).toString()
}
