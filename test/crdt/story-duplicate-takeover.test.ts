import { test } from 'node:test'
import assert from 'node:assert/strict'
import { formatCidr, RangeSet } from '../../packages/netaddr/index.js'
import { makeCluster } from '../helpers/sim-peer.js'

/**
 * The story users know from Weave Net, told with weft's events: three peers,
 * host3 dies, host1 and host2 both remove it without seeing each other.
 */
test('a duplicate takeover becomes one flagged dispute, and a resolve heals it', () => {
  // host1 founds the cluster over 10.32.0.0/12; host2 and host3 join.
  const { peers: [host1, host2, host3] } = makeCluster(['host1', 'host2', 'host3'])
  assert.ok(host1 && host2 && host3)

  // host1 hands host3 half of the range, then a quarter to host2.
  host1.author('transfer', { ranges: RangeSet.fromCidrs(4, []).union(RangeSet.fromSpans(4, [[0x0a280000n, 0x0a300000n]])).toCidrs(), to: host3.name })
  host1.author('transfer', { ranges: RangeSet.fromSpans(4, [[0x0a240000n, 0x0a280000n]]).toCidrs(), to: host2.name })
  host2.syncFrom(host1)
  host3.syncFrom(host1)
  const before = host1.ring.snapshot()
  const owned = (name: string): bigint => before.peers.find(p => p.name === name)!.owned.size
  assert.equal(owned(host3.name), 524288n)
  assert.equal(owned(host2.name), 262144n)
  assert.equal(owned(host1.name), 262144n)

  // host3 dies. host1 and host2, partitioned from each other, both take it over.
  const space3 = host1.ring.snapshot().peers.find(p => p.name === host3.name)!.owned.toCidrs()
  const t1 = host1.author('takeover', { from: host3.name, ranges: space3 })
  const t2 = host2.author('takeover', { from: host3.name, ranges: space3 })
  assert.equal(host1.ring.verdict(t1.id)?.status, 'valid')
  assert.equal(host2.ring.verdict(t2.id)?.status, 'valid')

  // The partition heals: both sides see one dispute with the same id.
  host1.syncFrom(host2)
  host2.syncFrom(host1)
  const s1 = host1.ring.snapshot()
  const s2 = host2.ring.snapshot()
  const open1 = s1.disputes.filter(d => d.status === 'open')
  const open2 = s2.disputes.filter(d => d.status === 'open')
  assert.equal(open1.length, 1)
  assert.deepEqual(open1.map(d => d.id), open2.map(d => d.id))
  assert.deepEqual([...open1[0]!.parties].sort(), [t1.id, t2.id].sort())
  assert.equal(open1[0]!.ranges.toCidrs().map(formatCidr).join(','), '10.40.0.0/13')
  // Nobody owns the disputed space.
  assert.equal(s1.disputed?.size, 524288n)
  assert.equal(s1.peers.find(p => p.name === host1.name)!.owned.size, 262144n)

  // host2 resolves it for host1 (the first claimant by lamport, id would be the default).
  const d = open1[0]!
  const r = host2.author('resolve', { disputes: [d.id], removals: [], assignments: [{ owner: host1.name, ranges: d.ranges.toCidrs() }] })
  assert.equal(host2.ring.verdict(r.id)?.status, 'valid', host2.ring.verdict(r.id)?.reason)
  host1.syncFrom(host2)
  host3.syncFrom(host2)
  for (const p of [host1, host2, host3]) {
    const s = p.ring.snapshot()
    assert.equal(s.disputes.filter(x => x.status === 'open').length, 0)
    assert.equal(s.disputes.find(x => x.id === d.id)?.status, 'settled')
    assert.equal(s.peers.find(x => x.name === host1.name)!.owned.size, 262144n + 524288n)
    assert.ok(s.peers.find(x => x.name === host3.name)!.removed !== undefined)
  }
})
