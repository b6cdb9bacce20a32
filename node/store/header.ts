import { closeSync, openSync, readSync, fstatSync } from 'node:fs'
import { arch, endianness } from 'node:os'
import { StoreError } from './errors.js'

/**
 * A check of an LMDB data file's meta pages, done before lmdb-js sees the file.
 *
 * Why: lmdb-js 3.5.6 crashes the process (SIGSEGV, a double free in
 * EnvWrap::openEnv's failure path) whenever mdb_env_open fails after opening
 * the file, e.g. on garbage bytes (MDB_INVALID) or an empty file opened
 * read-only; and a meta page that points past the end of the file makes the
 * first read SIGBUS. Neither can be caught in JS, so refuse such files first.
 *
 * Layout (LMDB 0.9.90 as vendored by lmdb-js, 64-bit little-endian): a 24-byte
 * page header (pgno, txnid, pad, flags, pb), then MDB_meta: magic, version,
 * address, mapsize, the free and main MDB_db records (48 bytes each; the free
 * db's md_pad is the page size), last_pg, txnid. Meta pages sit at offset 0
 * and at one page size; with overlappingSync a third, magic-less copy (the
 * last flushed meta) sits at half a page.
 */

const P_META = 0x08
const MDB_MAGIC = 0xBEEFC0DE
const MDB_DATA_VERSION = 2
const PAGE_HEADER = 24
const META_BYTES = 136 // through mm_txnid
const P_INVALID = 0xFFFFFFFFFFFFFFFFn
const OFF = { flags: 18, magic: 24, version: 28, psize: 48, freeRoot: 88, mainRoot: 136, lastPg: 144, txnid: 152 }

export type HeaderState = 'missing' | 'empty' | 'valid'

/** Throws StoreError('corrupt' | 'version' | 'io') naming `file`; returns what is there otherwise. */
export function checkDataFile (file: string): HeaderState {
  let fd: number
  try {
    fd = openSync(file, 'r')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return 'missing'
    throw new StoreError('io', `cannot read ${file}: ${(err as Error).message}`, { cause: err })
  }
  try {
    // A writer in another process may be updating a meta page as we read it; a
    // torn read fails once, real damage every time.
    for (let attempt = 1; ; attempt++) {
      try {
        return inspect(file, fd)
      } catch (err) {
        if (attempt === 3 || !(err instanceof StoreError) || err.code !== 'corrupt') throw err
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10)
      }
    }
  } finally {
    closeSync(fd)
  }
}

function inspect (file: string, fd: number): HeaderState {
  if (!fstatSync(fd).isFile()) throw corrupt(file, 'not a regular file')
  // Only the layout above is checked; elsewhere lmdb-js is on its own.
  if (endianness() !== 'LE' || arch().endsWith('32')) return fstatSync(fd).size === 0 ? 'empty' : 'valid'
  const head = read(fd, 0, PAGE_HEADER + META_BYTES + 8)
  if (head.length === 0) return 'empty'
  if (head.length < PAGE_HEADER + META_BYTES + 8) throw corrupt(file, `only ${head.length} bytes`)
  if ((head.readUInt16LE(OFF.flags) & P_META) === 0 || head.readUInt32LE(OFF.magic) !== MDB_MAGIC) {
    throw corrupt(file, 'no LMDB meta page at offset 0')
  }
  const version = head.readUInt32LE(OFF.version) & 0xffff
  if (version !== MDB_DATA_VERSION) {
    throw new StoreError('version', `${file} is LMDB data version ${version}; this weft reads version ${MDB_DATA_VERSION}`)
  }
  const psize = head.readUInt32LE(OFF.psize)
  if (psize < 256 || psize > 65536 || (psize & (psize - 1)) !== 0) throw corrupt(file, `bad page size ${psize}`)
  const second = read(fd, psize, head.length)
  if (second.length < head.length) throw corrupt(file, 'truncated (second meta page missing)')
  if (second.readUInt32LE(OFF.magic) !== MDB_MAGIC || (second.readUInt32LE(OFF.version) & 0xffff) !== MDB_DATA_VERSION) {
    throw corrupt(file, 'bad second meta page')
  }
  const flushed = read(fd, psize >> 1, head.length)
  // Size after the metas: a writer writes a txn's pages before its meta.
  const size = fstatSync(fd).size
  checkMeta(file, head, psize, size, 'first')
  checkMeta(file, second, psize, size, 'second')
  if (flushed.length === head.length && flushed.readBigUInt64LE(OFF.txnid) !== 0n) checkMeta(file, flushed, psize, size, 'flushed')
  return 'valid'
}

function checkMeta (file: string, meta: Buffer, psize: number, size: number, which: string): void {
  const lastPg = meta.readBigUInt64LE(OFF.lastPg)
  const pages = BigInt(Math.floor(size / psize))
  for (const [name, off] of [['free', OFF.freeRoot], ['main', OFF.mainRoot]] as const) {
    const root = meta.readBigUInt64LE(off)
    if (root === P_INVALID) continue
    // Roots are always written pages; past the end of the file the first read would SIGBUS.
    if (root > lastPg || root >= pages) {
      throw corrupt(file, `${which} meta page's ${name} root page ${root} is past the end (${pages} pages)`)
    }
  }
}

function read (fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length)
  const n = readSync(fd, buf, 0, length, position)
  return buf.subarray(0, n)
}

function corrupt (file: string, why: string): StoreError {
  return new StoreError('corrupt', `${file} is not a valid LMDB store (${why})`)
}
