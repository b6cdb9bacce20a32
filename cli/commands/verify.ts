import type { Command } from 'commander'
import { addDataDirOption, addJsonOption, dataDirOf, printJson, type DataDirOptions } from '../common.js'
import { CliError } from '../errors.js'
import type { CliIo } from '../main.js'
import { withReadableDataDir } from '../../node/offline/readable.js'
import type { VerifyReport } from '../../node/offline/verify.js'

function snapshotLine (r: VerifyReport): string {
  switch (r.snapshot) {
    case 'matches': return 'matches the fold of the log'
    case 'missing': return 'missing (the daemon writes it)'
    case 'differs': return 'DIFFERS from the fold of the log'
    case 'malformed': return `MALFORMED (${r.snapshotProblem ?? '?'}); the daemon rewrites it from the log at its next launch`
  }
}

export function registerVerify (program: Command, io: CliIo): void {
  const cmd = program.command('verify')
    .summary('re-check every event\'s id, signature and the ownership rule (offline too)')
    .description('Re-checks the log in the data dir on every core: each event\'s id, canonical form and signature, the causal structure, ' +
      'the ownership rule (a fresh fold), and that the saved ring snapshot equals that fold. Prints a summary and names each fault; ' +
      'exits 1 on any. Void events break the ownership rule by design (they are kept and flagged): they are counted, not faults. ' +
      'Reads the data dir only, so it works on a stopped peer and beside a running one.')
  addDataDirOption(cmd)
  addJsonOption(cmd)
  cmd.action(async (opts: DataDirOptions & { json?: boolean }) => {
    const { verifyDataDir, verifyFailed } = await import('../../node/offline/verify.js')
    const r = await withReadableDataDir(dataDirOf(opts), async dir => await verifyDataDir(dir))
    if (opts.json === true) {
      printJson(io, { ...r, ok: !verifyFailed(r) })
    } else {
      const rate = r.ms > 0 ? Math.round(r.events / (r.ms / 1000)) : r.events
      io.out(`verified ${r.events} events in ${(r.ms / 1000).toFixed(2)} s on ${r.threads} core${r.threads === 1 ? '' : 's'} (${rate} events/s)\n`)
      io.out(`ids, form and signatures: ${r.byteFaults.length === 0 ? 'ok' : `${r.byteFaults.length} fault${r.byteFaults.length === 1 ? '' : 's'}`}\n`)
      for (const f of r.byteFaults) io.out(`  ${f.id}: ${f.code}: ${f.message}\n`)
      io.out(`causal structure: ${r.causalFaults.length === 0 ? 'ok' : `${r.causalFaults.length} fault${r.causalFaults.length === 1 ? '' : 's'}`}\n`)
      for (const f of r.causalFaults) io.out(`  ${f.id}: ${f.code}: ${f.message}\n`)
      io.out(`ownership rule: ${r.voids === 0 ? 'no void events' : `${r.voids} void event${r.voids === 1 ? '' : 's'}, kept and flagged (\`weft conflicts\` lists them)`}\n`)
      io.out(`saved ring snapshot: ${snapshotLine(r)}\n`)
    }
    if (verifyFailed(r)) {
      const n = r.byteFaults.length + r.causalFaults.length + (r.snapshot === 'differs' || r.snapshot === 'malformed' ? 1 : 0)
      throw new CliError(`${n} fault${n === 1 ? '' : 's'} in ${dataDirOf(opts)}`)
    }
  })
}
