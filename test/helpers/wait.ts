/**
 * Polls `check` until it returns a value that is not undefined/false, or
 * fails after `timeoutMs` with the last reason it gave. Multi-process tests
 * wait for convergence this way; they never assert timings.
 */
export async function waitFor<T> (what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined && v !== false) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last !== undefined ? `: ${(last as Error).message}` : ''}`)
    }
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
}
