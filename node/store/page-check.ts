import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { arch, endianness } from 'node:os'
import { StoreError } from './errors.js'
import { checkDataFile } from './header.js'

/**
 * A walk of every page an LMDB file's newest snapshot reaches, with ordinary
 * file reads, before lmdb-js maps the file.
 *
 * Why: LMDB trusts its pages. A damaged branch or leaf page (a disk error, a
 * torn copy, random bytes) points LMDB at a node or an overflow run past the
 * end of the file, and the first read through the mapping kills the process
 * with SIGBUS (or SIGSEGV), which nothing in JS can catch. header.ts checks
 * only the meta pages. This walk checks every reachable page's header (its
 * page number, its type), that each node and key lies inside its page, that
 * every child, overflow run and sub-database root lies inside the file, that
 * no page is reached twice, and that the free list names only pages of the
 * file. It reads the bytes of the tree, not the values, so a flipped bit in a
 * value passes (the records' own decoders and `weft verify` catch those).
 *
 * It must run on a file nobody writes: a writer may reuse freed pages under
 * it. So it runs at launch (holding the pid lock, before anything opens the
 * stores) and in the offline commands (on a stopped peer's files, or on the
 * copy the running daemon made).
 *
 * Layout (LMDB 0.9.90 as vendored by lmdb-js, 64-bit little-endian): a page
 * is a 24-byte header (pgno u64, txnid u64, pad u16, flags u16, lower u16,
 * upper u16; an overflow page's lower/upper are its page count, u32), then an
 * array of u16 node offsets (relative to the end of the header, `lower` bytes
 * long), and nodes at the end of the page. A node is lo u16, hi u16, flags
 * u16, ksize u16, then the key, then (leaf) the data: lo|hi<<16 is a leaf's
 * data size, and lo|hi<<16|flags<<32 a branch node's child page.
 */

const HEADER = 24
const NODE = 8
const DB_BYTES = 48 // MDB_db
const META_DBS = 48 // offset of the free db's MDB_db in a meta page (header + magic, version, address, mapsize)
const P_BRANCH = 0x01
const P_LEAF = 0x02
const P_OVERFLOW = 0x04
const P_TYPES = 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x40 // branch, leaf, overflow, meta, leaf2, subpage
const F_BIGDATA = 0x01
const F_SUBDATA = 0x02
const F_DUPDATA = 0x04
const P_INVALID = 0xFFFFFFFFFFFFFFFFn
/** LMDB's cursor stack depth: a deeper tree is damage. */
const MAX_DEPTH = 32

export interface PageCheckStats {
  /** Pages of the file that the newest snapshot reaches (trees and overflow runs). */
  pages: number
  /** Page numbers the free list holds. */
  free: number
}

interface Tree {
  root: bigint
  depth: number
  what: string
  /** The free db: its values are page lists. */
  free: boolean
}

/**
 * Throws StoreError('corrupt') naming `file` and the first damage found;
 * StoreError('io') when it cannot be read. A missing or empty file is for the
 * caller to judge (checkDataFile's answer is returned).
 */
export function checkPages (file: string): PageCheckStats | 'missing' | 'empty' {
  const state = checkDataFile(file)
  if (state !== 'valid') return state
  // The layout above is the only one checked (as in header.ts).
  if (endianness() !== 'LE' || arch().endsWith('32')) return { pages: 0, free: 0 }
  let fd: number
  try {
    fd = openSync(file, 'r')
  } catch (err) {
    throw new StoreError('io', `cannot read ${file}: ${(err as Error).message}`, { cause: err })
  }
  try {
    return new Walk(file, fd).run()
  } finally {
    closeSync(fd)
  }
}

class Walk {
  private readonly psize: number
  private readonly filePages: number
  /** The last page a tree may reach: the meta page's last_pg, or the file's last page if that is sooner. */
  private lastPg = 0
  /** The meta page's last_pg: the free list may name pages past the end of the file, not past this. */
  private metaLastPg = 0n
  /** Pages reached so far (by a tree or an overflow run), one bit each. */
  private seen: Uint8Array = new Uint8Array(0)
  private readonly stats: PageCheckStats = { pages: 0, free: 0 }

  constructor (private readonly file: string, private readonly fd: number) {
    const head = this.readAt(0, HEADER + 32)
    this.psize = head.readUInt32LE(META_DBS)
    this.filePages = Math.floor(fstatSync(fd).size / this.psize)
  }

  run (): PageCheckStats {
    // LMDB opens the snapshot of the meta page with the larger txnid.
    const metas = [0, 1].map(i => this.readAt(i * this.psize, 160))
    const txnid = (m: Buffer): bigint => m.readBigUInt64LE(152)
    const meta = txnid(metas[1]!) > txnid(metas[0]!) ? metas[1]! : metas[0]!
    const lastPg = meta.readBigUInt64LE(144)
    if (lastPg < 1n) throw this.corrupt(`its last page number is ${lastPg}`)
    this.metaLastPg = lastPg
    // The file may end before last_pg (pages freed before they were written), never the reverse for reached pages.
    this.lastPg = Number(lastPg > BigInt(this.filePages) ? BigInt(this.filePages) : lastPg)
    this.seen = new Uint8Array((this.lastPg >> 3) + 1)
    const trees: Tree[] = [
      { ...this.dbRecord(meta, META_DBS), what: 'the free list', free: true },
      { ...this.dbRecord(meta, META_DBS + DB_BYTES), what: 'the main database', free: false }
    ]
    const freePages: number[] = []
    for (let t = trees.shift(); t !== undefined; t = trees.shift()) this.walkTree(t, trees, freePages)
    // A free page that a tree also uses would be handed out again by the next write.
    for (const p of freePages) {
      if (p < this.filePages && this.isSeen(p)) throw this.corrupt(`page ${p} is both in use and on the free list`)
    }
    this.stats.free = freePages.length
    return this.stats
  }

  private dbRecord (buf: Buffer, at: number): { root: bigint, depth: number } {
    return { root: buf.readBigUInt64LE(at + 40), depth: buf.readUInt16LE(at + 6) }
  }

  private walkTree (tree: Tree, more: Tree[], freePages: number[]): void {
    if (tree.root === P_INVALID) return
    if (tree.depth < 1 || tree.depth > MAX_DEPTH) throw this.corrupt(`${tree.what} has depth ${tree.depth}`)
    // Depth-first, so that at most depth × fan-out page numbers wait here.
    const stack: Array<{ pgno: bigint, level: number }> = [{ pgno: tree.root, level: 1 }]
    for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
      const { pgno, level } = top
      const page = this.page(pgno, `${tree.what}`)
      const type = page.readUInt16LE(18) & P_TYPES
      const want = level === tree.depth ? P_LEAF : P_BRANCH
      if (type !== want) throw this.corrupt(`page ${pgno} of ${tree.what} is of type 0x${type.toString(16)}, not a ${want === P_LEAF ? 'leaf' : 'branch'} page`)
      const lower = page.readUInt16LE(20)
      const upper = page.readUInt16LE(22)
      if (lower % 2 !== 0 || lower > upper || HEADER + upper > this.psize) {
        throw this.corrupt(`page ${pgno} of ${tree.what} has bad bounds (lower ${lower}, upper ${upper})`)
      }
      const keys = lower >> 1
      if (want === P_BRANCH && keys === 0) throw this.corrupt(`branch page ${pgno} of ${tree.what} is empty`)
      for (let i = 0; i < keys; i++) {
        const at = HEADER + page.readUInt16LE(HEADER + 2 * i)
        if (at < HEADER + upper || at + NODE > this.psize) throw this.corrupt(`node ${i} of page ${pgno} lies outside its page`)
        const lo = page.readUInt16LE(at)
        const hi = page.readUInt16LE(at + 2)
        const flags = page.readUInt16LE(at + 4)
        const ksize = page.readUInt16LE(at + 6)
        const data = at + NODE + ksize
        if (data > this.psize) throw this.corrupt(`the key of node ${i} of page ${pgno} runs past its page`)
        if (want === P_BRANCH) {
          stack.push({ pgno: BigInt(lo) | (BigInt(hi) << 16n) | (BigInt(flags) << 32n), level: level + 1 })
          continue
        }
        const dsize = lo + hi * 0x10000
        if ((flags & F_BIGDATA) !== 0) {
          if (data + 8 > this.psize) throw this.corrupt(`node ${i} of page ${pgno} runs past its page`)
          const run = this.overflow(page.readBigUInt64LE(data), dsize, tree.what)
          if (tree.free) this.freeList(run, pgno, freePages)
          continue
        }
        if (data + dsize > this.psize) throw this.corrupt(`the data of node ${i} of page ${pgno} runs past its page`)
        if ((flags & F_SUBDATA) !== 0) {
          if (dsize !== DB_BYTES) throw this.corrupt(`node ${i} of page ${pgno} names a database with a ${dsize}-byte record`)
          const key = page.subarray(at + NODE, data).toString('utf8')
          more.push({ ...this.dbRecord(page, data), what: (flags & F_DUPDATA) !== 0 ? `duplicates in ${tree.what}` : `database ${JSON.stringify(key)}`, free: false })
        } else if (tree.free) {
          this.freeList(page.subarray(data, data + dsize), pgno, freePages)
        }
        // F_DUPDATA alone: a sub-page inside this node, checked to lie in the page above.
      }
    }
  }

  /** The data of an overflow run (marking its pages), checked to hold `dsize` bytes inside the file. */
  private overflow (pgno: bigint, dsize: number, what: string): Buffer {
    const first = this.page(pgno, what)
    if ((first.readUInt16LE(18) & P_TYPES) !== P_OVERFLOW) throw this.corrupt(`page ${pgno} of ${what} is not an overflow page`)
    const count = first.readUInt32LE(20)
    const start = Number(pgno)
    if (count < 1 || start + count - 1 > this.lastPg || start + count > this.filePages) {
      throw this.corrupt(`the overflow run at page ${pgno} of ${what} (${count} pages) runs past the end of the file`)
    }
    if (dsize > count * this.psize - HEADER) throw this.corrupt(`the overflow run at page ${pgno} of ${what} is shorter than its ${dsize} bytes`)
    for (let p = start + 1; p < start + count; p++) this.mark(p, what)
    return this.readAt(start * this.psize + HEADER, dsize)
  }

  /**
   * A free-list record: a u64 count, then that many entries. lmdb-js's LMDB
   * packs runs: 0 is an empty slot, a negative entry -L is a run of L pages
   * whose page number follows, a positive one a single page.
   */
  private freeList (bytes: Buffer, pgno: bigint, out: number[]): void {
    if (bytes.length < 8) throw this.corrupt(`a free-list record on page ${pgno} is ${bytes.length} bytes long`)
    const n = bytes.readBigUInt64LE(0)
    if (n > BigInt((bytes.length - 8) / 8)) throw this.corrupt(`a free-list record on page ${pgno} claims ${n} entries in ${bytes.length} bytes`)
    const outside = (what: string): StoreError => this.corrupt(`a free-list record on page ${pgno} names ${what}, outside the file`)
    for (let i = 1; i <= Number(n); i++) {
      const e = bytes.readBigInt64LE(8 * i)
      if (e === 0n) continue
      if (e < 0n) {
        if (-e > this.metaLastPg) throw outside(`a run of ${-e} pages`)
        i++
        if (i > Number(n)) throw this.corrupt(`a free-list record on page ${pgno} ends inside a run`)
      }
      const p = bytes.readBigUInt64LE(8 * i)
      if (p < 2n || p > this.metaLastPg) throw outside(`page ${p}`)
      out.push(Number(p))
    }
  }

  /** A tree page (marked as reached), after checking it lies in the file and knows its own number. */
  private page (pgno: bigint, what: string): Buffer {
    if (pgno < 2n || pgno > BigInt(this.lastPg) || pgno >= BigInt(this.filePages)) {
      throw this.corrupt(`${what} points at page ${pgno}, outside the file (${this.filePages} pages)`)
    }
    const n = Number(pgno)
    this.mark(n, what)
    const page = this.readAt(n * this.psize, this.psize)
    if (page.length < this.psize) throw this.corrupt(`page ${pgno} is cut short`)
    if (page.readBigUInt64LE(0) !== pgno) throw this.corrupt(`page ${pgno} of ${what} is labelled page ${page.readBigUInt64LE(0)}`)
    return page
  }

  private mark (p: number, what: string): void {
    if (this.isSeen(p)) throw this.corrupt(`page ${p} is reached twice (in ${what})`)
    this.seen[p >> 3]! |= 1 << (p & 7)
    this.stats.pages++
  }

  private isSeen (p: number): boolean {
    return p <= this.lastPg && (this.seen[p >> 3]! & (1 << (p & 7))) !== 0
  }

  private readAt (position: number, length: number): Buffer {
    const buf = Buffer.allocUnsafe(length)
    let got = 0
    while (got < length) {
      const n = readSync(this.fd, buf, got, length - got, position + got)
      if (n === 0) break
      got += n
    }
    if (got < length) throw this.corrupt(`it ends inside the page at byte ${position}`)
    return buf
  }

  private corrupt (why: string): StoreError {
    return new StoreError('corrupt', `${this.file} is damaged (${why})`)
  }
}
