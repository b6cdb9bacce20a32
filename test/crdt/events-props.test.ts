import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import * as dagCbor from '@ipld/dag-cbor'
import { concat } from 'uint8arrays/concat'
import {
  createGenesis, decodeEvent, EventError, eventId, MAX_EVENT_BYTES, signEvent, type AuthoredEvent, type EventErrorCode,
  type SignedEvent, type UnsignedEvent
} from '../../crdt/events/index.js'
import {
  arbCborTweak, arbGenesisBody, arbSignedEvent, arbUnsignedEvent, AUTHORED_KINDS, cborTweakSites, encodeCbor, signerFor
} from '../helpers/arbitraries.js'

/**
 * Properties of the event codec (DESIGN.md §2.1): canonical bytes round-trip
 * exactly, and every other byte string is refused with a typed EventError.
 */

const RUNS = { numRuns: 200 }

type Wire = Record<string, unknown>

/** Runs fn; returns the EventError it threw, fails on any other exception, returns undefined if it did not throw. */
function eventErrorOf (fn: () => unknown): EventError | undefined {
  try {
    fn()
  } catch (err) {
    if (err instanceof EventError) return err
    assert.fail(`expected EventError, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`)
  }
  return undefined
}

function mustReject (fn: () => unknown, codes?: readonly EventErrorCode[]): EventError {
  const err = eventErrorOf(fn)
  assert.ok(err !== undefined, 'expected an EventError, but it decoded')
  if (codes !== undefined) assert.ok(codes.includes(err.code), `expected ${codes.join(' or ')}, got ${err.code}: ${err.message}`)
  return err
}

const unsignedOf = (e: AuthoredEvent): UnsignedEvent => {
  const { v: _v, ...rest } = e
  return rest as UnsignedEvent
}

const arbGenesis = arbGenesisBody.map(body => createGenesis(body))
const arbAnyEvent: fc.Arbitrary<SignedEvent> = fc.oneof({ weight: 6, arbitrary: arbSignedEvent() }, { weight: 1, arbitrary: arbGenesis })

/** A random value of the DAG-CBOR data model, for replacing parts of an event. */
const arbDagValue: fc.Arbitrary<unknown> = fc.letrec(tie => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer(), fc.maxSafeNat(), fc.bigInt({ min: -(2n ** 64n) + 1n, max: 2n ** 64n - 1n }), fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string(), fc.constantFrom('genesis', 'join', 'transfer', 'takeover', 'leave', 'conflict', 'resolve', 'future', 'dispute'),
    fc.uint8Array({ maxLength: 40 }), fc.constant(null), fc.boolean(),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), tie('value'), { maxKeys: 4, noNullPrototype: true })
  )
})).value

/** Replaces the `at`-th node (pre-order, keys excluded) of a decoded value tree. */
function replaceNode (value: unknown, at: number, replacement: unknown): unknown {
  let index = 0
  const walk = (v: unknown): unknown => {
    if (index++ === at) return replacement
    if (Array.isArray(v)) return v.map(walk)
    if (typeof v === 'object' && v !== null && !(v instanceof Uint8Array)) {
      return Object.fromEntries(Object.entries(v as Wire).map(([k, x]) => [k, walk(x)]))
    }
    return v
  }
  return walk(value)
}

function countNodes (value: unknown): number {
  let n = 1
  if (Array.isArray(value)) for (const x of value) n += countNodes(x)
  else if (typeof value === 'object' && value !== null && !(value instanceof Uint8Array)) for (const x of Object.values(value)) n += countNodes(x)
  return n
}

describe('event codec properties: round trip', () => {
  for (const kind of AUTHORED_KINDS) {
    test(`${kind}: sign, decode, re-sign gives the same bytes, id and event`, () => {
      fc.assert(fc.property(arbUnsignedEvent({ kinds: [kind] }), unsigned => {
        const signer = signerFor(unsigned.author)
        const signed = signEvent(unsigned, signer)
        assert.equal(signed.id, eventId(signed.bytes))
        const decoded = decodeEvent(signed.bytes, { expectedId: signed.id })
        assert.equal(decoded.id, signed.id)
        assert.deepEqual(decoded.bytes, signed.bytes)
        assert.deepEqual(decoded.event, signed.event)
        // The decoded event is exactly what was signed (the arbitraries produce canonical order).
        assert.deepEqual(decoded.event, { v: kind === 'checkpoint' ? 3 : 1, ...unsigned })
        // Ed25519 is deterministic: re-signing the decoded fields reproduces the bytes.
        const again = signEvent(unsignedOf(decoded.event as AuthoredEvent), signer)
        assert.deepEqual(again.bytes, signed.bytes)
        assert.equal(again.id, signed.id)
        // The test's own CBOR encoder agrees with @ipld/dag-cbor on canonical form.
        assert.deepEqual(encodeCbor(dagCbor.decode(signed.bytes)), signed.bytes)
        assert.ok(signed.bytes.length <= MAX_EVENT_BYTES)
      }), RUNS)
    })
  }

  test('genesis: create, decode, re-create gives the same bytes and id', () => {
    fc.assert(fc.property(arbGenesisBody, fc.func(fc.integer()), (body, order) => {
      const g = createGenesis(body)
      const decoded = decodeEvent(g.bytes, { expectedId: g.id })
      assert.deepEqual(decoded.event, g.event)
      assert.deepEqual(decoded.event, { v: 1, kind: 'genesis', lamport: 1, deps: [], body })
      // Any seed order gives the same genesis.
      const shuffled = [...body.seeds].sort((a, b) => order(a) - order(b) || (a < b ? -1 : 1))
      assert.equal(createGenesis({ ranges: body.ranges, seeds: shuffled }).id, g.id)
      assert.deepEqual(encodeCbor(dagCbor.decode(g.bytes)), g.bytes)
    }), RUNS)
  })
})

describe('event codec properties: tampering', () => {
  test('changing any single byte of a signed event makes it fail to decode', () => {
    fc.assert(fc.property(
      arbSignedEvent(), fc.nat(), fc.integer({ min: 1, max: 255 }),
      (signed, pos, delta) => {
        const bytes = Uint8Array.from(signed.bytes)
        const i = pos % bytes.length
        bytes[i] = (bytes[i]! + delta) & 0xff
        const err = eventErrorOf(() => decodeEvent(bytes))
        if (err === undefined) {
          // Would mean an unsigned part of a signed event: report it loudly.
          assert.fail(`byte ${i} of a ${signed.event.kind} changed by +${delta} still decodes: ${Buffer.from(bytes).toString('hex')}`)
        }
      }
    ), { numRuns: 1000 })
  })

  test('every byte position of one event of each kind is protected', () => {
    fc.assert(fc.property(arbSignedEvent(), fc.integer({ min: 1, max: 255 }), (signed, delta) => {
      for (let i = 0; i < signed.bytes.length; i++) {
        const bytes = Uint8Array.from(signed.bytes)
        bytes[i] = (bytes[i]! + delta) & 0xff
        const err = eventErrorOf(() => decodeEvent(bytes))
        assert.ok(err !== undefined, `byte ${i} of a ${signed.event.kind} changed by +${delta} still decodes`)
      }
    }), { numRuns: 30 })
  })

  test('genesis is unsigned: a changed byte either fails or changes the id (the cluster id is its protection)', () => {
    fc.assert(fc.property(arbGenesis, fc.nat(), fc.integer({ min: 1, max: 255 }), (g, pos, delta) => {
      const bytes = Uint8Array.from(g.bytes)
      const i = pos % bytes.length
      bytes[i] = (bytes[i]! + delta) & 0xff
      mustReject(() => decodeEvent(bytes, { expectedId: g.id }), ['wrong-id'])
      const err = eventErrorOf(() => decodeEvent(bytes))
      if (err === undefined) assert.notEqual(eventId(bytes), g.id)
    }), { numRuns: 500 })
  })

  test('replacing any field value with another value fails, whatever the value', () => {
    fc.assert(fc.property(
      arbSignedEvent().chain(s => {
        const wire = dagCbor.decode(s.bytes)
        return fc.tuple(fc.constant(s), fc.constant(wire), fc.integer({ min: 0, max: countNodes(wire) - 1 }), arbDagValue)
      }),
      ([signed, wire, at, replacement]) => {
        const tampered = replaceNode(wire, at, replacement)
        let bytes: Uint8Array
        try {
          bytes = dagCbor.encode(tampered)
        } catch {
          return // e.g. a float that DAG-CBOR cannot encode: nothing to send
        }
        if (bytes.length === signed.bytes.length && Buffer.compare(bytes, signed.bytes) === 0) return // replaced by an equal value
        mustReject(() => decodeEvent(bytes))
        // Without verification the result may decode, but never with another exception type.
        eventErrorOf(() => decodeEvent(bytes, { verifier: null }))
      }
    ), { numRuns: 500 })
  })
})

describe('event codec properties: canonical form', () => {
  test('a single non-canonical encoding choice anywhere is refused as non-canonical or undecodable', () => {
    fc.assert(fc.property(
      arbAnyEvent.chain(s => {
        const wire = dagCbor.decode(s.bytes)
        return fc.tuple(fc.constant(s), fc.constant(wire), arbCborTweak(wire))
      }),
      ([signed, wire, tweak]) => {
        const bytes = encodeCbor(wire, tweak)
        assert.notDeepEqual(bytes, signed.bytes)
        mustReject(() => decodeEvent(bytes), ['non-canonical', 'undecodable'])
        // Even for bytes from our own store.
        mustReject(() => decodeEvent(bytes, { verifier: null }), ['non-canonical', 'undecodable'])
      }
    ), { numRuns: 500 })
  })

  test('each kind of non-canonical choice occurs and maps to the expected code', () => {
    // A fixed transfer, every tweak at every site: strict decoding refuses
    // non-minimal heads and indefinite lengths (undecodable); a float for an
    // integer or keys out of order decode but do not re-encode the same (non-canonical).
    const seen = new Map<string, Set<EventErrorCode>>()
    fc.assert(fc.property(arbSignedEvent({ kinds: ['transfer', 'conflict'] }), signed => {
      const wire = dagCbor.decode(signed.bytes)
      for (const site of cborTweakSites(wire)) {
        for (const how of site.hows) {
          const tweaks = how === 'wide-head' ? [1, 2, 3].map(extra => ({ at: site.at, how, extra } as const)) : [{ at: site.at, how } as const]
          for (const tweak of tweaks) {
            let bytes: Uint8Array
            try {
              bytes = encodeCbor(wire, tweak)
            } catch {
              continue // widening past 8 bytes
            }
            const err = mustReject(() => decodeEvent(bytes), ['non-canonical', 'undecodable'])
            const codes = seen.get(how) ?? new Set()
            codes.add(err.code)
            seen.set(how, codes)
          }
        }
      }
    }), { numRuns: 10 })
    assert.deepEqual([...seen.get('wide-head')!], ['undecodable'])
    assert.deepEqual([...seen.get('indefinite')!], ['undecodable'])
    assert.deepEqual([...seen.get('float')!], ['non-canonical'])
    assert.deepEqual([...seen.get('reverse-keys')!], ['non-canonical'])
  })

  test('a conflict whose evidence is a non-canonical encoding of a valid event is malformed', () => {
    fc.assert(fc.property(
      arbSignedEvent({ kinds: ['conflict'] }).chain(s => {
        const outer = dagCbor.decode(s.bytes) as Wire
        const evidence = ((outer.body as Wire).evidence as Uint8Array[])[0]!
        const inner = dagCbor.decode(evidence)
        return fc.tuple(fc.constant(s), fc.constant(outer), arbCborTweak(inner).map(t => encodeCbor(inner, t)))
      }),
      ([signed, outer, badEvidence]) => {
        const body = outer.body as Wire
        const tampered: Wire = { ...outer, body: { ...body, evidence: [badEvidence, ...(body.evidence as Uint8Array[]).slice(1)] } }
        // Re-sign the outer event so that only the evidence is at fault.
        const { sig: _omit, ...unsigned } = tampered
        const encoded = dagCbor.encode(unsigned)
        const domain = new TextEncoder().encode('weft/event\n')
        const payload = concat([domain, encoded])
        const author = (signed.event as AuthoredEvent).author
        const bytes = dagCbor.encode({ ...unsigned, sig: signerFor(author).sign(payload) })
        const err = mustReject(() => decodeEvent(bytes), ['malformed'])
        assert.match(err.message, /evidence/)
      }
    ), { numRuns: 200 })
  })
})

describe('event codec properties: garbage', () => {
  test('every truncation of a valid event is refused with an EventError', () => {
    fc.assert(fc.property(arbAnyEvent, fc.nat(), (signed, cut) => {
      const n = cut % signed.bytes.length
      mustReject(() => decodeEvent(signed.bytes.subarray(0, n)))
      mustReject(() => decodeEvent(signed.bytes.subarray(0, n), { verifier: null }))
    }), { numRuns: 500 })
  })

  test('random bytes are refused with an EventError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2048 }), bytes => {
      mustReject(() => decodeEvent(bytes))
    }), { numRuns: 1000 })
  })

  test('random bytes after a valid CBOR head are refused with an EventError', () => {
    // Starting like an event (a map of 9 entries, key "v") gets past the first byte more often.
    fc.assert(fc.property(fc.constantFrom(Uint8Array.of(0xa9), Uint8Array.of(0xa9, 0x61, 0x76, 0x01), Uint8Array.of(0xa5, 0x61, 0x76, 0x01)), fc.uint8Array({ maxLength: 512 }), (prefix, tail) => {
      mustReject(() => decodeEvent(Uint8Array.from([...prefix, ...tail])))
    }), { numRuns: 1000 })
  })

  test('random well-formed DAG-CBOR values are refused with an EventError', () => {
    fc.assert(fc.property(arbDagValue, value => {
      let bytes: Uint8Array
      try {
        bytes = dagCbor.encode(value)
      } catch {
        return
      }
      mustReject(() => decodeEvent(bytes))
      mustReject(() => decodeEvent(bytes, { verifier: null }))
    }), { numRuns: 1000 })
  })

  test('deep nesting and huge declared lengths are refused with an EventError', () => {
    const depth = MAX_EVENT_BYTES - 1
    const nested = new Uint8Array(depth + 1).fill(0x81)
    nested[depth] = 0x00 // [[[...[0]...]]]
    mustReject(() => decodeEvent(nested))
    // Maps as keys of maps, as deep as fits (DAG-CBOR keys are text).
    const maps = new Uint8Array(depth + 1).fill(0xa1)
    mustReject(() => decodeEvent(maps))
    // Lengths far beyond the input.
    mustReject(() => decodeEvent(Uint8Array.of(0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), ['undecodable'])
    mustReject(() => decodeEvent(Uint8Array.of(0x9b, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff)), ['undecodable'])
    mustReject(() => decodeEvent(Uint8Array.of(0xbb, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00)), ['undecodable'])
    // A CID (tag 42) where an event should be.
    mustReject(() => decodeEvent(Uint8Array.of(0xd8, 0x2a, 0x45, 0x00, 0x01, 0x55, 0x00, 0x00)))
  })
})
