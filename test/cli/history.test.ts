import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { weft } from '../helpers/cli-run.js'
import { parseCidr, RangeSet } from '../../packages/netaddr/index.js'
import { shortPeerName, type SignedEvent } from '../../crdt/events/index.js'
import { replay, selectEvents } from '../../crdt/replay/index.js'
import { OwnershipRing } from '../../crdt/ring/index.js'
import { ringViewFromSnapshot } from '../../node/ring-view.js'
import { Store, STORE_FILE, STORE_FORMAT } from '../../node/store/index.js'
import { openLogReader } from '../../node/offline/reader.js'
import { describeContext, describeEvent, restrictRow, rowDetails, type EventRow } from '../../node/offline/describe.js'
import { replayJson, type ConflictsJson, type ReplayJson } from '../../node/offline/history.js'
import type { PeerAuditJson, SpaceAuditJson } from '../../node/offline/audit.js'
import { ClusterModel, MODEL_RANGE } from '../helpers/cluster-model.js'

/**
 * The offline commands (issue 9) in process, against a real store holding a
 * history built with simulated peers (fixed keys, fixed clocks: the same ids
 * and times on every run):
 *
 *   host1 (the seed) gives host3 10.0.8.0/21 and host2 10.0.4.0/22;
 *   host3 gives host4 10.0.8.0/23; host4 tries to give away host1's 10.0.0.0/24 (void);
 *   host3 dies; host1 and host2 both take it over across a partition (a dispute);
 *   on host2's side, host2 gives host4 10.0.12.0/24 of what it took;
 *   host1 refuses host2's batch and flags the dispute (a conflict event);
 *   host1 resolves it before it holds host2's events: everything to host1, so
 *   host2's donation, concurrent with the resolve, is overridden;
 *   host4 leaves, handing its space to host2.
 */

const H1 = 0
const H2 = 1
const H3 = 2
const H4 = 3
const T0 = Date.parse('2026-11-26T06:00:00Z')
const minutes = (n: number): number => T0 + n * 60_000
const list = (...c: string[]): ReturnType<typeof parseCidr>[] => RangeSet.fromCidrs(4, c.map(x => parseCidr(x))).toCidrs()

interface Story {
  m: ClusterModel
  events: SignedEvent[]
  e: Record<'give3' | 'give2' | 'give4' | 'bogus' | 'take1' | 'take2' | 'donate' | 'conflict' | 'resolve' | 'leave', SignedEvent>
  dispute: string
  /** host1's log right after it flagged the dispute (host2's takeover only as evidence). */
  host1Flagged: SignedEvent[]
}

function story (): Story {
  const m = new ClusterModel(4, 1)
  // `at(peer, t)` sets the peer's clock to t minutes past T0 and returns the peer.
  const at = (peer: number, min: number): number => {
    m.peers[peer]!.clock = minutes(min)
    return peer
  }
  const give3 = m.transfer(at(H1, 1), H3, list('10.0.8.0/21'))
  const give2 = m.transfer(at(H1, 2), H2, list('10.0.4.0/22'))
  m.syncAll()
  const give4 = m.transfer(at(H3, 3), H4, list('10.0.8.0/23'))
  m.syncAll()
  const bogus = m.transfer(at(H4, 4), H2, list('10.0.0.0/24'))
  m.syncAll()
  // host3 is gone; {host1} | {host2, host4}.
  m.partition([0, 1, 2, 1])
  const take1 = m.takeover(at(H1, 5), H3)
  const take2 = m.takeover(at(H2, 5.5), H3)
  m.sync(H2, H4)
  const donate = m.transfer(at(H2, 6), H4, list('10.0.12.0/24'))
  m.sync(H2, H4)
  m.heal()
  assert.equal(m.validatedSync(H2, at(H1, 7)), false, 'host1 refuses the batch that opens the dispute')
  const conflict = m.authored.at(-1)!.signed
  assert.equal(conflict.event.kind, 'conflict')
  const host1Flagged = [...m.peers[H1]!.events.values()]
  // host1 knows host2's takeover only as the conflict's evidence, and not the donation at all.
  const d = m.snap(H1).disputes.find(x => x.status === 'open')
  assert.ok(d !== undefined, 'host1 sees the dispute')
  const resolve = m.resolve(at(H1, 8), d, [{ owner: H1, ranges: d.ranges }])
  m.syncAll()
  const leave = m.leave(at(H4, 9), [H2])
  m.syncAll()
  const events = m.allEvents()
  return { m, events, e: { give3, give2, give4, bogus, take1, take2, donate, conflict, resolve, leave }, dispute: d.id, host1Flagged }
}

/** A data dir whose store holds `events`, as the daemon would have written it. */
async function writeDataDir (dir: string, events: SignedEvent[], clusterId: string, self: string): Promise<void> {
  const ring = new OwnershipRing(clusterId)
  const sorted = [...events].sort((a, b) => a.event.lamport - b.event.lamport || (a.id < b.id ? -1 : 1))
  for (const e of sorted) ring.apply(e)
  const store = Store.open(dir)
  try {
    await store.putMeta({ format: STORE_FORMAT, peer: self, clusterId, range: MODEL_RANGE, createdAt: T0 })
    await store.adopt({
      events: sorted.map(e => ({
        id: e.id,
        bytes: e.bytes,
        lamport: e.event.lamport,
        time: e.event.kind === 'genesis' ? 0 : e.event.time,
        ...(e.event.kind !== 'genesis' ? { author: e.event.author } : {}),
        kind: e.event.kind
      })),
      snapshot: ringViewFromSnapshot(ring.snapshot()),
      eventHeads: ring.snapshot().heads.slice(),
      docHeads: []
    })
  } finally {
    await store.close()
  }
}

const root = mkdtempSync(join(tmpdir(), 'weft-history-'))
after(() => { rmSync(root, { recursive: true, force: true }) })

describe('offline commands on a stored history', () => {
  const s = story()
  const dir = join(root, 'host1')
  const label = (i: number): string => `host${i + 1} (${shortPeerName(s.m.name(i))})`
  const ok = async (...args: string[]): Promise<string> => {
    const r = await weft(...args, '--data-dir', dir)
    assert.equal(r.err, '', `weft ${args.join(' ')}: ${r.err}`)
    assert.equal(r.code, 0)
    return r.out
  }
  const json = async <T>(...args: string[]): Promise<T> => JSON.parse(await ok(...args, '--json')) as T

  before(async () => {
    mkdirSync(dir)
    await writeDataDir(dir, s.events, s.m.genesis.id, s.m.name(H1))
  })

  test('print', async () => {
    if (process.env.HISTORY_PRINT === undefined) return
    for (const args of [['history'], ['replay', '--at', s.e.take1.id.slice(0, 8)], ['replay', '--at', '2026-11-26T06:05:40Z'], ['audit', '10.0.12.7'], ['audit', '10.0.8.0/21'], ['audit', 'host3'], ['audit', 'host2'], ['conflicts']]) {
      console.log(`$ weft ${args.join(' ')}\n${await ok(...args)}`)
    }
  })

  test('history: every event, one a line, in causal order, with time, author, kind, ranges and counts', async () => {
    const out = await ok('history')
    const lines = out.trimEnd().split('\n')
    const reader = openLogReader(dir)
    try {
      const ids = reader.events().map(e => e.id)
      assert.equal(lines.length, ids.length)
      lines.forEach((l, i) => { assert.match(l, new RegExp(`  id ${ids[i]!.slice(0, 8)}(  |$)`), `line ${i} is event ${i}`) })
    } finally {
      await reader.close()
    }
    const line = (e: SignedEvent): string => lines.find(l => l.includes(`  id ${e.id.slice(0, 8)}`))!
    assert.match(lines[0]!, new RegExp(`^- +- +genesis +10\\.0\\.0\\.0/20 \\(4096\\) → ${esc(label(H1))}  id ${s.m.genesis.id.slice(0, 8)}$`))
    assert.equal(line(s.e.give3), `2026-11-26T06:01:00Z  ${label(H1)}  transfer  10.0.8.0/21 (2048) → ${label(H3)}  id ${s.e.give3.id.slice(0, 8)}`)
    assert.equal(line(s.e.take1), `2026-11-26T06:05:00Z  ${label(H1)}  takeover  10.0.10.0/23, 10.0.12.0/22 (1536) from ${label(H3)}, without a vote  id ${s.e.take1.id.slice(0, 8)}`)
    assert.match(line(s.e.bogus), /  transfer  10\.0\.0\.0\/24 \(256\) → host2 .*  VOID: moves 10\.0\.0\.0\/24, which its author does not own$/)
    assert.match(line(s.e.donate), new RegExp(`  overridden by resolve ${s.e.resolve.id.slice(0, 8)}$`))
    // A conflict shows the dispute id and both rival ids; a resolve the dispute and the new owner.
    assert.match(line(s.e.conflict), new RegExp(`  conflict  dispute ${s.dispute.slice(0, 8)} over 10\\.0\\.10\\.0/23, 10\\.0\\.12\\.0/22 \\(1536\\): ` +
      `${[s.e.take1.id, s.e.take2.id].sort().map(id => id.slice(0, 8)).join(' vs ')}, carried by ${esc(label(H2))}`))
    assert.match(line(s.e.resolve), new RegExp(`  resolve   dispute ${s.dispute.slice(0, 8)}: 10\\.0\\.10\\.0/23, 10\\.0\\.12\\.0/22 \\(1536\\) → ${esc(label(H1))}  id`))
    assert.match(line(s.e.leave), new RegExp(`^2026-11-26T06:09:00Z  ${esc(label(H4))}  leave     10\\.0\\.8\\.0/23 \\(512\\) → ${esc(label(H2))}  id`))
  })

  test('history --json: one object per event with stable field names', async () => {
    const rows = await json<EventRow[]>('history')
    assert.equal(rows.length, s.events.length)
    const byId = new Map(rows.map(r => [r.id, r]))
    const genesis = rows[0]!
    assert.deepEqual(
      { time: genesis.time, kind: genesis.kind, author: genesis.author, ranges: genesis.ranges, addresses: genesis.addresses, owners: genesis.owners },
      { time: null, kind: 'genesis', author: null, ranges: ['10.0.0.0/20'], addresses: 4096, owners: [{ peer: s.m.name(H1), nickname: 'host1', ranges: ['10.0.0.0/20'], addresses: 4096 }] })
    const give3 = byId.get(s.e.give3.id)!
    assert.deepEqual(give3, {
      id: s.e.give3.id,
      time: '2026-11-26T06:01:00.000Z',
      lamport: s.e.give3.event.lamport,
      kind: 'transfer',
      author: s.m.name(H1),
      authorNickname: 'host1',
      summary: 'host1 gave 10.0.8.0/21 (2048) to host3',
      ranges: ['10.0.8.0/21'],
      addresses: 2048,
      status: 'valid',
      from: { peer: s.m.name(H1), nickname: 'host1' },
      to: { peer: s.m.name(H3), nickname: 'host3' }
    })
    const take2 = byId.get(s.e.take2.id)!
    assert.deepEqual([take2.kind, take2.from, take2.to, take2.removes, take2.overriddenBy], [
      'takeover', { peer: s.m.name(H3), nickname: 'host3' }, { peer: s.m.name(H2), nickname: 'host2' }, [{ peer: s.m.name(H3), nickname: 'host3' }], [s.e.resolve.id]])
    assert.deepEqual([byId.get(s.e.bogus.id)!.status, byId.get(s.e.bogus.id)!.reason], ['void', 'moves 10.0.0.0/24, which its author does not own'])
    const conflict = byId.get(s.e.conflict.id)!
    assert.deepEqual([conflict.conflictReason, conflict.rivals, conflict.disputes, conflict.supplier?.nickname], ['dispute', [s.e.take1.id, s.e.take2.id].sort(), [s.dispute], 'host2'])
    const resolve = byId.get(s.e.resolve.id)!
    assert.deepEqual([resolve.disputes, resolve.owners, resolve.removes], [[s.dispute], [{ peer: s.m.name(H1), nickname: 'host1', ranges: ['10.0.10.0/23', '10.0.12.0/22'], addresses: 1536 }], []])
    assert.deepEqual(resolve.claimants?.map(c => c.nickname).sort(), ['host1', 'host2'], 'whose claims it settles')
    const leave = byId.get(s.e.leave.id)!
    assert.deepEqual([leave.from?.nickname, leave.heirs, leave.removes?.map(r => r.nickname)], ['host4', [{ peer: s.m.name(H2), nickname: 'host2', ranges: ['10.0.8.0/23'], addresses: 512 }], ['host4']])
    const join = rows.find(r => r.kind === 'join' && r.author === s.m.name(H3))!
    assert.deepEqual([join.nickname, join.addrs, join.ranges, join.addresses], ['host3', [], [], 0])
  })

  test('history filters: --peer (author or party, by nickname or name), --since, --kind', async () => {
    const ids = async (...args: string[]): Promise<string[]> => (await json<EventRow[]>('history', ...args)).map(r => r.id)
    const host4 = [s.events.find(e => e.event.kind === 'join' && e.event.author === s.m.name(H4))!.id, s.e.give4.id, s.e.bogus.id, s.e.donate.id, s.e.leave.id]
    assert.deepEqual(new Set(await ids('--peer', 'host4')), new Set(host4))
    assert.deepEqual(await ids('--peer', s.m.name(H3)), await ids('--peer', 'host3'))
    // host3 authored a join and a transfer, received one, and was taken over twice.
    assert.equal((await ids('--peer', 'host3')).length, 5)
    assert.deepEqual(await ids('--kind', 'takeover,resolve'), [s.e.take2.id, s.e.take1.id, s.e.resolve.id])
    assert.deepEqual(await ids('--kind', 'takeover', '--kind', 'resolve'), [s.e.take2.id, s.e.take1.id, s.e.resolve.id])
    assert.deepEqual(await ids('--since', '2026-11-26T06:07:00Z'), [s.e.conflict.id, s.e.resolve.id, s.e.leave.id])
    assert.deepEqual(await ids('--since', String(minutes(7))), [s.e.conflict.id, s.e.resolve.id, s.e.leave.id])
    assert.deepEqual(await ids('--since', '2026-11-26T06:05:00Z', '--peer', 'host2', '--kind', 'transfer'), [s.e.donate.id])
    assert.equal(await ok('history', '--kind', 'leave', '--peer', 'host1'), 'no events match\n')
    // A resolve concerns the peers whose claims it settles, not only the new owner.
    assert.deepEqual(await ids('--kind', 'resolve', '--peer', 'host2'), [s.e.resolve.id])
  })

  test('replay --at EVENT_ID prefix: the ring of that event\'s causal past', async () => {
    const out = await ok('replay', '--at', s.e.take1.id.slice(0, 10))
    assert.equal(out, [
      `ring at event ${s.e.take1.id.slice(0, 8)} (2026-11-26T06:05:00Z, ${label(H1)} takeover): 10 of 15 events`,
      'range 10.0.0.0/20 (4096)',
      `${label(H1)}  2560 (62.5%)  10.0.0.0/22, 10.0.10.0/23, 10.0.12.0/22`,
      `${label(H2)}  1024 (25.0%)  10.0.4.0/22`,
      `${label(H4)}  512 (12.5%)  10.0.8.0/23`,
      ''
    ].join('\n'))
    const j = await json<ReplayJson>('replay', '--at', s.e.take1.id)
    assert.deepEqual(j.at, { event: s.e.take1.id, time: '2026-11-26T06:05:00.000Z' })
    assert.deepEqual([j.events, j.totalEvents, j.range, j.addresses, j.unowned], [10, 15, '10.0.0.0/20', 4096, { ranges: [], addresses: 0 }])
    assert.deepEqual(j.heads, [s.e.take1.id])
    assert.deepEqual(j.owners.map(o => [o.nickname, o.ranges, o.addresses, o.removed]), [
      ['host1', ['10.0.0.0/22', '10.0.10.0/23', '10.0.12.0/22'], 2560, false],
      ['host2', ['10.0.4.0/22'], 1024, false],
      ['host4', ['10.0.8.0/23'], 512, false]
    ])
  })

  test('replay at every event equals the fold of its causal past', async () => {
    const reader = openLogReader(dir)
    try {
      const ctx = describeContext(reader.ring(), reader.view())
      for (const e of reader.events()) {
        const got = await json<ReplayJson>('replay', '--at', e.id)
        const ring = replay(reader.clusterId, reader.events(), { event: e.id })
        const want = replayJson(ring.snapshot(), ctx, ring.size, reader.events().length)
        want.at = got.at
        assert.deepEqual(got, want, `replay at ${e.id}`)
        // Independently of replayJson: owners and disputed space as the ring view has them.
        const view = ringViewFromSnapshot(ring.snapshot())!
        assert.deepEqual(got.owners.map(o => [o.peer, o.ranges]).sort(), view.peers.filter(p => p.owned.length > 0).map(p => [p.name, p.owned]).sort())
        assert.deepEqual(got.disputed.ranges, view.disputed)
      }
    } finally {
      await reader.close()
    }
  })

  test('replay --at TIME: the largest causally closed set up to then, with its disputes', async () => {
    const out = await ok('replay', '--at', '2026-11-26T06:05:40Z')
    assert.match(out, /^ring at 2026-11-26T06:05:40Z: 11 of 15 events$/m)
    assert.match(out, new RegExp(`^disputed +1536 \\(37\\.5%\\)  10\\.0\\.10\\.0/23, 10\\.0\\.12\\.0/22  dispute ${s.dispute.slice(0, 8)} \\(overlap\\)`, 'm'))
    const j = await json<ReplayJson>('replay', '--at', String(minutes(5.5) + 1))
    assert.deepEqual(j.at, { event: null, time: '2026-11-26T06:05:30.001Z' })
    assert.deepEqual(j.disputed.disputes.map(d => [d.id, d.kind, d.ranges, d.parties, d.claimants.map(c => c.nickname)]), [
      [s.dispute, 'overlap', ['10.0.10.0/23', '10.0.12.0/22'], [s.e.take1.id, s.e.take2.id].sort(), ['host2', 'host1']]
    ])
    // Before the first authored event: the genesis alone.
    const first = await json<ReplayJson>('replay', '--at', '2000-01-01')
    assert.deepEqual([first.events, first.owners.map(o => o.ranges)], [1, [['10.0.0.0/20']]])
  })

  test('audit ADDRESS: every event that moved it, and who holds it now, since when, given by whom', async () => {
    const out = await ok('audit', '10.0.12.7')
    const lines = out.trimEnd().split('\n')
    assert.equal(lines[0], '10.0.12.7: 7 events')
    const order = [s.m.genesis, s.e.give3, s.e.take2, s.e.take1, s.e.conflict, s.e.donate, s.e.resolve]
    assert.deepEqual(lines.slice(1, -1).map(l => /  id ([0-9a-f]{8})/.exec(l)?.[1]), order.map(e => e.id.slice(0, 8)))
    // Each line shows the blocks of the event that hold the address.
    assert.match(lines[3]!, /  takeover  10\.0\.12\.0\/22 \(1024\) from host3 .*overridden by resolve/)
    assert.equal(lines.at(-1), `now: 10.0.12.7 is owned by ${label(H1)} since 2026-11-26T06:08:00Z, assigned by ${label(H1)}'s resolve (resolve ${s.e.resolve.id.slice(0, 8)})`)
    // ADDRESS/PREFIX as `weft alloc` prints it is the address.
    assert.equal(await ok('audit', '10.0.12.7/20'), out)
    const j = await json<SpaceAuditJson>('audit', '10.0.12.7')
    assert.deepEqual(j.target, { type: 'address', text: '10.0.12.7', ranges: ['10.0.12.7/32'], addresses: 1 })
    assert.deepEqual(j.events.map(e => [e.event.id, e.counted]), order.map(e => [e.id, ![s.e.take2, s.e.conflict, s.e.donate].includes(e)]))
    const donate = j.events.find(e => e.event.id === s.e.donate.id)!
    assert.deepEqual([donate.ranges, donate.moves, donate.from], [['10.0.12.0/24'], [{ peer: s.m.name(H4), nickname: 'host4', ranges: ['10.0.12.7/32'], addresses: 1 }], { peer: s.m.name(H2), nickname: 'host2' }])
    assert.deepEqual(j.now, [{
      ranges: ['10.0.12.7/32'],
      addresses: 1,
      state: 'owned',
      owner: { peer: s.m.name(H1), nickname: 'host1' },
      since: { id: s.e.resolve.id, time: '2026-11-26T06:08:00.000Z', kind: 'resolve', author: s.m.name(H1), authorNickname: 'host1', from: null }
    }])
  })

  test('audit CIDR: the events touching any of it; now, piece by piece', async () => {
    const j = await json<SpaceAuditJson>('audit', '10.0.8.0/21')
    assert.deepEqual(j.events.map(e => e.event.id), [s.m.genesis, s.e.give3, s.e.give4, s.e.take2, s.e.take1, s.e.conflict, s.e.donate, s.e.resolve, s.e.leave].map(e => e.id))
    assert.deepEqual(j.now.map(n => [n.ranges, n.owner?.nickname, n.since?.id]), [
      [['10.0.8.0/23'], 'host2', s.e.leave.id],
      [['10.0.10.0/23', '10.0.12.0/22'], 'host1', s.e.resolve.id]
    ])
    const out = await ok('audit', '10.0.8.0/21')
    assert.match(out, new RegExp(`^now: 10\\.0\\.8\\.0/23 \\(512\\) is owned by ${esc(label(H2))} since 2026-11-26T06:09:00Z, handed on by ${esc(label(H4))} as it left \\(leave ${s.e.leave.id.slice(0, 8)}\\)$`, 'm'))
    // An address given away by a transfer and never moved again.
    const j2 = await json<SpaceAuditJson>('audit', '10.0.5.1')
    assert.deepEqual(j2.now[0]!.since, { id: s.e.give2.id, time: '2026-11-26T06:02:00.000Z', kind: 'transfer', author: s.m.name(H1), authorNickname: 'host1', from: { peer: s.m.name(H1), nickname: 'host1' } })
    assert.match(await ok('audit', '10.0.5.1'), new RegExp(`^now: 10\\.0\\.5\\.1 is owned by ${esc(label(H2))} since 2026-11-26T06:02:00Z, given by ${esc(label(H1))} \\(transfer ${s.e.give2.id.slice(0, 8)}\\)$`, 'm'))
    assert.match(await ok('audit', '10.0.0.1'), new RegExp(`^now: 10\\.0\\.0\\.1 is owned by ${esc(label(H1))} since the genesis \\(genesis ${s.m.genesis.id.slice(0, 8)}\\)$`, 'm'))
  })

  test('audit NAME: every range the peer received, and where each went', async () => {
    const host3 = await ok('audit', 'host3')
    assert.equal(host3, [
      `${label(H3)}: received space 1 time; owns nothing now; removed by ${label(H2)} at 2026-11-26T06:05:30Z (${s.e.take2.id.slice(0, 8)})`,
      `2026-11-26T06:01:00Z  ${label(H1)}  transfer  10.0.8.0/21 (2048) → ${label(H3)}  id ${s.e.give3.id.slice(0, 8)}`,
      `    10.0.8.0/23 (512): → ${label(H4)} (transfer ${s.e.give4.id.slice(0, 8)} by ${label(H3)} at 2026-11-26T06:03:00Z); now owned by ${label(H2)}`,
      `    10.0.10.0/23, 10.0.12.0/22 (1536): → ${label(H1)} (takeover ${s.e.take1.id.slice(0, 8)} by ${label(H1)} at 2026-11-26T06:05:00Z)`,
      ''
    ].join('\n'))
    const j = await json<PeerAuditJson>('audit', 'host4')
    assert.deepEqual(j.target, {
      type: 'peer',
      text: 'host4',
      peer: s.m.name(H4),
      nickname: 'host4',
      removed: { by: { peer: s.m.name(H4), nickname: 'host4' }, event: s.e.leave.id, time: '2026-11-26T06:09:00.000Z' },
      owns: { ranges: [], addresses: 0 }
    })
    assert.deepEqual(j.received.map(r => [r.event.id, r.ranges, r.overridden, r.fates.map(f => [f.ranges, f.outcome, f.to?.map(t => t.nickname), f.by?.map(b => b.id)])]), [
      [s.e.give4.id, ['10.0.8.0/23'], false, [[['10.0.8.0/23'], 'moved', ['host2'], [s.e.leave.id]]]],
      [s.e.donate.id, ['10.0.12.0/24'], true, [[['10.0.12.0/24'], 'overridden', ['host1'], [s.e.resolve.id]]]]
    ])
    assert.match(await ok('audit', 'host4'), /^host4 \(…\w+\): received space 2 times; owns nothing now; left at 2026-11-26T06:09:00Z/)
    // host1: the genesis, and what the resolve gave it; what it still holds says so.
    const h1 = await json<PeerAuditJson>('audit', s.m.name(H1))
    assert.deepEqual(h1.received.map(r => r.event.id), [s.m.genesis.id, s.e.take1.id, s.e.resolve.id])
    const genesisFates = h1.received[0]!.fates.map(f => [f.ranges, f.outcome, f.to?.map(t => t.nickname)])
    // Pieces that went the same way but are held by different peers now are told apart.
    assert.deepEqual(genesisFates, [
      [['10.0.0.0/22'], 'still-owned', undefined],
      [['10.0.4.0/22'], 'moved', ['host2']],
      [['10.0.8.0/23'], 'moved', ['host3']],
      [['10.0.10.0/23', '10.0.12.0/22'], 'moved', ['host3']]
    ])
    assert.deepEqual(h1.received[0]!.fates.map(f => f.now?.owner?.nickname), [undefined, undefined, 'host2', 'host1'])
    assert.deepEqual(h1.received[2]!.fates.map(f => [f.ranges, f.outcome]), [[['10.0.10.0/23', '10.0.12.0/22'], 'still-owned']])
  })

  test('conflicts: disputes (settled, with parties, claimants, the resolve and the conflict), voids, overridden moves', async () => {
    const out = await ok('conflicts')
    const lines = out.trimEnd().split('\n')
    assert.equal(lines.length, 4)
    assert.equal(lines[0], `dispute ${s.dispute}  settled by ${s.e.resolve.id.slice(0, 8)}  overlap  10.0.10.0/23, 10.0.12.0/22 (1536)  ` +
      `parties ${s.e.take2.id.slice(0, 8)} (takeover by ${label(H2)}) vs ${s.e.take1.id.slice(0, 8)} (takeover by ${label(H1)}); ` +
      `claimants ${label(H2)}, ${label(H1)}; flagged by ${s.e.conflict.id.slice(0, 8)}`)
    assert.match(lines[1]!, new RegExp(`^void {8}2026-11-26T06:04:00Z  ${esc(label(H4))}  transfer  .*  VOID: moves 10\\.0\\.0\\.0/24, which its author does not own$`))
    assert.match(lines[2]!, new RegExp(`^overridden  .*  id ${s.e.take2.id.slice(0, 8)}  overridden by resolve ${s.e.resolve.id.slice(0, 8)}$`))
    assert.match(lines[3]!, new RegExp(`^overridden  .*  id ${s.e.donate.id.slice(0, 8)}  overridden by resolve ${s.e.resolve.id.slice(0, 8)}$`))
    const j = await json<ConflictsJson>('conflicts')
    assert.equal(j.unresolved, 0)
    const d = j.disputes[0]!
    assert.deepEqual([d.id, d.kind, d.status, d.ranges, d.addresses, d.settledBy, d.flaggedBy, d.atStake], [s.dispute, 'overlap', 'settled', ['10.0.10.0/23', '10.0.12.0/22'], 1536, [s.e.resolve.id], [s.e.conflict.id], []])
    assert.deepEqual(d.parties.map(p => [p.id, p.kind, p.authorNickname, p.inLog]), [[s.e.take2.id, 'takeover', 'host2', true], [s.e.take1.id, 'takeover', 'host1', true]])
    assert.deepEqual(d.claimants.map(c => c.nickname), ['host2', 'host1'])
    assert.deepEqual(j.voids.map(v => [v.id, v.reason]), [[s.e.bogus.id, 'moves 10.0.0.0/24, which its author does not own']])
    assert.deepEqual(j.overridden.map(v => [v.id, v.overriddenBy]), [[s.e.take2.id, [s.e.resolve.id]], [s.e.donate.id, [s.e.resolve.id]]])
    assert.deepEqual(j.equivocations, [])
  })

  test('conflicts on host1 before the resolve: the dispute is open, known by evidence, listed first; exit 0', async () => {
    const before = join(root, 'host1-before')
    mkdirSync(before)
    await writeDataDir(before, s.host1Flagged, s.m.genesis.id, s.m.name(H1))
    const r = await weft('conflicts', '--data-dir', before)
    assert.equal(r.code, 0, r.err)
    assert.match(r.out, new RegExp(`^dispute ${s.dispute}  OPEN  overlap  10\\.0\\.10\\.0/23, 10\\.0\\.12\\.0/22 \\(1536\\)  parties ${s.e.take2.id.slice(0, 8)} \\(takeover by ${esc(label(H2))}, evidence only\\) vs ${s.e.take1.id.slice(0, 8)} .*; run: weft resolve ${s.dispute}$`, 'm'))
    const j = JSON.parse((await weft('conflicts', '--json', '--data-dir', before)).out) as ConflictsJson
    assert.equal(j.unresolved, 1)
    assert.deepEqual(j.disputes[0]!.parties.map(p => [p.id, p.inLog]), [[s.e.take2.id, false], [s.e.take1.id, true]])
  })

  test('conflicts with none: says so, exit 0', async () => {
    const early = join(root, 'host1-early')
    mkdirSync(early)
    await writeDataDir(early, selectEvents(s.events, { event: s.e.give2.id }), s.m.genesis.id, s.m.name(H1))
    assert.deepEqual(await weft('conflicts', '--data-dir', early), { code: 0, out: 'no conflicts\n', err: '' })
    assert.deepEqual(JSON.parse((await weft('conflicts', '--json', '--data-dir', early)).out), { disputes: [], voids: [], overridden: [], equivocations: [], unresolved: 0 })
  })

  test('clear one-line errors: exit 1 for what the log does not hold, 2 for usage', async () => {
    const fail = async (code: number, pattern: RegExp, ...args: string[]): Promise<void> => {
      const r = await weft(...args)
      assert.equal(r.out, '', args.join(' '))
      assert.equal(r.code, code, `${args.join(' ')}: ${r.err}`)
      assert.match(r.err.trimEnd(), pattern, args.join(' '))
      assert.equal(r.err.split('\n').length, 2, `one line: ${r.err}`)
    }
    await fail(1, /^weft: no event deadbeef in the log/, 'replay', '--at', 'deadbeef', '--data-dir', dir)
    await fail(2, /^weft: invalid --at "yesterday": expected an event id \(at least 8 hex digits\) or a time/, 'replay', '--at', 'yesterday', '--data-dir', dir)
    await fail(2, /^weft: required option '--at <point>' not specified/, 'replay', '--data-dir', dir)
    await fail(1, /^weft: 10\.1\.2\.3 is outside the cluster range 10\.0\.0\.0\/20$/, 'audit', '10.1.2.3', '--data-dir', dir)
    await fail(1, /^weft: 10\.0\.0\.0\/16 is not entirely inside the cluster range 10\.0\.0\.0\/20$/, 'audit', '10.0.0.0/16', '--data-dir', dir)
    await fail(1, /^weft: 2001:db8::1 is IPv6; the cluster range 10\.0\.0\.0\/20 is IPv4$/, 'audit', '2001:db8::1', '--data-dir', dir)
    await fail(2, /^weft: invalid address or CIDR: /, 'audit', '10.0.0.300', '--data-dir', dir)
    await fail(1, /^weft: no peer named host9 in the log$/, 'audit', 'host9', '--data-dir', dir)
    await fail(1, /^weft: no peer named host9 in the log$/, 'history', '--peer', 'host9', '--data-dir', dir)
    await fail(2, /^weft: .*invalid --kind "grant": expected one of genesis, join, transfer, takeover, leave, conflict, resolve, checkpoint, future/, 'history', '--kind', 'grant', '--data-dir', dir)
    await fail(2, /^weft: .*invalid --since "last week"/, 'history', '--since', 'last week', '--data-dir', dir)
    const empty = join(root, 'empty')
    mkdirSync(empty)
    for (const cmd of [['history'], ['replay', '--at', 'deadbeef'], ['audit', 'host1'], ['conflicts']]) {
      await fail(1, new RegExp(`^weft: no weft data in ${esc(empty)}`), ...cmd, '--data-dir', empty)
    }
    // A store with no log yet (a peer waiting for a cluster).
    const waiting = join(root, 'waiting')
    const store = Store.open(waiting)
    await store.putMeta({ format: STORE_FORMAT, peer: s.m.name(H1), createdAt: T0 })
    await store.close()
    await fail(1, /^weft: the peer in .* has not joined a cluster yet: it has no log$/, 'conflicts', '--data-dir', waiting)
  })

  test('an ambiguous event id prefix lists the candidates', async () => {
    const { parseAt } = await import('../../node/offline/history.js')
    const fake = (id: string): SignedEvent => ({ id, bytes: new Uint8Array(), event: s.m.genesis.event })
    const a = 'abcdef01' + '1'.repeat(56)
    const b = 'abcdef01' + '2'.repeat(56)
    assert.throws(() => parseAt([fake(a), fake(b)], 'abcdef01'), { message: `event id prefix abcdef01 is ambiguous: ${a}, ${b}` })
    assert.equal((parseAt([fake(a), fake(b)], 'abcdef011') as { event: SignedEvent }).event.id, a)
    // Digits alone are an id prefix when one matches, else epoch ms.
    assert.deepEqual(parseAt([fake(a)], '1700000000000'), { time: 1_700_000_000_000 })
    const digits = '12345678' + '0'.repeat(56)
    assert.equal((parseAt([fake(digits)], '12345678') as { event: SignedEvent }).event.id, digits)
  })

  test('restricting a row to the audited space keeps only the blocks that touch it', () => {
    const reader = openLogReader(dir)
    try {
      const ctx = describeContext(reader.ring(), reader.view())
      const row = describeEvent(ctx, s.e.take1)
      assert.equal(rowDetails(restrictRow(row, RangeSet.fromCidrs(4, [parseCidr('10.0.13.0/24')]))), `10.0.12.0/22 (1024) from ${label(H3)}, without a vote`)
    } finally {
      void reader.close()
    }
  })

  test('--help of each command exits 0 and names its options', async () => {
    for (const [cmd, option] of [['history', '--since'], ['replay', '--at'], ['audit', '<target>'], ['conflicts', '--json']] as const) {
      const r = await weft(cmd, '--help')
      assert.equal(r.code, 0)
      assert.ok(r.out.includes(option) && r.out.includes('--data-dir') && r.out.includes('--json'), `${cmd} --help`)
      assert.match(r.out, /never writes it/)
    }
  })

  test('none of them writes to the data dir', async () => {
    const file = join(dir, STORE_FILE)
    const files = (): string[] => readdirSync(dir).sort()
    const before = { bytes: readFileSync(file), mtime: statSync(file).mtimeMs, files: files() }
    for (const args of [['history'], ['history', '--json', '--peer', 'host2'], ['replay', '--at', s.e.resolve.id.slice(0, 8)], ['replay', '--at', '2026-11-26T06:05:40Z', '--json'], ['audit', '10.0.12.7'], ['audit', 'host3', '--json'], ['conflicts'], ['conflicts', '--json']]) {
      await ok(...args)
    }
    assert.equal(statSync(file).mtimeMs, before.mtime)
    assert.ok(readFileSync(file).equals(before.bytes), 'the store file is byte for byte the same')
    assert.deepEqual(files(), before.files)
  })
})

function esc (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
