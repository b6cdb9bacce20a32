import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { parseCidr, RangeSet } from '../../packages/netaddr/index.js'
import type { Allocation } from '../../node/allocator/types.js'
import { replay } from '../../crdt/replay/index.js'
import { openLogReader } from '../../node/offline/reader.js'
import { withReadableDataDir } from '../../node/offline/readable.js'
import type { EventRow } from '../../node/offline/describe.js'
import type { ConflictsJson, ReplayJson } from '../../node/offline/history.js'
import type { PeerAuditJson, SpaceAuditJson } from '../../node/offline/audit.js'
import { ringViewFromSnapshot, type RingViewJson } from '../../node/ring-view.js'
import { STORE_FILE } from '../../node/store/index.js'
import { cleanup, WeftPeer } from '../helpers/weft-process.js'
import { waitFor } from '../helpers/wait.js'

/**
 * `history`, `replay`, `audit` and `conflicts` against real daemons (issue 9):
 * three peers; donations through `alloc`; a transfer; host3 stops and is
 * taken over on both sides of a partition (a dispute), and a resolve heals
 * it; one void event. Each command gives the same output beside the running
 * daemon and on its stopped data dir, and none of them writes to it.
 */

after(async () => { await cleanup() })

const env = { WEFT_TUNING: JSON.stringify({ backoffBaseMs: 500, backoffFactor: 1.5, backoffMaxMs: 2000, readyGraceMs: 1000, syncIntervalMs: 2000 }) }
const view = async (p: WeftPeer): Promise<RingViewJson> => await p.testHook('view') as RingViewJson
const owned = (v: RingViewJson, name: string): string[] => v.peers.find(p => p.name === name)?.owned ?? []
const set = (cidrs: string[]): RangeSet => RangeSet.fromCidrs(4, cidrs.map(c => parseCidr(c)))

async function weft (p: WeftPeer, ...args: string[]): Promise<string> {
  const r = await p.run(args)
  assert.equal(r.code, 0, `weft ${args.join(' ')}: ${r.stderr}`)
  assert.equal(r.stderr, '')
  return r.stdout
}

async function weftJson<T> (p: WeftPeer, ...args: string[]): Promise<T> {
  return JSON.parse(await weft(p, ...args, '--json')) as T
}

test('history, replay, audit and conflicts tell the story of a real cluster, online and offline alike', async () => {
  const host1 = await WeftPeer.launch({ nickname: 'host1', env })
  const host2 = await WeftPeer.launch({ nickname: 'host2', peers: [host1.addr], env })
  const host3 = await WeftPeer.launch({ nickname: 'host3', peers: [host1.addr], env })
  const all = [host1, host2, host3]
  for (const p of all) {
    const ready = await p.run(['wait-ready', '--timeout', '20'])
    assert.equal(ready.code, 0, `${p.nickname} ready: ${ready.stderr}`)
  }

  // Donations: host2 and host3 start with nothing; their first allocs ask host1 for space.
  const a2 = await host2.client.alloc('web-1') as Allocation
  const a3 = await host3.client.alloc('db-1') as Allocation

  // A transfer: host1 hands host3 one of its blocks.
  const v1 = await view(host1)
  const block = owned(v1, host1.name).at(-1)!
  const give = await host1.testHook('append', { kind: 'transfer', body: { ranges: [block], to: host3.name } }) as { id: string, status: string }
  assert.equal(give.status, 'valid')
  // A void event: host2 gives away space it does not own.
  const bogus = await host2.testHook('append', { kind: 'transfer', body: { ranges: [block], to: host1.name }, allowVoid: true }) as { id: string, status: string }
  assert.equal(bogus.status, 'void')
  const host3Space = await waitFor('host1 and host2 to agree on host3\'s space', async () => {
    const [x, y] = await Promise.all([view(host1), view(host2)])
    const s = owned(x, host3.name)
    return set(s).containsSet(set([block])) && s.join() === owned(y, host3.name).join() && x.heads.join() === y.heads.join() ? s : undefined
  })

  // host3 stops; both sides of a partition take it over with its exact ranges.
  await host3.stop()
  await host1.testHook('block', { peer: host2.name })
  await host2.testHook('block', { peer: host1.name })
  await waitFor('the partition', async () => (await host1.status()).peers.every(x => !x.connected))
  const t1 = await host1.testHook('append', { kind: 'takeover', body: { from: host3.name, ranges: host3Space } }) as { id: string, status: string }
  const t2 = await host2.testHook('append', { kind: 'takeover', body: { from: host3.name, ranges: host3Space } }) as { id: string, status: string }
  assert.deepEqual([t1.status, t2.status], ['valid', 'valid'])
  await host1.testHook('unblock', { peer: host2.name })
  await host2.testHook('unblock', { peer: host1.name })
  const dispute = await waitFor('both sides to flag the dispute', async () => {
    const ds = await Promise.all([host1, host2].map(async p => (await view(p)).disputes.filter(d => d.status === 'open')))
    return ds.every(d => d.length === 1) && ds[0]![0]!.id === ds[1]![0]!.id ? ds[0]![0]! : undefined
  }, 30_000)
  const r = await host1.testHook('append', { kind: 'resolve', body: { disputes: [dispute.id], removals: [], assignments: [{ owner: host1.name, ranges: dispute.ranges }] } }) as { id: string, status: string }
  assert.equal(r.status, 'valid')
  await waitFor('the cliques to re-merge with the same log', async () => {
    const [x, y] = await Promise.all([view(host1), view(host2)])
    return x.heads.join() === y.heads.join() && x.disputes.every(d => d.status === 'settled') ? true : undefined
  }, 30_000)

  // ---- history ----
  const rows = await weftJson<EventRow[]>(host1, 'history')
  const byId = new Map(rows.map(x => [x.id, x]))
  assert.equal(rows[0]!.kind, 'genesis')
  assert.deepEqual(rows.filter(x => x.kind === 'join').map(x => x.nickname).sort(), ['host1', 'host2', 'host3'])
  const donations = rows.filter(x => x.kind === 'transfer' && x.author === host1.name && x.id !== give.id)
  assert.deepEqual(donations.map(x => x.to?.nickname).sort(), ['host2', 'host3'], 'one donation each to host2 and host3')
  assert.deepEqual([byId.get(give.id)?.ranges, byId.get(give.id)?.to?.peer], [[block], host3.name])
  assert.deepEqual([byId.get(bogus.id)?.status, byId.get(bogus.id)?.authorNickname], ['void', 'host2'])
  for (const t of [t1, t2]) assert.deepEqual([byId.get(t.id)?.kind, byId.get(t.id)?.from?.nickname, byId.get(t.id)?.ranges], ['takeover', 'host3', host3Space])
  const conflictRows = rows.filter(x => x.kind === 'conflict')
  assert.ok(conflictRows.length >= 1 && conflictRows.every(x => x.disputes?.[0] === dispute.id && x.rivals?.join() === [t1.id, t2.id].sort().join()))
  assert.deepEqual([byId.get(r.id)?.kind, byId.get(r.id)?.disputes, byId.get(r.id)?.owners?.map(o => o.nickname)], ['resolve', [dispute.id], ['host1']])
  // Causal order: every event after all of its deps.
  const text = await weft(host1, 'history')
  assert.equal(text.trimEnd().split('\n').length, rows.length)
  assert.match(text, new RegExp(`host1 \\(…${host1.name.slice(-6)}\\) +transfer +${block.replace(/\./g, '\\.')} \\(\\d+\\) → host3 \\(…${host3.name.slice(-6)}\\)  id ${give.id.slice(0, 8)}$`, 'm'))
  assert.match(text, new RegExp(`  id ${bogus.id.slice(0, 8)}  VOID: `, 'm'))
  assert.deepEqual((await weftJson<EventRow[]>(host1, 'history', '--kind', 'takeover')).map(x => x.id).sort(), [t1.id, t2.id].sort())
  assert.ok((await weftJson<EventRow[]>(host1, 'history', '--peer', 'host3')).some(x => x.id === give.id))

  // ---- audit: who gave host2 its address, and when ----
  const aud = await weftJson<SpaceAuditJson>(host1, 'audit', a2.address)
  const donation2 = donations.find(x => x.to?.nickname === 'host2')!
  assert.equal(aud.now.length, 1)
  assert.deepEqual([aud.now[0]!.owner?.peer, aud.now[0]!.since?.id, aud.now[0]!.since?.author], [host2.name, donation2.id, host1.name])
  assert.match(await weft(host1, 'audit', `${a2.address}/12`), new RegExp(`^now: ${a2.address.replace(/\./g, '\\.')} is owned by host2 \\(…\\w+\\) since \\S+Z, given by host1 \\(…\\w+\\) \\(transfer ${donation2.id.slice(0, 8)}\\)$`, 'm'))
  // host3's address: taken over twice, the dispute resolved to host1.
  const aud3 = await weftJson<SpaceAuditJson>(host1, 'audit', a3.address)
  assert.deepEqual([aud3.now[0]!.owner?.peer, aud3.now[0]!.since?.id], [host1.name, r.id])
  assert.ok([t1.id, t2.id, r.id].every(id => aud3.events.some(e => e.event.id === id)))
  const h3 = await weftJson<PeerAuditJson>(host1, 'audit', 'host3')
  assert.equal(h3.target.removed?.event !== undefined, true)
  assert.deepEqual(h3.received.map(x => x.event.id).sort(), [donations.find(x => x.to?.nickname === 'host3')!.id, give.id].sort())
  for (const rec of h3.received) for (const f of rec.fates) assert.notEqual(f.outcome, 'still-owned', 'host3 holds nothing now')

  // ---- conflicts: the same dispute id on both replicas ----
  const c1 = await weftJson<ConflictsJson>(host1, 'conflicts')
  assert.deepEqual(c1.disputes.map(d => [d.id, d.status, d.settledBy, d.parties.map(p => p.id)]), [[dispute.id, 'settled', [r.id], [t1.id, t2.id].sort((a, b) => byId.get(a)!.lamport - byId.get(b)!.lamport || (a < b ? -1 : 1))]])
  assert.deepEqual(c1.voids.map(v => v.id), [bogus.id])
  assert.ok(c1.overridden.some(o => o.overriddenBy?.includes(r.id)), 'host2\'s takeover is overridden by the resolve')
  assert.deepEqual(await weftJson<ConflictsJson>(host2, 'conflicts'), c1)
  assert.match(await weft(host1, 'conflicts'), new RegExp(`^dispute ${dispute.id}  settled by ${r.id.slice(0, 8)}  overlap  `, 'm'))

  // ---- online and offline give the same output ----
  const at = rows.find(x => x.id === give.id)!.time!
  const commands: string[][] = [
    ['history'], ['history', '--json'], ['history', '--peer', 'host2', '--kind', 'transfer,takeover'],
    ['replay', '--at', r.id.slice(0, 12)], ['replay', '--at', at, '--json'], ['replay', '--at', String(Date.parse(at))],
    ['audit', a2.address], ['audit', a3.address, '--json'], ['audit', 'host3'], ['audit', 'host2', '--json'],
    ['conflicts'], ['conflicts', '--json']
  ]
  const online = await Promise.all(commands.map(async c => await weft(host1, ...c)))
  if (process.env.HISTORY_PRINT !== undefined) commands.forEach((c, i) => { console.log(`$ weft ${c.join(' ')}\n${online[i]!}`) })
  await host2.stop()
  await host1.stop()
  const file = join(host1.dataDir, STORE_FILE)
  const before = { bytes: readFileSync(file), mtime: statSync(file).mtimeMs }
  const offline = await Promise.all(commands.map(async c => await weft(host1, ...c)))
  commands.forEach((c, i) => { assert.equal(offline[i], online[i], `weft ${c.join(' ')} offline = online`) })

  // ---- replay at every event = the fold of its causal past ----
  // host1 is running: read a copy of its store, as the CLI does (node/offline/readable.ts).
  await withReadableDataDir(host1.dataDir, async dir => {
  const reader = openLogReader(dir)
  try {
    const events = reader.events()
    assert.deepEqual(events.map(e => e.id), rows.map(x => x.id))
    for (let i = 0; i < events.length; i += 4) {
      const batch = events.slice(i, i + 4)
      const got = await Promise.all(batch.map(async e => await weftJson<ReplayJson>(host1, 'replay', '--at', e.id)))
      batch.forEach((e, k) => {
        const ring = replay(reader.clusterId, events, { event: e.id })
        const want = ringViewFromSnapshot(ring.snapshot())!
        const j = got[k]!
        assert.equal(j.events, ring.size, `events at ${e.id}`)
        assert.deepEqual(j.heads, want.heads)
        assert.deepEqual(j.owners.map(o => [o.peer, o.ranges]).sort(), want.peers.filter(p => p.owned.length > 0).map(p => [p.name, p.owned]).sort(), `owners at ${e.id}`)
        assert.deepEqual(j.disputed.ranges, want.disputed)
        assert.deepEqual(j.disputed.disputes.map(d => d.id), want.disputes.filter(d => d.status === 'open').map(d => d.id))
        assert.deepEqual(j.unowned.ranges, want.unowned)
      })
    }
  } finally {
    await reader.close()
  }
  })
  assert.equal(statSync(file).mtimeMs, before.mtime, 'the store file is not touched')
  assert.ok(readFileSync(file).equals(before.bytes), 'the store file is byte for byte the same')

  // A peer stopped long ago: its own, shorter history reads too.
  const h3rows = await weftJson<EventRow[]>(host3, 'history')
  assert.ok(h3rows.some(x => x.id === give.id) && !h3rows.some(x => x.id === t1.id))
})
