import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import * as dagCbor from '@ipld/dag-cbor'
import { decodeCanonical, mapHead } from '../../crdt/events/canonical-cbor.js'

/**
 * The fast decoder's two claims (crdt/events/canonical-cbor.ts): what it
 * accepts is exactly what @ipld/dag-cbor decodes from those bytes, and the
 * bytes are canonical (re-encoding the value gives them back). It must also
 * accept the canonical encodings of the values it handles, or it is no use.
 */

const RUNS = { numRuns: 500 }

const asciiText = fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map(c => String.fromCharCode(c)), maxLength: 40 })
const anyText = fc.string({ unit: 'binary', maxLength: 20 })

/** Values of the DAG-CBOR data model without floats or links; ASCII text only when `ascii`. */
function arbValue (ascii: boolean): fc.Arbitrary<unknown> {
  const text = ascii ? asciiText : fc.oneof(asciiText, anyText)
  const { value } = fc.letrec<{ value: unknown }>(tie => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.maxSafeInteger(),
      fc.integer({ min: -300, max: 300 }),
      fc.constantFrom(0, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER),
      fc.uint8Array({ maxLength: 70 }),
      text,
      fc.boolean(),
      fc.constant(null),
      fc.array(tie('value'), { maxLength: 30 }),
      fc.dictionary(text.filter(k => k !== '__proto__'), tie('value'), { maxKeys: 30 })
    )
  }))
  return value
}

/** The claims, for any bytes: refused, or decoded exactly as dag-cbor does and canonical. */
function checkBytes (bytes: Uint8Array): boolean {
  const r = decodeCanonical(bytes)
  if (r === undefined) return false
  const general = dagCbor.decode(bytes) // throws (failing the test) if the fast decoder took bytes dag-cbor refuses
  assert.deepEqual(r.value, general)
  assert.deepEqual(new Uint8Array(dagCbor.encode(r.value)), new Uint8Array(bytes)) // both plain: cborg hands back a Buffer
  return true
}

describe('canonical DAG-CBOR decoder', () => {
  test('decodes every canonical encoding of ASCII-text values as dag-cbor does', () => {
    fc.assert(fc.property(arbValue(true), v => {
      const bytes = dagCbor.encode(v)
      assert.ok(checkBytes(bytes), 'refused a canonical encoding it handles')
    }), RUNS)
  })

  test('anything it accepts is canonical and decodes as dag-cbor does', () => {
    fc.assert(fc.property(arbValue(false), v => { checkBytes(dagCbor.encode(v)) }), RUNS)
  })

  test('altered encodings: refused, or canonical and decoded as dag-cbor does', () => {
    const altered = fc.tuple(arbValue(true), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), { minLength: 1, maxLength: 4 }))
      .map(([v, edits]) => {
        const b = [...dagCbor.encode(v)]
        for (const [at, byte, op] of edits) {
          const i = b.length === 0 ? 0 : at % (b.length + (op === 'insert' ? 1 : 0))
          if (op === 'set' && b.length > 0) b[i] = byte
          else if (op === 'insert') b.splice(i, 0, byte)
          else if (op === 'delete' && b.length > 1) b.splice(i, 1)
        }
        return Uint8Array.from(b)
      })
    fc.assert(fc.property(altered, bytes => { checkBytes(bytes) }), { numRuns: 3000 })
  })

  test('random bytes: refused, or canonical and decoded as dag-cbor does', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), bytes => { checkBytes(bytes) }), { numRuns: 3000 })
  })

  test('long texts and byte strings (an event may be 64 KiB)', () => {
    for (const n of [16, 17, 4095, 4096, 4097, 65_000]) {
      assert.ok(checkBytes(dagCbor.encode({ text: 'x'.repeat(n), bytes: new Uint8Array(n).fill(7) })), `${n}`)
    }
  })

  test('refuses what is valid CBOR but not canonical DAG-CBOR', () => {
    const cases: Array<[string, number[]]> = [
      ['integer not in its shortest form', [0x18, 0x05]],
      ['length not in its shortest form', [0x58, 0x01, 0xaa]],
      ['map keys out of order', [0xa2, 0x61, 0x62, 0x01, 0x61, 0x61, 0x02]],
      ['longer key first', [0xa2, 0x62, 0x61, 0x61, 0x01, 0x61, 0x62, 0x02]],
      ['duplicate key', [0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02]],
      ['indefinite array', [0x9f, 0x01, 0xff]],
      ['float', [0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]],
      ['undefined', [0xf7]],
      ['tag', [0xd8, 0x2a, 0x41, 0x00]],
      ['trailing bytes', [0x01, 0x02]],
      ['truncated', [0x62, 0x61]],
      ['__proto__ key', [0xa1, 0x69, ...[...'__proto__'].map(c => c.charCodeAt(0)), 0x01]],
      ['integer beyond 2^53', [0x1b, 0x00, 0x20, 0, 0, 0, 0, 0, 0]]
    ]
    for (const [what, bytes] of cases) assert.equal(decodeCanonical(Uint8Array.from(bytes)), undefined, what)
  })

  test('the root map\'s entries cover its bytes in order, after its head', () => {
    fc.assert(fc.property(fc.dictionary(asciiText.filter(k => k !== '__proto__'), arbValue(true), { maxKeys: 30 }), m => {
      const bytes = dagCbor.encode(m)
      const r = decodeCanonical(bytes, { entries: true })!
      const keys = Object.keys(m).length
      assert.deepEqual(r.entries.map(e => e.key).sort(), Object.keys(m).sort()) // in byte order, not JS property order
      const head = mapHead(keys)
      assert.deepEqual([...bytes.subarray(0, head.length)], [...head])
      let at = head.length
      for (const e of r.entries) {
        assert.equal(e.start, at)
        const entry = [...dagCbor.encode(e.key), ...dagCbor.encode((m as Record<string, unknown>)[e.key])]
        assert.deepEqual([...bytes.subarray(e.start, e.end)], entry)
        at = e.end
      }
      assert.equal(at, bytes.length)
    }), RUNS)
  })
})
