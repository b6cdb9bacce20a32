import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseCidr } from '../../packages/netaddr/index.js'
import { createGenesis, decodeEvent, defaultVerifier, ed25519SignerFromSeed, EventError, signApproval, signEvent, type SignedEvent } from '../../crdt/events/index.js'
import { EventLog, LogError, SyncSession } from '../../crdt/log/index.js'
import { startControlServer } from '../../node/api/server.js'
import { parseConsensusRequest } from '../../node/net/consensus.js'
import { decodeFrame, encodeBye, encodeHello, encodeSeen, encodeSync, encodeSyncRef, ProtocolError } from '../../node/net/frames.js'
import { parseAnswer } from '../../node/net/space.js'
import { SYNC_PROTOCOL } from '../../node/log-service/types.js'
import { FakeAllocator, FakeDaemon, fakeStatus } from '../helpers/fake-daemon.js'
import { mulberry32 } from '../helpers/sim-cluster.js'

/**
 * Hostile input, mutated from real traffic (issue 15, DESIGN.md §3.3): every
 * decoder that reads bytes from another host, and the control API, get
 * real frames, events, sync messages and requests with bytes flipped,
 * dropped, duplicated, spliced and cut. Each either decodes or throws its
 * own typed error (never a TypeError, RangeError or a crash), a sync
 * message that fails leaves the document as it was, and the control server
 * answers every request with a 4xx or 2xx, never a 500, and keeps serving.
 * WEFT_FUZZ_CASES scales the run (default: 100,000 cases in all).
 */

const TOTAL = Number(process.env.WEFT_FUZZ_CASES ?? 100_000)
const random = mulberry32(Number(process.env.WEFT_FUZZ_SEED ?? 15))
const int = (n: number): number => Math.floor(random() * n)

/** One random mutation of `b`: flip bits, overwrite, insert, delete, duplicate a slice, truncate, or splice another sample in. */
function mutate (b: Uint8Array, others: readonly Uint8Array[]): Uint8Array {
  const out = [...b]
  const rounds = 1 + int(4)
  for (let r = 0; r < rounds; r++) {
    const at = out.length === 0 ? 0 : int(out.length)
    switch (int(7)) {
      case 0: if (out.length > 0) out[at] = out[at]! ^ (1 << int(8)); break
      case 1: if (out.length > 0) out[at] = int(256); break
      case 2: out.splice(at, 0, ...Array.from({ length: 1 + int(8) }, () => int(256))); break
      case 3: out.splice(at, 1 + int(8)); break
      case 4: out.splice(at, 0, ...out.slice(at, at + 1 + int(32))); break
      case 5: out.length = int(out.length + 1); break
      default: {
        const o = others[int(others.length)]!
        const from = int(o.length + 1)
        out.splice(at, int(16), ...o.slice(from, from + 1 + int(64)))
      }
    }
  }
  return Uint8Array.from(out)
}

/** Runs `n` mutated cases of `samples` through `check`; an error that is not `expected` fails with the case. */
function fuzz (n: number, samples: readonly Uint8Array[], check: (input: Uint8Array) => void, expected: (err: unknown) => boolean): { ok: number, refused: number } {
  let ok = 0
  let refused = 0
  for (let i = 0; i < n; i++) {
    const input = mutate(samples[int(samples.length)]!, samples)
    try {
      check(input)
      ok++
    } catch (err) {
      if (!expected(err)) assert.fail(`case ${i}: ${(err as Error)?.name}: ${(err as Error)?.message} on ${Buffer.from(input).toString('hex').slice(0, 400)}`)
      refused++
    }
  }
  return { ok, refused }
}

// ---- real traffic ---------------------------------------------------------------

const alice = ed25519SignerFromSeed(new Uint8Array(32).fill(91))
const bob = ed25519SignerFromSeed(new Uint8Array(32).fill(92))
const carol = ed25519SignerFromSeed(new Uint8Array(32).fill(93))
const genesis = createGenesis({ ranges: [parseCidr('10.32.0.0/12')], seeds: [alice.author] })

/** alice's chain (join, transfer, approved takeover), each on the last, and bob's leave beside it. */
function realEvents (): SignedEvent[] {
  const time = 1_764_000_000_000
  const approvalVotes = [alice, bob].map(v => ({ peer: v.author, sig: signApproval({ cluster: genesis.id, from: carol.author, to: alice.author, round: 2, proposer: alice.author, of: 3 }, v) }))
  const join = signEvent({ kind: 'join', author: alice.author, seq: 1, lamport: 2, deps: [genesis.id], time, body: { nickname: 'host1', addrs: ['/ip4/127.0.0.1/tcp/6783'] } }, alice)
  const transfer = signEvent({ kind: 'transfer', author: alice.author, seq: 2, lamport: 3, deps: [join.id], time, body: { ranges: [parseCidr('10.40.0.0/13')], to: bob.author } }, alice)
  const takeover = signEvent({ kind: 'takeover', author: alice.author, seq: 3, lamport: 4, deps: [transfer.id], time, body: { from: carol.author, ranges: [parseCidr('10.44.0.0/14')], approval: { cluster: genesis.id, round: 2, proposer: alice.author, of: 3, votes: approvalVotes.sort((a, b) => Buffer.compare(Buffer.from(a.peer), Buffer.from(b.peer))) } } }, alice)
  const leave = signEvent({ kind: 'leave', author: bob.author, seq: 1, lamport: 2, deps: [genesis.id], time, body: { heirs: [{ peer: alice.author, ranges: [parseCidr('10.40.0.0/13')] }] } }, bob)
  return [genesis, join, transfer, takeover, leave]
}

const events = realEvents()

const hello = {
  cluster: genesis.id,
  range: '10.32.0.0/12',
  protocol: { ...SYNC_PROTOCOL },
  eventFormat: 2,
  peer: { name: alice.author, nickname: 'host1' },
  disputes: [],
  resolved: [],
  seen: [[bob.author, 1200]]
}

/** A real sync exchange: a log with the events, and the messages a fresh peer gets from it. */
function realSync (): { messages: Uint8Array[], fresh: () => { log: EventLog, session: SyncSession } } {
  const source = EventLog.create(alice.author)
  source.addGenesis(genesis)
  for (const e of events.slice(1, 4)) source.append(e)
  const fresh = (): { log: EventLog, session: SyncSession } => {
    const log = EventLog.create(bob.author)
    log.addGenesis(genesis)
    return { log, session: new SyncSession() }
  }
  const { log: sink, session: sinkSession } = fresh()
  const sourceSession = new SyncSession()
  const messages: Uint8Array[] = []
  for (let round = 0; round < 6; round++) {
    const a = source.generateSyncMessage(sourceSession)
    if (a !== null) { messages.push(a); sink.receive(sinkSession, a, defaultVerifier).adopt() }
    const b = sink.generateSyncMessage(sinkSession)
    if (b !== null) { messages.push(b); source.receive(sourceSession, b, defaultVerifier).adopt() }
    if (a === null && b === null) break
  }
  return { messages, fresh }
}

describe(`hostile input, ${TOTAL} mutated cases`, () => {
  const share = (part: number): number => Math.max(100, Math.round(TOTAL * part))

  test('wire frames: hello, sync, bye (with evidence), seen, sync-ref', () => {
    const samples = [
      encodeHello(hello as never), encodeSync(new Uint8Array([0x42, 1, 2, 3])), encodeBye('dispute', 'unresolved dispute: run weft resolve', [events[2]!.bytes]),
      encodeSeen([[bob.author, 5]] as never), encodeSyncRef({ transfer: 3, bytes: 2_000_000, sha256: 'ab'.repeat(32) })
    ]
    const r = fuzz(share(0.3), samples, b => { decodeFrame(b) }, err => err instanceof ProtocolError)
    assert.ok(r.refused > 0 && r.ok > 0, JSON.stringify(r))
  })

  test('events: every kind, with an approval; decoded and verified, or refused with an EventError', () => {
    const r = fuzz(share(0.3), events.map(e => e.bytes), b => { decodeEvent(b) }, err => err instanceof EventError)
    assert.ok(r.refused > 0, JSON.stringify(r))
  })

  test('sync messages: adopted with verified events only, or refused with the document unchanged', () => {
    const { messages, fresh } = realSync()
    assert.ok(messages.length >= 2)
    let { log, session } = fresh()
    let cases = 0
    const r = fuzz(share(0.2), messages, b => {
      // A fresh receiver every so often, so mutations meet both an empty and a filled document.
      if (++cases % 200 === 0) ({ log, session } = fresh())
      const heads = log.heads().join()
      try {
        const got = log.receive(session, b, defaultVerifier)
        for (const e of got.events) decodeEvent(e.bytes) // whatever it offers verifies
        if (cases % 2 === 0) got.adopt(); else got.discard()
      } catch (err) {
        assert.equal(log.heads().join(), heads, 'a refused message changed the document')
        throw err
      }
    }, err => err instanceof LogError)
    assert.ok(r.refused > 0, JSON.stringify(r))
  })

  test('consensus requests and donation answers', () => {
    const enc = new TextEncoder()
    const ballot = { round: 3, proposer: alice.author }
    const requests = [
      { op: 'paxos', instance: 'bootstrap', group: { n: 3, range: '10.32.0.0/12' }, req: { op: 'accept', ballot, value: { seeds: [alice.author, bob.author] } } },
      { op: 'start', instance: 'bootstrap' },
      { op: 'takeover', cluster: genesis.id, target: carol.author, members: 'cd'.repeat(32), req: { op: 'accept', ballot, value: { taker: alice.author, of: 3 } } }
    ].map(x => enc.encode(JSON.stringify(x)))
    const r1 = fuzz(share(0.1), requests, b => { parseConsensusRequest(b) }, err => (err as Error).name === 'BadRequestError')
    const answers = ['{"free":"65536"}', `{"ok":true,"transfer":"${'ef'.repeat(32)}","ranges":["10.40.0.0/14"]}`, '{"ok":false,"reason":"no free space"}'].map(s => enc.encode(s))
    const r2 = fuzz(share(0.05), answers, b => { parseAnswer(b) }, err => err instanceof Error && !(err instanceof TypeError) && !(err instanceof RangeError))
    assert.ok(r1.refused > 0 && r2.refused > 0, JSON.stringify([r1, r2]))
  })

  const dir = mkdtempSync(join(tmpdir(), 'weft-fuzz-'))
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  test('the control API: garbage bodies get 4xx, never a 500, and the server keeps answering', async () => {
    const socket = join(dir, 'weft.sock')
    const server = await startControlServer(socket, new FakeDaemon(fakeStatus(), { allocator: new FakeAllocator() }))
    const send = async (method: string, path: string, body: Uint8Array): Promise<number> => await new Promise((resolve, reject) => {
      const req = request({ socketPath: socket, method, path, headers: { 'content-type': 'application/json', 'content-length': body.length } }, res => {
        res.resume()
        res.on('end', () => { resolve(res.statusCode ?? 0) })
      })
      req.on('error', reject)
      req.end(body)
    })
    const enc = new TextEncoder()
    const routes: Array<[string, string, unknown]> = [
      ['POST', '/alloc', { id: 'web-1', subnet: '10.32.0.0/12' }], ['POST', '/claim', { id: 'db', address: '10.32.0.9' }],
      ['POST', '/release', { id: 'web-1' }], ['POST', '/connect', { addrs: ['/ip4/10.0.0.2/tcp/6783'] }],
      ['POST', '/forget', { addrs: ['/ip4/10.0.0.2/tcp/6783'] }], ['POST', '/rmpeer', { peers: ['host3'], force: false }],
      ['POST', '/resolve', { id: 'ab'.repeat(32) }], ['POST', '/wait-ready', { timeoutMs: 1 }]
    ]
    const samples = routes.map(([, , b]) => enc.encode(JSON.stringify(b)))
    const statuses = new Map<number, number>()
    try {
      for (let i = 0; i < share(0.05); i++) {
        const [method, path] = routes[int(routes.length)]!
        const status = await send(method, path, mutate(samples[int(samples.length)]!, samples))
        statuses.set(status, (statuses.get(status) ?? 0) + 1)
        assert.ok(status >= 200 && status < 500, `${method} ${path} answered ${status}`)
      }
      assert.equal(await send('GET', '/status', new Uint8Array()), 200, 'still serving')
    } finally {
      await server.close()
    }
    assert.ok((statuses.get(400) ?? 0) > 0, JSON.stringify([...statuses]))
  })
})
