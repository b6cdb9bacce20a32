import { DEFAULT_TUNING } from '../node/config.js'
import { preformCluster } from '../test/sim/preformed.js'
import { World, type SimHost } from '../test/sim/world.js'
import type { BenchResult } from './harness.js'

/**
 * Issue 16's scale study (DESIGN.md §8), on the deterministic simulator:
 * 10, 100 and 1,000 real peers (node/peer.ts) in one process, connections
 * capped at 16 (the daemon's default), changes relayed, 5 ms per link, the
 * daemon's own timings. For one change: the simulated time until every peer
 * holds it, and the frames and bytes sent per peer; for a partition into
 * halves that each made a change: the time to converge after the heal.
 * WEFT_SCALE_PEERS=10,100 picks the sizes.
 */

const GROUP = 'scale'
const LINK_MS = 5

interface Figures { peers: number, propagationMs: number, framesPerPeer: number, bytesPerPeer: number, healMs: number, connections: number, setupWallS: number }

function holdsAll (hosts: SimHost[], id: string): boolean {
  return hosts.every(h => h.run?.log.service.holdsEvent(id) === true)
}

async function study (n: number): Promise<Figures> {
  const started = Date.now()
  const range = '10.0.0.0/8'
  const world = new World({
    seed: 16,
    peers: n,
    range,
    bootstrap: 'founder',
    links: { delayMs: LINK_MS, jitterMs: 0, drop: 0, duplicate: 0 },
    commitMs: 1,
    // The daemon's timings: a scale study of the simulator's fast rounds would measure rounds.
    tuning: { ...DEFAULT_TUNING }
  })
  try {
    const say = (what: string): void => { console.error(`bench: scale ${n} peers: ${what} (${((Date.now() - started) / 1000).toFixed(0)} s)`) }
    preformCluster(world, range)
    say('cluster written to every disk')
    for (const h of world.hosts) world.launch(h, { mode: 'founder' }, [])
    const up = await world.runUntil(() => world.upHosts().length === n, 600_000, 50)
    if (!up) throw new Error(`only ${world.upHosts().length} of ${n} peers started`)
    say('every peer started')
    // Let dialling settle: every peer connected, the first syncs done.
    await world.runUntil(() => world.hosts.every(h => (h.run?.peer.network?.connectedPeers().length ?? 0) > 0), 120_000, 50)
    await world.advance(10_000, 50)
    say('connected and synced')
    const connections = world.hosts.reduce((s, h) => s + (h.run!.peer.network!.connectedPeers().length), 0) / n

    // One change, made by the last peer (the one with the fewest dialled connections, if any).
    const by = world.hosts[n - 1]!
    const sent = { ...world.net.sent }
    const t0 = world.clock.now()
    let id: string | undefined
    void by.run!.log.ensureJoin(`${by.nickname}-renamed`, [world.addr(by)]).then(x => { id = x })
    const reached = await world.runUntil(() => id !== undefined && holdsAll(world.hosts, id), 60_000, 1)
    if (!reached) throw new Error(`one change did not reach all ${n} peers in 60 simulated s`)
    const propagationMs = world.clock.now() - t0
    const framesPerPeer = (world.net.sent.frames - sent.frames) / n
    const bytesPerPeer = (world.net.sent.bytes - sent.bytes) / n

    // A partition into halves, a change on each side, then the heal.
    const left = world.hosts.slice(0, Math.ceil(n / 2))
    const right = world.hosts.slice(Math.ceil(n / 2))
    world.partition(left, right)
    await world.advance(2_000, 10)
    const ids: Array<string | undefined> = [undefined, undefined]
    void left[left.length - 1]!.run!.log.ensureJoin('left-side', [world.addr(left[left.length - 1]!)]).then(x => { ids[0] = x })
    void right[0]!.run!.log.ensureJoin('right-side', [world.addr(right[0]!)]).then(x => { ids[1] = x })
    await world.advance(2_000, 10)
    const t1 = world.clock.now()
    world.healAll()
    const healed = await world.runUntil(() => ids.every(x => x !== undefined && holdsAll(world.hosts, x)), 600_000, 5)
    if (!healed) throw new Error(`${n} peers did not converge within 600 simulated s of the heal`)
    const healMs = world.clock.now() - t1
    return { peers: n, propagationMs, framesPerPeer, bytesPerPeer, healMs, connections, setupWallS: (Date.now() - started) / 1000 }
  } finally {
    await world.close()
  }
}

export async function run (): Promise<BenchResult[]> {
  const sizes = (process.env.WEFT_SCALE_PEERS ?? '10,100,1000').split(',').map(Number).filter(x => Number.isSafeInteger(x) && x > 1)
  const out: BenchResult[] = []
  for (const n of sizes) {
    const f = await study(n)
    console.error(`bench: scale ${n} peers: ${JSON.stringify(f)}`)
    const at = `${n} peers, ${LINK_MS} ms links, ≤16 connections (avg ${f.connections.toFixed(1)})`
    out.push({ group: GROUP, name: `one change reaches every peer: ${at}`, value: f.propagationMs, unit: 'simulated ms' })
    out.push({ group: GROUP, name: `frames sent per peer for one change: ${n} peers`, value: f.framesPerPeer, unit: 'frames' })
    out.push({ group: GROUP, name: `bytes sent per peer for one change: ${n} peers`, value: f.bytesPerPeer, unit: 'bytes' })
    out.push({ group: GROUP, name: `converged after a partition into halves heals: ${n} peers`, value: f.healMs, unit: 'simulated ms' })
  }
  return out
}
