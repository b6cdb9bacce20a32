/**
 * Checks of JSON read back from disk or received from another host
 * (DESIGN.md §3.3: checked, not cast; node/messages.ts holds the messages').
 * A Shape throws ShapeError naming the path of the first value that does not
 * fit, e.g. `.peers[3].owned[0]: expected a CIDR, got 17`. Fields a shape
 * does not name are allowed: a newer weft may add some.
 */

export class ShapeError extends Error {
  override name = 'ShapeError'
}

export type Shape<T> = (x: unknown, path: string) => T

function fail (path: string, expected: string, got: unknown): never {
  throw new ShapeError(`${path === '' ? 'the value' : path}: expected ${expected}, got ${describe(got)}`)
}

function describe (x: unknown): string {
  if (x === null) return 'null'
  if (Array.isArray(x)) return 'an array'
  if (typeof x === 'object') return 'an object'
  if (typeof x === 'string') return JSON.stringify(x.length > 40 ? x.slice(0, 40) + '…' : x)
  return String(x)
}

/** Checks `x` against `shape`; the result is `x`, typed. */
export function checkShape<T> (x: unknown, shape: Shape<T>): T {
  return shape(x, '')
}

export const str: Shape<string> = (x, p) => typeof x === 'string' ? x : fail(p, 'a string', x)
export const bool: Shape<boolean> = (x, p) => typeof x === 'boolean' ? x : fail(p, 'true or false', x)
export const finite: Shape<number> = (x, p) => typeof x === 'number' && Number.isFinite(x) ? x : fail(p, 'a number', x)
/** A non-negative safe integer (counts, times, lamports, sequence numbers). */
export const count: Shape<number> = (x, p) => Number.isSafeInteger(x) && (x as number) >= 0 ? x as number : fail(p, 'a non-negative integer', x)

export function literal<const V extends string | number | boolean> (...values: V[]): Shape<V> {
  return (x, p) => values.includes(x as V) ? x as V : fail(p, values.map(v => JSON.stringify(v)).join(' or '), x)
}

export function arrayOf<T> (item: Shape<T>): Shape<T[]> {
  return (x, p) => {
    if (!Array.isArray(x)) fail(p, 'an array', x)
    x.forEach((v, i) => { item(v, `${p}[${i}]`) })
    return x as T[]
  }
}

/** A string satisfying `ok`, described as `what`. */
export function strWhere (what: string, ok: (s: string) => boolean): Shape<string> {
  return (x, p) => typeof x === 'string' && ok(x) ? x : fail(p, what, x)
}

/** A tuple of fixed length. */
export function tuple<A, B> (a: Shape<A>, b: Shape<B>): Shape<[A, B]> {
  return (x, p) => {
    if (!Array.isArray(x) || x.length !== 2) fail(p, 'a pair', x)
    a(x[0], `${p}[0]`)
    b(x[1], `${p}[1]`)
    return x as [A, B]
  }
}

type Fields = Record<string, Shape<unknown>>
type Typed<F extends Fields> = { [K in keyof F]: F[K] extends Shape<infer T> ? T : never }

/** An object with `required` fields and, when present, `optional` ones. */
export function object<R extends Fields, O extends Fields = Record<never, never>> (required: R, optional?: O): Shape<Typed<R> & Partial<Typed<O>>> {
  return (x, p) => {
    if (typeof x !== 'object' || x === null || Array.isArray(x)) fail(p, 'an object', x)
    const o = x as Record<string, unknown>
    for (const [k, shape] of Object.entries(required)) shape(o[k], `${p}.${k}`)
    for (const [k, shape] of Object.entries(optional ?? {})) if (o[k] !== undefined) shape(o[k], `${p}.${k}`)
    return x as Typed<R> & Partial<Typed<O>>
  }
}

/** An object used as a map: every key passes `key`, every value `value`. */
export function recordOf<V> (key: Shape<string>, value: Shape<V>): Shape<Record<string, V>> {
  return (x, p) => {
    if (typeof x !== 'object' || x === null || Array.isArray(x)) fail(p, 'an object', x)
    for (const [k, v] of Object.entries(x)) {
      key(k, `${p} key`)
      value(v, `${p}[${JSON.stringify(k)}]`)
    }
    return x as Record<string, V>
  }
}

/** A string of at most `max` characters. */
export function text (max: number): Shape<string> {
  return (x, p) => typeof x === 'string' && x.length <= max ? x : fail(p, `a string of at most ${max} characters`, x)
}

/** A safe integer in [min, max]. */
export function int (min: number, max = Number.MAX_SAFE_INTEGER): Shape<number> {
  return (x, p) => Number.isSafeInteger(x) && (x as number) >= min && (x as number) <= max ? x as number : fail(p, `an integer in [${min}, ${max}]`, x)
}

/** An array of `min` to `max` items, each passing `item`. */
export function listOf<T> (item: Shape<T>, max: number, min = 0): Shape<T[]> {
  const all = arrayOf(item)
  return (x, p) => {
    if (Array.isArray(x) && (x.length > max || x.length < min)) fail(p, `${min} to ${max} items`, `${x.length} items`)
    return all(x, p)
  }
}

type Cases = Record<string, Shape<unknown>>
type CaseOf<C extends Cases> = { [K in keyof C]: C[K] extends Shape<infer T> ? T : never }[keyof C]

/** An object whose `key` field names which of `cases` it must pass. */
export function variant<C extends Cases> (key: string, cases: C): Shape<CaseOf<C>> {
  return (x, p) => {
    if (typeof x !== 'object' || x === null || Array.isArray(x)) fail(p, 'an object', x)
    const tag = (x as Record<string, unknown>)[key]
    const shape = typeof tag === 'string' && Object.hasOwn(cases, tag) ? cases[tag] : undefined
    if (shape === undefined) fail(`${p}.${key}`, Object.keys(cases).map(k => JSON.stringify(k)).join(' or '), tag)
    return shape(x, p) as CaseOf<C>
  }
}

/** The first of `shapes` that `x` passes; else fails as `what`. */
export function oneOf<T> (what: string, ...shapes: Array<Shape<T>>): Shape<T> {
  return (x, p) => {
    for (const shape of shapes) {
      try {
        return shape(x, p)
      } catch (err) {
        if (!(err instanceof ShapeError)) throw err
      }
    }
    return fail(p, what, x)
  }
}
