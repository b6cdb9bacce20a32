/**
 * Scoped loggers (DESIGN.md §6): each component gets `logger.forComponent('weft:sync')`.
 * Lines go to one sink (the data dir's log file, and stderr in the
 * foreground) as `TIME LEVEL component message`.
 */
import { printable } from '../packages/printable/index.js'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export interface Logger {
  debug: (message: string) => void
  info: (message: string) => void
  warn: (message: string) => void
  error: (message: string) => void
  forComponent: (component: string) => Logger
}

export interface LogSink {
  write: (level: LogLevel, component: string, message: string) => void
}

export function createLogger (sink: LogSink, component = 'weft'): Logger {
  return {
    debug: m => { sink.write('debug', component, m) },
    info: m => { sink.write('info', component, m) },
    warn: m => { sink.write('warn', component, m) },
    error: m => { sink.write('error', component, m) },
    forComponent: c => createLogger(sink, c)
  }
}

/** A sink that formats lines and passes those at or above `level` to `out`. */
export function lineSink (out: (line: string) => void, level: LogLevel = 'info', now: () => number = Date.now): LogSink {
  return {
    write (lvl, component, message) {
      if (ORDER[lvl] < ORDER[level]) return
      // One line each, whatever the message holds: a control character in it (a
      // remote host's text that no boundary escaped) cannot forge or end a line.
      out(`${new Date(now()).toISOString()} ${lvl.toUpperCase().padEnd(5)} ${printable(component)} ${printable(message)}\n`)
    }
  }
}

export const silentLogger: Logger = createLogger({ write () {} })

export function parseLogLevel (text: string | undefined): LogLevel {
  return text === 'debug' || text === 'warn' || text === 'error' ? text : 'info'
}
