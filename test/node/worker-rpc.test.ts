import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MessageChannel } from 'node:worker_threads'
import { LogClient } from '../../node/log-service/client.js'
import { LOG_CALL_TIMEOUT_MS, LOG_CALL_TIMEOUTS } from '../../node/log-service/rpc.js'
import { silentLogger } from '../../node/logger.js'
import { RemoteError, RpcClient, RpcTimeoutError, serveRequest, type RpcRequest, type RpcResponse } from '../../node/worker-rpc.js'

/**
 * The typed RPC (node/worker-rpc.ts) over a real message channel: answers,
 * errors that keep their name, code and message, a timeout per call that
 * names the method, and the log worker's client built on it.
 */

interface Api {
  add: (a: number, b: number) => number
  /** Answers with a function, which no message port can carry. */
  uncloneable: () => unknown
  slow: (ms: number) => Promise<string>
  never: () => Promise<void>
  refuse: (why: string) => Promise<void>
}

class CodedError extends Error {
  override name = 'CodedError'
  readonly code = 'refused'
}

const handler: Api = {
  add: (a, b) => a + b,
  uncloneable: () => () => {},
  slow: async ms => { await new Promise(resolve => setTimeout(resolve, ms)); return 'done' },
  never: async () => { await new Promise(() => {}) },
  refuse: async why => { throw new CodedError(why) }
}

function pair (timeouts: ConstructorParameters<typeof RpcClient<Api>>[1]['timeouts'] = {}, defaultTimeoutMs = 5_000): { client: RpcClient<Api>, close: () => void } {
  const { port1, port2 } = new MessageChannel()
  const client = new RpcClient<Api>(port1, { peer: 'the test worker', defaultTimeoutMs, timeouts })
  port1.on('message', (res: RpcResponse) => { client.answer(res) })
  port2.on('message', (req: RpcRequest) => { serveRequest(port2, handler, req) })
  return { client, close: () => { port1.close(); port2.close() } }
}

describe('worker RPC', () => {
  test('a call answers with the handler\'s result, as a promise even when the handler is synchronous', async () => {
    const { client, close } = pair()
    try {
      assert.equal(await client.remote.add(2, 3), 5)
      assert.equal(await client.remote.slow(1), 'done')
    } finally { close() }
  })

  test('an error crosses with its name, code and message', async () => {
    const { client, close } = pair()
    try {
      await assert.rejects(client.remote.refuse('not now'), (err: unknown) => {
        assert.ok(err instanceof RemoteError)
        assert.deepEqual({ name: err.name, code: err.code, message: err.message }, { name: 'CodedError', code: 'refused', message: 'not now' })
        return true
      })
    } finally { close() }
  })

  test('a call not answered in time rejects with RpcTimeoutError naming the method; each method may set its own timeout from its arguments', async () => {
    const { client, close } = pair({ slow: ms => ms + 2_000 }, 50)
    try {
      await assert.rejects(client.remote.never(), (err: unknown) => {
        assert.ok(err instanceof RpcTimeoutError)
        assert.equal(err.method, 'never')
        assert.equal(err.code, 'timeout')
        assert.equal(err.message, 'the test worker did not answer never within 0.05 s')
        return true
      })
      // Longer than the 50 ms default, within its own timeout.
      assert.equal(await client.remote.slow(100), 'done')
    } finally { close() }
  })

  test('an answer that cannot cross the port is an error answer, not a wait for the timeout', async () => {
    const { client, close } = pair()
    try {
      await assert.rejects(client.remote.uncloneable(), (err: unknown) => err instanceof RemoteError && err.code === 'not-cloneable' && /^cannot send the answer to uncloneable: /.test(err.message))
    } finally { close() }
  })

  test('an unknown method, or one of Object.prototype, is an error answer', async () => {
    const { client, close } = pair()
    try {
      const remote = client.remote as unknown as Record<string, () => Promise<unknown>>
      for (const name of ['nope', 'constructor', 'hasOwnProperty']) {
        await assert.rejects(remote[name]!(), (err: unknown) => err instanceof RemoteError && err.code === 'no-such-method' && err.message === `no such method: ${name}`)
      }
    } finally { close() }
  })

  test('once the other side fails, pending and later calls reject with its error', async () => {
    const { client, close } = pair()
    try {
      const pending = client.remote.never()
      client.fail(new Error('worker exited with code 1'))
      await assert.rejects(pending, /worker exited with code 1/)
      await assert.rejects(client.remote.add(1, 1), /worker exited with code 1/)
    } finally { close() }
  })
})

describe('the log worker\'s client', () => {
  test('calls that wait on purpose get their own wait and a margin for the worker\'s queue; the rest a minute', () => {
    assert.equal(LOG_CALL_TIMEOUT_MS, 60_000)
    assert.equal(LOG_CALL_TIMEOUTS.leave?.([], 30_000), 90_000)
    assert.equal(LOG_CALL_TIMEOUTS.awaitConfirmation?.('e'.repeat(64), 30_000), 90_000)
    assert.ok((LOG_CALL_TIMEOUTS.open?.() ?? 0) >= 10 * 60_000 - 1)
  })

  test('a call the worker does not answer rejects with RpcTimeoutError naming the method, not a hang', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weft-rpc-'))
    // Never told to go: the worker holds every call (it opens no store before that).
    const client = new LogClient({ dataDir: dir, seed: new Uint8Array(32).fill(1), logLevel: 'error' }, silentLogger, () => {}, {
      defaultTimeoutMs: 200,
      timeouts: { leave: (_candidates, ms) => ms + 300 }
    })
    try {
      assert.equal(await (client as unknown as PromiseLike<unknown>), client, 'awaiting the client posts no call')
      await assert.rejects(client.knownPeers(), (err: unknown) => err instanceof RpcTimeoutError && err.method === 'knownPeers' && /the log worker did not answer knownPeers within 0\.2 s/.test(err.message))
      await assert.rejects(client.leave([], 100), (err: unknown) => err instanceof RpcTimeoutError && err.message === 'the log worker did not answer leave within 0.4 s')
    } finally {
      await client.close().catch(() => {})
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
