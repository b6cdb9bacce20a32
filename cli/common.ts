/** What every command shares: --data-dir, --json, the control client, output. */
import type { Command } from 'commander'
import { ControlClient } from '../node/api/client.js'
import { resolveDataDir } from '../node/data-dir.js'
import type { CliIo } from './main.js'

export interface DataDirOptions {
  dataDir?: string
}

export interface JsonOptions {
  json?: boolean
}

export function addDataDirOption (cmd: Command): Command {
  return cmd.option('--data-dir <dir>', "the peer's data dir (default: $WEFT_DATA_DIR, else $XDG_DATA_HOME/weft or ~/.local/share/weft; /var/lib/weft as root)")
}

export function addJsonOption (cmd: Command): Command {
  return cmd.option('--json', 'print JSON instead of text')
}

export function dataDirOf (opts: DataDirOptions): string {
  return resolveDataDir(opts.dataDir)
}

export function clientFor (opts: DataDirOptions): ControlClient {
  return ControlClient.forDataDir(dataDirOf(opts))
}

export function printJson (io: CliIo, value: unknown): void {
  if (Array.isArray(value) && value.length > 1000) { printJsonArray(io, value); return }
  io.out(JSON.stringify(value, null, 2) + '\n')
}

/**
 * The same text as JSON.stringify(items, null, 2), written a slice at a time:
 * a 100k-event history is ~50 MB of JSON, which one string would hold twice.
 */
function printJsonArray (io: CliIo, items: unknown[], slice = 2000): void {
  io.out('[\n')
  for (let i = 0; i < items.length; i += slice) {
    const part = JSON.stringify(items.slice(i, i + slice), null, 2) // "[\n  …\n]": the items indented as in the whole
    io.out(part.slice(2, -2) + (i + slice < items.length ? ',\n' : '\n'))
  }
  io.out(']\n')
}

/**
 * The same text as printJson(io, [...items]), printed as the items come: each
 * slice is printed and dropped before the next is made, so a big list never
 * lives in memory whole (for the garbage collector, most of printing it).
 */
export function printJsonEach (io: CliIo, items: Iterable<unknown>, slice = 2000): void {
  const it = items[Symbol.iterator]()
  const take = (n: number): unknown[] => {
    const out: unknown[] = []
    for (let r = it.next(); ; r = it.next()) {
      if (r.done === true) break
      out.push(r.value)
      if (out.length >= n) break
    }
    return out
  }
  let part = take(1001)
  if (part.length <= 1000) { printJson(io, part); return }
  io.out('[\n')
  for (;;) {
    const next = take(slice)
    const text = JSON.stringify(part, null, 2)
    io.out(text.slice(2, -2) + (next.length > 0 ? ',\n' : '\n'))
    if (next.length === 0) break
    part = next
  }
  io.out(']\n')
}

export function warn (io: CliIo, message: string): void {
  io.err(`weft: warning: ${message}\n`)
}

export async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}
