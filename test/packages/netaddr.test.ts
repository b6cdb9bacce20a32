import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  type Cidr, type Family, type Span, RangeSet, NetaddrError,
  address, addressFromBytes, addressToBytes, cidr, cidrContains, cidrFromBytes, cidrSize, cidrSpan,
  cidrToBytes, compareCidr, familyBits, formatAddress, formatCidr, halveIntoBlocks, parseAddress,
  parseCidr, spanToCidrs
} from '../../packages/netaddr/index.js'

const RUNS = { numRuns: 300 }
const V4_END = 2n ** 32n
const V6_END = 2n ** 128n

const fmt = (cs: Cidr[]): string[] => cs.map(formatCidr)
const v = (s: string): bigint => parseAddress(s).value
const rejects = (fn: () => unknown, message?: string | RegExp, code?: string): void => {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof NetaddrError, `expected NetaddrError, got ${String(err)}`)
    assert.equal(err.name, 'NetaddrError')
    assert.ok(!err.message.includes('\n'), 'message is one line')
    if (typeof message === 'string') assert.equal(err.message, message)
    if (message instanceof RegExp) assert.match(err.message, message)
    if (code !== undefined) assert.equal(err.code, code)
    return true
  })
}

describe('addresses', () => {
  test('IPv4 parse and format', () => {
    for (const [text, value] of [['0.0.0.0', 0n], ['255.255.255.255', V4_END - 1n], ['10.32.1.2', 0x0a200102n]] as const) {
      assert.deepEqual(parseAddress(text), { family: 4, value })
      assert.equal(formatAddress({ family: 4, value }), text)
    }
  })

  test('IPv6 parse and RFC 5952 format', () => {
    const cases: Array<[string, bigint, string]> = [
      ['::', 0n, '::'],
      ['::1', 1n, '::1'],
      ['1::', 1n << 112n, '1::'],
      ['2001:DB8::1', 0x20010db8n << 96n | 1n, '2001:db8::1'],
      ['2001:0db8:0000:0000:0001:0000:0000:0001', 0x20010db8000000000001000000000001n, '2001:db8::1:0:0:1'],
      ['2001:db8:0:1:1:1:1:1', 0x20010db8000000010001000100010001n, '2001:db8:0:1:1:1:1:1'],
      ['1:0:0:2:0:0:0:3', 0x00010000000000020000000000000003n, '1:0:0:2::3'],
      ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', V6_END - 1n, 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'],
      // IPv4-mapped stays IPv6; ipaddr.js's RFC 5952 form writes it in hex.
      ['::ffff:1.2.3.4', 0xffff01020304n, '::ffff:102:304'],
      ['::FFFF:10.0.0.1', 0xffff0a000001n, '::ffff:a00:1'],
      // Deprecated IPv4-compatible form: ipaddr.js alone would turn this into ::ffff:1.2.3.4.
      ['::1.2.3.4', 0x01020304n, '::102:304'],
      ['1:2:3:4:5:6:1.2.3.4', 0x00010002000300040005000601020304n, '1:2:3:4:5:6:102:304']
    ]
    for (const [text, value, canon] of cases) {
      assert.deepEqual(parseAddress(text), { family: 6, value }, text)
      assert.equal(formatAddress({ family: 6, value }), canon, text)
    }
  })

  test('invalid addresses throw NetaddrError naming the input', () => {
    const bad = ['10.0.0.300', '010.0.0.1', '10.0.0.01', '10.0.0', '10.1', '167772161', '0x0a.0.0.1', ' 1.2.3.4',
      '1.2.3.4 ', '', '1.2.3.4.5', '1.2.3.-4', '1::2::3', '12345::', ':::', '1:::2', ':1::', 'g::', '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7:8::', '::ffff:01.2.3.4', '::ffff:0x1.2.3.4', '::ffff:1.2.3.256', '::1.2.3', 'fe80::1%eth0',
      '10.0.0.0/8', 'localhost', '１.2.3.4']
    for (const s of bad) rejects(() => parseAddress(s), `invalid IP address ${JSON.stringify(s)}`, 'invalid-address')
    rejects(() => parseAddress('1'.repeat(500)), /^invalid IP address "1{80}…"$/)
    rejects(() => parseAddress(42 as unknown as string), 'invalid IP address 42')
    rejects(() => formatAddress({ family: 4, value: V4_END }), /not a valid IPv4 address/)
    rejects(() => formatAddress({ family: 5 as Family, value: 0n }), /invalid address family 5/)
    rejects(() => address(6, -1n))
  })

  test('bytes are big-endian, 4 or 16 long', () => {
    assert.deepEqual([...addressToBytes(parseAddress('10.1.2.3'))], [10, 1, 2, 3])
    assert.deepEqual([...addressToBytes(parseAddress('2001:db8::ff'))], [0x20, 1, 0x0d, 0xb8, ...Array(11).fill(0), 0xff])
    assert.deepEqual(addressFromBytes(new Uint8Array([192, 0, 2, 1])), { family: 4, value: 0xc0000201n })
    rejects(() => addressFromBytes(new Uint8Array(5)), 'invalid IP address bytes: 5 bytes (expected 4 or 16 bytes)')
    assert.equal(familyBits(4), 32)
    assert.equal(familyBits(6), 128)
  })
})

describe('CIDRs', () => {
  test('parse, format and strictness', () => {
    assert.deepEqual(parseCidr('10.32.0.0/12'), { family: 4, first: 0x0a200000n, prefix: 12 })
    assert.equal(formatCidr(parseCidr('2001:DB8:0::/32')), '2001:db8::/32')
    assert.equal(formatCidr(parseCidr('0.0.0.0/0')), '0.0.0.0/0')
    rejects(() => parseCidr('10.32.1.0/12'), 'CIDR "10.32.1.0/12" has host bits set (did you mean 10.32.0.0/12?)', 'host-bits-set')
    rejects(() => parseCidr('2001:db8::1/64'), 'CIDR "2001:db8::1/64" has host bits set (did you mean 2001:db8::/64?)')
    assert.equal(formatCidr(parseCidr('10.32.1.0/12', { strict: false })), '10.32.0.0/12')
    rejects(() => parseCidr('10.0.0.1'), 'invalid CIDR "10.0.0.1" (missing "/prefix")', 'invalid-cidr')
    assert.equal(formatCidr(parseCidr('10.0.0.1', { allowBare: true })), '10.0.0.1/32')
    assert.equal(formatCidr(parseCidr('::1', { allowBare: true })), '::1/128')
    for (const s of ['10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/08', '10.0.0.0/', '10.0.0.0/ 8', '10.0.0.0/8/8', '::/129', '/8']) {
      rejects(() => parseCidr(s), /^invalid CIDR /, 'invalid-cidr')
    }
    rejects(() => parseCidr('10.0.0.300/8'), 'invalid CIDR "10.0.0.300/8" (bad address "10.0.0.300")')
  })

  test('constructor, size, span, containment, bytes, order', () => {
    const c = cidr(4, 0x0a200000n, 12)
    assert.equal(cidrSize(c), 1n << 20n)
    assert.deepEqual(cidrSpan(c), [0x0a200000n, 0x0a300000n])
    assert.equal(cidrSize(cidr(6, 0n, 0)), V6_END)
    assert.ok(cidrContains(c, parseAddress('10.47.255.255')))
    assert.ok(!cidrContains(c, parseAddress('10.48.0.0')))
    rejects(() => cidrContains(c, parseAddress('::1')), 'cannot test containment between IPv4 and IPv6', 'family-mismatch')
    rejects(() => cidr(4, 0x0a200100n, 12), 'CIDR "10.32.1.0/12" has host bits set (did you mean 10.32.0.0/12?)')
    rejects(() => cidr(4, 0n, 33), /prefix length 33/)
    rejects(() => cidr(4, V4_END, 32), /not a valid IPv4 address/)
    const { bytes, prefix } = cidrToBytes(c)
    assert.deepEqual([...bytes, prefix], [10, 32, 0, 0, 12])
    assert.deepEqual(cidrFromBytes(bytes, prefix), c)
    rejects(() => cidrFromBytes(new Uint8Array([10, 32, 1, 0]), 12), /has host bits set/)
    rejects(() => cidrFromBytes(new Uint8Array(16), 129), /prefix length 129/)
    const sorted = ['10.0.0.0/8', '9.0.0.0/8', '10.0.0.0/16', '10.0.0.0/7'].map(s => parseCidr(s)).sort(compareCidr)
    assert.deepEqual(fmt(sorted), ['9.0.0.0/8', '10.0.0.0/7', '10.0.0.0/8', '10.0.0.0/16'])
    rejects(() => compareCidr(c, parseCidr('::/0')), 'cannot compare IPv4 and IPv6')
  })

  test('spanToCidrs', () => {
    assert.deepEqual(fmt(spanToCidrs(4, [v('10.0.0.1'), v('10.0.0.7')])),
      ['10.0.0.1/32', '10.0.0.2/31', '10.0.0.4/31', '10.0.0.6/32'])
    assert.deepEqual(fmt(spanToCidrs(6, [0n, V6_END])), ['::/0'])
    assert.deepEqual(fmt(spanToCidrs(4, [0n, V4_END])), ['0.0.0.0/0'])
    assert.deepEqual(spanToCidrs(4, [5n, 5n]), [])
    rejects(() => spanToCidrs(4, [6n, 5n]), /invalid IPv4 span/, 'invalid-span')
    rejects(() => spanToCidrs(4, [0n, V4_END + 1n]), /invalid IPv4 span/)
  })

  test('halveIntoBlocks', () => {
    const c = parseCidr('10.32.0.0/12')
    const expected = [
      ['10.32.0.0/12'],
      ['10.32.0.0/13', '10.40.0.0/13'],
      ['10.32.0.0/14', '10.36.0.0/14', '10.40.0.0/13'],
      ['10.32.0.0/14', '10.36.0.0/14', '10.40.0.0/14', '10.44.0.0/14'],
      ['10.32.0.0/15', '10.34.0.0/15', '10.36.0.0/14', '10.40.0.0/14', '10.44.0.0/14']
    ]
    expected.forEach((want, i) => assert.deepEqual(fmt(halveIntoBlocks(c, i + 1)), want))
    assert.deepEqual(fmt(halveIntoBlocks(parseCidr('10.0.0.0/30'), 4)), ['10.0.0.0/32', '10.0.0.1/32', '10.0.0.2/32', '10.0.0.3/32'])
    assert.deepEqual(fmt(halveIntoBlocks(parseCidr('10.0.0.7/32'), 1)), ['10.0.0.7/32'])
    assert.deepEqual(fmt(halveIntoBlocks(parseCidr('2001:db8::/32'), 3)), ['2001:db8::/34', '2001:db8:4000::/34', '2001:db8:8000::/33'])
    for (const n of [0, -1, 1.5, 5, NaN]) rejects(() => halveIntoBlocks(parseCidr('10.0.0.0/30'), n), /^cannot halve 10.0.0.0\/30 into/)
  })

  test('halveIntoBlocks matches literal repeated halving', () => {
    fc.assert(fc.property(fc.integer({ min: 20, max: 32 }), fc.integer({ min: 1, max: 300 }), (prefix, n) => {
      const c = cidr(4, 0x0a000000n, prefix)
      if (BigInt(n) > cidrSize(c)) return
      const blocks = [c]
      while (blocks.length < n) {
        let at = 0
        blocks.forEach((b, i) => { if (b.prefix < blocks[at]!.prefix) at = i })
        const b = blocks[at]!
        const half = cidrSize(b) / 2n
        blocks.splice(at, 1, cidr(4, b.first, b.prefix + 1), cidr(4, b.first + half, b.prefix + 1))
      }
      assert.deepEqual(fmt(halveIntoBlocks(c, n)), fmt(blocks))
    }), { numRuns: 200 })
  })
})

describe('RangeSet examples', () => {
  const set = (...cidrs: string[]): RangeSet => RangeSet.fromCidrs(cidrs[0]?.includes(':') === true ? 6 : 4, cidrs.map(s => parseCidr(s)))

  test('normalising, printing, immutability', () => {
    const s = set('10.40.0.0/13', '10.32.0.0/14', '10.36.0.0/14')
    assert.equal(s.toString(), '10.32.0.0/12')
    assert.equal(set('10.32.0.0/13', '10.40.0.0/14').toString(), '10.32.0.0/13, 10.40.0.0/14')
    assert.equal(RangeSet.empty(6).toString(), '∅')
    assert.ok(RangeSet.empty(4).isEmpty)
    assert.deepEqual(RangeSet.fromSpans(4, [[5n, 9n], [1n, 3n], [3n, 4n], [7n, 12n], [20n, 20n]]).spans, [[1n, 4n], [5n, 12n]])
    assert.ok(Object.isFrozen(s) && Object.isFrozen(s.spans) && Object.isFrozen(s.spans[0]))
    const full = RangeSet.fromSpans(6, [[0n, V6_END]])
    assert.equal(full.size, V6_END)
    assert.equal(full.toString(), '::/0')
    assert.equal(full.subtract(set('::/1')).toString(), '8000::/1')
    rejects(() => RangeSet.fromSpans(4, [[0n, V4_END + 1n]]), /invalid IPv4 span/)
    rejects(() => RangeSet.fromCidrs(4, [parseCidr('::/0')]), 'cannot mix IPv4 and IPv6')
  })

  test('mixing families throws', () => {
    const a = set('10.0.0.0/8')
    const b = set('2001:db8::/32')
    for (const op of ['union', 'subtract', 'intersect', 'equals', 'containsSet', 'overlaps'] as const) {
      rejects(() => a[op](b), /IPv4 and IPv6/, 'family-mismatch')
    }
    rejects(() => a.containsAddress(V4_END), /not a valid IPv4 address/)
  })

  test('biggestAlignedBlock', () => {
    const big = (s: RangeSet): string | undefined => { const c = s.biggestAlignedBlock(); return c && formatCidr(c) }
    assert.equal(big(RangeSet.empty(4)), undefined)
    assert.equal(big(RangeSet.fromSpans(4, [[v('10.0.0.1'), v('10.0.0.7')]])), '10.0.0.2/31')
    assert.equal(big(set('10.0.0.3/32', '10.0.1.0/30', '10.0.2.0/30', '10.0.3.0/29')), '10.0.3.0/29')
    assert.equal(big(set('10.32.0.0/12').subtract(set('10.32.0.0/24'))), '10.40.0.0/13')
    assert.equal(big(RangeSet.fromSpans(4, [[1n, V4_END]])), '128.0.0.0/1')
    assert.equal(big(RangeSet.fromSpans(6, [[0n, V6_END]])), '::/0')
  })

  test('firstAddress', () => {
    const s = set('10.0.0.16/28', '10.0.0.64/26')
    assert.equal(s.firstAddress(), v('10.0.0.16'))
    assert.equal(s.firstAddress([v('10.0.0.20'), v('10.0.0.255')]), v('10.0.0.20'))
    assert.equal(s.firstAddress([v('10.0.0.32'), v('10.0.0.255')]), v('10.0.0.64'))
    assert.equal(s.firstAddress([v('10.0.0.32'), v('10.0.0.64')]), undefined)
    assert.equal(s.firstAddress([v('10.0.0.200'), v('10.0.0.200')]), undefined)
    assert.equal(RangeSet.empty(4).firstAddress(), undefined)
  })

  test('many spans stay fast (work scales with spans, not addresses)', () => {
    const rand = fc.sample(fc.tuple(fc.bigInt(0n, V6_END - 1n), fc.bigInt(1n, 1n << 100n)), { numRuns: 50_000, seed: 7 })
    const a = RangeSet.fromSpans(6, rand.slice(0, 25_000).map(([s, n]): Span => [s, s + n > V6_END ? V6_END : s + n]))
    const b = RangeSet.fromSpans(6, rand.slice(25_000).map(([s, n]): Span => [s, s + n > V6_END ? V6_END : s + n]))
    const t0 = performance.now()
    const u = a.union(b)
    assert.ok(u.equals(a.subtract(b).union(b)))
    assert.ok(u.containsSet(a.intersect(b)))
    // Random 128-bit boundaries give ~180 CIDRs per span, so round-trip a slice.
    const few = RangeSet.fromSpans(6, u.spans.slice(0, 2000))
    assert.ok(RangeSet.fromCidrs(6, few.toCidrs()).equals(few))
    assert.ok(u.biggestAlignedBlock() !== undefined)
    assert.ok(performance.now() - t0 < 10_000)
  })
})

// ---- property tests against a naive Set<bigint> over a 256-address universe ----

interface Universe { name: string, family: Family, base: bigint, prefix: number }
const UNIVERSES: Universe[] = [
  { name: 'IPv4 10.0.0.0/24', family: 4, base: 0x0a000000n, prefix: 24 },
  { name: 'IPv6 2001:db8::/120', family: 6, base: 0x20010db8n << 96n, prefix: 120 }
]
const U = 256

function spanArb (u: Universe): fc.Arbitrary<Span> {
  const wide = fc.tuple(fc.integer({ min: 0, max: U }), fc.integer({ min: 0, max: U }))
    .map(([x, y]): [number, number] => x <= y ? [x, y] : [y, x])
  const short = fc.tuple(fc.integer({ min: 0, max: U }), fc.integer({ min: 0, max: 20 }))
    .map(([x, n]): [number, number] => [x, Math.min(U, x + n)])
  return fc.oneof(wide, short).map(([x, y]): Span => [u.base + BigInt(x), u.base + BigInt(y)])
}
const spansArb = (u: Universe): fc.Arbitrary<Span[]> => fc.array(spanArb(u), { maxLength: 8 })

const universe = (u: Universe): bigint[] => Array.from({ length: U }, (_, i) => u.base + BigInt(i))
const naive = (spans: Iterable<Span>): Set<bigint> => {
  const out = new Set<bigint>()
  for (const [s, e] of spans) for (let x = s; x < e; x++) out.add(x)
  return out
}
const sortedOf = (s: Set<bigint>): bigint[] => [...s].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
const members = (s: RangeSet): bigint[] => sortedOf(naive(s.spans))

function assertNormal (s: RangeSet): void {
  s.spans.forEach(([a, b], i) => {
    assert.ok(a < b, 'span non-empty')
    if (i > 0) assert.ok(s.spans[i - 1]![1] < a, 'spans sorted, disjoint and non-adjacent')
  })
}

/** Reference decomposition: recurse down the binary tree of the universe block. */
function naiveCidrs (u: Universe, set: Set<bigint>, first = u.base, prefix = u.prefix): Cidr[] {
  const size = 1n << BigInt(familyBits(u.family) - prefix)
  let hits = 0n
  for (let x = first; x < first + size; x++) if (set.has(x)) hits++
  if (hits === 0n) return []
  if (hits === size) return [cidr(u.family, first, prefix)]
  return [...naiveCidrs(u, set, first, prefix + 1), ...naiveCidrs(u, set, first + size / 2n, prefix + 1)]
}

function naiveBiggest (u: Universe, set: Set<bigint>): Cidr | undefined {
  for (let p = u.prefix; p <= familyBits(u.family); p++) {
    const size = 1n << BigInt(familyBits(u.family) - p)
    for (let f = u.base; f < u.base + BigInt(U); f += size) {
      let all = true
      for (let x = f; x < f + size && all; x++) all = set.has(x)
      if (all) return cidr(u.family, f, p)
    }
  }
  return undefined
}

function assertMinimalSorted (cs: Cidr[]): void {
  for (let i = 1; i < cs.length; i++) {
    const [a, b] = [cs[i - 1]!, cs[i]!]
    assert.ok(a.first + cidrSize(a) <= b.first, 'sorted and disjoint')
    const mergeable = a.prefix === b.prefix && a.first + cidrSize(a) === b.first && a.first % (2n * cidrSize(a)) === 0n
    assert.ok(!mergeable, `${formatCidr(a)} and ${formatCidr(b)} could be one block`)
  }
}

for (const u of UNIVERSES) {
  describe(`RangeSet vs naive Set<bigint>, ${u.name}`, () => {
    const pair = fc.tuple(spansArb(u), spansArb(u))

    test('fromSpans, size, isEmpty, containsAddress', () => {
      fc.assert(fc.property(spansArb(u), (spans) => {
        const s = RangeSet.fromSpans(u.family, spans)
        const ref = naive(spans)
        assertNormal(s)
        assert.deepEqual(members(s), sortedOf(ref))
        assert.equal(s.size, BigInt(ref.size))
        assert.equal(s.isEmpty, ref.size === 0)
        for (const x of universe(u)) assert.equal(s.containsAddress(x), ref.has(x))
      }), RUNS)
    })

    test('union, subtract, intersect', () => {
      fc.assert(fc.property(pair, ([as, bs]) => {
        const [a, b] = [RangeSet.fromSpans(u.family, as), RangeSet.fromSpans(u.family, bs)]
        const [ra, rb] = [naive(as), naive(bs)]
        const checks: Array<[RangeSet, bigint[]]> = [
          [a.union(b), sortedOf(new Set([...ra, ...rb]))],
          [a.subtract(b), sortedOf(new Set([...ra].filter(x => !rb.has(x))))],
          [a.intersect(b), sortedOf(new Set([...ra].filter(x => rb.has(x))))]
        ]
        for (const [got, want] of checks) {
          assertNormal(got)
          assert.deepEqual(members(got), want)
          assert.equal(got.size, BigInt(want.length))
        }
      }), RUNS)
    })

    test('equals, containsSet, overlaps', () => {
      fc.assert(fc.property(pair, fc.boolean(), ([as, bs], sub) => {
        const a = RangeSet.fromSpans(u.family, as)
        // Half the time make b a subset of a so containsSet is exercised on both answers.
        const b = sub ? a.intersect(RangeSet.fromSpans(u.family, bs)) : RangeSet.fromSpans(u.family, bs)
        const [ra, rb] = [naive(a.spans), naive(b.spans)]
        assert.equal(a.containsSet(b), [...rb].every(x => ra.has(x)))
        assert.equal(b.containsSet(a), [...ra].every(x => rb.has(x)))
        assert.equal(a.overlaps(b), [...rb].some(x => ra.has(x)))
        assert.equal(a.equals(b), ra.size === rb.size && [...ra].every(x => rb.has(x)))
        assert.ok(RangeSet.fromSpans(u.family, [...as].reverse()).equals(a))
      }), RUNS)
    })

    test('toCidrs: minimal, sorted, canonical, round-trips', () => {
      fc.assert(fc.property(spansArb(u), (spans) => {
        const s = RangeSet.fromSpans(u.family, spans)
        const cs = s.toCidrs()
        assert.deepEqual(fmt(cs), fmt(naiveCidrs(u, naive(spans))))
        assertMinimalSorted(cs)
        assert.ok(RangeSet.fromCidrs(u.family, cs).equals(s))
        assert.equal(s.toString(), cs.length === 0 ? '∅' : fmt(cs).join(', '))
      }), RUNS)
    })

    test('biggestAlignedBlock and firstAddress', () => {
      fc.assert(fc.property(spansArb(u), spanArb(u), (spans, within) => {
        const s = RangeSet.fromSpans(u.family, spans)
        const ref = naive(spans)
        const want = naiveBiggest(u, ref)
        const got = s.biggestAlignedBlock()
        assert.equal(got && formatCidr(got), want && formatCidr(want))
        assert.equal(s.firstAddress(), sortedOf(ref)[0])
        assert.equal(s.firstAddress(within), sortedOf(ref).find(x => x >= within[0] && x < within[1]))
      }), RUNS)
    })

    test('spanToCidrs covers exactly the span', () => {
      fc.assert(fc.property(spanArb(u), (span) => {
        const cs = spanToCidrs(u.family, span)
        assertMinimalSorted(cs)
        assert.deepEqual(fmt(cs), fmt(naiveCidrs(u, naive([span]))))
        assert.deepEqual(members(RangeSet.fromCidrs(u.family, cs)), sortedOf(naive([span])))
      }), RUNS)
    })
  })
}

// ---- full-width properties ----

const v4Arb = fc.bigInt(0n, V4_END - 1n)
// Runs of zero groups exercise "::" placement far more than uniform values would.
const v6Arb = fc.oneof(
  fc.bigInt(0n, V6_END - 1n),
  fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 })
    .map(gs => gs.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n))
)
const families: Array<[Family, fc.Arbitrary<bigint>, bigint]> = [[4, v4Arb, V4_END], [6, v6Arb, V6_END]]

describe('full-width round trips', () => {
  for (const [family, valueArb, end] of families) {
    test(`IPv${family} address text and bytes`, () => {
      fc.assert(fc.property(valueArb, (value) => {
        const a = address(family, value)
        assert.deepEqual(parseAddress(formatAddress(a)), a)
        assert.deepEqual(addressFromBytes(addressToBytes(a)), a)
        if (family === 6) {
          const groups = Array.from({ length: 8 }, (_, i) => ((value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16))
          assert.equal(parseAddress(groups.map(g => g.padStart(4, '0').toUpperCase()).join(':')).value, value)
          const low = Number(value & 0xffffffffn)
          const quad = [low >>> 24, (low >>> 16) & 255, (low >>> 8) & 255, low & 255].join('.')
          assert.equal(parseAddress(`${groups.slice(0, 6).join(':')}:${quad}`).value, value)
        }
      }), { numRuns: 500 })
    })

    test(`IPv${family} CIDR text and bytes`, () => {
      fc.assert(fc.property(valueArb, fc.integer({ min: 0, max: familyBits(family) }), (value, prefix) => {
        const host = (1n << BigInt(familyBits(family) - prefix)) - 1n
        const c = cidr(family, value & ~host, prefix)
        assert.deepEqual(parseCidr(formatCidr(c)), c)
        const { bytes, prefix: p } = cidrToBytes(c)
        assert.deepEqual(cidrFromBytes(bytes, p), c)
        assert.ok(cidrContains(c, address(family, value)))
        assert.deepEqual(parseCidr(`${formatAddress(address(family, value))}/${prefix}`, { strict: false }), c)
        if ((value & host) !== 0n) rejects(() => parseCidr(`${formatAddress(address(family, value))}/${prefix}`), /has host bits set/)
      }), { numRuns: 500 })
    })

    test(`IPv${family} spanToCidrs tiles the span minimally`, () => {
      fc.assert(fc.property(fc.bigInt(0n, end), fc.bigInt(0n, end), (x, y) => {
        const span: Span = x <= y ? [x, y] : [y, x]
        const cs = spanToCidrs(family, span)
        let at = span[0]
        for (const c of cs) {
          assert.equal(c.first, at)
          at += cidrSize(c)
        }
        assert.equal(at, span[1])
        assertMinimalSorted(cs)
        assert.ok(cs.length <= 2 * familyBits(family))
      }), { numRuns: 500 })
    })

    test(`IPv${family} set algebra identities`, () => {
      const spanOf = fc.tuple(fc.bigInt(0n, end), fc.bigInt(0n, end)).map(([x, y]): Span => x <= y ? [x, y] : [y, x])
      const setArb = fc.array(spanOf, { maxLength: 12 }).map(ss => RangeSet.fromSpans(family, ss))
      fc.assert(fc.property(setArb, setArb, (a, b) => {
        const [u, i] = [a.union(b), a.intersect(b)]
        assert.equal(u.size + i.size, a.size + b.size)
        assert.ok(u.subtract(b).equals(a.subtract(b)))
        assert.ok(i.equals(a.subtract(a.subtract(b))))
        assert.equal(a.overlaps(b), !i.isEmpty)
        assert.equal(a.containsSet(b), b.subtract(a).isEmpty)
        assert.ok(RangeSet.fromCidrs(family, a.toCidrs()).equals(a))
        assertMinimalSorted(a.toCidrs())
        const big = a.biggestAlignedBlock()
        if (big !== undefined) assert.ok(a.containsSet(RangeSet.fromCidrs(family, [big])))
      }), { numRuns: 300 })
    })
  }
})
