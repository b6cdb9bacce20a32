import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { RingViewJson } from '../../node/ring-view.js'
import { cleanup, WeftPeer, type RunResult } from '../helpers/weft-process.js'
import { waitFor } from '../helpers/wait.js'

/**
 * Takeovers approved by a quorum (issue 14, DESIGN.md §3.2), with real
 * daemons: two hosts removing the same dead peer at the same moment, on
 * fresh clusters, always give it exactly one taker and never a dispute; the
 * loser names the winner. Votes are durable (a winner that never appended
 * still wins after the voters crash and relaunch) and time out clearly.
 */

after(async () => { await cleanup() })

// Anti-entropy every 0.5 s: a killed peer counts as possibly dead after 1 s.
const TUNING = { syncIntervalMs: 500, readyGraceMs: 1000, backoffBaseMs: 300, backoffMaxMs: 1500, voteTimeoutMs: 4000 }
const env = { WEFT_TUNING: JSON.stringify(TUNING) }
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
/** Fresh clusters for the race; WEFT_RMPEER_RACES overrides (the issue asks for 20). */
const RACES = Number(process.env.WEFT_RMPEER_RACES ?? 20)

/** host1 founds; host2..hostN join it; everyone connected to everyone; hostN owns space. */
async function cluster (prefix: string, n: number): Promise<WeftPeer[]> {
  const first = await WeftPeer.launch({ nickname: `${prefix}1`, env })
  const rest = await Promise.all(Array.from({ length: n - 1 }, async (_, i) => await WeftPeer.launch({ nickname: `${prefix}${i + 2}`, peers: [first.addr], env })))
  const all = [first, ...rest]
  await waitFor('a full mesh', async () => (await Promise.all(all.map(p => p.status()))).every(s => s.peers.filter(x => x.connected).length === n - 1), 30_000)
  const last = all[n - 1]!
  const a = await last.run(['alloc', 'web'])
  assert.equal(a.code, 0, a.stderr)
  await waitFor(`everyone to see ${last.nickname} own space`, async () => (await Promise.all(all.map(p => p.status()))).every(s => {
    const owned = s.peers.find(x => x.name === last.name)?.owned
    return s.peer.name === last.name || (owned !== undefined && owned !== 0)
  }), 20_000)
  return all
}

/** Kills `p` and waits until it may count as dead (two anti-entropy rounds). */
async function killed (p: WeftPeer): Promise<void> {
  await p.kill()
  await sleep(2 * TUNING.syncIntervalMs + 300)
}

async function views (peers: WeftPeer[]): Promise<RingViewJson[]> {
  return await Promise.all(peers.map(async p => await p.testHook('view') as RingViewJson))
}

/** Waits until the live peers hold the same heads, and returns their views. */
async function converged (peers: WeftPeer[]): Promise<RingViewJson[]> {
  return await waitFor('the live peers to converge', async () => {
    const vs = await views(peers)
    return vs.every(v => v.heads.join() === vs[0]!.heads.join()) ? vs : undefined
  }, 20_000)
}

describe('takeover votes', () => {
  test(`two hosts run rmpeer on one dead peer at the same moment, ${RACES} fresh clusters: exactly one takes over, the other names it, never a dispute`, async () => {
    const winners: Record<string, number> = {}
    for (let race = 0; race < RACES; race++) {
      const [h1, h2, h3, h4] = await cluster(`r${race}h`, 4) as [WeftPeer, WeftPeer, WeftPeer, WeftPeer]
      await killed(h4)
      const results = await Promise.all([h1, h2].map(async p => await p.run(['rmpeer', h4.nickname])))
      const won = results.filter(r => r.code === 0)
      const lost = results.filter(r => r.code !== 0)
      const show = (): string => results.map((r: RunResult, i) => `${[h1, h2][i]!.nickname}: exit ${r.code} ${r.stdout}${r.stderr}`).join(' | ')
      assert.equal(won.length, 1, `race ${race}: exactly one winner: ${show()}`)
      assert.equal(lost.length, 1, show())
      const winner = results[0]!.code === 0 ? h1 : h2
      winners[winner.nickname.slice(-1)] = (winners[winner.nickname.slice(-1)] ?? 0) + 1
      assert.match(won[0]!.stdout, new RegExp(`^\\d+ IPs taken over from ${h4.nickname}\\n$`), show())
      // CLI.md: `weft: host3 is being taken over by host1 (approved by 3 of 5 members)`; after the winner's
      // takeover reached the loser, the log says the same in the past tense.
      assert.match(lost[0]!.stderr, new RegExp(`^weft: ${h4.nickname} (is being|was) taken over by ${winner.nickname} \\(approved by 3 of 4 members\\)\\n$`), show())
      const vs = await converged([h1, h2, h3])
      for (const v of vs) {
        assert.deepEqual(v.disputes, [], `race ${race}: no dispute on any replica`)
        const gone = v.peers.find(p => p.name === h4.name)!
        assert.equal(gone.removed?.by, winner.name)
        assert.equal(gone.removed?.approved?.of, 4)
        assert.equal(gone.removed?.approved?.votes.length, 3)
        assert.deepEqual(gone.owned, [])
      }
      // The loser's rerun knows from the log, and a rerun with --force cannot override it.
      const loser = winner === h1 ? h2 : h1
      for (const args of [['rmpeer', h4.nickname], ['rmpeer', h4.nickname, '--force']]) {
        const again = await loser.run(args)
        assert.equal(again.code, 1)
        assert.equal(again.stderr, `weft: ${h4.nickname} was taken over by ${winner.nickname} (approved by 3 of 4 members)\n`)
      }
      await Promise.all([h1, h2, h3].map(async p => { await p.kill() }))
    }
    // Both sides win sometimes: the race is real, not decided by who was launched first.
    process.stdout.write(`# rmpeer races won: ${JSON.stringify(winners)}\n`)
  })

  test('status, history and audit show who approved the takeover', async () => {
    const [h1, h2, h3, h4] = await cluster('show', 4) as [WeftPeer, WeftPeer, WeftPeer, WeftPeer]
    const space = (await h4.status()).owned
    await killed(h4)
    const r = await h2.run(['rmpeer', h4.nickname, '--json'])
    assert.equal(r.code, 0, r.stderr)
    const [result] = JSON.parse(r.stdout) as Array<{ ok: boolean, approved: { votes: string[], of: number }, forced?: boolean }>
    assert.equal(result!.ok, true)
    assert.equal(result!.approved.of, 4)
    assert.deepEqual([...result!.approved.votes].sort(), [h1.name, h2.name, h3.name].sort())
    assert.equal(result!.forced, undefined)
    await converged([h1, h2, h3])
    const peers = await h1.run(['status', 'peers'])
    assert.match(peers.stdout, new RegExp(`^${h4.name} +show4 \\(removed\\) .* taken over by show2, approved by (show[123](, )?){3} \\(3 of 4 members\\)$`, 'm'))
    const history = await h3.run(['history', '--kind', 'takeover'])
    assert.match(history.stdout, /takeover .* from show4 \(…\w+\), approved by show[123], show[123] and show[123] \(3 of 4 members\)  id [0-9a-f]{8}\n$/)
    const audit = await h1.run(['audit', space[0]!])
    assert.match(audit.stdout, /^now: .* is owned by show2 .* taken over by show2 \(…\w+\) from show4 \(…\w+\), approved by show[123], show[123] and show[123] \(3 of 4 members\) \(takeover [0-9a-f]{8}\)$/m)
  })

  test('votes are durable: a winner that never appended still wins after every other voter crashes and relaunches', async () => {
    const [h1, h2, h3, h4] = await cluster('dur', 4) as [WeftPeer, WeftPeer, WeftPeer, WeftPeer]
    await killed(h4)
    const vote = await h1.testHook('vote', { target: h4.name }) as { won?: boolean, votes?: string[] }
    assert.equal(vote.won, true)
    // The voters crash (no clean shutdown) and come back from what they had made durable.
    await Promise.all([h2, h3].map(async p => { await p.kill() }))
    await Promise.all([h2, h3].map(async p => { await p.relaunch() }))
    await waitFor('the voters to reconnect', async () => (await h2.status()).peers.filter(p => p.connected).length === 2, 20_000)
    const r = await h2.run(['rmpeer', h4.nickname, '--force'])
    assert.equal(r.code, 1, r.stdout)
    assert.equal(r.stderr, `weft: ${h4.nickname} is being taken over by ${h1.nickname} (approved by 3 of 4 members)\n`)
    // Nothing was appended by the vote alone: dur4 still owns its space everywhere.
    for (const v of await views([h1, h2, h3])) assert.equal(v.peers.find(p => p.name === h4.name)?.removed, undefined)
    // The winner's rmpeer now takes over (its own vote again chooses it).
    const w = await h1.run(['rmpeer', h4.nickname])
    assert.equal(w.code, 0, w.stderr)
    assert.match(w.stdout, /^\d+ IPs taken over from dur4\n$/)
  })

  test('a vote that cannot finish times out with a clear error, and a retry succeeds', async () => {
    const [h1, h2, h3, h4] = await cluster('slow', 4) as [WeftPeer, WeftPeer, WeftPeer, WeftPeer]
    await killed(h4)
    // slow3 is frozen: still connected, never answering. The quorum (3 of 4) needs it.
    process.kill(h3.pid, 'SIGSTOP')
    try {
      const r = await h1.run(['rmpeer', h4.nickname])
      assert.equal(r.code, 1)
      assert.match(r.stderr, /^weft: slow4: the vote on taking over slow4 did not finish within 4 s \(3 reachable voters, 3 needed\).*: retry\n$/)
    } finally {
      process.kill(h3.pid, 'SIGCONT')
    }
    const r = await waitFor('a retried rmpeer to succeed', async () => {
      const x = await h1.run(['rmpeer', h4.nickname])
      return x.code === 0 ? x : undefined
    }, 30_000)
    assert.match(r.stdout, /^\d+ IPs taken over from slow4\n$/)
    void h2
  })
})
