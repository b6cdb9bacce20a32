import assert from 'node:assert/strict'
import { EventError, type EventErrorCode } from '../../crdt/events/index.js'

/** Asserts that `fn` throws an EventError with `code` (and, if given, a message matching `message`). */
export function rejects (fn: () => unknown, code: EventErrorCode, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof EventError, `expected EventError, got ${String(err)}`)
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`)
    if (message !== undefined) assert.match(err.message, message)
    return true
  })
}
