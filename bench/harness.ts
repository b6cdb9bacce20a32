/**
 * A tiny benchmark harness: time a synchronous operation, collect results,
 * print them as an aligned table. Bench modules (bench/*.ts) export
 * `run(): Promise<BenchResult[]>`; bench/run.ts runs them in sequence.
 */

export interface BenchResult {
  group: string
  name: string
  value: number
  unit: string
  /** What the number should be, in words ("≥ 5000 ops/s"), when there is a target. */
  goal?: string
  /** The measurement this one is compared with, taken in the same run. */
  baseline?: { name: string, value: number, unit: string }
  /** value / baseline.value. */
  ratio?: number
  note?: string
}

export interface TimeOptions {
  /** Measure for at least this long (default 1000 ms). */
  minMs?: number
  /** Run unmeasured for this long first, so the JIT settles (default 200 ms). */
  warmupMs?: number
}

// Results go here so the JIT cannot drop a call whose result is unused.
let sink: unknown

/**
 * Operations per second of `fn`, called back to back. Calls run in batches that
 * double until one batch takes ≥ 10 ms, so the clock is read rarely; measuring
 * stops once `minMs` have passed.
 */
export function timeOps (fn: () => unknown, opts: TimeOptions = {}): number {
  const minNs = BigInt(Math.round((opts.minMs ?? 1000) * 1e6))
  const warmupNs = BigInt(Math.round((opts.warmupMs ?? 200) * 1e6))
  const now = process.hrtime.bigint

  let batch = 1
  const warmEnd = now() + warmupNs
  do {
    const t0 = now()
    for (let i = 0; i < batch; i++) sink = fn()
    if (now() - t0 < 10_000_000n) batch *= 2
  } while (now() < warmEnd)

  let ops = 0
  const start = now()
  let elapsed = 0n
  while (elapsed < minNs) {
    for (let i = 0; i < batch; i++) sink = fn()
    ops += batch
    elapsed = now() - start
  }
  void sink
  return ops / (Number(elapsed) / 1e9)
}

/** Median of several timeOps rounds (for numbers compared within one run). */
export function median (values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** A result compared with a baseline measured in the same run. */
export function compared (r: Omit<BenchResult, 'baseline' | 'ratio'>, baseline: BenchResult): BenchResult {
  return {
    ...r,
    baseline: { name: baseline.name, value: baseline.value, unit: baseline.unit },
    ratio: r.value / baseline.value
  }
}

/** 3 significant digits, thousands separated: 12 345, 1 234, 12.3, 0.123. */
export function formatNumber (v: number): string {
  if (!Number.isFinite(v)) return String(v)
  const abs = Math.abs(v)
  if (abs >= 1000) return Math.round(v).toLocaleString('en-US')
  if (abs === 0) return '0'
  const digits = Math.max(0, 2 - Math.floor(Math.log10(abs)))
  return v.toFixed(digits)
}

/** An aligned text table: group, name, value, unit, ratio vs baseline, goal (and notes below). */
export function formatTable (results: readonly BenchResult[]): string {
  const header = ['group', 'name', 'value', 'unit', 'vs baseline', 'goal']
  const rows = results.map(r => [
    r.group,
    r.name,
    formatNumber(r.value),
    r.unit,
    r.ratio !== undefined && r.baseline !== undefined ? `${r.ratio.toFixed(2)}× ${r.baseline.name}` : '',
    r.goal ?? ''
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(row => row[i]!.length)))
  const rightAligned = new Set([2]) // numbers
  const line = (cells: string[]): string => cells
    .map((cell, i) => rightAligned.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))
    .join('  ')
    .trimEnd()
  const out = [line(header), widths.map(w => '-'.repeat(w)).join('  '), ...rows.map(line)]
  const notes = results.filter(r => r.note !== undefined)
  if (notes.length > 0) {
    out.push('')
    for (const r of notes) out.push(`${r.group}/${r.name}: ${r.note!}`)
  }
  return out.join('\n')
}
