/**
 * One error type for every bad input, so callers (CLI, RPC handlers) can tell
 * "the user typed something wrong" apart from bugs with a single instanceof.
 * `code` lets them branch without parsing the message.
 */
export type NetaddrErrorCode =
  | 'invalid-address'
  | 'invalid-cidr'
  | 'host-bits-set'
  | 'invalid-span'
  | 'family-mismatch'
  | 'invalid-argument'

export class NetaddrError extends Error {
  readonly code: NetaddrErrorCode

  constructor (code: NetaddrErrorCode, message: string) {
    super(message)
    this.code = code
  }
}

// On the prototype rather than as an own field so the stack header reads
// "NetaddrError: …" (V8 reads `name` while Error's constructor runs) and so
// util.inspect does not print a redundant `name` property.
Object.defineProperty(NetaddrError.prototype, 'name', {
  value: 'NetaddrError', writable: true, configurable: true, enumerable: false
})

const MAX_QUOTED = 80

/**
 * Render untrusted input for an error message: JSON quoting keeps the message
 * on one line whatever the input contains, and the cut keeps a pasted blob
 * from flooding logs.
 */
export function quote (input: unknown): string {
  if (typeof input === 'string') {
    const cut = input.length > MAX_QUOTED ? input.slice(0, MAX_QUOTED) + '…' : input
    return JSON.stringify(cut)
  }
  if (typeof input === 'bigint') return `${input}n`
  if (typeof input === 'function') return '[function]'
  if (input === null || typeof input !== 'object') return String(input)
  return Object.prototype.toString.call(input)
}
