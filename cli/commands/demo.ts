import type { Command } from 'commander'
import { CliError } from '../errors.js'
import type { CliIo } from '../main.js'

export function registerDemo (program: Command, io: CliIo): void {
  program.command('demo')
    .summary('run three local peers and walk through a cluster\'s life')
    .description('Starts three peers on 127.0.0.1 in temporary data dirs and walks through launch, allocation by donation, ' +
      'stop and relaunch, rmpeer, a duplicate rmpeer becoming a flagged dispute, and resolve, running the real commands and ' +
      'explaining each step. Cleans up after itself, also on Ctrl-C. Takes about a minute.')
    .action(async () => {
      const { Demo } = await import('../demo.js')
      const demo = new Demo(io)
      const onSignal = (): void => {
        io.err('\nweft demo: interrupted; cleaning up\n')
        void demo.cleanup().finally(() => { process.exit(130) })
      }
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
      try {
        await demo.run()
      } catch (err) {
        throw new CliError(`demo failed: ${(err as Error).message}`)
      } finally {
        await demo.cleanup()
        process.removeListener('SIGINT', onSignal)
        process.removeListener('SIGTERM', onSignal)
      }
    })
}
