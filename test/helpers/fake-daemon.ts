/**
 * A fake DaemonApi with a canned StatusJson, for control-server and CLI tests,
 * optionally with an in-memory allocator (FakeAllocator).
 * Also a stand-in `runDaemon`: with WEFT_TEST_HOOKS=1 and
 * WEFT_TEST_DAEMON_MODULE=dist/test/helpers/fake-daemon.js, `weft launch`
 * runs this instead of the real daemon, so launch/stop are testable alone.
 */
import type { DaemonApi, StatusJson } from '../../node/api/types.js'
import { startControlServer } from '../../node/api/server.js'
import type { DaemonConfig } from '../../node/config.js'
import { loadOrCreateIdentity } from '../../node/identity.js'
import { exposureWarning } from '../../node/cluster-key.js'
import { AllocError, type Allocation, type AllocatorApi } from '../../node/allocator/types.js'
import {
  cidr, cidrContains, cidrSpan, formatAddress, formatCidr, NetaddrError, parseAddress, parseCidr, RangeSet, type Cidr
} from '../../packages/netaddr/index.js'

export const FAKE_PEER = '12D3KooWNxZyy15r7UKr9BoNGKqtBSH3rFC1ntvohJrEXcL5XHf9'
export const FAKE_OTHER = '12D3KooWQUfFxijpizChvVExKJN7GqxnDk4DKgjyRAW582mLb4Nd'

export function fakeStatus (overrides: Partial<StatusJson> = {}): StatusJson {
  return {
    peer: { name: FAKE_PEER, nickname: 'host1', removed: false, listen: ['/ip4/127.0.0.1/tcp/6783'], advertise: [] },
    ipam: { state: 'ready', lostAllocations: [] },
    cluster: { id: 'bafyreigenesis', range: '10.32.0.0/12' },
    addresses: { total: 1048576, owned: 524288, allocated: 3, disputed: 0 },
    peers: [
      { name: FAKE_OTHER, nickname: 'host2', owned: 262144, connected: true, removed: false, lastSeen: '2026-11-24T10:00:00.000Z', addrs: ['/ip4/10.0.0.2/tcp/6783'] }
    ],
    conflicts: { total: 0, unresolved: 0 },
    events: 12,
    security: { clusterKey: true, keyFingerprint: '0123456789abcdef', keyFile: '/etc/weft/cluster.key', warning: null },
    connections: [
      { peer: FAKE_OTHER, nickname: 'host2', addr: '/ip4/10.0.0.2/tcp/6783', state: 'connected', direction: 'outbound', since: '2026-11-24T09:59:00.000Z', reason: null, retryAt: null, bytesIn: 1200, bytesOut: 900 }
    ],
    owned: ['10.32.0.0/13'],
    version: '0.1.0',
    pid: process.pid,
    uptimeMs: 1000,
    ...overrides
  }
}

export interface FakeCall {
  method: 'connect' | 'forget' | 'waitReady' | 'stop' | 'testHook'
  args: unknown[]
}

export const FAKE_RANGE = '10.32.0.0/12'

export interface FakeAllocCall {
  method: 'alloc' | 'claim' | 'release' | 'list'
  args: unknown[]
}

/**
 * An in-memory AllocatorApi over FAKE_RANGE: the lowest free address of the
 * subnet, skipping its network and broadcast addresses; idempotent per
 * (id, subnet); claims conflict with other IDs and with `ownedElsewhere`.
 */
export class FakeAllocator implements AllocatorApi {
  readonly range: Cidr = parseCidr(FAKE_RANGE)
  readonly calls: FakeAllocCall[] = []
  /** Space another peer owns: claims there fail with owned-elsewhere, alloc skips it. */
  ownedElsewhere: RangeSet = RangeSet.empty(4)
  /** When not ready, alloc and claim fail with not-ready (the real one waits first). */
  ready = true
  /** Set to make every call fail with this error. */
  failWith?: Error
  /** Called with every alloc before it answers; a test can delay or fail it. */
  beforeAlloc?: (id: string, subnet: string) => Promise<void>
  private readonly byKey = new Map<string, Allocation>()
  private readonly byAddress = new Map<string, Allocation>()
  private clock = 1_700_000_000_000

  async alloc (id: string, subnet?: string): Promise<Allocation> {
    this.calls.push({ method: 'alloc', args: subnet === undefined ? [id] : [id, subnet] })
    this.check()
    const net = this.subnetOf(subnet)
    const key = formatCidr(net)
    await this.beforeAlloc?.(id, key)
    const held = this.byKey.get(keyOf(key, id))
    if (held !== undefined) return { ...held }
    const [first, end] = cidrSpan(net)
    for (let v = first + 1n; v < end - 1n; v++) {
      if (this.ownedElsewhere.containsAddress(v)) continue
      const address = formatAddress({ family: 4, value: v })
      if (!this.byAddress.has(address)) return this.record({ id, subnet: key, address, createdAt: this.clock++ })
    }
    throw new AllocError('no-space', `no free address in ${key} on this peer, and no peer donated any`)
  }

  async claim (id: string, address: string, prefix?: number): Promise<Allocation> {
    this.calls.push({ method: 'claim', args: prefix === undefined ? [id, address] : [id, address, prefix] })
    this.check()
    const addr = this.parse(() => parseAddress(address))
    const p = prefix ?? this.range.prefix
    if (addr.family !== 4 || p < this.range.prefix || p > 32 || !cidrContains(this.range, addr)) {
      throw new AllocError('out-of-range', `${address}/${p} is outside the cluster range ${FAKE_RANGE}`)
    }
    const mask = (1n << BigInt(32 - p)) - 1n
    const subnet = formatCidr(cidr(4, addr.value & ~mask, p))
    const text = formatAddress(addr)
    const holder = this.byAddress.get(text)
    if (holder !== undefined) {
      if (holder.id === id) return { ...holder }
      throw new AllocError('in-use', `${text} is in use by ${holder.id}`)
    }
    if (this.ownedElsewhere.containsAddress(addr.value)) throw new AllocError('owned-elsewhere', `${text} is owned by peer host2, not this peer`)
    return this.record({ id, subnet, address: text, createdAt: this.clock++ })
  }

  async release (id: string, address?: string): Promise<Allocation[]> {
    this.calls.push({ method: 'release', args: address === undefined ? [id] : [id, address] })
    if (this.failWith !== undefined) throw this.failWith
    const text = address === undefined ? undefined : formatAddress(this.parse(() => parseAddress(address)))
    const released: Allocation[] = []
    for (const [key, a] of this.byKey) {
      if (a.id !== id || (text !== undefined && a.address !== text)) continue
      this.byKey.delete(key)
      this.byAddress.delete(a.address)
      released.push({ ...a })
    }
    return released
  }

  list (): Allocation[] {
    this.calls.push({ method: 'list', args: [] })
    if (this.failWith !== undefined) throw this.failWith
    return [...this.byKey.values()].map(a => ({ ...a }))
  }

  private record (a: Allocation): Allocation {
    this.byKey.set(keyOf(a.subnet, a.id), a)
    this.byAddress.set(a.address, a)
    return { ...a }
  }

  private check (): void {
    if (this.failWith !== undefined) throw this.failWith
    if (!this.ready) throw new AllocError('not-ready', 'not ready after 30s: waiting for a cluster')
  }

  private subnetOf (subnet: string | undefined): Cidr {
    if (subnet === undefined) return this.range
    const net = this.parse(() => parseCidr(subnet))
    const [first, end] = cidrSpan(net)
    const [rFirst, rEnd] = cidrSpan(this.range)
    if (net.family !== 4 || first < rFirst || end > rEnd) throw new AllocError('out-of-range', `subnet ${subnet} is outside the cluster range ${FAKE_RANGE}`)
    return net
  }

  private parse<T> (fn: () => T): T {
    try {
      return fn()
    } catch (err) {
      if (err instanceof NetaddrError) throw new AllocError('bad-request', err.message)
      throw err
    }
  }
}

function keyOf (subnet: string, id: string): string {
  return `${subnet}\0${id}`
}

export class FakeDaemon implements DaemonApi {
  statusJson: StatusJson
  readonly calls: FakeCall[] = []
  ready = true
  notReadyReason = 'waiting for a cluster'
  /** Set to make connect/forget fail, as the daemon would on bad input. */
  failWith?: Error
  testHook?: (name: string, body: unknown) => Promise<unknown>
  allocator?: FakeAllocator
  private readonly readyWaiters = new Set<() => void>()
  private readonly stopped: Promise<void>
  private resolveStopped!: () => void

  constructor (status: StatusJson = fakeStatus(), opts: { testHooks?: boolean, allocator?: boolean | FakeAllocator } = {}) {
    this.statusJson = status
    if (opts.allocator !== undefined && opts.allocator !== false) this.allocator = opts.allocator === true ? new FakeAllocator() : opts.allocator
    this.stopped = new Promise(resolve => { this.resolveStopped = resolve })
    if (opts.testHooks === true) {
      this.testHook = async (name, body) => {
        this.calls.push({ method: 'testHook', args: [name, body] })
        if (name === 'fail') throw new Error('hook failed on purpose')
        return { hook: name, body }
      }
    }
  }

  status (): StatusJson {
    return this.statusJson
  }

  async connect (addrs: string[]): Promise<void> {
    this.calls.push({ method: 'connect', args: [addrs] })
    if (this.failWith !== undefined) throw this.failWith
  }

  async forget (addrs: string[]): Promise<void> {
    this.calls.push({ method: 'forget', args: [addrs] })
    if (this.failWith !== undefined) throw this.failWith
  }

  async waitReady (timeoutMs: number): Promise<{ ready: true } | { ready: false, reason: string }> {
    this.calls.push({ method: 'waitReady', args: [timeoutMs] })
    if (!this.ready) {
      await new Promise<void>(resolve => {
        const wake = (): void => { clearTimeout(timer); this.readyWaiters.delete(wake); resolve() }
        const timer = setTimeout(wake, timeoutMs)
        timer.unref() // a poll abandoned by its client must not keep a test process alive
        this.readyWaiters.add(wake)
      })
    }
    return this.ready ? { ready: true } : { ready: false, reason: this.notReadyReason }
  }

  setReady (): void {
    this.ready = true
    for (const wake of [...this.readyWaiters]) wake()
  }

  async stop (): Promise<void> {
    this.calls.push({ method: 'stop', args: [] })
    setImmediate(() => { this.resolveStopped() })
  }

  get done (): Promise<void> {
    return this.stopped
  }
}

/** The `runDaemon` stand-in (see the header). WEFT_FAKE_FAIL=1 makes it fail at start. */
export async function runDaemon (config: DaemonConfig, events: { onReady?: (info: { name: string, nickname: string }) => void } = {}): Promise<void> {
  if (process.env.WEFT_FAKE_FAIL === '1') throw new Error('fake daemon failed to start on purpose')
  const identity = await loadOrCreateIdentity(config.dataDir)
  const base = fakeStatus()
  const fake = new FakeDaemon(fakeStatus({
    peer: { ...base.peer, name: identity.peerName, nickname: config.nickname, listen: config.listen },
    security: { clusterKey: config.clusterKey !== undefined, keyFingerprint: config.clusterKey?.fingerprint ?? null, keyFile: config.clusterKey?.file ?? null, warning: exposureWarning(config.clusterKey, config.listen) ?? null },
    pid: process.pid
  }), { testHooks: config.testHooks, allocator: true })
  const server = await startControlServer(config.socketPath, fake)
  const onSignal = (): void => { void fake.stop() }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  events.onReady?.({ name: identity.peerName, nickname: config.nickname })
  await fake.done
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
  await server.close()
}
