import type { Command } from 'commander'
import { Option } from '../commander.js'
import { exposureWarning } from '../../node/cluster-key.js'
import type { DaemonConfig } from '../../node/config.js'
import { acquirePidLock, dataDirPaths, PeerAlreadyRunningError, publishSocketPath, runningPid } from '../../node/data-dir.js'
import { isReadyMessage, launchInBackground, LaunchError, type ReadyMessage } from '../../node/launch.js'
import { addDataDirOption, addJsonOption, dataDirOf, printJson, warn } from '../common.js'
import { CliError } from '../errors.js'
import type { LaunchOptions } from '../launch-config.js'
import { DEFAULT_LISTEN } from '../../node/config.js'
import type { CliIo } from '../main.js'

type RunDaemon = (config: DaemonConfig, events: { onReady?: (info: { name: string, nickname: string }) => void }) => Promise<void>

/** A daemonized child that lingers this long after stopping has a leaked handle: exit anyway. */
const EXIT_GRACE_MS = 5_000

export function registerLaunch (program: Command, io: CliIo): void {
  const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value]
  const cmd = program.command('launch')
    .summary('start this peer (in the background unless --foreground)')
    .description('Starts the peer and returns once it is listening. A new peer with no PEER founds a cluster; ' +
      'with PEERs it joins the cluster it finds there. Relaunching keeps identity, log and allocations.\n\n' +
      'With --key-file (or $WEFT_KEY_FILE), connections need the cluster key: a host without it is refused before ' +
      'any weft protocol runs. Give it on every launch: it is not remembered.\n\n' +
      'PEER is HOST, HOST:PORT or a multiaddr (with or without /p2p/ID).')
    .argument('[peer...]', 'peers to dial')
    .addOption(new Option('--listen <addr>', 'HOST:PORT or multiaddr to listen on, repeatable').argParser(collect).default([], DEFAULT_LISTEN))
    .addOption(new Option('--advertise <addr>', 'address other peers dial, repeatable').argParser(collect).default([], 'the listen addresses'))
    .option('--nickname <name>', 'a name for humans (default: the hostname)')
    .option('--range <cidr>', 'the address range (default 10.32.0.0/12; must match the cluster\'s)')
    .option('--key-file <file>', 'the cluster key (from `weft key`): only peers holding the same key can connect (default: $WEFT_KEY_FILE)')
    .option('--init <mode>', 'with no cluster yet: consensus[=N] (default with PEERs; N = PEERs + 1), seed=PEERID,... or observer')
    .option('--foreground', 'stay attached; stop with Ctrl-C')
    .addOption(new Option('--log-level <level>', 'log detail').choices(['debug', 'info', 'warn', 'error']).default('info'))
  addDataDirOption(cmd)
  addJsonOption(cmd)
  cmd.action(async (peers: string[], opts: LaunchOptions) => {
    // Loaded here: multiaddr parsing is a good part of the CLI's start-up otherwise.
    // In the foreground the daemon's modules load meanwhile (status answers sooner).
    const daemon = opts.foreground === true ? loadRunDaemon() : undefined
    daemon?.catch(() => {}) // awaited, and reported, in runForeground
    const { buildLaunchConfig, launchArgs } = await import('../launch-config.js')
    const dataDir = dataDirOf(opts)
    const config = buildLaunchConfig(peers, opts, dataDir)
    // Said by the launching command; a daemonized child logs it instead (node/daemon.ts).
    const exposed = exposureWarning(config.clusterKey, config.listen)
    const warnExposed = (): void => { if (exposed !== undefined && process.env.WEFT_DAEMONIZED !== '1') warn(io, exposed) }
    const print = (name: string, nickname: string): void => {
      if (opts.json === true) printJson(io, { name, nickname })
      else io.out(`${name} ${nickname}\n`)
    }
    if (daemon !== undefined) {
      warnExposed()
      await runForeground(config, io, print, daemon)
      return
    }
    const pid = runningPid(dataDir)
    if (pid !== undefined) throw new PeerAlreadyRunningError(dataDir, pid)
    // Refused here, before a log file or a child exists; the daemon walks the pages too.
    const { checkLaunchable } = await import('../../node/launch-check.js')
    checkLaunchable(dataDir, { pages: false })
    warnExposed()
    let status
    try {
      status = await launchInBackground({ dataDir, args: launchArgs(config) })
    } catch (err) {
      if (err instanceof LaunchError) throw new CliError(err.message)
      throw err
    }
    print(status.peer.name, status.peer.nickname)
  })
}

async function runForeground (config: DaemonConfig, io: CliIo, print: (name: string, nickname: string) => void, daemon: Promise<RunDaemon>): Promise<void> {
  const paths = dataDirPaths(config.dataDir)
  const release = acquirePidLock(config.dataDir)
  try {
    // Holding the pid lock, so nothing writes the stores while their pages are walked.
    const [{ loadOrCreateIdentity }, { checkLaunchable }] = await Promise.all([import('../../node/identity.js'), import('../../node/launch-check.js')])
    checkLaunchable(config.dataDir, { pages: true })
    const identity = await loadOrCreateIdentity(config.dataDir)
    if (identity.modeWarning !== undefined) warn(io, identity.modeWarning)
    publishSocketPath(paths)
    const runDaemon = await daemon
    await runDaemon(config, {
      onReady: info => {
        // A daemonized child's stdout is the log; its launcher prints the line.
        if (process.env.WEFT_DAEMONIZED === '1') tellLauncher({ type: 'weft-ready', name: info.name, nickname: info.nickname })
        else print(info.name, info.nickname)
      }
    })
  } finally {
    release()
  }
  // The daemon has closed its store, network and socket: leave now rather than
  // wait for the event loop to drain (`weft stop` waits for this process to go).
  if (process.env.WEFT_DAEMONIZED === '1') setImmediate(() => { process.exit() })
  else setTimeout(() => { process.exit() }, EXIT_GRACE_MS).unref()
}

/** A background launcher waits on the IPC channel for this; then we let go of it. */
function tellLauncher (message: ReadyMessage): void {
  if (process.send === undefined || !isReadyMessage(message)) return
  process.send(message, undefined, {}, () => { if (process.connected) process.disconnect() })
}

/**
 * Loaded lazily: the daemon pulls in libp2p, LMDB and Automerge, which other
 * commands do not need. Tests (WEFT_TEST_HOOKS=1) may substitute a module.
 */
async function loadRunDaemon (): Promise<RunDaemon> {
  const substitute = process.env.WEFT_TEST_HOOKS === '1' ? process.env.WEFT_TEST_DAEMON_MODULE : undefined
  if (substitute !== undefined && substitute !== '') {
    const { pathToFileURL } = await import('node:url')
    return ((await import(pathToFileURL(substitute).href)) as { runDaemon: RunDaemon }).runDaemon
  }
  return (await import('../../node/daemon.js')).runDaemon
}
