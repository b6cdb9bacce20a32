/**
 * Errors the CLI prints as one line, `weft: <message>`, with an exit status.
 * Usage mistakes exit 2, everything else 1 (CLI.md).
 */
export class CliError extends Error {
  override name = 'CliError'
  readonly exitCode: number

  constructor (message: string, exitCode = 1) {
    super(message)
    this.exitCode = exitCode
  }
}

export class UsageError extends CliError {
  override name = 'UsageError'

  constructor (message: string) {
    super(message, 2)
  }
}
