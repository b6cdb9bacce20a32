/**
 * A fake DaemonApi with a canned StatusJson, for control-server and CLI tests.
 * Also a stand-in `runDaemon`: with WEFT_TEST_HOOKS=1 and
 * WEFT_TEST_DAEMON_MODULE=dist/test/helpers/fake-daemon.js, `weft launch`
 * runs this instead of the real daemon, so launch/stop are testable alone.
 */
import type { DaemonApi, StatusJson } from '../../node/api/types.js'
import { startControlServer } from '../../node/api/server.js'
import type { DaemonConfig } from '../../node/config.js'
import { loadOrCreateIdentity } from '../../node/identity.js'

export const FAKE_PEER = '12D3KooWNxZyy15r7UKr9BoNGKqtBSH3rFC1ntvohJrEXcL5XHf9'
export const FAKE_OTHER = '12D3KooWQUfFxijpizChvVExKJN7GqxnDk4DKgjyRAW582mLb4Nd'

export function fakeStatus (overrides: Partial<StatusJson> = {}): StatusJson {
  return {
    peer: { name: FAKE_PEER, nickname: 'host1', removed: false, listen: ['/ip4/127.0.0.1/tcp/6783'], advertise: [] },
    ipam: { state: 'ready' },
    cluster: { id: 'bafyreigenesis', range: '10.32.0.0/12' },
    addresses: { total: 1048576, owned: 524288, allocated: 3, disputed: 0 },
    peers: [
      { name: FAKE_OTHER, nickname: 'host2', owned: 262144, connected: true, removed: false, lastSeen: '2026-11-24T10:00:00.000Z', addrs: ['/ip4/10.0.0.2/tcp/6783'] }
    ],
    conflicts: { total: 0, unresolved: 0 },
    events: 12,
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

export class FakeDaemon implements DaemonApi {
  statusJson: StatusJson
  readonly calls: FakeCall[] = []
  ready = true
  notReadyReason = 'waiting for a cluster'
  /** Set to make connect/forget fail, as the daemon would on bad input. */
  failWith?: Error
  testHook?: (name: string, body: unknown) => Promise<unknown>
  private readonly readyWaiters = new Set<() => void>()
  private readonly stopped: Promise<void>
  private resolveStopped!: () => void

  constructor (status: StatusJson = fakeStatus(), opts: { testHooks?: boolean } = {}) {
    this.statusJson = status
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
    pid: process.pid
  }), { testHooks: config.testHooks })
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
