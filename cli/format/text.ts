/** Small text helpers for human output: aligned tables, ages, percentages. */
import { printable } from '../../packages/printable/index.js'

/**
 * Left-aligned columns two spaces apart; the last column is not padded.
 * Cells are escaped (packages/printable): many hold what other hosts chose
 * (nicknames, reasons), which must not reach the terminal raw.
 */
export function table (header: string[], rowsIn: string[][]): string {
  const rows = rowsIn.map(r => r.map(printable))
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd()
  return [header, ...rows].map(line).join('\n') + '\n'
}

/** `key  value` lines with the keys padded to one width; values escaped as table cells are. */
export function keyValues (pairs: Array<[string, string]>): string {
  const width = Math.max(...pairs.map(([k]) => k.length))
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${printable(v)}`.trimEnd()).join('\n') + '\n'
}

// Everything printable() escapes, except the newlines that end our own lines.
const UNSAFE_OUTPUT = /[^\P{Cc}\n]|[\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu

/**
 * The last guard on everything the CLI writes: any control or invisible
 * character left (one a boundary missed) becomes a \uXXXX escape, which is
 * also what it means inside a JSON string, so `--json` output stays valid
 * JSON with the same values. Newlines are kept.
 */
export function guardOutput (text: string): string {
  UNSAFE_OUTPUT.lastIndex = 0
  if (!UNSAFE_OUTPUT.test(text)) return text
  return text.replace(UNSAFE_OUTPUT, ch => {
    let out = ''
    for (let i = 0; i < ch.length; i++) out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`
    return out
  })
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
