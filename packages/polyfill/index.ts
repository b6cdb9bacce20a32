/**
 * Runtime polyfills that must load before anything else.
 *
 * libp2p 3 and its dependencies (it-queue, mortice, yamux, …) call
 * `Promise.withResolvers` (ES2024), which Node 20 lacks. Every entry point
 * imports this module first; the test runner preloads it with `--import`.
 * `lib` stays at ES2022 so the compiler does not pretend the API is native.
 */
interface Resolvers<T> {
  promise: Promise<T>
  resolve: (value: T | PromiseLike<T>) => void
  reject: (reason?: unknown) => void
}

const PromiseCtor = Promise as unknown as { withResolvers?: <T>() => Resolvers<T> }

if (typeof PromiseCtor.withResolvers !== 'function') {
  PromiseCtor.withResolvers = function withResolvers<T> (): Resolvers<T> {
    let resolve!: Resolvers<T>['resolve']
    let reject!: Resolvers<T>['reject']
    const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

export {}
