/**
 * The base of weft's own errors (DESIGN.md §6): each class has a stable
 * `name`, each error a `code` from its class's union. Callers match them by
 * class (`instanceof`) or by code, never by comparing name strings; errors
 * that cross the log worker or the control API travel as {name, code,
 * message} and are matched by code on the other side.
 */
export class WeftError<C extends string = string> extends Error {
  readonly code: C

  constructor (code: C, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}

/** The code of a weft error, or of one that crossed a boundary as {name, code, message}. */
export function errorCode (err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code
  return typeof code === 'string' ? code : undefined
}
