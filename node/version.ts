import { readFileSync } from 'node:fs'

let cached: string | undefined

/** weft's version, from package.json. */
export function weftVersion (): string {
  cached ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version
  return cached
}
