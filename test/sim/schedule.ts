import { createHash } from 'node:crypto'
import { address, cidrSize, formatAddress, parseAddress } from '../../packages/netaddr/index.js'
import type { InitMode } from '../../node/config.js'
import { createLogger } from '../../node/logger.js'
import { checkConverged, checkDoubleHolding, checkDurable, Truth } from './invariants.js'
import { CALM_LINKS, headsOf, World, type LinkFaults, type SimHost } from './world.js'

/**
 * One simulated schedule (DESIGN.md §8): a cluster forms, then `steps`
 * steps of faults and operators' commands chosen by the seed, each followed
 * by a check of the invariants; then every link heals, every host comes
 * back, every dispute is resolved, and all replicas must agree.
 */

/** Relative weights of each step's kind (0 = never). */
export interface StepMix {
  alloc: number
  release: number
  claim: number
  crash: number
  restart: number
  partition: number
  heal: number
  skew: number
  rmpeer: number
  reset: number
  resolve: number
  /** Of rmpeers, the share forced past a minority (what makes duplicate takeovers, and disputes). */
  force: number
}

export const DEFAULT_MIX: StepMix = {
  alloc: 30, release: 8, claim: 6, crash: 5, restart: 6, partition: 4, heal: 4, skew: 2, rmpeer: 5, reset: 2, resolve: 4, force: 0.5
}

export const DEFAULT_LINKS: LinkFaults = { delayMs: 5, jitterMs: 40, drop: 0.002, duplicate: 0.001 }

export interface ScheduleOptions {
  seed: number
  peers: number
  steps: number
  mix?: StepMix
  links?: LinkFaults
  bootstrap?: 'founder' | 'consensus'
  range?: string
  /** Keep the whole trace (else the last 40 lines). */
  fullTrace?: boolean
  /** On a violation, add every running replica's ring to the trace. */
  dump?: boolean
  /** Peers' log lines in the trace: warnings and errors, or info and up. */
  log?: 'warn' | 'info'
}

export interface ScheduleResult {
  seed: number
  peers: number
  steps: number
  ok: boolean
  violation?: { step: number, message: string }
  /** The last lines of what happened (all, with fullTrace). */
  trace: string[]
  /** A hash of the whole trace and the final heads: equal for equal seeds. */
  digest: string
  counts: Record<string, number>
  simulatedMs: number
}

class Violation extends Error {
  override name = 'Violation'
}

export async function runSchedule (opts: ScheduleOptions): Promise<ScheduleResult> {
  const mix = opts.mix ?? DEFAULT_MIX
  const truth = new Truth()
  const trace: string[] = []
  const hash = createHash('sha256')
  const counts: Record<string, number> = {}
  const count = (k: string): void => { counts[k] = (counts[k] ?? 0) + 1 }
  let step = 0
  const world = new World({
    seed: opts.seed,
    peers: opts.peers,
    range: opts.range ?? '10.0.0.0/20',
    bootstrap: opts.bootstrap ?? 'founder',
    links: CALM_LINKS,
    commitMs: 2,
    ...(opts.log !== undefined
      ? {
          logFor: h => createLogger({
            write: (level, component, message) => {
              if (level === 'debug' || (level === 'info' && opts.log !== 'info')) return
              note(`  [${h.nickname} ${level} ${component}] ${message.slice(0, 200)}`)
            }
          })
        }
      : {}),
    onAllocWrite: (host, addresses) => {
      const view = host.run?.peer.ringView()
      if (view === undefined) return
      for (const a of addresses) {
        if (view.disputedSet.containsAddress(parseAddressValue(a))) truth.disputedWrite ??= `${host.nickname} wrote an allocation of ${a}, in space its view knew was disputed`
      }
    }
  })
  const t0 = world.clock.now()
  const note = (line: string): void => {
    const text = `${String(world.clock.now() - t0).padStart(7)}ms #${step} ${line}`
    hash.update(text + '\n')
    trace.push(text)
    if (opts.fullTrace !== true && trace.length > 40) trace.shift()
  }
  const rng = world.rng.fork('schedule')
  const pending = new Set<Promise<void>>()
  const background = (what: string, p: Promise<string>): void => {
    const run = p.then(r => { note(`${what}: ${r}`) }, (err: Error) => { note(`${what} failed: ${err.name}: ${err.message.slice(0, 160)}`) })
      .finally(() => { pending.delete(run) })
    pending.add(run)
  }
  let ids = 0

  const check = (): void => {
    const found = truth.disputedWrite ?? checkDurable(world, truth) ?? checkDoubleHolding(world, truth)
    if (found !== undefined) throw new Violation(found)
  }

  const running = (): SimHost[] => world.upHosts()
  const live = (): SimHost[] => running().filter(h => h.run!.peer.ringView()?.peer(h.name)?.removed === undefined)
  const joinerInit: InitMode = { mode: 'founder' }

  try {
    // The cluster forms: host 0 founds and the others join it, or all agree by consensus.
    for (const h of world.hosts) {
      const init: InitMode = opts.bootstrap === 'consensus' ? { mode: 'consensus', n: opts.peers } : { mode: 'founder' }
      world.launch(h, init, opts.bootstrap === 'consensus' ? world.hosts : h.index === 0 ? [] : [world.hosts[0]!])
    }
    const formed = await world.runUntil(() => world.upHosts().length === opts.peers && world.converged() &&
      world.hosts.every(h => h.run!.log.latestView!.peers.filter(p => p.member && p.nickname !== undefined).length === opts.peers), 60_000)
    if (!formed) throw new Violation(`the cluster did not form: ${world.hosts.map(h => `${h.nickname}:${h.run?.log.state ?? 'down'}:${headsOf(h).slice(0, 8)}`).join(' ')}`)
    note(`formed: ${opts.peers} peers (${opts.bootstrap ?? 'founder'})`)
    world.links = opts.links ?? DEFAULT_LINKS

    const weights = Object.entries(mix).filter(([k, w]) => k !== 'force' && w > 0) as Array<[keyof StepMix, number]>
    const total = weights.reduce((s, [, w]) => s + w, 0)
    for (step = 1; step <= opts.steps; step++) {
      let r = rng.next() * total
      const kind = weights.find(([, w]) => (r -= w) < 0)?.[0] ?? 'alloc'
      act(kind)
      await world.advance(20 + rng.int(280))
      check()
    }

    // The end: calm links, every link healed, every host back, in-flight commands done.
    step = opts.steps + 1
    world.links = CALM_LINKS
    world.healAll()
    for (const h of world.hosts) if (!h.up) world.launch(h, joinerInit, world.hosts)
    note('heal: links calm, partitions healed, every host relaunched')
    await world.runUntil(() => pending.size === 0 && world.upHosts().length === world.hosts.length, 120_000)
    await world.runUntil(() => world.converged(), 120_000)
    check()
    // Every dispute resolved by one operator, as the README says to, from the
    // side most replicas agree with: peers that refuse each other over a
    // dispute form cliques, and resolves made in two cliques at once are rival
    // resolves, a new dispute each (seed 3098, 40 steps: an operator that
    // followed whichever peer came first, after the first one's resolve
    // removed itself, alternated between cliques until its rounds ran out).
    const resolver = (): SimHost | undefined => {
      const groups = new Map<string, SimHost[]>()
      for (const h of running()) {
        const key = headsOf(h)
        groups.set(key, [...(groups.get(key) ?? []), h])
      }
      const largest = [...groups.values()].sort((a, b) => b.length - a.length || a[0]!.index - b[0]!.index)
      const isLive = new Set(live())
      for (const g of largest) {
        const h = g.find(x => isLive.has(x))
        if (h !== undefined) return h
      }
      return running()[0]
    }
    for (let round = 0; round < 8; round++) {
      const h = resolver()
      const open = h?.run!.log.latestView?.disputes.filter(d => d.status === 'open') ?? []
      if (h === undefined || open.length === 0) break
      for (const d of open) {
        try {
          const res = await during(world, resolveDispute(h, d.id), 30_000)
          note(`resolve ${d.id.slice(0, 8)} on ${h.nickname}: owner ${res.owner.slice(0, 8)}`)
        } catch (err) {
          note(`resolve ${d.id.slice(0, 8)} on ${h.nickname} failed: ${(err as Error).message.slice(0, 160)}`)
        }
      }
      await world.runUntil(() => world.converged(), 60_000)
    }
    await world.advance(3_000)
    check()
    const end = checkConverged(world)
    if (end !== undefined) throw new Violation(end)
    note(`converged: ${world.upHosts().length} replicas, heads ${headsOf(world.hosts[0]!).slice(0, 16)}`)
    hash.update(world.hosts.map(h => headsOf(h)).join('|'))
    return { seed: opts.seed, peers: opts.peers, steps: opts.steps, ok: true, trace, digest: hash.digest('hex').slice(0, 16), counts, simulatedMs: world.clock.now() - t0 }
  } catch (err) {
    if (!(err instanceof Violation)) throw err
    note(`VIOLATION: ${err.message}`)
    if (opts.dump === true) {
      for (const h of world.upHosts()) {
        const v = h.run!.log.latestView
        const nick = (n: string): string => world.hosts.find(x => x.name === n)?.nickname ?? n.slice(0, 12)
        trace.push(`--- ${h.nickname} (${h.name.slice(0, 12)}) view: ${v?.events ?? 0} events`)
        for (const p of v?.peers ?? []) trace.push(`    ${nick(p.name)} member=${p.member} removed=${p.removed === undefined ? '-' : `${p.removed.kind} by ${nick(p.removed.by)}`} owned=${p.owned.join(' ')}`)
        for (const d of v?.disputes ?? []) trace.push(`    dispute ${d.id.slice(0, 8)} ${d.kind}/${d.status} [${d.ranges.join(' ')}] claimants ${d.claimants.map(nick).join(',')}`)
        for (const x of v?.voids ?? []) trace.push(`    void ${x.kind} by ${nick(x.author ?? '')}: ${x.reason.slice(0, 140)}`)
      }
    }
    return { seed: opts.seed, peers: opts.peers, steps: opts.steps, ok: false, violation: { step, message: err.message }, trace, digest: hash.digest('hex').slice(0, 16), counts, simulatedMs: world.clock.now() - t0 }
  } finally {
    await world.close()
  }

  function act (kind: keyof StepMix): void {
    count(kind)
    switch (kind) {
      case 'alloc': {
        const h = rng.pick(live())
        if (h === undefined) return
        const id = `c${++ids}`
        const peer = h.run!.peer
        background(`alloc ${id} on ${h.nickname}`, peer.allocator!.alloc(id).then(a => {
          truth.acked.set(truth.key(h.name, id), { peer: h.name, alloc: a, releasing: false })
          return a.address
        }))
        return
      }
      case 'release': {
        const ups = new Set(running().map(h => h.name))
        const a = rng.pick([...truth.acked.values()].filter(x => !x.releasing && ups.has(x.peer)))
        const h = world.hosts.find(x => x.name === a?.peer)
        if (a === undefined || h === undefined) return
        a.releasing = true
        const key = truth.key(a.peer, a.alloc.id)
        background(`release ${a.alloc.id} on ${h.nickname}`, h.run!.peer.allocator!.release(a.alloc.id).then(
          freed => { truth.acked.delete(key); return `${freed.length} freed` },
          (err: Error) => { a.releasing = false; throw err }))
        return
      }
      case 'claim': {
        const h = rng.pick(live())
        const view = h?.run!.peer.ringView()
        const cidrs = view?.ownedBy(h!.name).toCidrs() ?? []
        const c = rng.pick(cidrs)
        if (h === undefined || c === undefined) return
        const address_ = formatAddress(address(c.family, c.first + BigInt(rng.int(Number(cidrSize(c) > 4096n ? 4096n : cidrSize(c))))))
        const id = `k${++ids}`
        background(`claim ${id} ${address_} on ${h.nickname}`, h.run!.peer.allocator!.claim(id, address_).then(a => {
          truth.acked.set(truth.key(h.name, id), { peer: h.name, alloc: a, releasing: false })
          return a.address
        }))
        return
      }
      case 'crash': {
        const h = rng.pick(running())
        if (h === undefined || running().length <= 1) return
        const { landed, lost } = world.crash(h)
        note(`crash ${h.nickname}: ${landed} pending writes landed, ${lost} lost`)
        return
      }
      case 'restart': {
        const h = rng.pick(world.hosts.filter(x => !x.up))
        if (h === undefined) return
        world.launch(h, joinerInit, world.hosts)
        note(`restart ${h.nickname}`)
        return
      }
      case 'partition': {
        if (world.partitioned) return
        const side = world.hosts.filter(() => rng.chance(0.5))
        const other = world.hosts.filter(h => !side.includes(h))
        if (side.length === 0 || other.length === 0) return
        world.partition(side, other)
        note(`partition ${side.map(h => h.nickname).join(',')} | ${other.map(h => h.nickname).join(',')}`)
        return
      }
      case 'heal': {
        if (!world.partitioned) return
        world.healAll()
        note('heal')
        return
      }
      case 'skew': {
        const h = rng.pick(world.hosts)
        if (h === undefined) return
        h.skewMs = (rng.int(41) - 20) * 1_000
        if (h.run !== undefined) h.run.clock.skewMs = h.skewMs
        note(`skew ${h.nickname} ${h.skewMs} ms`)
        return
      }
      case 'rmpeer': {
        // A dead peer, removed by one operator, or by two at once on two sides of a partition.
        const target = rng.pick(world.hosts.filter(x => !x.up))
        const ops = live()
        const a = rng.pick(ops)
        if (target === undefined || a === undefined) return
        const force = rng.chance(mix.force)
        const by = [a]
        if (rng.chance(0.3)) {
          const b = rng.pick(ops.filter(x => x !== a && !world.net.linked(x.name, a.name))) ?? rng.pick(ops.filter(x => x !== a))
          if (b !== undefined) by.push(b)
        }
        for (const op of by) {
          background(`rmpeer ${target.nickname}${force ? ' --force' : ''} on ${op.nickname}`, op.run!.peer.rmpeer([target.name], force).then(rs => {
            const r = rs[0]!
            return r.ok ? `${String(r.ips)} IPs taken over` : `refused: ${(r.error ?? '').slice(0, 120)}`
          }))
        }
        return
      }
      case 'reset': {
        const h = rng.pick(running())
        if (h === undefined || running().length <= 1) return
        const run = h.run!
        background(`reset ${h.nickname}`, run.peer.reset(true).then(r => {
          if (h.run !== run) return 'done, but the host had crashed meanwhile'
          // As `weft reset`: the data dir is deleted; the host relaunches as a new peer.
          for (const [k, a] of truth.acked) if (a.peer === h.name) truth.acked.delete(k)
          world.wipe(h)
          world.launch(h, joinerInit, world.hosts)
          return `left (${r.heirs.length} heirs), relaunched as ${h.name.slice(0, 8)}`
        }))
        return
      }
      case 'resolve': {
        const h = rng.pick(live())
        const d = rng.pick(h?.run!.log.latestView?.disputes.filter(x => x.status === 'open') ?? [])
        if (h === undefined || d === undefined) return
        background(`resolve ${d.id.slice(0, 8)} on ${h.nickname}`, resolveDispute(h, d.id).then(r => `owner ${r.owner.slice(0, 8)}`))
        return
      }
      case 'force':
        return
    }
  }
}

/**
 * `weft resolve D`, and when it says the dispute has no live claimant (a
 * mutual removal over no space, say), `weft resolve D --owner` this peer, as
 * the message tells the operator to.
 */
async function resolveDispute (h: SimHost, id: string): Promise<{ owner: string }> {
  const peer = h.run!.peer
  try {
    return await peer.resolve(id)
  } catch (err) {
    if (!(err as Error).message.includes('--owner')) throw err
    return await peer.resolve(id, h.name)
  }
}

function parseAddressValue (a: string): bigint {
  return parseAddress(a).value
}

/** Awaits `p` while simulated time runs (it may wait on timers), up to `maxMs`. */
async function during<T> (world: World, p: Promise<T>, maxMs: number): Promise<T> {
  let outcome: { ok: true, value: T } | { ok: false, err: unknown } | undefined
  p.then(value => { outcome = { ok: true, value } }, (err: unknown) => { outcome = { ok: false, err } })
  await world.runUntil(() => outcome !== undefined, maxMs)
  if (outcome === undefined) throw new Error(`still running after ${maxMs} simulated ms`)
  if (!outcome.ok) throw outcome.err
  return outcome.value
}
