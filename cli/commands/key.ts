import { fchmodSync, fstatSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { newClusterKey, writeClusterKeyFile } from '../../node/cluster-key.js'
import { addJsonOption, printJson, warn, type JsonOptions } from '../common.js'
import type { CliIo } from '../main.js'

interface KeyOptions extends JsonOptions {
  out?: string
}

export function registerKey (program: Command, io: CliIo): void {
  const cmd = program.command('key')
    .summary('make a new cluster key (for launch --key-file)')
    .description('Makes a new cluster key: a libp2p private-network pre-shared key, in the swarm key format ' +
      '(/key/swarm/psk/1.0.0/, /base16/, 64 hex digits). Peers launched with --key-file FILE connect only to peers ' +
      'holding the same key. Copy the one file to every host; keep it secret.\n\n' +
      'Prints the key (`weft key > FILE` also makes FILE 0600), or with --out writes FILE, mode 0600, never ' +
      'overwriting an existing file. --json prints the key or the file with the key\'s fingerprint (shown by `weft status`).')
    .option('--out <file>', 'write the key to FILE (mode 0600; refuses an existing file) instead of printing it')
  addJsonOption(cmd)
  cmd.action((opts: KeyOptions) => {
    const { text, fingerprint } = newClusterKey()
    if (opts.out !== undefined) {
      const file = resolve(opts.out)
      writeClusterKeyFile(file, text)
      if (opts.json === true) printJson(io, { file, fingerprint })
      return
    }
    if (opts.json !== true) protectRedirect(io)
    if (opts.json === true) printJson(io, { key: text, fingerprint })
    else io.out(text)
  })
}

/**
 * `weft key > FILE`: the shell created FILE with the umask (often 0644), and
 * launch refuses a key others can read. Make it 0600 before the key is in it.
 */
function protectRedirect (io: CliIo): void {
  let st
  try {
    st = fstatSync(1)
  } catch {
    return
  }
  if (!st.isFile() || (st.mode & 0o077) === 0) return
  try {
    fchmodSync(1, 0o600)
  } catch (err) {
    warn(io, `could not make the output file private (${(err as Error).message}): run \`chmod 600\` on it`)
  }
}
