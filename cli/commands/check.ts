import type { Command } from 'commander'
import { addDataDirOption, addJsonOption, dataDirOf, printJson, type DataDirOptions } from '../common.js'
import { CliError } from '../errors.js'
import type { CliIo } from '../main.js'
import { withReadableDataDir } from '../../node/offline/readable.js'

export function registerCheck (program: Command, io: CliIo): void {
  const cmd = program.command('check')
    .summary('report what needs an operator: disputes, stranded space, lost allocations, equivocations')
    .description('A report in the spirit of `calicoctl ipam check`: open disputes, space owned by removed peers, ' +
      'this peer\'s allocations outside the space it owns (they may be handed out twice), and equivocations (a cloned identity). ' +
      'Exits 1 when it finds a problem. Reads the data dir only (offline too).')
  addDataDirOption(cmd)
  addJsonOption(cmd)
  cmd.action(async (opts: DataDirOptions & { json?: boolean }) => {
    const { checkDataDir, checkProblems, formatCheck } = await import('../../node/offline/check.js')
    const r = await withReadableDataDir(dataDirOf(opts), checkDataDir)
    if (opts.json === true) printJson(io, { ...r, problems: checkProblems(r) })
    else io.out(formatCheck(r))
    const n = checkProblems(r)
    if (n > 0) throw new CliError(`${n} problem${n === 1 ? '' : 's'} found`)
  })
}
