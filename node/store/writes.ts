import type { Dbs } from './env.js'
import { copyOf, checkLamport, decodeJson, encodeEvent, encodeJson, jsonText } from './codec.js'
import { count as countShape } from '../shape.js'
import { allocationRefShape, allocationShape } from './shapes.js'
import type { Adoption, Allocation } from './types.js'

/**
 * The bodies of the store's write transactions. Each builder encodes its
 * input up front (so a bad value throws before any write) and returns a
 * function that runs inside one lmdb-js child transaction: it either commits
 * whole with the batch it was grouped into, or not at all.
 */

export function readCounter (dbs: Dbs, key: 'eventCount' | 'docNext'): number {
  return decodeJson(dbs.state.get(key), key, countShape) ?? 0
}

export function adoptionWrite (dbs: Dbs, a: Adoption): () => void {
  const events = a.events.map(e => {
    checkLamport(e)
    return { id: e.id, lamport: e.lamport, value: encodeEvent(e) }
  })
  const chunk = a.docChunk === undefined ? undefined : copyOf(a.docChunk)
  const docHeads = encodeJson(a.docHeads, 'docHeads')
  // The snapshot record's text, less the event count that is known only inside the txn.
  const recordTail = `,"eventHeads":${jsonText(a.eventHeads, 'eventHeads')},"docHeads":${jsonText(a.docHeads, 'docHeads')},"snapshot":${jsonText(a.snapshot, 'snapshot')}}`
  const syncStates = (a.syncStates ?? []).map(([peer, s]) => [peer, copyOf(s)] as const)

  return () => {
    let count = readCounter(dbs, 'eventCount')
    for (const e of events) {
      const held = dbs.events.get(e.id)
      if (held === undefined) count++
      else {
        // Same id, same event: only a changed lamport (a caller's bug) would leave a stale record.
        const old = decodeJson(held, `event ${e.id}`, countShape)
        if (old !== e.lamport && old !== undefined) dbs.topo.removeSync([old, e.id])
      }
      dbs.events.putSync(e.id, encodeJson(e.lamport))
      dbs.topo.putSync([e.lamport, e.id], e.value)
    }
    if (chunk !== undefined) {
      const next = readCounter(dbs, 'docNext')
      dbs.doc.putSync(next, chunk)
      dbs.state.putSync('docNext', encodeJson(next + 1))
    }
    dbs.state.putSync('docHeads', docHeads)
    dbs.state.putSync('eventCount', encodeJson(count))
    dbs.state.putSync('snapshot', Buffer.from(`{"eventCount":${count}${recordTail}`, 'utf8'))
    for (const [peer, s] of syncStates) dbs.sync.putSync(peer, s)
  }
}

export function compactionWrite (dbs: Dbs, full: Uint8Array, heads: string[], opts: { dropSyncStates?: boolean } = {}): () => void {
  const chunk = copyOf(full)
  const docHeads = encodeJson(heads, 'heads')
  return () => {
    for (const key of Array.from(dbs.doc.getKeys())) dbs.doc.removeSync(key)
    if (opts.dropSyncStates === true) for (const key of Array.from(dbs.sync.getKeys())) dbs.sync.removeSync(key)
    dbs.doc.putSync(0, chunk)
    dbs.state.putSync('docNext', encodeJson(1))
    dbs.state.putSync('docHeads', docHeads)
  }
}

export function allocationsWrite (dbs: Dbs, puts: Allocation[], deletes: Array<{ subnet: string, id: string }>): () => void {
  const encoded = puts.map(p => ({ p, value: encodeJson(p, `allocation ${p.id}`), ref: encodeJson([p.subnet, p.id]) }))

  // Drops the address index entry only if it still points at this allocation.
  const unindex = (address: string, subnet: string, id: string): void => {
    const ref = decodeJson(dbs.allocAddr.get(address), `address ${address}`, allocationRefShape)
    if (ref !== undefined && ref[0] === subnet && ref[1] === id) dbs.allocAddr.removeSync(address)
  }
  const held = (subnet: string, id: string): Allocation | undefined =>
    decodeJson(dbs.allocs.get([subnet, id]), `allocation ${id}`, allocationShape)

  return () => {
    // Releases first, so a release and a re-allocation of one id in one call leave the allocation.
    for (const { subnet, id } of deletes) {
      const cur = held(subnet, id)
      if (cur === undefined) continue
      dbs.allocs.removeSync([subnet, id])
      unindex(cur.address, subnet, id)
    }
    for (const { p, value, ref } of encoded) {
      const cur = held(p.subnet, p.id)
      if (cur !== undefined && cur.address !== p.address) unindex(cur.address, p.subnet, p.id)
      dbs.allocs.putSync([p.subnet, p.id], value)
      dbs.allocAddr.putSync(p.address, ref)
    }
  }
}
