/**
 * `weft launch` options → DaemonConfig, validated here (cli/ owns parsing;
 * node/ trusts the shape), and back to arguments for the daemonized child.
 */
import { hostname } from 'node:os'
import { formatCidr, NetaddrError, parseCidr } from '../packages/netaddr/index.js'
import { DEFAULT_LISTEN, DEFAULT_TUNING, type DaemonConfig, type Tuning } from '../node/config.js'
import { dataDirPaths } from '../node/data-dir.js'
import { parseLogLevel, type LogLevel } from '../node/logger.js'
import { UsageError } from './errors.js'
import { advertiseToMultiaddr, listenToMultiaddr, peerToMultiaddr } from './peer-addr.js'

export interface LaunchOptions {
  dataDir?: string
  listen?: string[]
  advertise?: string[]
  nickname?: string
  range?: string
  logLevel?: string
  foreground?: boolean
  json?: boolean
}

export { DEFAULT_LISTEN } from '../node/config.js'
const NICKNAME = /^[^\s\p{C}]{1,64}$/u

export function buildLaunchConfig (peers: string[], opts: LaunchOptions, dataDir: string, env: NodeJS.ProcessEnv = process.env): DaemonConfig {
  const listen = (opts.listen === undefined || opts.listen.length === 0 ? [DEFAULT_LISTEN] : opts.listen).map(listenToMultiaddr)
  const nickname = opts.nickname ?? hostname()
  if (!NICKNAME.test(nickname)) throw new UsageError(`invalid --nickname "${nickname}": 1 to 64 characters, no spaces`)
  const testHooks = env.WEFT_TEST_HOOKS === '1'
  const config: DaemonConfig = {
    dataDir,
    socketPath: dataDirPaths(dataDir, env).socket,
    listen,
    advertise: (opts.advertise ?? []).map(advertiseToMultiaddr),
    nickname,
    peers: peers.map(p => peerToMultiaddr(p)),
    logLevel: parseLogLevel(opts.logLevel),
    testHooks,
    logToStderr: env.WEFT_DAEMONIZED !== '1',
    tuning: testHooks ? parseTuning(env.WEFT_TUNING) : {}
  }
  if (opts.range !== undefined) config.range = parseRange(opts.range)
  return config
}

function parseRange (text: string): string {
  try {
    return formatCidr(parseCidr(text, { strict: true }))
  } catch (err) {
    if (err instanceof NetaddrError) throw new UsageError(`invalid --range: ${err.message}`)
    throw err
  }
}

/** WEFT_TUNING (with WEFT_TEST_HOOKS=1): JSON overrides of DEFAULT_TUNING, for tests. */
export function parseTuning (text: string | undefined): Partial<Tuning> {
  if (text === undefined || text === '') return {}
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new UsageError('invalid WEFT_TUNING: not JSON')
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UsageError('invalid WEFT_TUNING: expected a JSON object')
  const tuning: Partial<Tuning> = {}
  for (const [key, value] of Object.entries(json)) {
    if (!(key in DEFAULT_TUNING)) throw new UsageError(`invalid WEFT_TUNING: unknown key "${key}"`)
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new UsageError(`invalid WEFT_TUNING: ${key} must be a positive number`)
    tuning[key as keyof Tuning] = value
  }
  return tuning
}

/** The arguments that make `weft launch --foreground` build the same config. */
export function launchArgs (config: DaemonConfig): string[] {
  const level: LogLevel = config.logLevel
  return [
    '--data-dir', config.dataDir,
    ...config.listen.flatMap(l => ['--listen', l]),
    ...config.advertise.flatMap(a => ['--advertise', a]),
    `--nickname=${config.nickname}`,
    ...(config.range !== undefined ? ['--range', config.range] : []),
    '--log-level', level,
    '--', ...config.peers
  ]
}
