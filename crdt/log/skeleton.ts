import { automerge, type AutomergeDoc } from './automerge-raw.js'

/**
 * The log document's skeleton: one Automerge change (actor 00…00, time 0)
 * that creates `events` and its 16×16×16 bucket maps (DESIGN.md §2.5).
 * Generated once by scripts/gen-skeleton.ts and committed as bytes: every
 * peer starts from exactly these bytes, so all share one `events` map.
 * test/crdt/log.test.ts pins the hash; never regenerate it.
 */
export const SKELETON_BYTES: Uint8Array = new Uint8Array(Buffer.from(
  'hW9Kg6VsK6sAxwUBEAAAAAAAAAAAAAAAAAAAAAABzumC+a4jp4ezVANB8pbdNVKs3V3F13Z9veunC82Vlg4GAQIDAhMDIwJAAlYCCQEFCtcDHXchAyMDNAJCA1YDgAEDfwB/AX+RIn8AfwB/BwABkCIABcEHABBSAAVA7xdKxkVpITIbUiGbCtlllEoJUcnee7T3tNIQocy0NYxQKtpE9iZ77323SURRQUWb2szmKqlsC1VsaStb2wZVbWs71VS3vRpqqqW2Onawo53UtbNd1LOr3exuD3vaS30NNNTI3hrbRxNNNbOv/eyvuQMc6CAHO8ShDnO4I7TQUitHOsrRWjvGsY5zvBOc6CRttHWyU5zqNO20d7oOOurkDJ11caauznK2c3RzrvN010NP5+vlAhe6yMUucanLXO4KV7rK1a5xretc7wY3usnNbnGr3tEn+ka/6B8DYmAMisExJIbGsBgeI2JkjIrRMSZui9vjjrgz7oqxcXeMi/ExISbGPTEp7o37YnLcHw/EgzElpsZD8XA8Eo/GY/F4TIsnYnrMiJkxK2bHnJgbT8a8mB8LYmE8FU/HM/FsLIrn4vl4IRbHkngxlsayWB4vxcuxIlbGqlgda2JtrItX4tVYH6/F67Eh3og34614O96Jd+O9eD8+iA/jo/g4PolP47PYGJ/HF/FlfBVfxzfxbXwX38cP8WP8FD/HL/Fr/Ba/xx/xZ/wVf8c/8W/8F72LPkXfol/RvxhQDCwGFYOLIcXQYlgxvBhRjCxGFaOLMeV/7di5DQIxFEVR3WTqYZsBiiFgMSHJINqmBepAOrEzy/7/vfO9TOMzXu+1Tdt27Ts0t3Ts1Llrt+49Gj2dux/vw/8wH8xH+8F+lA/kI/lQPtYP9CP9UD/mA3yAD/ABPsAH+AAf4AN8gA/wAT7AB/gAH+AD/XU//gGRIgCRIgGRIpEiAJEiAJEiAAA=',
  'base64'))

export const SKELETON_SHA256 = 'e402b6a6c5fa43b15f1b7ad9dfcbdec6cace3cbd2be84c5fdfc553d1e87f8d51'
export const SKELETON_CHANGE_HASH = 'cee982f9ae23a787b3540341f296dd3552acdd5dc5d7767dbdeba70bcd95960e'

const HEX = '0123456789abcdef'
let buckets: Map<string, string> | undefined

/**
 * Bucket object ids by 3-hex-digit prefix. Object ids are `counter@actor` of
 * the skeleton's ops, so they are the same in every document built on it.
 */
export function bucketIds (): Map<string, string> {
  if (buckets !== undefined) return buckets
  const doc: AutomergeDoc = automerge.load(SKELETON_BYTES)
  try {
    const map = new Map<string, string>()
    const events = objId(doc.get('_root', 'events'))
    for (const a of HEX) {
      const l1 = objId(doc.get(events, a))
      for (const b of HEX) {
        const l2 = objId(doc.get(l1, b))
        for (const c of HEX) map.set(a + b + c, objId(doc.get(l2, c)))
      }
    }
    buckets = map
    return map
  } finally {
    doc.free()
  }
}

function objId (value: unknown): string {
  // The handle's get() returns an object's id as a string for map values.
  if (typeof value !== 'string') throw new Error('skeleton does not have the expected bucket maps')
  return value
}

export function bucketOf (id: string): string {
  const b = bucketIds().get(id.slice(0, 3))
  if (b === undefined) throw new Error(`no bucket for id ${id}`)
  return b
}
