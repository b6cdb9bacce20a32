import type { Command } from 'commander'
import { Option } from '../commander.js'
import type { LogReader } from '../../node/offline/reader.js'
import type { EventRow } from '../../node/offline/describe.js'
import { HISTORY_KINDS, parseTime } from '../../node/offline/args.js'
import { addDataDirOption, addJsonOption, clientFor, dataDirOf, printJson, printJsonEach, type DataDirOptions, type JsonOptions } from '../common.js'
import { CliError, UsageError } from '../errors.js'
import type { CliIo } from '../main.js'

/** Said in the help of every offline command. */
export const OFFLINE_HELP = 'Reads the data dir only (never writes it): works on a stopped peer, and beside a running one.'

/**
 * Runs `fn` on a read-only reader of the data dir, closing it afterwards.
 * Offline query errors become one-line CLI errors (usage mistakes exit 2).
 */
export async function withReader<T> (opts: DataDirOptions, fn: (reader: LogReader) => T): Promise<T> {
  // Loaded here, not at start-up: the reader and the fold are most of the CLI's import time.
  const [{ withReadableDataDir }, { openLogReader }, { OfflineQueryError }, { OfflineUsageError }] = await Promise.all([
    import('../../node/offline/readable.js'), import('../../node/offline/reader.js'),
    import('../../node/offline/describe.js'), import('../../node/offline/history.js')
  ])
  return await withReadableDataDir(dataDirOf(opts), async dir => {
    const reader = openLogReader(dir)
    try {
      return fn(reader)
    } catch (err) {
      if (err instanceof OfflineUsageError) throw new UsageError(err.message)
      if (err instanceof OfflineQueryError) throw new CliError(err.message)
      throw err
    } finally {
      await reader.close()
    }
  })
}

function kindsArg (value: string, previous: string[] = []): string[] {
  const kinds = value.split(',').map(k => k.trim()).filter(k => k !== '')
  for (const k of kinds) {
    if (!HISTORY_KINDS.includes(k)) throw new UsageError(`invalid --kind ${JSON.stringify(k)}: expected one of ${HISTORY_KINDS.join(', ')}`)
  }
  return [...previous, ...kinds]
}

function sinceArg (value: string): number {
  const t = parseTime(value)
  if (t === undefined) throw new UsageError(`invalid --since ${JSON.stringify(value)}: expected a time (ISO 8601, e.g. 2026-11-26T06:30:00Z, or epoch ms)`)
  return t
}

interface HistoryOptions extends DataDirOptions, JsonOptions {
  peer?: string
  since?: number
  kind?: string[]
}

export function registerHistory (program: Command, io: CliIo): void {
  const cmd = program.command('history')
    .summary('the event log in causal order')
    .description('Prints every event of the log in causal order (lamport, then id), one a line:\n\n' +
      '  TIME  AUTHOR  KIND  details  id ID\n\n' +
      'AUTHOR is the nickname and the end of the peer name. Void events end with `VOID: reason`; moves a resolve ' +
      'overrode say so. --json prints one object per event, with stable field names.\n\n' + OFFLINE_HELP)
    .option('--peer <name>', 'only events by NAME or moving space to or from it (peer name or nickname)')
    .addOption(new Option('--since <time>', 'only events at or after TIME (ISO 8601 or epoch ms)').argParser(sinceArg))
    .addOption(new Option('--kind <kind>', `only events of these kinds (comma-separated, repeatable): ${HISTORY_KINDS.join(', ')}`).argParser(kindsArg))
    .option('--follow', 'then keep printing new events as the running peer adopts them (until Ctrl-C); with --json, one object a line')
  addDataDirOption(cmd)
  addJsonOption(cmd)
  cmd.action(async (opts: HistoryOptions & { follow?: boolean }) => {
    const [{ formatRow, resolvePeer }, { eachHistoryRow, historyRows, mentionedIn, rowPeers }, { formatHistory }] = await Promise.all([
      import('../../node/offline/describe.js'), import('../../node/offline/history.js'), import('../format/events.js')
    ])
    const filter = {
      ...(opts.peer !== undefined ? { peer: opts.peer } : {}),
      ...(opts.since !== undefined ? { since: opts.since } : {}),
      ...(opts.kind !== undefined ? { kinds: opts.kind } : {})
    }
    if (opts.json === true && opts.follow !== true) {
      // Printed as the rows are made (the same text as printJson of them all).
      await withReader(opts, reader => { printJsonEach(io, eachHistoryRow(reader, filter)) })
      return
    }
    let peerFilter: string | undefined
    const rows = await withReader(opts, reader => {
      if (opts.peer !== undefined) peerFilter = resolvePeer(reader.view(), opts.peer, mentionedIn(reader))
      return historyRows(reader, filter)
    })
    if (opts.follow !== true) {
      if (opts.json === true) printJson(io, rows)
      else io.out(formatHistory(rows))
      return
    }
    // Following: the history so far, then new events as they arrive, one a line.
    const print = (row: EventRow): void => { io.out(opts.json === true ? JSON.stringify(row) + '\n' : formatRow(row) + '\n') }
    for (const r of rows) print(r)
    const wanted = (row: EventRow): boolean =>
      (opts.kind === undefined || opts.kind.includes(row.kind)) && (peerFilter === undefined || rowPeers(row).has(peerFilter))
    const stop = new AbortController()
    const onSignal = (): void => { stop.abort() }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    try {
      await clientFor(opts).followEvents(row => { if (wanted(row as EventRow)) print(row as EventRow) }, stop.signal)
    } finally {
      process.removeListener('SIGINT', onSignal)
      process.removeListener('SIGTERM', onSignal)
    }
  })
}
