import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { cpSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { decodeEvent, eventId, type ConflictEvent, type JoinEvent } from '../../crdt/events/index.js'
import type { CheckReport } from '../../node/offline/check.js'
import type { RingViewJson } from '../../node/ring-view.js'
import { cleanup, tempDataDir, WeftPeer } from '../helpers/weft-process.js'
import { waitFor } from '../helpers/wait.js'
import { openStoreBeside } from '../helpers/store-beside.js'

/**
 * Equivocation on the wire (issue 6): "two changes with one author and seq
 * are caught before Automerge sees it".
 *
 * A cloned identity: B's data dir copied (while B is stopped) to B2, which
 * the README forbids. Both copies then write a `join` at the same next seq
 * with different contents, and A receives both.
 *
 * Expected (DESIGN.md §2.1, §2.5): Automerge refuses a second change with a
 * known (actor, seq) and fails the whole message, losing the evidence, so A
 * decodes the changes of each incoming sync message first. The second join
 * (same author and seq as the one A holds, another id) is not applied: A
 * appends a signed `conflict` with reason `equivocation` naming both ids and
 * carrying both events' bytes, logs an error naming both, drops that
 * connection with code `equivocation`, and gates the author. Both clones share
 * one PeerId, so gating the author cuts A off from both; A itself keeps
 * running and answering. `weft check` on A then reports the equivocation.
 * A "bad-message" drop (Automerge refusing the message first) would be a bug.
 *
 * Whoever sees both events first flags it. Here that is often the clone
 * itself (A's first batch carries B's join): a peer that finds its OWN
 * identity equivocating cannot tell which copy is the original, so it stops
 * writing and syncing (state identity-cloned, persisted) and hangs up with
 * both events in its BYE; A checks them and flags and gates the author just
 * as if the clone's join had arrived in a batch.
 */

after(async () => { await cleanup() })

const env = { WEFT_TUNING: JSON.stringify({ backoffBaseMs: 300, backoffFactor: 1.5, backoffMaxMs: 1000, readyGraceMs: 1000, syncIntervalMs: 2000 }) }
const view = async (p: WeftPeer): Promise<RingViewJson> => await p.testHook('view') as RingViewJson

test('a cloned identity\'s two joins with one seq: caught, flagged, dropped and gated; A keeps running', async () => {
  const a = await WeftPeer.launch({ nickname: 'eq-a', env })
  const b = await WeftPeer.launch({ nickname: 'eq-b', peers: [a.addr], env })
  for (const p of [a, b]) assert.equal((await p.run(['wait-ready', '--timeout', '20'])).code, 0)
  await waitFor('A and B connected and in sync', async () => {
    const [va, vb, sa] = await Promise.all([view(a), view(b), a.status()])
    return va.heads.join() === vb.heads.join() && va.peers.some(p => p.name === b.name && p.nickname === 'eq-b') &&
      sa.peers.find(p => p.name === b.name)?.connected === true
  })
  const author = b.name

  // Clone B: stop it, copy its whole data dir.
  await b.stop()
  const cloneDir = tempDataDir('weft-clone-')
  cpSync(b.dataDir, cloneDir, { recursive: true })

  // B again, renamed: it writes a join at its next seq; A adopts it.
  const b1 = await WeftPeer.launch({ nickname: 'eq-b-one', dataDir: b.dataDir, port: b.port, peers: [a.addr], env })
  assert.equal(b1.name, author)
  const first = await waitFor('A to adopt B\'s new join', async () => {
    const va = await view(a)
    return va.peers.find(p => p.name === author)?.nickname === 'eq-b-one' && va.heads.length === 1 ? va.heads[0] : undefined
  })

  // The clone, on another port under another nickname: a join at the SAME seq, different contents.
  const b2 = await WeftPeer.launch({ nickname: 'eq-b-two', dataDir: cloneDir, peers: [a.addr], env })
  assert.equal(b2.name, author, 'the clone has the same identity')

  // Per the design, A (holding B's join) catches the clone's join: give it 15 s.
  // If it does not, say what happened instead (who caught it, what A logged).
  let eq: RingViewJson['equivocations'][number]
  try {
    eq = await waitFor('A to flag the equivocation', async () => (await view(a)).equivocations.find(q => q.author === author), 15_000)
  } catch (err) {
    const logA = readFileSync(join(a.dataDir, 'weft.log'), 'utf8').split('\n').filter(l => l.includes('equivocation') || l.includes('bad-message'))
    const cloneView = await view(b2)
    const cloneLog = readFileSync(join(cloneDir, 'weft.log'), 'utf8').split('\n').filter(l => l.includes('ERROR'))
    assert.fail(`${(err as Error).message}.\n` +
      `A's equivocations: ${JSON.stringify((await view(a)).equivocations)}; A's connection to ${author}: ${JSON.stringify((await a.status()).connections.filter(c => c.peer === author))}\n` +
      `A's log (${logA.length} lines on equivocation/bad-message), first: ${logA[0] ?? '(none)'}\n` +
      `the clone's equivocations: ${JSON.stringify(cloneView.equivocations)}\n` +
      `the clone's log (${cloneLog.length} ERROR lines), first two:\n${cloneLog.slice(0, 2).join('\n')}`)
  }

  // The two events: B's join (held by A) and the clone's, same author and seq.
  const storeA = await openStoreBeside(a.dataDir)
  const store2 = await openStoreBeside(cloneDir)
  let second: string
  let seq: number
  try {
    const j1 = decodeEvent(storeA.getEvent(first)!.bytes).event as JoinEvent
    assert.equal(j1.kind, 'join')
    assert.equal(j1.author, author)
    seq = j1.seq
    const clones = [...store2.eventsInOrder()].map(e => decodeEvent(e.bytes)).filter(e => e.event.kind === 'join' && e.event.author === author && e.event.seq === seq)
    assert.equal(clones.length, 1, 'the clone wrote a join at the same seq')
    second = clones[0]!.id
    assert.notEqual(second, first)
    assert.equal((clones[0]!.event as JoinEvent).body.nickname, 'eq-b-two')
    assert.equal(storeA.hasEvent(second), false, 'A did not adopt the clone\'s join')

    // The ring view: one equivocation entry for B's author with both ids.
    assert.equal(eq.seq, seq)
    assert.deepEqual([...eq.events].sort(), [first, second].sort())
    // Flagged by a conflict A signed, reason equivocation, carrying both events' bytes.
    const flag = decodeEvent(storeA.getEvent(eq.flaggedBy)!.bytes).event as ConflictEvent
    assert.equal(flag.kind, 'conflict')
    assert.equal(flag.author, a.name)
    assert.equal(flag.body.reason, 'equivocation')
    assert.deepEqual([...flag.body.rivals].sort(), [first, second].sort())
    assert.equal(flag.body.supplier, author)
    assert.deepEqual(flag.body.evidence.map(bytes => eventId(bytes)).sort(), [first, second].sort())
  } finally {
    await storeA.close()
    await store2.close()
  }
  const va = await view(a)
  assert.equal(va.equivocations.length, 1)
  // From the fork's seq on, the author's events are evidence only (DESIGN.md
  // §2.7): neither join counts, so B keeps the nickname it had before.
  assert.equal(va.peers.find(p => p.name === author)?.nickname, 'eq-b', 'neither side of the fork has an effect')

  // The connection that carried it is dropped with reason equivocation.
  const drop = await waitFor('A to show B\'s author dropped', async () => (await a.status()).connections.find(c => c.peer === author && c.state === 'dropped'))
  assert.match(drop.reason ?? '', /^equivocation/)
  assert.ok(drop.reason!.includes(first) && drop.reason!.includes(second), drop.reason!)

  // A's log: the error naming both events; the drop was for equivocation, never a bad message.
  // The worker's log lines reach weft.log through the daemon: wait for it.
  const log = await waitFor('A\'s log to name both events', () => {
    const lines = readFileSync(join(a.dataDir, 'weft.log'), 'utf8').split('\n')
    return lines.some(l => l.includes('equivocation') && l.includes(first) && l.includes(second) && l.includes(author)) ? lines : undefined
  }, 15_000)
  const line = log.find(l => l.includes('equivocation') && l.includes(first) && l.includes(second) && l.includes(author))!
  assert.match(line, /error/i)
  const drops = log.filter(l => l.includes('dropped') && l.includes(author))
  assert.ok(drops.length > 0)
  assert.ok(drops.every(l => !/bad-message|bad-change|causal/.test(l)), `A dropped B's author only for equivocation:\n${drops.join('\n')}`)

  // `weft check` on A reports it (read-only, beside the running daemon).
  const check = await a.run(['check'])
  assert.equal(check.code, 1, check.stdout + check.stderr)
  assert.match(check.stdout, /equivocations: 1\n/)
  assert.ok(check.stdout.includes(`signed two events with seq ${seq}`) && check.stdout.includes(first) && check.stdout.includes(second), check.stdout)
  assert.equal(check.stderr, 'weft: 1 problem found\n')
  const checkJson = await a.run(['check', '--json'])
  assert.equal(checkJson.code, 1)
  const report = JSON.parse(checkJson.stdout) as CheckReport & { problems: number }
  assert.deepEqual(report.equivocations.map(q => ({ ...q, events: [...q.events].sort() })), [{ author, nickname: 'eq-b', seq, events: [first, second].sort() }])
  assert.equal(report.problems, 1)

  // A keeps running and answering; the author stays gated (both clones share its PeerId).
  await new Promise(resolve => setTimeout(resolve, 2000))
  assert.ok(a.running, 'A is still running')
  const s = await a.status()
  assert.equal(s.ipam.state, 'ready')
  assert.equal(s.peers.find(p => p.name === author)?.connected, false, 'the cloned author stays gated')
  assert.equal((await a.client.alloc('after-equivocation')).address.length > 0, true)
  assert.equal((await a.run(['verify'])).code, 0, 'A\'s own log still verifies')
  for (const p of [b1, b2]) assert.ok(p.running, `${p.nickname} is still running`)

  // Whichever copy learnt that its identity is cloned refuses to act, and says why.
  const clonedCopies = []
  for (const p of [b1, b2]) {
    const st = await p.status()
    if (st.ipam.state !== 'identity-cloned') continue
    clonedCopies.push(p)
    assert.match(st.ipam.reason ?? '', /data dir was copied or restored from a backup.*weft reset --force/)
    const alloc = await p.run(['alloc', 'on-a-clone'])
    assert.notEqual(alloc.code, 0, 'a cloned copy hands out no address')
    assert.match(alloc.stderr, /identity/)
  }
  assert.ok(clonedCopies.length > 0 || (await view(b2)).equivocations.length > 0, 'the clone learnt about it one way or the other')
  // It stays so across a relaunch (persisted), until `weft reset --force`.
  for (const p of clonedCopies) {
    await p.stop()
    const again = await WeftPeer.launch({ nickname: p.nickname, dataDir: p.dataDir, env })
    const st = await waitFor('the relaunched copy to load', async () => { const x = await again.status(); return x.ipam.state !== 'loading' ? x : undefined })
    assert.equal(st.ipam.state, 'identity-cloned')
    assert.notEqual((await again.run(['wait-ready', '--timeout', '2'])).code, 0)
    const reset = await again.run(['reset', '--force'])
    assert.equal(reset.code, 0, reset.stderr)
  }
})

/**
 * The two events reach a bystander from different peers: J1 from B itself,
 * J2 relayed by C (an honest peer the clone talked to while C was cut off
 * from A). A holds J1 when C's batch brings J2: A flags the equivocation
 * with both events' bytes, logs it, and hangs up on C with the evidence;
 * C flags it too. Recoverable (DESIGN.md §2.7): both quarantine B's events
 * from that seq (kept as evidence, no effect), rewrite their documents, and
 * converge to one log; `weft rmpeer` of B settles it on both.
 */
test('an equivocation relayed by an honest peer: flagged, both sides converge to one log, and rmpeer settles it', async () => {
  const a = await WeftPeer.launch({ nickname: 'rq-a', env })
  const b = await WeftPeer.launch({ nickname: 'rq-b', peers: [a.addr], env })
  const c = await WeftPeer.launch({ nickname: 'rq-c', peers: [a.addr], env })
  await waitFor('A, B and C in sync', async () => {
    const vs = await Promise.all([a, b, c].map(view))
    return vs.every(v => v.heads.join() === vs[0]!.heads.join() && v.peers.filter(p => p.nickname !== undefined).length === 3)
  })
  const author = b.name
  await b.stop()
  const cloneDir = tempDataDir('weft-clone-')
  cpSync(b.dataDir, cloneDir, { recursive: true })

  // {A} | {C}; C also refuses B's identity while B writes J1 through A.
  await a.testHook('block', { peer: c.name })
  await c.testHook('block', { peer: a.name })
  await c.testHook('block', { peer: author })
  await waitFor('the partition', async () => (await a.status()).peers.find(p => p.name === c.name)?.connected === false)
  const b1 = await WeftPeer.launch({ nickname: 'rq-b-one', dataDir: b.dataDir, port: b.port, peers: [a.addr], env })
  const first = await waitFor('A to adopt B\'s join', async () => {
    const v = await view(a)
    return v.peers.find(p => p.name === author)?.nickname === 'rq-b-one' && v.heads.length === 1 ? v.heads[0] : undefined
  })
  await b1.stop()
  // Now the clone writes J2 at the same seq, through C only.
  await a.testHook('block', { peer: author })
  await c.testHook('unblock', { peer: author })
  const b2 = await WeftPeer.launch({ nickname: 'rq-b-two', dataDir: cloneDir, peers: [c.addr], env })
  const second = await waitFor('C to adopt the clone\'s join', async () => {
    const v = await view(c)
    return v.peers.find(p => p.name === author)?.nickname === 'rq-b-two' && v.heads.length === 1 ? v.heads[0] : undefined
  })
  await b2.stop()
  assert.notEqual(first, second)

  // Heal A | C: C's batch carries J2 to A, which holds J1.
  await a.testHook('unblock', { peer: c.name })
  await c.testHook('unblock', { peer: a.name })
  const eq = await waitFor('A to flag the equivocation', async () => (await view(a)).equivocations.find(q => q.author === author))
  assert.deepEqual([...eq.events].sort(), [first, second].sort())

  const flagA = eq.flaggedBy
  {
    const storeA = await openStoreBeside(a.dataDir)
    try {
      const flag = decodeEvent(storeA.getEvent(flagA)!.bytes).event as ConflictEvent
      assert.equal(flag.author, a.name)
      assert.equal(flag.body.reason, 'equivocation')
      assert.deepEqual([...flag.body.rivals].sort(), [first, second].sort())
      assert.equal(flag.body.supplier, c.name)
      assert.deepEqual(flag.body.evidence.map(bytes => eventId(bytes)).sort(), [first, second].sort())
      const j2 = decodeEvent(flag.body.evidence.find(bytes => eventId(bytes) === second)!).event as JoinEvent
      assert.equal(j2.kind, 'join')
      assert.equal(j2.author, author)
      assert.equal(j2.body.nickname, 'rq-b-two')
    } finally {
      await storeA.close()
    }
  }
  // The worker's log lines reach weft.log through the daemon: wait for it.
  const named = (l: string): boolean => / ERROR /.test(l) && l.includes('equivocation') && l.includes(first) && l.includes(second) && l.includes(author) && l.includes(c.name)
  const log = await waitFor('A\'s log to name both events, the author and the supplier', () => {
    const lines = readFileSync(join(a.dataDir, 'weft.log'), 'utf8').split('\n')
    return lines.some(named) ? lines : undefined
  }, 15_000)
  assert.ok(log.every(l => !(l.includes(c.name) && /bad-message|bad-change|causal/.test(l))), 'never a bad-message drop')

  // Recoverable (DESIGN.md §2.7): A and C, which held the two sides, converge
  // to one log holding both joins as evidence, with the same heads.
  const [va, vc] = await waitFor('A and C to converge on one log with both sides', async () => {
    const vs = await Promise.all([view(a), view(c)])
    const both = await Promise.all([a, c].map(async p => {
      const st = await openStoreBeside(p.dataDir)
      try { return st.hasEvent(first) && st.hasEvent(second) } finally { await st.close() }
    }))
    return vs[0].heads.join() === vs[1].heads.join() && both.every(Boolean) ? vs : undefined
  }, 30_000)
  for (const v of [va, vc]) {
    // Neither join has an effect: B keeps the nickname from before the fork.
    assert.equal(v.peers.find(p => p.name === author)?.nickname, 'rq-b')
    assert.deepEqual(v.equivocations.filter(q => q.author === author).map(q => ({ seq: q.seq, events: [...q.events].sort(), settled: q.settled }))[0], { seq: eq.seq, events: [first, second].sort(), settled: false })
  }
  for (const p of [a, c]) {
    const s = await p.status()
    assert.equal(s.ipam.state, 'ready')
    assert.ok(s.conflicts.unresolved >= 1, `${p.nickname} counts the fork as unresolved: ${JSON.stringify(s.conflicts)}`)
    const check = await p.run(['check', '--json'])
    assert.equal(check.code, 1, check.stderr)
    const report = JSON.parse(check.stdout) as CheckReport & { problems: number }
    assert.deepEqual(report.equivocations.map(q => ({ ...q, events: [...q.events].sort() })), [{ author, nickname: 'rq-b', seq: eq.seq, events: [first, second].sort() }])
    assert.equal((await p.run(['verify'])).code, 0, `${p.nickname}'s log verifies`)
  }
  assert.ok((await a.client.alloc('after-equivocation')).address.length > 0)
  assert.ok((await c.client.alloc('after-equivocation')).address.length > 0)

  // `weft resolve` on either peer's flag (the view lists one per fork) says what settles it.
  for (const flag of new Set([eq.flaggedBy, ...va.equivocations.map(q => q.flaggedBy), ...vc.equivocations.map(q => q.flaggedBy)])) {
    const res = await a.run(['resolve', flag])
    assert.notEqual(res.code, 0)
    assert.match(res.stderr, /is an equivocation by rq-b \(two events with seq \d+\), not a dispute: run `weft rmpeer rq-b`/)
  }

  // Settled by removing the forked author: the takeover is approved by A and C.
  const rm = await waitFor('rmpeer of the forked author to go through', async () => {
    const r = await a.run(['rmpeer', 'rq-b'])
    return r.code === 0 ? r : undefined
  }, 30_000)
  assert.match(rm.stdout, /^\d+ IPs taken over from rq-b\n/)
  await waitFor('A and C to see the fork settled', async () => {
    const vs = await Promise.all([view(a), view(c)])
    return vs.every(v => v.heads.join() === vs[0]!.heads.join() && v.equivocations.length > 0 && v.equivocations.every(q => q.settled))
  }, 30_000)
  for (const p of [a, c]) {
    assert.equal((await p.status()).conflicts.unresolved, 0, p.nickname)
    const check = await p.run(['check'])
    assert.equal(check.code, 0, check.stdout + check.stderr)
  }
})
