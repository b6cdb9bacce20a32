import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { printJson, printJsonEach } from '../../cli/common.js'
import { formatStatus, statusSectionJson } from '../../cli/format/status.js'
import { guardOutput, percent, relativeTime, table } from '../../cli/format/text.js'
import { FAKE_OTHER, FAKE_PEER, fakeStatus } from '../helpers/fake-daemon.js'

const NOW = Date.parse('2026-11-24T10:00:30.000Z')

describe('text helpers', () => {
  test('percent on numbers and IPv6-sized strings', () => {
    assert.equal(percent(524288, 1048576), '50.0%')
    assert.equal(percent(1, 3), '33.3%')
    assert.equal(percent(0, 0), '-')
    assert.equal(percent('170141183460469231731687303715884105728', '340282366920938463463374607431768211456'), '50.0%')
  })
  test('relative time', () => {
    assert.equal(relativeTime('2026-11-24T10:00:00.000Z', NOW), '30s ago')
    assert.equal(relativeTime('2026-11-24T09:00:30.000Z', NOW), '1h ago')
    assert.equal(relativeTime('2026-11-24T10:00:35.000Z', NOW), 'in 5s')
    assert.equal(relativeTime('2026-11-24T10:00:30.000Z', NOW), 'now')
    assert.equal(relativeTime(null, NOW), '-')
  })
  test('table aligns columns', () => {
    assert.equal(table(['A', 'BB'], [['xxx', 'y'], ['z', 'w']]), 'A    BB\nxxx  y\nz    w\n')
  })
})

describe('status views', () => {
  test('summary', () => {
    const text = formatStatus(fakeStatus(), undefined, NOW)
    assert.equal(text, [
      `peer       ${FAKE_PEER} host1`,
      'listen     /ip4/127.0.0.1/tcp/6783',
      'security   cluster key 0123456789abcdef',
      'cluster    bafyreigenesis 10.32.0.0/12',
      'ipam       ready',
      'addresses  1048576 total, 524288 owned (50.0%), 3 allocated (0.0% of owned), 0 disputed (0.0%)',
      'peers      1 known, 1 connected',
      'conflicts  0 (0 unresolved)',
      'events     12',
      ''
    ].join('\n'))
  })
  test('summary without a cluster key: quiet on loopback, a warning beyond it', () => {
    const open = { clusterKey: false, keyFingerprint: null, keyFile: null, warning: null }
    assert.match(formatStatus(fakeStatus({ security: open }), undefined, NOW), /^security {3}no cluster key \(listening on loopback only\)$/m)
    const exposed = formatStatus(fakeStatus({ security: { ...open, warning: 'no cluster key, and listening beyond loopback on /ip4/0.0.0.0/tcp/6783: …' } }), undefined, NOW)
    assert.match(exposed, /^security {3}WARNING: no cluster key, and listening beyond loopback on \/ip4\/0\.0\.0\.0\/tcp\/6783: …$/m)
  })
  test('summary with a reason and no cluster', () => {
    const text = formatStatus(fakeStatus({ ipam: { state: 'waiting-for-cluster', reason: 'no peer reachable yet', lostAllocations: [] }, cluster: { id: null, range: null } }), undefined, NOW)
    assert.match(text, /^ipam {7}waiting-for-cluster: no peer reachable yet$/m)
    assert.match(text, /^cluster {4}none yet$/m)
  })
  test('peers, with a removed one', () => {
    const s = fakeStatus()
    s.peers.push({
      name: 'PEER3',
      nickname: 'host3',
      owned: 0,
      connected: false,
      removed: true,
      removedBy: {
        name: FAKE_OTHER,
        nickname: 'host2',
        event: 'e'.repeat(64),
        kind: 'takeover',
        time: '2026-11-24T09:59:30.000Z',
        approved: { votes: [{ name: FAKE_OTHER, nickname: 'host2' }, { name: 'PEER4', nickname: null }], of: 3 }
      },
      lastSeen: '2026-11-24T09:58:30.000Z',
      addrs: []
    })
    assert.equal(formatStatus(s, 'peers', NOW), [
      'NAME' + ' '.repeat(FAKE_OTHER.length - 2) + 'NICKNAME         OWNED           CONNECTED  LAST-SEEN  REMOVED',
      `${FAKE_OTHER}  host2            262144 (25.0%)  yes        now        -`,
      'PEER3' + ' '.repeat(FAKE_OTHER.length - 3) + 'host3 (removed)  0 (0.0%)        no         2m ago     taken over by host2, approved by host2, PEER4 (2 of 3 members)',
      ''
    ].join('\n'))
    assert.equal(formatStatus(fakeStatus({ peers: [] }), 'peers', NOW), 'no other peers known\n')
  })
  test('ipam lists owned ranges', () => {
    const text = formatStatus(fakeStatus({ owned: ['10.32.0.0/13', '10.40.0.0/14'] }), 'ipam', NOW)
    assert.match(text, /^owned {6}10\.32\.0\.0\/13\n {11}10\.40\.0\.0\/14\n$/m)
    assert.match(text, /^state {6}ready$/m)
  })
  test('connections', () => {
    const s = fakeStatus()
    s.connections.push({ peer: null, nickname: null, addr: '/dns4/host9/tcp/6783', state: 'backoff', since: '2026-11-24T10:00:20.000Z', reason: 'connection refused', retryAt: '2026-11-24T10:00:40.000Z', bytesIn: 0, bytesOut: 0 })
    const lines = formatStatus(s, 'connections', NOW).split('\n')
    assert.match(lines[0] ?? '', /^PEER +ADDR +STATE +SINCE +REASON$/)
    assert.match(lines[1] ?? '', /^host2  \/ip4\/10\.0\.0\.2\/tcp\/6783 +connected \(outbound\) +1m ago +-$/)
    assert.match(lines[2] ?? '', /^- +\/dns4\/host9\/tcp\/6783 +backoff \(retry in 10s\) +10s ago +connection refused$/)
    assert.equal(formatStatus(fakeStatus({ connections: [] }), 'connections', NOW), 'no connections\n')
  })
  test('section JSON keeps the StatusJson field names', () => {
    const s = fakeStatus()
    assert.deepEqual(statusSectionJson(s, 'peers'), { peers: s.peers })
    assert.deepEqual(Object.keys(statusSectionJson(s, 'ipam') as object), ['ipam', 'cluster', 'addresses', 'owned'])
    assert.equal(statusSectionJson(s, undefined), s)
  })
})

describe('JSON output', () => {
  test('printJsonEach prints what printJson prints for the whole list, at any length', () => {
    const text = (print: (io: { out: (t: string) => void, err: (t: string) => void }) => void): string => {
      let out = ''
      print({ out: t => { out += t }, err: () => {} })
      return out
    }
    for (const n of [0, 1, 2, 999, 1000, 1001, 1002, 2000, 3001, 4002, 5000]) {
      const items = Array.from({ length: n }, (_, i) => ({ i, s: `row ${i}`, nested: { list: [i, null], empty: [] } }))
      const whole = JSON.stringify(items, null, 2) + '\n'
      assert.equal(text(io => { printJson(io, items) }), whole, `printJson, ${n} items`)
      assert.equal(text(io => { printJsonEach(io, items, 700) }), whole, `printJsonEach, ${n} items`)
      assert.equal(text(io => { printJsonEach(io, (function * () { yield * items })()) }), whole, `printJsonEach of a generator, ${n} items`)
    }
  })
})

describe('text from other hosts', () => {
  test('status tables and key-value lines escape control characters in every cell', () => {
    const s = fakeStatus()
    s.peer.nickname = 'me\u001b[2J'
    s.peers[0]!.nickname = 'host2\u001b]0;title\u0007'
    s.connections[0]!.nickname = 'evil\u009b31m'
    s.connections[0]!.reason = 'bye: \r\nweft: all peers ok'
    const all = [undefined, 'peers', 'ipam', 'connections'].map(section => formatStatus(s, section as never, NOW)).join('')
    assert.ok(!/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/.test(all), JSON.stringify(all))
    assert.ok(all.includes('me\\x1b[2J'))
    assert.ok(all.includes('host2\\x1b]0;title\\x07'))
    assert.ok(all.includes('evil\\x9b31m'))
    assert.ok(all.includes('bye: \\x0d\\x0aweft: all peers ok'))
    assert.equal(table(['A'], [['x\u001b']]), 'A\nx\\x1b\n')
  })

  test('the output guard leaves newlines and valid JSON as they are, with the same values', () => {
    const value = { a: 'x\u009b[31m\u202e\u2028', b: ['\u001b'] }
    const text = JSON.stringify(value, null, 2) + '\n'
    const guarded = guardOutput(text)
    assert.ok(!/[\u0080-\u009f\u202e\u2028]/.test(guarded))
    assert.deepEqual(JSON.parse(guarded), value)
    assert.equal(guardOutput('line 1\nline\u001b[2J 2\n'), 'line 1\nline\\u001b[2J 2\n')
    assert.equal(guardOutput('plain\n'), 'plain\n')
  })
})
