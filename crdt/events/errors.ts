/**
 * Why an event's bytes were refused. Every code is a structural fault that
 * cannot be attributed to a valid author action, so the supplier is hung up
 * on (DESIGN.md §2.1); authority faults make events void instead and are the
 * fold's business, not the codec's.
 */
export type EventErrorCode =
  | 'oversized'        // more bytes than MAX_EVENT_BYTES
  | 'undecodable'      // not DAG-CBOR
  | 'non-canonical'    // decodes, but re-encodes to different bytes
  | 'malformed'        // wrong fields, types or values for its kind (a missing or mis-sized sig too)
  | 'unknown-kind'     // a kind this event-format version does not have
  | 'bad-signature'    // a well-formed signature that is not by `author`
  | 'wrong-id'         // bytes do not hash to the claimed id

export class EventError extends Error {
  override name = 'EventError'
  readonly code: EventErrorCode

  constructor (code: EventErrorCode, message: string) {
    super(message)
    this.code = code
  }
}
