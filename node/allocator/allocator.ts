import { formatAddress, formatCidr, NetaddrError, parseAddress, parseCidr, RangeSet, type Cidr } from '../../packages/netaddr/index.js'
import type { PeerName } from '../../crdt/events/index.js'
import type { Clock } from '../clock.js'
import type { Logger } from '../logger.js'
import type { RingView } from '../ring-view.js'
import { hostSet, hostSpan, lowestFree } from './addresses.js'
import { AllocError, type Allocation, type AllocationStore, type AllocatorApi } from './types.js'

/**
 * Hands out addresses from the space this peer owns (DESIGN.md §3–4). An
 * address is reserved in memory synchronously and answered only once the
 * store has committed it; concurrent requests group-commit. A request that
 * finds its ID (or address) reserved by one still committing waits for that
 * same commit, and fails with it: an answer is never ahead of the disk. With no free
 * address in the subnet it asks other peers for space and waits, with a
 * timeout, for their transfer to reach it.
 */

export interface SpaceRequester {
  /** Asks donors for space in `subnet`; resolves once one appended a transfer to us. */
  request: (subnet: Cidr, timeoutMs: number) => Promise<{ donor: PeerName, transfer: string, ranges: string[] }>
}

export interface AllocatorDeps {
  self: PeerName
  store: AllocationStore
  /** The latest ring view (undefined before a cluster is known). */
  view: () => RingView | undefined
  /** Resolves when the peer may allocate (first sync done), or says why not at the timeout. */
  ready: (timeoutMs: number) => Promise<{ ready: true } | { ready: false, reason: string }>
  space: SpaceRequester
  clock: Clock
  logger: Logger
  /** How long alloc waits for readiness and for donations (default 30 s). */
  timeoutMs?: number
}

const ID_PATTERN = /^[^\p{C}\p{Z}]{1,128}$/u

function key (subnet: string, id: string): string { return `${subnet}|${id}` }

export class Allocator implements AllocatorApi {
  private readonly deps: AllocatorDeps
  private readonly log: Logger
  private readonly byKey = new Map<string, Allocation>()
  /** Reserved allocations whose commit is in flight; each resolves once durable, or rejects with the store's error. */
  private readonly commits = new Map<Allocation, Promise<Allocation>>()
  /** Every address held, whatever its subnet: an address is held by one ID. */
  private readonly held = new Map<bigint, Allocation>()
  /** Space being given away, not yet gone from the view. */
  private leaving: RangeSet | undefined
  /**
   * Set while `weft reset` hands all of this peer's space over: from before it
   * counts the allocations until its leave is in the log (or it fails), so no
   * alloc or claim lands in space being handed away.
   */
  private allLeaving = false
  /** Lowest address worth trying per subnet; everything below was held or not ours. */
  private readonly cursor = new Map<string, bigint>()
  private waiters: Array<() => void> = []
  private readonly timeoutMs: number
  /** One donation request per subnet at a time; others wait for it. */
  private readonly asking = new Map<string, Promise<unknown>>()

  constructor (deps: AllocatorDeps) {
    this.deps = deps
    this.log = deps.logger.forComponent('weft:alloc')
    this.timeoutMs = deps.timeoutMs ?? 30_000
    for (const a of deps.store.all()) this.index(a)
  }

  private index (a: Allocation): void {
    this.byKey.set(key(a.subnet, a.id), a)
    try { this.held.set(parseAddress(a.address).value, a) } catch {}
  }

  private unindex (a: Allocation): void {
    // Only this very record: a release and a new alloc may have replaced it meanwhile.
    if (this.byKey.get(key(a.subnet, a.id)) === a) this.byKey.delete(key(a.subnet, a.id))
    const v = parseAddress(a.address).value
    if (this.held.get(v) === a) this.held.delete(v)
    const c = this.cursor.get(a.subnet)
    if (c !== undefined && v < c) this.cursor.set(a.subnet, v)
  }

  /** Addresses held now, for donation and status. */
  heldAddresses (): ReadonlySet<bigint> { return new Set(this.held.keys()) }

  get count (): number { return this.byKey.size }

  list (): Allocation[] {
    // `held` is keyed by address value: sort those, not parsed strings.
    return [...this.held.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(e => e[1])
  }

  /** Called by the daemon on every new ring view: space may have arrived or gone. */
  viewChanged (): void {
    this.cursor.clear()
    const view = this.deps.view()
    if (this.leaving !== undefined && view !== undefined) {
      this.leaving = this.leaving.intersect(view.ownedBy(this.deps.self))
      if (this.leaving.isEmpty) this.leaving = undefined
    }
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }

  /**
   * Allocations in space this peer no longer owns (taken over, resolved
   * away, disputed): other peers may hand those addresses out again.
   */
  lost (): Allocation[] {
    const view = this.deps.view()
    if (view === undefined) return []
    const owned = view.ownedBy(this.deps.self)
    return this.list().filter(a => !owned.containsAddress(parseAddress(a.address).value))
  }

  /** Marks space as on its way to another peer (a donation in flight). */
  markLeaving (ranges: RangeSet): void {
    this.leaving = this.leaving === undefined ? ranges : this.leaving.union(ranges)
  }

  unmarkLeaving (ranges: RangeSet): void {
    if (this.leaving === undefined) return
    this.leaving = this.leaving.subtract(ranges)
    if (this.leaving.isEmpty) this.leaving = undefined
  }

  /** Marks all of this peer's space as leaving (a reset): alloc and claim refuse, nothing is donated. False if already marked. */
  markAllLeaving (): boolean {
    if (this.allLeaving) return false
    this.allLeaving = true
    return true
  }

  unmarkAllLeaving (): void {
    this.allLeaving = false
  }

  /** Free space this peer could hand out or give away in `within`: owned, not held, not leaving. */
  freeSpace (within: RangeSet): RangeSet {
    const view = this.deps.view()
    // Space a reset is handing over is promised to the heirs.
    if (view === undefined || this.allLeaving) return RangeSet.empty(within.family)
    let free = view.ownedBy(this.deps.self).intersect(within)
    if (this.leaving !== undefined) free = free.subtract(this.leaving)
    const held = [...this.held.keys()].filter(a => free.containsAddress(a)).map(a => [a, a + 1n] as const)
    return held.length === 0 ? free : free.subtract(RangeSet.fromSpans(within.family, held))
  }

  private checkId (id: string): void {
    if (!ID_PATTERN.test(id)) throw new AllocError('bad-request', `invalid ID "${id.slice(0, 40)}": 1–128 characters, no spaces or control characters`)
  }

  /** The subnet asked for (default: the cluster range), checked to be inside the range. */
  private subnetOf (text: string | undefined, view: RingView): Cidr {
    const range = parseCidr(view.json.range)
    if (text === undefined) return range
    let subnet: Cidr
    try {
      subnet = parseCidr(text)
    } catch (err) {
      throw new AllocError('bad-request', (err as NetaddrError).message)
    }
    if (subnet.family !== range.family || !view.set([view.json.range]).containsSet(RangeSet.fromCidrs(subnet.family, [subnet]))) {
      throw new AllocError('out-of-range', `subnet ${formatCidr(subnet)} is not inside the cluster range ${view.json.range}`)
    }
    return subnet
  }

  /** Refuses while removed or read-only: allocating then could hand out an address twice. */
  private checkState (view: RingView): void {
    const me = view.peer(this.deps.self)
    if (me?.removed !== undefined && me.removed.by === this.deps.self) {
      throw new AllocError('removed', `this peer has left the cluster (its leave ${me.removed.event} at ${new Date(me.removed.time).toISOString()}): run \`weft reset\` to finish, which waits until a peer holds that leave`)
    }
    if (me?.removed !== undefined) {
      const by = view.peer(me.removed.by)
      throw new AllocError('removed', `this peer was removed from the network by ${by?.nickname ?? me.removed.by} (${me.removed.by}) at ${new Date(me.removed.time).toISOString()}; run \`weft reset\` to rejoin with a new identity`)
    }
    if (view.json.readOnly) throw new AllocError('read-only', 'the log holds events of a newer format: upgrade weft before allocating')
    if (this.allLeaving) throw new AllocError('leaving', 'this peer is leaving the cluster (`weft reset` is handing its ranges over): allocate on another peer')
  }

  private async awaitReady (deadline: number): Promise<RingView> {
    const r = await this.deps.ready(Math.max(0, deadline - this.deps.clock.now()))
    if (!r.ready) throw new AllocError('not-ready', `not ready to allocate: ${r.reason}`)
    const view = this.deps.view()
    if (view === undefined) throw new AllocError('no-cluster', 'this peer has not joined a cluster yet')
    return view
  }

  /** Waits for the next view change, or until the deadline. */
  private nextView (deadline: number): Promise<boolean> {
    return new Promise(resolve => {
      const timer = this.deps.clock.setTimeout(() => {
        this.waiters = this.waiters.filter(w => w !== wake)
        resolve(false)
      }, Math.max(0, deadline - this.deps.clock.now()))
      const wake = (): void => { this.deps.clock.clearTimeout(timer); resolve(true) }
      this.waiters.push(wake)
    })
  }

  /** Reserves the lowest free address of `subnet`, or returns undefined. Synchronous: no other call can take it meanwhile. */
  private reserve (id: string, subnet: Cidr, view: RingView): Allocation | undefined {
    const subnetText = formatCidr(subnet)
    let free = view.ownedBy(this.deps.self).intersect(hostSet(subnet))
    if (this.leaving !== undefined) free = free.subtract(this.leaving)
    const from = this.cursor.get(subnetText) ?? 0n
    const addr = lowestFree(free, this.held, from)
    if (addr === undefined) return undefined
    this.cursor.set(subnetText, addr + 1n)
    const a: Allocation = { id, subnet: subnetText, address: formatAddress({ family: subnet.family, value: addr }), createdAt: this.deps.clock.now() }
    this.index(a)
    return a
  }

  /** Commits a reserved allocation; until then `durable(a)` waits for this same commit. */
  private persist (a: Allocation): Promise<Allocation> {
    const commit = this.deps.store.write([a], []).then(
      () => { this.commits.delete(a); return a },
      (err: unknown) => { this.commits.delete(a); this.unindex(a); throw err })
    this.commits.set(a, commit)
    return commit
  }

  /** `a` once it is durable: indexed records may still be committing. */
  private async durable (a: Allocation): Promise<Allocation> {
    return await (this.commits.get(a) ?? a)
  }

  async alloc (id: string, subnetText?: string): Promise<Allocation> {
    this.checkId(id)
    const deadline = this.deps.clock.now() + this.timeoutMs
    let view = await this.awaitReady(deadline)
    const subnet = this.subnetOf(subnetText, view)
    const had = this.byKey.get(key(formatCidr(subnet), id))
    if (had !== undefined) return await this.durable(had)
    for (;;) {
      view = this.deps.view() ?? view
      this.checkState(view)
      const again = this.byKey.get(key(formatCidr(subnet), id))
      if (again !== undefined) return await this.durable(again)
      const a = this.reserve(id, subnet, view)
      if (a !== undefined) return await this.persist(a)
      const full = this.fullHere(subnet, view)
      if (full !== undefined) throw new AllocError('no-space', full)
      if (this.deps.clock.now() >= deadline) {
        throw new AllocError('no-space', `no free address in ${formatCidr(subnet)}: this peer has none and no peer gave any within ${Math.round(this.timeoutMs / 1000)} s`)
      }
      await this.askForSpace(subnet, deadline)
    }
  }

  /**
   * When this peer owns every address of `subnet` that can be allocated and
   * all of them are taken, no other peer can give any: say so at once
   * (a /32 that is already allocated, say) instead of asking around.
   */
  private fullHere (subnet: Cidr, view: RingView): string | undefined {
    const hosts = hostSet(subnet)
    if (hosts.size === 0n || !view.ownedBy(this.deps.self).containsSet(hosts)) return undefined
    const text = formatCidr(subnet)
    const n = hosts.size
    const only = hosts.firstAddress()
    const holder = n === 1n && only !== undefined ? this.held.get(only)?.id : undefined
    return n === 1n
      ? `no free address in ${text}: its one address is allocated here${holder !== undefined ? ` to ${holder}` : ''} (release it first, or choose another subnet)`
      : `no free address in ${text}: this peer owns all ${n} of its addresses and every one is allocated here`
  }

  /**
   * Asks donors for space (one request per subnet at a time), then waits
   * until the donated space shows in our view; the caller tries again
   * (and asks again if that space is already taken by a concurrent call).
   */
  private async askForSpace (subnet: Cidr, deadline: number): Promise<void> {
    const k = formatCidr(subnet)
    let asking = this.asking.get(k)
    if (asking === undefined) {
      asking = (async () => {
        try {
          const got = await this.deps.space.request(subnet, Math.max(0, deadline - this.deps.clock.now()))
          this.log.info(`${got.donor} gave ${got.ranges.join(', ')} in ${k} (transfer ${got.transfer})`)
          return RangeSet.fromCidrs(subnet.family, got.ranges.map(c => parseCidr(c)))
        } finally {
          this.asking.delete(k)
        }
      })()
      this.asking.set(k, asking)
    }
    let given: RangeSet
    try {
      given = await asking as RangeSet
    } catch (err) {
      throw err instanceof AllocError ? err : new AllocError('no-space', `no free address in ${k}: ${(err as Error).message}`)
    }
    // The transfer reaches us through sync; wait for the view to show it.
    while (this.deps.view()?.ownedBy(this.deps.self).containsSet(given) !== true) {
      if (!await this.nextView(deadline)) return
    }
  }

  async claim (id: string, addressText: string, prefix?: number): Promise<Allocation> {
    this.checkId(id)
    const deadline = this.deps.clock.now() + this.timeoutMs
    const view = await this.awaitReady(deadline)
    this.checkState(view)
    let address
    try {
      address = parseAddress(addressText)
    } catch (err) {
      throw new AllocError('bad-request', (err as NetaddrError).message)
    }
    const range = parseCidr(view.json.range)
    const bits = address.family === 4 ? 32 : 128
    const p = prefix ?? range.prefix
    if (address.family !== range.family || p < 0 || p > bits) throw new AllocError('bad-request', `invalid prefix /${p} for ${addressText}`)
    const subnet = parseCidr(`${formatAddress(address)}/${p}`, { strict: false })
    if (!view.set([view.json.range]).containsAddress(address.value) || !view.set([view.json.range]).containsSet(RangeSet.fromCidrs(subnet.family, [subnet]))) {
      throw new AllocError('out-of-range', `${formatAddress(address)}/${p} is not inside the cluster range ${view.json.range}`)
    }
    const [hostStart, hostEnd] = hostSpan(subnet)
    if (address.value < hostStart || address.value >= hostEnd) {
      throw new AllocError('bad-request', `${formatAddress(address)} is the ${address.value < hostStart ? 'network' : 'broadcast'} address of ${formatCidr(subnet)}: it cannot be allocated`)
    }
    const holder = this.held.get(address.value)
    if (holder !== undefined) {
      if (holder.id === id) return await this.durable(holder)
      throw new AllocError('in-use', `address ${formatAddress(address)} is already in use by ${holder.id}`)
    }
    if (!view.ownedBy(this.deps.self).containsAddress(address.value)) {
      if (view.disputedSet.containsAddress(address.value)) throw new AllocError('disputed', `address ${formatAddress(address)} is in disputed space: nobody may allocate it until the dispute is resolved`)
      const owner = view.json.peers.find(q => view.ownedBy(q.name).containsAddress(address.value))
      throw new AllocError('owned-elsewhere', owner === undefined
        ? `address ${formatAddress(address)} is not owned by this peer`
        : `address ${formatAddress(address)} is owned by peer ${owner.nickname ?? owner.name} (${owner.name})`)
    }
    if (this.leaving?.containsAddress(address.value) === true) throw new AllocError('owned-elsewhere', `address ${formatAddress(address)} is being given to another peer`)
    const subnetText = formatCidr(subnet)
    const had = this.byKey.get(key(subnetText, id))
    if (had !== undefined && had.address !== formatAddress(address)) {
      throw new AllocError('in-use', `${id} already holds ${had.address} in ${subnetText}; release it first`)
    }
    const a: Allocation = { id, subnet: subnetText, address: formatAddress(address), createdAt: this.deps.clock.now() }
    this.index(a)
    return await this.persist(a)
  }

  async release (id: string, addressText?: string): Promise<Allocation[]> {
    this.checkId(id)
    let wanted: bigint | undefined
    if (addressText !== undefined) {
      try { wanted = parseAddress(addressText).value } catch (err) { throw new AllocError('bad-request', (err as NetaddrError).message) }
    }
    const matching = (): Allocation[] => [...this.byKey.values()].filter(a => a.id === id && (wanted === undefined || parseAddress(a.address).value === wanted))
    // An allocation still committing is released after its commit (or not at all, if that fails).
    const committing = matching().map(a => this.commits.get(a)).filter(c => c !== undefined)
    if (committing.length > 0) await Promise.allSettled(committing)
    const gone = matching()
    if (gone.length === 0) return []
    await this.deps.store.write([], gone.map(a => ({ subnet: a.subnet, id: a.id })))
    for (const a of gone) this.unindex(a)
    return gone
  }
}
