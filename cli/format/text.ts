/** Small text helpers for human output: aligned tables, ages, percentages. */

/** Left-aligned columns two spaces apart; the last column is not padded. */
export function table (header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd()
  return [header, ...rows].map(line).join('\n') + '\n'
}

/** `key  value` lines with the keys padded to one width. */
export function keyValues (pairs: Array<[string, string]>): string {
  const width = Math.max(...pairs.map(([k]) => k.length))
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${v}`.trimEnd()).join('\n') + '\n'
}

/** "12s ago", "5m ago", "in 3s"; "-" when unknown. */
export function relativeTime (iso: string | null | undefined, now: number): string {
  if (iso === null || iso === undefined) return '-'
  const t = Date.parse(iso)
  if (Number.isNaN(t)) return iso
  const delta = Math.round((now - t) / 1000)
  const span = formatSpan(Math.abs(delta))
  if (span === '0s') return 'now'
  return delta >= 0 ? `${span} ago` : `in ${span}`
}

function formatSpan (s: number): string {
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m`
  if (s < 86400) return `${Math.floor(s / 3600)}h`
  return `${Math.floor(s / 86400)}d`
}

/** part/whole as a percentage with one decimal; works on IPv6-sized counts (decimal strings). */
export function percent (part: number | string, whole: number | string): string {
  const p = BigInt(part)
  const w = BigInt(whole)
  if (w === 0n) return '-'
  const tenths = (p * 1000n + w / 2n) / w
  return `${tenths / 10n}.${tenths % 10n}%`
}
