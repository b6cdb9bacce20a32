import type { Command } from 'commander'
import type { CliIo } from '../main.js'
import { registerAlloc } from './alloc.js'
import { registerAudit } from './audit.js'
import { registerClaim } from './claim.js'
import { registerConflicts } from './conflicts.js'
import { registerConnect } from './connect.js'
import { registerForget } from './forget.js'
import { registerHistory } from './history.js'
import { registerId } from './id.js'
import { registerLaunch } from './launch.js'
import { registerLs } from './ls.js'
import { registerRelease } from './release.js'
import { registerReplay } from './replay.js'
import { registerStatus } from './status.js'
import { registerStop } from './stop.js'
import { registerWaitReady } from './wait-ready.js'
import { registerRmpeer } from './rmpeer.js'
import { registerResolve } from './resolve.js'
import { registerReset } from './reset.js'
import { registerDemo } from './demo.js'
import { registerVerify } from './verify.js'
import { registerCheck } from './check.js'

/** Registers every command on the program. Each command lives in its own file. */
export function registerCommands (program: Command, io: CliIo): void {
  registerLaunch(program, io)
  registerId(program, io)
  registerStatus(program, io)
  registerConnect(program, io)
  registerForget(program, io)
  registerWaitReady(program, io)
  registerStop(program, io)
  registerRmpeer(program, io)
  registerResolve(program, io)
  registerReset(program, io)
  registerDemo(program, io)
  registerVerify(program, io)
  registerCheck(program, io)
  registerAlloc(program, io)
  registerClaim(program, io)
  registerRelease(program, io)
  registerLs(program, io)
  registerHistory(program, io)
  registerReplay(program, io)
  registerAudit(program, io)
  registerConflicts(program, io)
}
