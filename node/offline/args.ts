import { EVENT_KINDS } from '../../crdt/events/types.js'

/**
 * What the offline commands' option parsers need, kept apart from the
 * readers and the fold so that parsing a command line loads neither.
 */

/** Kinds `weft history --kind` accepts: every event kind, and `future` (a kind newer than this weft). */
export const HISTORY_KINDS: readonly string[] = [...EVENT_KINDS, 'future']

/** ISO 8601 (a date, or a date and time) or epoch milliseconds; undefined if it is neither. */
export function parseTime (text: string): number | undefined {
  if (/^\d{1,16}$/.test(text)) return Number(text)
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i.test(text)) {
    const t = Date.parse(text)
    return Number.isNaN(t) ? undefined : t
  }
  return undefined
}
