/**
 * Why the log refused bytes from a peer. Every code is grounds to hang up on
 * the supplier (DESIGN.md §2.1, §2.5).
 */
export type LogErrorCode =
  | 'bad-message'     // not an Automerge sync message, or Automerge refused it
  | 'bad-change'      // a change that is not exactly the change of its event
  | 'bad-event'       // the event inside a change failed strict decoding
  | 'bad-append'      // a local append that does not fit the document (a bug)

export class LogError extends Error {
  override name = 'LogError'
  readonly code: LogErrorCode

  constructor (code: LogErrorCode, message: string) {
    super(message)
    this.code = code
  }
}
