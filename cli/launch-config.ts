/**
 * `weft launch` options → DaemonConfig, validated here (cli/ owns parsing;
 * node/ trusts the shape), and back to arguments for the daemonized child.
 */
import { hostname } from 'node:os'
import { resolve } from 'node:path'
import { formatCidr, NetaddrError, parseCidr } from '../packages/netaddr/index.js'
import { DEFAULT_LISTEN, DEFAULT_TUNING, type DaemonConfig, type InitMode, type Tuning } from '../node/config.js'
import { comparePeerNames, isPeerName } from '../crdt/events/peer-id.js'
import { dataDirPaths } from '../node/data-dir.js'
import { readClusterKeyFile } from '../node/cluster-key.js'
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
  init?: string
  keyFile?: string
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
    init: parseInit(opts.init, peers.length),
    logLevel: parseLogLevel(opts.logLevel),
    testHooks,
    logToStderr: env.WEFT_DAEMONIZED !== '1',
    tuning: testHooks ? parseTuning(env.WEFT_TUNING) : {}
  }
  if (opts.range !== undefined) config.range = parseRange(opts.range)
  // Read and checked here, before anything starts: a bad key is an error, never a keyless peer.
  // Absolute, since a daemonized child runs in the data dir.
  const keyFile = nonEmpty(opts.keyFile) ?? nonEmpty(env.WEFT_KEY_FILE)
  if (keyFile !== undefined) config.clusterKey = readClusterKeyFile(resolve(keyFile))
  return config
}

/**
 * `--init`, or its default: consensus among the PEERs and this peer when
 * PEERs are given, else founding a cluster alone (CLI.md).
 */
export function parseInit (text: string | undefined, peerCount: number): InitMode {
  if (text === undefined) return peerCount > 0 ? { mode: 'consensus', n: peerCount + 1 } : { mode: 'founder' }
  const [mode, param] = text.includes('=') ? [text.slice(0, text.indexOf('=')), text.slice(text.indexOf('=') + 1)] : [text, undefined]
  switch (mode) {
    case 'consensus': {
      if (param === undefined) return { mode: 'consensus', n: peerCount + 1 }
      const n = Number(param)
      if (!/^\d+$/.test(param) || !Number.isSafeInteger(n) || n < 1 || n > 1000) throw new UsageError(`invalid --init consensus=${param}: N is the number of peers that bootstrap together, 1 to 1000`)
      return { mode: 'consensus', n }
    }
    case 'seed': {
      const seeds = (param ?? '').split(',').map(s => s.trim()).filter(s => s !== '')
      if (seeds.length === 0) throw new UsageError('invalid --init seed: list the seeds\' peer names (from `weft id`), comma-separated')
      const bad = seeds.find(s => !isPeerName(s))
      if (bad !== undefined) throw new UsageError(`invalid --init seed: "${bad}" is not a peer name (run \`weft id\` on each seed to print its name)`)
      return { mode: 'seed', seeds: [...new Set(seeds)].sort(comparePeerNames) }
    }
    case 'observer':
      if (param !== undefined) throw new UsageError('invalid --init observer: it takes no value')
      return { mode: 'observer' }
    default:
      throw new UsageError(`invalid --init "${text}": expected consensus[=N], seed=PEERID,... or observer`)
  }
}

function nonEmpty (s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s
}

/** The `--init` argument that parses back to `init`. */
function initArg (init: InitMode): string {
  switch (init.mode) {
    case 'founder': return ''
    case 'consensus': return `consensus=${init.n}`
    case 'seed': return `seed=${init.seeds.join(',')}`
    case 'observer': return 'observer'
  }
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
    // epochEvents 0 means never (Tuning); every other setting must be positive.
    const floorOk = key === 'epochEvents' ? (value as number) >= 0 : (value as number) > 0
    if (typeof value !== 'number' || !Number.isFinite(value) || !floorOk) throw new UsageError(`invalid WEFT_TUNING: ${key} must be a ${key === 'epochEvents' ? 'non-negative' : 'positive'} number`)
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
    ...(config.init.mode !== 'founder' ? ['--init', initArg(config.init)] : []),
    // The file, not the key: arguments are visible to every user in `ps`.
    ...(config.clusterKey !== undefined ? ['--key-file', config.clusterKey.file] : []),
    '--log-level', level,
    '--', ...config.peers
  ]
}
