import { main } from '../../cli/main.js'

/** What one in-process `weft …` run printed, and its exit code. */
export interface Run { code: number, out: string, err: string }

/** Runs the CLI's main() in this process, capturing stdout and stderr (for tests against fake or offline daemons). */
export async function weft (...args: string[]): Promise<Run> {
  let out = ''
  let err = ''
  const code = await main(['node', 'weft', ...args], { out: t => { out += t }, err: t => { err += t } })
  return { code, out, err }
}
